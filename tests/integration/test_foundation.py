"""Foundation integration tests: the real warmd and warmctl against the fake
provider on loopback, with seconds-scale TTLs."""
import json
import os
import signal
import socket
import time
import unittest

from harness import (ANTHROPIC_KEY, OPENAI_KEY, Env, daemon_block, provider_block, wait_for)

TTL = 6
CONTRACT_FIELDS = ["name", "provider", "model", "policy", "state", "version", "ttl_s",
                   "prefix_tokens", "last_refresh", "expires_at", "next_warm_at", "reason",
                   "warms", "hits", "writes", "errors", "touches", "last_error", "cost_usd",
                   "saved_usd"]
DAEMON_FIELDS = ["version", "pid", "uptime_s", "config_file", "config_loaded_at", "inflight",
                 "paused_all"]


def target_block(name, provider, request_file, extra=""):
    return (f'{{ name = "{name}"; provider = "{provider}"; request_file = "{request_file}"; '
            f'ttl = {TTL}; {extra} }}')


def config(env, targets, daemon_extra="", provider_extra=""):
    return (daemon_block(env.path("warmd.sock"), daemon_extra) +
            provider_block(env.fake, extra=provider_extra) +
            "targets = (\n  " + ",\n  ".join(targets) + "\n);\n")


TWO_TARGETS = [target_block("support-bot", "anthropic", "support-bot.json"),
               target_block("oai-bot", "openai", "openai-chat.json")]


class WarmCycle(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL), "--openai-ttl", str(TTL))

    def tearDown(self):
        self.env.close()

    def test_targets_become_and_stay_warm_near_the_ttl_edge(self):
        w = self.env.warmd(config(self.env, TWO_TARGETS))
        t0 = time.monotonic()
        time.sleep(21)
        elapsed = time.monotonic() - t0
        st = w.status()
        for f in DAEMON_FIELDS:
            self.assertIn(f, st["daemon"])
        self.assertEqual(len(st["targets"]), 2)
        for t in st["targets"]:
            for f in CONTRACT_FIELDS:
                self.assertIn(f, t, f"{t['name']} lacks {f}")
            self.assertEqual(t["state"], "warm", t)
            self.assertGreaterEqual(t["hits"], 3, t)
            self.assertEqual(t["writes"], 1, t)
            self.assertEqual(t["errors"], 0, t)
            self.assertIsNone(t["last_error"])
            self.assertEqual(len(t["version"]), 12)
            self.assertGreater(t["expires_at"], t["last_refresh"])
            self.assertAlmostEqual(t["expires_at"] - t["last_refresh"], TTL, places=2)
            self.assertLess(t["next_warm_at"], t["expires_at"])
        fake = self.env.fake.state()
        entries = [e for e in fake["entries"] if e["writes"] > 0]
        self.assertGreaterEqual(len(entries), 2)
        for e in entries:
            # Written exactly once and never dead: warm all the time.
            self.assertEqual(e["writes"], 1, e)
            self.assertEqual(e["dead_s"], 0, e)
            self.assertTrue(e["alive"], e)
        for api in ("anthropic", "openai"):
            n = fake["requests"][api]
            windows = elapsed / TTL
            # Warming at the TTL edge: ~1.1 refreshes per TTL window after the first
            # write, never a half-TTL timer (which would be 2).
            self.assertLessEqual((n - 1) / windows, 1.25, f"{api}: {n} requests in {elapsed:.1f}s")
            self.assertLessEqual(n / windows, 1.5, f"{api}: {n} requests in {elapsed:.1f}s")
            self.assertGreaterEqual(n, 4)
        self.assertEqual(fake["requests"]["rejected"], 0)
        # Warm bodies: Anthropic prefill-only, OpenAI one token; nothing else touched.
        for entry in fake["log"]:
            body = json.loads(entry["body"])
            if entry["api"] == "anthropic":
                self.assertEqual(body["max_tokens"], 0)
                self.assertEqual(body["metadata"], {"user_id": "demo-user"})
            else:
                self.assertEqual(body["max_tokens"], 1)
                self.assertEqual(body["prompt_cache_key"], "northwind-support-v1")

    def test_application_request_reads_the_warmed_prefix(self):
        w = self.env.warmd(config(self.env, TWO_TARGETS))
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 10, what="warm")
        with open(self.env.path("support-bot.json")) as f:
            tmpl = json.load(f)
        tmpl["messages"] = [{"role": "user", "content": "Do you ship to Norway?"}]
        status, body = self.env.fake.post("/v1/messages", tmpl, {
            "x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"})
        self.assertEqual(status, 200, body)
        self.assertGreater(body["usage"]["cache_read_input_tokens"], 1024)
        self.assertEqual(body["usage"]["cache_creation_input_tokens"], 0)


