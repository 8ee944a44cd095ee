"""Money: each warm's cost comes from its usage and the price table, exactly;
saved_usd counts real requests that found the cache warm because of a warm."""
import json
import os
import shutil
import socket
import time
import unittest

from harness import SRC, Env, daemon_block, provider_block, wait_for

TTL = 4
# claude-sonnet-4-5 in config/pricing.conf, pico-USD per token
INPUT, WRITE, READ = 3_000_000, 3_750_000, 300_000


class Pricing(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL))
        shutil.copy(os.path.join(SRC, "config", "pricing.conf"), self.env.dir)

    def tearDown(self):
        self.env.close()

    def conf(self):
        return (daemon_block(self.env.path("warmd.sock"),
                             f'touch_socket = "{self.env.path("touch.sock")}";') +
                provider_block(self.env.fake, openai=False) +
                'targets = ( { name = "support-bot"; provider = "anthropic"; '
                f'request_file = "support-bot.json"; ttl = {TTL}; }} );\n')

    def test_cost_is_exact_and_savings_are_credited(self):
        w = self.env.warmd(self.conf())
        wait_for(lambda: w.target("support-bot")["hits"] >= 2, 12, what="two hits")
        w.ctl("pause", "support-bot")
        t = w.target("support-bot")
        pico = 0
        for e in self.env.fake.state()["log"]:
            pico += e["read"] * READ + e["write"] * WRITE + e["input"] * INPUT
        self.assertEqual(t["cost_usd"], round(pico / 1e12, 6))
        self.assertGreater(t["cost_usd"], 0)
        self.assertEqual(t["saved_usd"], 0)
        # A real request after more than a TTL of quiet found it warm thanks to warms.
        w.ctl("resume", "support-bot")
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 5, what="warm")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b"support-bot hit cached=3057", self.env.path("touch.sock"))
        wait_for(lambda: w.target("support-bot")["touches"] == 1, 3, what="touch")
        self.assertEqual(w.target("support-bot")["saved_usd"],
                         round(3057 * (WRITE - READ) / 1e12, 6))
        # Right after, traffic keeps it warm by itself: nothing more is credited.
        s.sendto(b"support-bot hit cached=3057", self.env.path("touch.sock"))
        wait_for(lambda: w.target("support-bot")["touches"] == 2, 3, what="touch")
        self.assertEqual(w.target("support-bot")["saved_usd"],
                         round(3057 * (WRITE - READ) / 1e12, 6))
        s.close()
        _, text, _ = w.ctl("metrics")
        self.assertIn('warmd_cost_usd_total{target="support-bot"}', text)
        self.assertIn('warmd_saved_usd_total{target="support-bot"}', text)

    def test_unknown_model_stays_null(self):
        with open(self.env.path("support-bot.json")) as f:
            t = json.load(f)
        t["model"] = "some-private-model"
        with open(self.env.path("support-bot.json"), "w") as f:
            json.dump(t, f)
        w = self.env.warmd(self.conf())
        wait_for(lambda: w.target("support-bot")["writes"] >= 1, 5, what="a write")
        self.assertIsNone(w.target("support-bot")["cost_usd"])
        self.assertIsNone(w.target("support-bot")["saved_usd"])


if __name__ == "__main__":
    unittest.main()
