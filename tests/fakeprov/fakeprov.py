#!/usr/bin/env python3
"""fakeprov: a fake LLM provider for warmd's tests.

Single job: answer Anthropic Messages (POST /v1/messages), OpenAI Chat
Completions (POST /v1/chat/completions) and OpenAI Responses (POST
/v1/responses) requests on a local port with a deterministic prompt-cache
model -- prefix caches whose TTL refreshes on read, a minimum cacheable
length, the real usage field names, auth checks -- and show the cache state at
GET /_fake/state, so tests can see what a cache warmer really did.

OpenAI prompts: chat is [tools|]["msg","msg",...]; responses is
[instructions|][tools|]["item","item",...] (canonical JSON of each part; a
string input is one {"role":"user","content":...} item, and "type":"message"
is dropped from message items), so a longer conversation shares a prefix and
a chat request and a responses request with the same messages share entries.
Both use ONE cache: 1024-token minimum, 128-token steps, keyed by (model,
prompt_cache_key, prefix hash); its entries show api "openai" in
/_fake/state (the request log says "openai" or "responses"). Entries live
--openai-ttl seconds, or --openai-ttl-30m seconds when a request to a gpt-5.6
or later model ("gpt-5.6", "gpt-5.7", "gpt-6", ...) sets
prompt_cache_options.ttl "30m" (the only value accepted); that TTL is a
minimum, so a read never shortens an entry's TTL, and a read refreshes it.
gpt-5.6+ report the tokens a request wrote (cache_write_tokens); older models
report cache_write_tokens 0 on responses (chat omits it for them). Responses
with prompt_cache_options.prewarm true fill the cache like a normal request
but answer "output": [] and output_tokens 0. GET /_fake/state counts
responses requests under requests.responses, gives each log entry a
"prewarm" flag and shows the self-hosted caches under "compat".

Self-hosted OpenAI-compatible servers (--compat MODE, or at runtime POST
/_fake/compat {"mode": ..., "slots": N, "lru_entries": N}; GET shows it; a
change empties their caches) change only how /v1/chat/completions caches:
  openai    as above (the default)
  vllm      no minimum, 16-token blocks, no TTL; cached_tokens = the largest
            cached block prefix; each request's block-aligned prefix is one
            LRU entry, the least recently used beyond --lru-entries dropped;
            usage.prompt_tokens_details is {"cached_tokens": n} only
  llamacpp  --slots N slots, no TTL: a request takes the slot whose prompt
            shares more than half of its tokens (the most), else the least
            recently used slot (empty ones first); timings.cache_n = the
            common token prefix with that slot's last prompt, at most
            prompt_tokens - 1; no prompt_tokens_details
With --openai-key "" any Authorization header, or none, is accepted.
With --usage-tokens N (> 0) every integer of a 200 answer's "usage" object
is N, whatever was cached: a broken or hostile server's absurd numbers.

Python 3.11 stdlib only. It listens where told (127.0.0.1 by default) and
never opens a connection of its own.

Doors: the cloud front doors (Bedrock, Vertex AI, Azure OpenAI, Gemini: a
cloud's paths, auth and errors in front of the same cache models) are
modules of their own (door_*.py beside this file), each registered below
with one import and one line in DOORS. A door module's make(fp) gets this
module (its ApiError, token model and caches, so that all share one class
and one cache, and helpers such as query_value(), google_error_body(),
echo_message()) and returns an object with:
  name                 the family of its routes: error bodies, fault answers
  apis                 the api names it answers (request counters, log)
  route(path)          the api of a raw request path (no query string), or None
  methods              the HTTP methods answer() sees (HTTP_METHODS for a door
                       that answers a wrong method itself); others get 405
  auth_apis            those of its apis that are credential endpoints (an
                       OAuth token endpoint, not the model API): they draw no
                       faults and the log keeps none of their bodies
  add_args(parser)     its command-line flags; setup(provider) its state
                       (kept on the provider as provider.NAME)
  answer(provider, api, n, method, path, query, headers, raw, now)
                       -> (payload, summary) answered 200, or raises ApiError;
                       query is the raw query string (query_value() reads it)
  error_body(api, err), error_headers(api, err)   its error answers
  fault_errors         {fault name: ApiError} for the fault draws
  fake_routes          {"/_fake/NAME": methods}: serve_fake(provider, path,
                       method, raw) -> (status, payload)
  state(provider), reset(provider)   under "doors" in GET /_fake/state (with
                       the provider's lock held), beside "requests": the
                       requests to its apis
  presented_key(headers)   the secret a request carries, for the echo_key fault
A summary may hold "max_tokens" and "log" (a dict added to the log entry).
A door's request takes the built-in APIs' path: --latency-ms, the fault
draws (answered in its own error format), the log, and a counter per api in
requests (there once used), besides requests.total and requests.rejected.

Token model: tokens(x) = ceil(len(utf8(canonical(x))) / 4), where canonical()
is sorted-key compact JSON with every "cache_control" key removed.

Fault injection (provider and door routes, never /_fake/* nor a door's
auth_apis), set by CLI flags or at runtime with POST /_fake/faults (a JSON
object; omitted fields keep their value, {"reset": true} first restores the
built-in defaults; GET shows them):

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
  echo_key           null, "html" or "json": 401 for every request, echoing the
                     key it presented (x-api-key, Authorization without
                     "Bearer ", or the user:password of a Basic one,
                     decoded), as a hostile gateway might: "html" puts it in
                     a ~20 KiB text/html page (across byte 160 and in the
                     middle), "json" in an error message of ~600 bytes, across
                     message offsets 160, 256 and 512; both also send it in an
                     x-fake-echo response header

/v1/responses is an OpenAI route for faults (OpenAI bodies and headers). A
door answers faults with its own fault_errors and error_body (reject_keys is
the status its cloud gives a bad key: Bedrock's 403, Gemini's 400) and sends
no rate limit headers.

Every provider request (a door's too) takes exactly ten draws rng.random(),
one per p_* in the order above, whether or not anything fires. Then: echo_key -> 401;
else reject_keys -> 401; else a full rpm window -> 429 (not counted in the window); else the request
enters the window and the first p_* whose draw is < p fires. A fired fault
leaves the prefix cache untouched, except p_trickle, which serves normally.
POST /_fake/reset also clears the window and fault counters and re-seeds.
GET /_fake/state counts fired faults under "faults" and names each log
entry's "fault"; requests.rejected counts every answer that is not a 200
(hang and reset, which send none, included).
"""

