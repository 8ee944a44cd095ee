"""The systemd units as installed: `systemd-analyze verify` prints nothing,
`systemd-analyze security --offline=true` rates them 1.5 or better, the
sysusers.d file creates the warmd user, and the units agree with the code:
systemd makes both sockets (warmd cannot chown under the system call
filter), no PrivateUsers= (it would hide who runs a command), resource
limits sized from the budgets, paths as warmd's defaults. Runs against a
DESTDIR install of the build into a scratch root (with the host's own units
beside it), so the host is not touched and no systemd needs to be running."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.environ.get("WARMD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "warmd"))


@unittest.skipUnless(shutil.which("systemd-analyze"), "needs systemd-analyze")
class Units(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="warmd-root-")
        cls.addClassCleanup(shutil.rmtree, cls.root, True)
        os.makedirs(os.path.join(cls.root, "usr/lib/systemd"))
        # The host's units (sysinit.target and friends) the verifier resolves against.
        shutil.copytree("/usr/lib/systemd/system", os.path.join(cls.root, "usr/lib/systemd/system"),
                        symlinks=True)
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            prefix = next(l.split("=", 1)[1].strip() for l in f
                          if l.startswith("CMAKE_INSTALL_PREFIX:"))
        if prefix != "/usr":
            raise unittest.SkipTest(f"the build installs under {prefix}, the units expect /usr")
        p = subprocess.run(["cmake", "--install", BUILD],
                           env={**os.environ, "DESTDIR": cls.root}, capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        cls.unit = os.path.join(cls.root, "usr/lib/systemd/system/warmd.service")

    def test_installed_files(self):
        for f in ("usr/sbin/warmd", "usr/bin/warmctl", "etc/warmd/warmd.conf",
                  "usr/lib/systemd/system/warmd.service", "usr/lib/systemd/system/warmd.socket",
                  "usr/lib/sysusers.d/warmd.conf", "usr/lib/tmpfiles.d/warmd.conf",
                  "usr/share/man/man8/warmd.8", "usr/share/man/man1/warmctl.1",
                  "usr/share/man/man5/warmd.conf.5"):
            self.assertTrue(os.path.exists(os.path.join(self.root, f)), f)

    def test_verify_prints_nothing(self):
        p = subprocess.run(["systemd-analyze", "verify", "--root", self.root, "warmd.service",
                            "warmd.socket"], capture_output=True, text=True,
                           env={**os.environ,
                                "MANPATH": os.path.join(self.root, "usr/share/man")})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout + p.stderr, "")

    def test_security_exposure_at_most_1_5(self):
        p = subprocess.run(["systemd-analyze", "security", "--offline=true", self.unit],
                           capture_output=True, text=True)
        m = re.search(r"Overall exposure level for warmd.service: ([0-9.]+)", p.stdout)
        self.assertIsNotNone(m, p.stdout + p.stderr)
        self.assertLessEqual(float(m.group(1)), 1.5, p.stdout)

    @unittest.skipUnless(shutil.which("systemd-sysusers"), "needs systemd-sysusers")
    def test_sysusers_creates_the_user(self):
        etc = os.path.join(self.root, "etc")
        os.makedirs(etc, exist_ok=True)
        for name in ("passwd", "group", "shadow", "gshadow"):
            open(os.path.join(etc, name), "a").close()
        p = subprocess.run(["systemd-sysusers", "--root", self.root,
                            os.path.join(self.root, "usr/lib/sysusers.d/warmd.conf")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(etc, "passwd")) as f:
            self.assertRegex(f.read(), r"(?m)^warmd:x:\d+:\d+:")
        with open(os.path.join(etc, "group")) as f:
            self.assertIn("warmd:x:", f.read())


def unit_settings(path):
    """{(section, key): [values]} of a unit file (repeated keys accumulate)."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def size_bytes(v):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(v[:-1]) * units[v[-1]] if v[-1] in units else int(v)


