"""systemd integration: sd_notify messages on $NOTIFY_SOCKET, <N> priority
prefixes when stderr is the journal ($JOURNAL_STREAM), and sockets passed
by socket activation: the control socket's group decides who may change
things, and both sockets of warmd.socket are used as systemd made them."""
import grp
import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest

from harness import WARMCTL, WARMD, Env, daemon_block, provider_block, wait_for


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


    def test_watchdog_pings_from_the_loop(self):
        conf = (daemon_block(self.env.path("warmd.sock")) + provider_block(self.env.fake) +
                'targets = ( { name = "support-bot"; provider = "anthropic"; '
                'request_file = "support-bot.json"; ttl = 6; } );\n')
        t0 = time.monotonic()
        self.env.warmd(conf, env={"NOTIFY_SOCKET": self.sock_path, "WATCHDOG_USEC": "400000"})
        time.sleep(1.5)
        self.drain()
        elapsed = time.monotonic() - t0  # more than 1.5 s on a loaded machine
        pings = sum(m.split("\n").count("WATCHDOG=1") for m in self.messages)
        # Every 200 ms (half of WATCHDOG_USEC): about 7 in 1.5 s, the first
        # 200 ms after start; never more often than that.
        self.assertGreaterEqual(pings, 4, self.messages)
        self.assertLessEqual(pings, elapsed / 0.2 + 1, (elapsed, self.messages))


class SocketActivation(unittest.TestCase):
    @unittest.skipUnless(shutil.which("systemd-socket-activate"), "needs systemd-socket-activate")
    def test_control_socket_passed_by_systemd(self):
        env = Env("--ttl-5m", "6")
        try:
            passed = env.path("activated.sock")
            # systemd-socket-activate passes no environment: no key from an env var here.
            conf = (daemon_block(env.path("unused.sock")) + provider_block(env.fake, openai=False) +
                    'targets = ( { name = "support-bot"; provider = "anthropic"; '
                    'request_file = "support-bot.json"; ttl = 6; } );\n')
            w = env.warmd(conf, start=False)
            log = open(w.log_path, "w")
            proc = subprocess.Popen(["systemd-socket-activate", "-l", passed, WARMD, "-c", w.config],
                                    stdout=log, stderr=subprocess.STDOUT, env=w.env)
            try:
                wait_for(lambda: os.path.exists(passed), 5, what="the activation socket")
                # The first connection starts warmd, which takes over the listening socket.
                p = subprocess.run([WARMCTL, "-s", passed, "-t", "10", "ping"],
                                   capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, p.stderr + w.log())
                self.assertIn("socket activation", w.log())
                self.assertFalse(os.path.exists(env.path("unused.sock")))
                p = subprocess.run([WARMCTL, "-s", passed, "status", "support-bot"],
                                   capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, p.stderr)
            finally:
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(10), 0, w.log())
                log.close()
        finally:
            env.close()


TARGET = ('targets = ( { name = "support-bot"; provider = "anthropic"; '
          'request_file = "support-bot.json"; ttl = 6; } );\n')


def throwaway_member(test):
    """Creates a system group and a system user in it (a supplementary
    group, as an operator's would be); both are removed after the test."""
    suffix = f"{os.getpid() % 10000}{random.randrange(10000)}"
    group, user = f"wdtg{suffix}", f"wdtu{suffix}"
    subprocess.run(["groupadd", "--system", group], check=True, capture_output=True)
    test.addCleanup(subprocess.run, ["groupdel", group], capture_output=True)
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "--gid", "nogroup", "--groups", group, user], check=True,
                   capture_output=True)
    test.addCleanup(subprocess.run, ["userdel", user], capture_output=True)
    return grp.getgrnam(group).gr_gid, user


