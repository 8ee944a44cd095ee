"""The Node.js client example (contrib/examples/session_keep.mjs) against a
real warmd: it keeps a session, which the fake provider sees warmed, and
drops it. Skipped (exit 77) where there is no node."""
import json
import os
import shutil
import subprocess
import unittest

from harness import SRC, Env, daemon_block, provider_block, wait_for

EXAMPLE = os.path.join(SRC, "contrib", "examples", "session_keep.mjs")
NODE = shutil.which("node") or shutil.which("nodejs")


@unittest.skipUnless(NODE, "node is not installed")
class NodeExample(unittest.TestCase):
    def setUp(self):
        self.env = Env("--ttl-5m", "8")

    def tearDown(self):
        self.env.close()

    def run_example(self, w, *args):
        return subprocess.run([NODE, EXAMPLE, *args], capture_output=True, text=True,
                              env=dict(os.environ, WARMD_SOCKET=w.socket), timeout=30)

    def test_keep_and_drop(self):
        w = self.env.warmd(daemon_block(self.env.path("warmd.sock")) +
                           provider_block(self.env.fake, openai=False) + "targets = ( );\n")
        with open(self.env.path("support-bot.json")) as f:
            body = json.load(f)
        body["messages"][0]["content"] = "node-example: " + body["messages"][0]["content"]
        path = self.env.write("conv.json", json.dumps(body))
        p = self.run_example(w, "keep", "node:1", "anthropic", path, "2m")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("node:1: new session", p.stdout)
        t = w.target("node:1")
        self.assertTrue(t["session"])
        self.assertEqual(t["keep_for_s"], 120)
        wait_for(lambda: any("node-example" in e["body"] for e in self.env.fake.state()["log"]),
                 3, what="the example's session warmed")
        p = self.run_example(w, "drop", "node:1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("session dropped", p.stdout)
        self.assertNotIn("node:1", [t["name"] for t in w.status()["targets"]])
        p = self.run_example(w, "drop", "node:1")
        self.assertEqual(p.returncode, 1)
        self.assertIn("session_keep: not_found", p.stderr)


if __name__ == "__main__":
    unittest.main()
