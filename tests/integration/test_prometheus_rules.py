"""contrib/prometheus: the rules and the Grafana dashboard are written
against warmd's real metrics. promtool checks the rules and runs their unit
tests (warmd-rules.test.yml); every metric, label and label value the rules
and the dashboard name exists in what a running warmd exports; and a real
Prometheus on loopback scrapes that warmd, evaluates every rule without an
error and answers every dashboard query."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from harness import SRC, Env, daemon_block, provider_block, wait_for
from redisfix import Redis, skip_without_redis

CONTRIB = os.path.join(SRC, "contrib", "prometheus")
RULES = os.path.join(CONTRIB, "warmd-rules.yml")
DASHBOARD = os.path.join(CONTRIB, "warmd-dashboard.json")
SCRAPE_LABELS = {"job", "instance"}  # added by Prometheus, not by warmd


def rule_exprs():
    """(name, expr) of every rule, read without a YAML library: the exprs
    are `expr: |` blocks or one-line `expr:` values."""
    out, lines = [], open(RULES).read().split("\n")
    name = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- (?:record|alert): (\S+)", line)
        if m:
            name = m.group(1)
        m = re.match(r"(\s*)expr: (.*)$", line)
        if m:
            if m.group(2).strip() == "|":
                indent, body = len(m.group(1)), []
                i += 1
                while i < len(lines) and (not lines[i].strip() or
                                          len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i].strip())
                    i += 1
                out.append((name, " ".join(body)))
                continue
            out.append((name, m.group(2).strip()))
        i += 1
    return out


def dashboard_exprs():
    with open(DASHBOARD) as f:
        d = json.load(f)
    out = [(p["title"], t["expr"]) for p in d["panels"] for t in p.get("targets", [])]
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            out.append((f"variable {v['name']}", v["definition"]))
    return out


def concrete(expr):
    """A dashboard expression with Grafana's variables filled in."""
    expr = re.sub(r"label_values\((.*), *(\w+)\)$", r"group by (\2) (\1)", expr)
    return (expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
            .replace("$instance", ".*").replace("$target", ".*"))


def exposition(text):
    """{metric name: [ {label: value} ]} of a Prometheus text exposition."""
    out = {}
    for line in text.split("\n"):
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            out.setdefault(m.group(1), [])
            if m.group(2) == "histogram":
                for suffix in ("_bucket", "_sum", "_count"):
                    out.setdefault(m.group(1) + suffix, [])
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", line)
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.setdefault(m.group(1), []).append(labels)
    return out


def selectors(expr):
    """(metric, [(label, op, value)]) for each warmd_* selector in expr."""
    for m in re.finditer(r"\b(warmd_[a-z0-9_]+)(\{[^}]*\})?", expr):
        matchers = re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', m.group(2) or "")
        yield m.group(1), matchers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(shutil.which("promtool"), "promtool is missing (Debian package prometheus)")