class ControlAndSignals(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL), "--openai-ttl", str(TTL))

    def tearDown(self):
        self.env.close()

    def test_good_reload_adds_a_target_without_resetting_others(self):
        w = self.env.warmd(config(self.env, TWO_TARGETS[:1]))
        wait_for(lambda: w.target("support-bot")["hits"] >= 1, 12, what="first hit")
        before = w.target("support-bot")
        with open(w.config, "w") as f:
            f.write(config(self.env, TWO_TARGETS))
        w.signal(signal.SIGHUP)
        wait_for(lambda: len(w.status()["targets"]) == 2, 5, what="reload")
        wait_for(lambda: w.target("oai-bot")["state"] == "warm", 5, what="new target warm")
        after = w.target("support-bot")
        self.assertEqual(after["version"], before["version"])
        self.assertGreaterEqual(after["warms"], before["warms"])
        self.assertGreaterEqual(after["hits"], before["hits"])
        self.assertEqual(after["writes"], 1)
        self.assertGreaterEqual(after["last_refresh"], before["last_refresh"])
        # warmctl reload reports the verdict.
        rc, out, err = w.ctl("reload")
        self.assertEqual(rc, 0, err)
        self.assertIn("0 added", out)
        anth = [e for e in self.env.fake.state()["entries"] if e["api"] == "anthropic" and e["writes"]]
        self.assertTrue(all(e["writes"] == 1 for e in anth), anth)

    def test_bad_reload_keeps_the_old_config(self):
        w = self.env.warmd(config(self.env, TWO_TARGETS))
        wait_for(lambda: all(t["state"] == "warm" for t in w.status()["targets"]), 10,
                 what="warm")
        good = open(w.config).read()
        bad = good.replace('ttl = 6;', 'ttl = 6; bogus_key = 1;', 1)
        with open(w.config, "w") as f:
            f.write(bad)
        bad_line = next(i + 1 for i, l in enumerate(bad.splitlines()) if "bogus_key" in l)
        rc, out, err = w.ctl("reload")
        self.assertEqual(rc, 1)
        self.assertIn(f"{w.config}:{bad_line}: error:", err)
        self.assertIn("bogus_key", err)
        w.signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertIsNone(w.proc.poll())
        self.assertIn("reload rejected", w.log())
        st = w.status()
        self.assertEqual(sorted(t["name"] for t in st["targets"]), ["oai-bot", "support-bot"])
        # --check-config agrees, with FILE:LINE.
        import subprocess
        from harness import WARMD
        p = subprocess.run([WARMD, "--check-config", "-c", w.config], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"{w.config}:{bad_line}: error:", p.stderr)
        with open(w.config, "w") as f:
            f.write(good)
        p = subprocess.run([WARMD, "--check-config", "-c", w.config], capture_output=True,
                           text=True, env={**os.environ, "WARMD_TEST_OPENAI_KEY": OPENAI_KEY})
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_sigterm_exits_zero_quickly_even_with_a_warm_in_flight(self):
        self.env.fake.stop()
        self.env.fake = type(self.env.fake)(self.env.dir, "--latency-ms", "4000")
        w = self.env.warmd(config(self.env, TWO_TARGETS))
        wait_for(lambda: w.status()["daemon"]["inflight"] > 0, 5, what="a warm in flight")
        rc, took = w.stop()
        self.assertEqual(rc, 0, w.log())
        self.assertLess(took, 5)
        self.assertFalse(os.path.exists(w.socket))

    def test_sigterm_lets_a_short_warm_land(self):
        self.env.fake.stop()
        self.env.fake = type(self.env.fake)(self.env.dir, "--latency-ms", "600")
        w = self.env.warmd(config(self.env, TWO_TARGETS))
        wait_for(lambda: w.status()["daemon"]["inflight"] > 0, 5, what="a warm in flight")
        rc, took = w.stop()
        self.assertEqual(rc, 0, w.log())
        self.assertLess(took, 1.5)
        self.assertNotIn("cancelling", w.log())
        self.assertIn("stopped", w.log())

    def test_warmctl_commands_and_exit_codes(self):
        # A prefix of its own (the same one would share support-bot's warms).
        with open(self.env.path("support-bot.json")) as f:
            tmpl = json.load(f)
        tmpl["system"][0]["text"] = "Manual. " + tmpl["system"][0]["text"]
        self.env.write("by-hand.json", json.dumps(tmpl))
        w = self.env.warmd(config(self.env, TWO_TARGETS + [
            target_block("by-hand", "anthropic", "by-hand.json", 'policy = "manual";')]))
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 10, what="warm")
        self.assertEqual(w.ctl("ping")[0], 0)
        rc, out, _ = w.ctl("status")
        self.assertEqual(rc, 0)
        self.assertIn("TARGET", out)
        self.assertIn("support-bot", out)
        rc, out, _ = w.ctl("status", "support-bot")
        self.assertEqual(rc, 0)
        self.assertIn("reason", out)
        self.assertEqual(w.ctl("status", "nope")[0], 1)
        self.assertEqual(w.ctl("warm", "nope")[0], 1)
        self.assertEqual(w.ctl("frobnicate")[0], 2)
        self.assertEqual(w.ctl()[0], 2)
        self.assertEqual(w.ctl("warm")[0], 2)
        from harness import WARMCTL
        import subprocess
        p = subprocess.run([WARMCTL, "-s", self.env.path("nowhere.sock"), "ping"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 3)
        self.assertIn("nowhere.sock", p.stderr)
        # Manual policy: never warmed by itself, warmed on request.
        hand = w.target("by-hand")
        self.assertEqual(hand["warms"], 0)
        self.assertEqual(hand["state"], "cold")
        self.assertIsNone(hand["next_warm_at"])
        self.assertEqual(w.ctl("warm", "by-hand")[0], 0)
        wait_for(lambda: w.target("by-hand")["state"] == "warm", 5, what="manual warm")
        # Pause / resume.
        self.assertEqual(w.ctl("pause", "support-bot")[0], 0)
        self.assertEqual(w.target("support-bot")["state"], "paused")
        self.assertIsNone(w.target("support-bot")["next_warm_at"])
        self.assertEqual(w.ctl("resume", "support-bot")[0], 0)
        self.assertNotEqual(w.target("support-bot")["state"], "paused")
        self.assertEqual(w.ctl("pause", "--all")[0], 0)
        st = w.status()
        self.assertTrue(st["daemon"]["paused_all"])
        self.assertTrue(all(t["state"] == "paused" for t in st["targets"]))
        n = self.env.fake.state()["requests"]["total"]
        time.sleep(TTL + 1)
        self.assertEqual(self.env.fake.state()["requests"]["total"], n, "warmed while paused")
        self.assertEqual(w.ctl("warm", "support-bot")[0], 1)  # refused while paused
        self.assertEqual(w.ctl("resume", "--all")[0], 0)
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 5, what="warm after resume")
        rc, data = w.ctl_json("status", "nope")
        self.assertEqual(rc, 1)
        self.assertEqual(data["error"]["code"], "not_found")

    def test_control_socket_survives_bad_input(self):
        w = self.env.warmd(config(self.env, TWO_TARGETS))

        def exchange(payload, read=True):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(w.socket)
            s.sendall(payload)
            data = b""
            if read:
                while not data.endswith(b"\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            s.close()
            return data

        for payload, code in [(b"\x00\xff garbage \x01\n", "bad_json"),
                              (b"[" * 100000 + b"\n", "bad_json"),
                              (b"x" * (2 * 1024 * 1024) + b"\n", "line_too_long"),
                              (b'{"cmd":"status","target":5}\n', "bad_request"),
                              (b'{"cmd":"rm -rf"}\n', "unknown_command"),
                              (b'{"cmd":"ping","extra":1}\n', "bad_request")]:
            resp = json.loads(exchange(payload))
            self.assertFalse(resp["ok"])
            self.assertEqual(resp["error"]["code"], code, resp)
        exchange(b'{"cmd":"status"', read=False)  # half a request, then hang up
        # Several requests on one connection, answered in order.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(w.socket)
        s.sendall(b'{"cmd":"ping"}\n{"cmd":"status","target":"oai-bot"}\n')
        f = s.makefile("rb")
        first, second = json.loads(f.readline()), json.loads(f.readline())
        s.close()
        self.assertIn("pid", first["data"])
        self.assertEqual(second["data"]["targets"][0]["name"], "oai-bot")
        self.assertEqual(w.ctl("ping")[0], 0)
        self.assertIsNone(w.proc.poll())

    def test_rejected_key_marks_failing_without_a_storm(self):
        with open(self.env.path("anthropic.key"), "w") as f:
            f.write("wrong-key-for-this-test\n")
        w = self.env.warmd(config(self.env, TWO_TARGETS))
        wait_for(lambda: w.target("support-bot")["state"] == "failing", 5, what="failing")
        time.sleep(3)
        t = w.target("support-bot")
        self.assertEqual(t["state"], "failing")
        self.assertIn("401", t["last_error"])
        self.assertIn("key", t["reason"])
        log = [e for e in self.env.fake.state()["log"] if e["api"] == "anthropic"]
        self.assertLessEqual(len(log), 1, "retried a rejected key")
        self.assertEqual(w.target("oai-bot")["state"], "warm")
        # A fixed key and a reload bring it back.
        with open(self.env.path("anthropic.key"), "w") as f:
            f.write(ANTHROPIC_KEY + "\n")
        self.assertEqual(w.ctl("reload")[0], 0)
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 5, what="warm again")

    def test_keys_never_leak(self):
        w = self.env.warmd(config(self.env, TWO_TARGETS))
        wait_for(lambda: all(t["hits"] >= 1 for t in w.status()["targets"]), 12, what="hits")
        _, out, _ = w.ctl("--json", "status")
        _, out2, _ = w.ctl("status", "support-bot")
        w.stop()
        for text in (out, out2, w.log()):
            self.assertNotIn(ANTHROPIC_KEY, text)
            self.assertNotIn(OPENAI_KEY, text)


if __name__ == "__main__":
    unittest.main()