import argparse
import base64
import collections
import hashlib
import http.server
import itertools
import json
import math
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from email.utils import formatdate

import door_azure
import door_bedrock
import door_gemini
import door_vertex

ANTHROPIC_LOOKBACK = 20          # blocks searched before each breakpoint
ANTHROPIC_MAX_BREAKPOINTS = 4
OPENAI_MIN_TOKENS = 1024         # OpenAI caches from 1024 tokens ...
OPENAI_STEP = 128                # ... in steps of 128 tokens
OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool")
RESPONSES_ROLES = ("user", "assistant", "system", "developer")
RESPONSES_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning",
                        "custom_tool_call", "custom_tool_call_output")
RESPONSES_PART_TYPES = ("input_text", "input_image", "input_file", "input_audio",
                        "output_text", "refusal")
RESPONSES_MIN_OUTPUT = 16        # the Responses API rejects max_output_tokens below 16
RESPONSES_OUTPUT = 16            # output tokens of a (non-prewarm) answer, at most
CACHE_WRITE_MODELS = (5, 6)      # gpt-5.6 and later: 30m TTL, cache_write_tokens
VLLM_BLOCK = 16                  # vllm compat: tokens per KV cache block
LLAMACPP_SIMILARITY = 0.5        # llamacpp compat: share of the prompt a slot must match
COMPAT_MODES = ("openai", "vllm", "llamacpp")
API_ROUTES = {
    "/v1/messages": "anthropic",
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
    "/v1/responses": "responses",
    "/responses": "responses",
}
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")     # what the server answers at all
FAKE_ROUTES = {"/_fake/state": ("GET",), "/_fake/reset": ("POST",),
               "/_fake/faults": ("GET", "POST"), "/_fake/compat": ("GET", "POST")}

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
    "echo_key": (None, "echo"),
}
FAULT_DEFAULTS = {name: default for name, (default, _) in FAULT_FIELDS.items()}
FAULT_KINDS = {
    "int": "an integer", "count": "an integer >= 0", "positive": "a number > 0",
    "seconds": "a number >= 0", "prob": "a number in [0, 1]", "bool": "true or false",
    "tristate": "null, true or false", "echo": 'null, "html" or "json"',
}
FAULT_DRAWS = [name for name in FAULT_FIELDS if name.startswith("p_")]
FAULT_COUNTERS = ("429", "spend_limit", "500", "529", "garbage", "huge", "endless",
                  "hang", "reset", "trickle", "rate_limited", "rejected_key", "echo_key")
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


def invalid(message, param=None, code=None):
    return ApiError(400, message, param=param, code=code)


def door_of(api):
    """The door that answers api, or None (DOOR_OBJECTS is filled once the module is loaded)."""
    return next((door for door in DOOR_OBJECTS if api in door.apis), None)


def family(api):
    """The API whose error bodies, headers and fault answers a route uses."""
    door = door_of(api)
    return door.name if door else "openai" if api == "responses" else api


def error_body(api, err):
    door = door_of(api)
    if door:
        return door.error_body(api, err)
    if family(api) == "openai":
        return {"error": {"message": err.message, "type": err.kind,
                          "param": err.param, "code": err.code}}
    return {"type": "error", "error": {"type": err.kind, "message": err.message}}


GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                 503: "UNAVAILABLE"}


def google_error_body(err):
    """Google's error shape (Vertex AI, Gemini): a kind in capitals (PERMISSION_DENIED) is
    Google's status, any other kind gets the status of the HTTP code."""
    status = err.kind if err.kind.isupper() else GOOGLE_STATUS.get(err.status, "UNKNOWN")
    return {"error": {"code": err.status, "message": err.message, "status": status}}


def query_value(query, name):
    """The last value of name in a raw query string ("" when blank), or None when absent."""
    values = urllib.parse.parse_qs(query, keep_blank_values=True).get(name)
    return values[-1] if values else None


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
    if kind == "echo":
        return value in (None, "html", "json")
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
    start = {"openai": b'{"id": "chatcmpl-', "responses": b'{"id": "resp_'}.get(api, b'{"id": "msg_')
    return start + bytes(range(0x80, 0xa0)) + b"\x00\xff\xfe garbage"


def presented_key(headers):
    """The key a request presented: x-api-key, else Authorization without "Bearer ", or the
    user:password of a "Basic" one (credentials in the base URL), decoded."""
    key = headers.get("x-api-key")
    if key is None:
        key = headers.get("Authorization") or ""
        if key.startswith("Basic "):
            try:
                key = base64.b64decode(key[6:], validate=True).decode("utf-8", "replace")
            except ValueError:
                pass
        key = key[7:] if key.startswith("Bearer ") else key
    return key


