"""Versions and rollouts through the real daemon: a reload that changes a
template warms the new version at once and keeps the replaced one warm for
its overlap (longer while touches name it); blue/green weights shift,
promote and roll back only once the versions they bring in are warm, persist
across a restart, and route splits by weight; warmctl test proves caching
for a template and shows which edits lose the cache."""
import json
import os
import subprocess
import time
import unittest

from harness import Env, daemon_block, provider_block, wait_for

TTL = 20


def variant(env, name, edit):
    with open(env.path("support-bot.json")) as f:
        t = json.load(f)
    edit(t)
    return env.write(name, json.dumps(t))


def system_tag(tag):
    def edit(t):
        t["system"][0]["text"] = tag + " " + t["system"][0]["text"]
    return edit


def requests_with(env, marker):
    return [e for e in env.fake.state()["log"] if marker in e["body"]]


class Overlap(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL))
        variant(self.env, "bot.json", lambda t: None)
        self.conf = (daemon_block(self.env.path("warmd.sock")) +
                     provider_block(self.env.fake, openai=False) +
                     'targets = ( { name = "bot"; provider = "anthropic"; request_file = '
                     f'"bot.json"; ttl = {TTL}; version_overlap = 5; }} );\n')

    def tearDown(self):
        self.env.close()

    def test_reload_warms_the_new_version_and_keeps_the_old_one_for_its_overlap(self):
        w = self.env.warmd(self.conf)
        wait_for(lambda: w.target("bot")["state"] == "warm", 5, what="warm")
        old = w.target("bot")["version"]
        variant(self.env, "bot.json", system_tag("V2."))
        t0 = time.monotonic()
        self.assertEqual(w.ctl("reload")[0], 0)
        wait_for(lambda: requests_with(self.env, "V2."), 2, step=0.02,
                 what="the new version's warm")
        self.assertLess(time.monotonic() - t0, 2)
        rc, v = w.ctl_json("versions", "bot")
        self.assertEqual(rc, 0)
        hashes = [x["version"] for x in v["data"]["versions"]]
        self.assertEqual(len(set(hashes)), 2, v)
        self.assertEqual(hashes[1], old)
        lane = f"bot@{old}"
        self.assertEqual(v["data"]["versions"][1]["lane"], lane)
        self.assertEqual(w.target(lane)["state"], "warm")
        self.assertNotEqual(w.target("bot")["version"], old)
        # a touch naming the old version keeps it around
        time.sleep(3)
        self.assertEqual(w.ctl("touch", lane, "--hit")[0], 0)
        time.sleep(3.5)
        self.assertIn(lane, [t["name"] for t in w.status()["targets"]])
        # then, with no touch for the overlap, it goes
        wait_for(lambda: lane not in [t["name"] for t in w.status()["targets"]], 5,
                 what="the replaced version to retire")
        self.assertIn("retired", w.log())
        rc, v = w.ctl_json("versions", "bot")
        self.assertEqual([x["state"] for x in v["data"]["versions"]], ["warm", "retired"])


class BlueGreenBase(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL))
        variant(self.env, "blue.json", system_tag("BLUE."))
        variant(self.env, "green.json", system_tag("GREEN."))
        self.conf = (daemon_block(self.env.path("warmd.sock")) +
                     provider_block(self.env.fake, openai=False) +
                     'targets = ( { name = "bot"; provider = "anthropic"; ttl = 20; versions = (\n'
                     '  { name = "blue"; request_file = "blue.json"; weight = 100; },\n'
                     '  { name = "green"; request_file = "green.json"; weight = 0; } ); } );\n')

    def tearDown(self):
        self.env.close()

    def weights(self, w):
        rc, v = w.ctl_json("versions", "bot")
        self.assertEqual(rc, 0, v)
        return {x["name"]: x["weight"] for x in v["data"]["versions"] if x["name"]}


