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
import threading
import time
import urllib.parse

NAME = "vertex"
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


class DoorReply:
    """What the door answers: status, JSON payload, headers, and what fakeprov records."""

    def __init__(self, status, payload, headers=(), api=None, summary=None, logged=None):
        self.status, self.payload, self.headers = status, payload, list(headers)
        self.api, self.summary, self.logged = api, summary or {}, logged


def add_args(group):
    group.add_argument("--vertex-account", action="append", default=[], metavar="EMAIL=PEM",
                       help="a service account and the file of its public key (repeatable)")
    group.add_argument("--vertex-token-ttl", type=int, default=3599, metavar="SEC",
                       help="expires_in of the access tokens issued")
    group.add_argument("--vertex-project", default=None, metavar="ID",
                       help="the only project rawPredict serves (default: any)")


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

class Refusal(Exception):
    def __init__(self, error, description, status=400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def google_error(status, code, message):
    return {"error": {"code": status, "message": message, "status": code}}


def echo_message(secret):
    """A message with secret across offsets 160, 256 and 512, as a hostile gateway writes it."""
    message = ""
    for offset in (160, 256, 512):
        message = message.ljust(offset - 60, ".") + secret
    return message + " was rejected."


class Door:
    def __init__(self, provider, cfg):
        self.lock = threading.Lock()
        self.accounts = {}
        for spec in cfg.vertex_account:
            email, _, path = spec.partition("=")
            with open(path) as f:
                self.accounts[email] = rsa_public_key(f.read())
        self.defaults = {"token_ttl": cfg.vertex_token_ttl, "project": cfg.vertex_project,
                         "echo_token": False, "echo_assertion": False}
        self.settings = dict(self.defaults)
        self.reset()

    def reset(self):
        with self.lock:
            self.tokens = {}             # token -> (email, monotonic expiry)
            self.counts = {"token_requests": 0, "tokens_issued": 0, "token_refused": 0,
                           "predict": 0, "predict_rejected": 0}
            self.refusals = {}           # error_description -> count
            self.issued = collections.deque(maxlen=64)
            self.assertions = collections.deque(maxlen=64)

    def state(self):
        now = time.monotonic()
        with self.lock:
            return {**self.counts, "refusals": dict(self.refusals),
                    "live_tokens": sum(1 for _, exp in self.tokens.values() if exp > now),
                    "accounts": sorted(self.accounts), **self.settings,
                    "issued_tokens": list(self.issued), "assertions": list(self.assertions)}

    def routes(self, method, path):
        return (path == "/_fake/vertex" or (method == "POST" and path == "/token")
                or (method == "POST" and PREDICT.match(path) is not None))

    def answer(self, provider, n, method, path, headers, raw, now):
        if path == "/_fake/vertex":
            return self.admin(method, raw)
        if path == "/token":
            return self.token(headers, raw, now)
        return self.predict(provider, n, path, headers, raw, now)

    # ------------------------------------------------------------ admin

    def admin(self, method, raw):
        if method == "POST":
            try:
                update = json.loads(raw or b"{}")
                self.configure(update)
            except (ValueError, TypeError, KeyError) as exc:
                return DoorReply(400, {"error": {"type": "invalid_request_error",
                                                 "message": str(exc)}})
        return DoorReply(200, self.state())

    def configure(self, update):
        if not isinstance(update, dict):
            raise ValueError("a JSON object expected")
        accounts = {email: rsa_public_key(pem)
                    for email, pem in (update.get("accounts") or {}).items()}
        for field in update:
            if field not in ("accounts", "reset", *self.defaults):
                raise ValueError(f"unknown vertex field: {field}")
        ttl = update.get("token_ttl", self.settings["token_ttl"])
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
            raise ValueError("token_ttl: must be an integer >= 1")
        with self.lock:
            if update.get("reset"):
                self.settings = dict(self.defaults)
            self.accounts.update(accounts)
            for field in self.defaults:
                if field in update:
                    self.settings[field] = update[field]

    # ------------------------------------------------------------ the token endpoint

    def token(self, headers, raw, now):
        logged = b"(a token request; its assertion is not kept)"
        with self.lock:
            self.counts["token_requests"] += 1
            settings = dict(self.settings)
        try:
            email = self.check_assertion(headers, raw, settings)
        except Refusal as r:
            with self.lock:
                self.counts["token_refused"] += 1
                self.refusals[r.description] = self.refusals.get(r.description, 0) + 1
            return DoorReply(r.status, {"error": r.error, "error_description": r.description},
                             api="vertex-token", logged=logged)
        token = "ya29.fake-" + secrets.token_urlsafe(72)
        ttl = settings["token_ttl"]
        with self.lock:
            self.tokens[token] = (email, now + ttl)
            self.issued.append(token)
            self.counts["tokens_issued"] += 1
            for old in [t for t, (_, exp) in self.tokens.items() if exp <= now]:
                del self.tokens[old]
        return DoorReply(200, {"access_token": token, "expires_in": ttl, "token_type": "Bearer"},
                         api="vertex-token", logged=logged)

    def check_assertion(self, headers, raw, settings):
        """The account whose assertion raw carries, or Refusal as Google says it."""
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise Refusal("invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        try:
            form = urllib.parse.parse_qs(raw.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise Refusal("invalid_request", "Malformed form body") from None
        if form.get("grant_type") != [GRANT_TYPE]:
            raise Refusal("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type')}")
        assertion = (form.get("assertion") or [""])[0]
        with self.lock:
            self.assertions.append(assertion)
        if settings["echo_assertion"]:
            raise Refusal("invalid_grant", echo_message(assertion))
        parts = assertion.split(".")
        if len(parts) != 3:
            raise Refusal("invalid_grant", "Invalid JWT: the assertion is not header.claims.signature")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except ValueError:
            raise Refusal("invalid_grant", "Invalid JWT: not base64url JSON") from None
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            raise Refusal("invalid_grant", "Invalid JWT: alg must be RS256")
        if not isinstance(claims, dict):
            raise Refusal("invalid_grant", "Invalid JWT: claims must be an object")
        with self.lock:
            key = self.accounts.get(claims.get("iss"))
        if key is None:
            raise Refusal("invalid_grant", "Invalid grant: account not found")
        if not rs256_valid(key, f"{parts[0]}.{parts[1]}".encode(), signature):
            raise Refusal("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != f"http://{headers.get('Host')}/token":
            raise Refusal("invalid_grant", "Invalid JWT: Failed audience check.")
        if SCOPE not in str(claims.get("scope", "")).split():
            raise Refusal("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        iat, exp, wall = claims.get("iat"), claims.get("exp"), time.time()
        if (not isinstance(iat, int) or not isinstance(exp, int) or iat > wall + SKEW
                or exp <= wall or exp <= iat or exp - iat > MAX_LIFETIME):
            raise Refusal("invalid_grant", BAD_TIME)
        return claims["iss"]

    # ------------------------------------------------------------ rawPredict

    def predict(self, provider, n, path, headers, raw, now):
        project, location, model = (urllib.parse.unquote(g) for g in PREDICT.match(path).groups())
        with self.lock:
            self.counts["predict"] += 1
            settings = dict(self.settings)
            auth = headers.get("Authorization") or ""
            entry = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
            live = entry is not None and entry[1] > now
        if settings["echo_token"]:
            return self.rejected(google_error(401, "UNAUTHENTICATED", echo_message(auth[7:])), raw)
        if not live:
            return self.rejected(google_error(401, "UNAUTHENTICATED", UNAUTHENTICATED), raw)
        if settings["project"] is not None and project != settings["project"]:
            resource = (f"//aiplatform.googleapis.com/projects/{project}/locations/{location}/"
                        f"publishers/anthropic/models/{model}")
            return self.rejected(google_error(
                403, "PERMISSION_DENIED",
                f"Permission 'aiplatform.endpoints.predict' denied on resource '{resource}' "
                "(or it may not exist)."), raw, status=403)
        try:
            body = json.loads(raw.decode("utf-8"))
            if not isinstance(body, dict):
                raise ValueError("request body must be a JSON object")
        except (UnicodeDecodeError, ValueError) as exc:
            return self.invalid(f"request body is not valid JSON: {exc}", raw)
        if body.get("anthropic_version") != ANTHROPIC_VERSION:
            return self.invalid(f"anthropic_version: must be '{ANTHROPIC_VERSION}'", raw)
        if "model" in body:
            return self.invalid("model: Extra inputs are not permitted", raw)
        body = {**body, "model": model}
        del body["anthropic_version"]
        try:
            payload, summary = provider.anthropic_answer(n, body, now, api="vertex")
        except Exception as err:             # fakeprov's ApiError: its status, kind, message
            if not hasattr(err, "status"):
                raise
            return DoorReply(err.status, {"type": "error", "error": {"type": err.kind,
                                                                     "message": err.message}},
                             api="vertex", logged=raw)
        return DoorReply(200, payload, api="vertex", summary=summary, logged=raw)

    def rejected(self, payload, raw, status=401):
        with self.lock:
            self.counts["predict_rejected"] += 1
        return DoorReply(status, payload, api="vertex", logged=raw)

    @staticmethod
    def invalid(message, raw):
        return DoorReply(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                          "message": message}},
                         api="vertex", logged=raw)
