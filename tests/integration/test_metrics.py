"""Metrics: warmctl metrics, the HTTP /metrics listener and the node_exporter
textfile all serve the same Prometheus exposition, and promtool accepts it."""
import os
import re
import shutil
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from harness import Env, daemon_block, provider_block, wait_for

TTL = 6


def conf(env, extra=""):
    return (daemon_block(env.path("warmd.sock"), extra) + provider_block(env.fake) +
            'targets = (\n'
            f'  {{ name = "support-bot"; provider = "anthropic"; request_file = "support-bot.json"; ttl = {TTL}; }},\n'
            f'  {{ name = "oai-bot"; provider = "openai"; request_file = "openai-chat.json"; ttl = {TTL}; }}\n'
            ');\n')


def promtool_check(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    return p.returncode, p.stdout + p.stderr


class Metrics(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL), "--openai-ttl", str(TTL))

    def tearDown(self):
        self.env.close()

    def test_warmctl_metrics_pass_promtool(self):
        if not shutil.which("promtool"):
            self.fail("promtool is missing: scripts/deps.sh installs it (package prometheus)")
        w = self.env.warmd(conf(self.env))
        wait_for(lambda: all(t["hits"] >= 1 for t in w.status()["targets"]), 10, what="hits")
        rc, text, err = w.ctl("metrics")
        self.assertEqual(rc, 0, err)
        code, out = promtool_check(text)
        self.assertEqual(code, 0, out)
        self.assertEqual(out.strip(), "", out)  # not even lint warnings
        for name in ("warmd_warms_total", "warmd_target_warm", "warmd_build_info",
                     "warmd_warm_duration_seconds_bucket", "warmd_tokens_total",
                     "warmd_warm_lateness_seconds_bucket",
                     "warmd_touches_total", "warmd_retries_total", "warmd_rate_limited_total",
                     "warmd_config_reloads_total", "warmd_target_expiry_seconds"):
            self.assertIn(name, text)
        self.assertRegex(text, r'warmd_warms_total\{target="support-bot",provider="anthropic",'
                               r'result="write"\} 1\n')
        self.assertRegex(text, r'warmd_target_warm\{target="oai-bot"\} 1\n')
        hits = int(re.search(r'warmd_warms_total\{target="support-bot",provider="anthropic",'
                             r'result="hit"\} (\d+)', text).group(1))
        self.assertEqual(hits, w.target("support-bot")["hits"])
        self.assertIn('warmd_build_info{version="', text)
        # reloads are counted by result
        self.assertEqual(w.ctl("reload")[0], 0)
        _, text, _ = w.ctl("metrics")
        self.assertIn('warmd_config_reloads_total{result="success"} 1\n', text)

    def test_http_listener_and_textfile(self):
        prom = self.env.path("warmd.prom")
        w = self.env.warmd(conf(self.env, f'metrics_listen = "127.0.0.1:0"; '
                                          f'metrics_textfile = "{prom}"; '
                                          'metrics_textfile_interval = "1s";'))
        m = wait_for(lambda: re.search(r"serving /metrics on \S+ \(port (\d+)\)", w.log()), 5,
                     what="the metrics port in the log")
        url = f"http://127.0.0.1:{m.group(1)}"
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 5, what="warm")
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers["content-type"].startswith("text/plain; version=0.0.4"))
            body = r.read().decode()
        self.assertEqual(promtool_check(body)[0], 0)
        self.assertIn("warmd_target_warm", body)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(url + "/nope", timeout=5)
        self.assertEqual(cm.exception.code, 404)
        wait_for(lambda: os.path.exists(prom), 5, what="the textfile")
        time.sleep(1.5)
        with open(prom) as f:
            text = f.read()
        self.assertEqual(promtool_check(text)[0], 0)
        self.assertIn('warmd_target_warm{target="support-bot"} 1', text)
        self.assertFalse(os.path.exists(prom + ".tmp"))


if __name__ == "__main__":
    unittest.main()
