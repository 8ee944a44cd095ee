"""systemd integration: sd_notify messages on $NOTIFY_SOCKET and <N> priority
prefixes when stderr is the journal ($JOURNAL_STREAM)."""
import os
import signal
import socket
import time
import unittest

from harness import Env, daemon_block, provider_block, wait_for


class Notify(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", "6", "--openai-ttl", "6")
        self.sock_path = self.env.path("notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.sock.settimeout(0.2)
        self.messages = []

    def tearDown(self):
        self.sock.close()
        self.env.close()

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return

    def seen(self, prefix):
        self.drain()
        return any(line.startswith(prefix) for m in self.messages for line in m.split("\n"))

    def test_ready_status_reloading_stopping(self):
        conf = (daemon_block(self.env.path("warmd.sock")) + provider_block(self.env.fake) +
                'targets = ( { name = "support-bot"; provider = "anthropic"; '
                'request_file = "support-bot.json"; ttl = 6; } );\n')
        w = self.env.warmd(conf, env={"NOTIFY_SOCKET": self.sock_path})
        wait_for(lambda: self.seen("READY=1"), 5, what="READY=1")
        wait_for(lambda: self.seen("STATUS="), 5, what="STATUS=")
        status = [l for m in self.messages for l in m.split("\n") if l.startswith("STATUS=")]
        self.assertRegex(status[-1], r"^STATUS=\d+/1 warm, \d+ failing")
        self.messages.clear()
        w.signal(signal.SIGHUP)
        wait_for(lambda: self.seen("RELOADING=1"), 5, what="RELOADING=1")
        self.assertTrue(any("MONOTONIC_USEC=" in m for m in self.messages), self.messages)
        wait_for(lambda: self.seen("READY=1"), 5, what="READY=1 after reload")
        rc, _ = w.stop()
        self.assertEqual(rc, 0)
        self.assertTrue(self.seen("STOPPING=1"), self.messages)


class Journal(unittest.TestCase):
    def test_priority_prefixes_under_journald(self):
        env = Env()
        try:
            log = env.path("journal.log")
            open(log, "w").close()
            st = os.stat(log)
            conf = (daemon_block(env.path("warmd.sock")) + provider_block(env.fake) +
                    'targets = ( { name = "support-bot"; provider = "anthropic"; '
                    'request_file = "support-bot.json"; } );\n')
            w = env.warmd(conf, env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"},
                          start=False)
            w.log_path = log
            w.start()
            wait_for(lambda: "<6>" in w.log(), 5, what="a <6> line")
            w.stop()
            lines = [l for l in w.log().splitlines() if l]
            self.assertTrue(lines)
            for line in lines:
                self.assertRegex(line, r"^<[0-7]>", line)
        finally:
            env.close()


if __name__ == "__main__":
    unittest.main()
