"""Touches: real traffic reported over the datagram socket or warmctl touch
restarts the TTL clock; bad datagrams are counted and dropped; idle_limit
stops warming after traffic stops."""
import socket
import time
import unittest

from harness import Env, daemon_block, provider_block, wait_for

TTL = 6


def conf(env, extra_target="", daemon_extra=""):
    sock = env.path("touch.sock")
    return (daemon_block(env.path("warmd.sock"), f'touch_socket = "{sock}"; {daemon_extra}') +
            provider_block(env.fake, openai=False) +
            'targets = ( { name = "support-bot"; provider = "anthropic"; '
            f'request_file = "support-bot.json"; ttl = {TTL}; {extra_target} }} );\n')


class Touch(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL))

    def tearDown(self):
        self.env.close()

    def send(self, payload):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(payload, self.env.path("touch.sock"))
        s.close()

    def test_datagram_touch_moves_the_next_warm(self):
        w = self.env.warmd(conf(self.env))
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 5, what="warm")
        time.sleep(2)
        before = w.target("support-bot")
        t0 = time.time()
        self.send(b"support-bot hit cached=3057 input=20")
        wait_for(lambda: w.target("support-bot")["touches"] == 1, 3, what="touch counted")
        after = w.target("support-bot")
        # The TTL clock restarted at the touch: about a TTL out from now.
        self.assertAlmostEqual(after["last_refresh"], t0, delta=0.5)
        self.assertAlmostEqual(after["expires_at"], t0 + TTL, delta=0.5)
        self.assertGreater(after["next_warm_at"], before["next_warm_at"] + 1.5)
        self.assertGreater(after["next_warm_at"], t0 + TTL - 1.5)
        self.assertEqual(self.env.fake.state()["requests"]["anthropic"], 1)

    def test_bad_datagrams_are_counted_and_dropped(self):
        w = self.env.warmd(conf(self.env))
        for bad in (b"", b"no/such target", b"support-bot cached=-1", b"\x00\xff\xfe",
                    b"support-bot bogus", b"unknown-target hit", b"x" * 4000):
            self.send(bad)
        wait_for(lambda: w.status()["daemon"]["touches_dropped"] == 7, 3, what="7 dropped")
        self.assertEqual(w.target("support-bot")["touches"], 0)
        self.assertIn("dropped a touch datagram", w.log())
        self.assertIsNone(w.proc.poll())

    def test_warmctl_touch(self):
        w = self.env.warmd(conf(self.env))
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 5, what="warm")
        rc, out, err = w.ctl("touch", "support-bot", "--hit", "--cached", "3057")
        self.assertEqual(rc, 0, err)
        self.assertIn("support-bot touched", out)
        self.assertEqual(w.target("support-bot")["touches"], 1)
        self.assertEqual(w.ctl("touch", "nope")[0], 1)
        self.assertEqual(w.ctl("touch")[0], 2)
        self.assertEqual(w.ctl("touch", "support-bot", "--cached", "x")[0], 2)

    def test_idle_limit_stops_warming_after_traffic_stops(self):
        w = self.env.warmd(conf(self.env, 'idle_limit = 8;'))
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 5, what="warm")
        # No traffic: warming stops once the next warm would come 8 s after the last touch.
        wait_for(lambda: w.target("support-bot")["next_warm_at"] is None, 12, what="no next warm")
        wait_for(lambda: w.target("support-bot")["state"] == "idle", 12, what="idle")
        n = self.env.fake.state()["requests"]["anthropic"]
        self.assertLessEqual(n, 3)
        self.assertIn("idle", w.target("support-bot")["reason"])
        # A touch brings it back.
        self.send(b"support-bot miss")
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 3, what="warm again")
        self.assertIsNotNone(w.target("support-bot")["next_warm_at"])


if __name__ == "__main__":
    unittest.main()
