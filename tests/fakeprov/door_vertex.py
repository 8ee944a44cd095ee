"""door_vertex: Google Cloud's front door to Claude, for fakeprov.

Single job: answer what warmd's vertex kind sends, checking what Google
checks, in front of fakeprov's Anthropic cache model:

  POST /token   Google's OAuth2 token endpoint for service accounts: a form
                with grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer
                and assertion=JWT. The JWT must be RS256 (header alg), signed
                by the private key of a known account (iss = its
                client_email; the signature is verified with the account's
                public key, from --vertex-account EMAIL=PUBLIC.pem or POST
                /_fake/vertex), for scope cloud-platform, aud = this
                endpoint's URL (http://HOST/token), with iat not in the
                future, exp not past and at most an hour after iat. Refusals
                are Google's: 400 {"error": "invalid_grant",
                "error_description": ...}. A good assertion gets an access
                token valid --vertex-token-ttl seconds (default 3599).
  POST /v1/projects/P/locations/L/publishers/anthropic/models/M:rawPredict
                401 UNAUTHENTICATED (Google's JSON error shape) unless
                "Authorization: Bearer T" names an issued, unexpired token;
                403 PERMISSION_DENIED for another project than
                --vertex-project (when set). The body is an Anthropic
                Messages body with "anthropic_version": "vertex-2023-10-16"
                and no "model" (the URL names it); its answer and cache are
                fakeprov's Anthropic ones, with entries of api "vertex".
  GET|POST /_fake/vertex   the door's state; POST sets, all or nothing:
                {"accounts": {EMAIL: PUBLIC_PEM}, "token_ttl": N,
                 "project": P or null, "echo_token": bool,
                 "echo_assertion": bool, "reset": bool}
                echo_token makes rawPredict answer 401 with the presented
                token in the message (three times, across 160/256/512) and
                echo_assertion makes /token refuse with the assertion in
                error_description: hostile answers for warmd's scrubber.

rawPredict (api "vertex") draws fakeprov's faults, answered as Google does
(429 RESOURCE_EXHAUSTED, 500 INTERNAL, 401 UNAUTHENTICATED) but for p_529:
Anthropic's 529 overloaded_error. /token (api "vertex-token") is an auth
endpoint: no faults, and the request log keeps no assertion.

State (under "doors" -> "vertex" in /_fake/state): token requests, tokens
issued, refusals by reason, rawPredict requests and rejections, live tokens,
and the secrets it saw (the last tokens issued and assertions received):
fake ones, shown so that a test can look for pieces of them where warmd
must not write any.
Python 3.11 stdlib only: RSA PKCS#1 v1.5 verification with pow().
"""
import base64
import collections
import hashlib
import json
import re
import secrets
import time
import urllib.parse

ANTHROPIC_VERSION = "vertex-2023-10-16"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
MAX_LIFETIME = 3600
SKEW = 60                       # seconds an iat may lie in the future
PREDICT = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/publishers/anthropic/models/"
                     r"([^/]+):rawPredict$")
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
RSA_OID = bytes.fromhex("2a864886f70d010101")
UNAUTHENTICATED = ("Request had invalid authentication credentials. Expected OAuth 2 access "
                   "token, login cookie or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")
BAD_TIME = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim.")
QUOTA = ("Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model "
         "with base model: anthropic-claude. Please submit a quota increase request.")


# ---------------------------------------------------------------- RSA, by hand

