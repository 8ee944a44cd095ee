"""kind = "azure-openai" through the real daemon: warms on the deployments
path (api-version, api-key) and on the v1 API (chat and Responses), the
application's next request reading what the warms keep, prices, warmctl
test, and a rejected key reported as failing."""
import json
import os
import time
import unittest

from harness import SRC, Env, daemon_block, wait_for

TTL = 5
AZURE_KEY = "test-azure-key-1"
API_VERSION = "2024-10-21"
SYSTEM = ("You answer questions about the Trailhead 40 backpack for our shop's customers. " * 60)


def chat_template(question, model=None):
    body = {"messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": question}],
            "max_tokens": 300, "temperature": 0.3, "stream": True}
    if model:
        body = {"model": model, **body}
    return body


def config(env, targets, key_env="WARMD_TEST_AZURE_KEY"):
    return (daemon_block(env.path("warmd.sock"),
                         f'pricing_file = "{os.path.join(SRC, "config", "pricing.conf")}";') +
            f'providers = ( {{ name = "azure"; kind = "azure-openai"; base_url = "{env.fake.url}/"; '
            f'api_version = "{API_VERSION}"; api_key_env = "{key_env}"; }} );\n'
            "targets = (\n  " + ",\n  ".join(targets) + "\n);\n")


class AzureOpenAI(unittest.TestCase):
    def setUp(self):
        self.env = Env("--openai-ttl", str(TTL), "--azure-key", AZURE_KEY,
                       "--azure-deployment", "gpt-4o-support=gpt-4o",
                       "--azure-deployment", "gpt-5-support=gpt-5")
        self.env.write("deployment.json", json.dumps(chat_template("Is it waterproof?")))
        self.env.write("v1.json", json.dumps(chat_template("Is it waterproof?", "gpt-4o-support")))
        self.env.write("responses.json", json.dumps(
            {"model": "gpt-5-support", "instructions": SYSTEM,
             "input": [{"role": "user", "content": "Does it fit a 15-inch laptop?"}],
             "max_output_tokens": 500}))

    def tearDown(self):
        self.env.close()

    def azure_requests(self):
        return [e for e in self.env.fake.state()["log"] if e["api"] == "azure"]

    def test_warms_keep_the_cache_the_application_reads(self):
        targets = [f'{{ name = "dep"; request_file = "deployment.json"; ttl = {TTL}; '
                   'deployment = "gpt-4o-support"; }',
                   f'{{ name = "v1"; request_file = "v1.json"; ttl = {TTL}; }}',
                   f'{{ name = "resp"; request_file = "responses.json"; ttl = {TTL}; }}']
        w = self.env.warmd(config(self.env, targets), env={"WARMD_TEST_AZURE_KEY": AZURE_KEY})
        time.sleep(3 * TTL + 1)
        writes = {}
        for name in ("dep", "v1", "resp"):
            t = w.target(name)
            self.assertEqual(t["state"], "warm", t)
            writes[name] = t["writes"]
            self.assertGreaterEqual(t["hits"], 2, t)
            self.assertEqual(t["errors"], 0, t)
            self.assertIsNotNone(t["cost_usd"], t)          # azure-openai/gpt-4o prices gpt-4o-support
        # The deployments target and the v1 target send the same prompt to the
        # same deployment: one cache entry, written once (by whichever went
        # first; the other reads it) and never dead.
        self.assertEqual((writes["dep"] + writes["v1"], writes["resp"]), (1, 1), writes)
        entries = [e for e in self.env.fake.state()["entries"] if e["writes"]]
        self.assertEqual(len(entries), 2, entries)
        for e in entries:
            self.assertEqual((e["writes"], e["dead_s"]), (1, 0), e)
        sent = self.azure_requests()
        self.assertTrue(all(e["status"] == 200 for e in sent), sent)
        bodies = [json.loads(e["body"]) for e in sent]
        for b in bodies:
            self.assertFalse(b.get("stream"), b)
            self.assertIn(b.get("max_tokens", b.get("max_output_tokens")), (1, 16), b)
        # Exactly the application's body but the minimal fields: no model on
        # the deployments path (the URL names it), the template's on v1.
        self.assertTrue(any("model" not in b and b.get("messages") for b in bodies))
        self.assertTrue(any(b.get("model") == "gpt-4o-support" for b in bodies))

        # The application's next request: the same prefix, a new question.
        path = f"/openai/deployments/gpt-4o-support/chat/completions?api-version={API_VERSION}"
        status, resp = self.env.fake.post(path, {**chat_template("What does it weigh?"),
                                                 "stream": False},
                                          {"api-key": AZURE_KEY})
        self.assertEqual(status, 200, resp)
        self.assertGreaterEqual(resp["usage"]["prompt_tokens_details"]["cached_tokens"], 1024)
        status, resp = self.env.fake.post(
            "/openai/v1/responses",
            {"model": "gpt-5-support", "instructions": SYSTEM,
             "input": [{"role": "user", "content": "And a 16-inch one?"}]},
            {"api-key": AZURE_KEY})
        self.assertEqual(status, 200, resp)
        self.assertGreaterEqual(resp["usage"]["input_tokens_details"]["cached_tokens"], 1024)

        rc, out = w.ctl_json("test", "dep", "-n", "2")
        self.assertEqual(rc, 0, out)
        self.assertEqual(out["data"]["hit_rate"], 1.0, out)

    def test_a_wrong_key_is_failing_with_the_reason(self):
        targets = [f'{{ name = "dep"; request_file = "deployment.json"; ttl = {TTL}; '
                   'deployment = "gpt-4o-support"; }']
        w = self.env.warmd(config(self.env, targets), env={"WARMD_TEST_AZURE_KEY": "not-the-key"})
        t = wait_for(lambda: (lambda t: t if t["state"] == "failing" else None)(w.target("dep")),
                     10, what="failing")
        self.assertIn("401", t["last_error"])
        self.assertIn("Access denied due to invalid subscription key", t["last_error"])
        self.assertIn("rejected the API key", t["reason"])
        prov = w.status()["daemon"]["providers"][0]
        self.assertTrue(prov["credential_failed"], prov)
        n = len(self.azure_requests())
        time.sleep(TTL)
        self.assertEqual(len(self.azure_requests()), n)     # no more warms with that key

    def test_a_bad_api_version_is_reported(self):
        targets = [f'{{ name = "dep"; request_file = "deployment.json"; ttl = {TTL}; '
                   'deployment = "gpt-4o-support"; }']
        text = config(self.env, targets).replace(API_VERSION, "2019-01-01")
        w = self.env.warmd(text, env={"WARMD_TEST_AZURE_KEY": AZURE_KEY})
        t = wait_for(lambda: (lambda t: t if t["state"] == "failing" else None)(w.target("dep")),
                     10, what="failing")
        self.assertIn("HTTP 400 BadRequest: API version not supported", t["last_error"])


if __name__ == "__main__":
    unittest.main()