def ctl_as(sock, user, *args, groups=None):
    """warmctl as user: with its own groups from /etc/group, or exactly groups."""
    g = ["--init-groups"] if groups is None else (
        ["--groups=" + ",".join(groups)] if groups else ["--clear-groups"])
    p = subprocess.run(["setpriv", f"--reuid={user}", "--regid=nogroup", *g, WARMCTL, "-s", sock,
                        *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


# What systemd does for a service with sockets: the sockets on fds 3.., and
# LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (the service's own pid) set.
ACTIVATOR = r"""
import fcntl, os, sys
fds = [int(x) for x in sys.argv[1].split(",")]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in fds]
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
for fd in set(high + fds) - set(range(3, 3 + len(fds))):
    os.close(fd)
os.environ.update(LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=sys.argv[2],
                  LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[3], sys.argv[3:])
"""


@unittest.skipUnless(os.geteuid() == 0, "needs root: creates a throwaway user and group "
                     "and runs warmctl as them")
@unittest.skipUnless(shutil.which("setpriv") and shutil.which("useradd"),
                     "needs setpriv (util-linux) and useradd")
class ActivatedSocketGroup(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", "6")
        os.chmod(self.env.dir, 0o755)  # let the test users reach the sockets
        self.gid, self.member = throwaway_member(self)

    def tearDown(self):
        self.env.close()

    @unittest.skipUnless(shutil.which("systemd-socket-activate"),
                         "needs systemd-socket-activate")
    def test_members_of_the_socket_group_may_change_things(self):
        """systemd-socket-activate as warmd.socket would (SocketGroup= and
        SocketMode= done by hand: it has no options for them)."""
        passed = self.env.path("activated.sock")
        conf = (daemon_block(self.env.path("unused.sock")) +
                provider_block(self.env.fake, openai=False) + TARGET)
        w = self.env.warmd(conf, start=False)
        log = open(w.log_path, "w")
        proc = subprocess.Popen(["systemd-socket-activate", "-l", passed, WARMD, "-c", w.config],
                                stdout=log, stderr=subprocess.STDOUT, env=w.env)
        try:
            wait_for(lambda: os.path.exists(passed), 5, what="the activation socket")
            os.chown(passed, -1, self.gid)
            os.chmod(passed, 0o660)
            p = subprocess.run([WARMCTL, "-s", passed, "-t", "10", "ping"], capture_output=True,
                               text=True)
            self.assertEqual(p.returncode, 0, p.stderr + w.log())
            self.assertIn("socket activation", w.log())
            # A member of the socket's group (a supplementary group)
            rc, out, err = ctl_as(passed, self.member, "pause", "--all")
            self.assertEqual(rc, 0, err + w.log()[-2000:])
            self.assertIn(f"uid {pwd.getpwnam(self.member).pw_uid}", w.log())
            rc, out, err = ctl_as(passed, self.member, "resume", "--all")
            self.assertEqual(rc, 0, err)
            # Not a member: the socket's mode keeps it out...
            rc, out, err = ctl_as(passed, "nobody", "pause", "--all", groups=[])
            self.assertEqual(rc, 3, err)
            # ...and with the socket opened wide, warmd refuses it; gid 0
            # (the group of the socket's own inode) is no one's ticket.
            os.chmod(passed, 0o666)
            for groups in ([], ["root"]):
                rc, out, err = ctl_as(passed, "nobody", "pause", "--all", groups=groups)
                self.assertEqual(rc, 1, (groups, err))
                self.assertIn("forbidden", err)
            p = subprocess.run([WARMCTL, "-s", passed, "--json", "status"], capture_output=True,
                               text=True)
            self.assertIn('"paused_all":false', p.stdout.replace(" ", ""))
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(10), 0, w.log())
            log.close()

    def test_both_sockets_of_the_unit_are_used_as_systemd_made_them(self):
        """Like warmd.socket: a stream socket named control and a datagram
        socket named touch, mode 0660, group SocketGroup=. warmd binds
        nothing, changes neither socket file and leaves their removal to
        systemd."""
        run = self.env.path("run")
        os.mkdir(run, 0o755)
        ctl_path, touch_path = os.path.join(run, "control.sock"), os.path.join(run, "touch.sock")
        cs = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cs.bind(ctl_path)
        cs.listen(16)
        ds = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ds.bind(touch_path)
        for path in (ctl_path, touch_path):
            os.chown(path, 0, self.gid)
            os.chmod(path, 0o660)
        # Paths of its own that do not exist: binding them would fail.
        own = self.env.path("nonexistent/warmd.sock")
        conf = daemon_block(own) + provider_block(self.env.fake, openai=False) + TARGET
        w = self.env.warmd(conf, start=False)
        log = open(w.log_path, "w")
        # "touch" first: warmd goes by name, not by position.
        proc = subprocess.Popen([sys.executable, "-c", ACTIVATOR, f"{ds.fileno()},{cs.fileno()}",
                                 "touch:control", WARMD, "-c", w.config],
                                pass_fds=(cs.fileno(), ds.fileno()), stdout=log,
                                stderr=subprocess.STDOUT, env=w.env)
        cs.close()
        ds.close()
        try:
            wait_for(lambda: proc.poll() is not None or subprocess.run(
                [WARMCTL, "-s", ctl_path, "ping"], capture_output=True).returncode == 0, 10,
                what="warmd on the passed control socket")
            self.assertIsNone(proc.poll(), w.log())
            self.assertIn("control socket from systemd", w.log())
            self.assertIn("touch socket from systemd", w.log())
            t = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            t.sendto(b"support-bot hit", touch_path)
            t.close()

            def touches():
                p = subprocess.run([WARMCTL, "-s", ctl_path, "--json", "status", "support-bot"],
                                   capture_output=True, text=True)
                return p.returncode == 0 and '"touches":1' in p.stdout.replace(" ", "")
            wait_for(touches, 5, what="the touch through the passed socket")
            rc, out, err = ctl_as(ctl_path, self.member, "pause", "--all")
            self.assertEqual(rc, 0, err + w.log()[-2000:])
            for path in (ctl_path, touch_path):
                st = os.stat(path)
                self.assertEqual((st.st_gid, stat.S_IMODE(st.st_mode)), (self.gid, 0o660), path)
            self.assertNotIn("cannot give", w.log())
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(10), 0, w.log())
            log.close()
        self.assertTrue(os.path.exists(ctl_path) and os.path.exists(touch_path),
                        "warmd removed a socket file systemd owns")
        self.assertFalse(os.path.exists(own))


class ConfigurationDirectory(unittest.TestCase):
    def test_default_config_comes_from_configuration_directory(self):
        env = Env()
        try:
            conf = (daemon_block(env.path("warmd.sock")) + provider_block(env.fake) +
                    'targets = ( { name = "support-bot"; provider = "anthropic"; '
                    'request_file = "support-bot.json"; } );\n')
            env.write("warmd.conf", conf)
            p = subprocess.run([WARMD, "--check-config"], capture_output=True, text=True,
                               env={**os.environ, "CONFIGURATION_DIRECTORY": env.dir,
                                    "WARMD_TEST_OPENAI_KEY": "x"})
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(env.path("warmd.conf"), p.stdout)
        finally:
            env.close()


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