ECHO_OFFSETS = (160, 256, 512)   # where warmd once cut error texts: excerpt, status, errmsg
ECHO_LEAD = 60                   # the key starts this many bytes before each of them


def echo_message(secret):
    """An error message with secret across ECHO_OFFSETS, as a hostile gateway writes it."""
    message = ""
    for offset in ECHO_OFFSETS:
        message = message.ljust(offset - ECHO_LEAD, ".") + secret
    return message + " was rejected; " + "check the key you sent. " * 4


def echo_key_body(api, style, key):
    """A 401 echoing key: (body bytes, content type). A hostile answer for the scrubber."""
    if style == "html":
        head = "<!DOCTYPE html><html><head><title>401 Unauthorized</title></head><body><h1>Unauth"
        head = head.ljust(160 - ECHO_LEAD, "_") + key
        filler = "<p>" + "lorem ipsum dolor sit amet " * 12 + "</p>\n"
        half = filler * 35
        page = (f"{head}<p>The key presented was not accepted.</p>\n{half}"
                f"<pre>x-api-key: {key}</pre>\n{half}</body></html>\n")
        return page.encode(), "text/html; charset=utf-8"
    kind = "invalid_request_error" if family(api) == "openai" else "authentication_error"
    body = error_body(api, ApiError(401, echo_message(key), kind=kind, code="invalid_api_key"))
    return json.dumps(body).encode(), "application/json"


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

    def __init__(self, status, payload, headers, fault=None, settings=None, body=None,
                 ctype="application/json"):
        self.status, self.payload, self.headers = status, payload, headers
        self.fault, self.settings, self.body, self.ctype = fault, settings, body, ctype


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


def loose_json_object(raw):
    """The raw body as a JSON object, or {} (for the request log only)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def requested_max_tokens(raw):
    """max_tokens (or max_completion_tokens, max_output_tokens) of a raw body, for the request log."""
    body = loose_json_object(raw)
    for field in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        if body.get(field) is not None:
            return body[field]
    return None


def requested_prewarm(raw):
    """Whether a raw body asks for a prewarm, for the request log."""
    options = loose_json_object(raw).get("prompt_cache_options")
    return isinstance(options, dict) and options.get("prewarm") is True


# ---------------------------------------------------------------- cache entries

class Entry:
    """One cached prefix. key = (api, model, [prompt_cache_key,] sha256 hex)."""

    def __init__(self, key, n_tokens, now):
        self.key, self.tokens = key, n_tokens
        self.created = self.expires = now
        self.ttl = 0.0
        self.writes = self.reads = 0
        self.dead_s = 0.0
        self.shown = key[0] != "openai"      # OpenAI: only the top step of a prompt

    def alive(self, now):
        return now < self.expires

    def write(self, now, ttl):
        if self.writes and not self.alive(now):
            self.dead_s += now - self.expires
        self.ttl, self.expires = ttl, now + ttl
        self.writes += 1

    def refresh(self, now, ttl=None):
        """Restart the TTL; a given ttl lengthens it (an OpenAI TTL is a minimum), never shortens."""
        if ttl is not None:
            self.ttl = max(self.ttl, ttl)
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
    """Bearer auth; an empty key (a self-hosted server without one) accepts anything."""
    if key and headers.get("Authorization") != f"Bearer {key}":
        raise ApiError(401, "Incorrect API key provided", code="invalid_api_key")


def model_version(model):
    """(major, minor) of a gpt-N[.M] model name, else None: gpt-5.6-mini -> (5, 6), gpt-5 -> (5, 0)."""
    m = re.match(r"gpt-(\d+)(?:\.(\d+))?(?!\d)", model)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else None


def bills_cache_writes(model):
    """gpt-5.6 and later: 30 min TTL and cache_write_tokens reported."""
    version = model_version(model)
    return version is not None and version >= CACHE_WRITE_MODELS


def openai_ttl(cfg, body):
    """--openai-ttl-30m for prompt_cache_options.ttl "30m" on gpt-5.6+, else --openai-ttl."""
    options = body.get("prompt_cache_options") or {}
    if bills_cache_writes(body["model"]) and options.get("ttl") == "30m":
        return cfg.openai_ttl_30m
    return cfg.openai_ttl


def json_type(x):
    """How OpenAI names a JSON value's type in its errors."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "a boolean"
    if is_int(x):
        return "an integer"
    if isinstance(x, float):
        return "a decimal"
    if isinstance(x, str):
        return "a string"
    return "an array" if isinstance(x, list) else "an object"


def wrong_type(param, expected, value):
    return invalid(f"Invalid type for '{param}': expected {expected}, but got {json_type(value)} "
                   "instead.", param, "invalid_type")