class BlueGreen(BlueGreenBase):

    def test_shift_warms_before_it_answers_then_promote_rollback_route_restart(self):
        w = self.env.warmd(self.conf)
        wait_for(lambda: w.target("bot@blue")["state"] == "warm", 5, what="blue warm")
        time.sleep(0.5)
        self.assertEqual(requests_with(self.env, "GREEN."), [], "weight 0 was warmed")
        self.assertEqual(w.target("bot@green")["state"], "idle")
        # the shift is acknowledged only once green has been warmed
        rc, out, err = w.ctl("shift", "bot", "green", "10")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(requests_with(self.env, "GREEN.")), 1)
        self.assertEqual(w.target("bot@green")["state"], "warm")
        self.assertEqual(self.weights(w), {"blue": 90, "green": 10})
        self.assertIn("green 10%", out)
        # route splits by weight
        picks = [w.ctl_json("route", "bot")[1]["data"]["name"] for _ in range(300)]
        self.assertTrue(10 <= picks.count("green") <= 60, picks.count("green"))
        self.assertEqual(picks.count("green") + picks.count("blue"), 300)
        # promote: green takes everything (warm already: at once); rollback undoes it
        self.assertEqual(w.ctl("promote", "bot", "green")[0], 0)
        self.assertEqual(self.weights(w), {"blue": 0, "green": 100})
        self.assertEqual(w.ctl_json("route", "bot")[1]["data"]["lane"], "bot@green")
        self.assertEqual(w.ctl("rollback", "bot")[0], 0)
        self.assertEqual(self.weights(w), {"blue": 90, "green": 10})
        # a second rollback undoes the first, as --help says
        self.assertEqual(w.ctl("rollback", "bot")[0], 0)
        self.assertEqual(self.weights(w), {"blue": 0, "green": 100})
        self.assertEqual(w.ctl("rollback", "bot")[0], 0)
        self.assertEqual(self.weights(w), {"blue": 90, "green": 10})
        help_line = next(l for l in w.ctl("--help")[1].splitlines() if "rollback TARGET" in l)
        self.assertIn("rollback", help_line.split("rollback TARGET", 1)[1])
        # bad requests: unknown version, bad percent, a touch that does not say which
        rc, _, err = w.ctl("shift", "bot", "purple", "5")
        self.assertEqual(rc, 1)
        self.assertIn("no version named", err)
        self.assertEqual(w.ctl("shift", "bot", "green", "101")[0], 2)
        rc, _, err = w.ctl("touch", "bot")
        self.assertEqual(rc, 1)
        self.assertIn("bot@blue", err)
        self.assertEqual(w.ctl("touch", "bot@green", "--hit")[0], 0)
        # weights survive a restart
        self.assertEqual(w.stop()[0], 0)
        w2 = self.env.warmd(self.conf)
        self.assertEqual(self.weights(w2), {"blue": 90, "green": 10})

    def test_a_version_that_cannot_be_warmed_gets_no_traffic(self):
        w = self.env.warmd(self.conf)
        wait_for(lambda: w.target("bot@blue")["state"] == "warm", 5, what="blue warm")
        # the provider rejects the key now: the shift must be refused at once,
        # weights unchanged (a retryable error would be retried first)
        req = __import__("urllib.request").request
        req.urlopen(req.Request(self.env.fake.url + "/_fake/faults",
                                data=json.dumps({"reject_keys": True}).encode(), method="POST"),
                    timeout=5).read()
        rc, out, err = w.ctl("shift", "bot", "green", "50")
        self.assertEqual(rc, 1, out)
        self.assertIn("could not be warmed", err)
        self.assertEqual(self.weights(w), {"blue": 100, "green": 0})


def set_faults(env, **kw):
    req = __import__("urllib.request").request
    req.urlopen(req.Request(env.fake.url + "/_fake/faults", data=json.dumps(kw).encode(),
                            method="POST"), timeout=5).read()


    def test_an_operator_may_prewarm_a_version_out_of_rotation(self):
        w = self.env.warmd(self.conf)
        wait_for(lambda: w.target("bot@blue")["state"] == "warm", 5, what="blue warm")
        rc, out, err = w.ctl("warm", "bot@green")
        self.assertEqual(rc, 0, err)
        wait_for(lambda: requests_with(self.env, "GREEN."), 5, what="green's warm")
        self.assertEqual(w.target("bot@green")["state"], "warm")
        self.assertEqual(self.weights(w), {"blue": 100, "green": 0})
        # warm --all leaves versions out of rotation alone
        self.assertEqual(w.ctl("warm", "--all")[0], 0)
        time.sleep(0.5)
        self.assertEqual(len(requests_with(self.env, "GREEN.")), 1)
        # already warm: the shift answers without another warm
        self.assertEqual(w.ctl("shift", "bot", "green", "50")[0], 0)
        self.assertEqual(len(requests_with(self.env, "GREEN.")), 1)


