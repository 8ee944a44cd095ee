"""kind = "gemini" through the real daemon: the implicit cache of
generateContent (warms read it after the first write, the application's
next request reads it), a wrong key reported as failing, and an explicit
cache (cachedContents) that warmd manages: created once, kept alive by ttl
updates only, its name in status and route, reused across a restart, let
expire when idle and created again once when traffic returns."""
import json
import os
import time
import unittest

from harness import SRC, Env, daemon_block, wait_for

TTL = 5
GEMINI_KEY = "test-gemini-key-1"
MODEL = "gemini-2.5-flash"
SYSTEM = {"parts": [{"text": "You answer questions about the Trailhead 40 backpack. " * 120}]}


def config(env, targets, provider_extra=""):
    return (daemon_block(env.path("warmd.sock"),
                         f'pricing_file = "{os.path.join(SRC, "config", "pricing.conf")}";') +
            f'providers = ( {{ name = "gemini"; base_url = "{env.fake.url}/v1beta"; '
            f'api_key_env = "WARMD_TEST_GEMINI_KEY"; {provider_extra} }} );\n'
            "targets = (\n  " + ",\n  ".join(targets) + "\n);\n")


def ask(question):
    return {"role": "user", "parts": [{"text": question}]}


class GeminiImplicit(unittest.TestCase):
    def setUp(self):
        self.env = Env("--gemini-key", GEMINI_KEY, "--gemini-ttl", str(TTL))
        self.env.write("generate.json", json.dumps(
            {"systemInstruction": SYSTEM,
             "contents": [ask("Is it waterproof?")],
             "generationConfig": {"temperature": 0.2, "maxOutputTokens": 800}}))

    def tearDown(self):
        self.env.close()

    def gemini_log(self):
        return [e for e in self.env.fake.state()["log"] if e["api"] == "gemini"]

    def test_warms_keep_the_implicit_cache(self):
        target = (f'{{ name = "support"; request_file = "generate.json"; ttl = {TTL}; '
                  f'model = "{MODEL}"; }}')
        w = self.env.warmd(config(self.env, [target]), env={"WARMD_TEST_GEMINI_KEY": GEMINI_KEY})
        time.sleep(3 * TTL + 1)
        t = w.target("support")
        self.assertEqual((t["state"], t["writes"], t["errors"]), ("warm", 1, 0), t)
        self.assertGreaterEqual(t["hits"], 2, t)
        self.assertEqual(t["model"], MODEL)
        self.assertIsNotNone(t["cost_usd"])
        entries = [e for e in self.env.fake.state()["entries"] if e["api"] == "gemini"]
        self.assertEqual(len(entries), 1, entries)
        self.assertEqual((entries[0]["writes"], entries[0]["dead_s"]), (1, 0), entries)
        sent = self.gemini_log()
        self.assertTrue(all(e["status"] == 200 for e in sent), sent)
        body = json.loads(sent[-1]["body"])
        # the application's body, but for the output budget (every other
        # generationConfig field kept)
        self.assertEqual(body["generationConfig"], {"temperature": 0.2, "maxOutputTokens": 1})
        self.assertEqual(body["contents"], [ask("Is it waterproof?")])

        # The application's next request: the same prefix, a new question.
        status, resp = self.env.fake.post(
            f"/v1beta/models/{MODEL}:generateContent",
            {"systemInstruction": SYSTEM, "contents": [ask("What does it weigh?")]},
            {"x-goog-api-key": GEMINI_KEY})
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["usageMetadata"]["cachedContentTokenCount"], t["prefix_tokens"])

        rc, out = w.ctl_json("test", "support", "-n", "2")
        self.assertEqual(rc, 0, out)
        self.assertEqual(out["data"]["hit_rate"], 1.0, out)

    def test_a_wrong_key_is_failing_with_the_reason(self):
        target = (f'{{ name = "support"; request_file = "generate.json"; ttl = {TTL}; '
                  f'model = "{MODEL}"; }}')
        w = self.env.warmd(config(self.env, [target]), env={"WARMD_TEST_GEMINI_KEY": "wrong"})
        t = wait_for(lambda: (lambda t: t if t["state"] == "failing" else None)(
            w.target("support")), 10, what="failing")
        # Google answers an unknown key with a 400: warmd still takes it for
        # a rejected key (API_KEY_INVALID), not for a bad request.
        self.assertIn("HTTP 400 INVALID_ARGUMENT: API key not valid", t["last_error"])
        self.assertIn("rejected the API key", t["reason"])
        self.assertTrue(w.status()["daemon"]["providers"][0]["credential_failed"])
        n = len(self.gemini_log())
        time.sleep(TTL)
        self.assertEqual(len(self.gemini_log()), n)


