"""Sessions (warmctl keep / drop): a conversation registered over the control
socket is warmed at once and kept warm until keep_until, never after; drop
stops its warms at once; touches extend it; a replaced body's first warm
reads the previous turns' entry and writes only the new ones; sessions
survive a reload and a restart (one whose keep_until passed meanwhile is
dropped, not warmed); the limits refuse what is over them and nothing else
is affected; and the client example in contrib/examples works as written.

The evidence is the fake provider's own request log: which body each warm
carried, when it was sent, and what it read and wrote in the fake's cache,
whose entries live TTL seconds."""
import json
import os
import socket
import stat
import subprocess
import sys
import time
import unittest

from harness import EXAMPLES, SRC, Env, daemon_block, provider_block, wait_for

TTL = 8  # the fake's 5-minute cache lives this long; sessions keep with --ttl TTL
EXAMPLE_PY = os.path.join(SRC, "contrib", "examples", "session_keep.py")


def conf(env, daemon_extra="", targets=""):
    return (daemon_block(env.path("warmd.sock"),
                         f'touch_socket = "{env.path("touch.sock")}"; {daemon_extra}') +
            provider_block(env.fake, openai=False) +
            f"targets = ( {targets} );\n")


def conversation(marker, turns):
    """The support bot's request with `turns` more exchanges, its last user
    turn a breakpoint; marker makes its bodies findable in the fake's log."""
    with open(os.path.join(EXAMPLES, "support-bot.json")) as f:
        body = json.load(f)
    def text(t):
        return [{"type": "text", "text": t}]

    msgs = [{"role": "user", "content": text(f"Hi, my tent arrived with a broken pole ({marker}).")}]
    for i in range(turns):
        msgs.append({"role": "assistant",
                     "content": text(f"Sorry to hear that. Step {i}: " + "check the box. " * 40)})
        msgs.append({"role": "user",
                     "content": text(f"Turn {i} of {marker}: " + "here are the details. " * 40)})
    # The breakpoint on the last turn: the next request extends this entry.
    msgs[-1]["content"][0]["cache_control"] = {"type": "ephemeral"}
    body["messages"] = msgs
    return json.dumps(body)


