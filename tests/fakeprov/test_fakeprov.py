"""Self-test of fakeprov.py: runs it as a subprocess and checks its answers with exact numbers.

Run from anywhere:  python3 -m unittest tests/fakeprov/test_fakeprov.py -v
The token arithmetic is re-derived here from the spec, not imported from fakeprov.
"""

import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

FAKEPROV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakeprov.py")
A_KEY = "test-anthropic-key"
O_KEY = "test-openai-key"
TTL_5M = 1.2
TTL_1H = 60.0
LOG_LIMIT = 5
MODEL = "claude-fake-1"
EPHEMERAL = {"type": "ephemeral"}


def canonical(x):
    return json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def text_block(n_tokens, **extra):
    """A text block worth exactly n_tokens: canonical '{"text":"...","type":"text"}' is 25 + len."""
    return {"type": "text", "text": "a" * (4 * n_tokens - 25), **extra}


def user_text(n_tokens):
    """A user message whose string content is worth exactly n_tokens ('"' + text + '"')."""
    return {"role": "user", "content": "x" * (4 * n_tokens - 2)}


def openai_prompt_len(messages):
    return len(("[" + ",".join(canonical(m) for m in messages) + "]").encode())


def top_step(prompt_tokens):
    return 1024 + 128 * ((prompt_tokens - 1024) // 128)


def start_fakeprov(*args):
    """Start fakeprov on a free port; returns (process, port, tempdir)."""
    tmp = tempfile.mkdtemp(prefix="fakeprov-test-")
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, FAKEPROV, "--port", "0", "--port-file", port_file, *args],
                            stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError("fakeprov did not start")
        time.sleep(0.02)
    with open(port_file) as f:
        return proc, int(f.read()), tmp


def stop_fakeprov(proc, tmp, sig=signal.SIGTERM):
    """Signal fakeprov and return its exit code (killing it if it hangs)."""
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    proc.stdout.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return code


class Client:
    """Tiny HTTP helper: one connection per call, answers as (status, json, headers)."""

    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, headers=None, raw=None):
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path, body=raw, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read()), resp.headers
        finally:
            conn.close()

    def anthropic(self, body=None, key=A_KEY, version="2023-06-01", raw=None):
        headers = {"content-type": "application/json", "x-api-key": key}
        if version:
            headers["anthropic-version"] = version
        return self.call("POST", "/v1/messages", body, headers, raw)

    def openai(self, body=None, key=O_KEY, raw=None):
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        return self.call("POST", "/v1/chat/completions", body, headers, raw)

    def state(self):
        return self.call("GET", "/_fake/state")[1]


class FakeProvTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        proc, port, tmp = start_fakeprov(
            "--anthropic-key", A_KEY, "--openai-key", O_KEY, "--ttl-5m", str(TTL_5M),
            "--ttl-1h", str(TTL_1H), "--openai-ttl", "60", "--min-tokens", "1024",
            "--log-requests", str(LOG_LIMIT))
        cls.addClassCleanup(stop_fakeprov, proc, tmp)
        cls.client = Client(port)

    def setUp(self):
        status, body, _ = self.client.call("POST", "/_fake/reset")
        self.assertEqual((status, body), (200, {"ok": True}))

    # -------------------------------------------------------------- helpers

    def usage(self, body):
        status, resp, _ = self.client.anthropic(body)
        self.assertEqual(status, 200, resp)
        u = resp["usage"]
        return (u["cache_creation_input_tokens"], u["cache_read_input_tokens"], u["input_tokens"])

    def assert_anthropic_400(self, body, fragment=""):
        status, resp, _ = self.client.anthropic(body)
        self.assertEqual(status, 400, resp)
        self.assertEqual(resp["type"], "error")
        self.assertEqual(resp["error"]["type"], "invalid_request_error")
        self.assertIn(fragment, resp["error"]["message"])

    def openai_ok(self, body):
        status, resp, _ = self.client.openai(body)
        self.assertEqual(status, 200, resp)
        return resp["usage"]["prompt_tokens"], resp["usage"]["prompt_tokens_details"]["cached_tokens"]

    def assert_openai_400(self, body, param):
        status, resp, _ = self.client.openai(body)
        self.assertEqual(status, 400, resp)
        self.assertEqual(resp["error"]["type"], "invalid_request_error")
        self.assertEqual(resp["error"]["param"], param)

    def entries(self, api="anthropic"):
        return [e for e in self.client.state()["entries"] if e["api"] == api]

    # -------------------------------------------------------------- auth and validation

    def test_auth_failures(self):
        ok = {"model": MODEL, "max_tokens": 1, "messages": [user_text(3)]}
        status, resp, _ = self.client.anthropic(ok, key="wrong")
        self.assertEqual((status, resp), (401, {"type": "error", "error": {
            "type": "authentication_error", "message": "invalid x-api-key"}}))
        status, resp, _ = self.client.anthropic(ok, version=None)
        self.assertEqual(status, 400)
        self.assertIn("anthropic-version", resp["error"]["message"])

        openai_401 = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                "param": None, "code": "invalid_api_key"}}
        chat = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
        status, resp, _ = self.client.openai(chat, key="wrong")
        self.assertEqual((status, resp), (401, openai_401))
        status, resp, _ = self.client.call("POST", "/chat/completions", chat)
        self.assertEqual((status, resp), (401, openai_401))

    def test_bad_bodies(self):
        for raw, fragment in ((b"{nope", "not valid JSON"), (b"[1]", "JSON object")):
            status, resp, _ = self.client.anthropic(raw=raw)
            self.assertEqual(status, 400)
            self.assertEqual(resp["error"]["type"], "invalid_request_error")
            self.assertIn(fragment, resp["error"]["message"])
        self.assert_anthropic_400({"model": MODEL, "messages": [user_text(3)]}, "max_tokens")
        self.assert_anthropic_400({"model": MODEL, "max_tokens": -1, "messages": [user_text(3)]}, "max_tokens")
        self.assert_anthropic_400({"model": MODEL, "max_tokens": 1, "messages": []}, "messages")
        self.assert_anthropic_400({"model": MODEL, "max_tokens": 1,
                                   "messages": [{"role": "system", "content": "x"}]}, "role")
        self.assert_anthropic_400({"model": MODEL, "max_tokens": 5, "stream": True,
                                   "messages": [user_text(3)]}, "streaming not supported")

    def test_anthropic_max_tokens_zero(self):
        base = {"model": MODEL, "max_tokens": 0, "messages": [user_text(3)]}
        status, resp, headers = self.client.anthropic(base)
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["content"], [])
        self.assertEqual(resp["stop_reason"], "max_tokens")
        self.assertEqual(resp["usage"], {"input_tokens": 3, "cache_creation_input_tokens": 0,
                                         "cache_read_input_tokens": 0, "output_tokens": 0})
        self.assertTrue(resp["id"].startswith("msg_fake_"))
        self.assertEqual(headers["content-type"], "application/json")
        self.assertTrue(headers["request-id"])

        status, resp, _ = self.client.anthropic({**base, "max_tokens": 1})
        self.assertEqual(resp["content"], [{"type": "text", "text": "o"}])
        self.assertEqual(resp["usage"]["output_tokens"], 1)

        thinking = {"type": "enabled", "budget_tokens": 1024}
        illegal = [{"stream": True}, {"thinking": thinking}, {"tool_choice": {"type": "any"}},
                   {"tool_choice": {"type": "tool", "name": "t"}},
                   {"output_format": {"type": "json_schema", "schema": {}}},
                   {"output_config": {"format": {"type": "json_schema", "schema": {}}}}]
        for extra in illegal:
            with self.subTest(extra=extra):
                self.assert_anthropic_400({**base, **extra}, "max_tokens")
        legal = [{"tool_choice": {"type": "auto"}}, {"thinking": {"type": "disabled"}},
                 {"output_config": {"effort": "low"}}]
        for extra in legal:
            with self.subTest(extra=extra):
                self.assertEqual(self.client.anthropic({**base, **extra})[0], 200)

        self.assert_anthropic_400({**base, "max_tokens": 1024, "thinking": thinking}, "budget_tokens")
        self.assertEqual(self.client.anthropic({**base, "max_tokens": 1025, "thinking": thinking})[0], 200)

    def test_breakpoint_limit(self):
        four = {"model": MODEL, "max_tokens": 1, "system": [text_block(10, cache_control=EPHEMERAL)
                                                             for _ in range(4)],
                "messages": [user_text(3)]}
        self.assertEqual(self.client.anthropic(four)[0], 200)
        self.assert_anthropic_400({**four, "cache_control": EPHEMERAL}, "Found 5")
        five = {**four, "system": four["system"] + [text_block(10, cache_control=EPHEMERAL)]}
        self.assert_anthropic_400(five, "Found 5")
        self.assert_anthropic_400({**four, "system": [text_block(10, cache_control={"type": "x"})]},
                                  "system.0.cache_control")

    def test_openai_validation_and_shape(self):
        base = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
        self.assert_openai_400({**base, "max_tokens": 5, "max_completion_tokens": 5}, "max_tokens")
        self.assert_openai_400({**base, "max_tokens": 0}, "max_tokens")
        self.assert_openai_400({**base, "max_completion_tokens": 0}, "max_completion_tokens")
        self.assert_openai_400({**base, "stream_options": {"include_usage": True}}, "stream_options")
        self.assert_openai_400({**base, "stream": True}, "stream")
        self.assert_openai_400({**base, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role")
        self.assert_openai_400({"messages": base["messages"]}, "model")

        status, resp, headers = self.client.openai({**base, "max_completion_tokens": 1})
        self.assertEqual(status, 200, resp)
        prompt_tokens = math.ceil(openai_prompt_len(base["messages"]) / 4)
        self.assertEqual(resp["choices"], [{"index": 0, "message": {"role": "assistant", "content": "o",
                                                                    "refusal": None},
                                            "logprobs": None, "finish_reason": "length"}])
        self.assertEqual(resp["usage"]["prompt_tokens"], prompt_tokens)
        self.assertEqual(resp["usage"]["total_tokens"], prompt_tokens + 1)
        self.assertEqual(resp["usage"]["prompt_tokens_details"], {"cached_tokens": 0, "audio_tokens": 0})
        self.assertEqual(resp["object"], "chat.completion")
        self.assertTrue(resp["id"].startswith("chatcmpl-fake"))
        self.assertTrue(headers["x-request-id"])

    # -------------------------------------------------------------- Anthropic caching

    def test_explicit_breakpoint_write_read_refresh_expire_rewrite(self):
        body = {"model": MODEL, "max_tokens": 1,
                "system": [text_block(1500, cache_control=EPHEMERAL)], "messages": [user_text(10)]}
        self.assertEqual(self.usage(body), (1500, 0, 10))
        [entry] = self.entries()
        self.assertEqual((entry["tokens"], entry["writes"], entry["reads"], entry["alive"]), (1500, 1, 0, True))
        self.assertAlmostEqual(entry["ttl"], TTL_5M)
        self.assertAlmostEqual(entry["expires"] - entry["created"], TTL_5M, places=3)

        time.sleep(TTL_5M - 0.4)
        self.assertEqual(self.usage(body), (0, 1500, 10))          # read refreshes the TTL ...
        time.sleep(TTL_5M - 0.4)
        self.assertEqual(self.usage(body), (0, 1500, 10))          # ... so this still hits
        [entry] = self.entries()
        self.assertEqual((entry["writes"], entry["reads"], entry["dead_s"]), (1, 2, 0.0))

        time.sleep(TTL_5M + 0.3)
        [entry] = self.entries()
        self.assertFalse(entry["alive"])
        self.assertGreater(entry["dead_s"], 0.25)
        self.assertEqual(self.usage(body), (1500, 0, 10))
        [entry] = self.entries()
        self.assertEqual((entry["writes"], entry["reads"], entry["alive"]), (2, 2, True))
        self.assertGreater(entry["dead_s"], 0.25)
        self.assertLess(entry["dead_s"], TTL_5M)

    def test_automatic_caching_writes_last_block(self):
        body = {"model": MODEL, "max_tokens": 1, "cache_control": {"type": "ephemeral", "ttl": "1h"},
                "system": [text_block(600)], "messages": [{"role": "user", "content": [text_block(600)]}]}
        self.assertEqual(self.usage(body), (1200, 0, 0))
        self.assertEqual(self.usage(body), (0, 1200, 0))
        [entry] = self.entries()
        self.assertEqual((entry["tokens"], entry["ttl"], entry["writes"], entry["reads"]), (1200, TTL_1H, 1, 1))

        grown = {**body, "messages": body["messages"] + [
            {"role": "assistant", "content": [text_block(100)]}, {"role": "user", "content": [text_block(100)]}]}
        self.assertEqual(self.usage(grown), (200, 1200, 0))
        self.assertEqual([e["tokens"] for e in self.entries()], [1200, 1400])

    def test_below_min_tokens_caches_nothing(self):
        small = {"model": MODEL, "max_tokens": 1,
                 "system": [text_block(1023, cache_control=EPHEMERAL)], "messages": [user_text(10)]}
        self.assertEqual(self.usage(small), (0, 0, 1033))
        self.assertEqual(self.usage(small), (0, 0, 1033))
        self.assertEqual(self.entries(), [])
        exact = {**small, "system": [text_block(1024, cache_control=EPHEMERAL)]}
        self.assertEqual(self.usage(exact), (1024, 0, 10))

    def test_deepest_breakpoint_wins(self):
        two = {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": [
            text_block(1100, cache_control=EPHEMERAL), text_block(500, cache_control=EPHEMERAL)]}]}
        self.assertEqual(self.usage(two), (1600, 0, 0))
        self.assertEqual([e["tokens"] for e in self.entries()], [1100, 1600])
        three = {**two, "messages": [{"role": "user", "content": two["messages"][0]["content"] + [
            text_block(300, cache_control=EPHEMERAL)]}]}
        self.assertEqual(self.usage(three), (300, 1600, 0))
        self.assertEqual([(e["tokens"], e["reads"]) for e in self.entries()], [(1100, 0), (1600, 1), (1900, 0)])
        other_model = {**two, "model": "claude-fake-2"}
        self.assertEqual(self.usage(other_model), (1600, 0, 0))

    def test_lookback_is_20_blocks(self):
        first = {"model": MODEL, "max_tokens": 1,
                 "messages": [{"role": "user", "content": [text_block(1100, cache_control=EPHEMERAL)]}]}
        for gap, hit in ((20, True), (21, False), (25, False)):
            with self.subTest(gap=gap):
                self.setUp()
                self.assertEqual(self.usage(first), (1100, 0, 0))
                tail = [text_block(10) for _ in range(gap - 1)] + [text_block(10, cache_control=EPHEMERAL)]
                later = {**first, "messages": [{"role": "user", "content": [text_block(1100)] + tail}]}
                expected = (10 * gap, 1100, 0) if hit else (1100 + 10 * gap, 0, 0)
                self.assertEqual(self.usage(later), expected)

    # -------------------------------------------------------------- OpenAI caching

    def test_openai_prefix_cache(self):
        filler = 6000 - openai_prompt_len([{"role": "system", "content": ""}])
        messages = [{"role": "system", "content": "s" * filler}]
        self.assertEqual(openai_prompt_len(messages), 6000)   # 1500 tokens exactly
        body = {"model": "gpt-fake", "messages": messages, "max_completion_tokens": 1}
        self.assertEqual(self.openai_ok(body), (1500, 0))
        self.assertEqual(self.openai_ok(body), (1500, 1408))
        [entry] = self.entries("openai")
        self.assertEqual((entry["tokens"], entry["writes"], entry["reads"]), (1408, 1, 1))

        longer = messages + [{"role": "assistant", "content": "o"}, {"role": "user", "content": "u" * 800}]
        longer_tokens = math.ceil(openai_prompt_len(longer) / 4)
        self.assertEqual(self.openai_ok({**body, "messages": longer}), (longer_tokens, 1408))
        self.assertEqual([(e["tokens"], e["writes"], e["reads"]) for e in self.entries("openai")],
                         [(1408, 1, 2), (top_step(longer_tokens), 1, 0)])

        self.assertEqual(self.openai_ok({**body, "prompt_cache_key": "other"}), (1500, 0))
        self.assertEqual(self.openai_ok({**body, "model": "gpt-fake-2"}), (1500, 0))
        short = {**body, "messages": [{"role": "user", "content": "hi"}]}
        self.assertEqual(self.openai_ok(short)[1], 0)
        self.assertEqual(self.openai_ok(short)[1], 0)
        self.assertEqual(len(self.entries("openai")), 4)

    # -------------------------------------------------------------- HTTP and introspection

    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.client.port, timeout=5)
        body = json.dumps({"model": MODEL, "max_tokens": 1, "messages": [user_text(3)]})
        sockets = []
        try:
            for key, status in ((A_KEY, 200), ("wrong", 401), (A_KEY, 200)):
                conn.request("POST", "/v1/messages", body=body, headers={
                    "x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                self.assertEqual(resp.status, status)
                self.assertFalse(resp.will_close)
                sockets.append(conn.sock)
        finally:
            conn.close()
        self.assertIsNotNone(sockets[0])
        self.assertTrue(all(s is sockets[0] for s in sockets))

    def test_state_log_and_reset(self):
        raw = b'{"model": "m",   "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]}'
        self.assertEqual(self.client.anthropic(raw=raw)[0], 200)
        self.assertEqual(self.client.anthropic(raw=raw, key="wrong")[0], 401)
        self.assertEqual(self.client.openai({"model": "g", "messages": [{"role": "user", "content": "x"}]})[0], 200)
        self.assertEqual(self.client.call("GET", "/nope")[0], 404)
        self.assertEqual(self.client.call("GET", "/v1/messages")[0], 405)
        self.assertEqual(self.client.call("GET", "/_fake/reset")[0], 405)   # not counted

        state = self.client.state()
        self.assertLess(abs(state["now"] - time.time()), 5)
        self.assertEqual(state["requests"], {"anthropic": 3, "openai": 1, "rejected": 3, "total": 5})
        log = state["log"]
        self.assertEqual([(r["api"], r["status"]) for r in log],
                         [("anthropic", 200), ("anthropic", 401), ("openai", 200), ("unknown", 404),
                          ("anthropic", 405)])
        self.assertEqual(log[0]["body"], raw.decode())
        self.assertEqual((log[0]["max_tokens"], log[0]["read"], log[0]["write"], log[0]["input"]), (0, 0, 0, 1))
        self.assertEqual((log[1]["max_tokens"], log[1]["read"]), (0, None))

        self.client.anthropic(raw=raw)                                     # log keeps the last 5
        log = self.client.state()["log"]
        self.assertEqual(len(log), LOG_LIMIT)
        self.assertEqual(log[0]["status"], 401)

        self.usage({"model": MODEL, "max_tokens": 1, "system": [text_block(1100, cache_control=EPHEMERAL)],
                    "messages": [user_text(3)]})
        self.assertEqual(len(self.entries()), 1)
        self.assertEqual(self.client.call("POST", "/_fake/reset")[:2], (200, {"ok": True}))
        state = self.client.state()
        self.assertEqual(state["requests"], {"anthropic": 0, "openai": 0, "rejected": 0, "total": 0})
        self.assertEqual((state["entries"], state["log"]), ([], []))


class FakeProvCliTest(unittest.TestCase):
    def test_listening_line_default_keys_and_clean_exit(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                proc, port, tmp = start_fakeprov()
                try:
                    self.assertEqual(proc.stdout.readline(), f"fakeprov listening on 127.0.0.1:{port}\n")
                    client = Client(port)
                    body = {"model": MODEL, "max_tokens": 1, "messages": [user_text(3)]}
                    self.assertEqual(client.anthropic(body, key="fake-anthropic-key")[0], 200)
                    chat = {"model": "g", "messages": [{"role": "user", "content": "x"}]}
                    self.assertEqual(client.openai(chat, key="fake-openai-key")[0], 200)
                finally:
                    code = stop_fakeprov(proc, tmp, sig)
                self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main()
