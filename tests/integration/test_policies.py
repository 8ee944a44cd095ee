"""Policies live: adaptive learns the gaps between real requests from touches,
explains its decisions in numbers, stops paying for warms its traffic does
not need and keeps what it learned across a restart; schedule warms inside
its windows (with a time zone), leaves the cache alone outside them and
pre-warms just before one opens."""
import datetime
import json
import os
import socket
import subprocess
import time
import unittest
import zoneinfo

from harness import WARMD, Env, daemon_block, provider_block, wait_for

TTL = 3


def conf(env, targets):
    return (daemon_block(env.path("warmd.sock"), f'touch_socket = "{env.path("touch.sock")}";') +
            provider_block(env.fake, openai=False) + "targets = (\n  " + ",\n  ".join(
                f'{{ name = "{n}"; provider = "anthropic"; request_file = "{f}"; {x} }}'
                for n, f, x in targets) + "\n);\n")


def requests_for(env, system_marker=None):
    return [e for e in env.fake.state()["log"]
            if system_marker is None or system_marker in e["body"]]


class Adaptive(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL))
        # the same template under another system prompt: its own cache entry
        with open(self.env.path("support-bot.json")) as f:
            tmpl = json.load(f)
        tmpl["system"][0]["text"] = "ALWAYS-TARGET. " + tmpl["system"][0]["text"]
        self.env.write("always.json", json.dumps(tmpl))
        self.text = conf(self.env, [("a", "support-bot.json", f'ttl = {TTL}; policy = "adaptive";'),
                                    ("b", "always.json", f'ttl = {TTL}; policy = "always";')])

    def tearDown(self):
        self.env.close()

    def touch(self, n, every):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for _ in range(n):
            s.sendto(b"a hit", self.env.path("touch.sock"))
            time.sleep(every)
        s.close()

    def test_learns_explains_stops_and_remembers(self):
        w = self.env.warmd(self.text)
        wait_for(lambda: w.target("b")["state"] == "warm", 5, what="b warm")
        # no traffic yet: nothing to keep warm, and no money spent creating it
        self.assertEqual(w.target("a")["state"], "cold")
        self.assertIn("adaptive: cold; the next real request re-creates the cache",
                      w.target("a")["reason"])
        self.assertEqual(w.target("a")["warms"], 0)
        # the first real request creates the cache; too little history yet
        self.touch(1, 0)
        wait_for(lambda: "learning (0 gaps seen" in w.target("a")["reason"], 3, what="learning")
        # bursty traffic: ten requests 0.2 s apart, nine gaps far below a TTL
        self.touch(9, 0.2)
        wait_for(lambda: w.target("a")["touches"] == 10, 3, what="touches")
        reason = w.target("a")["reason"]
        self.assertRegex(reason, r"adaptive: (P\(traffic within 3(\.0)?s \| quiet 3(\.0)?s\) = "
                                 r"0\.00|quiet 3(\.0)?s is longer than any gap seen)")
        # it never saw a gap of a TTL or more: once the cache is about to go,
        # it lets it go; the always target keeps paying
        a_before = len(requests_for(self.env)) - len(requests_for(self.env, "ALWAYS-TARGET"))
        b_before = len(requests_for(self.env, "ALWAYS-TARGET"))
        time.sleep(3 * TTL)
        a_after = len(requests_for(self.env)) - len(requests_for(self.env, "ALWAYS-TARGET"))
        self.assertEqual(a_after, a_before, "adaptive warmed a prefix its traffic never needed")
        self.assertGreaterEqual(len(requests_for(self.env, "ALWAYS-TARGET")) - b_before, 2)
        a = w.target("a")
        self.assertEqual(a["state"], "cold")
        self.assertIn("adaptive", a["reason"])
        self.assertEqual(w.stop()[0], 0)

        with open(self.env.path("state.json")) as f:
            gaps = json.load(f)["targets"]["a"]["gaps"]
        self.assertEqual(gaps["total"], 9)
        self.assertEqual(gaps["all"][0], 9)
        self.assertEqual(sum(gaps["cells"][1::2]), 9)

        # a restart keeps the history: no "learning" again
        w2 = self.env.warmd(self.text)
        self.touch(1, 0)
        wait_for(lambda: w2.target("a")["touches"] == 11, 3, what="the touch after restart")
        reason = w2.target("a")["reason"]
        self.assertNotIn("learning", reason)
        self.assertIn("adaptive:", reason)
        self.assertEqual(w2.stop()[0], 0)

        # a histogram cell outside the table costs only the histogram
        with open(self.env.path("state.json")) as f:
            doc = json.load(f)
        doc["targets"]["a"]["gaps"]["cells"][0] = 24 * 48
        self.env.write("state.json", json.dumps(doc))
        w3 = self.env.warmd(self.text)
        self.assertIn("target a: ignored gaps is not a gap histogram", w3.log())
        self.assertFalse(any(n.startswith("state.json.corrupt-") for n in os.listdir(self.env.dir)))
        self.assertEqual(w3.target("a")["touches"], 11)

    def test_learning_keeps_warm_after_traffic(self):
        w = self.env.warmd(self.text)
        wait_for(lambda: w.target("b")["state"] == "warm", 5, what="b warm")
        self.touch(1, 0)
        n = len(requests_for(self.env)) - len(requests_for(self.env, "ALWAYS-TARGET"))
        time.sleep(2.5 * TTL)
        # with no history it keeps the cache warm for 30 minutes after traffic
        self.assertGreaterEqual(
            len(requests_for(self.env)) - len(requests_for(self.env, "ALWAYS-TARGET")) - n, 2)
        self.assertEqual(w.target("a")["state"], "warm")
        self.assertIn("keeping warm for 30m after traffic", w.target("a")["reason"])


