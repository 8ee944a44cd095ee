"""door_bedrock: Amazon Bedrock Runtime's front door, for fakeprov.

Single job: answer InvokeModel (POST /model/{modelId}/invoke, api "bedrock")
and Converse (POST /model/{modelId}/converse, api "converse") requests as
Bedrock does for Claude models, with AWS's own authentication, and keep a
ground-truth prompt cache for both.

The model id is one path segment, percent-encoded by the client and decoded
once here, as AWS does ("...-v1%3A0" is the model "...-v1:0"); a model id
that is not a Claude model id, inference profile id or ARN is refused with
400 "The provided model identifier is invalid.".

Authentication, checked as AWS checks it (403 and {"message": ...} with the
exception's name in x-amzn-ErrorType):
  - a Bedrock API key: "Authorization: Bearer KEY", KEY one of the API keys;
  - AWS Signature Version 4: "Authorization: AWS4-HMAC-SHA256 Credential=
    ID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=..., Signature=...".
    The access key id must be known (else "The security token included in
    the request is invalid."); a session key's x-amz-security-token must be
    present and its own (same answer), and not expired ("The security token
    included in the request is expired"); the scope's service must be
    "bedrock" (not the host's "bedrock-runtime") and its region ours; host
    and x-amz-date must be signed; x-amz-date must be within 5 minutes of
    now ("Signature expired: ..."); then the signature is recomputed from
    the secret key over the canonical request whose URI is the path as
    received encoded once more (a model id sent as "v1%3A0" is signed as
    "v1%253A0"; one signed as sent does not match: "The request signature
    we calculated does not match the signature you provided. ...").

Caches: fakeprov's Anthropic cache model (breakpoints, 20-block lookback,
minimum length, TTLs refreshed on read), entries keyed by api and model id,
so InvokeModel and Converse, and each model, have caches of their own.
InvokeModel bodies follow the Messages API's rules ("anthropic_version":
"bedrock-2023-05-31" required, no "model"); Converse bodies mark breakpoints
with {"cachePoint": {"type": "default"}} blocks (the block before it is the
breakpoint; "ttl": "5m" or "1h"), at most 4, and inferenceConfig.maxTokens is
at least 1; usage comes back as cacheReadInputTokens, cacheWriteInputTokens,
inputTokens, outputTokens.

Flags: --aws-access-key-id, --aws-secret-access-key, --aws-session-token
(a session key when given), --aws-region, --bedrock-api-key. At runtime,
POST /_fake/bedrock {"credentials": [{"access_key_id", "secret_access_key",
"session_token" (optional), "expired" (optional)}], "api_keys": [...],
"region": ...} replaces what it names; GET /_fake/bedrock (and "doors" in
/_fake/state) shows the access key ids, whether each is a session key and
expired, and the region. The request log names how each request was
authenticated ("auth": "sigv4 ID" or "bearer").
"""

import datetime
import hashlib
import hmac
import json
import re
import time
import urllib.parse

ROUTE = re.compile(r"^/model/([^/]+)/(invoke|converse)$")
MODEL_ID = re.compile(
    r"^(arn:aws[a-z-]*:bedrock:[a-z0-9-]+:[0-9]*:"
    r"(foundation-model|inference-profile|application-inference-profile)/)?"
    r"((global|us|us-gov|eu|apac|jp|au|ca)\.)?anthropic\.claude-[A-Za-z0-9.:-]+$")
ANTHROPIC_VERSION = "bedrock-2023-05-31"
SIGNING_NAME = "bedrock"
MAX_SKEW_S = 300
MAX_CACHE_POINTS = 4
ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
CONVERSE_FIELDS = ("messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
                   "additionalModelRequestFields", "promptVariables",
                   "additionalModelResponseFieldPaths", "requestMetadata", "performanceConfig")
CONVERSE_BLOCKS = ("text", "image", "document", "video", "toolUse", "toolResult", "guardContent",
                   "cachePoint", "reasoningContent", "citationsContent")
SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you "
                      "provided. Check your AWS Secret Access Key and signing method. Consult "
                      "the service documentation for details.")
INVALID_TOKEN = "The security token included in the request is invalid."


# ---------------------------------------------------------------- SigV4, as AWS verifies it

