"""Provider fidelity end to end: realistic templates for Anthropic (explicit
breakpoints and automatic caching), OpenAI chat (plain and reasoning) and
responses (minimal and prewarm) are warmed by the real warmd against the fake
provider, which models breakpoints, the 20-block lookback and prefix caches.

For every target: the body sent equals its template in every field, value
and key order except the minimal fields; the budget is the minimal one; the
chat and responses bodies validate against the official OpenAI schema; the
fake rejects none; and the application's next real request (the template
continued the way the application continues it) reads the warmed prefix.
Also: identical prefixes share one warm, a prefix is warmed before a longer
one that extends it, and no key appears in anything warmd writes."""
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest
import urllib.request
from collections import OrderedDict

from harness import (ANTHROPIC_KEY, OPENAI_KEY, SRC, Env, WARMD, daemon_block, wait_for)

FIDELITY = os.path.join(SRC, "tests", "fixtures", "fidelity")
VALIDATE = os.path.join(SRC, "tests", "contract", "validate.mjs")
TTL = 30
MINIMAL = {"max_tokens", "max_completion_tokens", "max_output_tokens", "stream", "stream_options"}
ANTHROPIC_HEADERS = {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
OPENAI_HEADERS = {"authorization": "Bearer " + OPENAI_KEY}

# name: (fixture, provider, extra target settings)
TARGETS = {
    "explicit": ("anthropic_agent_tools_system.json", "anthropic", ""),
    "automatic": ("anthropic_auto_ends_assistant.json", "anthropic", ""),
    "chat": ("openai_chat_tool_calls.json", "openai", ""),
    "chat-reasoning": ("openai_chat_reasoning.json", "openai", ""),
    "responses": ("openai_responses_function_call.json", "openai", ""),
    "responses-prewarm": ("openai_responses_prewarm.json", "openai", 'warm_mode = "prewarm";'),
}


def ordered(text):
    """JSON with objects as OrderedDicts: == then compares key order too."""
    return json.loads(text, object_pairs_hook=OrderedDict)


def load(path):
    with open(path) as f:
        return ordered(f.read())


def conversation_key(body):
    return "messages" if "messages" in body else "input"


def config(env, targets, daemon_extra=""):
    provs = (f'{{ name = "anthropic"; base_url = "{env.fake.url}"; api_key_file = "anthropic.key"; }},\n'
             f'  {{ name = "openai"; base_url = "{env.fake.url}/v1"; '
             f'api_key_env = "WARMD_TEST_OPENAI_KEY"; }}')
    tl = ",\n  ".join(f'{{ name = "{n}"; provider = "{p}"; request_file = "{f}"; '
                      f'ttl = {TTL}; {x} }}' for n, (f, p, x) in targets.items())
    return (daemon_block(env.path("warmd.sock"), daemon_extra) +
            f"providers = (\n  {provs}\n);\ntargets = (\n  {tl}\n);\n")


def fake_log(env):
    return env.fake.state()["log"]


class FourShapes(unittest.TestCase):
    """The issue's check: every target shape, warmed and then used."""

    @classmethod
    def setUpClass(cls):
        cls.env = Env("--ttl-5m", str(TTL), "--ttl-1h", str(TTL), "--openai-ttl", str(TTL),
                      "--openai-ttl-30m", str(TTL))
        for f, _, _ in TARGETS.values():
            shutil.copy(os.path.join(FIDELITY, f), cls.env.dir)
        # 1 h templates against a 30 s config TTL: a warning, not an error
        cls.w = cls.env.warmd(config(cls.env, TARGETS))
        wait_for(lambda: all(t["state"] == "warm" for t in cls.w.status()["targets"]), 15,
                 what="every target warm")
        cls.status = {t["name"]: t for t in cls.w.status()["targets"]}
        cls.warms = {}
        for entry in fake_log(cls.env):
            body = ordered(entry["body"])
            for name, (f, _, _) in TARGETS.items():
                if body.get("model") == load(cls.env.path(f))["model"]:
                    cls.warms.setdefault(name, (entry, body))

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_every_target_warmed_once_and_nothing_rejected(self):
        self.assertEqual(sorted(self.warms), sorted(TARGETS))
        state = self.env.fake.state()
        self.assertEqual(state["requests"]["rejected"], 0, state["log"])
        self.assertEqual(state["requests"]["total"], len(TARGETS))
        for name, t in self.status.items():
            self.assertEqual(t["writes"] + t["hits"], 1, name)
            self.assertEqual(t["errors"], 0, name)

    def test_bodies_equal_templates_except_the_minimal_fields(self):
        for name, (f, _, _) in TARGETS.items():
            with self.subTest(target=name):
                tmpl = load(self.env.path(f))
                body = self.warms[name][1]
                conv = conversation_key(tmpl)
                moved = name == "automatic"  # its breakpoint moves onto the last block
                want_keys = [k for k in tmpl
                             if k != "stream_options" and not (moved and k == "cache_control")]
                got_keys = [k for k in body]
                extra = [k for k in got_keys if k not in tmpl]
                self.assertEqual([k for k in got_keys if k in tmpl], want_keys, "key order")
                self.assertTrue(set(extra) <= MINIMAL | {"prompt_cache_options"}, extra)
                for k in want_keys:
                    if k in MINIMAL or k == conv:
                        continue
                    if k == "prompt_cache_options" and name == "responses-prewarm":
                        opts = copy.deepcopy(body[k])
                        self.assertIs(opts.pop("prewarm"), True)
                        self.assertEqual(opts, tmpl[k])
                        continue
                    self.assertEqual(body[k], tmpl[k], f"field {k} changed")
                self.assertNotEqual(body.get("stream"), True)
                want_prefix = copy.deepcopy(tmpl[conv])
                if moved:
                    last = want_prefix[-1]
                    if isinstance(last["content"], str):
                        last["content"] = [OrderedDict(type="text", text=last["content"])]
                    last["content"][-1]["cache_control"] = tmpl["cache_control"]
                n = len(want_prefix)
                self.assertEqual(body[conv][:n], want_prefix, "the conversation so far")
                for item in body[conv][n:]:  # only short answers and a short user turn
                    self.assertIn(item.get("content", item.get("output")), (".",), item)

    def test_minimal_budgets(self):
        b = {n: body for n, (_, body) in self.warms.items()}
        self.assertEqual(b["explicit"]["max_tokens"], 0)
        self.assertEqual(b["automatic"]["max_tokens"], 0)
        self.assertEqual(b["chat"]["max_tokens"], 1)
        self.assertNotIn("max_completion_tokens", b["chat"])
        self.assertEqual(b["chat-reasoning"]["max_completion_tokens"], 1)
        self.assertNotIn("max_tokens", b["chat-reasoning"])
        self.assertEqual(b["responses"]["max_output_tokens"], 16)
        self.assertIs(b["responses-prewarm"]["prompt_cache_options"]["prewarm"], True)
        self.assertTrue(self.warms["responses-prewarm"][0]["prewarm"])

    def test_openai_bodies_validate_against_the_official_schema(self):
        node = shutil.which("node") or shutil.which("nodejs")
        if not node:
            self.skipTest("node not installed (scripts/deps.sh installs nodejs)")
        items = [{"name": n, "body": body,
                  "schema": "CreateChatCompletionRequest" if "messages" in body else "CreateResponse"}
                 for n, (_, body) in self.warms.items() if TARGETS[n][1] == "openai"]
        self.assertEqual(len(items), 4)
        path = self.env.write("bodies.json", json.dumps(items))
        p = subprocess.run([node, VALIDATE, "--bodies", path], capture_output=True, text=True,
                           timeout=120)
        if p.returncode == 77:
            self.skipTest(p.stdout.strip())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.count("PASS "), 4, p.stdout)

    def continuation(self, name, tmpl):
        """The application's next request: its template continued its own way."""
        req = copy.deepcopy(tmpl)
        conv = req[conversation_key(req)]
        if name == "automatic":
            return req  # a prefill: the application sends the template itself
        if name == "chat":
            for call in conv[-1]["tool_calls"]:
                conv.append(OrderedDict(role="tool", tool_call_id=call["id"],
                                        content='{"status":"shipped","eta":"2026-12-03"}'))
        elif name == "responses":
            conv.append(OrderedDict(type="function_call_output", call_id=conv[-1]["call_id"],
                                    output="def handler(event):\n    return 200\n"))
        else:
            conv.append(OrderedDict(role="assistant", content="Done. Anything else?"))
            conv.append(OrderedDict(role="user", content="Yes: what is the return window?"))
        req.pop("stream", None)
        req.pop("stream_options", None)
        return req

    def test_the_next_application_request_reads_the_warmed_prefix(self):
        for name, (f, prov, _) in TARGETS.items():
            with self.subTest(target=name):
                entry = self.warms[name][0]
                warmed = (entry["read"] or 0) + (entry["write"] or 0)
                self.assertGreater(warmed, 1024, entry)
                req = self.continuation(name, load(self.env.path(f)))
                if prov == "anthropic":
                    status, resp = self.env.fake.post("/v1/messages", req, ANTHROPIC_HEADERS)
                    read = resp.get("usage", {}).get("cache_read_input_tokens")
                else:
                    path = "/v1/chat/completions" if "messages" in req else "/v1/responses"
                    status, resp = self.env.fake.post(path, req, OPENAI_HEADERS)
                    usage = resp.get("usage", {})
                    details = usage.get("prompt_tokens_details") or usage.get(
                        "input_tokens_details") or {}
                    read = details.get("cached_tokens")
                self.assertEqual(status, 200, resp)
                # all of what the warm cached, less at most one 128-token
                # step where the warm's appended "." turn differs
                self.assertGreaterEqual(read, warmed - (128 if prov == "openai" else 0), resp)