def hhmm(dt):
    return dt.strftime("%H:%M")


class Schedule(unittest.TestCase):
    ZONE = "Europe/Berlin"

    def setUp(self):
        self.env = Env("--ttl-5m", "30")
        with open(self.env.path("support-bot.json")) as f:
            tmpl = json.load(f)
        for tag in ("OPEN", "CLOSED", "SOON"):
            t = json.loads(json.dumps(tmpl))
            t["system"][0]["text"] = f"{tag}-TARGET. " + t["system"][0]["text"]
            self.env.write(f"{tag.lower()}.json", json.dumps(t))

    def tearDown(self):
        self.env.close()

    def test_windows_in_a_time_zone(self):
        tz = zoneinfo.ZoneInfo(self.ZONE)
        now = datetime.datetime.now(tz)
        # the next minute boundary at least 25 s away: a window opens there
        opens = (now + datetime.timedelta(seconds=25)).replace(second=0, microsecond=0) + \
            datetime.timedelta(minutes=1)
        windows = {
            "open": f"Daily {hhmm(now - datetime.timedelta(hours=1))}-"
                    f"{hhmm(now + datetime.timedelta(hours=1))} {self.ZONE}",
            "closed": f"Daily {hhmm(now + datetime.timedelta(hours=2))}-"
                      f"{hhmm(now + datetime.timedelta(hours=3))} {self.ZONE}",
            "soon": f"Daily {hhmm(opens)}-{hhmm(opens + datetime.timedelta(hours=1))} {self.ZONE}",
        }
        w = self.env.warmd(conf(self.env, [
            (n, f"{n}.json", f'ttl = 30; policy = "schedule"; schedule = ["{wd}"];')
            for n, wd in windows.items()]))
        wait_for(lambda: w.target("open")["state"] == "warm", 5, what="the open window's warm")
        self.assertEqual(len(requests_for(self.env, "OPEN-TARGET")), 1)
        closed = w.target("closed")
        self.assertEqual(closed["state"], "cold")
        self.assertRegex(closed["reason"], r"schedule: outside the windows; pre-warming before "
                                           r"the window opens in 1h5\dm")
        self.assertEqual(requests_for(self.env, "CLOSED-TARGET"), [])
        soon = w.target("soon")
        self.assertIn("pre-warming before the window opens", soon["reason"])
        self.assertEqual(requests_for(self.env, "SOON-TARGET"), [])
        # the pre-warm lands just before the window opens, not after
        wait_for(lambda: requests_for(self.env, "SOON-TARGET"), 100, step=0.2,
                 what="the pre-warm")
        sent = requests_for(self.env, "SOON-TARGET")[0]["t"]
        self.assertLess(sent, opens.timestamp())
        self.assertGreater(sent, opens.timestamp() - 15)
        self.assertEqual(requests_for(self.env, "CLOSED-TARGET"), [])

    def test_zones_are_loaded_once_without_the_environment(self):
        # The machine's local time (a window without a zone) is the daemon's
        # own $TZ, read at load; a named zone is its own, whatever $TZ says.
        local = zoneinfo.ZoneInfo("Asia/Kathmandu")  # UTC+5:45: no accidental match
        now_local = datetime.datetime.now(local)
        now_berlin = datetime.datetime.now(zoneinfo.ZoneInfo(self.ZONE))
        windows = {
            "open": f"Daily {hhmm(now_local - datetime.timedelta(hours=1))}-"
                    f"{hhmm(now_local + datetime.timedelta(hours=1))}",
            "closed": f"Daily {hhmm(now_berlin + datetime.timedelta(hours=2))}-"
                      f"{hhmm(now_berlin + datetime.timedelta(hours=3))} {self.ZONE}",
        }
        w = self.env.warmd(conf(self.env, [
            (n, f"{n}.json", f'ttl = 30; policy = "schedule"; schedule = ["{wd}"];')
            for n, wd in windows.items()]), env={"TZ": ":Asia/Kathmandu"})
        wait_for(lambda: w.target("open")["state"] == "warm", 5, what="the open window's warm")
        closed = w.target("closed")
        self.assertEqual(closed["state"], "cold")
        self.assertRegex(closed["reason"], r"the window opens in 1h5\dm")

    def test_unknown_zone_is_a_config_error_with_its_line(self):
        # $TZDIR is where zones come from: an empty one knows no zone.
        zdir = self.env.path("zoneinfo")
        os.mkdir(zdir)
        text = conf(self.env, [("open", "open.json",
                                'ttl = 30; policy = "schedule";\n'
                                '    schedule = ["Mon-Fri 07:30-19:00 Europe/Berlin"];')])
        path = self.env.write("zones.conf", text)
        line = text.splitlines().index(
            next(x for x in text.splitlines() if "Europe/Berlin" in x)) + 1
        env = dict(os.environ, TZDIR=zdir)
        p = subprocess.run([WARMD, "--check-config", "-c", path], capture_output=True,
                           text=True, env=env, timeout=30)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(f"zones.conf:{line}: error: ", p.stderr)
        self.assertIn(f'unknown time zone "Europe/Berlin" (no {zdir}/Europe/Berlin)', p.stderr)
        env.pop("TZDIR")
        p = subprocess.run([WARMD, "--check-config", "-c", path], capture_output=True,
                           text=True, env=env, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main()