class BlueGreenRetries(BlueGreenBase):
    def test_a_transient_failure_is_retried_before_the_answer(self):
        w = self.env.warmd(self.conf)
        wait_for(lambda: w.target("bot@blue")["state"] == "warm", 5, what="blue warm")
        set_faults(self.env, p_500=1.0)
        cmd = [__import__("harness").WARMCTL, "-s", w.socket, "shift", "bot", "green", "50"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        self.assertIsNone(proc.poll(), "answered before green was warm")
        set_faults(self.env, reset=True)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(self.weights(w), {"blue": 50, "green": 50})
        self.assertGreaterEqual(w.target("bot@green")["errors"], 1)

    def test_a_shift_whose_client_gave_up_is_not_applied(self):
        w = self.env.warmd(self.conf)
        wait_for(lambda: w.target("bot@blue")["state"] == "warm", 5, what="blue warm")
        set_faults(self.env, p_hang=1.0, hang_seconds=2)
        rc, _, err = w.ctl("shift", "bot", "green", "50", timeout=0.5)
        self.assertEqual(rc, 3, err)
        set_faults(self.env, reset=True)
        wait_for(lambda: "dropped: the client went away" in w.log(), 30,
                 what="the shift to be dropped")
        self.assertEqual(self.weights(w), {"blue": 100, "green": 0})


class VerificationTest(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL))
        variant(self.env, "bot.json", lambda t: None)
        self.ts = variant(self.env, "ts.json",
                          system_tag("Current time: 2026-11-30T09:14:03Z."))

        def new_question(t):
            t["messages"][-1]["content"] = "Something else entirely?"
        self.tail = variant(self.env, "tail.json", new_question)
        self.conf = (daemon_block(self.env.path("warmd.sock")) +
                     provider_block(self.env.fake, openai=False) +
                     'targets = ( { name = "bot"; provider = "anthropic"; request_file = '
                     f'"bot.json"; ttl = {TTL}; policy = "manual"; }} );\n')

    def tearDown(self):
        self.env.close()

    def test_write_then_hits_and_what_variants_keep(self):
        w = self.env.warmd(self.conf)
        rc, data = w.ctl_json("test", "bot", "-n", "5", "--variant", self.ts,
                              "--variant", self.tail)
        self.assertEqual(rc, 0, data)
        d = data["data"]
        self.assertEqual([r["result"] for r in d["requests"]],
                         ["write", "hit", "hit", "hit", "hit"])
        self.assertEqual(d["first_hit"], 2)
        self.assertEqual(d["hit_rate"], 0.8)
        self.assertGreater(d["requests"][0]["written_tokens"], 1024)
        self.assertEqual(d["requests"][1]["cached_tokens"], d["requests"][0]["written_tokens"])
        self.assertIsNotNone(d["latency_hit_ms"])
        self.assertIsNotNone(d["latency_write_ms"])
        ts, tail = d["variants"]
        self.assertEqual(ts["file"], self.ts)
        self.assertEqual(ts["kept_ratio"], 0)  # a timestamp at the top loses it all
        self.assertEqual(tail["kept_ratio"], 1)  # a new question after the breakpoint keeps it
        # the human rendering says the same (a new timestamp: that variant's own
        # entry from the run above does not help it)
        ts2 = variant(self.env, "ts2.json", system_tag("Current time: 2026-11-30T09:15:40Z."))
        rc, out, _ = w.ctl("test", "bot", "-n", "2", "--variant", ts2)
        self.assertEqual(rc, 0)
        self.assertIn("hit rate 100%", out)
        self.assertRegex(out, r"\n\s*0\s+0%\s+" + ts2)
        # usage and daemon-side errors
        self.assertEqual(w.ctl("test", "bot", "-n", "0")[0], 2)
        self.assertEqual(w.ctl("test", "nobody")[0], 1)
        rc, _, err = w.ctl("test", "bot", "--variant", self.env.write("bad.json", '{"model":1}'))
        self.assertEqual(rc, 1)
        self.assertIn("bad.json", err)
        self.assertEqual(len(self.env.fake.state()["log"]), 5 + 2 + 2 + 1)


if __name__ == "__main__":
    unittest.main()
