"""Self-test of fakeprov.py: runs it as a subprocess and checks its answers with exact numbers.

Run from anywhere:  python3 -m unittest tests/fakeprov/test_fakeprov.py -v
The token arithmetic is re-derived here from the spec, not imported from fakeprov.
"""

import base64
import datetime
import email.utils
import hashlib
import hmac
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

FAKEPROV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakeprov.py")
A_KEY = "test-anthropic-key"
O_KEY = "test-openai-key"
TTL_5M = 1.2
TTL_1H = 60.0
O_TTL = 60.0
O_TTL_30M = 120.0
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


def responses_prompt(items, instructions=None, tools=None):
    """The responses prompt string: [instructions|][tools|][items...], a string input being one
    user message and "type": "message" implied."""
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    items = [{k: v for k, v in item.items() if (k, v) != ("type", "message")} for item in items]
    text = "[" + ",".join(canonical(i) for i in items) + "]"
    if tools is not None:
        text = canonical(tools) + "|" + text
    if instructions is not None:
        text = canonical(instructions) + "|" + text
    return text


def tokens_of(text):
    return math.ceil(len(text.encode()) / 4)


def shared_step(a, b, first=1024, step=128):
    """The largest cache step (first, first + step, ...) inside the common prefix of two prompts, or 0."""
    common = len(os.path.commonprefix([a.encode(), b.encode()]))
    k = common // 4
    return 0 if k < first else first + step * ((k - first) // step)


def sized_input(n_tokens, fill="s", role="developer"):
    """A one-message responses input whose prompt is exactly n_tokens (4 * n_tokens bytes)."""
    pad = 4 * n_tokens - len(responses_prompt([{"role": role, "content": ""}]).encode())
    return [{"role": role, "content": fill * pad}]


def start_fakeprov(*args, stderr=None):
    """Start fakeprov on a free port; returns (process, port, tempdir)."""
    tmp = tempfile.mkdtemp(prefix="fakeprov-test-")
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, FAKEPROV, "--port", "0", "--port-file", port_file, *args],
                            stdout=subprocess.PIPE, stderr=stderr, text=True)
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
        status, data, headers = self.raw_call(method, path, body, headers, raw)
        return status, json.loads(data), headers

    def raw_call(self, method, path, body=None, headers=None, raw=None, timeout=5):
        """(status, body bytes, headers)."""
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=raw, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read(), resp.headers
        finally:
            conn.close()

    def anthropic(self, body=None, key=A_KEY, version="2023-06-01", raw=None):
        headers = {"content-type": "application/json", "x-api-key": key}
        if version:
            headers["anthropic-version"] = version
        return self.call("POST", "/v1/messages", body, headers, raw)

    def openai(self, body=None, key=O_KEY, raw=None):
        headers = {"content-type": "application/json"}
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        return self.call("POST", "/v1/chat/completions", body, headers, raw)

    def responses(self, body=None, key=O_KEY, raw=None, path="/v1/responses"):
        headers = {"content-type": "application/json"}
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        return self.call("POST", path, body, headers, raw)

    def state(self):
        return self.call("GET", "/_fake/state")[1]


class FakeProvTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        proc, port, tmp = start_fakeprov(
            "--anthropic-key", A_KEY, "--openai-key", O_KEY, "--ttl-5m", str(TTL_5M),
            "--ttl-1h", str(TTL_1H), "--openai-ttl", str(O_TTL), "--openai-ttl-30m", str(O_TTL_30M),
            "--min-tokens", "1024", "--log-requests", str(LOG_LIMIT))
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

    def responses_ok(self, body, **kwargs):
        """(input_tokens, cached_tokens, cache_write_tokens, output_tokens) of a 200 response."""
        status, resp, _ = self.client.responses(body, **kwargs)
        self.assertEqual(status, 200, resp)
        u = resp["usage"]
        self.assertEqual(u["total_tokens"], u["input_tokens"] + u["output_tokens"])
        d = u["input_tokens_details"]
        return u["input_tokens"], d["cached_tokens"], d["cache_write_tokens"], u["output_tokens"]

    def assert_responses_400(self, body, param, message=None):
        status, resp, _ = self.client.responses(body)
        self.assertEqual(status, 400, resp)
        self.assertEqual(resp["error"]["type"], "invalid_request_error")
        self.assertEqual(resp["error"]["param"], param)
        if message is not None:
            self.assertEqual(resp["error"]["message"], message)
        return resp

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

    # -------------------------------------------------------------- OpenAI Responses

    def test_responses_validation_and_shape(self):
        base = {"model": "gpt-5", "input": "hi"}
        resp = self.assert_responses_400(
            {**base, "max_output_tokens": 15}, "max_output_tokens",
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
            "but got 15 instead.")
        self.assertEqual(resp["error"]["code"], "integer_below_min_value")
        self.assertEqual(self.responses_ok({**base, "max_output_tokens": 16})[3], 16)
        self.assertEqual(self.responses_ok({**base, "max_output_tokens": 4096})[3], 16)
        self.assertEqual(self.responses_ok(base)[3], 16)
        bad = [({**base, "max_output_tokens": "16"}, "max_output_tokens"),
               ({**base, "max_output_tokens": True}, "max_output_tokens"),
               ({"input": "hi"}, "model"), ({**base, "model": 5}, "model"),
               ({"model": "gpt-5"}, "input"), ({**base, "input": []}, "input"),
               ({**base, "input": 5}, "input"), ({**base, "input": ["hi"]}, "input[0]"),
               ({**base, "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
               ({**base, "input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
               ({**base, "input": [{"type": "message", "role": "user"}]}, "input[0].content"),
               ({**base, "input": [{"role": "user", "content": 5}]}, "input[0].content"),
               ({**base, "input": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
                "input[0].content[0].type"),
               ({**base, "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
                "input[0].content[0].text"),
               ({**base, "input": [{"role": "user", "content": "x"},
                                   {"type": "function_call", "call_id": "c", "name": "f"}]},
                "input[1].arguments"),
               ({**base, "input": [{"type": "function_call_output", "call_id": "c"}]}, "input[0].output"),
               ({**base, "input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
               ({**base, "input": [{"type": "reasoning", "summary": "x"}]}, "input[0].summary"),
               ({**base, "input": [{"type": "custom_tool_call", "call_id": "c", "name": "p"}]},
                "input[0].input"),
               ({**base, "instructions": 5}, "instructions"), ({**base, "tools": {}}, "tools"),
               ({**base, "prompt_cache_key": 1}, "prompt_cache_key"),
               ({**base, "stream": True}, "stream"),
               ({**base, "prompt_cache_options": "on"}, "prompt_cache_options"),
               ({**base, "prompt_cache_options": {"prewarm": "yes"}}, "prompt_cache_options.prewarm"),
               ({**base, "prompt_cache_options": {"prewarm": 1}}, "prompt_cache_options.prewarm"),
               ({**base, "prompt_cache_options": {"ttl": "1h"}}, "prompt_cache_options.ttl")]
        for body, param in bad:
            with self.subTest(body=body):
                self.assert_responses_400(body, param)

        items = [{"role": "system", "content": "s"}, {"type": "message", "role": "developer", "content": "d"},
                 {"role": "user", "content": [{"type": "input_text", "text": "look"},
                                              {"type": "input_image", "image_url": "data:image/png;base64,AA"}]},
                 {"type": "message", "role": "assistant", "content": [
                     {"type": "output_text", "text": "o", "annotations": []}]},
                 {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                 {"type": "function_call_output", "call_id": "c1", "output": "42"}]
        body = {**base, "input": items, "instructions": "be brief", "tools": [{"type": "function", "name": "f"}],
                "max_output_tokens": 20, "prompt_cache_key": "k", "prompt_cache_options": {"prewarm": False}}
        for path in ("/v1/responses", "/responses"):
            status, resp, headers = self.client.responses(body, path=path)
            self.assertEqual(status, 200, resp)
            n = resp["id"][len("resp_fake"):]
            self.assertTrue(n.isdigit(), resp["id"])
            self.assertTrue(headers["x-request-id"])
            self.assertIsInstance(resp.pop("created_at"), int)
            prompt_tokens = tokens_of(responses_prompt(items, "be brief", body["tools"]))
            self.assertEqual(resp, {
                "id": f"resp_fake{n}", "object": "response", "status": "completed", "error": None,
                "incomplete_details": None, "model": "gpt-5",
                "output": [{"type": "message", "id": f"msg_fake{n}", "status": "completed", "role": "assistant",
                            "content": [{"type": "output_text", "text": "o", "annotations": []}]}],
                "usage": {"input_tokens": prompt_tokens,
                          "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                          "output_tokens": 16, "output_tokens_details": {"reasoning_tokens": 0},
                          "total_tokens": prompt_tokens + 16}})

        openai_401 = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                "param": None, "code": "invalid_api_key"}}
        self.assertEqual(self.client.responses(base, key="wrong")[:2], (401, openai_401))
        self.assertEqual(self.client.responses(base, key=None)[:2], (401, openai_401))
        status, resp, _ = self.client.responses(raw=b"{nope")
        self.assertEqual((status, resp["error"]["type"]), (400, "invalid_request_error"))

    def test_responses_prefix_cache(self):
        items = sized_input(1500)
        self.assertEqual(tokens_of(responses_prompt(items)), 1500)
        body = {"model": "gpt-5", "input": items, "max_output_tokens": 16}
        self.assertEqual(self.responses_ok(body), (1500, 0, 0, 16))
        self.assertEqual(self.responses_ok(body), (1500, 1408, 0, 16))
        [entry] = self.entries("openai")               # the chat cache, api "openai"
        self.assertEqual((entry["tokens"], entry["writes"], entry["reads"], entry["ttl"]), (1408, 1, 1, O_TTL))
        self.assertEqual(entry["prompt_cache_key"], "")

        longer = items + [{"type": "message", "role": "assistant",
                           "content": [{"type": "output_text", "text": "o"}]},
                          {"role": "user", "content": "u" * 800}]
        longer_tokens = tokens_of(responses_prompt(longer))
        self.assertEqual(shared_step(responses_prompt(items), responses_prompt(longer)), 1408)
        self.assertEqual(self.responses_ok({**body, "input": longer}), (longer_tokens, 1408, 0, 16))
        self.assertEqual([(e["tokens"], e["reads"]) for e in self.entries("openai")],
                         [(1408, 2), (top_step(longer_tokens), 0)])
        self.assertEqual(self.responses_ok({**body, "prompt_cache_key": "other"})[1], 0)
        self.assertEqual(self.responses_ok({**body, "model": "gpt-5-mini"})[1], 0)
        short = {**body, "input": "hi"}
        self.assertEqual(self.responses_ok(short)[:2], (tokens_of(responses_prompt("hi")), 0))
        self.assertEqual(self.responses_ok(short)[1], 0)

    def test_responses_string_and_array_input_share_the_cache(self):
        text = "x" * 5000
        as_string = {"model": "gpt-5", "input": text}
        prompt_tokens = tokens_of(responses_prompt(text))
        self.assertEqual(responses_prompt(text), responses_prompt([{"role": "user", "content": text}]))
        self.assertEqual(self.responses_ok(as_string), (prompt_tokens, 0, 0, 16))
        step = top_step(prompt_tokens)
        for inp in ([{"role": "user", "content": text}], [{"type": "message", "role": "user", "content": text}]):
            with self.subTest(input=inp[0]):
                self.assertEqual(self.responses_ok({**as_string, "input": inp}), (prompt_tokens, step, 0, 16))
        # one cache with chat: the same messages, the same prefix
        chat = {"model": "gpt-5", "messages": [{"role": "user", "content": text}]}
        self.assertEqual(openai_prompt_len(chat["messages"]), len(responses_prompt(text).encode()))
        self.assertEqual(self.openai_ok(chat), (prompt_tokens, step))
        # content parts are not a string: a different prompt
        parts = [{"role": "user", "content": [{"type": "input_text", "text": text}]}]
        self.assertEqual(self.responses_ok({**as_string, "input": parts})[1], 0)
        self.assertEqual(len(self.entries("openai")), 2)

    def test_responses_instructions_lead_the_prefix(self):
        body = {"model": "gpt-5", "instructions": "I" * 5000, "input": "hi"}
        first = responses_prompt("hi", "I" * 5000)
        self.assertEqual(self.responses_ok(body), (tokens_of(first), 0, 0, 16))
        other_input = responses_prompt("hello there", "I" * 5000)
        self.assertEqual(shared_step(first, other_input), 1152)
        self.assertEqual(self.responses_ok({**body, "input": "hello there"}), (tokens_of(other_input), 1152, 0, 16))
        for instructions in ("J" * 5000, None):
            with self.subTest(instructions=instructions and instructions[:1]):
                changed = {**body, "instructions": instructions}
                self.assertEqual(self.responses_ok(changed)[1], 0)
        tools = [{"type": "function", "name": "f", "parameters": {}}]
        with_tools = responses_prompt("hi", "I" * 5000, tools)
        self.assertEqual(self.responses_ok({**body, "tools": tools}), (tokens_of(with_tools), 1152, 0, 16))

    def test_responses_cache_write_tokens_and_ttl(self):
        items = sized_input(1500)
        for model, bills in (("gpt-5.6", True), ("gpt-5.7-mini", True), ("gpt-6", True), ("gpt-5.10", True),
                             ("gpt-5", False), ("gpt-5.5", False), ("gpt-4o", False), ("gpt-fake", False)):
            for options, key in (({"ttl": "30m"}, "30m"), (None, "default")):
                with self.subTest(model=model, ttl=key):
                    status, resp, _ = self.client.responses({"model": model, "input": items, "prompt_cache_key": key,
                                                             "prompt_cache_options": options})
                    self.assertEqual(status, 200, resp)
                    self.assertEqual(resp["usage"]["input_tokens_details"],
                                     {"cached_tokens": 0, "cache_write_tokens": 1408 if bills else 0})
                    [entry] = [e for e in self.entries("openai") if (e["model"], e["prompt_cache_key"]) == (model, key)]
                    self.assertEqual(entry["ttl"], O_TTL_30M if bills and options else O_TTL)

        body = {"model": "gpt-5.6", "input": items, "prompt_cache_key": "default"}
        self.assertEqual(self.responses_ok(body), (1500, 1408, 0, 16))
        body = {**body, "prompt_cache_options": {"ttl": "30m"}}
        self.assertEqual(self.responses_ok(body), (1500, 1408, 0, 16))
        self.assertEqual(self.responses_ok({**body, "prompt_cache_options": None}), (1500, 1408, 0, 16))
        [entry] = [e for e in self.entries("openai") if (e["model"], e["prompt_cache_key"]) == ("gpt-5.6", "default")]
        self.assertEqual((entry["ttl"], entry["reads"]), (O_TTL_30M, 3))   # a minimum: lengthened, never shortened
        longer = items + [{"role": "user", "content": "u" * 800}]
        longer_tokens = tokens_of(responses_prompt(longer))
        self.assertEqual(self.responses_ok({**body, "input": longer}),
                         (longer_tokens, 1408, top_step(longer_tokens) - 1408, 16))
        self.assertEqual(self.responses_ok({"model": "gpt-5.6", "input": "hi"})[1:3], (0, 0))
        old = {"model": "gpt-5", "input": items, "prompt_cache_options": {"ttl": "30m"}, "prompt_cache_key": "30m"}
        self.assertEqual(self.responses_ok(old), (1500, 1408, 0, 16))     # accepted, the TTL stays
        [entry] = [e for e in self.entries("openai") if (e["model"], e["prompt_cache_key"]) == ("gpt-5", "30m")]
        self.assertEqual((entry["ttl"], entry["reads"]), (O_TTL, 1))
        # chat on gpt-5.6 reads the same entries and reports cache_write_tokens too
        chat = {"model": "gpt-5.6", "messages": longer, "prompt_cache_key": "default"}
        status, resp, _ = self.client.openai(chat)
        self.assertEqual(resp["usage"]["prompt_tokens_details"],
                         {"cached_tokens": top_step(longer_tokens), "audio_tokens": 0, "cache_write_tokens": 0})
        status, resp, _ = self.client.openai({**chat, "model": "gpt-5.6-mini"})
        self.assertEqual(resp["usage"]["prompt_tokens_details"]["cache_write_tokens"], top_step(longer_tokens))
        self.assert_openai_400({**chat, "prompt_cache_options": {"ttl": "24h"}}, "prompt_cache_options.ttl")

    def test_responses_prewarm(self):
        items = sized_input(1500)
        prewarm = {"model": "gpt-5.6", "input": items, "prompt_cache_options": {"prewarm": True, "ttl": "30m"}}
        status, resp, _ = self.client.responses(prewarm)
        self.assertEqual(status, 200, resp)
        self.assertEqual((resp["status"], resp["output"]), ("completed", []))
        self.assertEqual(resp["usage"], {"input_tokens": 1500,
                                         "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 1408},
                                         "output_tokens": 0, "output_tokens_details": {"reasoning_tokens": 0},
                                         "total_tokens": 1500})
        real = {"model": "gpt-5.6", "input": items, "max_output_tokens": 64}
        status, resp, _ = self.client.responses(real)
        self.assertEqual(resp["usage"]["input_tokens_details"], {"cached_tokens": 1408, "cache_write_tokens": 0})
        self.assertEqual(resp["output"][0]["content"][0]["text"], "o")
        self.assertEqual(self.responses_ok({**prewarm, "max_output_tokens": 16}), (1500, 1408, 0, 0))
        self.assert_responses_400({**prewarm, "max_output_tokens": 15}, "max_output_tokens")
        self.assertEqual(self.responses_ok({**real, "prompt_cache_options": {"prewarm": False}})[3], 16)
        self.assert_openai_400({"model": "gpt-5.6", "messages": [{"role": "user", "content": "x"}],
                                "prompt_cache_options": {"prewarm": True}}, "prompt_cache_options.prewarm")
        [entry] = self.entries("openai")
        self.assertEqual((entry["tokens"], entry["writes"], entry["reads"], entry["ttl"]), (1408, 1, 3, O_TTL_30M))

        state = self.client.state()
        self.assertEqual(state["requests"], {"anthropic": 0, "openai": 1, "responses": 5, "rejected": 2, "total": 6})
        self.assertEqual([(r["api"], r["status"], r["prewarm"], r["max_tokens"], r["read"], r["write"])
                          for r in state["log"]],
                         [("responses", 200, False, 64, 1408, 0), ("responses", 200, True, 16, 1408, 0),
                          ("responses", 400, True, 15, None, None), ("responses", 200, False, 64, 1408, 0),
                          ("openai", 400, False, None, None, None)])

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
        self.assertEqual(state["requests"], {"anthropic": 3, "openai": 1, "responses": 0, "rejected": 3, "total": 5})
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
        self.assertEqual(state["requests"], {"anthropic": 0, "openai": 0, "responses": 0, "rejected": 0, "total": 0})
        self.assertEqual((state["entries"], state["log"]), ([], []))


# ------------------------------------------------------------------ fault injection

FAULT_DEFAULTS = {
    "seed": 0, "rpm": 0, "rpm_window": 60, "ratelimit_headers": False,
    "p_429": 0.0, "retry_after": 1, "retry_after_date": False, "should_retry": None,
    "p_spend_limit": 0.0, "p_500": 0.0, "p_529": 0.0, "p_garbage": 0.0,
    "p_huge": 0.0, "huge_bytes": 64 * 1024 * 1024, "p_endless": 0.0,
    "p_hang": 0.0, "hang_seconds": 300, "p_reset": 0.0,
    "p_trickle": 0.0, "trickle_bps": 5, "reject_keys": False, "echo_key": None,
}
DRAW_ORDER = ["p_429", "p_spend_limit", "p_500", "p_529", "p_garbage", "p_huge", "p_endless",
              "p_hang", "p_reset", "p_trickle"]
NO_FAULTS = {"429": 0, "spend_limit": 0, "500": 0, "529": 0, "garbage": 0, "huge": 0, "endless": 0,
             "hang": 0, "reset": 0, "trickle": 0, "rate_limited": 0, "rejected_key": 0, "echo_key": 0}
A_RATE_LIMIT = {"type": "error", "error": {
    "type": "rate_limit_error", "message": "Number of request tokens has exceeded your per-minute rate limit"}}
O_RATE_LIMIT = {"error": {"message": "Rate limit reached for requests", "type": "requests", "param": None,
                          "code": "rate_limit_exceeded"}}
CACHEABLE = {"model": MODEL, "max_tokens": 1, "system": [text_block(1500, cache_control=EPHEMERAL)],
             "messages": [user_text(10)]}
CHAT = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
A_HEADERS = {"content-type": "application/json", "x-api-key": A_KEY, "anthropic-version": "2023-06-01"}
O_HEADERS = {"content-type": "application/json", "authorization": f"Bearer {O_KEY}"}
RATE_HEADER_NAMES = ("anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
                     "anthropic-ratelimit-requests-reset", "x-ratelimit-limit-requests",
                     "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests")


def expected_faults(seed, probs, n):
    """The fault of each of n requests, re-derived from the documented draw rule."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        draws = [rng.random() for _ in DRAW_ORDER]
        fired = [name for name, draw in zip(DRAW_ORDER, draws) if draw < probs.get(name, 0.0)]
        out.append(fired[0][2:] if fired else None)
    return out


def parse_go_duration(text):
    """Seconds in a Go duration string such as 250ms, 1s, 1.5s, 6m0s, 1h2m3.5s."""
    m = re.fullmatch(r"(\d+)ms", text)
    if m:
        return int(m.group(1)) / 1000
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(\d+(?:\.\d+)?)s", text)
    if not m:
        raise ValueError(f"not a Go duration: {text!r}")
    return int(m.group(1) or 0) * 3600 + int(m.group(2) or 0) * 60 + float(m.group(3))


def parse_rfc3339_utc(text):
    m = re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    if not m:
        raise ValueError(f"not RFC 3339 UTC: {text!r}")
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class FaultTest(unittest.TestCase):
    """Fault injection, on a server of its own whose stderr must stay empty (no tracebacks)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp_err = tempfile.NamedTemporaryFile(prefix="fakeprov-stderr-", mode="w+")
        cls.addClassCleanup(cls.tmp_err.close)
        proc, port, tmp = start_fakeprov(
            "--anthropic-key", A_KEY, "--openai-key", O_KEY, "--min-tokens", "1024",
            "--openai-ttl", "60", stderr=cls.tmp_err)
        cls.addClassCleanup(stop_fakeprov, proc, tmp)
        cls.client = Client(port)

    def setUp(self):
        self.assertEqual(self.faults(reset=True), FAULT_DEFAULTS)
        self.assertEqual(self.client.call("POST", "/_fake/reset")[:2], (200, {"ok": True}))
        self.err_offset = os.path.getsize(self.tmp_err.name)

    def tearDown(self):
        time.sleep(0.05)              # let the server finish with connections the test dropped
        with open(self.tmp_err.name) as f:
            f.seek(self.err_offset)
            self.assertEqual(f.read(), "", "fakeprov wrote to stderr")

    # -------------------------------------------------------------- helpers

    def faults(self, **fields):
        status, body, _ = self.client.call("POST", "/_fake/faults", fields)
        self.assertEqual(status, 200, body)
        return body

    def fire(self, api="anthropic", body=None, timeout=5):
        """A valid provider request: (status, raw body, headers)."""
        if api == "anthropic":
            return self.client.raw_call("POST", "/v1/messages", body or CACHEABLE, A_HEADERS, timeout=timeout)
        return self.client.raw_call("POST", "/v1/chat/completions", body or CHAT, O_HEADERS, timeout=timeout)

    def open_request(self, api="anthropic", body=None, timeout=5):
        """Send a valid request on a fresh connection and return (connection, response)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.client.port, timeout=timeout)
        self.addCleanup(conn.close)
        path, headers = ("/v1/messages", A_HEADERS) if api == "anthropic" else ("/v1/chat/completions", O_HEADERS)
        conn.request("POST", path, body=json.dumps(body or (CACHEABLE if api == "anthropic" else CHAT)),
                     headers=headers)
        return conn, conn.getresponse()

    def raw_socket_request(self, timeout=5):
        sock = socket.create_connection(("127.0.0.1", self.client.port), timeout=timeout)
        self.addCleanup(sock.close)
        body = json.dumps(CACHEABLE).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in A_HEADERS.items())
        sock.sendall(f"POST /v1/messages HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {len(body)}\r\n\r\n"
                     .encode() + body)
        return sock

    def fault_counts(self):
        return self.client.state()["faults"]

    def wait_for_fault(self, name, count):
        deadline = time.monotonic() + 5
        while self.fault_counts()[name] != count:
            self.assertLess(time.monotonic(), deadline, f"fault {name} never reached {count}")
            time.sleep(0.01)

    def assert_served_fresh(self):
        """A clean request writes the whole prefix: nothing earlier touched the cache."""
        status, data, _ = self.fire()
        self.assertEqual(status, 200)
        u = json.loads(data)["usage"]
        self.assertEqual((u["cache_creation_input_tokens"], u["cache_read_input_tokens"], u["input_tokens"]),
                         (1500, 0, 10))

    # -------------------------------------------------------------- configuration

    def test_faults_get_post_reset(self):
        self.assertEqual(self.client.call("GET", "/_fake/faults")[:2], (200, FAULT_DEFAULTS))
        changed = self.faults(p_500=0.25, should_retry=False, rpm=7)
        self.assertEqual(changed, {**FAULT_DEFAULTS, "p_500": 0.25, "should_retry": False, "rpm": 7})
        self.assertEqual(self.faults(p_429=1), {**changed, "p_429": 1})       # omitted fields kept
        bad = [{"p_500": 1.5}, {"p_500": -0.1}, {"p_500": True}, {"rpm": -1}, {"rpm": 1.5},
               {"seed": "x"}, {"seed": True}, {"should_retry": "yes"}, {"ratelimit_headers": 1},
               {"trickle_bps": 0}, {"rpm_window": 0}, {"hang_seconds": -1}, {"huge_bytes": 1.0},
               {"reset": "yes"}, {"p_42": 1}, {"p_500": 0, "nope": 1}, {"echo_key": True},
               {"echo_key": "xml"}]
        for update in bad:
            with self.subTest(update=update):
                status, resp, _ = self.client.call("POST", "/_fake/faults", update)
                self.assertEqual(status, 400, resp)
                self.assertEqual(resp["error"]["type"], "invalid_request_error")
        for raw in (b"[1]", b"{nope"):
            self.assertEqual(self.client.call("POST", "/_fake/faults", raw=raw)[0], 400)
        self.assertEqual(self.client.call("GET", "/_fake/faults")[1], {**changed, "p_429": 1})  # all or nothing
        self.assertEqual(self.faults(reset=True, p_hang=0.5), {**FAULT_DEFAULTS, "p_hang": 0.5})
        self.assertEqual(self.faults(reset=True), FAULT_DEFAULTS)
        self.assertEqual(self.client.call("PUT", "/_fake/faults", {})[0], 405)
        self.assertEqual(self.client.state()["requests"]["total"], 0)    # /_fake/* is never a provider request

    def test_faults_never_touch_fake_routes_or_unknown_paths(self):
        self.faults(p_500=1, reject_keys=True, rpm=1, ratelimit_headers=True)
        for _ in range(3):
            status, state, headers = self.client.call("GET", "/_fake/state")
            self.assertEqual(status, 200)
            self.assertNotIn("x-ratelimit-limit-requests", headers)
            self.assertEqual(self.client.call("GET", "/_fake/faults")[0], 200)
        self.assertEqual(self.client.call("GET", "/nope")[0], 404)
        state = self.client.state()
        self.assertEqual(state["faults"], NO_FAULTS)
        self.assertEqual([(r["status"], r["fault"]) for r in state["log"]], [(404, None)])

    # -------------------------------------------------------------- error answers

    def test_429_retry_after_and_should_retry(self):
        self.faults(p_429=1, retry_after=2)
        status, data, headers = self.fire()
        self.assertEqual((status, json.loads(data)), (429, A_RATE_LIMIT))
        self.assertEqual((headers["retry-after"], headers["retry-after-ms"]), ("2", "2000"))
        self.assertIsNone(headers["x-should-retry"])
        self.assertTrue(headers["request-id"])
        status, data, headers = self.fire("openai")
        self.assertEqual((status, json.loads(data)), (429, O_RATE_LIMIT))
        self.assertEqual((headers["retry-after"], headers["retry-after-ms"]), ("2", "2000"))

        for flag, text in ((True, "true"), (False, "false")):
            self.faults(should_retry=flag)
            self.assertEqual(self.fire()[2]["x-should-retry"], text)

        self.faults(retry_after=30, retry_after_date=True, should_retry=None)
        before = time.time()
        status, _, headers = self.fire("openai")
        self.assertEqual(status, 429)
        when = email.utils.parsedate_to_datetime(headers["retry-after"]).timestamp()
        self.assertTrue(headers["retry-after"].endswith(" GMT"), headers["retry-after"])
        self.assertGreaterEqual(when, math.floor(before + 30))
        self.assertLessEqual(when, time.time() + 31)
        self.assertIsNone(headers["retry-after-ms"])
        self.assertIsNone(headers["x-should-retry"])
        self.assertEqual(self.fault_counts()["429"], 5)
        self.assertEqual([r["fault"] for r in self.client.state()["log"]], ["429"] * 5)

    def test_spend_limit_500_529_bodies(self):
        cases = {
            "p_spend_limit": (
                "spend_limit",
                (429, {"type": "error", "error": {"type": "rate_limit_error", "message":
                       "You have reached your specified API usage limits. "
                       "You will regain access on 2026-12-01 at 00:00 UTC."}}),
                (429, {"error": {"message": "You exceeded your current quota, please check your plan and "
                                            "billing details.", "type": "insufficient_quota",
                                 "param": None, "code": "insufficient_quota"}})),
            "p_500": (
                "500",
                (500, {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}),
                (500, {"error": {"message": "The server had an error while processing your request. "
                                            "Sorry about that!", "type": "server_error",
                                 "param": None, "code": None}})),
            "p_529": (
                "529",
                (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                (503, {"error": {"message": "The engine is currently overloaded, please try again later",
                                 "type": "server_error", "param": None, "code": None}})),
        }
        for field, (name, anthropic, openai) in cases.items():
            with self.subTest(field=field):
                self.setUp()
                self.faults(**{field: 1})
                status, data, headers = self.fire()
                self.assertEqual((status, json.loads(data)), anthropic)
                self.assertEqual(headers["content-type"], "application/json")
                self.assertIsNone(headers["retry-after"])
                status, data, _ = self.fire("openai")
                self.assertEqual((status, json.loads(data)), openai)
                state = self.client.state()
                self.assertEqual(state["faults"], {**NO_FAULTS, name: 2})
                self.assertEqual(state["requests"], {"anthropic": 1, "openai": 1, "responses": 0, "rejected": 2, "total": 2})
                self.assertEqual([(r["status"], r["fault"]) for r in state["log"]],
                                 [(anthropic[0], name), (openai[0], name)])

    def test_reject_keys(self):
        self.faults(reject_keys=True, rpm=1)
        status, data, _ = self.fire()
        self.assertEqual((status, json.loads(data)), (401, {"type": "error", "error": {
            "type": "authentication_error", "message": "invalid x-api-key"}}))
        status, data, _ = self.fire("openai")
        self.assertEqual((status, json.loads(data)), (401, {"error": {
            "message": "Incorrect API key provided", "type": "invalid_request_error",
            "param": None, "code": "invalid_api_key"}}))
        self.assertEqual(self.fault_counts(), {**NO_FAULTS, "rejected_key": 2})
        self.faults(reject_keys=False)
        self.assertEqual(self.fire()[0], 200)         # the 401s took no slot of the rpm window
        self.assertEqual(self.fire()[0], 429)

    def test_echo_key(self):
        """A hostile 401 that hands the presented key back, as a page and as a long JSON message."""
        key = "fake-" + "Zq8wR2pX" * 9
        self.faults(echo_key="html", reject_keys=True, p_500=1)     # echo_key wins over both
        headers = {**A_HEADERS, "x-api-key": key}
        status, data, got = self.client.raw_call("POST", "/v1/messages", CACHEABLE, headers)
        page = data.decode()
        self.assertEqual(status, 401)
        self.assertTrue(got["content-type"].startswith("text/html"), got["content-type"])
        self.assertGreater(len(page), 16384)
        self.assertEqual(page.index(key), 100)                      # across the 160-byte excerpt
        self.assertIn(key, page[len(page) // 2 - 1000:len(page) // 2 + 1000])    # and in the middle
        self.assertEqual(got["x-fake-echo"], "presented " + key)
        self.faults(echo_key="json")
        for api, path, hdrs in (("anthropic", "/v1/messages", headers),
                                ("openai", "/v1/chat/completions", {**O_HEADERS, "authorization": f"Bearer {key}"})):
            with self.subTest(api=api):
                status, data, got = self.client.raw_call("POST", path, CACHEABLE if api == "anthropic" else CHAT, hdrs)
                self.assertEqual((status, got["content-type"]), (401, "application/json"))
                err = json.loads(data)["error"]
                message = err["message"]
                self.assertGreater(len(message), 512)
                starts = [i for i in range(len(message)) if message.startswith(key, i)]
                self.assertEqual(starts, [100, 196, 452])               # across 160, 256 and 512
                self.assertEqual(got["x-fake-echo"], "presented " + key)
                self.assertEqual(err["type"], "authentication_error" if api == "anthropic" else "invalid_request_error")
        # credentials in the base URL: curl sends them as Basic; the echo decodes them
        basic = "Basic " + base64.b64encode(b"gw-user:" + key.encode()).decode()
        status, data, got = self.client.raw_call("POST", "/v1/chat/completions", CHAT,
                                                 {**O_HEADERS, "authorization": basic})
        self.assertEqual(status, 401)
        self.assertEqual(got["x-fake-echo"], "presented gw-user:" + key)
        self.assertIn("gw-user:" + key, json.loads(data)["error"]["message"])
        self.assertEqual(self.fault_counts(), {**NO_FAULTS, "echo_key": 4})
        self.faults(echo_key=None, reject_keys=False, p_500=0)
        self.assertEqual(self.fire()[0], 200)

    def test_responses_faults_answer_like_openai(self):
        body = json.dumps({"model": "gpt-5", "input": "hi"}).encode()
        self.faults(p_500=1, ratelimit_headers=True)
        status, data, headers = self.client.raw_call("POST", "/v1/responses", raw=body, headers=O_HEADERS)
        self.assertEqual((status, json.loads(data)["error"]["type"]), (500, "server_error"))
        self.assertTrue(headers["x-request-id"])
        self.assertEqual(headers["x-ratelimit-limit-requests"], "1000000")
        self.faults(p_500=0, p_garbage=1)
        status, data, _ = self.client.raw_call("POST", "/v1/responses", raw=body, headers=O_HEADERS)
        self.assertEqual(status, 200)
        self.assertTrue(data.startswith(b'{"id": "resp_'), data)
        state = self.client.state()
        self.assertEqual(state["requests"], {"anthropic": 0, "openai": 0, "responses": 2, "rejected": 1, "total": 2})
        self.assertEqual([(r["api"], r["fault"]) for r in state["log"]], [("responses", "500"), ("responses", "garbage")])

    def test_first_fault_in_order_wins(self):
        self.faults(p_429=1, p_500=1, p_trickle=1)
        self.assertEqual(self.fire()[0], 429)
        self.faults(p_429=0)
        self.assertEqual(self.fire()[0], 500)
        self.faults(p_429=1, reject_keys=True)
        self.assertEqual(self.fire()[0], 401)
        self.assertEqual(self.fault_counts(), {**NO_FAULTS, "429": 1, "500": 1, "rejected_key": 1})

    # -------------------------------------------------------------- broken bodies and connections

    def test_garbage(self):
        self.faults(p_garbage=1)
        for api, start in (("anthropic", b'{"id": "msg_'), ("openai", b'{"id": "chatcmpl-')):
            conn, resp = self.open_request(api)
            data = resp.read()
            self.assertEqual(resp.status, 200)
            self.assertEqual(int(resp.headers["content-length"]), len(data))
            self.assertTrue(data.startswith(start), data)
            with self.assertRaises(ValueError):
                json.loads(data)
            with self.assertRaises(ValueError):
                data.decode("utf-8")
            self.faults(p_garbage=0)
            path = "/v1/messages" if api == "anthropic" else "/v1/chat/completions"
            conn.request("POST", path, body=json.dumps(CACHEABLE if api == "anthropic" else CHAT),
                         headers=A_HEADERS if api == "anthropic" else O_HEADERS)
            again = conn.getresponse()             # same connection: the framing was right
            self.assertEqual(again.status, 200)
            json.loads(again.read())
            self.faults(p_garbage=1)
        self.assertEqual(self.fault_counts()["garbage"], 2)

    def test_huge(self):
        self.faults(p_huge=1)
        conn, resp = self.open_request()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.headers["content-length"], str(64 * 1024 * 1024))
        first = resp.read(1 << 20)
        self.assertEqual(len(first), 1 << 20)
        self.assertTrue(first.startswith(b'{"id": "msg_fake_huge", "filler": "aaaa'), first[:60])
        conn.close()                                  # hang up with 63 MiB unsent

        self.faults(huge_bytes=300000)
        conn, resp = self.open_request("openai")
        data = resp.read()
        self.assertEqual((resp.status, resp.headers["content-length"], len(data)), (200, "300000", 300000))
        self.assertEqual(len(json.loads(data)["filler"]), 300000 - len(b'{"id": "msg_fake_huge", "filler": ""}'))
        self.assertEqual(self.fault_counts()["huge"], 2)
        self.faults(p_huge=0)
        self.assert_served_fresh()

    def test_endless(self):
        self.faults(p_endless=1)
        conn, resp = self.open_request()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.headers["transfer-encoding"], "chunked")
        self.assertIsNone(resp.headers["content-length"])
        start = time.monotonic()
        data = resp.read(100000)                      # ~25 chunks of ~4 KiB, one per 10 ms
        elapsed = time.monotonic() - start
        self.assertEqual(len(data), 100000)
        self.assertTrue(data.startswith(b'{"id": "msg_fake_endless", "content": [{"type": "text"'), data[:60])
        self.assertGreater(elapsed, 0.15)
        self.assertLess(elapsed, 3)
        self.assertFalse(resp.isclosed())
        conn.close()
        self.faults(p_endless=0)
        self.assert_served_fresh()                    # still answering, cache untouched
        self.assertEqual(self.fault_counts()["endless"], 1)

    def test_hang(self):
        self.faults(p_hang=1)
        start = time.monotonic()
        with self.assertRaises(TimeoutError):
            self.fire(timeout=0.5)
        self.assertGreaterEqual(time.monotonic() - start, 0.5)

        sock = self.raw_socket_request()              # hangs for 300 s ...
        self.wait_for_fault("hang", 2)
        self.faults(p_hang=0)
        start = time.monotonic()
        self.assert_served_fresh()                    # ... without blocking anyone else
        self.assertLess(time.monotonic() - start, 0.5)
        sock.settimeout(0.2)
        with self.assertRaises(TimeoutError):
            sock.recv(1)                              # and without a byte of answer
        sock.close()

        self.faults(p_hang=1, hang_seconds=0.5)
        start = time.monotonic()
        with self.assertRaises(http.client.RemoteDisconnected):
            self.fire("openai")
        self.assertGreaterEqual(time.monotonic() - start, 0.5)
        self.assertLess(time.monotonic() - start, 1.5)
        state = self.client.state()
        self.assertEqual(state["faults"], {**NO_FAULTS, "hang": 3})
        self.assertEqual([(r["status"], r["fault"]) for r in state["log"]][-1], (None, "hang"))
        self.assertEqual(state["requests"], {"anthropic": 3, "openai": 1, "responses": 0, "rejected": 3, "total": 4})

    def test_reset(self):
        self.faults(p_reset=1)
        sock = self.raw_socket_request()
        with self.assertRaises(ConnectionResetError):  # an RST, not a FIN (b"")
            sock.recv(4096)
        with self.assertRaises(ConnectionResetError):  # RemoteDisconnected is one too
            self.fire("openai")
        state = self.client.state()
        self.assertEqual(state["faults"], {**NO_FAULTS, "reset": 2})
        self.assertEqual([(r["status"], r["fault"]) for r in state["log"]], [(None, "reset")] * 2)
        self.faults(p_reset=0)
        self.assert_served_fresh()

    def test_trickle_serves_slowly_and_caches(self):
        self.faults(p_trickle=1, trickle_bps=400)
        start = time.monotonic()
        conn, resp = self.open_request()
        self.assertLess(time.monotonic() - start, 0.3)          # headers at once
        data = resp.read()
        elapsed = time.monotonic() - start
        expected = len(data) / 400
        self.assertEqual(int(resp.headers["content-length"]), len(data))
        self.assertGreater(len(data), 200)
        self.assertGreaterEqual(elapsed, expected * 0.9)
        self.assertLess(elapsed, expected + 0.5)
        u = json.loads(data)["usage"]
        self.assertEqual((u["cache_creation_input_tokens"], u["cache_read_input_tokens"]), (1500, 0))
        self.faults(p_trickle=0)
        status, data, _ = self.fire()
        self.assertEqual(json.loads(data)["usage"]["cache_read_input_tokens"], 1500)
        state = self.client.state()
        self.assertEqual(state["faults"], {**NO_FAULTS, "trickle": 1})
        self.assertEqual([(r["status"], r["fault"], r["write"]) for r in state["log"]],
                         [(200, "trickle", 1500), (200, None, 0)])

    def test_faults_leave_the_cache_alone(self):
        self.faults(p_500=1)
        self.assertEqual(self.fire()[0], 500)
        self.assertEqual(self.fire("openai", {"model": "gpt-fake", "messages": [
            {"role": "system", "content": "s" * 6000}]})[0], 500)
        state = self.client.state()
        self.assertEqual(state["entries"], [])
        self.assertEqual(state["requests"], {"anthropic": 1, "openai": 1, "responses": 0, "rejected": 2, "total": 2})
        self.assertEqual((state["log"][0]["read"], state["log"][0]["write"]), (None, None))

        self.faults(p_500=0, hang_seconds=0, huge_bytes=1000)
        for field in ("p_429", "p_spend_limit", "p_529", "p_garbage", "p_huge", "p_hang", "p_reset"):
            self.faults(**{field: 1})
            try:
                self.fire()
            except ConnectionError:
                pass
            self.faults(**{field: 0})
        self.faults(p_endless=1)
        conn, resp = self.open_request()
        resp.read(5000)
        conn.close()
        self.faults(p_endless=0)
        self.assertEqual(self.client.state()["entries"], [])
        self.assertEqual(self.fault_counts(), {**NO_FAULTS, "500": 2, "429": 1, "spend_limit": 1, "529": 1,
                                               "garbage": 1, "huge": 1, "hang": 1, "reset": 1, "endless": 1})
        self.assert_served_fresh()
        status, data, _ = self.fire("openai", {"model": "gpt-fake", "messages": [
            {"role": "system", "content": "s" * 6000}]})
        self.assertEqual(json.loads(data)["usage"]["prompt_tokens_details"]["cached_tokens"], 0)
        self.assertEqual(self.client.state()["requests"]["total"], 12)

    # -------------------------------------------------------------- rate limits

    def test_rpm_limiter(self):
        self.faults(rpm=3)
        for api in ("anthropic", "openai", "anthropic"):         # one window across APIs and keys
            self.assertEqual(self.fire(api)[0], 200)
        for api, body in (("anthropic", A_RATE_LIMIT), ("openai", O_RATE_LIMIT)):
            status, data, headers = self.fire(api)
            self.assertEqual((status, json.loads(data)), (429, body))
            self.assertEqual(headers["retry-after"], "60")
            self.assertGreater(int(headers["retry-after-ms"]), 55000)
            self.assertLessEqual(int(headers["retry-after-ms"]), 60000)
        state = self.client.state()
        self.assertEqual(state["faults"], {**NO_FAULTS, "rate_limited": 2})
        self.assertEqual(state["requests"]["total"], 5)

        self.client.call("POST", "/_fake/reset")
        self.faults(rpm=2, rpm_window=0.6)
        self.assertEqual(self.fire()[0], 200)                                # t0
        time.sleep(0.3)
        self.assertEqual(self.fire()[0], 200)                                # t0 + 0.3
        status, _, headers = self.fire()
        self.assertEqual((status, headers["retry-after"]), (429, "1"))     # at least 1
        wait_ms = int(headers["retry-after-ms"])                             # until t0 + 0.6
        self.assertGreater(wait_ms, 150)
        self.assertLessEqual(wait_ms, 300)
        self.assertEqual(self.fire()[0], 429)                                # 429s take no slot ...
        time.sleep(wait_ms / 1000 + 0.03)
        self.assertEqual(self.fire()[0], 200)                                # ... so t0's frees in time,
        status, _, headers = self.fire()                                     # but t0 + 0.3's is still in
        self.assertEqual(status, 429)
        self.assertLessEqual(int(headers["retry-after-ms"]), 300)

    def test_ratelimit_headers(self):
        status, _, headers = self.fire()
        for name in RATE_HEADER_NAMES:
            self.assertIsNone(headers[name])                  # off by default
        self.faults(rpm=5, ratelimit_headers=True)
        before = time.time()
        status, _, headers = self.fire()
        self.assertEqual(status, 200)
        self.assertEqual(headers["anthropic-ratelimit-requests-limit"], "5")
        self.assertEqual(headers["anthropic-ratelimit-requests-remaining"], "3")   # 2 in the window
        reset = parse_rfc3339_utc(headers["anthropic-ratelimit-requests-reset"])
        self.assertGreaterEqual(reset, math.floor(before + 60))
        self.assertLessEqual(reset, time.time() + 61)
        self.assertIsNone(headers["x-ratelimit-limit-requests"])

        status, _, headers = self.fire("openai")
        self.assertEqual(headers["x-ratelimit-limit-requests"], "5")
        self.assertEqual(headers["x-ratelimit-remaining-requests"], "2")
        self.assertLess(parse_go_duration(headers["x-ratelimit-reset-requests"]), 60)
        self.assertGreater(parse_go_duration(headers["x-ratelimit-reset-requests"]), 55)
        self.assertIsNone(headers["anthropic-ratelimit-requests-limit"])

        self.faults(p_500=1)
        status, _, headers = self.fire("openai")              # on error answers too
        self.assertEqual((status, headers["x-ratelimit-remaining-requests"]), (500, "1"))
        self.faults(p_500=0)
        self.fire()
        status, _, headers = self.fire("openai")              # the limiter's own 429
        self.assertEqual((status, headers["x-ratelimit-remaining-requests"]), (429, "0"))

        self.faults(rpm=0)
        status, _, headers = self.fire("openai")
        self.assertEqual(headers["x-ratelimit-limit-requests"], "1000000")
        self.assertEqual(headers["x-ratelimit-remaining-requests"], str(1000000 - 6))

        # Right after a reset the oldest request in the window is the one answered,
        # so the reset time is exactly the window.
        for window, text in ((60, "1m0s"), (360, "6m0s"), (1, "1s"), (1.5, "1.5s"), (0.25, "250ms"),
                             (3600, "1h0m0s"), (3723.5, "1h2m3.5s")):
            with self.subTest(window=window):
                self.client.call("POST", "/_fake/reset")
                self.faults(rpm_window=window)
                headers = self.fire("openai")[2]
                self.assertEqual(headers["x-ratelimit-reset-requests"], text)
                self.assertEqual(parse_go_duration(text), window)

    def test_seeded_faults_are_reproducible(self):
        probs = {"p_429": 0.1, "p_spend_limit": 0.1, "p_500": 0.1, "p_529": 0.1, "p_garbage": 0.1}
        expected = expected_faults(1234, probs, 50)
        self.assertGreaterEqual(len(set(expected)), 5)         # the sequence is worth comparing
        self.assertNotEqual(expected, expected_faults(99, probs, 50))

        def run(seed):
            self.client.call("POST", "/_fake/reset")
            self.faults(seed=seed, **probs)
            for n in range(50):
                self.fire("anthropic" if n % 2 else "openai", {"model": MODEL, "max_tokens": 1,
                                                                "messages": [user_text(3)]}
                          if n % 2 else None)
            return [r["fault"] for r in self.client.state()["log"]]

        self.assertEqual(run(1234), expected)
        self.assertEqual(run(99), expected_faults(99, probs, 50))
        self.assertEqual(run(1234), expected)
        self.client.call("POST", "/_fake/reset")               # reset re-seeds with the current seed
        self.fire()
        self.assertEqual(self.client.state()["log"][0]["fault"], expected[0])

    def test_slow_faults_do_not_block_others(self):
        self.faults(p_endless=1)
        conn_e, resp_e = self.open_request()
        resp_e.read(10)
        self.faults(p_endless=0, p_hang=1)
        socks = [self.raw_socket_request() for _ in range(5)]
        self.wait_for_fault("hang", 5)
        self.faults(p_hang=0, p_trickle=1, trickle_bps=5)
        conn_t, resp_t = self.open_request()
        self.faults(p_trickle=0)
        results = []

        def clean():
            results.append(self.fire("openai")[0])
        threads = [threading.Thread(target=clean) for _ in range(10)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 10)
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertEqual(resp_t.read(3), b'{"i')           # the trickle is still going
        for s in socks:
            s.close()
        conn_e.close()
        conn_t.close()


# ------------------------------------------------------------------ self-hosted OpenAI-compatible servers

COMPAT_FLAGS = {"mode": "vllm", "slots": 2, "lru_entries": 3}    # as the CompatTest server starts
JSON_HEAD = len('[{"content":"')           # every one-user-message chat prompt starts so


def chat_prompt(text):
    return "[" + canonical({"role": "user", "content": text}) + "]"


def sized_chat(n_tokens, fill):
    """One user message whose chat prompt is exactly 4 * n_tokens bytes."""
    return [{"role": "user", "content": fill * (4 * n_tokens - len(chat_prompt("").encode()))}]


class CompatTest(unittest.TestCase):
    """vLLM and llama.cpp modes, on a server of its own without an OpenAI key."""

    @classmethod
    def setUpClass(cls):
        proc, port, tmp = start_fakeprov("--openai-key", "", "--compat", "vllm", "--slots", "2",
                                         "--lru-entries", "3")
        cls.addClassCleanup(stop_fakeprov, proc, tmp)
        cls.client = Client(port)
        cls.initial = cls.client.call("GET", "/_fake/compat")[1]

    def setUp(self):
        self.compat(**COMPAT_FLAGS)
        self.assertEqual(self.client.call("POST", "/_fake/reset")[:2], (200, {"ok": True}))

    def compat(self, **fields):
        status, body, _ = self.client.call("POST", "/_fake/compat", fields)
        self.assertEqual(status, 200, body)
        return body

    def chat(self, messages, model="local", key=None, **extra):
        status, resp, _ = self.client.openai({"model": model, "messages": messages, **extra}, key=key)
        self.assertEqual(status, 200, resp)
        return resp

    def cached(self, messages, **kwargs):
        """vllm: (prompt_tokens, cached_tokens), checking the vLLM usage shape."""
        usage = self.chat(messages, **kwargs)["usage"]
        self.assertEqual(set(usage), {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details"})
        self.assertEqual(set(usage["prompt_tokens_details"]), {"cached_tokens"})
        return usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"]

    def cache_n(self, messages, **kwargs):
        """llamacpp: (prompt_tokens, cache_n), checking the llama.cpp usage and timings."""
        resp = self.chat(messages, **kwargs)
        self.assertNotIn("prompt_tokens_details", resp["usage"])
        self.assertEqual(set(resp["usage"]), {"prompt_tokens", "completion_tokens", "total_tokens"})
        t = resp["timings"]
        self.assertEqual((t["predicted_n"], t["cache_n"] + t["prompt_n"]), (1, resp["usage"]["prompt_tokens"]))
        return resp["usage"]["prompt_tokens"], t["cache_n"]

    def test_settings_and_no_key(self):
        self.assertEqual(self.initial, COMPAT_FLAGS)
        self.assertEqual(self.compat(), COMPAT_FLAGS)
        for bad in ({"mode": "sglang"}, {"slots": 0}, {"slots": 1.5}, {"lru_entries": -1}, {"nope": 1},
                    {"mode": "vllm", "slots": True}):
            with self.subTest(bad=bad):
                status, resp, _ = self.client.call("POST", "/_fake/compat", bad)
                self.assertEqual(status, 400, resp)
                self.assertEqual(resp["error"]["type"], "invalid_request_error")
        self.assertEqual(self.client.call("GET", "/_fake/compat")[1], COMPAT_FLAGS)     # all or nothing
        self.assertEqual(self.client.call("PUT", "/_fake/compat", {})[0], 405)

        messages = [{"role": "user", "content": "hi"}]
        for mode in ("vllm", "llamacpp", "openai"):
            self.compat(mode=mode)
            for key in (None, "anything", ""):
                with self.subTest(mode=mode, key=key):
                    self.chat(messages, key=key)
                    status, resp, _ = self.client.responses({"model": "local", "input": "hi"}, key=key)
                    self.assertEqual(status, 200, resp)
        resp = self.chat(messages)                       # openai mode: the OpenAI usage shape
        self.assertEqual(resp["usage"]["prompt_tokens_details"], {"cached_tokens": 0, "audio_tokens": 0})
        self.assertNotIn("timings", resp)
        self.assertEqual(self.client.state()["requests"]["rejected"], 0)

    def test_vllm_caches_small_prompts_in_16_token_blocks(self):
        self.compat(mode="vllm", lru_entries=3)
        tiny = [{"role": "user", "content": "hi"}]
        self.assertEqual(self.cached(tiny), (8, 0))                 # under one block
        self.assertEqual(self.cached(tiny), (8, 0))
        a = sized_chat(100, "a")
        self.assertEqual(self.cached(a), (100, 0))
        self.assertEqual(self.cached(a), (100, 96))                 # 6 full blocks
        self.assertEqual(self.cached(a, prompt_cache_key="k"), (100, 96))   # no routing key
        self.assertEqual(self.cached(a, model="other"), (100, 0))
        longer = a + [{"role": "assistant", "content": "o"}, {"role": "user", "content": "u" * 200}]
        longer_tokens = math.ceil(openai_prompt_len(longer) / 4)
        common = len(os.path.commonprefix([chat_prompt(a[0]["content"]).encode(),
                                           canonical(longer).encode()])) // 4
        self.assertEqual(self.cached(longer), (longer_tokens, 16 * (common // 16)))
        self.assertEqual(self.cached(longer), (longer_tokens, 16 * (longer_tokens // 16)))
        lru = self.client.state()["compat"]["lru"]
        self.assertEqual([(p["model"], p["tokens"], p["uses"]) for p in lru],
                         [("local", 96, 3), ("other", 96, 1), ("local", 16 * (longer_tokens // 16), 2)])
        state = self.client.state()
        self.assertEqual(state["entries"], [])                      # no OpenAI-style entries
        self.assertEqual([(r["read"], r["write"]) for r in state["log"]][-2:],
                         [(16 * (common // 16), 16 * (longer_tokens // 16) - 16 * (common // 16)),
                          (16 * (longer_tokens // 16), 0)])

    def test_vllm_lru_eviction(self):
        self.compat(mode="vllm", lru_entries=2)
        a, b, c = (sized_chat(100, fill) for fill in "abc")
        got = [self.cached(m)[1] for m in (a, b, a, c, b, c, a)]
        self.assertEqual(got, [0, 0, 96, 0, 0, 96, 0])              # b, then a, fell out
        self.assertEqual([p["uses"] for p in self.client.state()["compat"]["lru"]], [2, 1])

        self.compat(lru_entries=1)                                  # and a change empties the cache
        self.assertEqual(self.cached(a), (100, 0))
        longer = a + [{"role": "user", "content": "u" * 200}]
        self.assertEqual(self.cached(longer)[1], 96)                # evicts a's prefix ...
        self.assertEqual(len(self.client.state()["compat"]["lru"]), 1)
        self.assertEqual(self.cached(a), (100, 96))                 # ... but its blocks live on in longer's

    def test_llamacpp_timings_and_slots(self):
        self.compat(mode="llamacpp", slots=2)
        a = sized_chat(100, "a")
        self.assertEqual(self.cache_n(a), (100, 0))
        resp = self.chat(a)
        self.assertEqual({k: resp["timings"][k] for k in ("cache_n", "prompt_n", "predicted_n")},
                         {"cache_n": 99, "prompt_n": 1, "predicted_n": 1})     # the last token is recomputed
        self.assertEqual(resp["usage"], {"prompt_tokens": 100, "completion_tokens": 1, "total_tokens": 101})
        longer = a + [{"role": "assistant", "content": "o"}, {"role": "user", "content": "u" * 200}]
        longer_tokens = math.ceil(openai_prompt_len(longer) / 4)
        common = len(os.path.commonprefix([chat_prompt(a[0]["content"]).encode(),
                                           canonical(longer).encode()]))
        self.assertEqual(self.cache_n(longer), (longer_tokens, common // 4))   # whole prefix, no blocks
        self.assertEqual(self.cache_n(a), (100, 99))                # a is a prefix of longer's prompt

        b, c = sized_chat(100, "b"), sized_chat(100, "c")
        self.assertEqual(self.cache_n(b), (100, 0))                 # the empty slot
        self.assertEqual(self.cache_n(c), (100, JSON_HEAD // 4))    # replaces a, the least recently used
        self.assertEqual(self.cache_n(b), (100, 99))                # b kept its slot
        self.assertEqual(self.cache_n(a), (100, JSON_HEAD // 4))    # a was evicted: it takes c's slot 0,
        self.assertEqual(self.cache_n(c), (100, JSON_HEAD // 4))    # c then b's slot 1,
        self.assertEqual(self.cache_n(b, model="other"), (100, 0))  # and another model a's slot 0
        slots = self.client.state()["compat"]["slots"]
        self.assertEqual([(s["id"], s["model"], s["tokens"], s["uses"]) for s in slots],
                         [(0, "other", 100, 7), (1, "local", 100, 3)])
        log = self.client.state()["log"]
        self.assertEqual([(r["read"], r["write"], r["input"]) for r in log][:2], [(0, 100, 100), (99, 1, 1)])

        self.compat(slots=1)
        self.assertEqual(self.cache_n(a), (100, 0))
        self.assertEqual(self.cache_n(a), (100, 99))
        self.assertEqual(self.cache_n(b), (100, JSON_HEAD // 4))
        self.assertEqual(self.cache_n(a), (100, JSON_HEAD // 4))


# ---------------------------------------------------------------- Bedrock (door_bedrock.py)

AWS_ID = "FAKEACCESSKEY0000"
AWS_SECRET = "fake/SecretAccessKey/0000000000000000000"
AWS_SESSION_ID = "FAKEACCESSKEY1111"
AWS_SESSION_SECRET = "fake/SessionSecret/1111111111111111111"
AWS_TOKEN = "fake-session-token-1111"
BEDROCK_KEY = "fake-bedrock-api-key-0000"
SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
INVOKE = "/model/" + urllib.parse.quote(SONNET, safe="") + "/invoke"
CONVERSE = "/model/" + urllib.parse.quote(SONNET, safe="") + "/converse"
MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.")


def sigv4(path, raw, host, key_id=AWS_ID, secret=AWS_SECRET, token=None, service="bedrock",
          when=None, encode_again=True):
    """Headers of a request signed as AWS specifies (re-derived here): the canonical URI is the
    path as sent, URI-encoded once more (AWS outside S3)."""
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if when is None else when))
    headers = {"host": host, "x-amz-date": amz}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    path, _, query = path.partition("?")
    query = "&".join(sorted(query.split("&"))) if query else ""    # plain a=b params only
    uri = urllib.parse.quote(path, safe="/-_.~") if encode_again else path
    creq = "\n".join(["POST", uri, query] + [f"{n}:{headers[n]}" for n in names] +
                     ["", ";".join(names), hashlib.sha256(raw).hexdigest()])
    scope = f"{amz[:8]}/us-east-1/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (amz[:8], "us-east-1", service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={sig}")
    headers["content-type"] = "application/json"
    return headers


def converse_text(n_tokens):
    """A Converse text block worth exactly n_tokens: canonical '{"text":"..."}' is 11 + len."""
    return {"text": "c" * (4 * n_tokens - 11)}


class BedrockTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        proc, port, tmp = start_fakeprov("--ttl-5m", "60", "--min-tokens", "1024")
        cls.addClassCleanup(stop_fakeprov, proc, tmp)
        cls.client = Client(port)
        cls.host = f"127.0.0.1:{port}"

    def setUp(self):
        self.client.call("POST", "/_fake/reset")
        status, body, _ = self.client.call("POST", "/_fake/bedrock", {"credentials": [
            {"access_key_id": AWS_ID, "secret_access_key": AWS_SECRET},
            {"access_key_id": AWS_SESSION_ID, "secret_access_key": AWS_SESSION_SECRET,
             "session_token": AWS_TOKEN}], "api_keys": [BEDROCK_KEY]})
        self.assertEqual(status, 200, body)

    def send(self, path, body, **sign):
        raw = json.dumps(body).encode()
        return self.client.call("POST", path, raw=raw, headers=sigv4(path, raw, self.host, **sign))

    def refused(self, path, body, status, kind, message, **sign):
        got, resp, headers = self.send(path, body, **sign)
        self.assertEqual((got, resp), (status, {"message": message}))
        self.assertEqual(headers["x-amzn-ErrorType"].split(":")[0], kind)

    @staticmethod
    def invoke_body(system_tokens=1100, question="Where is my order?"):
        return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 0,
                "system": [text_block(system_tokens, cache_control=EPHEMERAL)],
                "messages": [{"role": "user", "content": question}]}

    def test_invoke_cache(self):
        status, resp, _ = self.send(INVOKE, self.invoke_body())
        self.assertEqual(status, 200, resp)
        question = math.ceil(len(canonical("Where is my order?").encode()) / 4)
        self.assertEqual(resp["usage"], {"input_tokens": question, "cache_creation_input_tokens": 1100,
                                         "cache_read_input_tokens": 0, "output_tokens": 0})
        # The next request, same prefix, another question: read.
        status, resp, _ = self.send(INVOKE, self.invoke_body(question="And my refund?"))
        self.assertEqual(resp["usage"]["cache_read_input_tokens"], 1100)
        self.assertEqual(resp["usage"]["cache_creation_input_tokens"], 0)
        # Another model has a cache of its own.
        other = "/model/" + urllib.parse.quote("us." + SONNET, safe="") + "/invoke"
        status, resp, _ = self.send(other, self.invoke_body())
        self.assertEqual(resp["usage"]["cache_creation_input_tokens"], 1100)
        state = self.client.state()
        entries = sorted((e["api"], e["model"]) for e in state["entries"])
        self.assertEqual(entries, [("bedrock", SONNET), ("bedrock", "us." + SONNET)])
        self.assertEqual(state["requests"]["bedrock"], 3)
        self.assertEqual(state["log"][-1]["auth"], f"sigv4 {AWS_ID}")
        self.assertEqual(state["log"][-1]["model"], "us." + SONNET)

    def test_invoke_rules(self):
        body = self.invoke_body()
        del body["anthropic_version"]
        self.refused(INVOKE, body, 400, "ValidationException",
                     "Malformed input request: #: required key [anthropic_version] not found, "
                     "please reformat your input and try again.")
        self.refused(INVOKE, {**self.invoke_body(), "model": SONNET}, 400, "ValidationException",
                     "Malformed input request: #: extraneous key [model] is not permitted, please "
                     "reformat your input and try again.")
        status, resp, headers = self.send(INVOKE, {**self.invoke_body(), "tool_choice": {"type": "any"}})
        self.assertEqual(status, 400)
        self.assertEqual(headers["x-amzn-ErrorType"].split(":")[0], "ValidationException")
        self.refused("/model/meta.llama3-70b-instruct-v1%3A0/invoke", self.invoke_body(), 400,
                     "ValidationException", "The provided model identifier is invalid.")
        # A model id encoded twice is another (invalid) id.
        self.refused(INVOKE.replace("%3A", "%253A"), self.invoke_body(), 400,
                     "ValidationException", "The provided model identifier is invalid.")

    def test_converse_cache(self):
        body = {"system": [converse_text(600), {"cachePoint": {"type": "default"}}],
                "toolConfig": {"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {}}}}]},
                "messages": [{"role": "user", "content": [converse_text(500),
                                                          {"cachePoint": {"type": "default"}},
                                                          converse_text(7)]}],
                "inferenceConfig": {"maxTokens": 1}}
        tool = math.ceil(len(canonical(body["toolConfig"]["tools"][0]).encode()) / 4)
        status, resp, _ = self.send(CONVERSE, body)
        self.assertEqual(status, 200, resp)
        # system (600 + tool) is below the minimum alone; the messages breakpoint is not.
        self.assertEqual(resp["usage"], {"inputTokens": 7, "outputTokens": 1,
                                         "totalTokens": tool + 1108,
                                         "cacheReadInputTokens": 0,
                                         "cacheWriteInputTokens": tool + 1100})
        self.assertEqual(resp["stopReason"], "max_tokens")
        status, resp, _ = self.send(CONVERSE, body)
        self.assertEqual((resp["usage"]["cacheReadInputTokens"],
                          resp["usage"]["cacheWriteInputTokens"]), (tool + 1100, 0))
        self.assertEqual(self.client.state()["log"][-1]["max_tokens"], 1)
        # InvokeModel's cache is another.
        status, resp, _ = self.send(INVOKE, self.invoke_body())
        self.assertEqual(resp["usage"]["cache_creation_input_tokens"], 1100)

    def test_converse_rules(self):
        user = {"role": "user", "content": [converse_text(5)]}
        cp = {"cachePoint": {"type": "default"}}
        for body, message in (
                ({"messages": [user], "inferenceConfig": {"maxTokens": 0}},
                 "The value at inferenceConfig.maxTokens must be greater than or equal to 1"),
                ({"messages": [user], "max_tokens": 1},
                 "Malformed input request: extraneous key [max_tokens] is not permitted"),
                ({"messages": [{"role": "user", "content": "hi"}]},
                 "messages.0.content: a non-empty list of blocks"),
                ({"system": [cp], "messages": [user]}, "system.0: a cachePoint must follow content"),
                ({"system": [converse_text(3), {"cachePoint": {"type": "ephemeral"}}],
                  "messages": [user]},
                 'system.1.cachePoint: must be {"type": "default"} with an optional ttl of 5m or 1h'),
                ({"system": [converse_text(3), cp, converse_text(3), cp, converse_text(3), cp,
                             converse_text(3), cp, converse_text(3), cp], "messages": [user]},
                 "A maximum of 4 cache points may be provided.")):
            with self.subTest(message=message):
                self.refused(CONVERSE, body, 400, "ValidationException", message)

    def test_signature_checks(self):
        body = self.invoke_body(system_tokens=10)
        self.refused(INVOKE, body, 403, "InvalidSignatureException", MISMATCH, secret="wrong")
        self.refused(INVOKE, body, 403, "InvalidSignatureException",
                     "Credential should be scoped to correct service: 'bedrock'. ",
                     service="bedrock-runtime")
        # Signed as sent (encoded once): AWS encodes it again, and they differ.
        self.refused(INVOKE, body, 403, "InvalidSignatureException", MISMATCH, encode_again=False)
        got, resp, _ = self.send(INVOKE, body, when=time.time() - 400)
        self.assertEqual(got, 403)
        self.assertRegex(resp["message"], r"^Signature expired: \d{8}T\d{6}Z is now earlier than "
                                          r"\d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$")
        self.assertEqual(self.send(INVOKE, body, when=time.time() - 200)[0], 200)
        self.refused(INVOKE, body, 403, "UnrecognizedClientException",
                     "The security token included in the request is invalid.", key_id="FAKEUNKNOWN")
        # A session key needs its token.
        self.refused(INVOKE, body, 403, "UnrecognizedClientException",
                     "The security token included in the request is invalid.",
                     key_id=AWS_SESSION_ID, secret=AWS_SESSION_SECRET)
        self.refused(INVOKE, body, 403, "UnrecognizedClientException",
                     "The security token included in the request is invalid.",
                     key_id=AWS_SESSION_ID, secret=AWS_SESSION_SECRET, token="fake-other")
        self.assertEqual(self.send(INVOKE, body, key_id=AWS_SESSION_ID, secret=AWS_SESSION_SECRET,
                                   token=AWS_TOKEN)[0], 200)
        self.client.call("POST", "/_fake/bedrock", {"credentials": [
            {"access_key_id": AWS_SESSION_ID, "secret_access_key": AWS_SESSION_SECRET,
             "session_token": AWS_TOKEN, "expired": True}]})
        self.refused(INVOKE, body, 403, "ExpiredTokenException",
                     "The security token included in the request is expired",
                     key_id=AWS_SESSION_ID, secret=AWS_SESSION_SECRET, token=AWS_TOKEN)
        self.assertEqual(self.client.call("GET", "/_fake/bedrock")[1]["credentials"],
                         [{"access_key_id": AWS_SESSION_ID, "session": True, "expired": True}])

    def test_bearer_and_no_auth(self):
        raw = json.dumps(self.invoke_body(system_tokens=10)).encode()
        ok = self.client.call("POST", INVOKE, raw=raw,
                              headers={"authorization": f"Bearer {BEDROCK_KEY}"})
        self.assertEqual(ok[0], 200, ok[1])
        self.assertEqual(self.client.state()["log"][-1]["auth"], "bearer")
        status, resp, _ = self.client.call("POST", INVOKE, raw=raw,
                                           headers={"authorization": "Bearer fake-wrong"})
        self.assertEqual((status, resp), (403, {"message": "Authentication failed: Please make sure "
                                                           "your API Key is valid."}))
        status, resp, _ = self.client.call("POST", INVOKE, raw=raw)
        self.assertEqual((status, resp), (403, {"message": "Missing Authentication Token"}))

    def test_faults_answer_as_bedrock(self):
        self.client.call("POST", "/_fake/faults", {"reject_keys": True})
        try:
            self.refused(INVOKE, self.invoke_body(), 403, "UnrecognizedClientException",
                         "The security token included in the request is invalid.")
        finally:
            self.client.call("POST", "/_fake/faults", {"reset": True})

    def test_query_string_is_signed(self):
        body = self.invoke_body(system_tokens=10)
        self.assertEqual(self.send(INVOKE + "?trace=1&a=b", body)[0], 200)
        raw = json.dumps(body).encode()
        headers = sigv4(INVOKE, raw, self.host)                   # signed without the query
        status, resp, _ = self.client.call("POST", INVOKE + "?trace=1", raw=raw, headers=headers)
        self.assertEqual((status, resp), (403, {"message": MISMATCH}))
        self.assertEqual(self.client.call("GET", INVOKE)[0], 405)


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

    def test_fault_flags_and_exit_while_hanging(self):
        proc, port, tmp = start_fakeprov(
            "--seed", "7", "--rpm", "2", "--rpm-window", "30", "--ratelimit-headers", "--p-429", "0.5",
            "--retry-after", "2.5", "--retry-after-date", "--should-retry", "false", "--p-spend-limit", "0.1",
            "--p-500", "0.2", "--p-529", "0.3", "--p-garbage", "0.4", "--p-huge", "0.05", "--huge-bytes", "1000",
            "--p-endless", "0.06", "--p-hang", "1", "--hang-seconds", "250", "--p-reset", "0.07",
            "--p-trickle", "0.08", "--trickle-bps", "100", "--reject-keys", "--echo-key", "json")
        try:
            client = Client(port)
            self.assertEqual(client.call("GET", "/_fake/faults")[1], {
                "seed": 7, "rpm": 2, "rpm_window": 30, "ratelimit_headers": True, "p_429": 0.5,
                "retry_after": 2.5, "retry_after_date": True, "should_retry": False, "p_spend_limit": 0.1,
                "p_500": 0.2, "p_529": 0.3, "p_garbage": 0.4, "p_huge": 0.05, "huge_bytes": 1000,
                "p_endless": 0.06, "p_hang": 1, "hang_seconds": 250, "p_reset": 0.07, "p_trickle": 0.08,
                "trickle_bps": 100, "reject_keys": True, "echo_key": "json"})
            client.call("POST", "/_fake/faults", {"reset": True, "p_hang": 1})
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            self.addCleanup(sock.close)
            body = json.dumps({"model": MODEL, "max_tokens": 1, "messages": [user_text(3)]}).encode()
            sock.sendall(b"POST /v1/messages HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            deadline = time.monotonic() + 5
            while client.state()["faults"]["hang"] != 1:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.01)
        finally:
            start = time.monotonic()
            code = stop_fakeprov(proc, tmp)
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - start, 2)          # a hanging answer does not hold up exit

    def test_bad_fault_flags(self):
        for args in (["--p-500", "1.5"], ["--rpm", "-1"], ["--trickle-bps", "0"], ["--should-retry", "maybe"], ["--echo-key", "xml"],
                     ["--compat", "sglang"], ["--slots", "0"], ["--lru-entries", "-1"], ["--openai-ttl-30m", "-5"]):
            with self.subTest(args=args):
                result = subprocess.run([sys.executable, FAKEPROV, *args], capture_output=True, text=True,
                                        timeout=10)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn("error:", result.stderr)


# ---------------------------------------------------------------- door_vertex

V_EMAIL = "warmd@example-project.iam.gserviceaccount.com"
V_PROJECT = "example-project"
V_MODEL = "claude-sonnet-4-5@20250929"
V_PATH = (f"/v1/projects/{V_PROJECT}/locations/us-east5/publishers/anthropic/models/"
          "claude-sonnet-4-5@20250929:rawPredict")


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(key, claims, header=None):
    """An RS256 JWT signed with the PEM private key file key (by openssl, as Google's clients do)."""
    header = header or {"alg": "RS256", "typ": "JWT", "kid": "kid-1"}
    signed = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return signed + "." + b64url(openssl("dgst", "-sha256", "-sign", key, data=signed.encode()))


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command to make test keys")
class VertexDoorTest(unittest.TestCase):
    """Google's token endpoint and rawPredict in front of the Anthropic cache."""

    @classmethod
    def setUpClass(cls):
        cls.keys = tempfile.mkdtemp(prefix="fakeprov-vertex-")
        cls.addClassCleanup(shutil.rmtree, cls.keys, True)
        for name in ("good", "other"):
            path = os.path.join(cls.keys, f"{name}.pem")
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
            openssl("pkey", "-in", path, "-pubout", "-out", os.path.join(cls.keys, f"{name}.pub"))
        cls.key = os.path.join(cls.keys, "good.pem")
        proc, port, tmp = start_fakeprov(
            "--anthropic-key", A_KEY, "--ttl-5m", str(TTL_5M), "--min-tokens", "1024",
            "--vertex-account", f"{V_EMAIL}={os.path.join(cls.keys, 'good.pub')}",
            "--vertex-token-ttl", "20", "--vertex-project", V_PROJECT)
        cls.addClassCleanup(stop_fakeprov, proc, tmp)
        cls.client = Client(port)
        cls.aud = f"http://127.0.0.1:{port}/token"

    def setUp(self):
        self.client.call("POST", "/_fake/reset")
        self.client.call("POST", "/_fake/vertex", {"reset": True})

    def claims(self, **over):
        now = int(time.time())
        return {"iss": V_EMAIL, "scope": "https://www.googleapis.com/auth/cloud-platform",
                "aud": self.aud, "iat": now, "exp": now + 3600, **over}

    def exchange(self, assertion, grant="urn:ietf:params:oauth:grant-type:jwt-bearer",
                 ctype="application/x-www-form-urlencoded"):
        form = urllib.parse.urlencode({"grant_type": grant, "assertion": assertion}).encode()
        return self.client.call("POST", "/token", headers={"Content-Type": ctype}, raw=form)[:2]

    def token(self):
        status, resp = self.exchange(make_jwt(self.key, self.claims()))
        self.assertEqual(status, 200, resp)
        return resp["access_token"]

    def predict(self, body, token=None, path=V_PATH):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        return self.client.call("POST", path, body, headers)[:2]

    def refused(self, assertion, error, description, **kw):
        status, resp = self.exchange(assertion, **kw)
        self.assertEqual((status, resp), (400, {"error": error, "error_description": description}))

    def test_exchange_then_cache(self):
        status, resp = self.exchange(make_jwt(self.key, self.claims()))
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["expires_in"], 20)
        self.assertEqual(resp["token_type"], "Bearer")
        self.assertTrue(resp["access_token"].startswith("ya29."))
        body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 0,
                "system": [text_block(1100, cache_control=EPHEMERAL)], "messages": [user_text(3)]}
        self.assertEqual(self.predict(body), (401, {"error": {
            "code": 401, "status": "UNAUTHENTICATED",
            "message": "Request had invalid authentication credentials. Expected OAuth 2 access "
                       "token, login cookie or other valid authentication credential. See "
                       "https://developers.google.com/identity/sign-in/web/devconsole-project."}}))
        status, first = self.predict(body, resp["access_token"])
        self.assertEqual(status, 200, first)
        self.assertEqual(first["model"], V_MODEL)
        self.assertEqual(first["usage"]["cache_creation_input_tokens"], 1100)
        status, second = self.predict(dict(body, messages=[user_text(5)]), resp["access_token"])
        self.assertEqual((status, second["usage"]["cache_read_input_tokens"]), (200, 1100))
        state = self.client.state()
        self.assertEqual([e["api"] for e in state["entries"]], ["vertex"])
        door = state["doors"]["vertex"]
        self.assertEqual((door["token_requests"], door["tokens_issued"], door["predict"],
                          door["predict_rejected"], door["live_tokens"]), (1, 1, 3, 1, 1))
        self.assertEqual(state["requests"]["total"], 4)
        self.assertEqual(state["requests"]["anthropic"], 0)
        self.assertNotIn(resp["access_token"][10:40], json.dumps(state["log"]))

    def test_assertion_checks(self):
        other = os.path.join(self.keys, "other.pem")
        now = int(time.time())
        self.refused(make_jwt(other, self.claims()), "invalid_grant", "Invalid JWT Signature.")
        self.refused(make_jwt(self.key, self.claims(iss="someone@else.example")), "invalid_grant",
                     "Invalid grant: account not found")
        self.refused(make_jwt(self.key, self.claims(aud="https://oauth2.googleapis.com/token")),
                     "invalid_grant", "Invalid JWT: Failed audience check.")
        self.refused(make_jwt(self.key, self.claims(scope="https://www.googleapis.com/auth/drive")),
                     "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        bad_time = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                    "timeframe. Check your iat and exp values in the JWT claim.")
        self.refused(make_jwt(self.key, self.claims(iat=now - 7200, exp=now - 3600)),
                     "invalid_grant", bad_time)                           # expired
        self.refused(make_jwt(self.key, self.claims(iat=now + 600, exp=now + 1200)),
                     "invalid_grant", bad_time)                           # from the future
        self.refused(make_jwt(self.key, self.claims(exp=now + 7200)), "invalid_grant", bad_time)
        self.refused(make_jwt(self.key, self.claims(), header={"alg": "HS256"}), "invalid_grant",
                     "Invalid JWT: alg must be RS256")
        signed = make_jwt(self.key, self.claims())
        tampered = signed.split(".")
        tampered[1] = b64url(json.dumps(self.claims(exp=now + 3000)).encode())
        self.refused(".".join(tampered), "invalid_grant", "Invalid JWT Signature.")
        self.refused(signed, "unsupported_grant_type", "Invalid grant_type: ['refresh_token']",
                     grant="refresh_token")
        self.refused(signed, "invalid_request",
                     "Content-Type must be application/x-www-form-urlencoded",
                     ctype="application/json")
        door = self.client.state()["doors"]["vertex"]
        self.assertEqual((door["token_requests"], door["token_refused"], door["tokens_issued"]),
                         (11, 11, 0))
        self.assertEqual(door["refusals"]["Invalid JWT Signature."], 2)

    def test_tokens_expire(self):
        self.client.call("POST", "/_fake/vertex", {"token_ttl": 1})
        token = self.token()
        body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 1,
                "messages": [user_text(3)]}
        self.assertEqual(self.predict(body, token)[0], 200)
        time.sleep(1.2)
        self.assertEqual(self.predict(body, token)[0], 401)
        self.assertEqual(self.predict(body, "ya29.made-up")[0], 401)

    def test_body_and_project_checks(self):
        token = self.token()
        base = {"max_tokens": 1, "messages": [user_text(3)]}
        status, resp = self.predict(base, token)
        self.assertEqual(status, 400)
        self.assertEqual(resp["error"]["message"], "anthropic_version: must be 'vertex-2023-10-16'")
        status, resp = self.predict(dict(base, anthropic_version="vertex-2023-10-16",
                                         model="claude-sonnet-4-5"), token)
        self.assertEqual((status, resp["error"]["message"]),
                         (400, "model: Extra inputs are not permitted"))
        status, resp = self.predict(dict(base, anthropic_version="vertex-2023-10-16",
                                         max_tokens=-1), token)
        self.assertEqual((status, resp["error"]["type"]), (400, "invalid_request_error"))
        status, resp = self.predict(dict(base, anthropic_version="vertex-2023-10-16"), token,
                                    path=V_PATH.replace(V_PROJECT, "someone-elses"))
        self.assertEqual((status, resp["error"]["status"]), (403, "PERMISSION_DENIED"))
        # The model is path-decoded: %40 is '@'.
        status, resp = self.predict(dict(base, anthropic_version="vertex-2023-10-16"), token,
                                    path=V_PATH.replace("@", "%40"))
        self.assertEqual((status, resp["model"]), (200, V_MODEL))

    def test_echo_modes(self):
        token = self.token()
        self.client.call("POST", "/_fake/vertex", {"echo_token": True, "echo_assertion": True})
        status, resp = self.predict({"anthropic_version": "vertex-2023-10-16"}, token)
        self.assertEqual(status, 401)
        self.assertEqual(resp["error"]["message"].count(token), 3)
        assertion = make_jwt(self.key, self.claims())
        status, resp = self.exchange(assertion)
        self.assertEqual((status, resp["error"]), (400, "invalid_grant"))
        self.assertIn(assertion, resp["error_description"])

    def test_faults_spare_the_token_endpoint(self):
        self.client.call("POST", "/_fake/faults", {"p_500": 1})
        try:
            assertion = make_jwt(self.key, self.claims())
            status, resp = self.exchange(assertion)
            self.assertEqual(status, 200, resp)
            body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 1,
                    "messages": [user_text(3)]}
            self.assertEqual(self.predict(body, resp["access_token"]), (500, {"error": {
                "code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}))
        finally:
            self.client.call("POST", "/_fake/faults", {"reset": True})
        state = self.client.state()
        self.assertEqual(state["faults"]["500"], 1)
        self.assertEqual((state["requests"]["vertex-token"], state["requests"]["vertex"]), (1, 1))
        self.assertEqual(state["doors"]["vertex"]["requests"], 2)
        self.assertEqual(state["doors"]["vertex"]["predict"], 0)      # the fault came first
        self.assertNotIn(assertion[:40], json.dumps(state["log"]))
        self.assertEqual(self.client.call("GET", "/token")[0], 405)

    def test_admin(self):
        with open(os.path.join(self.keys, "other.pub")) as f:
            pub = f.read()
        status, state, _ = self.client.call("POST", "/_fake/vertex",
                                            {"accounts": {"other@p.example": pub}, "token_ttl": 5})
        self.assertEqual(status, 200)
        self.assertIn("other@p.example", state["accounts"])
        self.assertEqual(state["token_ttl"], 5)
        status, resp = self.exchange(make_jwt(os.path.join(self.keys, "other.pem"),
                                              self.claims(iss="other@p.example")))
        self.assertEqual((status, resp["expires_in"]), (200, 5))
        for bad in ({"token_ttl": 0}, {"nope": 1}, {"accounts": {"x@y": "not a key"}}):
            self.assertEqual(self.client.call("POST", "/_fake/vertex", bad)[0], 400, bad)

Z_KEY = "test-azure-key"
G_KEY = "test-gemini-key"
G_TTL = 1.0
GEMINI = "gemini-2.5-flash"


def g_tokens(x):
    return math.ceil(len(canonical(x).encode()) / 4)


def g_text(n_tokens, fill="g"):
    """A systemInstruction worth n_tokens as the header {"systemInstruction": ...} alone."""
    pad = 4 * n_tokens - len(canonical({"systemInstruction": {"parts": [{"text": ""}]}}).encode())
    return {"parts": [{"text": fill * pad}]}


def g_user(text):
    return {"role": "user", "parts": [{"text": text}]}


class DoorTest(unittest.TestCase):
    """The Azure OpenAI and Gemini doors (door_azure.py, door_gemini.py)."""

    @classmethod
    def setUpClass(cls):
        proc, port, tmp = start_fakeprov(
            "--openai-key", O_KEY, "--openai-ttl", str(O_TTL), "--azure-key", Z_KEY,
            "--azure-deployment", "prod-4o=gpt-4o", "--gemini-key", G_KEY,
            "--gemini-ttl", str(G_TTL))
        cls.addClassCleanup(stop_fakeprov, proc, tmp)
        cls.client = Client(port)

    def setUp(self):
        self.assertEqual(self.client.call("POST", "/_fake/reset")[0], 200)

    def azure(self, path, body, key=Z_KEY):
        headers = {"content-type": "application/json"}
        if key is not None:
            headers["api-key"] = key
        return self.client.call("POST", path, body, headers)

    def gemini(self, method, path, body=None, key=G_KEY):
        headers = {"content-type": "application/json"}
        if key is not None:
            headers["x-goog-api-key"] = key
        return self.client.call(method, "/v1beta" + path, body, headers)

    # -------------------------------------------------------------- Azure

    def test_azure_checks_key_version_and_deployment(self):
        chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
        dep = "/openai/deployments/prod-4o/chat/completions"
        denied = {"error": {"code": "401", "message": (
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
            "provide a valid key for an active subscription and use a correct regional API "
            "endpoint for your resource.")}}
        self.assertEqual(self.azure(dep + "?api-version=2024-10-21", chat, key="wrong")[:2],
                         (401, denied))
        self.assertEqual(self.azure(dep + "?api-version=2024-10-21", chat, key=None)[:2],
                         (401, denied))
        self.assertEqual(self.azure(dep, chat)[:2],
                         (404, {"error": {"code": "404", "message": "Resource not found"}}))
        self.assertEqual(self.azure(dep + "?api-version=2019-01-01", chat)[:2],
                         (400, {"error": {"code": "BadRequest",
                                          "message": "API version not supported"}}))
        status, resp, _ = self.azure("/openai/deployments/nope/chat/completions"
                                     "?api-version=2024-10-21", chat)
        self.assertEqual((status, resp["error"]["code"]), (404, "DeploymentNotFound"))
        status, resp, _ = self.azure(dep + "?api-version=2024-10-21", chat)
        self.assertEqual((status, resp["model"]), (200, "gpt-4o"))
        # the OpenAI key does not open the Azure door, nor the Azure key OpenAI's
        self.assertEqual(self.azure(dep + "?api-version=2024-10-21", chat, key=O_KEY)[0], 401)
        self.assertEqual(self.client.openai({"model": "gpt-4o", **chat}, key=Z_KEY)[0], 401)
        state = self.client.state()
        self.assertEqual(state["doors"]["azure"]["requests"], 7)
        self.assertEqual(state["doors"]["azure"]["deployments"], {"prod-4o": "gpt-4o"})

    def test_azure_deployment_and_v1_share_the_openai_cache(self):
        messages = [{"role": "system", "content": "s" * 5000}, {"role": "user", "content": "q1"}]
        prompt = openai_prompt_len(messages) // 4 + (openai_prompt_len(messages) % 4 > 0)
        dep = "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
        status, resp, _ = self.azure(dep, {"messages": messages, "max_tokens": 1})
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["usage"]["prompt_tokens"], prompt)
        self.assertEqual(resp["usage"]["prompt_tokens_details"]["cached_tokens"], 0)
        # the v1 path names the deployment in "model": the same cache entry
        status, resp, _ = self.azure("/openai/v1/chat/completions",
                                     {"model": "prod-4o", "messages": messages, "max_tokens": 1})
        self.assertEqual(resp["usage"]["prompt_tokens_details"]["cached_tokens"], top_step(prompt))
        # a new question after the same prefix reads the prefix's steps
        other = messages[:1] + [{"role": "user", "content": "another question"}]
        status, resp, _ = self.azure(dep, {"messages": other, "max_tokens": 1})
        text = lambda msgs: "[" + ",".join(canonical(m) for m in msgs) + "]"
        want = shared_step(text(messages), text(other))
        self.assertGreaterEqual(want, 1024)
        self.assertEqual(resp["usage"]["prompt_tokens_details"]["cached_tokens"], want)
        status, resp, _ = self.azure("/openai/v1/responses",
                                     {"model": "prod-4o", "input": messages,
                                      "max_output_tokens": 16})
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["model"], "gpt-4o")
        status, resp, _ = self.azure("/openai/v1/chat/completions",
                                     {"model": "unknown", "messages": messages})
        self.assertEqual((status, resp["error"]["code"]), (404, "DeploymentNotFound"))
        self.assertEqual([e["api"] for e in self.client.state()["entries"]], ["openai"])

    def test_faults_answer_as_azure_and_google(self):
        chat = {"model": "prod-4o", "messages": [{"role": "user", "content": "hi"}]}
        ask = {"contents": [g_user("hi")]}
        generate = f"/models/{GEMINI}:generateContent"
        self.client.call("POST", "/_fake/faults", {"p_500": 1})
        try:
            status, resp, _ = self.azure("/openai/v1/chat/completions", chat)
            self.assertEqual((status, resp["error"]["code"]), (500, "InternalServerError"))
            status, resp, _ = self.gemini("POST", generate, ask)
            self.assertEqual((status, resp["error"]["code"], resp["error"]["status"]),
                             (500, 500, "INTERNAL"))
            self.client.call("POST", "/_fake/faults", {"p_500": 0, "reject_keys": True})
            status, resp, _ = self.gemini("POST", generate, ask)
            self.assertEqual((status, resp["error"]["status"]), (400, "INVALID_ARGUMENT"))
            self.assertEqual(resp["error"]["details"][0]["reason"], "API_KEY_INVALID")
            self.client.call("POST", "/_fake/faults", {"reject_keys": False, "echo_key": "json"})
            for call, key in ((lambda: self.azure("/openai/v1/chat/completions", chat), Z_KEY),
                              (lambda: self.gemini("POST", generate, ask), G_KEY)):
                status, resp, headers = call()
                self.assertEqual((status, headers["x-fake-echo"]), (401, "presented " + key))
                self.assertIn(key, resp["error"]["message"])
        finally:
            self.client.call("POST", "/_fake/faults", {"reset": True})
        state = self.client.state()
        self.assertEqual({k: state["requests"][k] for k in ("azure", "gemini", "rejected")},
                         {"azure": 2, "gemini": 3, "rejected": 5})
        self.assertEqual((state["faults"]["500"], state["faults"]["rejected_key"],
                          state["faults"]["echo_key"]), (2, 1, 2))
        self.assertEqual(state["doors"]["gemini"]["requests"], 3)

    # -------------------------------------------------------------- Gemini

    def test_gemini_checks_the_key_like_google(self):
        body = {"contents": [g_user("hi")]}
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent", body, key=None)
        self.assertEqual((status, resp["error"]["code"], resp["error"]["status"]),
                         (403, 403, "PERMISSION_DENIED"))
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent", body,
                                      key="wrong")
        self.assertEqual((status, resp["error"]["status"]), (400, "INVALID_ARGUMENT"))
        self.assertEqual(resp["error"]["details"][0]["reason"], "API_KEY_INVALID")
        status, resp, _ = self.gemini("POST", "/models/gpt-4o:generateContent", body)
        self.assertEqual((status, resp["error"]["status"]), (404, "NOT_FOUND"))
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent",
                                      {"contents": []})
        self.assertEqual((status, resp["error"]["status"]), (400, "INVALID_ARGUMENT"))
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent",
                                      {**body, "generationConfig": {"maxOutputTokens": 0}})
        self.assertEqual(status, 400)

    def test_gemini_implicit_cache(self):
        system = g_text(1500)
        body = {"systemInstruction": system, "contents": [g_user("question one")],
                "generationConfig": {"temperature": 0.5, "maxOutputTokens": 1}}
        header = g_tokens({"systemInstruction": system})
        self.assertEqual(header, 1500)
        prompt = header + g_tokens(g_user("question one"))
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent", body)
        self.assertEqual(status, 200, resp)
        usage = resp["usageMetadata"]
        self.assertEqual(usage["promptTokenCount"], prompt)
        self.assertNotIn("cachedContentTokenCount", usage)          # Google leaves out a 0
        self.assertEqual(usage["candidatesTokenCount"], 1)
        # the next request: the same prefix (everything before the last turn), a new question
        body["contents"] = [g_user("question two, longer")]
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent", body)
        self.assertEqual(resp["usageMetadata"]["cachedContentTokenCount"], 1500)
        # a longer conversation reads its deepest boundary, and writes the new ones
        turns = [g_user("a" * 4000), {"role": "model", "parts": [{"text": "ok"}]}, g_user("q")]
        body["contents"] = turns
        self.gemini("POST", f"/models/{GEMINI}:generateContent", body)
        body["contents"] = turns[:2] + [g_user("q2")]
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent", body)
        want = 1500 + g_tokens(turns[0]) + g_tokens(turns[1])
        self.assertEqual(resp["usageMetadata"]["cachedContentTokenCount"], want)
        # a prefix below the minimum is not cached; an entry expires after --gemini-ttl
        small = {"systemInstruction": g_text(200), "contents": [g_user("x")]}
        self.gemini("POST", f"/models/{GEMINI}:generateContent", small)
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent", small)
        self.assertNotIn("cachedContentTokenCount", resp["usageMetadata"])
        time.sleep(G_TTL + 0.2)
        body["contents"] = [g_user("question three")]
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent", body)
        self.assertNotIn("cachedContentTokenCount", resp["usageMetadata"])
        self.assertTrue(all(e["api"] == "gemini" for e in self.client.state()["entries"]))

    def test_gemini_cached_contents_store(self):
        system = g_text(1200)
        create = {"model": f"models/{GEMINI}", "systemInstruction": system,
                  "contents": [g_user("the manual")], "ttl": "2s", "displayName": "warmd"}
        tokens = g_tokens({"systemInstruction": system, "contents": [g_user("the manual")]})
        status, cache, _ = self.gemini("POST", "/cachedContents", create)
        self.assertEqual(status, 200, cache)
        self.assertRegex(cache["name"], r"^cachedContents/[A-Za-z0-9_-]+$")
        self.assertEqual(cache["usageMetadata"], {"totalTokenCount": tokens})
        self.assertEqual((cache["model"], cache["displayName"]), (f"models/{GEMINI}", "warmd"))
        made = datetime.datetime.fromisoformat(cache["createTime"].replace("Z", "+00:00"))
        ends = datetime.datetime.fromisoformat(cache["expireTime"].replace("Z", "+00:00"))
        self.assertAlmostEqual((ends - made).total_seconds(), 2, places=3)
        path = "/" + cache["name"]
        # generateContent reads it
        ask = {"cachedContent": cache["name"], "contents": [g_user("q?")]}
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent", ask)
        self.assertEqual(resp["usageMetadata"]["cachedContentTokenCount"], tokens)
        self.assertEqual(resp["usageMetadata"]["promptTokenCount"],
                         tokens + g_tokens([g_user("q?")]))
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent",
                                      {**ask, "systemInstruction": system})
        self.assertEqual(status, 400)
        status, resp, _ = self.gemini("POST", "/models/gemini-2.5-pro:generateContent", ask)
        self.assertEqual(status, 400)
        # the ttl is renewed by PATCH, only with updateMask=ttl
        self.assertEqual(self.gemini("PATCH", path, {"ttl": "3s"})[0], 400)
        self.assertEqual(self.gemini("PATCH", path + "?updateMask=ttl", {"ttl": "3"})[0], 400)
        time.sleep(1.0)
        status, patched, _ = self.gemini("PATCH", path + "?updateMask=ttl", {"ttl": "3s"})
        self.assertEqual(status, 200, patched)
        self.assertEqual(patched["createTime"], cache["createTime"])
        self.assertGreater(patched["expireTime"], cache["expireTime"])
        self.assertEqual(self.gemini("GET", path)[1]["expireTime"], patched["expireTime"])
        time.sleep(1.5)                                   # past the first expiry, not the second
        self.assertEqual(self.gemini("GET", path)[0], 200)
        status, resp, _ = self.gemini("PUT", path, {"ttl": "3s"})
        self.assertEqual((status, resp["error"]["status"]), (404, "NOT_FOUND"))
        state = self.client.state()["doors"]["gemini"]
        self.assertEqual((state["creates"], state["patches"], state["gets"]), (1, 1, 2))
        self.assertEqual([c["name"] for c in state["caches"]], [cache["name"]])
        # delete; then it is gone for every method
        self.assertEqual(self.gemini("DELETE", path)[:2], (200, {}))
        for method, suffix, body in (("GET", "", None), ("DELETE", "", None),
                                     ("PATCH", "?updateMask=ttl", {"ttl": "3s"})):
            status, resp, _ = self.gemini(method, path + suffix, body)
            self.assertEqual((status, resp["error"]["status"]), (404, "NOT_FOUND"), method)
        status, resp, _ = self.gemini("POST", f"/models/{GEMINI}:generateContent", ask)
        self.assertEqual(status, 404)
        self.assertEqual(self.client.state()["doors"]["gemini"]["deletes"], 1)

    def test_gemini_cache_expires_and_refuses_small_or_bad(self):
        status, cache, _ = self.gemini("POST", "/cachedContents",
                                       {"model": f"models/{GEMINI}", "systemInstruction": g_text(1100),
                                        "ttl": "0.5s"})
        self.assertEqual(status, 200, cache)
        time.sleep(0.7)
        status, resp, _ = self.gemini("PATCH", "/" + cache["name"] + "?updateMask=ttl",
                                      {"ttl": "60s"})
        self.assertEqual(status, 404)
        self.assertEqual(self.client.state()["doors"]["gemini"]["caches"], [])
        for body, fragment in (
                ({"model": f"models/{GEMINI}", "systemInstruction": g_text(100)}, "too small"),
                ({"model": "models/gemini-2.5-pro", "systemInstruction": g_text(2000)},
                 "min_total_token_count=4096"),
                ({"model": GEMINI, "systemInstruction": g_text(1100)}, "model"),
                ({"model": f"models/{GEMINI}", "systemInstruction": g_text(1100), "ttl": 60},
                 "ttl")):
            status, resp, _ = self.gemini("POST", "/cachedContents", body)
            self.assertEqual(status, 400, body)
            self.assertIn(fragment, resp["error"]["message"])
        self.assertEqual(self.client.state()["doors"]["gemini"]["creates"], 1)


if __name__ == "__main__":
    unittest.main()