def check_prompt_cache_options(body, prewarm_allowed):
    """Validate prompt_cache_options (absent or null is fine): whether it asks for a prewarm."""
    options = body.get("prompt_cache_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise wrong_type("prompt_cache_options", "an object", options)
    prewarm = options.get("prewarm")
    if prewarm is not None and not isinstance(prewarm, bool):
        raise wrong_type("prompt_cache_options.prewarm", "a boolean", prewarm)
    if prewarm and not prewarm_allowed:
        raise invalid("prompt_cache_options.prewarm is only supported on /v1/responses "
                      "by fakeprov", "prompt_cache_options.prewarm")
    for field, values in (("ttl", ("30m",)), ("mode", ("implicit",))):
        value = options.get(field)
        if value is not None and value not in values:
            supported = " and ".join(f"'{v}'" for v in values)
            raise invalid(f"Invalid value: {json.dumps(value)}. Supported values are: {supported} "
                          "(fakeprov has no explicit breakpoints).",
                          f"prompt_cache_options.{field}", "invalid_value")
    return prewarm is True


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
    check_prompt_cache_options(body, prewarm_allowed=False)


def openai_prompt(body):
    """The prompt bytes: [tools|]["msg","msg",...] so a longer conversation shares a prefix."""
    text = "[" + ",".join(canonical(m) for m in body["messages"]) + "]"
    if body.get("tools") is not None:
        text = canonical(body["tools"]) + "|" + text
    return utf8(text)


def openai_steps(prompt, first=OPENAI_MIN_TOKENS, step=OPENAI_STEP):
    """[(k, sha256 hex of the first 4k prompt bytes)] for each cacheable step k (first, first + step, ...)."""
    running = hashlib.sha256()
    hashed = 0
    steps = []
    for k in range(first, byte_tokens(len(prompt)) + 1, step):
        running.update(prompt[hashed:4 * k])
        hashed = 4 * k
        steps.append((k, running.hexdigest()))
    return steps


def openai_completion(n, model, prompt_tokens, cached, created, written=None):
    """A chat completion; written (gpt-5.6+ only) adds prompt_tokens_details.cache_write_tokens."""
    details = {"cached_tokens": cached, "audio_tokens": 0}
    if written is not None:
        details["cache_write_tokens"] = written
    return {"id": f"chatcmpl-fake{n}", "object": "chat.completion", "created": created,
            "model": model,
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "content": "o", "refusal": None},
                         "logprobs": None, "finish_reason": "length"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1,
                      "total_tokens": prompt_tokens + 1,
                      "prompt_tokens_details": details,
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                    "accepted_prediction_tokens": 0,
                                                    "rejected_prediction_tokens": 0}}}


def vllm_completion(n, model, prompt_tokens, cached, created):
    """A chat completion as vLLM writes it (prompt token details enabled)."""
    return {"id": f"chatcmpl-fake{n}", "object": "chat.completion", "created": created,
            "model": model,
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "content": "o", "reasoning_content": None,
                                     "tool_calls": []},
                         "logprobs": None, "finish_reason": "length", "stop_reason": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1,
                      "total_tokens": prompt_tokens + 1,
                      "prompt_tokens_details": {"cached_tokens": cached}},
            "prompt_logprobs": None}


def llamacpp_completion(n, model, prompt_tokens, cache_n, created):
    """A chat completion as llama.cpp's server writes it: cache use only in timings."""
    prompt_n = prompt_tokens - cache_n
    return {"id": f"chatcmpl-fake{n}", "object": "chat.completion", "created": created,
            "model": model, "system_fingerprint": "b0-fakeprov",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "o"},
                         "finish_reason": "length"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1,
                      "total_tokens": prompt_tokens + 1},
            "timings": {"cache_n": cache_n, "prompt_n": prompt_n, "prompt_ms": prompt_n * 0.1,
                        "prompt_per_token_ms": 0.1, "prompt_per_second": 10000.0,
                        "predicted_n": 1, "predicted_ms": 10.0,
                        "predicted_per_token_ms": 10.0, "predicted_per_second": 100.0}}


