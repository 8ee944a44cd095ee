"""Amazon Bedrock through the real daemon: kind = "bedrock" against the fake
provider's Bedrock door, which recomputes every SigV4 signature from the
secret key as AWS does.

InvokeModel and Converse targets with a versioned model id (its ':' sent as
%3A and signed as %253A): warms read the cache after the first write and the
application's next request (same prefix, new question, sent by the test)
reads it; a wrong secret key leaves the target failing with AWS's own
reason; a session token rotated in the credentials file is picked up (and
one re-read on reload), a stated expiry holds the warms until the file is
renewed; a Bedrock API key as a bearer token; no piece of the secret key or
the session token reaches an operator, even from a door that echoes the token
back.

Credentials are obviously fake: access key ids "FAKEACCESSKEY...".
"""
import hashlib
import hmac
import json
import os
import random
import string
import subprocess
import time
import unittest
import urllib.parse
import urllib.request

from harness import SRC, WARMD, Env, daemon_block, environ_of, wait_for

TTL = 6
MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
PATH = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0"
ID = "FAKEACCESSKEY0000"
SECRET = "fake/Secret0Key0For0The0Bedrock0Tests0x"
BEARER = "fake-bedrock-api-key-0000000000000000"
SYSTEM = ("You are the support assistant of Example Outfitters (a fake company). "
          "Answer in the customer's language. " + "Policy: be kind and precise. " * 250)
NO_AWS_ENV = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
              "AWS_BEARER_TOKEN_BEDROCK": ""}
PIECE = 10


def fake_secret(seed, prefix="fake-"):
    rng = random.Random(seed)
    return prefix + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(60))


def invoke_template(question="Where is my order?"):
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 1024,
            "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": question}]}


def converse_template(question="Where is my order?"):
    return {"system": [{"text": SYSTEM}, {"cachePoint": {"type": "default"}}],
            "messages": [{"role": "user", "content": [{"text": question}]}],
            "inferenceConfig": {"maxTokens": 1024, "temperature": 0.2}}


def signed_headers(path, raw, host, key_id=ID, secret=SECRET, token=None):
    """An application's SigV4 headers, as the AWS SDKs make them."""
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    headers = {"host": host, "x-amz-date": amz}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    creq = "\n".join(["POST", urllib.parse.quote(path, safe="/-_.~"), ""] +
                     [f"{n}:{headers[n]}" for n in names] +
                     ["", ";".join(names), hashlib.sha256(raw).hexdigest()])
    scope = f"{amz[:8]}/us-east-1/bedrock/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (amz[:8], "us-east-1", "bedrock", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders="
                                f"{';'.join(names)}, Signature="
                                f"{hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()}")
    headers["content-type"] = "application/json"
    return headers


def credentials_file(env, key_id, secret, token=None, expiration=None, name="aws-credentials"):
    """Writes the AWS credentials file as the tools that rotate it do: a new file renamed over."""
    text = f"[warm]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    if token:
        text += f"aws_session_token = {token}\n"
    if expiration:
        text += f"aws_expiration = {expiration}\n"
    tmp = env.path(name + ".new")
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.rename(tmp, env.path(name))