class GeminiExplicit(unittest.TestCase):
    TTL = 4

    def setUp(self):
        self.env = Env("--gemini-key", GEMINI_KEY)
        self.env.write("cache.json", json.dumps(
            {"model": f"models/{MODEL}", "displayName": "support-manual",
             "systemInstruction": SYSTEM,
             "contents": [ask("The Trailhead 40 manual: " + "straps, frame, lid. " * 200)],
             "ttl": f"{self.TTL}s"}))

    def tearDown(self):
        self.env.close()

    def doors(self):
        return self.env.fake.state()["doors"]["gemini"]

    def start(self, extra=""):
        target = f'{{ name = "manual"; request_file = "cache.json"; {extra} }}'
        return self.env.warmd(config(self.env, [target]),
                              env={"WARMD_TEST_GEMINI_KEY": GEMINI_KEY}, name="warmd")

    def test_created_once_kept_alive_by_ttl_updates(self):
        w = self.start()
        t = wait_for(lambda: (lambda t: t if t.get("cache_name") else None)(w.target("manual")),
                     10, what="a cache name")
        name = t["cache_name"]
        self.assertRegex(name, r"^cachedContents/")
        rc, route = w.ctl_json("route", "manual")
        self.assertEqual((rc, route["data"]["cache_name"]), (0, name))
        rc, out, _ = w.ctl("route", "manual")
        self.assertTrue(out.rstrip().endswith(f"cache {name}"), out)
        rc, out, _ = w.ctl("status", "manual")
        self.assertRegex(out, rf"\ncache_name: +{name}\n")
        time.sleep(3 * self.TTL + 1)
        d = self.doors()
        self.assertEqual((d["creates"], d["deletes"]), (1, 0), d)
        self.assertGreaterEqual(d["patches"], 3, d)
        self.assertEqual([c["name"] for c in d["caches"]], [name])
        t = w.target("manual")
        self.assertEqual((t["state"], t["writes"], t["errors"], t["cache_name"]),
                         ("warm", 1, 0, name), t)
        self.assertEqual(t["hits"], d["patches"])
        self.assertEqual(t["ttl_s"], self.TTL)
        self.assertGreater(t["cost_usd"], 0)                 # creation + storage
        # warmctl test renews the cache (a create would make another one)
        rc, out = w.ctl_json("test", "manual", "-n", "2")
        self.assertEqual(rc, 0, out)
        self.assertEqual([r["result"] for r in out["data"]["requests"]], ["hit", "hit"], out)
        self.assertEqual(self.doors()["creates"], 1)
        patches = [e for e in self.env.fake.state()["log"]
                   if e["api"] == "gemini" and e["body"].startswith('{"ttl"')]
        self.assertTrue(all(json.loads(e["body"]) == {"ttl": f"{self.TTL}s"} for e in patches))

        # The application's request names the cache and reads it.
        status, resp = self.env.fake.post(f"/v1beta/models/{MODEL}:generateContent",
                                          {"cachedContent": name,
                                           "contents": [ask("How do I adjust the frame?")]},
                                          {"x-goog-api-key": GEMINI_KEY})
        self.assertEqual(status, 200, resp)
        self.assertEqual(resp["usageMetadata"]["cachedContentTokenCount"], t["prefix_tokens"])

        # A restart renews the same cache: no second create.
        rc, _ = w.stop()
        self.assertEqual(rc, 0)
        w2 = self.start()
        self.assertEqual(w2.target("manual")["cache_name"], name)
        patches = self.doors()["patches"]
        time.sleep(2 * self.TTL)
        d = self.doors()
        self.assertEqual(d["creates"], 1, d)
        self.assertGreater(d["patches"], patches, d)
        self.assertEqual(w2.target("manual")["cache_name"], name)

    def test_idle_lets_it_expire_and_traffic_creates_it_again_once(self):
        w = self.start(extra='idle_limit = "6s";')
        wait_for(lambda: self.doors()["creates"] == 1, 10, what="the create")
        # No traffic: warms stop after idle_limit, the cache expires.
        wait_for(lambda: w.target("manual")["state"] == "idle", 20, what="idle")
        patches = self.doors()["patches"]
        wait_for(lambda: not self.doors()["caches"], self.TTL + 3, what="the cache to expire")
        time.sleep(2)
        self.assertEqual(self.doors()["patches"], patches)
        # Traffic returns: one create, then renewals.
        rc, out, err = w.ctl("touch", "manual")
        self.assertEqual(rc, 0, err)
        wait_for(lambda: self.doors()["creates"] == 2, 10, what="the cache again")
        time.sleep(self.TTL)
        d = self.doors()
        self.assertEqual(d["creates"], 2, d)
        self.assertEqual(len(d["caches"]), 1, d)
        t = w.target("manual")
        self.assertEqual(t["cache_name"], d["caches"][0]["name"])
        self.assertEqual(t["writes"], 2, t)

    def test_a_new_version_gets_a_new_cache_and_the_old_one_is_deleted(self):
        w = self.start(extra='version_overlap = "3s";')
        first = wait_for(lambda: w.target("manual").get("cache_name"), 10, what="a cache")
        with open(self.env.path("cache.json")) as f:
            body = json.load(f)
        body["contents"][0]["parts"][0]["text"] += " Version 2."
        self.env.write("cache.json", json.dumps(body))
        rc, out, err = w.ctl("reload")
        self.assertEqual(rc, 0, err)
        second = wait_for(lambda: (lambda n: n if n and n != first else None)(
            w.target("manual").get("cache_name")), 10, what="the new version's cache")
        # The old version is kept (and renewed) for its overlap, then deleted.
        wait_for(lambda: self.doors()["deletes"] == 1, 15, what="the old cache's delete")
        d = self.doors()
        self.assertEqual(d["creates"], 2, d)
        self.assertEqual([c["name"] for c in d["caches"]], [second])


if __name__ == "__main__":
    unittest.main()