def common_prefix_len(a, b):
    """Length of the longest common prefix of two byte strings (binary search on slices)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


# ---------------------------------------------------------------- OpenAI Responses

def check_responses_content(content, where):
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise wrong_type(f"{where}.content", "a string or an array", content)
    for n, part in enumerate(content):
        at = f"{where}.content[{n}]"
        if not isinstance(part, dict):
            raise wrong_type(at, "an object", part)
        kind = part.get("type")
        if kind not in RESPONSES_PART_TYPES:
            supported = ", ".join(f"'{t}'" for t in RESPONSES_PART_TYPES)
            raise invalid(f"Invalid value: {json.dumps(kind)}. Supported values are: {supported}.",
                          f"{at}.type", "invalid_value")
        if kind in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise wrong_type(f"{at}.text", "a string", part.get("text"))


def check_responses_item(item, where):
    if not isinstance(item, dict):
        raise wrong_type(where, "an object", item)
    kind = item.get("type")
    kind = "message" if kind is None else kind
    if kind == "message":
        if item.get("role") not in RESPONSES_ROLES:
            supported = ", ".join(f"'{r}'" for r in RESPONSES_ROLES)
            raise invalid(f"Invalid value: {json.dumps(item.get('role'))}. Supported values are: "
                          f"{supported}.", f"{where}.role", "invalid_value")
        if "content" not in item:
            raise invalid(f"Missing required parameter: '{where}.content'.", f"{where}.content",
                          "missing_required_parameter")
        check_responses_content(item["content"], where)
    elif kind == "function_call":
        for field in ("call_id", "name", "arguments"):
            if not isinstance(item.get(field), str):
                raise wrong_type(f"{where}.{field}", "a string", item.get(field))
    elif kind == "custom_tool_call":
        for field in ("call_id", "name", "input"):
            if not isinstance(item.get(field), str):
                raise wrong_type(f"{where}.{field}", "a string", item.get(field))
    elif kind in ("function_call_output", "custom_tool_call_output"):
        if not isinstance(item.get("call_id"), str):
            raise wrong_type(f"{where}.call_id", "a string", item.get("call_id"))
        output = item.get("output")
        if not isinstance(output, str) and not is_list_of_objects(output):
            raise wrong_type(f"{where}.output", "a string or an array", output)
    elif kind == "reasoning":
        if not is_list_of_objects(item.get("summary")):
            raise wrong_type(f"{where}.summary", "an array", item.get("summary"))
    else:
        supported = ", ".join(f"'{t}'" for t in RESPONSES_ITEM_TYPES)
        raise invalid(f"Invalid value: {json.dumps(kind)}. Supported values are: {supported}.",
                      f"{where}.type", "invalid_value")


def validate_responses(body):
    """Check a Responses request (OpenAI-style 400 naming the param): whether it is a prewarm."""
    model = body.get("model")
    if model is None:
        raise invalid("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    if not isinstance(model, str) or not model:
        raise wrong_type("model", "a non-empty string", model)
    inp = body.get("input")
    if inp is None:
        raise invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    if isinstance(inp, list):
        if not inp:
            raise invalid("Invalid 'input': empty array. Expected an array with minimum length 1, "
                          "but got an empty array instead.", "input", "empty_array")
        for n, item in enumerate(inp):
            check_responses_item(item, f"input[{n}]")
    elif not isinstance(inp, str):
        raise wrong_type("input", "a string or an array", inp)
    limit = body.get("max_output_tokens")
    if limit is not None:
        if not is_int(limit):
            raise wrong_type("max_output_tokens", "an integer", limit)
        if limit < RESPONSES_MIN_OUTPUT:
            raise invalid("Invalid 'max_output_tokens': integer below minimum value. Expected a "
                          f"value >= {RESPONSES_MIN_OUTPUT}, but got {limit} instead.",
                          "max_output_tokens", "integer_below_min_value")
    if body.get("instructions") is not None and not isinstance(body["instructions"], str):
        raise wrong_type("instructions", "a string", body["instructions"])
    if body.get("tools") is not None and not isinstance(body["tools"], list):
        raise wrong_type("tools", "an array", body["tools"])
    if body.get("prompt_cache_key") is not None and not isinstance(body["prompt_cache_key"], str):
        raise wrong_type("prompt_cache_key", "a string", body["prompt_cache_key"])
    if body.get("stream") is True:
        raise invalid("streaming not supported by fakeprov", "stream")
    return check_prompt_cache_options(body, prewarm_allowed=True)


def responses_items(body):
    """The input as items: a string is one user message; "type": "message" is implied."""
    inp = body["input"]
    if isinstance(inp, str):
        return [{"role": "user", "content": inp}]
    return [{k: v for k, v in item.items() if not (k == "type" and v == "message")}
            for item in inp]


def responses_prompt(body):
    """The prompt bytes: [instructions|][tools|]["item","item",...], items as chat's messages."""
    text = "[" + ",".join(canonical(item) for item in responses_items(body)) + "]"
    if body.get("tools") is not None:
        text = canonical(body["tools"]) + "|" + text
    if body.get("instructions") is not None:
        text = canonical(body["instructions"]) + "|" + text
    return utf8(text)