class SharedPrefixes(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL))
        base = load(os.path.join(FIDELITY, "anthropic_agent_tools_system.json"))
        self.env.write("a.json", json.dumps(base))
        self.env.write("a-copy.json", json.dumps(base))
        # a longer prefix: the same system and tools, then a breakpoint deeper in
        longer = copy.deepcopy(base)
        last = longer["messages"][-1]
        last["content"] = [OrderedDict(type="text", text=last["content"],
                                       cache_control=OrderedDict(type="ephemeral"))]
        longer["messages"].append(OrderedDict(role="assistant", content="On it."))
        longer["messages"].append(OrderedDict(role="user", content="Status?"))
        self.env.write("longer.json", json.dumps(longer))

    def tearDown(self):
        self.env.close()

    def test_identical_share_one_warm_and_extensions_wait_for_their_base(self):
        # the longer one is listed first: the order comes from the prefixes
        targets = {"longer": ("longer.json", "anthropic", ""), "a": ("a.json", "anthropic", ""),
                   "a-copy": ("a-copy.json", "anthropic", "")}
        w = self.env.warmd(config(self.env, targets))
        wait_for(lambda: all(t["state"] == "warm" for t in w.status()["targets"]), 15,
                 what="all three warm")
        log = fake_log(self.env)
        self.assertEqual(len(log), 2, [e["body"][:80] for e in log])  # a and a-copy: one warm
        first, second = (ordered(e["body"]) for e in log)
        self.assertEqual(len(first["messages"]), len(load(self.env.path("a.json"))["messages"]))
        self.assertEqual(len(second["messages"]), 3 + len(first["messages"]) - 1)
        # the base wrote, the longer one read it and wrote only its own tail
        self.assertGreater(log[0]["write"], 1024)
        self.assertEqual(log[1]["read"], log[0]["write"])
        st = {t["name"]: t for t in w.status()["targets"]}
        self.assertEqual(st["a"]["version"], st["a-copy"]["version"])
        self.assertEqual(st["a"]["expires_at"], st["a-copy"]["expires_at"])
        self.assertNotEqual(st["a"]["version"], st["longer"]["version"])