def set_bedrock(env, **update):
    req = urllib.request.Request(env.fake.url + "/_fake/bedrock", data=json.dumps(update).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def set_faults(env, **faults):
    req = urllib.request.Request(env.fake.url + "/_fake/faults", data=json.dumps(faults).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def config(env, provider_keys, targets=("inv", "conv")):
    files = {"inv": "invoke.json", "conv": "converse.json"}
    return (daemon_block(env.path("warmd.sock"),
                         f'pricing_file = "{os.path.join(SRC, "config", "pricing.conf")}";') +
            "providers = (\n"
            f'  {{ name = "aws"; kind = "bedrock"; region = "us-east-1"; base_url = "{env.fake.url}"; '
            f"{provider_keys} }}\n);\n"
            "targets = (\n" +
            ",\n".join(f'  {{ name = "{t}"; model = "{MODEL}"; request_file = "{files[t]}"; '
                       f"ttl = {TTL}; }}" for t in targets) +
            "\n);\n")


def bedrock_log(env, api=None):
    return [e for e in env.fake.state()["log"] if e["api"] in ((api,) if api else
                                                               ("bedrock", "converse"))]


class BedrockBase(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL), "--aws-access-key-id", ID,
                       "--aws-secret-access-key", SECRET, "--bedrock-api-key", BEARER)
        self.env.write("invoke.json", json.dumps(invoke_template(), indent=1))
        self.env.write("converse.json", json.dumps(converse_template(), indent=1))

    def tearDown(self):
        self.env.close()

    def start(self, provider_keys, env=None, **kw):
        return self.env.warmd(config(self.env, provider_keys, **kw), env={**NO_AWS_ENV,
                                                                           **(env or {})})


class WarmAndRead(BedrockBase):
    def test_invoke_and_converse_warm_then_the_application_reads(self):
        credentials_file(self.env, ID, SECRET)
        w = self.start('aws_credentials_file = "aws-credentials"; aws_profile = "warm";')
        wait_for(lambda: all(t["state"] == "warm" for t in w.status()["targets"]), 15,
                 what="both targets warm")
        # Two more TTL windows: the warms read what the first one wrote.
        wait_for(lambda: all(t["hits"] >= 2 for t in w.status()["targets"]), 3 * TTL + 5,
                 what="two hits each")
        for t in w.status()["targets"]:
            self.assertEqual(t["writes"], 1, t)
            self.assertEqual(t["errors"], 0, t)
            self.assertIsNone(t["last_error"], t)
            self.assertEqual(t["model"], MODEL, t)
            self.assertGreater(t["cost_usd"], 0, t)   # priced from pricing.conf
        fake = self.env.fake.state()
        entries = {e["api"]: e for e in fake["entries"] if e["writes"]}
        self.assertEqual(sorted(entries), ["bedrock", "converse"])
        for e in entries.values():
            self.assertEqual((e["model"], e["writes"], e["dead_s"]), (MODEL, 1, 0), e)
        log = bedrock_log(self.env)
        self.assertTrue(all(e["status"] == 200 and e["auth"] == f"sigv4 {ID}" and
                            e["model"] == MODEL for e in log), log)
        self.assertEqual({e["max_tokens"] for e in log if e["api"] == "bedrock"}, {0})
        self.assertEqual({e["max_tokens"] for e in log if e["api"] == "converse"}, {1})
        # The application's next request: same prefix, a new question.
        host = urllib.parse.urlsplit(self.env.fake.url).netloc
        for api, body in (("invoke", invoke_template("And my refund?")),
                          ("converse", converse_template("And my refund?"))):
            raw = json.dumps(body).encode()
            req = urllib.request.Request(self.env.fake.url + f"{PATH}/{api}", data=raw,
                                         headers=signed_headers(f"{PATH}/{api}", raw, host),
                                         method="POST")
            with urllib.request.urlopen(req, timeout=10) as r:
                usage = json.load(r)["usage"]
            if api == "invoke":
                self.assertGreater(usage["cache_read_input_tokens"], 1024, usage)
                self.assertEqual(usage["cache_creation_input_tokens"], 0, usage)
            else:
                self.assertGreater(usage["cacheReadInputTokens"], 1024, usage)
                self.assertEqual(usage["cacheWriteInputTokens"], 0, usage)
        # warmctl test signs its requests too.
        rc, out, err = w.ctl("test", "inv", "-n", "2")
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("hit", out)
        rc, out, err = w.ctl("metrics")
        self.assertIn('target="conv"', out)


class WrongSecret(BedrockBase):
    def test_wrong_secret_key_fails_with_awss_reason(self):
        wrong = fake_secret(7, "fake/")
        credentials_file(self.env, ID, wrong)
        w = self.start('aws_credentials_file = "aws-credentials"; aws_profile = "warm";',
                       targets=("inv",))
        wait_for(lambda: w.target("inv")["state"] == "failing", 15, what="target failing")
        t = w.target("inv")
        self.assertIn("HTTP 403", t["last_error"])
        self.assertIn("The request signature we calculated does not match", t["last_error"])
        self.assertIn("rejected", t["reason"])
        provider = w.status()["daemon"]["providers"][0]
        self.assertTrue(provider["credential_failed"], provider)
        n = len(bedrock_log(self.env))
        time.sleep(TTL + 1)
        self.assertEqual(len(bedrock_log(self.env)), n)     # a rejected key is not hammered
        # Fixed in the file and reloaded: warm again.
        credentials_file(self.env, ID, SECRET)
        self.assertEqual(w.ctl("reload")[0], 0)
        wait_for(lambda: w.target("inv")["state"] == "warm", 15, what="warm after the fix")
        for text in (w.log(), json.dumps(w.status())):
            self.assertFalse([wrong[i:i + PIECE] for i in range(len(wrong) - PIECE + 1)
                              if wrong[i:i + PIECE] in text])


class Rotation(BedrockBase):
    def test_rotated_session_token_is_picked_up(self):
        a_id, a_secret, a_token = "FAKEACCESSKEY1111", fake_secret(11, "fake/"), fake_secret(12)
        b_id, b_secret, b_token = "FAKEACCESSKEY2222", fake_secret(21, "fake/"), fake_secret(22)
        c_id, c_secret, c_token = "FAKEACCESSKEY3333", fake_secret(31, "fake/"), fake_secret(32)
        cred = lambda i, s, t, expired=False: {"access_key_id": i, "secret_access_key": s,
                                               "session_token": t, "expired": expired}
        set_bedrock(self.env, credentials=[cred(a_id, a_secret, a_token)])
        credentials_file(self.env, a_id, a_secret, a_token)
        w = self.start('aws_credentials_file = "aws-credentials"; aws_profile = "warm";',
                       targets=("inv",))
        wait_for(lambda: w.target("inv")["state"] == "warm", 15, what="warm with session A")
        # STS hands out B; the file is rewritten before A expires.
        set_bedrock(self.env, credentials=[cred(a_id, a_secret, a_token),
                                           cred(b_id, b_secret, b_token)])
        credentials_file(self.env, b_id, b_secret, b_token)
        wait_for(lambda: bedrock_log(self.env)[-1]["auth"] == f"sigv4 {b_id}", 3 * TTL,
                 what="a warm signed with session B")
        set_bedrock(self.env, credentials=[cred(a_id, a_secret, a_token, expired=True),
                                           cred(b_id, b_secret, b_token)])
        hits = w.target("inv")["hits"]
        wait_for(lambda: w.target("inv")["hits"] >= hits + 2, 3 * TTL, what="two more hits")
        t = w.target("inv")
        self.assertEqual((t["state"], t["errors"], t["writes"]), ("warm", 0, 1), t)
        self.assertIn("new AWS credentials from aws_credentials_file", w.log())
        self.assertNotIn(f"sigv4 {a_id}",
                         [e["auth"] for e in bedrock_log(self.env)[-2:]])
        # A reload reads the file too: C is used by the very next warm.
        set_bedrock(self.env, credentials=[cred(b_id, b_secret, b_token),
                                           cred(c_id, c_secret, c_token)])
        credentials_file(self.env, c_id, c_secret, c_token)
        self.assertEqual(w.ctl("reload")[0], 0)
        n = len(bedrock_log(self.env))
        self.assertEqual(w.ctl("warm", "inv")[0], 0)
        wait_for(lambda: len(bedrock_log(self.env)) > n, 10, what="the warm after the reload")
        self.assertEqual(bedrock_log(self.env)[n]["auth"], f"sigv4 {c_id}")
        self.assertEqual(w.target("inv")["errors"], 0)

    def test_stated_expiry_holds_warms_until_the_file_is_renewed(self):
        a_id, a_secret, a_token = "FAKEACCESSKEY1111", fake_secret(41, "fake/"), fake_secret(42)
        b_id, b_secret, b_token = "FAKEACCESSKEY2222", fake_secret(51, "fake/"), fake_secret(52)
        set_bedrock(self.env, credentials=[
            {"access_key_id": a_id, "secret_access_key": a_secret, "session_token": a_token,
             "expired": True},
            {"access_key_id": b_id, "secret_access_key": b_secret, "session_token": b_token}])
        credentials_file(self.env, a_id, a_secret, a_token, expiration="2020-01-01T00:00:00Z")
        w = self.start('aws_credentials_file = "aws-credentials"; aws_profile = "warm";',
                       targets=("inv",))
        wait_for(lambda: "expired at 2020-01-01T00:00:00Z" in (w.target("inv")["last_error"] or ""),
                 10, what="the expired token reported")
        self.assertEqual(bedrock_log(self.env), [])      # nothing AWS would refuse was sent
        self.assertNotEqual(w.target("inv")["state"], "failing")
        credentials_file(self.env, b_id, b_secret, b_token, expiration="2999-01-01T00:00:00Z")
        wait_for(lambda: w.target("inv")["state"] == "warm", 15, what="warm once renewed")
        self.assertEqual([e["auth"] for e in bedrock_log(self.env)], [f"sigv4 {b_id}"])
        self.assertEqual(w.target("inv")["errors"], 0)


class BearerToken(BedrockBase):
    def test_bedrock_api_key_from_its_default_variable(self):
        w = self.start("", env={"AWS_BEARER_TOKEN_BEDROCK": BEARER})
        wait_for(lambda: all(t["state"] == "warm" for t in w.status()["targets"]), 15,
                 what="both targets warm with the API key")
        self.assertEqual({e["auth"] for e in bedrock_log(self.env)}, {"bearer"})
        environ = environ_of(w)
        if environ is None:
            self.skipTest("under valgrind /proc/PID/environ is valgrind's copy, not warmd's")
        self.assertNotIn(BEARER[5:20].encode(), environ)

    def test_no_credentials_at_all(self):
        text = config(self.env, "")
        cfg = self.env.write("check.conf", text)
        p = subprocess.run([WARMD, "--check-config", "-c", cfg], capture_output=True, text=True,
                           env={**os.environ, **NO_AWS_ENV}, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        line = next(n for n, l in enumerate(text.splitlines(), 1) if 'kind = "bedrock"' in l)
        self.assertIn(f'{cfg}:{line}: error: provider "aws": no credentials: set '
                      "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", p.stderr)


class Secrets(BedrockBase):
    """A door that echoes the session token back, and credentials from the
    environment: no piece of the secret key or the token reaches an operator."""

    def test_echoed_session_token_leaves_no_piece(self):
        secret, token = fake_secret(61, "fake/"), fake_secret(62)
        set_bedrock(self.env, credentials=[{"access_key_id": ID, "secret_access_key": secret,
                                            "session_token": token}])
        w = self.start("", env={"AWS_ACCESS_KEY_ID": ID, "AWS_SECRET_ACCESS_KEY": secret,
                                "AWS_SESSION_TOKEN": token})
        wait_for(lambda: all(t["state"] == "warm" for t in w.status()["targets"]), 15,
                 what="warm with session credentials from the environment")
        seen = {}
        environ = environ_of(w)
        if environ is not None:
            seen["/proc/PID/environ"] = environ.decode("latin-1")
        for style in ("html", "json"):
            set_faults(self.env, echo_key=style)
            for t in ("inv", "conv"):
                rc, out, err = w.ctl("test", t, "-n", "1")
                seen[f"warmctl test {t} ({style})"] = out + err
            set_faults(self.env, reset=True)
        self.assertIn("[key]", seen["warmctl test inv (json)"])
        set_faults(self.env, echo_key="json")
        self.assertEqual(w.ctl("warm", "inv")[0], 0)
        wait_for(lambda: w.status()["daemon"]["providers"][0]["credential_failed"], 10,
                 what="the echoing answer rejected the credential")
        for args in (("status",), ("--json", "status"), ("metrics",), ("audit",)):
            seen["warmctl " + " ".join(args)] = "".join(w.ctl(*args)[1:])
        self.assertEqual(w.stop()[0], 0)
        seen["warmd log"] = w.log()
        with open(self.env.path("state.json")) as f:
            seen["state file"] = f.read()
        for where, text in seen.items():
            for s in (secret, token):
                found = [s[i:i + PIECE] for i in range(len(s) - PIECE + 1) if s[i:i + PIECE] in text]
                self.assertEqual(found, [], f"pieces of a secret in {where}")
        if environ is None:
            self.skipTest("everything else checked; under valgrind /proc/PID/environ is "
                          "valgrind's copy, not warmd's")


if __name__ == "__main__":
    unittest.main()
