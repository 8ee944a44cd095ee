"""The shipped configuration: config/warmd.conf as installed (no provider,
no target, commented examples) passes --check-config without a warning,
and warmd starts idle on it and says so in its sd_notify STATUS= line
instead of failing; a reload that adds a target leaves idle (and the line
shows the warm once it lands, even with no later warm to carry it), and one
that removes it returns to it."""
import os
import re
import shutil
import socket
import subprocess
import unittest

from harness import SRC, WARMD, Env, wait_for

SHIPPED = os.path.join(SRC, "config", "warmd.conf")
IDLE = "STATUS=idle: no targets configured"


class ShippedConfig(unittest.TestCase):
    def setUp(self):
        self.env = Env()  # 5-minute TTLs: one warm, then none for the rest of the test
        # As installed: pricing.conf beside warmd.conf, the defaults under
        # systemd's directories (here the test's own).
        shutil.copy(os.path.join(SRC, "config", "pricing.conf"), self.env.dir)
        self.dirs = {"RUNTIME_DIRECTORY": self.env.dir, "STATE_DIRECTORY": self.env.dir}
        self.notify_path = self.env.path("notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(0.2)
        self.messages = []

    def tearDown(self):
        self.notify.close()
        self.env.close()

    def statuses(self):
        while True:
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except socket.timeout:
                break
        return [l for m in self.messages for l in m.split("\n") if l.startswith("STATUS=")]

    def test_check_config_passes_without_warnings(self):
        conf = self.env.write("warmd.conf", open(SHIPPED).read())
        p = subprocess.run([WARMD, "--check-config", "-c", conf], capture_output=True,
                           text=True, env={**os.environ, **self.dirs})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr, "")  # not even a warning: the journal stays quiet
        self.assertIn("configuration OK (0 providers, 0 targets, 0 warnings)", p.stdout)

    def test_starts_idle_and_says_so(self):
        with open(SHIPPED) as f:
            shipped = f.read()
        w = self.env.warmd(shipped, env={**self.dirs, "NOTIFY_SOCKET": self.notify_path},
                           start=False)
        w.socket = self.env.path("control.sock")  # the default under RuntimeDirectory=
        w.start()
        wait_for(lambda: IDLE in self.statuses(), 5, what=IDLE)
        self.assertEqual(w.status()["targets"], [])
        self.assertNotRegex(w.log(), r"(?m)warning|error")

        # The operator adds a provider and a target: no longer idle.
        added = re.sub(r"(?m)^providers = \(",
                       f'providers = (\n  {{ name = "anthropic"; base_url = "{self.env.fake.url}"; '
                       'api_key_file = "anthropic.key"; }', shipped, count=1)
        added = re.sub(r"(?m)^targets = \(",
                       'targets = (\n  { name = "support-bot"; request_file = "support-bot.json"; }',
                       added, count=1)
        with open(w.config, "w") as f:
            f.write(added)
        self.messages.clear()
        self.assertEqual(w.ctl("reload")[0], 0, w.log())
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 10, what="warm")
        # The reload said "0/1 warm"; the warm landed within the status line's
        # rate limit (5 s), and no other warm follows for minutes: the held-back
        # update must still come.
        wait_for(lambda: any(s.startswith("STATUS=1/1 warm") for s in self.statuses()), 8,
                 what="STATUS=1/1 warm without a second warm")
        self.assertEqual(w.target("support-bot")["warms"], 1)

        # ...and removes it again: idle once more.
        with open(w.config, "w") as f:
            f.write(shipped)
        self.messages.clear()
        self.assertEqual(w.ctl("reload")[0], 0, w.log())
        wait_for(lambda: IDLE in self.statuses(), 5, what=IDLE + " after the reload")
        rc, _ = w.stop()
        self.assertEqual(rc, 0, w.log())


if __name__ == "__main__":
    unittest.main()
