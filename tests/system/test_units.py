"""The systemd units as installed: `systemd-analyze verify` prints nothing,
`systemd-analyze security --offline=true` rates them 2.0 or better, and the
sysusers.d file creates the warmd user. Runs against a DESTDIR install of
the build into a scratch root (with the host's own units beside it), so the
host is not touched and no systemd needs to be running."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

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

    def test_security_exposure_at_most_2(self):
        p = subprocess.run(["systemd-analyze", "security", "--offline=true", self.unit],
                           capture_output=True, text=True)
        m = re.search(r"Overall exposure level for warmd.service: ([0-9.]+)", p.stdout)
        self.assertIsNotNone(m, p.stdout + p.stderr)
        self.assertLessEqual(float(m.group(1)), 2.0, p.stdout)

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


if __name__ == "__main__":
    unittest.main()
