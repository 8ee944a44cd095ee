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
GET /_fake/state "doors"."gemini": creates, patches, deletes, gets and the
caches alive.
"""
import itertools
import re

import fakeprov

GEMINI_MIN = 1024                 # the smallest cacheable prompt ...
GEMINI_MIN_PRO = 4096             # ... of a "-pro" model
DEFAULT_CACHE_TTL = 3600.0        # an explicit cache without ttl or expireTime
GENERATE = re.compile(r"^/v1beta/models/([^/:]+):generateContent$")
CACHE = re.compile(r"^/v1beta/cachedContents/([A-Za-z0-9_-]+)$")
DURATION = re.compile(r"^\d+(\.\d{1,9})?s$")
NO_CALLER = ("Method doesn't allow unregistered callers (callers without established "
             "identity). Please use API Key or other form of API consumer identity to call "
             "this API.")


def google_error(code, status, message, details=None):
    err = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return code, {"error": err}, [], {}


def bad(message):
    return google_error(400, "INVALID_ARGUMENT", message)


def min_tokens(model):
    return GEMINI_MIN_PRO if "-pro" in model else GEMINI_MIN


def timestamp(wall_time):
    """RFC 3339 UTC with microseconds, as Google writes them."""
    whole = int(wall_time)
    micro = int(round((wall_time - whole) * 1e6))
    if micro == 1000000:
        whole, micro = whole + 1, 0
    return fakeprov.time.strftime("%Y-%m-%dT%H:%M:%S", fakeprov.time.gmtime(whole)) + \
        f".{micro:06d}Z"


def check_contents(contents, where="contents", empty_ok=False):
    """None, or the message of a 400 for a bad contents list."""
    if contents is None and empty_ok:
        return None
    if not isinstance(contents, list) or (not contents and not empty_ok):
        return f"{where}: must be a non-empty list of Content"
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or not fakeprov.is_list_of_objects(content.get("parts")):
            return f"{where}[{i}].parts: must be a list of Part"
        if content.get("role") not in (None, "user", "model", "function"):
            return f"{where}[{i}].role: must be 'user' or 'model'"
    return None


def header_of(body):
    return {k: body[k] for k in ("systemInstruction", "tools", "toolConfig") if k in body}


class Door:
    name = "gemini"

    @staticmethod
    def add_args(p):
        g = p.add_argument_group("gemini", "Gemini API door (/v1beta/...)")
        g.add_argument("--gemini-key", default="fake-gemini-key")
        g.add_argument("--gemini-ttl", type=float, default=300.0, metavar="SEC",
                       help="implicit cache TTL")

    def __init__(self, provider, cfg):
        self.provider = provider
        self.key = cfg.gemini_key
        self.ttl = cfg.gemini_ttl
        self.ids = itertools.count(1)
        self.reset()

    def owns(self, path):
        return path.startswith("/v1beta/")

    def reset(self):
        """Called with the provider's lock held (POST /_fake/reset)."""
        self.caches = {}
        self.counts = {"creates": 0, "patches": 0, "deletes": 0, "gets": 0}

    def state(self, now):
        """Called with the provider's lock held."""
        self._expire(now)
        return {**self.counts,
                "caches": [{"name": c["name"], "model": c["model"], "tokens": c["tokens"],
                            "expires": fakeprov.wall(c["expire"]), "patches": c["patches"]}
                           for c in self.caches.values()]}

    def _expire(self, now):
        """Forget the caches past their expireTime. Caller holds the lock."""
        for cid in [cid for cid, c in self.caches.items() if c["expire"] <= now]:
            del self.caches[cid]

    def _describe(self, c):
        out = {"name": c["name"], "model": c["model"],
               "createTime": timestamp(fakeprov.wall(c["created"])),
               "updateTime": timestamp(fakeprov.wall(c["updated"])),
               "expireTime": timestamp(fakeprov.wall(c["expire"])),
               "usageMetadata": {"totalTokenCount": c["tokens"]}}
        if c.get("displayName") is not None:
            out["displayName"] = c["displayName"]
        return out

    def answer(self, n, method, path, query, headers, raw, now):
        key = headers.get("x-goog-api-key")
        if not key:
            return google_error(403, "PERMISSION_DENIED", NO_CALLER)
        if key != self.key:
            return google_error(400, "INVALID_ARGUMENT",
                                "API key not valid. Please pass a valid API key.",
                                [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                  "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                                  "metadata": {"service": "generativelanguage.googleapis.com"}}])
        generate, cache = GENERATE.match(path), CACHE.match(path)
        if generate and method == "POST":
            return self._generate(n, generate.group(1), raw, now)
        if path == "/v1beta/cachedContents" and method == "POST":
            return self._create(raw, now)
        if cache and method in ("GET", "PATCH", "DELETE"):
            return self._one(method, cache.group(1), query, raw, now)
        return google_error(404, "NOT_FOUND", f"{method} {path} is not a Gemini API method")

    # -------------------------------------------------------------- explicit caches

    def _create(self, raw, now):
        try:
            body = fakeprov.parse_json_object(raw)
        except fakeprov.ApiError as err:
            return bad(err.message)
        model = body.get("model")
        if not isinstance(model, str) or not model.startswith("models/gemini-"):
            return bad("model: must be models/NAME of a Gemini model")
        problem = check_contents(body.get("contents"), empty_ok=True)
        if problem:
            return bad(problem)
        ttl = body.get("ttl")
        if ttl is not None and body.get("expireTime") is not None:
            return bad("ttl and expireTime: give only one")
        if ttl is not None and (not isinstance(ttl, str) or not DURATION.match(ttl)):
            return bad(f"ttl: invalid duration {fakeprov.json.dumps(ttl)}")
        if body.get("expireTime") is not None:
            return bad("expireTime: fakeprov takes ttl only")
        tokens = fakeprov.tokens({**header_of(body), "contents": body.get("contents") or []})
        least = min_tokens(model)
        if tokens < least:
            return bad(f"Cached content is too small. total_token_count={tokens}, "
                       f"min_total_token_count={least}")
        life = float(ttl[:-1]) if ttl else DEFAULT_CACHE_TTL
        with self.provider.lock:
            cid = f"fake{next(self.ids):06x}"
            c = {"name": f"cachedContents/{cid}", "model": model, "tokens": tokens,
                 "header": header_of(body), "created": now, "updated": now,
                 "expire": now + life, "displayName": body.get("displayName"), "patches": 0}
            self.caches[cid] = c
            self.counts["creates"] += 1
            payload = self._describe(c)
        return 200, payload, [], {"write": tokens}

    def _one(self, method, cid, query, raw, now):
        with self.provider.lock:
            self._expire(now)
            c = self.caches.get(cid)
            if c is None:
                return google_error(404, "NOT_FOUND",
                                    "CachedContent not found (or permission denied)")
            if method == "GET":
                self.counts["gets"] += 1
                return 200, self._describe(c), [], {}
            if method == "DELETE":
                del self.caches[cid]
                self.counts["deletes"] += 1
                return 200, {}, [], {}
        # PATCH: the new expiry from ttl only (expireTime is not taken here)
        mask = query.get("updateMask", [""])[-1]
        if mask != "ttl":
            return bad(f"updateMask: fakeprov updates ttl only, not {mask!r}")
        try:
            body = fakeprov.parse_json_object(raw)
        except fakeprov.ApiError as err:
            return bad(err.message)
        ttl = body.get("ttl")
        if not isinstance(ttl, str) or not DURATION.match(ttl):
            return bad(f"ttl: invalid duration {fakeprov.json.dumps(ttl)}")
        with self.provider.lock:
            c = self.caches.get(cid)
            if c is None or c["expire"] <= now:
                return google_error(404, "NOT_FOUND",
                                    "CachedContent not found (or permission denied)")
            c["expire"], c["updated"] = now + float(ttl[:-1]), now
            c["patches"] += 1
            self.counts["patches"] += 1
            return 200, self._describe(c), [], {}

    # -------------------------------------------------------------- generateContent

    def _generate(self, n, model, raw, now):
        if not model.startswith("gemini-"):
            return google_error(404, "NOT_FOUND", f"models/{model} is not found for API version "
                                "v1beta, or is not supported for generateContent.")
        try:
            body = fakeprov.parse_json_object(raw)
        except fakeprov.ApiError as err:
            return bad(err.message)
        problem = check_contents(body.get("contents"))
        if problem:
            return bad(problem)
        config = body.get("generationConfig") or {}
        if not isinstance(config, dict):
            return bad("generationConfig: must be an object")
        limit = config.get("maxOutputTokens")
        if limit is not None and (not fakeprov.is_int(limit) or limit < 1):
            return bad("generationConfig.max_output_tokens: must be a positive integer")
        contents = body["contents"]
        named = body.get("cachedContent")
        if named is not None:
            return self._generate_cached(n, model, body, named, limit, now)
        identities = [header_of(body)] + contents
        cumulative = list(itertools.accumulate(fakeprov.tokens(x) for x in identities))
        digests = fakeprov.prefix_digests(identities)
        prompt = cumulative[-1]
        cached = 0
        with self.provider.lock:
            for i in range(len(identities) - 2, -1, -1):      # the deepest live boundary
                entry = self.provider.entries.get(("gemini", model, digests[i]))
                if entry and entry.alive(now):
                    entry.reads += 1
                    entry.refresh(now)
                    cached = entry.tokens
                    break
            for i in range(len(identities) - 1):
                if cumulative[i] < min_tokens(model):
                    continue
                entry = self.provider._entry(("gemini", model, digests[i]), cumulative[i], now)
                entry.shown = True
                if entry.alive(now):
                    entry.refresh(now)
                else:
                    entry.write(now, self.ttl)
        return self._answer(n, model, prompt, cached, limit)

    def _generate_cached(self, n, model, body, named, limit, now):
        if any(k in body for k in ("systemInstruction", "tools", "toolConfig")):
            return bad("CachedContent can not be used with GenerateContent request setting "
                       "system_instruction, tools or tool_config.")
        match = re.match(r"^cachedContents/([A-Za-z0-9_-]+)$", named if isinstance(named, str)
                         else "")
        with self.provider.lock:
            self._expire(now)
            c = self.caches.get(match.group(1)) if match else None
            if c is None:
                return google_error(404, "NOT_FOUND",
                                    "CachedContent not found (or permission denied)")
            if c["model"] != f"models/{model}":
                return bad(f"Model used by GenerateContent request (models/{model}) and "
                           f"CachedContent ({c['model']}) has to be the same.")
            cached = c["tokens"]
        prompt = cached + fakeprov.tokens(body["contents"])
        return self._answer(n, model, prompt, cached, limit)

    @staticmethod
    def _answer(n, model, prompt, cached, limit):
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
        return 200, payload, [], {"read": cached, "write": 0, "input": prompt - cached}