def uri_encode(text, slash=True):
    return urllib.parse.quote(text, safe="/-_.~" if slash else "-_.~")


def canonical_query(raw_query):
    params = []
    for part in raw_query.split("&") if raw_query else []:
        if part:
            name, _, value = part.partition("=")
            params.append((uri_encode(urllib.parse.unquote(name), False),
                           uri_encode(urllib.parse.unquote(value), False)))
    return "&".join(f"{n}={v}" for n, v in sorted(params))


def canonical_request(method, raw_path, raw_query, header_values, signed, body):
    """The canonical request AWS (outside S3) computes: the path as received, encoded again."""
    lines = [method, uri_encode(raw_path), canonical_query(raw_query)]
    lines += [f"{name}:{' '.join(header_values[name].split())}" for name in signed]
    lines += ["", ";".join(signed), hashlib.sha256(body).hexdigest()]
    return "\n".join(lines)


def signature(secret, amz_date, region, service, creq):
    def step(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    key = step(("AWS4" + secret).encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = step(key, part)
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def parse_authorization(value):
    """(access key id, date, region, service, signed headers, signature) of a SigV4 header."""
    fields = {}
    for part in value[len("AWS4-HMAC-SHA256 "):].split(","):
        name, _, v = part.strip().partition("=")
        fields[name] = v
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(name):
            return None, f"Authorization header requires '{name}' parameter."
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return None, ("Credential should be scoped to a valid terminator: 'aws4_request'.")
    return (scope[0], scope[1], scope[2], scope[3], fields["SignedHeaders"].split(";"),
            fields["Signature"]), None


def amz_time(text):
    try:
        return datetime.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- the door

class BedrockDoor:
    name = "bedrock"
    apis = ("bedrock", "converse")
    methods = ("POST",)
    auth_apis = ()
    fake_routes = {"/_fake/bedrock": ("GET", "POST")}

    def __init__(self, fp):
        self.fp = fp
        self.fault_errors = {
            "429": fp.ApiError(429, "Too many requests, please wait before trying again.",
                               kind="ThrottlingException"),
            "rate_limited": fp.ApiError(429, "Too many requests, please wait before trying "
                                             "again.", kind="ThrottlingException"),
            "spend_limit": fp.ApiError(429, "You have exceeded your service quota for this "
                                            "model. Request a quota increase.",
                                       kind="ServiceQuotaExceededException"),
            "500": fp.ApiError(500, "The server encountered an internal error while processing "
                                    "the request.", kind="InternalServerException"),
            "529": fp.ApiError(503, "The model is currently overloaded. Please try again later.",
                               kind="ServiceUnavailableException"),
            "rejected_key": fp.ApiError(403, INVALID_TOKEN, kind="UnrecognizedClientException"),
        }

    # -- wiring

    def route(self, path):
        m = ROUTE.match(path)
        return None if not m else "bedrock" if m.group(2) == "invoke" else "converse"

    def add_args(self, p):
        g = p.add_argument_group("bedrock", "Amazon Bedrock (door_bedrock.py)")
        g.add_argument("--aws-access-key-id", default="FAKEACCESSKEY0000")
        g.add_argument("--aws-secret-access-key", default="fake/SecretAccessKey/0000000000000000000")
        g.add_argument("--aws-session-token", default=None,
                       help="makes the access key a session key that needs this token")
        g.add_argument("--aws-region", default="us-east-1")
        g.add_argument("--bedrock-api-key", default="fake-bedrock-api-key-0000",
                       help="a Bedrock API key accepted as a bearer token")

    def setup(self, provider):
        cfg = provider.cfg
        provider.bedrock = {
            "region": cfg.aws_region,
            "credentials": {cfg.aws_access_key_id: {"secret": cfg.aws_secret_access_key,
                                                    "token": cfg.aws_session_token,
                                                    "expired": False}},
            "api_keys": [cfg.bedrock_api_key] if cfg.bedrock_api_key else [],
        }

    def reset(self, provider):
        pass    # credentials are configuration, not state

    def state(self, provider):
        b = provider.bedrock
        return {"region": b["region"], "api_keys": len(b["api_keys"]),
                "credentials": [{"access_key_id": akid, "session": c["token"] is not None,
                                 "expired": c["expired"]}
                                for akid, c in b["credentials"].items()]}

    def serve_fake(self, provider, path, method, raw):
        if method == "GET":
            with provider.lock:
                return 200, self.state(provider)
        update = self.fp.parse_json_object(raw)
        creds = None
        for name, value in update.items():
            if name == "credentials":
                creds = {}
                for c in value if isinstance(value, list) else [None]:
                    if not (isinstance(c, dict) and isinstance(c.get("access_key_id"), str)
                            and isinstance(c.get("secret_access_key"), str)):
                        raise self.fp.invalid("credentials: a list of {access_key_id, "
                                              "secret_access_key[, session_token, expired]}")
                    creds[c["access_key_id"]] = {"secret": c["secret_access_key"],
                                                 "token": c.get("session_token"),
                                                 "expired": bool(c.get("expired"))}
            elif name == "api_keys":
                if not (isinstance(value, list) and all(isinstance(k, str) for k in value)):
                    raise self.fp.invalid("api_keys: a list of strings")
            elif name == "region":
                if not isinstance(value, str):
                    raise self.fp.invalid("region: a string")
            else:
                raise self.fp.invalid(f"unknown bedrock field: {name}")
        with provider.lock:
            b = provider.bedrock
            if creds is not None:
                b["credentials"] = creds
            if "api_keys" in update:
                b["api_keys"] = list(update["api_keys"])
            if "region" in update:
                b["region"] = update["region"]
            return 200, self.state(provider)

    def presented_key(self, headers):
        """What a hostile door would echo: the session token, else the bearer token, else the
        signed Authorization line."""
        value = headers.get("Authorization") or ""
        return headers.get("x-amz-security-token") or (value[7:] if value.startswith("Bearer ")
                                                        else value)

    def error_body(self, api, err):
        return {"message": err.message}

    def error_headers(self, api, err):
        kind = err.kind if err.kind.endswith("Exception") else "ValidationException"
        return [("x-amzn-ErrorType", f"{kind}:{ERROR_NAMESPACE}")]

    # -- a request

    def answer(self, provider, api, n, method, path, query, headers, raw, now):
        ApiError = self.fp.ApiError
        model = urllib.parse.unquote(ROUTE.match(path).group(1))
        auth = self.authenticate(provider, method, path, query, headers, raw)
        if not MODEL_ID.match(model):
            raise ApiError(400, "The provided model identifier is invalid.",
                           kind="ValidationException")
        body = self.fp.parse_json_object(raw)
        if api == "bedrock":
            payload, summary = self.invoke(provider, n, model, body, now)
        else:
            payload, summary = self.converse(provider, model, body, now)
        summary["log"] = {"auth": auth, "model": model}
        return payload, summary

    def authenticate(self, provider, method, path, query, headers, raw):
        """How the request proved itself ("bearer", "sigv4 ID"), or ApiError 403 as AWS answers."""
        ApiError = self.fp.ApiError
        value = headers.get("Authorization") or ""
        with provider.lock:
            b = {**provider.bedrock, "credentials": dict(provider.bedrock["credentials"])}
        if value.startswith("Bearer "):
            if value[7:] not in b["api_keys"]:
                raise ApiError(403, "Authentication failed: Please make sure your API Key is "
                                    "valid.", kind="AccessDeniedException")
            return "bearer"
        if not value.startswith("AWS4-HMAC-SHA256 "):
            raise ApiError(403, "Missing Authentication Token",
                           kind="MissingAuthenticationTokenException")
        parsed, why = parse_authorization(value)
        if not parsed:
            raise ApiError(403, why, kind="IncompleteSignatureException")
        akid, date, region, service, signed, given = parsed
        cred = b["credentials"].get(akid)
        token = headers.get("x-amz-security-token")
        if not cred or (cred["token"] is not None and token != cred["token"]) or (
                cred["token"] is None and token is not None):
            raise ApiError(403, INVALID_TOKEN, kind="UnrecognizedClientException")
        if cred["expired"]:
            raise ApiError(403, "The security token included in the request is expired",
                           kind="ExpiredTokenException")
        if service != SIGNING_NAME:
            raise ApiError(403, f"Credential should be scoped to correct service: "
                                f"'{SIGNING_NAME}'. ", kind="InvalidSignatureException")
        if region != b["region"]:
            raise ApiError(403, "Credential should be scoped to a valid region. ",
                           kind="InvalidSignatureException")
        if "host" not in signed or "x-amz-date" not in signed or signed != sorted(signed):
            raise ApiError(403, "'Host' and 'X-Amz-Date' must be signed headers, sorted, in "
                                "the AWS Authorization.", kind="InvalidSignatureException")
        amz_date = headers.get("x-amz-date")
        sent = amz_time(amz_date)
        if sent is None:
            raise ApiError(403, "Authorization header requires existence of either a "
                                "'X-Amz-Date' or a 'Date' header.",
                           kind="IncompleteSignatureException")
        if date != amz_date[:8]:
            raise ApiError(403, f"Date in Credential scope does not match YYYYMMDD from "
                                f"ISO-8601 version of date from HTTP: '{date}' != "
                                f"'{amz_date[:8]}', from '{amz_date}'.",
                           kind="InvalidSignatureException")
        wall = time.time()
        if abs(wall - sent) > MAX_SKEW_S:
            fmt = "%Y%m%dT%H%M%SZ"
            limit = time.strftime(fmt, time.gmtime(wall - MAX_SKEW_S if sent < wall
                                                   else wall + MAX_SKEW_S))
            nowt = time.strftime(fmt, time.gmtime(wall))
            raise ApiError(403, f"Signature expired: {amz_date} is now earlier than {limit} "
                                f"({nowt} - 5 min.)" if sent < wall else
                                f"Signature not yet current: {amz_date} is still later than "
                                f"{limit} ({nowt} + 5 min.)", kind="InvalidSignatureException")
        values = {}
        for name in signed:
            got = headers.get_all(name) if hasattr(headers, "get_all") else [headers.get(name)]
            if not got or got[0] is None:
                raise ApiError(403, SIGNATURE_MISMATCH, kind="InvalidSignatureException")
            values[name] = ",".join(v.strip() for v in got)
        creq = canonical_request(method, path, query, values, signed, raw)
        want = signature(cred["secret"], amz_date, region, service, creq)
        if not hmac.compare_digest(want, given):
            raise ApiError(403, SIGNATURE_MISMATCH, kind="InvalidSignatureException")
        return f"sigv4 {akid}"

    def invoke(self, provider, n, model, body, now):
        fp, ApiError = self.fp, self.fp.ApiError
        if "anthropic_version" not in body:
            raise ApiError(400, "Malformed input request: #: required key [anthropic_version] "
                                "not found, please reformat your input and try again.",
                           kind="ValidationException")
        if body["anthropic_version"] != ANTHROPIC_VERSION:
            raise ApiError(400, "Invalid API version", kind="ValidationException")
        if "model" in body:
            raise ApiError(400, "Malformed input request: #: extraneous key [model] is not "
                                "permitted, please reformat your input and try again.",
                           kind="ValidationException")
        fp.validate_anthropic({**body, "model": model})
        blocks = fp.anthropic_blocks(body)
        breakpoints = fp.anthropic_breakpoints(body, blocks, provider.cfg)
        read, creation, total = self.cache(provider, "bedrock", model, blocks, breakpoints, now)
        usage = {"input_tokens": max(0, total - read - creation),
                 "cache_creation_input_tokens": creation, "cache_read_input_tokens": read,
                 "output_tokens": 0 if body["max_tokens"] == 0 else 1}
        name = re.sub(r"^.*anthropic\.", "", model).split("-v")[0]
        summary = {"read": read, "write": creation, "input": usage["input_tokens"]}
        return fp.anthropic_message(n, name, body["max_tokens"], usage), summary

    def converse(self, provider, model, body, now):
        blocks, breakpoints, max_tokens = self.converse_blocks(provider, body)
        read, creation, total = self.cache(provider, "converse", model, blocks, breakpoints,
                                           now)
        output = 1
        usage = {"inputTokens": max(0, total - read - creation), "outputTokens": output,
                 "totalTokens": total + output, "cacheReadInputTokens": read,
                 "cacheWriteInputTokens": creation}
        payload = {"output": {"message": {"role": "assistant", "content": [{"text": "o"}]}},
                   "stopReason": "max_tokens", "usage": usage, "metrics": {"latencyMs": 1}}
        summary = {"read": read, "write": creation, "input": usage["inputTokens"],
                   "max_tokens": max_tokens}
        return payload, summary

    def cache(self, provider, api, model, blocks, breakpoints, now):
        fp = self.fp
        digests = fp.prefix_digests([{"role": section, "block": block}
                                     for _, section, block in blocks])
        cumulative = [0]
        for _, _, block in blocks:
            cumulative.append(cumulative[-1] + fp.tokens(block))
        cumulative = cumulative[1:]
        with provider.lock:
            read, creation = provider._anthropic_cache(model, digests, cumulative, breakpoints,
                                                       now, api=api)
        return read, creation, cumulative[-1] if cumulative else 0

    def converse_blocks(self, provider, body):
        """Converse's blocks in cache order (tools, system, messages) as (path, section, block),
        {index of the block before each cachePoint: ttl}, and inferenceConfig.maxTokens."""
        def bad(message):
            return self.fp.ApiError(400, message, kind="ValidationException")
        for name in body:
            if name not in CONVERSE_FIELDS:
                raise bad(f"Malformed input request: extraneous key [{name}] is not permitted")
        blocks, breakpoints, seen_5m = [], {}, False

        def take(path, section, block, allowed):
            nonlocal seen_5m
            if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in allowed:
                raise bad(f"{path}: a block must have exactly one of {', '.join(allowed)}")
            cp = block.get("cachePoint")
            if cp is None:
                blocks.append((path, section, block))
                return
            if not isinstance(cp, dict) or cp.get("type") != "default" or \
                    cp.get("ttl", "5m") not in ("5m", "1h") or not set(cp) <= {"type", "ttl"}:
                raise bad(f"{path}.cachePoint: must be {{\"type\": \"default\"}} with an "
                          f"optional ttl of 5m or 1h")
            if not blocks:
                raise bad(f"{path}: a cachePoint must follow content")
            ttl = cp.get("ttl", "5m")
            if ttl == "1h" and seen_5m:
                raise bad(f"{path}: a 1h cachePoint may not follow a 5m one")
            seen_5m |= ttl == "5m"
            if len(breakpoints) == MAX_CACHE_POINTS:
                raise bad(f"A maximum of {MAX_CACHE_POINTS} cache points may be provided.")
            breakpoints[len(blocks) - 1] = (provider.cfg.ttl_1h if ttl == "1h"
                                            else provider.cfg.ttl_5m)

        tool_config = body.get("toolConfig")
        if tool_config is not None:
            tools = tool_config.get("tools") if isinstance(tool_config, dict) else None
            if not isinstance(tools, list) or not tools:
                raise bad("toolConfig.tools: a non-empty list")
            for i, tool in enumerate(tools):
                take(f"toolConfig.tools.{i}", "tools", tool, ("toolSpec", "cachePoint"))
        system = body.get("system")
        if system is not None:
            if not isinstance(system, list):
                raise bad("system: a list of blocks")
            for i, block in enumerate(system):
                take(f"system.{i}", "system", block, ("text", "guardContent", "cachePoint"))
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad("messages: a non-empty list")
        for m, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise bad(f"messages.{m}.role: must be user or assistant")
            content = message.get("content")
            if not isinstance(content, list) or not content:
                raise bad(f"messages.{m}.content: a non-empty list of blocks")
            for i, block in enumerate(content):
                take(f"messages.{m}.content.{i}", message["role"], block, CONVERSE_BLOCKS)
        infer = body.get("inferenceConfig") or {}
        max_tokens = infer.get("maxTokens") if isinstance(infer, dict) else None
        if max_tokens is not None and (not self.fp.is_int(max_tokens) or max_tokens < 1):
            raise bad("The value at inferenceConfig.maxTokens must be greater than or equal "
                      "to 1")
        thinking = (body.get("additionalModelRequestFields") or {}).get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") == "enabled" and \
                max_tokens is not None and max_tokens <= (thinking.get("budget_tokens") or 0):
            raise bad("max_tokens must be greater than thinking.budget_tokens")
        return blocks, breakpoints, max_tokens


def make(fp):
    return BedrockDoor(fp)