def responses_answer(n, model, created, usage, output_tokens):
    """A Response object; no output at all when output_tokens is 0 (a prewarm)."""
    output = [] if output_tokens == 0 else [
        {"type": "message", "id": f"msg_fake{n}", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "o", "annotations": []}]}]
    return {"id": f"resp_fake{n}", "object": "response", "created_at": created,
            "status": "completed", "error": None, "incomplete_details": None,
            "model": model, "output": output, "usage": usage}


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
        self.compat = {"mode": cfg.compat, "slots": cfg.slots, "lru_entries": cfg.lru_entries}
        self.lru = collections.OrderedDict()  # vllm: (model, top digest) -> prefix, oldest first
        self.block_refs = collections.Counter()   # vllm: (model, digest) -> prefixes holding it
        self.slots = []                       # llamacpp: one dict per slot
        self.slot_clock = 0
        for door in DOOR_OBJECTS:
            door.setup(self)
        self.reset()

    def _clear_compat_caches(self):
        """Empty the self-hosted servers' caches. Caller holds the lock."""
        self.lru.clear()
        self.block_refs.clear()
        self.slots = [{"id": i, "model": None, "prompt": b"", "tokens": 0, "used": 0, "uses": 0}
                      for i in range(self.compat["slots"])]

    def reset(self):
        with self.lock:
            self.entries.clear()
            self._clear_compat_caches()
            self.counts = {"anthropic": 0, "openai": 0, "responses": 0, "rejected": 0, "total": 0}
            self.fault_counts = dict.fromkeys(FAULT_COUNTERS, 0)
            self.log.clear()
            self.window.clear()
            self.rng = random.Random(self.faults["seed"])
            for door in DOOR_OBJECTS:
                door.reset(self)
        return {"ok": True}

    def state(self):
        now = time.monotonic()
        with self.lock:
            state = {"now": wall(now), "requests": dict(self.counts),
                     "faults": dict(self.fault_counts),
                     "entries": [e.describe(now) for e in self.entries.values() if e.shown],
                     "compat": self._describe_compat(),
                     "doors": {door.name: {"requests": sum(self.counts.get(api, 0)
                                                           for api in door.apis),
                                           **door.state(self)} for door in DOOR_OBJECTS},
                     "log": list(self.log)}
        return state

    def _describe_compat(self):
        """The self-hosted caches: vllm prefixes oldest first, llamacpp slots. Caller holds the lock."""
        return {"mode": self.compat["mode"],
                "lru": [{"model": model, "key": digest[:12], "tokens": p["tokens"], "uses": p["uses"]}
                        for (model, digest), p in self.lru.items()],
                "slots": [{"id": slot["id"], "model": slot["model"], "tokens": slot["tokens"],
                           "uses": slot["uses"]} for slot in self.slots]}

    def get_compat(self):
        with self.lock:
            return dict(self.compat)

    def set_compat(self, update):
        """Apply a POST /_fake/compat object (all or nothing); empties the self-hosted caches."""
        checks = {"mode": (lambda v: v in COMPAT_MODES, "one of " + ", ".join(COMPAT_MODES)),
                  "slots": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
                  "lru_entries": (lambda v: is_int(v) and v >= 0, "an integer >= 0")}
        for name, value in update.items():
            if name not in checks:
                raise invalid(f"unknown compat field: {name}")
            ok, what = checks[name]
            if not ok(value):
                raise invalid(f"{name}: must be {what}")
        with self.lock:
            self.compat.update(update)
            self._clear_compat_caches()
            return dict(self.compat)

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

    def api_request(self, api, method, path, query, headers, raw):
        """Answer a request to an API route (a built-in api, a door's, or unknown): a Reply."""
        if self.cfg.latency_ms:
            time.sleep(self.cfg.latency_ms / 1000)
        now = time.monotonic()
        door = door_of(api)
        fault, settings, extra = None, None, []
        with self.lock:
            self.seq += 1
            n = self.seq
            if api != "unknown" and not (door and api in door.auth_apis):
                settings = dict(self.faults)
                fault, extra = self._draw_fault(api, settings, now)
        id_header = ("x-request-id" if family(api) == "openai" else "request-id", f"req_fake_{n}")
        summary, body, ctype = {}, None, "application/json"
        if fault == "echo_key":
            key = door.presented_key(headers) if door else presented_key(headers)
            status, payload = 401, None
            body, ctype = echo_key_body(api, settings["echo_key"], key)
            extra = extra + [("x-fake-echo", f"presented {key}")]
        elif fault in ("hang", "reset"):
            status, payload, extra = None, None, []
        elif fault in ("garbage", "huge", "endless"):
            status, payload = 200, None
            body = garbage_body(api) if fault == "garbage" else None
        elif fault not in (None, "trickle"):
            err = FAULT_ERRORS[(family(api), fault)]
            status, payload = err.status, error_body(api, err)
            extra = extra + self._retry_headers(fault, settings, now) + error_headers(api, err)
        else:
            try:
                if api == "unknown":
                    raise ApiError(404, f"no such endpoint: {path}", kind="not_found_error")
                methods = door.methods if door else ("POST",)
                if method not in methods:
                    raise ApiError(405, f"{method} is not allowed on {path}; "
                                        f"use {' or '.join(methods)}")
                if door:
                    payload, summary = door.answer(self, api, n, method, path, query, headers,
                                                   raw, now)
                else:
                    answer = {"anthropic": self._anthropic, "openai": self._openai,
                              "responses": self._responses}[api]
                    payload, summary = answer(n, headers, raw, now)
                status = 200
                if self.cfg.usage_tokens and isinstance(payload.get("usage"), dict):
                    # an absurd usage, as a broken server sends
                    payload["usage"] = {k: self.cfg.usage_tokens if is_int(v) else v
                                        for k, v in payload["usage"].items()}
            except ApiError as err:
                status, payload, summary = err.status, error_body(api, err), {}
                extra = extra + error_headers(api, err)
        self._record(api, status, raw, now, summary, fault)
        return Reply(status, payload, [id_header] + extra, fault, settings, body, ctype)

    def anthropic_answer(self, n, body, now, api="anthropic"):
        """A Messages answer to a checked body (its model set), cached under api: (payload, summary)."""
        validate_anthropic(body)
        blocks = anthropic_blocks(body)
        breakpoints = anthropic_breakpoints(body, blocks, self.cfg)
        digests = prefix_digests([{"role": section, "block": block} for _, section, block in blocks])
        cumulative = list(itertools.accumulate(tokens(block) for _, _, block in blocks))
        with self.lock:
            read, creation = self._anthropic_cache(body["model"], digests, cumulative,
                                                   breakpoints, now, api)
        total = cumulative[-1] if cumulative else 0
        usage = {"input_tokens": max(0, total - read - creation),
                 "cache_creation_input_tokens": creation,
                 "cache_read_input_tokens": read,
                 "output_tokens": 0 if body["max_tokens"] == 0 else 1}
        summary = {"read": read, "write": creation, "input": usage["input_tokens"]}
        return anthropic_message(n, body["model"], body["max_tokens"], usage), summary

    def _draw_fault(self, api, settings, now):
        """Decide a provider request's fault: (None or name, rate limit headers). Caller holds the lock."""
        fired = [draw for draw in FAULT_DRAWS if self.rng.random() < settings[draw]]
        headers = []
        window, span, rpm = self.window, settings["rpm_window"], settings["rpm"]
        while window and window[0] <= now - span:
            window.popleft()
        if settings["echo_key"]:
            fault = "echo_key"
        elif settings["reject_keys"]:
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
        if door_of(api):
            return []
        if family(api) == "openai":
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
        door = door_of(api)
        logged = (f"({api} request: its body holds credentials, not kept)"
                  if door and api in door.auth_apis else raw.decode("utf-8", "replace"))
        with self.lock:
            if api in ("anthropic", "openai", "responses") or door:
                self.counts[api] = self.counts.get(api, 0) + 1   # a door's once it is used
            self.counts["total"] += 1
            if status != 200:
                self.counts["rejected"] += 1
            if fault:
                self.fault_counts[fault] += 1
            self.log.append({"t": wall(now), "api": api, "status": status, "fault": fault,
                             "max_tokens": summary.get("max_tokens", requested_max_tokens(raw)),
                             "prewarm": requested_prewarm(raw) if api == "responses" else False,
                             "read": summary.get("read"), "write": summary.get("write"),
                             "input": summary.get("input"),
                             "body": logged, **summary.get("log", {})})

    def _entry(self, key, n_tokens, now):
        """The entry at key, created (never written yet) if absent. Caller holds the lock."""
        if key not in self.entries:
            self.entries[key] = Entry(key, n_tokens, now)
        return self.entries[key]

    def _anthropic(self, n, headers, raw, now):
        check_anthropic_headers(headers, self.cfg.anthropic_key)
        return self.anthropic_answer(n, parse_json_object(raw), now)

    def _anthropic_cache(self, model, digests, cumulative, breakpoints, now, api="anthropic"):
        """Read the deepest live prefix, then write the breakpoints past it: (read, creation).
        api keys the entries: a door's API (Claude behind Bedrock) has caches of its own."""
        hit_at, hit = -1, None
        for b in breakpoints:
            for i in range(b, max(0, b - ANTHROPIC_LOOKBACK) - 1, -1):
                entry = self.entries.get((api, model, digests[i]))
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
            self._entry((api, model, digests[b]), cumulative[b], now).write(now, breakpoints[b])
        return read, (cumulative[written[-1]] - read if written else 0)

    def _openai(self, n, headers, raw, now):
        check_openai_auth(headers, self.cfg.openai_key)
        return self.openai_answer(n, parse_json_object(raw), now)

    def openai_answer(self, n, body, now):
        """A chat completion for a parsed body, the key already checked (doors call it too)."""
        validate_openai(body)
        model = body["model"]
        prompt = openai_prompt(body)
        prompt_tokens = byte_tokens(len(prompt))
        created = int(wall(now))
        with self.lock:
            mode = self.compat["mode"]
            if mode == "vllm":
                steps = openai_steps(prompt, VLLM_BLOCK, VLLM_BLOCK)
                cached = self._vllm_cache(model, steps)
                written = steps[-1][0] - cached if steps else 0
            elif mode == "llamacpp":
                cached = self._llamacpp_cache(model, prompt, prompt_tokens)
                written = prompt_tokens - cached
            else:
                steps = openai_steps(prompt)
                cached = self._openai_cache(model, body.get("prompt_cache_key") or "", steps, now,
                                            openai_ttl(self.cfg, body))
                written = steps[-1][0] - cached if steps else 0
        summary = {"read": cached, "write": written, "input": prompt_tokens - cached}
        if mode == "vllm":
            return vllm_completion(n, model, prompt_tokens, cached, created), summary
        if mode == "llamacpp":
            return llamacpp_completion(n, model, prompt_tokens, cached, created), summary
        reported = written if bills_cache_writes(model) else None
        return openai_completion(n, model, prompt_tokens, cached, created, reported), summary

    def _responses(self, n, headers, raw, now):
        check_openai_auth(headers, self.cfg.openai_key)
        return self.responses_answer(n, parse_json_object(raw), now)

    def responses_answer(self, n, body, now):
        """A Response for a parsed body, the key already checked (doors call it too)."""
        prewarm = validate_responses(body)
        model = body["model"]
        prompt = responses_prompt(body)
        prompt_tokens = byte_tokens(len(prompt))
        steps = openai_steps(prompt)
        with self.lock:
            cached = self._openai_cache(model, body.get("prompt_cache_key") or "", steps, now,
                                        openai_ttl(self.cfg, body))
        written = steps[-1][0] - cached if steps else 0
        limit = body.get("max_output_tokens")
        output_tokens = 0 if prewarm else min(limit or RESPONSES_OUTPUT, RESPONSES_OUTPUT)
        usage = {"input_tokens": prompt_tokens,
                 "input_tokens_details": {"cached_tokens": cached,
                                          "cache_write_tokens":
                                              written if bills_cache_writes(model) else 0},
                 "output_tokens": output_tokens,
                 "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": prompt_tokens + output_tokens}
        summary = {"read": cached, "write": written, "input": prompt_tokens - cached}
        return responses_answer(n, model, int(wall(now)), usage, output_tokens), summary

    def _vllm_cache(self, model, steps):
        """Read the largest cached block prefix, then make this prompt's prefix the most recently
        used, dropping the least recently used beyond lru_entries: cached tokens. Caller holds the lock."""
        cached = 0
        for k, digest in reversed(steps):
            if self.block_refs[(model, digest)]:
                cached = k
                break
        if not steps:
            return cached
        key = (model, steps[-1][1])
        if key in self.lru:
            self.lru.move_to_end(key)
        else:
            self.lru[key] = {"tokens": steps[-1][0], "digests": [d for _, d in steps], "uses": 0}
            self.block_refs.update((model, d) for _, d in steps)
        self.lru[key]["uses"] += 1
        while len(self.lru) > self.compat["lru_entries"]:
            (old_model, _), old = self.lru.popitem(last=False)
            for digest in old["digests"]:
                self.block_refs[(old_model, digest)] -= 1
                if not self.block_refs[(old_model, digest)]:
                    del self.block_refs[(old_model, digest)]
        return cached

    def _llamacpp_cache(self, model, prompt, prompt_tokens):
        """Pick a slot as llama.cpp's server does and reuse its common prefix: cache_n.
        Caller holds the lock."""
        def common_tokens(slot):
            return common_prefix_len(slot["prompt"], prompt) // 4 if slot["model"] == model else 0
        chosen, best = None, LLAMACPP_SIMILARITY
        for slot in self.slots:
            similarity = common_tokens(slot) / max(1, prompt_tokens)
            if similarity > best:
                chosen, best = slot, similarity
        if chosen is None:                     # the least recently used, never-used ones first
            chosen = min(self.slots, key=lambda slot: slot["used"])
        cache_n = max(0, min(common_tokens(chosen), prompt_tokens - 1))
        self.slot_clock += 1
        chosen.update(model=model, prompt=prompt, tokens=prompt_tokens, used=self.slot_clock,
                      uses=chosen["uses"] + 1)
        return cache_n

    def _openai_cache(self, model, cache_key, steps, now, ttl):
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
                entry.refresh(now, ttl)
            else:
                entry.write(now, ttl)
        if keyed:
            self.entries[keyed[-1][1]].shown = True
        return cached


