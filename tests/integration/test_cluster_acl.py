"""Cluster mode as docs/cluster.md deploys it: warmd authenticates as a
Redis ACL user that may run exactly the commands the documentation's ACL
line lists, on its namespace's keys and channels only, with the password in
password_file; an application publishes touches as the documentation's
publish-only user. The ACL lines are read from docs/cluster.md itself, so
the documentation cannot drift from what warmd sends.

Needs redis-server and redis-cli (scripts/deps.sh); skipped (77) without.
"""
import json
import os
import re
import secrets
import subprocess
import time
import unittest

from harness import SRC, wait_for
from redisfix import REDIS_CLI, Cluster, marked_template

TTL = 20
LEASE = 2
TARGETS = [f"a{i}" for i in range(4)]


def documented_acl(user):
    """The arguments after `ACL SETUSER USER on >PASSWORD` in docs/cluster.md."""
    with open(os.path.join(SRC, "docs", "cluster.md")) as f:
        m = re.search(rf"^\s*ACL SETUSER {user} on >PASSWORD (.*)$", f.read(), re.M)
    assert m, f"docs/cluster.md has no ACL line for {user}"
    return m.group(1).split()


def in_namespace(args, ns):
    """The documented arguments with the namespace warmd replaced by ns."""
    return [a.replace("warmd:", ns + ":") for a in args]


class DocumentedAcl(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(TTL, LEASE)
        for n in TARGETS + ["blue", "green"]:
            self.c.write_all(f"{n}.json", marked_template(f"[[{n}]]"))
        # a target with versions too: the weights travel through Redis
        self.c.targets_text = "targets = (\n" + ",\n".join(
            f'  {{ name = "{n}"; provider = "anthropic"; request_file = "{n}.json"; ttl = {TTL}; }}'
            for n in TARGETS) + (
            f',\n  {{ name = "bot"; provider = "anthropic"; ttl = {TTL}; versions = (\n'
            '    { name = "blue"; request_file = "blue.json"; weight = 100; },\n'
            '    { name = "green"; request_file = "green.json"; weight = 0; } ); }\n);')
        self.password = secrets.token_hex(16)
        self.pw_file = os.path.join(self.c.env.dir, "redis.pass")
        fd = os.open(self.pw_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")
        r = self.c.redis
        r.cli("ACL", "SETUSER", "warmd", "on", ">" + self.password,
              *in_namespace(documented_acl("warmd"), self.c.ns))
        self.app_password = secrets.token_hex(16)
        r.cli("ACL", "SETUSER", "app", "on", ">" + self.app_password,
              *in_namespace(documented_acl("app"), self.c.ns))
        r.cli("ACL", "LOG", "RESET")

    def tearDown(self):
        self.c.close()

    def test_two_nodes_as_the_documented_user(self):
        c = self.c
        c.cluster_extra = f'username = "warmd"; password_file = "{self.pw_file}";'
        c.start(["n1", "n2"])
        for n in c.live():
            wait_for(lambda: len(n.cluster_status()["nodes"]) == 2, 4 * LEASE,
                     what=f"{n.name} to see both nodes")
            cl = n.cluster_status()
            self.assertTrue(cl["connected"], cl)
            self.assertFalse(cl["degraded"], cl)
        owners = c.settle(ignore={"bot@green"})
        self.assertEqual(set(owners), set(TARGETS) | {"bot@blue"})
        # a shift on n1 (which warms green first) reaches n2 through Redis
        rc, out, err = c.nodes["n1"].ctl("shift", "bot", "green", "10")
        self.assertEqual(rc, 0, out + err + c.logs())
        wait_for(lambda: c.nodes["n2"].targets()["bot@green"]["weight"] == 10, 3 * LEASE,
                 what="n2 to take the shifted weight")
        self.assertEqual(c.redis.hgetall(f"{c.ns}:weights"),
                         {"bot@blue": "90", "bot@green": "10"})
        # a warm's record and a clean cycle or two more, all under the ACL
        time.sleep(3 * LEASE)
        denied = c.redis.lines("ACL", "LOG")
        self.assertEqual(denied, [], "Redis refused warmd something the documented ACL "
                         "does not allow:\n" + "\n".join(denied) + "\n" + c.logs())
        for n in c.live():
            self.assertNotIn("NOPERM", n.log())
            self.assertNotIn("degraded mode", n.log())

        # an application on another host publishes as the publish-only user
        before = {n.name: n.targets()["a1"]["touches"] for n in c.live()}
        p = subprocess.run([REDIS_CLI, "-s", c.redis.socket, "--user", "app", "--pass",
                            self.app_password, "--no-auth-warning", "PUBLISH",
                            f"{c.ns}:touch", "a1 hit cached=100"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "2", "both nodes subscribe: " + p.stdout + p.stderr)
        for n in c.live():
            wait_for(lambda: n.targets()["a1"]["touches"] == before[n.name] + 1, 5,
                     what=f"{n.name} to apply the published touch")

        # the password is nowhere an operator reads
        for n in c.live():
            self.assertNotIn(self.password, n.log())
            self.assertNotIn(self.password, json.dumps(n.status()))
            self.assertNotIn(self.password, n.ctl("metrics")[1])

    def test_a_wrong_password_fails_open_and_says_why(self):
        c = self.c
        wrong = secrets.token_hex(16)
        with open(self.pw_file, "w") as f:
            f.write(wrong + "\n")
        c.cluster_extra = f'username = "warmd"; password_file = "{self.pw_file}";'
        (n,) = c.start(["n1"])
        wait_for(lambda: n.cluster_status()["degraded"], 2 * LEASE + 5,
                 what="degraded mode after the refused AUTH")
        log = wait_for(lambda: re.search(r"cluster: Redis unreachable \((.*)\): degraded mode",
                                         n.log()), 5, what="the degraded line")
        self.assertRegex(log.group(1), r"WRONGPASS|AUTH refused")
        self.assertNotIn(wrong, n.log())
        self.assertNotIn(wrong, json.dumps(n.status()))
        # failing open: every target warmed by this node alone
        wait_for(lambda: all(t["warms"] >= 1 for name, t in n.targets().items()
                             if name != "bot@green"), TTL,  # weight 0: never warmed
                 what="every target warmed in degraded mode")


if __name__ == "__main__":
    unittest.main()
