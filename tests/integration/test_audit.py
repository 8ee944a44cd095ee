"""The caching audit through the real daemon: warmctl audit rates a
timestamp at the top of a prompt critical, a prefix below the model's
minimum high and unsorted tools medium, with a score, a grade, an action
plan and the readiness checklist (--json carries the same); --check-config
prints the static checks at the target's line."""
import json
import subprocess
import unittest

from harness import WARMD, Env, daemon_block, provider_block, wait_for

TTL = 30


class Audit(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL))
        with open(self.env.path("support-bot.json")) as f:
            base = json.load(f)

        def write(name, edit):
            t = json.loads(json.dumps(base))
            edit(t)
            self.env.write(name, json.dumps(t))

        def stamp(t):
            t["system"][0]["text"] = "Now: 2026-11-30T09:14:03Z. " + t["system"][0]["text"]
            t["tools"].sort(key=lambda x: x["name"])

        def short(t):
            t["system"][0]["text"] = "You are a helpful assistant."
            t["tools"] = [min(t["tools"], key=lambda x: x["name"])]

        def unsorted(t):
            t["tools"].sort(key=lambda x: x["name"], reverse=True)

        def clean(t):
            t["tools"].sort(key=lambda x: x["name"])

        for name, edit in (("stamp", stamp), ("short", short), ("unsorted", unsorted),
                           ("clean", clean)):
            write(f"{name}.json", edit)
        self.conf = (daemon_block(self.env.path("warmd.sock")) +
                     provider_block(self.env.fake, openai=False) + "targets = (\n" +
                     ",\n".join(f'  {{ name = "{n}"; provider = "anthropic"; request_file = '
                                f'"{n}.json"; ttl = {TTL}; }}'
                                for n in ("stamp", "short", "unsorted", "clean")) + "\n);\n")

    def tearDown(self):
        self.env.close()

    def findings(self, data, target):
        return {f["check"]: f["severity"] for f in data["findings"] if f["target"] == target}

    def test_audit_rates_the_classic_mistakes(self):
        w = self.env.warmd(self.conf)
        wait_for(lambda: w.target("clean")["state"] == "warm", 5, what="warm")
        rc, data = w.ctl_json("audit")
        self.assertEqual(rc, 0, data)
        d = data["data"]
        self.assertEqual(self.findings(d, "stamp").get("dynamic-content"), "critical")
        self.assertEqual(self.findings(d, "short").get("below-minimum"), "high")
        self.assertEqual(self.findings(d, "unsorted").get("unsorted-tools"), "medium")
        self.assertNotIn("dynamic-content", self.findings(d, "clean"))
        self.assertNotIn("unsorted-tools", self.findings(d, "clean"))
        self.assertNotIn("below-minimum", self.findings(d, "clean"))
        for f in d["findings"]:
            for key in ("target", "severity", "category", "title", "description",
                        "recommendation", "effort"):
                self.assertIn(key, f)
        self.assertTrue(0 <= d["score"] <= 100)
        self.assertIn(d["grade"], list("ABCDF"))
        plan = d["action_plan"]
        self.assertLessEqual(len(plan), 10)
        self.assertEqual(plan[0]["target"], "stamp")
        self.assertEqual(plan[0]["severity"], "critical")
        order = ["critical", "high", "medium", "low"]
        self.assertEqual([p["severity"] for p in plan],
                         sorted((p["severity"] for p in plan), key=order.index))
        items = d["readiness"]["items"]
        self.assertTrue({"prompt design", "cache configuration", "monitoring", "operations",
                         "testing"} <= {i["category"] for i in items})
        self.assertTrue(all(i["status"] in ("done", "not_done", "unknown") for i in items))
        self.assertTrue(0 <= d["readiness"]["score"] <= 100)
        # the human form says the same
        rc, out, _ = w.ctl("audit")
        self.assertEqual(rc, 0)
        self.assertRegex(out, rf"score {d['score']}/100, grade {d['grade']}")
        self.assertIn("critical  stamp", out)
        self.assertIn("production readiness", out)
        # one target: its findings only, and a test run counts for readiness
        rc, one = w.ctl_json("audit", "clean")
        self.assertEqual(rc, 0)
        self.assertEqual({f["target"] for f in one["data"]["findings"]} - {None}, {"clean"})
        before = {i["item"]: i["status"] for i in one["data"]["readiness"]["items"]}
        self.assertEqual(before["verification test run"], "not_done")
        self.assertEqual(w.ctl("test", "clean", "-n", "2")[0], 0)
        after = {i["item"]: i["status"]
                 for i in w.ctl_json("audit", "clean")[1]["data"]["readiness"]["items"]}
        self.assertEqual(after["verification test run"], "done")
        self.assertEqual(w.ctl("audit", "nobody")[0], 1)

    def test_check_config_prints_the_static_checks(self):
        conf = self.env.write("check.conf", self.conf)
        p = subprocess.run([WARMD, "--check-config", "-c", conf], capture_output=True, text=True,
                           env={"WARMD_TEST_OPENAI_KEY": "x", "PATH": "/usr/bin:/bin"})
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stderr.splitlines()
        self.assertTrue(any(l.startswith(f"{conf}:6: warning: audit (critical") and "stamp" in l
                            for l in lines), p.stderr)
        self.assertTrue(any(f"{conf}:8: warning: audit (medium" in l and "unsorted" in l
                            for l in lines), p.stderr)
        self.assertIn("short", p.stderr)  # below the minimum, in daemon_stage's words
        # --help says what it does: the price table is checked too, and findings printed
        h = subprocess.run([WARMD, "--help"], capture_output=True, text=True).stdout
        entry = h[h.index("--check-config  "):h.index("--simulate TRACE\n")]
        self.assertIn("price table", entry)
        self.assertIn("audit's checks", entry)


if __name__ == "__main__":
    unittest.main()
