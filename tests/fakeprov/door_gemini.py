"""door_gemini: the Gemini API's front door for fakeprov (/v1beta).

Routes:
  POST   /v1beta/models/{model}:generateContent
  POST   /v1beta/cachedContents
  GET    /v1beta/cachedContents/{id}
  PATCH  /v1beta/cachedContents/{id}?updateMask=ttl   body {"ttl": "300s"}
  DELETE /v1beta/cachedContents/{id}

What Google checks, as Google answers it ({"error": {"code", "message",
"status"}}): the x-goog-api-key header (--gemini-key): missing -> 403
PERMISSION_DENIED, not a key it knows -> 400 INVALID_ARGUMENT with an
ErrorInfo of reason API_KEY_INVALID (what generativelanguage answers); an
unknown model -> 404 NOT_FOUND; a bad body -> 400 INVALID_ARGUMENT.

Implicit cache (generateContent): the prompt is [header] + contents, where
the header is {systemInstruction, tools, toolConfig} (those present);
tokens(x) as fakeprov counts them. Entries sit at every turn boundary before
the last turn (the header alone, then each turn after it), keyed by (model,
prefix digest), written once their prefix reaches the model's minimum (4096
tokens for a "-pro" model, else 1024), living --gemini-ttl seconds, refreshed
on read. A request reads the deepest live entry: usageMetadata.
cachedContentTokenCount (absent when 0, as Google sends it), promptTokenCount
the whole prompt. Entries show api "gemini" in /_fake/state.

Explicit caches (cachedContents): a real store. Create takes "model"
("models/NAME"), "contents" and/or "systemInstruction", "tools",
"toolConfig", "ttl" ("Ns") or "expireTime", "displayName"; refuses a cache
below the model's minimum; answers name "cachedContents/ID", createTime,
updateTime, expireTime and usageMetadata.totalTokenCount. GET and PATCH
(updateMask=ttl) answer the same object; DELETE answers {}. A cache past its
expireTime is gone: 404 NOT_FOUND. generateContent with "cachedContent" reads
it (same model; no systemInstruction, tools or toolConfig of its own):
cachedContentTokenCount = its tokens, promptTokenCount adds the request's.
Every route draws fakeprov's faults, answered as Google does (429
RESOURCE_EXHAUSTED, 500 INTERNAL, 503 UNAVAILABLE, a rejected key as an
unknown one). GET /_fake/state "doors"."gemini": requests, creates, patches,
deletes, gets and the caches alive.
"""
import itertools
import json
import re
import time

GEMINI_MIN = 1024                 # the smallest cacheable prompt ...
GEMINI_MIN_PRO = 4096             # ... of a "-pro" model
DEFAULT_CACHE_TTL = 3600.0        # an explicit cache without ttl or expireTime
GENERATE = re.compile(r"^/v1beta/models/([^/:]+):generateContent$")
CACHE = re.compile(r"^/v1beta/cachedContents/([A-Za-z0-9_-]+)$")
DURATION = re.compile(r"^\d+(\.\d{1,9})?s$")
NO_CALLER = ("Method doesn't allow unregistered callers (callers without established "
             "identity). Please use API Key or other form of API consumer identity to call "
             "this API.")
KEY_INVALID = "API_KEY_INVALID"   # the ErrorInfo reason of an unknown key
NO_CACHE = "CachedContent not found (or permission denied)"


def min_tokens(model):
    return GEMINI_MIN_PRO if "-pro" in model else GEMINI_MIN


def timestamp(wall_time):
    """RFC 3339 UTC with microseconds, as Google writes them."""
    whole = int(wall_time)
    micro = int(round((wall_time - whole) * 1e6))
    if micro == 1000000:
        whole, micro = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micro:06d}Z"


def header_of(body):
    return {k: body[k] for k in ("systemInstruction", "tools", "toolConfig") if k in body}


