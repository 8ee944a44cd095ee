"""State across restarts: a restart neither re-warms a still-warm prefix nor
forgets counters, pauses and touches; a file that is not a warmd state file
is moved aside, while a bad entry in a good one costs only that entry (or
only its bad fields); absurd numbers from outside never reach the file."""
import json
import os
import shutil
import signal
import socket
import time
import unittest

from harness import SRC, Env, daemon_block, provider_block, wait_for

TTL = 30


def conf(env, ttl=TTL, sock="warmd.sock", extra_targets=""):
    return (daemon_block(env.path(sock), f'touch_socket = "{env.path("touch.sock")}";') +
            provider_block(env.fake) +
            'targets = (\n'
            f'  {{ name = "support-bot"; provider = "anthropic"; request_file = "support-bot.json"; ttl = {ttl}; }},\n'
            f'  {{ name = "oai-bot"; provider = "openai"; request_file = "openai-chat.json"; ttl = {ttl}; }}'
            f'{extra_targets}\n'
            ');\n')


class State(unittest.TestCase):
    def setUp(self):
        self.env = self.new_env()

    @staticmethod
    def new_env(*fake_args):
        env = Env("--ttl-5m", str(TTL), "--openai-ttl", str(TTL), *fake_args)
        # prices, so that cost_usd and saved_usd are figures (pricing.conf beside warmd.conf)
        shutil.copy(os.path.join(SRC, "config", "pricing.conf"), env.dir)
        return env

    def tearDown(self):
        self.env.close()

    def test_restart_keeps_warm_targets_warm_without_a_request(self):
        text = conf(self.env)
        w = self.env.warmd(text)
        wait_for(lambda: all(t["state"] == "warm" for t in w.status()["targets"]), 5, what="warm")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b"support-bot hit", self.env.path("touch.sock"))
        s.close()
        wait_for(lambda: w.target("support-bot")["touches"] == 1, 3, what="touch")
        self.assertEqual(w.ctl("pause", "oai-bot")[0], 0)
        before = {t["name"]: t for t in w.status()["targets"]}
        rc, _ = w.stop()
        self.assertEqual(rc, 0)
        state = json.load(open(self.env.path("state.json")))
        self.assertEqual(state["format"], "warmd-state")
        self.assertEqual(set(state["targets"]), {"support-bot", "oai-bot"})
        n = self.env.fake.state()["requests"]["total"]

        w2 = self.env.warmd(text, name="warmd")
        time.sleep(12)
        self.assertEqual(self.env.fake.state()["requests"]["total"], n,
                         "a restart re-warmed a prefix that was still warm")
        after = {t["name"]: t for t in w2.status()["targets"]}
        sb = after["support-bot"]
        self.assertEqual(sb["state"], "warm")
        self.assertAlmostEqual(sb["last_refresh"], before["support-bot"]["last_refresh"], places=2)
        self.assertEqual(sb["warms"], before["support-bot"]["warms"])
        self.assertEqual(sb["touches"], 1)
        self.assertEqual(after["oai-bot"]["state"], "paused")
        self.assertIn("state restored", w2.log())

    def test_changed_template_is_warmed_after_restart(self):
        text = conf(self.env)
        w = self.env.warmd(text)
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 5, what="warm")
        warms = w.target("support-bot")["warms"]
        w.stop()
        tmpl = json.load(open(self.env.path("support-bot.json")))
        tmpl["system"][0]["text"] += " Version two."
        with open(self.env.path("support-bot.json"), "w") as f:
            json.dump(tmpl, f)
        w2 = self.env.warmd(text)
        wait_for(lambda: w2.target("support-bot")["warms"] == warms + 1, 5,
                 what="the new version warmed")
        self.assertEqual(w2.target("support-bot")["writes"], 2)

    def corrupt_files(self):
        return [n for n in os.listdir(self.env.dir) if n.startswith("state.json.corrupt-")]

    def test_corrupt_state_is_moved_aside(self):
        # Only a file that is not a warmd state file of this format at all.
        w = None
        for garbage in (b"\x00\x01garbage", b'{"format":"something-else"}', b"[]",
                        b'{"format":"warmd-state","format_version":2,"targets":{}}',
                        b'{"format":"warmd-state","format_version":1,"targets":[]}'):
            if w:
                w.stop()
            for n in self.corrupt_files():
                os.unlink(self.env.path(n))
            with open(self.env.path("state.json"), "wb") as f:
                f.write(garbage)
            w = self.env.warmd(conf(self.env))
            self.assertEqual(len(self.corrupt_files()), 1, garbage)
        self.assertIn("starting fresh", w.log())
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 5, what="warm")

    def restart_and_check(self, sock="warmd2.sock", extra_targets="", names=("support-bot", "oai-bot")):
        """Restarts warmd on the state file the last one left (paused --all, so
        no warm moves a counter): every saved target comes back as saved."""
        with open(self.env.path("state.json")) as f:
            saved = json.load(f)["targets"]
        self.assertEqual(set(saved), set(names))
        for name, e in saved.items():
            self.assertGreaterEqual(e["cost_pico_usd"], 0, name)
            self.assertGreaterEqual(e["saved_pico_usd"], 0, name)
        w = self.env.warmd(conf(self.env, sock=sock, extra_targets=extra_targets),
                           name=sock.split(".")[0])
        self.assertEqual(self.corrupt_files(), [], w.log())
        self.assertIn(f"state restored from {self.env.path('state.json')}: {len(names)} targets",
                      w.log())
        after = {t["name"]: t for t in w.status()["targets"]}
        for name, e in saved.items():
            a = after[name]
            for k in ("warms", "hits", "writes", "errors", "touches"):
                self.assertEqual(a[k], e[k], f"{name}.{k}")
            self.assertAlmostEqual(a["cost_usd"], e["cost_pico_usd"] / 1e12, places=6)
            self.assertAlmostEqual(a["saved_usd"], e["saved_pico_usd"] / 1e12, places=6)
            self.assertEqual(a["state"], "paused")
        return w, saved

    def test_absurd_touch_keeps_every_target(self):
        # Issue 10: cached=3000000000000 overflowed the saving (UBSan in
        # pricing.c), status showed it negative, the state file stored it and
        # the next start moved the whole file aside: every target went cold.
        w = self.env.warmd(conf(self.env))
        wait_for(lambda: all(t["state"] == "warm" for t in w.status()["targets"]), 5, what="warm")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b"support-bot hit cached=3000000000000", self.env.path("touch.sock"))
        s.close()
        wait_for(lambda: w.status()["daemon"]["touches_dropped"] == 1, 3, what="the touch dropped")
        self.assertIn("cached=3000000000000 is out of range: at most 100000000 tokens", w.log())
        rc, out, err = w.ctl("touch", "support-bot", "--hit", "--cached", "3000000000000")
        self.assertNotEqual(rc, 0)
        self.assertIn('"cached" must be an integer from 0 to 100000000', out + err)
        self.assertEqual(w.target("support-bot")["touches"], 0)
        # The bound itself is a (huge) real request: a saving, never negative.
        rc, out, err = w.ctl("touch", "support-bot", "--hit", "--cached", "100000000")
        self.assertEqual(rc, 0, err)
        sb = w.target("support-bot")
        self.assertEqual(sb["touches"], 1)
        self.assertGreater(sb["saved_usd"], 0)
        self.assertEqual(w.ctl("pause", "--all")[0], 0)
        self.assertEqual(w.stop()[0], 0)
        w2, saved = self.restart_and_check()
        self.assertGreater(saved["support-bot"]["saved_pico_usd"], 0)
        self.assertGreater(saved["support-bot"]["warms"], 0)

    def test_absurd_usage_keeps_every_target(self):
        # A provider answering usage counts of 3e12 tokens: a protocol error
        # of the answer, not a bill (issue 10).
        self.env.close()
        self.env = self.new_env("--usage-tokens", "3000000000000")
        w = self.env.warmd(conf(self.env))
        wait_for(lambda: all(t["errors"] >= 1 for t in w.status()["targets"]), 10,
                 what="both answers refused")
        for t in w.status()["targets"]:
            self.assertIn("= 3000000000000 is more than 100000000 tokens", t["last_error"] or "",
                          t["name"])
            self.assertEqual(t["cost_usd"], 0, t["name"])
        self.assertEqual(w.ctl("pause", "--all")[0], 0)
        self.assertEqual(w.stop()[0], 0)
        self.restart_and_check()

    def test_bad_entry_costs_only_that_entry(self):
        with open(self.env.path("support-bot.json")) as f:
            tmpl = json.load(f)
        tmpl["system"][0]["text"] = "FAQ. " + tmpl["system"][0]["text"]
        with open(self.env.path("faq-bot.json"), "w") as f:
            json.dump(tmpl, f)
        extra = (f',\n  {{ name = "faq-bot"; provider = "anthropic"; request_file = "faq-bot.json"; '
                 f'ttl = {TTL}; }}')
        w = self.env.warmd(conf(self.env, extra_targets=extra))
        wait_for(lambda: all(t["state"] == "warm" for t in w.status()["targets"]), 5, what="warm")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for name in (b"support-bot", b"oai-bot", b"oai-bot"):
            s.sendto(name + b" hit", self.env.path("touch.sock"))
        s.close()
        wait_for(lambda: w.target("oai-bot")["touches"] == 2, 3, what="touches")
        self.assertEqual(w.ctl("pause", "--all")[0], 0)
        self.assertEqual(w.stop()[0], 0)

        # By hand: one entry is not an object at all, one has bad numbers and
        # times among good fields, one belongs to a target no longer there.
        with open(self.env.path("state.json")) as f:
            state = json.load(f)
        good = dict(state["targets"]["support-bot"])
        oai = state["targets"]["oai-bot"]
        oai.update(warms="lots", saved_pico_usd=-5, cost_pico_usd="COST", last_touch=1e300,
                   touch_history=[1796000000, -1796000001], expires_at=4000000000)
        state["targets"]["faq-bot"] = [1, 2, 3]
        state["targets"]["gone"] = {"warms": -1}
        text = json.dumps(state).replace('"COST"', "18446744073709551615")
        with open(self.env.path("state.json"), "w") as f:
            f.write(text)

        w2 = self.env.warmd(conf(self.env, sock="warmd2.sock", extra_targets=extra), name="warmd2")
        log = w2.log()
        self.assertEqual(self.corrupt_files(), [], log)
        self.assertIn("state restored from", log)
        after = {t["name"]: t for t in w2.status()["targets"]}
        # the good entry, whole
        for k in ("warms", "hits", "writes", "errors", "touches"):
            self.assertEqual(after["support-bot"][k], good[k], k)
        self.assertAlmostEqual(after["support-bot"]["cost_usd"], good["cost_pico_usd"] / 1e12,
                               places=6)
        self.assertEqual(after["support-bot"]["last_refresh"], good["last_refresh"])
        # the bad fields at their defaults, the rest of that entry kept
        o = after["oai-bot"]
        self.assertEqual(o["warms"], 0)
        self.assertEqual(o["saved_usd"], 0)
        self.assertEqual(o["cost_usd"], 0)
        self.assertEqual(o["hits"], oai["hits"])
        self.assertEqual(o["touches"], 2)
        self.assertIsNone(o["expires_at"])  # what it knew of the cache is gone
        self.assertEqual(o["state"], "paused")
        # one warning per bad entry, naming the target and what was wrong
        lines = [l for l in log.splitlines() if "state file" in l]
        oai_lines = [l for l in lines if "target oai-bot" in l]
        self.assertEqual(len(oai_lines), 1, lines)
        for what in ('warms = "lots" is not an integer from 0 to 9007199254740991',
                     "saved_pico_usd = -5 is not an integer from 0 to 4000000000000000000",
                     "cost_pico_usd = 18446744073709551615 is not an integer",
                     "last_touch = 1e+300 is not a Unix time",
                     "touch_history[1] = -1796000001 is not a time",
                     "expires_at = 4000000000 is too far in the future"):
            self.assertIn(what, oai_lines[0])
        faq_lines = [l for l in lines if "target faq-bot" in l]
        self.assertEqual(len(faq_lines), 1, lines)
        self.assertIn("entry dropped", faq_lines[0])
        self.assertEqual(after["faq-bot"]["warms"], 0)
        self.assertFalse(any("gone" in l for l in lines), lines)
        # and the next file written is clean again
        self.assertEqual(w2.stop()[0], 0)
        with open(self.env.path("state.json")) as f:
            state = json.load(f)
        self.assertEqual(set(state["targets"]), {"support-bot", "oai-bot", "faq-bot"})
        self.assertEqual(state["targets"]["oai-bot"]["saved_pico_usd"], 0)
        self.assertEqual(self.corrupt_files(), [])

    def test_state_is_written_while_running(self):
        w = self.env.warmd(conf(self.env))
        wait_for(lambda: os.path.exists(self.env.path("state.json")), 10, what="a state file")
        state = json.load(open(self.env.path("state.json")))
        self.assertGreaterEqual(state["targets"]["support-bot"]["warms"], 1)
        # Atomic writes leave no temp files behind.
        time.sleep(1)
        self.assertEqual([n for n in os.listdir(self.env.dir) if ".tmp." in n], [])


if __name__ == "__main__":
    unittest.main()