class Rules(unittest.TestCase):
    def test_promtool_check_rules(self):
        p = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS", p.stdout)
        self.assertNotIn("WARNING", p.stdout + p.stderr)

    def test_promtool_test_rules(self):
        p = subprocess.run(["promtool", "test", "rules", "warmd-rules.test.yml"], cwd=CONTRIB,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_every_alert_has_summary_and_runbook(self):
        text = open(RULES).read()
        alerts = re.findall(r"- alert: (\S+)\n((?:\s{8,}.*\n)+)", text)
        self.assertGreaterEqual(len(alerts), 8)
        for name, body in alerts:
            for key in ("summary:", "description:", "runbook:", "severity:"):
                self.assertIn(key, body, f"{name} has no {key}")


class AgainstWarmd(unittest.TestCase):
    """Everything the rules and the dashboard name, against a running warmd."""

    @classmethod
    def setUpClass(cls):
        skip_without_redis()
        cls.env = Env("--ttl-5m", "6", "--openai-ttl", "6")
        # a one-node cluster, so that the warmd_cluster_* series exist too
        cls.redis = Redis(cls.env.path("redis"))
        shutil.copy(os.path.join(SRC, "config", "pricing.conf"), cls.env.dir)  # costs exported
        conf = (daemon_block(cls.env.path("warmd.sock"), 'metrics_listen = "127.0.0.1:0";') +
                provider_block(cls.env.fake) +
                'targets = (\n'
                '  { name = "support-bot"; provider = "anthropic"; request_file = "support-bot.json"; ttl = 6; },\n'
                '  { name = "oai-bot"; provider = "openai"; request_file = "openai-chat.json"; ttl = 6; }\n'
                ');\n' +
                f'cluster = {{ redis = "{cls.redis.url}"; node = "prom"; lease = "1s"; }};\n')
        cls.w = cls.env.warmd(conf)
        m = wait_for(lambda: re.search(r"serving /metrics on \S+ \(port (\d+)\)", cls.w.log()), 5,
                     what="the metrics port")
        cls.metrics_port = int(m.group(1))
        wait_for(lambda: all(t["hits"] >= 1 for t in cls.w.status()["targets"]), 20,
                 what="a hit on every target")
        # touches, so that saved_usd moves too
        for _ in range(2):
            cls.w.ctl("touch", "support-bot", "--hit")
        rc, text, err = cls.w.ctl("metrics")
        assert rc == 0, err
        cls.metrics = exposition(text)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()
        cls.redis.close()

    def check_names(self, exprs):
        for where, expr in exprs:
            found = False
            for metric, matchers in selectors(expr):
                found = True
                self.assertTrue(metric in self.metrics, f"{where}: {metric} is not a warmd metric")
                samples = self.metrics[metric]
                for label, op, value in matchers:
                    if label in SCRAPE_LABELS:
                        continue
                    self.assertTrue(any(label in s for s in samples),
                                    f"{where}: {metric} has no label {label}")
                    if "$" in value or op in ("!=", "!~"):
                        continue
                    wanted = value.split("|") if op == "=~" else [value]
                    for v in wanted:
                        if re.fullmatch(r"[\w.+-]+", v):
                            self.assertTrue(any(s.get(label) == v for s in samples),
                                            f"{where}: no {metric}{{{label}=\"{v}\"}}")
            self.assertTrue(found or "warmd:" in expr or "up{" in expr,
                            f"{where}: names no warmd metric: {expr}")

    def test_rules_name_only_warmd_metrics(self):
        self.check_names(rule_exprs())

    def test_dashboard_names_only_warmd_metrics(self):
        exprs = dashboard_exprs()
        self.assertGreaterEqual(len(exprs), 10)
        self.assertFalse([e for _, e in exprs if "warmd:" in e],
                         "the dashboard stands alone: no recording rules")
        self.check_names(exprs)

    @unittest.skipUnless(shutil.which("prometheus"), "prometheus is missing (Debian package)")
    def test_prometheus_evaluates_rules_and_dashboard(self):
        tmp = tempfile.mkdtemp(prefix="warmd-prom-")
        self.addCleanup(shutil.rmtree, tmp, True)
        port = free_port()
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    f"rule_files:\n  - {RULES}\n"
                    "scrape_configs:\n  - job_name: warmd\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{self.metrics_port}']\n")
        log = open(os.path.join(tmp, "prometheus.log"), "w")
        prom = subprocess.Popen(["prometheus", f"--config.file={tmp}/prometheus.yml",
                                 f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT)

        def stop():
            prom.terminate()
            prom.wait(10)
            log.close()
        self.addCleanup(stop)
        api = f"http://127.0.0.1:{port}/api/v1"

        def get(path, **params):
            url = api + path + ("?" + urllib.parse.urlencode(params) if params else "")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return json.load(r)
            except (OSError, ValueError):
                return None

        def scraped():
            r = get("/query", query='up{job="warmd"} == 1')
            return r and r["data"]["result"]
        wait_for(scraped, 30, step=0.2, what="Prometheus to scrape warmd")
        time.sleep(3)  # a few evaluations of every rule

        def evaluated():
            r = get("/rules")
            rules = [x for g in r["data"]["groups"] for x in g["rules"]] if r else []
            return rules if rules and all(x["health"] != "unknown" for x in rules) else None
        rules = wait_for(evaluated, 20, step=0.2, what="every rule evaluated")
        self.assertGreaterEqual(len(rules), 15)
        for r in rules:
            self.assertEqual(r["health"], "ok", f"{r['name']}: {r.get('lastError')}")
        # The live data: both targets warm, no credential failed, nothing firing
        # but the cost alert's precondition absent (its window is a day).
        def recorded():
            r = get("/query", query="warmd:targets_warm:ratio")
            return r and r["data"]["result"]
        r = wait_for(recorded, 20, step=0.2, what="a recorded warmd:targets_warm:ratio")
        self.assertEqual(float(r[0]["value"][1]), 1.0, r)
        firing = [a["labels"]["alertname"] for a in get("/alerts")["data"]["alerts"]]
        self.assertEqual(firing, [], "alerts on a healthy warmd")

        for where, expr in dashboard_exprs():
            r = get("/query", query=concrete(expr))
            self.assertIsNotNone(r, f"{where}: {concrete(expr)}")
            self.assertEqual(r["status"], "success", f"{where}: {r}")
            self.assertTrue(r["data"]["result"], f"{where}: no data for {concrete(expr)}")


if __name__ == "__main__":
    unittest.main()