class Sessions(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL))

    def tearDown(self):
        self.env.close()

    # ---- helpers ----

    def keep(self, w, name, body, *args, rc=0):
        path = self.env.write(f"{name.replace(':', '_')}.json", body)
        r, out, err = w.ctl("keep", name, "--provider", "anthropic", "--request-file", path,
                            "--ttl", str(TTL), *args)
        self.assertEqual(r, rc, f"keep {name}: {out} {err}")
        return out + err

    def warms(self, marker):
        """The fake's log entries whose body carries marker, oldest first."""
        return [e for e in self.env.fake.state()["log"] if marker in e["body"]]

    def session(self, w, name):
        for t in w.status()["targets"]:
            if t["name"] == name:
                return t
        return None

    def metric_value(self, w, series):
        """The value of one series of warmctl metrics ('name{label="v"}')."""
        rc, text, _ = w.ctl("metrics")
        self.assertEqual(rc, 0)
        for line in text.splitlines():
            if line.split(" ")[0] == series:
                return float(line.split(" ")[1])
        raise AssertionError(f"no metric {series}")

    # ---- the window ----

    def test_kept_window_has_no_cold_gap_and_no_warm_after(self):
        w = self.env.warmd(conf(self.env))
        t0 = time.time()
        out = self.keep(w, "agent:1", conversation("win-1", 1), "--for", "22")
        self.assertIn("new session", out)
        s = self.session(w, "agent:1")
        self.assertTrue(s["session"])
        self.assertEqual(s["policy"], "adaptive")
        self.assertAlmostEqual(s["keep_until"], t0 + 22, delta=1.5)
        keep_until = s["keep_until"]
        # Warmed at once, whatever the policy.
        wait_for(lambda: self.warms("win-1"), 3, what="the keep's warm")
        self.assertLess(self.warms("win-1")[0]["t"] - t0, 1.5)
        wait_for(lambda: self.session(w, "agent:1") is None, keep_until - time.time() + 8,
                 what="the session to end at keep_until")
        time.sleep(TTL + 2)  # a cache's lifetime after the end: nothing more comes
        log = self.warms("win-1")
        self.assertGreaterEqual(len(log), 3, log)
        # One write (the first warm), then only reads: the fake's cache, whose
        # entries live TTL s, never went cold inside the window...
        self.assertGreater(log[0]["write"], 0)
        for prev, e in zip(log, log[1:]):
            self.assertEqual(e["status"], 200)
            self.assertGreater(e["read"], 0, e)
            self.assertEqual(e["write"], 0, e)
            self.assertLess(e["t"] - prev["t"], TTL)
        # ...it was still warm at keep_until, and nothing was sent after it.
        self.assertGreater(log[-1]["t"] + TTL, keep_until)
        self.assertLess(log[-1]["t"], keep_until + 0.5)
        self.assertIn("agent:1: session ended (expired", w.log())
        self.assertEqual(self.metric_value(w, 'warmd_session_drops_total{reason="expired"}'), 1)
        self.assertEqual(self.metric_value(w, "warmd_sessions"), 0)
        self.assertEqual(self.metric_value(w, 'warmd_session_warms_total{result="write"}'), 1)
        self.assertEqual(self.metric_value(w, 'warmd_session_warms_total{result="hit"}'),
                         len(log) - 1)
        # A session has no per-name series.
        rc, text, _ = w.ctl("metrics")
        self.assertNotIn("agent:1", text)

    def test_drop_stops_warms_at_once(self):
        w = self.env.warmd(conf(self.env))
        self.keep(w, "agent:2", conversation("drop-2", 1), "--for", "5m")
        wait_for(lambda: (self.session(w, "agent:2") or {}).get("state") == "warm", 5,
                 what="warm")
        rc, out, err = w.ctl("drop", "agent:2")
        self.assertEqual(rc, 0, err)
        self.assertIn("session dropped", out)
        self.assertIsNone(self.session(w, "agent:2"))
        n = len(self.warms("drop-2"))
        time.sleep(2 * TTL)  # two cache lifetimes: a kept session would have had two warms
        self.assertEqual(len(self.warms("drop-2")), n)
        rc, _, err = w.ctl("drop", "agent:2")
        self.assertEqual(rc, 1)
        self.assertIn("not_found", err)
        self.assertEqual(self.metric_value(w, 'warmd_session_drops_total{reason="drop"}'), 1)

    def test_touches_extend_keep_until(self):
        w = self.env.warmd(conf(self.env))
        self.keep(w, "agent:3", conversation("touch-3", 1), "--for", "10")
        first = self.session(w, "agent:3")["keep_until"]
        time.sleep(6)
        t_touch = time.time()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b"agent:3 hit", self.env.path("touch.sock"))
        s.close()
        wait_for(lambda: self.session(w, "agent:3")["touches"] == 1, 3, what="the touch")
        after = self.session(w, "agent:3")["keep_until"]
        # The touch's time + for, not keep_until + for.
        self.assertAlmostEqual(after, t_touch + 10, delta=1)
        self.assertLess(after, first + 10 - 2)
        # Alive past the first keep_until, warmed there, gone after the new one.
        wait_for(lambda: time.time() > first + 1.5, 15, what="the first keep_until to pass")
        self.assertIsNotNone(self.session(w, "agent:3"))
        wait_for(lambda: self.session(w, "agent:3") is None, after - time.time() + 8,
                 what="the end at the new keep_until")
        log = self.warms("touch-3")
        self.assertTrue(any(e["t"] > first for e in log), log)
        self.assertLess(log[-1]["t"], after + 0.5)
        # warmctl touch extends too.
        self.keep(w, "agent:4", conversation("touch-4", 1), "--for", "30")
        time.sleep(1.5)
        rc, _, err = w.ctl("touch", "agent:4")
        self.assertEqual(rc, 0, err)
        self.assertAlmostEqual(self.session(w, "agent:4")["keep_until"], time.time() + 30,
                               delta=1.5)

    def test_replaced_body_reads_the_previous_entry(self):
        w = self.env.warmd(conf(self.env))
        v1, v2 = conversation("conv-5", 1), conversation("conv-5", 3)
        self.keep(w, "agent:5", v1, "--for", "5m")
        wait_for(lambda: self.warms("conv-5"), 3, what="v1's warm")
        first = self.warms("conv-5")[0]
        self.assertEqual(first["read"], 0)  # nothing of it cached yet
        written_v1 = first["write"]
        self.assertGreater(written_v1, 0)
        version1 = self.session(w, "agent:5")["version"]
        time.sleep(1)
        out = self.keep(w, "agent:5", v2)
        self.assertIn("new version", out)
        self.assertNotEqual(self.session(w, "agent:5")["version"], version1)
        wait_for(lambda: any("Turn 2 of conv-5" in e["body"] for e in self.warms("conv-5")), 3,
                 what="v2's warm")
        v2_warms = [e for e in self.warms("conv-5") if "Turn 2 of conv-5" in e["body"]]
        # The new version's first warm read the previous turns' entry and
        # wrote only the new turns.
        self.assertEqual(v2_warms[0]["read"], written_v1)
        self.assertGreater(v2_warms[0]["write"], 0)
        self.assertLess(v2_warms[0]["write"], written_v1)
        # The old prefix is not warmed any more.
        time.sleep(TTL + 1)
        later = [e for e in self.warms("conv-5") if e["t"] > v2_warms[0]["t"]]
        self.assertTrue(later, "v2 is kept warm")
        self.assertTrue(all("Turn 2 of conv-5" in e["body"] for e in later), later)
        # The same body again: nothing new (it is warm).
        n = len(self.warms("conv-5"))
        out = self.keep(w, "agent:5", v2)
        self.assertIn("same body", out)
        self.assertEqual(len(self.warms("conv-5")), n)

    # ---- reload and restart ----

    def test_sessions_survive_reload_and_restart(self):
        text = conf(self.env)
        w = self.env.warmd(text)
        self.keep(w, "chat:9", conversation("live-9", 1), "--for", "10m")
        self.keep(w, "chat:10", conversation("brief-10", 1), "--for", "4")
        wait_for(lambda: (self.session(w, "chat:9") or {}).get("state") == "warm", 5,
                 what="warm")
        before = self.session(w, "chat:9")
        # A reload: sessions are not in the config, and stay.
        rc, out, err = w.ctl("reload")
        self.assertEqual(rc, 0, err)
        after = self.session(w, "chat:9")
        self.assertEqual(after["version"], before["version"])
        self.assertEqual(after["keep_until"], before["keep_until"])
        self.assertEqual(after["state"], "warm")
        # The state file names the session and its body's hash, not the body.
        wait_for(lambda: os.path.exists(self.env.path("state.json")) and
                 "chat:9" in open(self.env.path("state.json")).read(), 10,
                 what="the state file to name chat:9")
        state = json.load(open(self.env.path("state.json")))
        rec = state["targets"]["chat:9"]["session"]
        self.assertEqual(rec["provider"], "anthropic")
        self.assertNotIn("live-9", open(self.env.path("state.json")).read())
        body_file = os.path.join(self.env.path("state.sessions"), rec["body"] + ".json")
        self.assertEqual(stat.S_IMODE(os.stat(body_file).st_mode), 0o600)
        self.assertIn("live-9", open(body_file).read())
        # A restart; chat:10's keep_until passes while warmd is down.
        rc, _ = w.stop()
        self.assertEqual(rc, 0)
        time.sleep(4.5)
        n9, n10 = len(self.warms("live-9")), len(self.warms("brief-10"))
        w2 = self.env.warmd(text)
        s = self.session(w2, "chat:9")
        self.assertIsNotNone(s)
        self.assertTrue(s["session"])
        self.assertEqual(s["version"], before["version"])
        self.assertAlmostEqual(s["keep_until"], before["keep_until"], delta=0.01)
        self.assertIsNone(self.session(w2, "chat:10"))
        self.assertIn("chat:10: session not restored (expired)", w2.log())
        self.assertIn("dropped, not warmed", w2.log())
        # chat:9 is kept warm again (its cache expired while down: one write,
        # then reads); chat:10 is never warmed again; its body's file goes.
        wait_for(lambda: len(self.warms("live-9")) >= n9 + 2, 2 * TTL + 3,
                 what="chat:9 warmed after the restart")
        time.sleep(1)
        self.assertEqual(len(self.warms("brief-10")), n10)
        files = os.listdir(self.env.path("state.sessions"))
        self.assertEqual(files, [rec["body"] + ".json"])

    # ---- names and limits ----

    def test_limits_and_refusals_leave_everything_else_working(self):
        support = ('{ name = "support-bot"; provider = "anthropic"; '
                   f'request_file = "support-bot.json"; ttl = {TTL}; }}')
        w = self.env.warmd(conf(self.env, "max_sessions = 2; max_session_bytes = 60000;",
                                support))
        self.keep(w, "s:1", conversation("lim-1", 1))
        self.keep(w, "s:2", conversation("lim-2", 1))
        out = self.keep(w, "s:3", conversation("lim-3", 1), rc=1)
        self.assertIn("limit: max_sessions reached", out)
        # A configured target's name is not a session's.
        out = self.keep(w, "support-bot", conversation("lim-x", 1), rc=1)
        self.assertIn("is a target of warmd.conf", out)
        rc, _, err = w.ctl("drop", "support-bot")
        self.assertEqual(rc, 1)
        self.assertIn("not a session", err)
        # Too large for one control request: refused before it is sent...
        big = self.env.write("big.json", conversation("lim-big", 1)[:-1] +
                             ', "padding": "' + "\\n" * 350000 + '"}')
        self.assertLess(os.path.getsize(big), 1024 * 1024)  # small enough as a file
        rc, _, err = w.ctl("keep", "s:big", "--provider", "anthropic", "--request-file", big,
                           "--ttl", str(TTL))
        self.assertEqual(rc, 1)
        self.assertIn("once JSON-escaped in the request line", err)
        # ...and a line that long from another client is answered, not run.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(w.socket)
            s.sendall(b'{"cmd":"keep","target":"s:raw","provider":"anthropic","body":"' +
                      b"x" * (1024 * 1024 + 10) + b'"}\n')
            answer = json.loads(s.makefile("rb").readline())
        self.assertFalse(answer["ok"])
        self.assertEqual(answer["error"]["code"], "line_too_long")
        # Bytes: a body that would take the sessions past max_session_bytes.
        rc, _, err = w.ctl("drop", "s:1")
        self.assertEqual(rc, 0)
        out = self.keep(w, "s:4", conversation("lim-4", 40), rc=1)
        self.assertIn("max_session_bytes", out)
        # The freed slot is free at once.
        self.keep(w, "s:3", conversation("lim-3", 1))
        # Everything else keeps working: the configured target, the others.
        wait_for(lambda: self.session(w, "support-bot")["state"] == "warm", 5, what="target")
        self.assertIsNotNone(self.session(w, "s:2"))
        wait_for(lambda: self.warms("lim-3"), 3, what="s:3 warmed")
        st = w.status()["daemon"]
        self.assertEqual(st["sessions"], 2)
        self.assertEqual(st["max_sessions"], 2)
        self.assertIsNone(w.proc.poll())
        self.assertEqual(self.metric_value(w, 'warmd_session_keeps_total{result="refused"}'), 3)
        self.assertEqual(self.metric_value(w, "warmd_sessions"), 2)
        # warmctl's own checks: usage errors, nothing sent.
        for args, needle in ((("s:5",), "--provider"),
                             (("s:5", "--provider", "anthropic"), "--request-file FILE or --body"),
                             (("s:5", "--provider", "anthropic", "--body", "{}", "--for", "0"),
                              "--for needs a duration")):
            rc, out, err = w.ctl("keep", *args)
            self.assertEqual(rc, 2, err)
            self.assertIn(needle, err)

    def test_bad_bodies(self):
        w = self.env.warmd(conf(self.env))
        for body, needle in (("{\"model\":", "body: "),
                             ("[]", "body"),
                             ('{"model":"claude-sonnet-4-5","max_tokens":1,"messages":[]}',
                              "")):
            path = self.env.write("bad.json", body)
            rc, out, err = w.ctl("keep", "b:1", "--provider", "anthropic", "--request-file", path)
            self.assertEqual(rc, 1, out)
            self.assertIn(needle, err)
        rc, _, err = w.ctl("keep", "b:1", "--provider", "nope", "--body", "{}")
        self.assertEqual(rc, 1)
        self.assertIn("no provider named \"nope\" (warmd.conf has: anthropic)", err)
        self.assertEqual(w.ctl("ping")[0], 0)
        self.assertEqual(w.status()["daemon"]["sessions"], 0)

    def test_other_commands_take_a_session(self):
        w = self.env.warmd(conf(self.env))
        self.keep(w, "ops:1", conversation("ops-1", 1), "--for", "5m")
        wait_for(lambda: (self.session(w, "ops:1") or {}).get("state") == "warm", 5, what="warm")
        rc, out, err = w.ctl("status", "ops:1")
        self.assertEqual(rc, 0, err)
        self.assertIn("session:       yes (warmctl keep)", out)
        self.assertIn("keep_until:", out)
        # pause holds its warms, not its end; resume warms again
        self.assertEqual(w.ctl("pause", "ops:1")[0], 0)
        self.assertEqual(self.session(w, "ops:1")["state"], "paused")
        self.assertEqual(w.ctl("resume", "ops:1")[0], 0)
        rc, out = w.ctl_json("versions", "ops:1")
        self.assertEqual(rc, 0)
        self.assertEqual(len(out["data"]["versions"]), 1)
        # test, with a variant built as the session's own body is
        variant = self.env.write("variant.json", conversation("ops-1", 2))
        rc, out = w.ctl_json("test", "ops:1", "-n", "2", "--variant", variant)
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(out["data"]["requests"]), 2)
        self.assertEqual(out["data"]["requests"][1]["result"], "hit")
        self.assertEqual(len(out["data"]["variants"]), 1)
        self.assertGreater(out["data"]["variants"][0]["read_tokens"], 0)
        # the audit sees it
        rc, out = w.ctl_json("audit", "ops:1")
        self.assertEqual(rc, 0, out)
        self.assertIn("score", out["data"])

    # ---- the client example ----

    def test_python_example(self):
        w = self.env.warmd(conf(self.env))
        path = self.env.write("conv.json", conversation("example-py", 1))
        env = dict(os.environ, WARMD_SOCKET=w.socket)
        p = subprocess.run([sys.executable, EXAMPLE_PY, "keep", "demo:1", "anthropic", path, "90"],
                           capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("demo:1: new session", p.stdout)
        self.assertAlmostEqual(self.session(w, "demo:1")["keep_for_s"], 90)
        wait_for(lambda: self.warms("example-py"), 3, what="the example's session warmed")
        p = subprocess.run([sys.executable, EXAMPLE_PY, "drop", "demo:1"],
                           capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIsNone(self.session(w, "demo:1"))
        p = subprocess.run([sys.executable, EXAMPLE_PY, "drop", "demo:1"],
                           capture_output=True, text=True, env=env, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not_found", p.stderr)


if __name__ == "__main__":
    unittest.main()
