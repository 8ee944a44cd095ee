#!/usr/bin/env python3
"""fakeprov: a fake LLM provider for warmd's tests.

Single job: answer Anthropic Messages (POST /v1/messages) and OpenAI Chat
Completions (POST /v1/chat/completions) requests on a local port with a
deterministic prompt-cache model -- prefix caches whose TTL refreshes on read,
a minimum cacheable length, the real usage field names, auth checks -- and
show the cache state at GET /_fake/state, so tests can see what a cache
warmer really did.

Python 3.11 stdlib only. It listens where told (127.0.0.1 by default) and
never opens a connection of its own.

Token model: tokens(x) = ceil(len(utf8(canonical(x))) / 4), where canonical()
is sorted-key compact JSON with every "cache_control" key removed.

Fault injection (provider routes only, never /_fake/*), set by CLI flags or at
runtime with POST /_fake/faults (a JSON object; omitted fields keep their
value, {"reset": true} first restores the built-in defaults; GET shows them):

  seed               random.Random(seed) makes every draw (default 0)
  rpm, rpm_window    sliding-window limiter: at most rpm admitted requests in
                     any rpm_window (default 60) seconds; 0 = unlimited
  ratelimit_headers  send the provider's request rate limit headers
  p_429              429 with retry-after = retry_after (or an HTTP date when
                     retry_after_date, then without retry-after-ms) and
                     x-should-retry when should_retry is not null
  p_spend_limit      429 saying a spend limit / quota was reached
  p_500, p_529       500; 529 overloaded (503 on OpenAI routes)
  p_garbage          200 whose body is not JSON
  p_huge             200 with Content-Length huge_bytes, streamed
  p_endless          200 chunked, filler forever
  p_hang             no answer for hang_seconds, then close
  p_reset            close with RST, no answer
  p_trickle          the normal answer, body sent at trickle_bps
  reject_keys        401 for every key

Every provider request takes exactly ten draws rng.random(), one per p_* in
the order above, whether or not anything fires. Then: reject_keys -> 401;
else a full rpm window -> 429 (not counted in the window); else the request
enters the window and the first p_* whose draw is < p fires. A fired fault
leaves the prefix cache untouched, except p_trickle, which serves normally.
POST /_fake/reset also clears the window and fault counters and re-seeds.
GET /_fake/state counts fired faults under "faults" and names each log
entry's "fault"; requests.rejected counts every answer that is not a 200
(hang and reset, which send none, included).
"""

import argparse
import collections
import hashlib
import http.server
import itertools
import json
import math
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from email.utils import formatdate

ANTHROPIC_LOOKBACK = 20          # blocks searched before each breakpoint
ANTHROPIC_MAX_BREAKPOINTS = 4
OPENAI_MIN_TOKENS = 1024         # OpenAI caches from 1024 tokens ...
OPENAI_STEP = 128                # ... in steps of 128 tokens
OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool")
API_ROUTES = {
    "/v1/messages": "anthropic",
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
}
FAKE_ROUTES = {"/_fake/state": ("GET",), "/_fake/reset": ("POST",),
               "/_fake/faults": ("GET", "POST")}

# Fault settings: name -> (default, kind). The p_* order is the draw order.
FAULT_FIELDS = {
    "seed": (0, "int"),
    "rpm": (0, "count"),
    "rpm_window": (60, "positive"),
    "ratelimit_headers": (False, "bool"),
    "p_429": (0.0, "prob"),
    "retry_after": (1, "seconds"),
    "retry_after_date": (False, "bool"),
    "should_retry": (None, "tristate"),
    "p_spend_limit": (0.0, "prob"),
    "p_500": (0.0, "prob"),
    "p_529": (0.0, "prob"),
    "p_garbage": (0.0, "prob"),
    "p_huge": (0.0, "prob"),
    "huge_bytes": (64 * 1024 * 1024, "count"),
    "p_endless": (0.0, "prob"),
    "p_hang": (0.0, "prob"),
    "hang_seconds": (300, "seconds"),
    "p_reset": (0.0, "prob"),
    "p_trickle": (0.0, "prob"),
    "trickle_bps": (5, "positive"),
    "reject_keys": (False, "bool"),
}
FAULT_DEFAULTS = {name: default for name, (default, _) in FAULT_FIELDS.items()}
FAULT_KINDS = {
    "int": "an integer", "count": "an integer >= 0", "positive": "a number > 0",
    "seconds": "a number >= 0", "prob": "a number in [0, 1]", "bool": "true or false",
    "tristate": "null, true or false",
}
FAULT_DRAWS = [name for name in FAULT_FIELDS if name.startswith("p_")]
FAULT_COUNTERS = ("429", "spend_limit", "500", "529", "garbage", "huge", "endless",
                  "hang", "reset", "trickle", "rate_limited", "rejected_key")
