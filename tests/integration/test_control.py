"""Control socket access: mode 0660 and the control group; mutating commands
need root, warmd's user or the socket's group; version history."""
import grp
import json
import os
import shutil
import stat
import subprocess
import unittest

from harness import WARMCTL, Env, daemon_block, provider_block, wait_for

TTL = 6


def conf(env, extra=""):
    return (daemon_block(env.path("warmd.sock"), extra) + provider_block(env.fake) +
            'targets = (\n'
            f'  {{ name = "support-bot"; provider = "anthropic"; request_file = "support-bot.json"; ttl = {TTL}; }}\n'
            ');\n')


def as_nobody(sock, *args, groups=None):
    """Runs warmctl as user nobody (needs root and setpriv)."""
    g = ["--groups=" + ",".join(groups)] if groups else ["--clear-groups"]
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", *g, WARMCTL, "-s", sock,
                        *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"),
                     "needs root and setpriv to act as another user")
class Access(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL))
        os.chmod(self.env.dir, 0o755)  # let nobody reach the socket's directory

    def tearDown(self):
        self.env.close()

    def test_socket_mode_and_unprivileged_peers(self):
        w = self.env.warmd(conf(self.env, 'control_group = "users";'))
        st = os.stat(w.socket)
        self.assertEqual(stat.S_IMODE(st.st_mode) & 0o007, 0, oct(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_gid, grp.getgrnam("users").gr_gid)
        # Not in the group: cannot even connect.
        rc, _, err = as_nobody(w.socket, "pause", "--all")
        self.assertEqual(rc, 3, err)
        # In the socket's group (a supplementary group, seen through SO_PEERGROUPS).
        rc, out, err = as_nobody(w.socket, "pause", "--all", groups=["users"])
        self.assertEqual(rc, 0, err)
        self.assertTrue(w.status()["daemon"]["paused_all"])
        self.assertIn("uid 65534", w.log())  # the caller is logged
        self.assertEqual(w.ctl("resume", "--all")[0], 0)

    def test_a_peer_that_can_connect_but_is_not_privileged(self):
        w = self.env.warmd(conf(self.env))
        os.chmod(w.socket, 0o666)  # as if an admin widened it by mistake
        rc, out, err = as_nobody(w.socket, "status")
        self.assertEqual(rc, 0, err)  # read-only commands are fine
        rc, out, err = as_nobody(w.socket, "pause", "--all")
        self.assertEqual(rc, 1)
        self.assertIn("forbidden", err)
        self.assertFalse(w.status()["daemon"]["paused_all"])
        rc, out, _ = as_nobody(w.socket, "--json", "reload")
        self.assertEqual(json.loads(out)["error"]["code"], "forbidden")
        # Sessions change what warmd warms: keep and drop are privileged too.
        rc, out, _ = as_nobody(w.socket, "--json", "keep", "s:1", "--provider", "anthropic",
                               "--body", "{}")
        self.assertEqual(json.loads(out)["error"]["code"], "forbidden")
        rc, out, _ = as_nobody(w.socket, "--json", "drop", "s:1")
        self.assertEqual(json.loads(out)["error"]["code"], "forbidden")
        self.assertEqual(w.status()["daemon"]["sessions"], 0)
        self.assertIn("refused pause", w.log())

    def test_unknown_control_group_is_a_config_error(self):
        w = self.env.warmd(conf(self.env, 'control_group = "no-such-group-here";'), start=False)
        p = subprocess.run([os.environ.get("WARMD_BIN", "warmd"), "--check-config", "-c",
                            w.config], capture_output=True, text=True, env=w.env)
        self.assertEqual(p.returncode, 1)
        self.assertIn('control_group "no-such-group-here" does not exist', p.stderr)


class Versions(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", str(TTL))

    def tearDown(self):
        self.env.close()

    def test_versions_after_a_template_change(self):
        w = self.env.warmd(conf(self.env))
        wait_for(lambda: w.target("support-bot")["state"] == "warm", 5, what="warm")
        first = w.target("support-bot")["version"]
        with open(self.env.path("support-bot.json")) as f:
            tmpl = json.load(f)
        tmpl["system"][0]["text"] += " New rules apply."
        with open(self.env.path("support-bot.json"), "w") as f:
            json.dump(tmpl, f)
        self.assertEqual(w.ctl("reload")[0], 0)
        wait_for(lambda: w.target("support-bot")["writes"] == 2, 2, what="the new version warmed")
        rc, data = w.ctl_json("versions", "support-bot")
        self.assertEqual(rc, 0)
        vs = data["data"]["versions"]
        self.assertEqual(len(vs), 2)
        self.assertEqual(vs[1]["version"], first)
        self.assertEqual(vs[0]["version"], w.target("support-bot")["version"])
        # the replaced version stays warm for its overlap (version_overlap)
        self.assertEqual([v["state"] for v in vs], ["warm", "warm"])
        self.assertEqual(vs[1]["lane"], f"support-bot@{first}")
        self.assertEqual(vs[0]["writes"], 1)
        self.assertEqual(vs[1]["writes"], 1)
        self.assertGreaterEqual(vs[1]["last_seen"], vs[1]["first_seen"])
        rc, out, _ = w.ctl("versions", "support-bot")
        self.assertEqual(rc, 0)
        self.assertIn(f"support-bot@{first}", out)
        self.assertEqual(w.ctl("versions", "nope")[0], 1)
        self.assertEqual(w.ctl("versions")[0], 2)
        # The history survives a restart.
        w.stop()
        with open(w.config) as f:
            w2 = self.env.warmd(f.read())
        rc, data = w2.ctl_json("versions", "support-bot")
        self.assertEqual(len(data["data"]["versions"]), 2)
        # a restart does not bring back the replaced version's lane: history only
        self.assertEqual(data["data"]["versions"][1]["state"], "retired")


if __name__ == "__main__":
    unittest.main()