# ---------------------------------------------------------------- HTTP

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes: without TCP_NODELAY, Nagle
    # holds the body for the client's delayed ACK and every keep-alive
    # request takes 40 ms, which no real provider adds.
    disable_nagle_algorithm = True
    server_version = "fakeprov"

    def serve(self):
        raw = self.read_body()
        if raw is None:
            return
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        provider = self.server.provider
        if path in FAKE_ROUTES:
            self.serve_fake(provider, path, raw)
            return
        api = API_ROUTES.get(path) or door_route(path) or "unknown"
        reply = provider.api_request(api, self.command, path, url.query, self.headers, raw)
        if reply.fault in ("hang", "reset", "huge", "endless", "trickle"):
            try:
                getattr(self, f"fault_{reply.fault}")(reply)
            except OSError as exc:          # the client hung up: normal for these
                self.close_connection = True
                if self.server.verbose:
                    self.log_message("%s: client went away: %r", reply.fault, exc)
        elif reply.body is not None:
            self.send_bytes(reply.status, reply.body, reply.headers, reply.ctype)
        else:
            self.send_json(reply.status, reply.payload, reply.headers)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = serve      # HTTP_METHODS

    def serve_fake(self, provider, path, raw):
        methods = FAKE_ROUTES[path]
        if self.command not in methods:
            message = f"{self.command} is not allowed on {path}; use {' or '.join(methods)}"
            self.send_json(405, {"error": {"type": "invalid_request_error", "message": message}})
        elif path == "/_fake/state":
            self.send_json(200, provider.state())
        elif door := next((d for d in DOOR_OBJECTS if path in d.fake_routes), None):
            try:
                self.send_json(*door.serve_fake(provider, path, self.command, raw))
            except ApiError as err:
                self.send_json(err.status, {"error": {"type": err.kind, "message": err.message}})
        elif path == "/_fake/reset":
            self.send_json(200, provider.reset())
        elif self.command == "GET":
            self.send_json(200, provider.get_faults() if path == "/_fake/faults"
                           else provider.get_compat())
        else:
            setter = provider.set_faults if path == "/_fake/faults" else provider.set_compat
            try:
                self.send_json(200, setter(parse_json_object(raw)))
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

    def send_bytes(self, status, data, headers=(), ctype="application/json"):
        self.send_head(status, len(data), headers, ctype)
        self.wfile.write(data)

    def send_head(self, status, length, headers=(), ctype="application/json"):
        """Status line and headers; length None means chunked."""
        self.send_response(status, "Overloaded" if status == 529 else None)
        self.send_header("Content-Type", ctype)
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


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text}")
    return value


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
        elif kind == "echo":
            g.add_argument(flag, choices=("html", "json"), default=None)
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
    p.add_argument("--openai-ttl", type=non_negative(float), default=300.0, metavar="SEC",
                   help="OpenAI cache TTL")
    p.add_argument("--openai-ttl-30m", type=non_negative(float), default=1800.0, metavar="SEC",
                   help='OpenAI cache TTL of gpt-5.6 and later with prompt_cache_options.ttl "30m"')
    p.add_argument("--compat", choices=COMPAT_MODES, default="openai",
                   help="how /v1/chat/completions caches: OpenAI, or a self-hosted vLLM or "
                        "llama.cpp server (also POST /_fake/compat)")
    p.add_argument("--slots", type=positive_int, default=4, metavar="N",
                   help="llamacpp compat: server slots")
    p.add_argument("--lru-entries", type=non_negative(int), default=64, metavar="N",
                   help="vllm compat: cached prefixes kept")
    p.add_argument("--min-tokens", type=non_negative(int), default=1024, metavar="N",
                   help="smallest cacheable Anthropic prefix")
    p.add_argument("--latency-ms", type=non_negative(int), default=0, metavar="N")
    p.add_argument("--usage-tokens", type=non_negative(int), default=0, metavar="N",
                   help="report N for every token count in the usage of a 200 answer")
    p.add_argument("--log-requests", type=non_negative(int), default=1000, metavar="N",
                   help="how many requests /_fake/state keeps")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    add_fault_flags(p)
    for door in DOOR_OBJECTS:
        door.add_args(p)
    cfg = p.parse_args(argv)
    if cfg.should_retry is not None:
        cfg.should_retry = cfg.should_retry == "true"
    try:
        cfg.faults = check_fault_fields({name: getattr(cfg, name) for name in FAULT_FIELDS})
    except ApiError as err:
        p.error(err.message)
    return cfg


# ---------------------------------------------------------------- doors

def door_route(path):
    """The api of a door that answers path, or None."""
    for door in DOOR_OBJECTS:
        api = door.route(path)
        if api:
            return api
    return None


def error_headers(api, err):
    door = door_of(api)
    return door.error_headers(api, err) if door else []


DOORS = (
    door_bedrock,
    door_vertex,
    door_azure,
    door_gemini,
)
DOOR_OBJECTS = [door.make(sys.modules[__name__]) for door in DOORS]
for _door in DOOR_OBJECTS:
    FAKE_ROUTES.update(_door.fake_routes)
    FAULT_ERRORS.update({(_door.name, fault): err for fault, err in _door.fault_errors.items()})


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