UNLIMITED_RPM = 1000000          # the limit rate limit headers report when rpm is 0

# Cache timing uses time.monotonic(); this offset turns it into wall time.
MONO_TO_WALL = time.time() - time.monotonic()


def wall(mono):
    return mono + MONO_TO_WALL


# ---------------------------------------------------------------- tokens

def strip_cache_control(x):
    if isinstance(x, dict):
        return {k: strip_cache_control(v) for k, v in x.items() if k != "cache_control"}
    if isinstance(x, list):
        return [strip_cache_control(v) for v in x]
    return x


def canonical(x):
    return json.dumps(strip_cache_control(x), sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)


def utf8(text):
    return text.encode("utf-8", "surrogatepass")


def byte_tokens(n_bytes):
    return math.ceil(n_bytes / 4)


def tokens(x):
    return byte_tokens(len(utf8(canonical(x))))


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def is_list_of_objects(x):
    return isinstance(x, list) and all(isinstance(item, dict) for item in x)


# ---------------------------------------------------------------- errors

class ApiError(Exception):
    """A refused request, rendered in the calling API's error format."""

    def __init__(self, status, message, kind="invalid_request_error", param=None, code=None):
        super().__init__(message)
        self.status, self.message = status, message
        self.kind, self.param, self.code = kind, param, code


def invalid(message, param=None):
    return ApiError(400, message, param=param)


def error_body(api, err):
    if api == "openai":
        return {"error": {"message": err.message, "type": err.kind,
                          "param": err.param, "code": err.code}}
    return {"type": "error", "error": {"type": err.kind, "message": err.message}}


def fault_name(draw):
    return draw[2:]                # p_spend_limit -> spend_limit


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def fault_field_ok(kind, value):
    if kind == "int":
        return is_int(value)
    if kind == "count":
        return is_int(value) and value >= 0
    if kind == "positive":
        return is_number(value) and value > 0
    if kind == "seconds":
        return is_number(value) and value >= 0
    if kind == "prob":
        return is_number(value) and 0 <= value <= 1
    if kind == "bool":
        return isinstance(value, bool)
    return value is None or isinstance(value, bool)          # tristate


def check_fault_fields(update):
    """The settings in update (without "reset"), or ApiError 400 naming the first bad field."""
    fields = {}
    for name, value in update.items():
        if name == "reset":
            if not isinstance(value, bool):
                raise invalid("reset: must be true or false")
            continue
        if name not in FAULT_FIELDS:
            raise invalid(f"unknown fault field: {name}")
        kind = FAULT_FIELDS[name][1]
        if not fault_field_ok(kind, value):
            raise invalid(f"{name}: must be {FAULT_KINDS[kind]}")
        fields[name] = value
    return fields


RATE_LIMIT_ERRORS = {
    "anthropic": ApiError(429, "Number of request tokens has exceeded your per-minute rate limit",
                          kind="rate_limit_error"),
    "openai": ApiError(429, "Rate limit reached for requests", kind="requests",
                       code="rate_limit_exceeded"),
}
FAULT_ERRORS = {
    ("anthropic", "spend_limit"): ApiError(
        429, "You have reached your specified API usage limits. "
             "You will regain access on 2026-12-01 at 00:00 UTC.", kind="rate_limit_error"),
    ("openai", "spend_limit"): ApiError(
        429, "You exceeded your current quota, please check your plan and billing details.",
        kind="insufficient_quota", code="insufficient_quota"),
    ("anthropic", "500"): ApiError(500, "Internal server error", kind="api_error"),
    ("openai", "500"): ApiError(
        500, "The server had an error while processing your request. Sorry about that!",
        kind="server_error"),
    ("anthropic", "529"): ApiError(529, "Overloaded", kind="overloaded_error"),
    ("openai", "529"): ApiError(
        503, "The engine is currently overloaded, please try again later", kind="server_error"),
    ("anthropic", "rejected_key"): ApiError(401, "invalid x-api-key", kind="authentication_error"),
    ("openai", "rejected_key"): ApiError(401, "Incorrect API key provided", code="invalid_api_key"),
}
FAULT_ERRORS.update({(api, "429"): err for api, err in RATE_LIMIT_ERRORS.items()})
FAULT_ERRORS.update({(api, "rate_limited"): err for api, err in RATE_LIMIT_ERRORS.items()})


def garbage_body(api):
    """A 200 body that is no JSON: a truncated start, then bytes that are not even UTF-8."""
    start = b'{"id": "chatcmpl-' if api == "openai" else b'{"id": "msg_'
    return start + bytes(range(0x80, 0xa0)) + b"\x00\xff\xfe garbage"