class GeminiDoor:
    name = "gemini"
    apis = ("gemini",)
    auth_apis = ()
    fake_routes = {}

    def __init__(self, fp):
        self.fp = fp
        self.methods = fp.HTTP_METHODS            # a wrong method is a 404, answered below
        exhausted = fp.ApiError(429, "Resource has been exhausted (e.g. check quota).",
                                kind="RESOURCE_EXHAUSTED")
        self.fault_errors = {
            "429": exhausted,
            "rate_limited": exhausted,
            "spend_limit": fp.ApiError(429, "You exceeded your current quota, please check "
                                            "your plan and billing details.",
                                       kind="RESOURCE_EXHAUSTED"),
            "500": fp.ApiError(500, "An internal error has occurred. Please retry or report in "
                                    "https://developers.generativeai.google/guide/troubleshooting",
                               kind="INTERNAL"),
            "529": fp.ApiError(503, "The model is overloaded. Please try again later.",
                               kind="UNAVAILABLE"),
            "rejected_key": self.key_invalid(),
        }

    def bad(self, message):
        return self.fp.ApiError(400, message, kind="INVALID_ARGUMENT")

    def not_found(self, message=NO_CACHE):
        return self.fp.ApiError(404, message, kind="NOT_FOUND")

    def key_invalid(self):
        return self.fp.ApiError(400, "API key not valid. Please pass a valid API key.",
                                kind="INVALID_ARGUMENT", code=KEY_INVALID)

    # -- wiring

    def route(self, path):
        return "gemini" if path.startswith("/v1beta/") else None

    def add_args(self, p):
        g = p.add_argument_group("gemini", "Gemini API door (/v1beta/...)")
        g.add_argument("--gemini-key", default="fake-gemini-key")
        g.add_argument("--gemini-ttl", type=float, default=300.0, metavar="SEC",
                       help="implicit cache TTL")

    def setup(self, provider):
        provider.gemini = {"key": provider.cfg.gemini_key, "ttl": provider.cfg.gemini_ttl,
                           "ids": itertools.count(1)}      # cache ids are never reused

    def reset(self, provider):
        provider.gemini.update(caches={}, counts={"creates": 0, "patches": 0, "deletes": 0,
                                                  "gets": 0})

    def state(self, provider):
        g = provider.gemini
        self.expire(g, time.monotonic())
        return {**g["counts"],
                "caches": [{"name": c["name"], "model": c["model"], "tokens": c["tokens"],
                            "expires": self.fp.wall(c["expire"]), "patches": c["patches"]}
                           for c in g["caches"].values()]}

    def presented_key(self, headers):
        return headers.get("x-goog-api-key") or ""

    def error_body(self, api, err):
        body = self.fp.google_error_body(err)
        if err.code == KEY_INVALID:
            body["error"]["details"] = [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": KEY_INVALID,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"}}]
        return body

    def error_headers(self, api, err):
        return []

    # -- a request

    def answer(self, provider, api, n, method, path, query, headers, raw, now):
        key = headers.get("x-goog-api-key")
        if not key:
            raise self.fp.ApiError(403, NO_CALLER, kind="PERMISSION_DENIED")
        if key != provider.gemini["key"]:
            raise self.key_invalid()
        generate, cache = GENERATE.match(path), CACHE.match(path)
        if generate and method == "POST":
            return self.generate(provider, n, generate.group(1), raw, now)
        if path == "/v1beta/cachedContents" and method == "POST":
            return self.create(provider, raw, now)
        if cache and method in ("GET", "PATCH", "DELETE"):
            return self.one(provider, method, cache.group(1), query, raw, now)
        raise self.not_found(f"{method} {path} is not a Gemini API method")

    # -------------------------------------------------------------- explicit caches

    @staticmethod
    def expire(g, now):
        """Forget the caches past their expireTime. Caller holds the provider's lock."""
        for cid in [cid for cid, c in g["caches"].items() if c["expire"] <= now]:
            del g["caches"][cid]

    def describe(self, c):
        wall = self.fp.wall
        out = {"name": c["name"], "model": c["model"],
               "createTime": timestamp(wall(c["created"])),
               "updateTime": timestamp(wall(c["updated"])),
               "expireTime": timestamp(wall(c["expire"])),
               "usageMetadata": {"totalTokenCount": c["tokens"]}}
        if c.get("displayName") is not None:
            out["displayName"] = c["displayName"]
        return out

    def check_contents(self, contents, where="contents", empty_ok=False):
        """Raise a 400 for a bad contents list."""
        if contents is None and empty_ok:
            return
        if not isinstance(contents, list) or (not contents and not empty_ok):
            raise self.bad(f"{where}: must be a non-empty list of Content")
        for i, content in enumerate(contents):
            if not isinstance(content, dict) or \
                    not self.fp.is_list_of_objects(content.get("parts")):
                raise self.bad(f"{where}[{i}].parts: must be a list of Part")
            if content.get("role") not in (None, "user", "model", "function"):
                raise self.bad(f"{where}[{i}].role: must be 'user' or 'model'")

    def ttl_seconds(self, ttl):
        """The seconds of a duration "Ns", or a 400."""
        if not isinstance(ttl, str) or not DURATION.match(ttl):
            raise self.bad(f"ttl: invalid duration {json.dumps(ttl)}")
        return float(ttl[:-1])

    def create(self, provider, raw, now):
        body = self.fp.parse_json_object(raw)
        model = body.get("model")
        if not isinstance(model, str) or not model.startswith("models/gemini-"):
            raise self.bad("model: must be models/NAME of a Gemini model")
        self.check_contents(body.get("contents"), empty_ok=True)
        ttl = body.get("ttl")
        if ttl is not None and body.get("expireTime") is not None:
            raise self.bad("ttl and expireTime: give only one")
        life = DEFAULT_CACHE_TTL if ttl is None else self.ttl_seconds(ttl)
        if body.get("expireTime") is not None:
            raise self.bad("expireTime: fakeprov takes ttl only")
        tokens = self.fp.tokens({**header_of(body), "contents": body.get("contents") or []})
        least = min_tokens(model)
        if tokens < least:
            raise self.bad(f"Cached content is too small. total_token_count={tokens}, "
                           f"min_total_token_count={least}")
        g = provider.gemini
        with provider.lock:
            cid = f"fake{next(g['ids']):06x}"
            c = {"name": f"cachedContents/{cid}", "model": model, "tokens": tokens,
                 "header": header_of(body), "created": now, "updated": now,
                 "expire": now + life, "displayName": body.get("displayName"), "patches": 0}
            g["caches"][cid] = c
            g["counts"]["creates"] += 1
            return self.describe(c), {"write": tokens}

    def one(self, provider, method, cid, query, raw, now):
        g = provider.gemini
        with provider.lock:
            self.expire(g, now)
            c = g["caches"].get(cid)
            if c is None:
                raise self.not_found()
            if method == "GET":
                g["counts"]["gets"] += 1
                return self.describe(c), {}
            if method == "DELETE":
                del g["caches"][cid]
                g["counts"]["deletes"] += 1
                return {}, {}
        # PATCH: the new expiry from ttl only (expireTime is not taken here)
        mask = self.fp.query_value(query, "updateMask") or ""
        if mask != "ttl":
            raise self.bad(f"updateMask: fakeprov updates ttl only, not {mask!r}")
        life = self.ttl_seconds(self.fp.parse_json_object(raw).get("ttl"))
        with provider.lock:
            c = g["caches"].get(cid)
            if c is None or c["expire"] <= now:
                raise self.not_found()
            c["expire"], c["updated"] = now + life, now
            c["patches"] += 1
            g["counts"]["patches"] += 1
            return self.describe(c), {}

    # -------------------------------------------------------------- generateContent

    def generate(self, provider, n, model, raw, now):
        fp = self.fp
        if not model.startswith("gemini-"):
            raise self.not_found(f"models/{model} is not found for API version v1beta, or is "
                                 "not supported for generateContent.")
        body = fp.parse_json_object(raw)
        self.check_contents(body.get("contents"))
        config = body.get("generationConfig") or {}
        if not isinstance(config, dict):
            raise self.bad("generationConfig: must be an object")
        limit = config.get("maxOutputTokens")
        if limit is not None and (not fp.is_int(limit) or limit < 1):
            raise self.bad("generationConfig.max_output_tokens: must be a positive integer")
        contents = body["contents"]
        named = body.get("cachedContent")
        if named is not None:
            return self.generate_cached(provider, n, model, body, named, limit, now)
        identities = [header_of(body)] + contents
        cumulative = list(itertools.accumulate(fp.tokens(x) for x in identities))
        digests = fp.prefix_digests(identities)
        prompt = cumulative[-1]
        cached = 0
        with provider.lock:
            for i in range(len(identities) - 2, -1, -1):      # the deepest live boundary
                entry = provider.entries.get(("gemini", model, digests[i]))
                if entry and entry.alive(now):
                    entry.reads += 1
                    entry.refresh(now)
                    cached = entry.tokens
                    break
            for i in range(len(identities) - 1):
                if cumulative[i] < min_tokens(model):
                    continue
                entry = provider._entry(("gemini", model, digests[i]), cumulative[i], now)
                entry.shown = True
                if entry.alive(now):
                    entry.refresh(now)
                else:
                    entry.write(now, provider.gemini["ttl"])
        return self.generated(n, model, prompt, cached, limit)

    def generate_cached(self, provider, n, model, body, named, limit, now):
        if any(k in body for k in ("systemInstruction", "tools", "toolConfig")):
            raise self.bad("CachedContent can not be used with GenerateContent request setting "
                           "system_instruction, tools or tool_config.")
        match = re.match(r"^cachedContents/([A-Za-z0-9_-]+)$", named if isinstance(named, str)
                         else "")
        g = provider.gemini
        with provider.lock:
            self.expire(g, now)
            c = g["caches"].get(match.group(1)) if match else None
            if c is None:
                raise self.not_found()
            if c["model"] != f"models/{model}":
                raise self.bad(f"Model used by GenerateContent request (models/{model}) and "
                               f"CachedContent ({c['model']}) has to be the same.")
            cached = c["tokens"]
        prompt = cached + self.fp.tokens(body["contents"])
        return self.generated(n, model, prompt, cached, limit)

    @staticmethod
    def generated(n, model, prompt, cached, limit):
        """A generateContent answer and its summary."""
        out = 1 if limit is None or limit >= 1 else 0
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": out,
                 "totalTokenCount": prompt + out,
                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]}
        if cached:
            usage["cachedContentTokenCount"] = cached
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
        payload = {"candidates": [{"content": {"role": "model", "parts": [{"text": "o"}]},
                                   "finishReason": "MAX_TOKENS", "index": 0}],
                   "usageMetadata": usage, "modelVersion": model,
                   "responseId": f"fake{n}"}
        return payload, {"read": cached, "write": 0, "input": prompt - cached}


def make(fp):
    return GeminiDoor(fp)
