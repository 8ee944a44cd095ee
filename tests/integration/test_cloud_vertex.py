"""Claude on Vertex AI (kind "vertex") through the real daemon, against the
fake provider's Google door: OAuth2 tokens of a service account whose key
pair openssl makes at test time (none is committed), the JWT checked by the
fake with the public key, rawPredict in front of the Anthropic cache.

Warms read the cache after the first write and the application's next
request reads it; tokens are refreshed before they expire without a failed
warm; a key the token endpoint does not know makes the target `failing`
with the endpoint's reason; no piece of a token, an assertion or the
private key reaches what an operator reads (log, status, state file,
metrics, warmctl's answers), even from endpoints that echo them.
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import SRC, Env, daemon_block, wait_for

TTL = 6
EMAIL = "warmd@example-project.iam.gserviceaccount.com"
PROJECT = "example-project"
MODEL = "claude-sonnet-4-5@20250929"
PATH = (f"/v1/projects/{PROJECT}/locations/us-east5/publishers/anthropic/models/"
        f"{MODEL}:rawPredict")
PIECE = 10
KEYS = {}   # name -> (private PEM path, public PEM path), made in setUpModule


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def setUpModule():
    if not shutil.which("openssl"):
        raise unittest.SkipTest("needs the openssl command to make the test keys")
    d = tempfile.mkdtemp(prefix="warmd-vertex-keys-")
    unittest.addModuleCleanup(shutil.rmtree, d, True)
    for name in ("good", "other"):
        key, pub = os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.pub")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key)
        openssl("pkey", "-in", key, "-pubout", "-out", pub)
        KEYS[name] = (key, pub)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pieces(text, n=PIECE):
    return {text[i:i + n] for i in range(len(text) - n + 1)}


class Vertex(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL), "--vertex-account", f"{EMAIL}={KEYS['good'][1]}",
                       "--vertex-project", PROJECT)
        with open(self.env.path("support-bot.json")) as f:
            tmpl = json.load(f)
        del tmpl["model"]
        self.template = {"anthropic_version": "vertex-2023-10-16", **tmpl}
        self.env.write("vertex-support.json", json.dumps(self.template, indent=2))
        self.write_sa("good")

    def tearDown(self):
        self.env.close()

    # ---------------------------------------------------------------- helpers

    def write_sa(self, key):
        with open(KEYS[key][0]) as f:
            pem = f.read()
        sa = {"type": "service_account", "project_id": PROJECT, "private_key_id": "kid-0001",
              "private_key": pem, "client_email": EMAIL, "client_id": "123456789012345678901",
              "token_uri": self.env.fake.url + "/token"}
        self.env.write("sa.json", json.dumps(sa, indent=2))
        os.chmod(self.env.path("sa.json"), 0o600)

    def conf(self, daemon_extra=""):
        return (daemon_block(self.env.path("warmd.sock"),
                             f'pricing_file = "{SRC}/config/pricing.conf"; {daemon_extra}') +
                "providers = (\n"
                f'  {{ name = "vertex"; kind = "vertex"; project = "{PROJECT}"; '
                f'region = "us-east5"; base_url = "{self.env.fake.url}"; '
                'service_account_file = "sa.json"; }\n);\n'
                "targets = (\n"
                '  { name = "support-bot"; provider = "vertex"; '
                f'request_file = "vertex-support.json"; model = "{MODEL}"; ttl = {TTL}; }}\n'
                ");\n")

    def door(self, **update):
        if update:
            req = urllib.request.Request(self.env.fake.url + "/_fake/vertex",
                                         data=json.dumps(update).encode(), method="POST",
                                         headers={"content-type": "application/json"})
            urllib.request.urlopen(req, timeout=5).read()
        return self.env.fake.state()["doors"]["vertex"]

    def app_token(self):
        """A token of the application's own, as Google's client libraries get one."""
        now = int(time.time())
        header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        claims = b64url(json.dumps({
            "iss": EMAIL, "scope": "https://www.googleapis.com/auth/cloud-platform",
            "aud": self.env.fake.url + "/token", "iat": now, "exp": now + 3600}).encode())
        signed = f"{header}.{claims}"
        sig = b64url(openssl("dgst", "-sha256", "-sign", KEYS["good"][0], data=signed.encode()))
        form = f"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={signed}.{sig}"
        req = urllib.request.Request(self.env.fake.url + "/token", data=form.encode(),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.load(r)["access_token"]

    def warm_cost(self, w, inp, write, read):
        """What the warms the fake saw cost at these USD/MTok prices (none in flight)."""
        while True:
            before = self.env.fake.state()["log"]
            warms = w.target("support-bot")["warms"]
            sent = sum(1 for e in before if e["api"] == "vertex")
            if self.env.fake.state()["log"] == before and sent == warms:
                break
        return sum(e["input"] * inp + e["write"] * write + e["read"] * read
                   for e in before if e["api"] == "vertex") / 1e6

    def provider(self, w):
        return next(p for p in w.status()["daemon"]["providers"] if p["name"] == "vertex")

    # ---------------------------------------------------------------- tests

    def test_warms_read_the_cache_and_the_application_reads_it(self):
        w = self.env.warmd(self.conf())
        wait_for(lambda: w.target("support-bot")["hits"] >= 2, 30, what="two hits")
        t = w.target("support-bot")
        self.assertEqual((t["state"], t["writes"], t["errors"]), ("warm", 1, 0), t)
        self.assertEqual(t["model"], MODEL)
        # Priced as Claude Sonnet 4.5 at a regional endpoint (10% over global).
        self.assertAlmostEqual(t["cost_usd"], self.warm_cost(w, 3.30, 4.125, 0.33), places=6)
        p = self.provider(w)
        self.assertEqual((p["kind"], p["credential_failed"]), ("vertex", False))
        door = self.door()
        self.assertEqual((door["tokens_issued"], door["token_refused"], door["predict_rejected"]),
                         (1, 0, 0))
        fake = self.env.fake.state()
        entries = [e for e in fake["entries"] if e["api"] == "vertex" and e["writes"]]
        self.assertEqual(len(entries), 1, fake["entries"])
        self.assertEqual((entries[0]["writes"], entries[0]["dead_s"], entries[0]["model"]),
                         (1, 0, MODEL))
        # The warm body is the template with max_tokens 0: the version in the
        # body, no model (the URL names it), nothing else touched.
        for entry in (e for e in fake["log"] if e["api"] == "vertex"):
            body = json.loads(entry["body"])
            self.assertEqual(body, {**self.template, "max_tokens": 0})
        # The application's next request, a new question: read from the cache.
        question = {**self.template, "messages": [{"role": "user",
                                                   "content": "Do you ship to Norway?"}]}
        status, body = self.env.fake.post(PATH, question,
                                          {"authorization": f"Bearer {self.app_token()}"})
        self.assertEqual(status, 200, body)
        self.assertGreater(body["usage"]["cache_read_input_tokens"], 1024)
        self.assertEqual(body["usage"]["cache_creation_input_tokens"], 0)
        # warmctl test, metrics and audit know the kind.
        rc, out, err = w.ctl("--json", "test", "support-bot", "-n", "2")
        self.assertEqual(rc, 0, (out, err))
        probe = json.loads(out)["data"]
        self.assertEqual([r["result"] for r in probe["requests"]], ["hit", "hit"])
        self.assertIsNotNone(probe["cost_hit_usd"])
        rc, out, _ = w.ctl("metrics")
        self.assertIn('provider="vertex"', out)
        rc, out, err = w.ctl("audit")
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("support-bot", out)
        self.assertIn("provider vertex: access token for " + EMAIL, w.log())

    def test_tokens_refresh_before_expiry_without_a_failed_warm(self):
        self.door(token_ttl=20)   # refreshed at 16 s, used until 18 s
        w = self.env.warmd(self.conf())
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 15, what="warm")
        states = set()
        deadline = time.monotonic() + 52
        while time.monotonic() < deadline:
            t = w.target("support-bot")
            states.add(t["state"])
            self.assertEqual(t["errors"], 0, t)
            time.sleep(0.5)
        t = w.target("support-bot")
        door = self.door()
        self.assertGreaterEqual(door["tokens_issued"], 3, door)   # at 0, 16, 32 and 48 s
        self.assertLessEqual(door["tokens_issued"], 5, door)
        self.assertEqual((door["token_refused"], door["predict_rejected"]), (0, 0), door)
        self.assertEqual((t["errors"], t["writes"], t["last_error"]), (0, 1, None), t)
        self.assertGreaterEqual(t["hits"], 7, t)
        self.assertLessEqual(states, {"warm", "warming"})
        fake = self.env.fake.state()
        self.assertEqual(sum(e["writes"] for e in fake["entries"] if e["api"] == "vertex"), 1)

    def test_a_key_the_endpoint_does_not_know_is_failing_with_its_reason(self):
        self.write_sa("other")
        w = self.env.warmd(self.conf())
        wait_for(lambda: w.target("support-bot")["state"] == "failing", 20, what="failing")
        t, p = w.target("support-bot"), self.provider(w)
        self.assertTrue(p["credential_failed"], p)
        for text in (p["credential_error"], t["last_error"], t["reason"]):
            self.assertIn(f"/token refused the service account {EMAIL}: HTTP 400 invalid_grant: "
                          "Invalid JWT Signature.", text)
        door = self.door()
        self.assertEqual(door["token_refused"], 3, door)   # a few attempts, then no more
        self.assertEqual((door["tokens_issued"], door["predict"]), (0, 0), door)
        rc, out, err = w.ctl("test", "support-bot")
        self.assertNotEqual(rc, 0)
        self.assertIn("cannot be tested", out + err)
        self.assertIn("refused the service account", w.log())
        # The right key and a reload: a new key clears the rejection.
        self.write_sa("good")
        rc, out, err = w.ctl("reload")
        self.assertEqual(rc, 0, (out, err))
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 15, what="warm again")
        self.assertFalse(self.provider(w)["credential_failed"])
        self.assertEqual(self.door()["tokens_issued"], 1)

    def test_no_piece_of_a_secret_reaches_an_operator(self):
        prom, state = self.env.path("warmd.prom"), self.env.path("state.json")
        self.door(token_ttl=8)     # refreshed every 6.4 s: exchanges during the test
        w = self.env.warmd(self.conf(f'metrics_textfile = "{prom}"; '
                                     'metrics_textfile_interval = "1s";'))
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 15, what="warm")
        seen = {}
        # The token endpoint echoes the assertion in its refusals: three of
        # them reject the credential, whose reason and logs quote the echo.
        self.door(echo_assertion=True)
        wait_for(lambda: self.provider(w)["credential_failed"], 30, what="assertion refused")
        self.assertIn("[key]", self.provider(w)["credential_error"])
        seen["warmctl test (rejected)"] = "".join(w.ctl("test", "support-bot")[1:])
        # rawPredict echoes the token: a 401, the credential rejected again.
        self.door(echo_assertion=False, echo_token=True)
        seen["warmctl warm"] = "".join(w.ctl("warm", "support-bot")[1:])
        wait_for(lambda: self.door()["predict_rejected"] >= 1 and
                 self.provider(w)["credential_failed"], 30, what="token echoed")
        self.assertIn("HTTP 401 UNAUTHENTICATED", self.provider(w)["credential_error"])
        self.assertIn("[key]", self.provider(w)["credential_error"])
        st = w.status()
        seen["warmctl --json status"] = json.dumps(st)
        for args in (("status",), ("status", "support-bot"), ("metrics",), ("audit",),
                     ("--json", "audit"), ("versions", "support-bot")):
            seen["warmctl " + " ".join(args)] = "".join(w.ctl(*args)[1:])
        time.sleep(1.5)
        with open(prom) as f:
            seen["metrics textfile"] = f.read()
        rc, _ = w.stop()
        self.assertEqual(rc, 0)
        seen["warmd log"] = w.log()
        with open(state) as f:
            seen["state file"] = f.read()
        door = self.door()
        secrets = door["issued_tokens"] + door["assertions"]
        self.assertGreaterEqual(len(door["issued_tokens"]), 2, door)
        self.assertGreaterEqual(len(door["assertions"]), 5, door)
        with open(KEYS["good"][0]) as f:
            pem_lines = [line for line in f.read().splitlines() if "-----" not in line]
        secrets += pem_lines + ["".join(pem_lines)]
        banned = set().union(*(pieces(s) for s in secrets))
        for where, text in seen.items():
            with self.subTest(where=where):
                found = sorted(p for p in banned if p in text)
                self.assertEqual(found, [], f"{len(found)} pieces of a secret in {where}")
        self.assertIn("UNAUTHENTICATED", seen["state file"])


if __name__ == "__main__":
    unittest.main()