class UnitsAgreeWithTheCode(unittest.TestCase):
    """Static checks of systemd/ (what packaging/debian installs too)."""

    @classmethod
    def setUpClass(cls):
        cls.service = unit_settings(os.path.join(SRC, "systemd", "warmd.service"))
        cls.socket = unit_settings(os.path.join(SRC, "systemd", "warmd.socket"))

    def test_systemd_makes_both_sockets(self):
        # warmd chowns a socket it binds to control_group; the filter below
        # makes that chown fail, so under the unit systemd must make both.
        filters = " ".join(self.service[("Service", "SystemCallFilter")])
        self.assertIn("~@privileged", filters)
        self.assertEqual(self.socket[("Socket", "ListenStream")], ["/run/warmd/control.sock"])
        self.assertEqual(self.socket[("Socket", "ListenDatagram")], ["/run/warmd/touch.sock"])
        self.assertEqual(self.socket[("Socket", "SocketGroup")], ["warmd"])
        self.assertEqual(self.socket[("Socket", "SocketMode")], ["0660"])
        self.assertIn("warmd.socket", self.service[("Unit", "Requires")])
        # The paths are the ones warmd uses by default under RuntimeDirectory=warmd
        self.assertEqual(self.service[("Service", "RuntimeDirectory")], ["warmd"])
        self.assertIn("-s /run/warmd/control.sock",
                      self.service[("Service", "ExecReload")][0])

    def test_no_private_users(self):
        # PrivateUsers= maps every peer but root and warmd to nobody in
        # SO_PEERCRED: the audit log would lose who ran a command.
        self.assertNotIn(self.service.get(("Service", "PrivateUsers"), ["no"])[-1],
                         ("yes", "true", "1", "on", "self", "identity"))

    def test_resource_limits_from_the_budgets(self):
        mem_max = size_bytes(self.service[("Service", "MemoryMax")][-1])
        # 128 MiB for 10,000 targets + 32 MiB of control connections + more
        self.assertGreaterEqual(mem_max, 192 << 20)
        self.assertLessEqual(mem_max, 1 << 30)
        self.assertLess(size_bytes(self.service[("Service", "MemoryHigh")][-1]), mem_max)
        tasks = int(self.service[("Service", "TasksMax")][-1])
        self.assertGreaterEqual(tasks, 1 + 4 + 64 + 2)  # loop, libuv workers, resolvers, warmctl
        self.assertLessEqual(tasks, 512)
        nofile = int(self.service[("Service", "LimitNOFILE")][-1])
        self.assertGreaterEqual(nofile, 64 + 32 + 3 * 64 + 64)
        self.assertLessEqual(nofile, 65536)

    def test_runtime_directory_made_before_the_sockets(self):
        with open(os.path.join(SRC, "systemd", "tmpfiles.d", "warmd.conf")) as f:
            self.assertRegex(f.read(), r"(?m)^d /run/warmd 0750 warmd warmd -$")

    def test_debian_installs_these_units_once(self):
        # The package takes the units from CMake's install, into the one
        # directory bookworm's dh_installsystemd enables and starts from; a
        # debian/warmd.service of its own would be a second copy.
        for name in ("warmd.service", "warmd.socket"):
            self.assertFalse(os.path.lexists(os.path.join(SRC, "packaging", "debian", name)))
        with open(os.path.join(SRC, "packaging", "debian", "rules")) as f:
            self.assertIn("-DWARMD_SYSTEMD_UNITDIR=/lib/systemd/system", f.read())

    def test_configuration_directory_mode_as_tmpfiles_makes_it(self):
        # A mismatch is logged at every start and reload.
        with open(os.path.join(SRC, "systemd", "tmpfiles.d", "warmd.conf")) as f:
            self.assertRegex(f.read(), r"(?m)^d /etc/warmd 0750 root warmd -$")
        self.assertEqual(self.service[("Service", "ConfigurationDirectoryMode")], ["0750"])


if __name__ == "__main__":
    unittest.main()