def go_duration(seconds):
    """A duration as Go prints it, to the millisecond (rounded up): 250ms, 1s, 1.5s, 6m0s, 1h0m0s."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    hours, rest = divmod(ms, 3600000)
    minutes, rest = divmod(rest, 60000)
    secs, frac = divmod(rest, 1000)
    text = str(secs) + (f".{frac:03d}".rstrip("0") if frac else "") + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    return f"{hours}h" + text if hours else text


def rfc3339(wall_time):
    """RFC 3339 UTC, rounded up to the whole second: 2026-11-30T10:00:01Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(wall_time - 1e-6)))


class Reply:
    """A provider answer: status (None when none is sent), JSON payload or raw body, headers,
    the fault that fired (None or a FAULT_COUNTERS name) and the fault settings it used."""

    def __init__(self, status, payload, headers, fault=None, settings=None, body=None):
        self.status, self.payload, self.headers = status, payload, headers
        self.fault, self.settings, self.body = fault, settings, body


def parse_json_object(raw):
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise invalid("request body is not valid UTF-8") from None
    except ValueError as exc:
        raise invalid(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    return body


def requested_max_tokens(raw):
    """max_tokens (or max_completion_tokens) of a raw body, for the request log."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    value = body.get("max_tokens")
    return value if value is not None else body.get("max_completion_tokens")


# ---------------------------------------------------------------- cache entries

class Entry:
    """One cached prefix. key = (api, model, [prompt_cache_key,] sha256 hex)."""

    def __init__(self, key, n_tokens, now):
        self.key, self.tokens = key, n_tokens
        self.created = self.expires = now
        self.ttl = 0.0
        self.writes = self.reads = 0
        self.dead_s = 0.0
        self.shown = key[0] == "anthropic"   # OpenAI: only the top step of a prompt

    def alive(self, now):
        return now < self.expires

    def write(self, now, ttl):
        if self.writes and not self.alive(now):
            self.dead_s += now - self.expires
        self.ttl, self.expires = ttl, now + ttl
        self.writes += 1

    def refresh(self, now):
        self.expires = now + self.ttl

    def describe(self, now):
        alive = self.alive(now)
        out = {"api": self.key[0], "model": self.key[1], "key": self.key[-1][:12],
               "tokens": self.tokens, "ttl": self.ttl,
               "created": wall(self.created), "expires": wall(self.expires),
               "alive": alive, "writes": self.writes, "reads": self.reads,
               "dead_s": self.dead_s + (0.0 if alive else now - self.expires)}
        if self.key[0] == "openai":
            out["prompt_cache_key"] = self.key[2]
        return out


# ---------------------------------------------------------------- Anthropic

def check_anthropic_headers(headers, key):
    if headers.get("x-api-key") != key:
        raise ApiError(401, "invalid x-api-key", kind="authentication_error")
    if not headers.get("anthropic-version"):
        raise invalid("anthropic-version: header is required")


def zero_max_tokens_conflict(body, thinking_on):
    """Why max_tokens: 0 is not allowed for this request, or None."""
    tool_choice = body.get("tool_choice")
    output_config = body.get("output_config")
    if body.get("stream") is True:
        return "when streaming"
    if thinking_on:
        return "with extended thinking enabled"
    if isinstance(tool_choice, dict) and tool_choice.get("type") in ("tool", "any"):
        return f"with tool_choice type '{tool_choice['type']}'"
    if body.get("output_format") is not None or (
            isinstance(output_config, dict) and output_config.get("format") is not None):
        return "with structured output"
    return None


def validate_anthropic(body):
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model: field required (a non-empty string)")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: field required (a non-empty list)")
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{n}.role: must be 'user' or 'assistant'")
        content = message.get("content")
        if not isinstance(content, str) and not is_list_of_objects(content):
            raise invalid(f"messages.{n}.content: must be a string or a list of content blocks")
    system = body.get("system")
    if system is not None and not isinstance(system, str) and not is_list_of_objects(system):
        raise invalid("system: must be a string or a list of content blocks")
    if body.get("tools") is not None and not is_list_of_objects(body["tools"]):
        raise invalid("tools: must be a list of tool objects")
    max_tokens = body.get("max_tokens")
    if not is_int(max_tokens) or max_tokens < 0:
        raise invalid("max_tokens: field required (an integer >= 0)")
    thinking = body.get("thinking")
    thinking_on = isinstance(thinking, dict) and thinking.get("type") == "enabled"
    if thinking_on and not is_int(thinking.get("budget_tokens")):
        raise invalid("thinking.budget_tokens: field required (an integer) when thinking is enabled")
    if max_tokens == 0:
        conflict = zero_max_tokens_conflict(body, thinking_on)
        if conflict:
            raise invalid(f"max_tokens: 0 is not allowed {conflict}")
    if thinking_on and max_tokens <= thinking["budget_tokens"]:
        raise invalid("max_tokens must be greater than thinking.budget_tokens")
    if body.get("stream") is True:
        raise invalid("streaming not supported by fakeprov")


def anthropic_blocks(body):
    """The request flattened in cache order: (path, section, block) for tools, system, messages."""
    blocks = [(f"tools.{n}", "tools", tool) for n, tool in enumerate(body.get("tools") or [])]
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(("system", "system", system))
    elif system:
        blocks += [(f"system.{n}", "system", block) for n, block in enumerate(system)]
    for m, message in enumerate(body["messages"]):
        content = message["content"]
        if isinstance(content, str):
            blocks.append((f"messages.{m}.content", message["role"], content))
        else:
            blocks += [(f"messages.{m}.content.{n}", message["role"], block)
                       for n, block in enumerate(content)]
    return blocks


def cache_control_ttl(cache_control, where, cfg):
    if not isinstance(cache_control, dict) or cache_control.get("type") != "ephemeral":
        raise invalid(f"{where}.cache_control.type: must be 'ephemeral'")
    ttl = {"5m": cfg.ttl_5m, "1h": cfg.ttl_1h}.get(cache_control.get("ttl") or "5m")
    if ttl is None:
        raise invalid(f"{where}.cache_control.ttl: must be '5m' or '1h'")
    return ttl


def anthropic_breakpoints(body, blocks, cfg):
    """{block index: ttl seconds} for explicit breakpoints plus the automatic one."""
    breakpoints = {}
    for i, (path, _, block) in enumerate(blocks):
        if isinstance(block, dict) and block.get("cache_control") is not None:
            breakpoints[i] = cache_control_ttl(block["cache_control"], path, cfg)
    count = len(breakpoints)
    if body.get("cache_control") is not None:
        count += 1
        ttl = cache_control_ttl(body["cache_control"], "request", cfg)
        if blocks:
            breakpoints.setdefault(len(blocks) - 1, ttl)   # an explicit marker there wins
    if count > ANTHROPIC_MAX_BREAKPOINTS:
        raise invalid(f"A maximum of {ANTHROPIC_MAX_BREAKPOINTS} blocks with "
                      f"cache_control may be provided. Found {count}.")
    return breakpoints


def prefix_digests(identities):
    """sha256 hex of canonical(identities[:i + 1]) for every i, built incrementally."""
    running = hashlib.sha256(b"[")
    digests = []
    for i, identity in enumerate(identities):
        if i:
            running.update(b",")
        running.update(utf8(canonical(identity)))
        closed = running.copy()
        closed.update(b"]")
        digests.append(closed.hexdigest())
    return digests


def anthropic_message(n, model, max_tokens, usage):
    return {"id": f"msg_fake_{n}", "type": "message", "role": "assistant", "model": model,
            "content": [] if max_tokens == 0 else [{"type": "text", "text": "o"}],
            "stop_reason": "max_tokens", "stop_sequence": None, "usage": usage}


# ---------------------------------------------------------------- OpenAI

def check_openai_auth(headers, key):
    if headers.get("Authorization") != f"Bearer {key}":
        raise ApiError(401, "Incorrect API key provided", code="invalid_api_key")


def validate_openai(body):
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("you must provide a model parameter (a non-empty string)", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("'messages' must be a non-empty array", "messages")
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in OPENAI_ROLES:
            raise invalid(f"messages[{n}].role must be one of {', '.join(OPENAI_ROLES)}",
                          f"messages[{n}].role")
    limits = [f for f in ("max_tokens", "max_completion_tokens") if body.get(f) is not None]
    if len(limits) == 2:
        raise invalid("max_tokens and max_completion_tokens cannot both be set", "max_tokens")
    for field in limits:
        if not is_int(body[field]) or body[field] < 1:
            raise invalid(f"{field} must be an integer >= 1", field)
    streaming = body.get("stream") is True
    if body.get("stream_options") is not None and not streaming:
        raise invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                      "stream_options")
    if streaming:
        raise invalid("streaming not supported by fakeprov", "stream")
    if body.get("prompt_cache_key") is not None and not isinstance(body["prompt_cache_key"], str):
        raise invalid("prompt_cache_key must be a string", "prompt_cache_key")
    if body.get("tools") is not None and not isinstance(body["tools"], list):
        raise invalid("tools must be an array", "tools")


def openai_prompt(body):
    """The prompt bytes: [tools|]["msg","msg",...] so a longer conversation shares a prefix."""
    text = "[" + ",".join(canonical(m) for m in body["messages"]) + "]"
    if body.get("tools") is not None:
        text = canonical(body["tools"]) + "|" + text
    return utf8(text)


def openai_steps(prompt):
    """[(k, sha256 hex of the first 4k prompt bytes)] for each cacheable step k."""
    running = hashlib.sha256()
    hashed = 0
    steps = []
    for k in range(OPENAI_MIN_TOKENS, byte_tokens(len(prompt)) + 1, OPENAI_STEP):
        running.update(prompt[hashed:4 * k])
        hashed = 4 * k
        steps.append((k, running.hexdigest()))
    return steps


def openai_completion(n, model, prompt_tokens, cached, created):
    return {"id": f"chatcmpl-fake{n}", "object": "chat.completion", "created": created,
            "model": model,
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "content": "o", "refusal": None},
                         "logprobs": None, "finish_reason": "length"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1,
                      "total_tokens": prompt_tokens + 1,
                      "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                    "accepted_prediction_tokens": 0,
                                                    "rejected_prediction_tokens": 0}}}


# ---------------------------------------------------------------- provider state

class Provider:
    """All shared state (cache entries, counters, request log, faults) behind one lock."""

    def __init__(self, cfg, faults=None):
        self.cfg = cfg
        self.lock = threading.Lock()
        self.seq = 0                     # response ids; not reset, so ids stay unique
        self.entries = {}
        self.counts = {}
        self.fault_counts = {}
        self.log = collections.deque(maxlen=cfg.log_requests)
        self.faults = {**FAULT_DEFAULTS, **(faults or {})}
        self.rng = random.Random(self.faults["seed"])
        self.window = collections.deque()   # monotonic times of requests the limiter admitted
        self.reset()

    def reset(self):
        with self.lock:
            self.entries.clear()
            self.counts = {"anthropic": 0, "openai": 0, "rejected": 0, "total": 0}
            self.fault_counts = dict.fromkeys(FAULT_COUNTERS, 0)
            self.log.clear()
            self.window.clear()
            self.rng = random.Random(self.faults["seed"])
        return {"ok": True}

    def state(self):
        now = time.monotonic()
        with self.lock:
            return {"now": wall(now), "requests": dict(self.counts),
                    "faults": dict(self.fault_counts),
                    "entries": [e.describe(now) for e in self.entries.values() if e.shown],
                    "log": list(self.log)}

    def get_faults(self):
        with self.lock:
            return dict(self.faults)

    def set_faults(self, update):
        """Apply a POST /_fake/faults object (all or nothing): the new settings."""
        fields = check_fault_fields(update)
        with self.lock:
            if update.get("reset"):
                self.faults = dict(FAULT_DEFAULTS)
            self.faults.update(fields)
            if update.get("reset") or "seed" in fields:
                self.rng = random.Random(self.faults["seed"])
            return dict(self.faults)

    def api_request(self, api, method, path, headers, raw):
        """Answer a request to an API route (api is anthropic, openai or unknown): a Reply."""
        if self.cfg.latency_ms:
            time.sleep(self.cfg.latency_ms / 1000)
        now = time.monotonic()
        fault, settings, extra = None, None, []
        with self.lock:
            self.seq += 1
            n = self.seq
            if api != "unknown":
                settings = dict(self.faults)
                fault, extra = self._draw_fault(api, settings, now)
        id_header = ("x-request-id" if api == "openai" else "request-id", f"req_fake_{n}")
        summary, body = {}, None
        if fault in ("hang", "reset"):
            status, payload, extra = None, None, []
        elif fault in ("garbage", "huge", "endless"):
            status, payload = 200, None
            body = garbage_body(api) if fault == "garbage" else None
        elif fault not in (None, "trickle"):
            err = FAULT_ERRORS[(api, fault)]
            status, payload = err.status, error_body(api, err)
            extra = extra + self._retry_headers(fault, settings, now)
        else:
            try:
                if api == "unknown":
                    raise ApiError(404, f"no such endpoint: {path}", kind="not_found_error")
                if method != "POST":
                    raise ApiError(405, f"{method} is not allowed on {path}; use POST")
                answer = self._anthropic if api == "anthropic" else self._openai
                payload, summary = answer(n, headers, raw, now)
                status = 200
            except ApiError as err:
                status, payload, summary = err.status, error_body(api, err), {}
        self._record(api, status, raw, now, summary, fault)
        return Reply(status, payload, [id_header] + extra, fault, settings, body)

    def _draw_fault(self, api, settings, now):
        """Decide a provider request's fault: (None or name, rate limit headers). Caller holds the lock."""
        fired = [draw for draw in FAULT_DRAWS if self.rng.random() < settings[draw]]
        headers = []
        window, span, rpm = self.window, settings["rpm_window"], settings["rpm"]
        while window and window[0] <= now - span:
            window.popleft()
        if settings["reject_keys"]:
            fault = "rejected_key"
        elif rpm and len(window) >= rpm:
            fault = "rate_limited"
            wait = window[len(window) - rpm] + span - now     # until a slot frees
            headers = [("retry-after", str(max(1, math.ceil(wait - 1e-6)))),
                       ("retry-after-ms", str(max(1, math.ceil(wait * 1000 - 1e-6))))]
        else:
            window.append(now)
            fault = fault_name(fired[0]) if fired else None
        if settings["ratelimit_headers"]:
            headers += self._ratelimit_headers(api, settings, now)
        return fault, headers

    def _ratelimit_headers(self, api, settings, now):
        """The provider's request rate limit headers from the window. Caller holds the lock."""
        window, span, rpm = self.window, settings["rpm_window"], settings["rpm"]
        limit = rpm or UNLIMITED_RPM
        remaining = max(0, limit - len(window))
        if rpm and len(window) >= rpm:                # full: when the next slot frees
            reset = window[len(window) - rpm] + span
        else:                                         # when the oldest request leaves the window
            reset = window[0] + span if window else now
        if api == "openai":
            return [("x-ratelimit-limit-requests", str(limit)),
                    ("x-ratelimit-remaining-requests", str(remaining)),
                    ("x-ratelimit-reset-requests", go_duration(reset - now))]
        return [("anthropic-ratelimit-requests-limit", str(limit)),
                ("anthropic-ratelimit-requests-remaining", str(remaining)),
                ("anthropic-ratelimit-requests-reset", rfc3339(wall(reset)))]

    @staticmethod
    def _retry_headers(fault, settings, now):
        """p_429's retry headers."""
        if fault != "429":
            return []
        after = settings["retry_after"]
        if settings["retry_after_date"]:
            headers = [("retry-after", formatdate(math.ceil(wall(now) + after), usegmt=True))]
        else:
            headers = [("retry-after", str(math.ceil(after))),
                       ("retry-after-ms", str(round(after * 1000)))]
        if settings["should_retry"] is not None:
            headers.append(("x-should-retry", "true" if settings["should_retry"] else "false"))
        return headers

    def _record(self, api, status, raw, now, summary, fault=None):
        with self.lock:
            if api in ("anthropic", "openai"):
                self.counts[api] += 1
            self.counts["total"] += 1
            if status != 200:
                self.counts["rejected"] += 1
            if fault:
                self.fault_counts[fault] += 1
            self.log.append({"t": wall(now), "api": api, "status": status, "fault": fault,
                             "max_tokens": requested_max_tokens(raw),
                             "read": summary.get("read"), "write": summary.get("write"),
                             "input": summary.get("input"),
                             "body": raw.decode("utf-8", "replace")})

    def _entry(self, key, n_tokens, now):
        """The entry at key, created (never written yet) if absent. Caller holds the lock."""
        if key not in self.entries:
            self.entries[key] = Entry(key, n_tokens, now)
        return self.entries[key]

    def _anthropic(self, n, headers, raw, now):
        check_anthropic_headers(headers, self.cfg.anthropic_key)
        body = parse_json_object(raw)
        validate_anthropic(body)
        blocks = anthropic_blocks(body)
        breakpoints = anthropic_breakpoints(body, blocks, self.cfg)
        digests = prefix_digests([{"role": section, "block": block} for _, section, block in blocks])
        cumulative = list(itertools.accumulate(tokens(block) for _, _, block in blocks))
        with self.lock:
            read, creation = self._anthropic_cache(body["model"], digests, cumulative,
                                                   breakpoints, now)
        total = cumulative[-1] if cumulative else 0
        usage = {"input_tokens": max(0, total - read - creation),
                 "cache_creation_input_tokens": creation,
                 "cache_read_input_tokens": read,
                 "output_tokens": 0 if body["max_tokens"] == 0 else 1}
        summary = {"read": read, "write": creation, "input": usage["input_tokens"]}
        return anthropic_message(n, body["model"], body["max_tokens"], usage), summary

    def _anthropic_cache(self, model, digests, cumulative, breakpoints, now):
        """Read the deepest live prefix, then write the breakpoints past it: (read, creation)."""
        hit_at, hit = -1, None
        for b in breakpoints:
            for i in range(b, max(0, b - ANTHROPIC_LOOKBACK) - 1, -1):
                entry = self.entries.get(("anthropic", model, digests[i]))
                if entry and entry.alive(now):
                    if i > hit_at:
                        hit_at, hit = i, entry
                    break
        read = 0
        if hit:
            hit.refresh(now)
            hit.reads += 1
            read = hit.tokens
        written = [b for b in sorted(breakpoints)
                   if b > hit_at and cumulative[b] >= self.cfg.min_tokens]
        for b in written:
            self._entry(("anthropic", model, digests[b]), cumulative[b], now).write(now, breakpoints[b])
        return read, (cumulative[written[-1]] - read if written else 0)

    def _openai(self, n, headers, raw, now):
        check_openai_auth(headers, self.cfg.openai_key)
        body = parse_json_object(raw)
        validate_openai(body)
        prompt = openai_prompt(body)
        prompt_tokens = byte_tokens(len(prompt))
        steps = openai_steps(prompt)
        with self.lock:
            cached = self._openai_cache(body["model"], body.get("prompt_cache_key") or "",
                                        steps, now)
        summary = {"read": cached, "write": steps[-1][0] - cached if steps else 0,
                   "input": prompt_tokens - cached}
        completion = openai_completion(n, body["model"], prompt_tokens, cached, int(wall(now)))
        return completion, summary

    def _openai_cache(self, model, cache_key, steps, now):
        """Read the largest live step, then refresh or write every step: cached tokens."""
        keyed = [(k, ("openai", model, cache_key, digest)) for k, digest in steps]
        cached = 0
        for k, key in reversed(keyed):
            entry = self.entries.get(key)
            if entry and entry.alive(now):
                entry.reads += 1
                cached = k
                break
        for k, key in keyed:
            entry = self._entry(key, k, now)
            if entry.alive(now):
                entry.refresh(now)
            else:
                entry.write(now, self.cfg.openai_ttl)
        if keyed:
            self.entries[keyed[-1][1]].shown = True
        return cached


# ---------------------------------------------------------------- HTTP

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeprov"

    def serve(self):
        raw = self.read_body()
        if raw is None:
            return
        path = urllib.parse.urlsplit(self.path).path
        provider = self.server.provider
        if path in FAKE_ROUTES:
            self.serve_fake(provider, path, raw)
            return
        api = API_ROUTES.get(path, "unknown")
        reply = provider.api_request(api, self.command, path, self.headers, raw)
        if reply.fault in ("hang", "reset", "huge", "endless", "trickle"):
            try:
                getattr(self, f"fault_{reply.fault}")(reply)
            except OSError as exc:          # the client hung up: normal for these
                self.close_connection = True
                if self.server.verbose:
                    self.log_message("%s: client went away: %r", reply.fault, exc)
        elif reply.body is not None:
            self.send_bytes(reply.status, reply.body, reply.headers)
        else:
            self.send_json(reply.status, reply.payload, reply.headers)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = serve

    def serve_fake(self, provider, path, raw):
        methods = FAKE_ROUTES[path]
        if self.command not in methods:
            message = f"{self.command} is not allowed on {path}; use {' or '.join(methods)}"
            self.send_json(405, {"error": {"type": "invalid_request_error", "message": message}})
        elif path == "/_fake/state":
            self.send_json(200, provider.state())
        elif path == "/_fake/reset":
            self.send_json(200, provider.reset())
        elif self.command == "GET":
            self.send_json(200, provider.get_faults())
        else:
            try:
                self.send_json(200, provider.set_faults(parse_json_object(raw)))
            except ApiError as err:
                self.send_json(err.status, {"error": {"type": err.kind, "message": err.message}})

    def read_body(self):
        """The body, read by Content-Length; None once a malformed request has been answered."""
        if "Transfer-Encoding" in self.headers:
            return self.refuse(411, "send the body with Content-Length (no chunked encoding)")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            return self.refuse(400, "bad Content-Length")
        return self.rfile.read(length)

    def refuse(self, status, message):
        self.close_connection = True
        self.send_json(status, {"error": {"type": "invalid_request_error", "message": message}})
        return None

    def send_json(self, status, payload, headers=()):
        self.send_bytes(status, json.dumps(payload).encode(), headers)

    def send_bytes(self, status, data, headers=()):
        self.send_head(status, len(data), headers)
        self.wfile.write(data)

    def send_head(self, status, length, headers=()):
        """Status line and headers; length None means chunked."""
        self.send_response(status, "Overloaded" if status == 529 else None)
        self.send_header("Content-Type", "application/json")
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    # -------------------------------------------------------------- faults that misuse the socket

    def fault_hang(self, reply):
        """Say nothing for hang_seconds, or until the client closes; then close."""
        self.close_connection = True
        deadline = time.monotonic() + reply.settings["hang_seconds"]
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 1.0))
            if readable and not self.connection.recv(65536):
                return                      # the client closed

    def fault_reset(self, reply):
        """Close at once with SO_LINGER 0, so the kernel sends RST instead of FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()                  # drop makefile()'s reference, or close() waits for it
        self.connection.close()

    def fault_huge(self, reply):
        """A 200 of exactly huge_bytes, written in 64 KiB pieces (valid JSON if big enough)."""
        total = reply.settings["huge_bytes"]
        head, tail = b'{"id": "msg_fake_huge", "filler": "', b'"}'
        if total < len(head) + len(tail):
            head, tail = b"", b""
        self.send_head(200, total, reply.headers)
        self.wfile.write(head)
        piece = b"a" * 65536
        left = total - len(head) - len(tail)
        while left > 0:
            self.wfile.write(piece[:left])
            left -= len(piece)
        self.wfile.write(tail)

    def fault_endless(self, reply):
        """A chunked 200 of JSON-ish filler, 4 KiB every 10 ms, until the client hangs up."""
        self.close_connection = True
        self.send_head(200, None, reply.headers)
        piece = b'{"type": "text", "text": "' + b"a" * 4050 + b'"},'
        first = b'{"id": "msg_fake_endless", "content": [' + piece
        self.wfile.write(b"%x\r\n%s\r\n" % (len(first), first))
        while True:
            time.sleep(0.01)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))

    def fault_trickle(self, reply):
        """The normal answer, headers at once, then the body at trickle_bps."""
        data = json.dumps(reply.payload).encode()
        rate = reply.settings["trickle_bps"]
        step = max(1, int(rate / 20))       # about 20 writes a second
        self.send_head(reply.status, len(data), reply.headers)
        start, sent = time.monotonic(), 0
        while sent < len(data):
            piece = data[sent:sent + step]
            time.sleep(max(0.0, start + (sent + len(piece)) / rate - time.monotonic()))
            self.wfile.write(piece)
            sent += len(piece)

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # A warmer opens many connections at once (a burst of warms); the default
    # backlog of 5 drops SYNs and turns them into 1 s retransmit stalls.
    request_queue_size = 1024

    def __init__(self, address, provider, verbose):
        self.provider, self.verbose = provider, verbose
        super().__init__(address, Handler)

    def handle_error(self, request, client_address):
        # A client hanging up mid-answer is normal; anything else is a bug to show.
        if self.verbose or not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


# ---------------------------------------------------------------- main

def non_negative(convert):
    def parse(text):
        value = convert(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
        return value
    return parse


def number(text):
    """An int when the text is one, else a float."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def add_fault_flags(p):
    g = p.add_argument_group("faults", "also settable at runtime: POST /_fake/faults")
    for name, (default, kind) in FAULT_FIELDS.items():
        flag = "--" + name.replace("_", "-")
        if kind == "bool":
            g.add_argument(flag, action="store_true")
        elif kind == "tristate":
            g.add_argument(flag, choices=("true", "false"), default=None)
        else:
            metavar = {"prob": "P", "seconds": "SEC"}.get(kind, "N")
            metavar = {"rpm_window": "SEC", "trickle_bps": "BPS"}.get(name, metavar)
            g.add_argument(flag, type=int if kind in ("int", "count") else number,
                           default=default, metavar=metavar, help=f"default {default}")