def der_read(data, pos):
    """One DER element at pos: (tag, content bytes, next pos)."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7f
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[pos:pos + length], pos + length


def der_children(data):
    pos, out = 0, []
    while pos < len(data):
        tag, content, pos = der_read(data, pos)
        out.append((tag, content))
    return out


def rsa_public_key(pem):
    """(n, e) of a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) or "RSA PUBLIC KEY" (PKCS#1)."""
    m = re.search(r"-----BEGIN (RSA )?PUBLIC KEY-----(.*?)-----END (RSA )?PUBLIC KEY-----",
                  pem, re.S)
    if not m:
        raise ValueError("not a PEM public key")
    der = base64.b64decode("".join(m.group(2).split()))
    _, seq, _ = der_read(der, 0)
    if not m.group(1):                                   # SubjectPublicKeyInfo
        (_, algo), (_, bits) = der_children(seq)[:2]
        if der_children(algo)[0][1] != RSA_OID:
            raise ValueError("not an RSA key")
        _, seq, _ = der_read(bits[1:], 0)                 # BIT STRING: skip the unused-bits byte
    (_, n), (_, e) = der_children(seq)[:2]
    return int.from_bytes(n, "big"), int.from_bytes(e, "big")


def rs256_valid(key, signed, signature):
    """Whether signature is the RSASSA-PKCS1-v1_5 SHA-256 signature of signed under key."""
    n, e = key
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    t = SHA256_DIGEST_INFO + hashlib.sha256(signed).digest()
    return em == b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t


def b64url_decode(text):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---------------------------------------------------------------- the door

class VertexDoor:
    name = "vertex"
    apis = ("vertex", "vertex-token")
    methods = ("POST",)
    auth_apis = ("vertex-token",)
    fake_routes = {"/_fake/vertex": ("GET", "POST")}

    def __init__(self, fp):
        self.fp = fp
        self.presented_key = fp.presented_key          # the bearer token
        self.fault_errors = {
            "429": fp.ApiError(429, QUOTA, kind="RESOURCE_EXHAUSTED"),
            "rate_limited": fp.ApiError(429, QUOTA, kind="RESOURCE_EXHAUSTED"),
            "spend_limit": fp.ApiError(429, "Quota exceeded for quota metric 'Online "
                                            "prediction requests per day' of service "
                                            "'aiplatform.googleapis.com'.",
                                       kind="RESOURCE_EXHAUSTED"),
            "500": fp.ApiError(500, "Internal error encountered.", kind="INTERNAL"),
            "529": fp.ApiError(529, "Overloaded", kind="overloaded_error"),     # Anthropic's
            "rejected_key": fp.ApiError(401, UNAUTHENTICATED, kind="UNAUTHENTICATED"),
        }

    # -- wiring

    def route(self, path):
        return "vertex-token" if path == "/token" else "vertex" if PREDICT.match(path) else None

    def add_args(self, p):
        g = p.add_argument_group("vertex", "Google Vertex AI (door_vertex.py)")
        g.add_argument("--vertex-account", action="append", default=[], metavar="EMAIL=PEM",
                       help="a service account and the file of its public key (repeatable)")
        g.add_argument("--vertex-token-ttl", type=int, default=3599, metavar="SEC",
                       help="expires_in of the access tokens issued")
        g.add_argument("--vertex-project", default=None, metavar="ID",
                       help="the only project rawPredict serves (default: any)")

    def setup(self, provider):
        cfg = provider.cfg
        accounts = {}
        for spec in cfg.vertex_account:
            email, _, path = spec.partition("=")
            with open(path) as f:
                accounts[email] = rsa_public_key(f.read())
        defaults = {"token_ttl": cfg.vertex_token_ttl, "project": cfg.vertex_project,
                    "echo_token": False, "echo_assertion": False}
        provider.vertex = {"accounts": accounts, "defaults": defaults,
                           "settings": dict(defaults)}

    def reset(self, provider):
        """What requests left (tokens, counts, the secrets seen); accounts and settings stay."""
        provider.vertex.update(
            tokens={},                   # token -> (email, monotonic expiry)
            counts={"token_requests": 0, "tokens_issued": 0, "token_refused": 0,
                    "predict": 0, "predict_rejected": 0},
            refusals={},                 # error_description -> count
            issued=collections.deque(maxlen=64), assertions=collections.deque(maxlen=64))

    def state(self, provider):
        v, now = provider.vertex, time.monotonic()
        return {**v["counts"], "refusals": dict(v["refusals"]),
                "live_tokens": sum(1 for _, exp in v["tokens"].values() if exp > now),
                "accounts": sorted(v["accounts"]), **v["settings"],
                "issued_tokens": list(v["issued"]), "assertions": list(v["assertions"])}

    def serve_fake(self, provider, path, method, raw):
        """GET /_fake/vertex: the state; POST sets, all or nothing (see the module's docstring)."""
        if method == "POST":
            self.configure(provider, self.fp.parse_json_object(raw) if raw else {})
        with provider.lock:
            return 200, self.state(provider)

    def configure(self, provider, update):
        invalid = self.fp.invalid
        for field in update:
            if field not in ("accounts", "reset", *provider.vertex["defaults"]):
                raise invalid(f"unknown vertex field: {field}")
        if not isinstance(update.get("accounts", {}), dict):
            raise invalid("accounts: must be an object {EMAIL: PUBLIC_PEM}")
        try:
            accounts = {email: rsa_public_key(pem)
                        for email, pem in (update.get("accounts") or {}).items()}
        except (ValueError, TypeError, IndexError) as exc:
            raise invalid(f"accounts: {exc}") from None
        ttl = update.get("token_ttl", 1)
        if not self.fp.is_int(ttl) or ttl < 1:
            raise invalid("token_ttl: must be an integer >= 1")
        with provider.lock:
            v = provider.vertex
            if update.get("reset"):
                v["settings"] = dict(v["defaults"])
            v["accounts"].update(accounts)
            v["settings"].update({f: update[f] for f in v["defaults"] if f in update})

    def error_body(self, api, err):
        """OAuth's {"error", "error_description"} at /token; Google's errors (a kind in
        capitals) and Anthropic's (the body's) at rawPredict."""
        if api == "vertex-token":
            return {"error": err.kind, "error_description": err.message}
        if err.kind.isupper():
            return self.fp.google_error_body(err)
        return self.fp.error_body("anthropic", err)

    def error_headers(self, api, err):
        return []

    # -- a request

    def answer(self, provider, api, n, method, path, query, headers, raw, now):
        if api == "vertex-token":
            return self.token(provider, headers, raw, now)
        return self.predict(provider, n, path, headers, raw, now)

    def token(self, provider, headers, raw, now):
        v = provider.vertex
        with provider.lock:
            v["counts"]["token_requests"] += 1
            settings = dict(v["settings"])
        try:
            email = self.check_assertion(provider, headers, raw, settings)
        except self.fp.ApiError as err:
            with provider.lock:
                v["counts"]["token_refused"] += 1
                v["refusals"][err.message] = v["refusals"].get(err.message, 0) + 1
            raise
        token = "ya29.fake-" + secrets.token_urlsafe(72)
        ttl = settings["token_ttl"]
        with provider.lock:
            v["tokens"][token] = (email, now + ttl)
            v["issued"].append(token)
            v["counts"]["tokens_issued"] += 1
            for old in [t for t, (_, exp) in v["tokens"].items() if exp <= now]:
                del v["tokens"][old]
        return {"access_token": token, "expires_in": ttl, "token_type": "Bearer"}, {}

    def check_assertion(self, provider, headers, raw, settings):
        """The account whose assertion raw carries, or ApiError 400 as Google's OAuth says it
        (its kind the OAuth error)."""
        def refusal(error, description):
            return self.fp.ApiError(400, description, kind=error)
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise refusal("invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        try:
            form = urllib.parse.parse_qs(raw.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise refusal("invalid_request", "Malformed form body") from None
        if form.get("grant_type") != [GRANT_TYPE]:
            raise refusal("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type')}")
        assertion = (form.get("assertion") or [""])[0]
        with provider.lock:
            provider.vertex["assertions"].append(assertion)
        if settings["echo_assertion"]:
            raise refusal("invalid_grant", self.fp.echo_message(assertion))
        parts = assertion.split(".")
        if len(parts) != 3:
            raise refusal("invalid_grant", "Invalid JWT: the assertion is not header.claims.signature")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except ValueError:
            raise refusal("invalid_grant", "Invalid JWT: not base64url JSON") from None
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            raise refusal("invalid_grant", "Invalid JWT: alg must be RS256")
        if not isinstance(claims, dict):
            raise refusal("invalid_grant", "Invalid JWT: claims must be an object")
        with provider.lock:
            key = provider.vertex["accounts"].get(claims.get("iss"))
        if key is None:
            raise refusal("invalid_grant", "Invalid grant: account not found")
        if not rs256_valid(key, f"{parts[0]}.{parts[1]}".encode(), signature):
            raise refusal("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != f"http://{headers.get('Host')}/token":
            raise refusal("invalid_grant", "Invalid JWT: Failed audience check.")
        if SCOPE not in str(claims.get("scope", "")).split():
            raise refusal("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        iat, exp, wall = claims.get("iat"), claims.get("exp"), time.time()
        if (not isinstance(iat, int) or not isinstance(exp, int) or iat > wall + SKEW
                or exp <= wall or exp <= iat or exp - iat > MAX_LIFETIME):
            raise refusal("invalid_grant", BAD_TIME)
        return claims["iss"]

    def predict(self, provider, n, path, headers, raw, now):
        ApiError = self.fp.ApiError
        project, location, model = (urllib.parse.unquote(g) for g in PREDICT.match(path).groups())
        v = provider.vertex
        with provider.lock:
            v["counts"]["predict"] += 1
            settings = dict(v["settings"])
            auth = headers.get("Authorization") or ""
            entry = v["tokens"].get(auth[7:]) if auth.startswith("Bearer ") else None
            live = entry is not None and entry[1] > now
        refused = None
        if settings["echo_token"]:
            refused = ApiError(401, self.fp.echo_message(auth[7:]), kind="UNAUTHENTICATED")
        elif not live:
            refused = ApiError(401, UNAUTHENTICATED, kind="UNAUTHENTICATED")
        elif settings["project"] is not None and project != settings["project"]:
            resource = (f"//aiplatform.googleapis.com/projects/{project}/locations/{location}/"
                        f"publishers/anthropic/models/{model}")
            refused = ApiError(403, f"Permission 'aiplatform.endpoints.predict' denied on "
                                    f"resource '{resource}' (or it may not exist).",
                               kind="PERMISSION_DENIED")
        if refused:
            with provider.lock:
                v["counts"]["predict_rejected"] += 1
            raise refused
        body = self.fp.parse_json_object(raw)
        if body.get("anthropic_version") != ANTHROPIC_VERSION:
            raise self.fp.invalid(f"anthropic_version: must be '{ANTHROPIC_VERSION}'")
        if "model" in body:
            raise self.fp.invalid("model: Extra inputs are not permitted")
        body = {**body, "model": model}
        del body["anthropic_version"]
        return provider.anthropic_answer(n, body, now, api="vertex")


def make(fp):
    return VertexDoor(fp)