class KeysNeverLeak(unittest.TestCase):
    """A full scenario with known keys (a file through $CREDENTIALS_DIRECTORY,
    an environment variable, an inline key and a rejected one), then a grep of
    everything warmd wrote or answered."""

    BAD_KEY = "fake-rejected-key-7d1c"

    def test_no_key_anywhere(self):
        env = Env("--ttl-5m", "4", "--openai-ttl", "4")
        try:
            creds = tempfile.mkdtemp(prefix="warmd-creds-", dir=env.dir)
            with open(os.path.join(creds, "anthropic.key"), "w") as f:
                f.write(ANTHROPIC_KEY + "\n")
            os.unlink(env.path("anthropic.key"))  # only the credentials directory has it
            env.write("bad.key", self.BAD_KEY + "\n")
            prom = env.path("warmd.prom")
            conf = (daemon_block(env.path("warmd.sock"),
                                 f'metrics_listen = "127.0.0.1:0"; metrics_textfile = "{prom}"; '
                                 'metrics_textfile_interval = "1s";') +
                    f'providers = (\n'
                    f'  {{ name = "anthropic"; base_url = "{env.fake.url}"; api_key_file = "anthropic.key"; }},\n'
                    f'  {{ name = "rejected"; kind = "anthropic"; base_url = "{env.fake.url}"; api_key_file = "bad.key"; }},\n'
                    f'  {{ name = "openai"; base_url = "{env.fake.url}/v1"; api_key_env = "WARMD_TEST_OPENAI_KEY"; }},\n'
                    f'  {{ name = "inline"; kind = "openai"; base_url = "{env.fake.url}/v1"; api_key = "{OPENAI_KEY}"; }}\n'
                    ');\ntargets = (\n'
                    '  { name = "a"; provider = "anthropic"; request_file = "support-bot.json"; ttl = 4; },\n'
                    '  { name = "bad"; provider = "rejected"; request_file = "support-bot.json"; ttl = 4; },\n'
                    '  { name = "o"; provider = "openai"; request_file = "openai-chat.json"; ttl = 4; },\n'
                    '  { name = "i"; provider = "inline"; request_file = "openai-chat.json"; ttl = 4; }\n'
                    ');\n')
            check = subprocess.run([WARMD, "--check-config", "-c", env.write("check.conf", conf)],
                                   capture_output=True, text=True, timeout=30,
                                   env={**os.environ, "WARMD_TEST_OPENAI_KEY": OPENAI_KEY,
                                        "CREDENTIALS_DIRECTORY": creds})
            self.assertEqual(check.returncode, 0, check.stderr)
            self.assertIn("inline", check.stdout + check.stderr)  # the inline key is warned about
            w = env.warmd(conf, env={"CREDENTIALS_DIRECTORY": creds})
            wait_for(lambda: w.target("a")["hits"] + w.target("o")["hits"] >= 2 and
                     w.target("bad")["state"] == "failing", 15, what="warms and a failure")
            self.assertTrue(w.target("bad")["last_error"])
            m = re.search(r"serving /metrics on \S+ \(port (\d+)\)", w.log())
            with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/metrics", timeout=5) as r:
                answers = [r.read().decode()]
            w.ctl("touch", "a", "hit", "cached=2000", "input=2100")
            for args in (["status"], ["--json", "status"], ["status", "bad"], ["status", "a"],
                         ["metrics"], ["versions", "a"], ["--json", "versions", "bad"],
                         ["reload"], ["warm", "--all"], ["pause", "i"], ["resume", "i"]):
                rc, out, err = w.ctl(*args)
                answers += [out, err]
            w.signal(signal.SIGHUP)
            wait_for(lambda: "reload" in w.log(), 5, what="the reload")
            wait_for(lambda: os.path.exists(prom), 5, what="the metrics textfile")
            self.assertEqual(w.stop()[0], 0)
            answers.append(check.stdout + check.stderr)
            written = []
            for root, _, files in os.walk(env.dir):
                for f in files:
                    p = os.path.join(root, f)
                    if root == creds or f in ("bad.key", "fakeprov.log") or f.endswith(".conf"):
                        continue  # the keys' own files, the fake's log, configs with inline keys
                    with open(p, "rb") as fh:
                        written.append((p, fh.read().decode("utf-8", "replace")))
            self.assertIn(env.path("state.json"), [p for p, _ in written])
            self.assertIn(prom, [p for p, _ in written])
            for key in (ANTHROPIC_KEY, OPENAI_KEY, self.BAD_KEY):
                for i, text in enumerate(answers):
                    self.assertNotIn(key, text, f"answer {i}")
                for p, text in written:
                    self.assertNotIn(key, text, p)
        finally:
            env.close()


if __name__ == "__main__":
    unittest.main()