def parse_args(argv):
    p = argparse.ArgumentParser(description="Fake Anthropic/OpenAI provider with prompt caching.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=non_negative(int), default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="write the port number here once listening")
    p.add_argument("--anthropic-key", default="fake-anthropic-key")
    p.add_argument("--openai-key", default="fake-openai-key")
    p.add_argument("--ttl-5m", type=non_negative(float), default=300.0, metavar="SEC")
    p.add_argument("--ttl-1h", type=non_negative(float), default=3600.0, metavar="SEC")
    p.add_argument("--openai-ttl", type=non_negative(float), default=300.0, metavar="SEC")
    p.add_argument("--min-tokens", type=non_negative(int), default=1024, metavar="N",
                   help="smallest cacheable Anthropic prefix")
    p.add_argument("--latency-ms", type=non_negative(int), default=0, metavar="N")
    p.add_argument("--log-requests", type=non_negative(int), default=1000, metavar="N",
                   help="how many requests /_fake/state keeps")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    add_fault_flags(p)
    cfg = p.parse_args(argv)
    if cfg.should_retry is not None:
        cfg.should_retry = cfg.should_retry == "true"
    try:
        cfg.faults = check_fault_fields({name: getattr(cfg, name) for name in FAULT_FIELDS})
    except ApiError as err:
        p.error(err.message)
    return cfg


def write_port_file(path, port):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, path)


def main(argv=None):
    cfg = parse_args(argv)
    server = Server((cfg.host, cfg.port), Provider(cfg, cfg.faults), cfg.verbose)

    def stop(signum, frame):
        # shutdown() waits for serve_forever() to return, so it must run elsewhere.
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = server.server_address[1]
    if cfg.port_file:
        write_port_file(cfg.port_file, port)
    print(f"fakeprov listening on {cfg.host}:{port}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
