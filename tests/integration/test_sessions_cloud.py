"""Sessions on a provider whose URL names the model: warmctl keep --model on
the fake provider's Bedrock door (SigV4 recomputed from the secret, a
versioned model id sent as %3A), set up as test_cloud_bedrock.py does.

A keep without --model is refused with a clear error naming the option; a
keep with it is warmed at the model's URL, its warms read the cache after
the first write, status shows the model, and the session comes back after
a restart with its model (the state file keeps it) and is warmed there
again. The evidence is the fake's own request log (the model each warm
went to, what it read and wrote)."""
import json
import os
import unittest

from harness import SRC, daemon_block, wait_for
from test_cloud_bedrock import (ID, MODEL, NO_AWS_ENV, SECRET, TTL, BedrockBase, bedrock_log,
                                credentials_file, invoke_template)


class BedrockSession(BedrockBase):
    def conf(self):
        # A sessions-only daemon: a provider, no targets.
        return (daemon_block(self.env.path("warmd.sock"),
                             f'pricing_file = "{os.path.join(SRC, "config", "pricing.conf")}";') +
                "providers = (\n"
                f'  {{ name = "aws"; kind = "bedrock"; region = "us-east-1"; '
                f'base_url = "{self.env.fake.url}"; aws_credentials_file = "aws-credentials"; '
                'aws_profile = "warm"; }\n);\n'
                "targets = ( );\n")

    def keep(self, w, *args, rc=0):
        r, out, err = w.ctl("keep", "claims:7", "--provider", "aws", "--request-file",
                            self.env.path("conv.json"), "--ttl", str(TTL), *args)
        self.assertEqual(r, rc, (out, err))
        return out + err

    def warms(self):
        return [e for e in bedrock_log(self.env, "bedrock") if "claims-7" in e["body"]]

    def test_keep_with_model_warms_reads_and_survives_restart(self):
        credentials_file(self.env, ID, SECRET)
        self.env.write("conv.json", json.dumps(invoke_template("Where is claim claims-7?")))
        w = self.start_conf()
        # Without --model the session cannot say where it goes.
        out = self.keep(w, rc=1)
        self.assertIn("whose URL names the model: give it with --model", out)
        self.assertIn("Bedrock model id", out)
        self.assertEqual(w.status()["targets"], [])
        # With it: warmed at once at the model's URL, then only reads.
        out = self.keep(w, "--model", MODEL, "--for", "10m")
        self.assertIn("new session", out)
        wait_for(lambda: len(self.warms()) >= 3, 3 * TTL + 5, what="three warms")
        log = self.warms()
        self.assertTrue(all(e["status"] == 200 and e["model"] == MODEL and
                            e["auth"] == f"sigv4 {ID}" for e in log), log)
        self.assertGreater(log[0]["write"], 1024, log[0])
        for e in log[1:]:
            self.assertGreater(e["read"], 1024, e)
            self.assertEqual(e["write"], 0, e)
        s = w.target("claims:7")
        self.assertTrue(s["session"])
        self.assertEqual(s["model"], MODEL)
        self.assertEqual(s["errors"], 0, s)
        self.assertGreater(s["cost_usd"], 0, s)  # priced as the model
        version = s["version"]
        # The same body again at the same model: the same session.
        self.assertIn("same body", self.keep(w, "--model", MODEL, "--for", "10m"))
        # The state file keeps the model with the session.
        wait_for(lambda: os.path.exists(self.env.path("state.json")) and
                 '"model"' in open(self.env.path("state.json")).read(), 10,
                 what="the state file to keep the session's model")
        rec = json.load(open(self.env.path("state.json")))["targets"]["claims:7"]["session"]
        self.assertEqual(rec["model"], MODEL)
        self.assertNotIn("deployment", rec)
        # A restart: back with its model, warmed there again.
        rc, _ = w.stop()
        self.assertEqual(rc, 0)
        n = len(self.warms())
        w2 = self.start_conf()
        s = w2.target("claims:7")
        self.assertIsNotNone(s, w2.log())
        self.assertEqual((s["model"], s["version"]), (MODEL, version))
        wait_for(lambda: len(self.warms()) >= n + 2, 2 * TTL + 5,
                 what="warms after the restart")
        after = self.warms()[n:]
        self.assertTrue(all(e["status"] == 200 and e["model"] == MODEL for e in after), after)
        self.assertGreater(after[-1]["read"], 1024, after[-1])
        self.assertEqual(w2.target("claims:7")["errors"], 0)

    def start_conf(self):
        return self.env.warmd(self.conf(), env=NO_AWS_ENV)


if __name__ == "__main__":
    unittest.main()
