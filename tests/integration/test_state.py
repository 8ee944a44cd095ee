"""State across restarts: a restart neither re-warms a still-warm prefix nor
forgets counters, pauses and touches; a corrupt state file is moved aside."""
import json
import os
import signal
import socket
import time
import unittest

from harness import Env, daemon_block, provider_block, wait_for

TTL = 30


def conf(env, ttl=TTL):
    return (daemon_block(env.path("warmd.sock"), f'touch_socket = "{env.path("touch.sock")}";') +
            provider_block(env.fake) +
            'targets = (\n'
            f'  {{ name = "support-bot"; provider = "anthropic"; request_file = "support-bot.json"; ttl = {ttl}; }},\n'
            f'  {{ name = "oai-bot"; provider = "openai"; request_file = "openai-chat.json"; ttl = {ttl}; }}\n'
            ');\n')


class State(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL), "--openai-ttl", str(TTL))

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

    def test_corrupt_state_is_moved_aside(self):
        with open(self.env.path("state.json"), "w") as f:
            f.write('{"format":"warmd-state","format_version":1,"targets":{"x":{"warms":"lots"}}}')
        w = self.env.warmd(conf(self.env))
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 5, what="warm")
        aside = [n for n in os.listdir(self.env.dir) if n.startswith("state.json.corrupt-")]
        self.assertEqual(len(aside), 1)
        self.assertIn("malformed", w.log())
        for garbage in (b"\x00\x01garbage", b'{"format":"something-else"}', b"[]"):
            w.stop()
            for n in os.listdir(self.env.dir):
                if n.startswith("state.json.corrupt-"):
                    os.unlink(self.env.path(n))
            with open(self.env.path("state.json"), "wb") as f:
                f.write(garbage)
            w = self.env.warmd(conf(self.env))
            self.assertTrue(any(n.startswith("state.json.corrupt-")
                                for n in os.listdir(self.env.dir)), garbage)

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
