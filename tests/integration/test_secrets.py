"""Secrets: a provider that echoes the API key back must not get any piece of
it in front of an operator; keys read from the environment leave no copy in
/proc/PID/environ; key files open to others are warned about; warmd is not
dumpable.

The keys are long and obviously fake ("fake-" and 70 letters and digits); the
fake provider's echo_key fault answers 401 with the presented key in an HTML
page or a long JSON message placed across the lengths warmd once cut texts at.
"""
import json
import os
import random
import shutil
import signal
import string
import subprocess
import time
import unittest
import urllib.request

from harness import WARMCTL, WARMD, Env, daemon_block, wait_for

TTL = 30
ENV_NAME = "WARMD_TEST_LONG_KEY"
PIECE = 10


def fake_key(seed):
    rng = random.Random(seed)
    return "fake-" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(70))


K_FILE = fake_key(101)   # the anthropic provider's, from api_key_file
K_ENV = fake_key(202)    # the openai provider's, from api_key_env
URL_PW = fake_key(303)   # a gateway's basic-auth password, in its base_url


def pieces(key, n=PIECE):
    return {key[i:i + n] for i in range(len(key) - n + 1)}


def set_faults(env, **faults):
    req = urllib.request.Request(env.fake.url + "/_fake/faults", data=json.dumps(faults).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def write_key(env, name, key, mode=0o600):
    path = env.path(name)
    with open(path, "w") as f:
        f.write(key + "\n")
    os.chmod(path, mode)
    return path


def conf(env, daemon_extra="", key_file="long.key"):
    targets = [("a", "anthropic", "support-bot.json"), ("o", "openai", "openai-chat.json")]
    return (daemon_block(env.path("warmd.sock"), daemon_extra) +
            "providers = (\n"
            f'  {{ name = "anthropic"; base_url = "{env.fake.url}"; api_key_file = "{key_file}"; }},\n'
            f'  {{ name = "openai"; base_url = "{env.fake.url}/v1"; api_key_env = "{ENV_NAME}"; }}\n'
            ");\n" +
            "targets = (\n" +
            ",\n".join(f'  {{ name = "{n}"; provider = "{p}"; request_file = "{f}"; ttl = {TTL}; }}'
                       for n, p, f in targets) +
            "\n);\n")


def provider(status, name):
    return next(p for p in status["daemon"]["providers"] if p["name"] == name)


class Secrets(unittest.TestCase):
    def setUp(self):
        self.env = Env("--anthropic-key", K_FILE, "--openai-key", K_ENV)
        write_key(self.env, "long.key", K_FILE)

    def tearDown(self):
        self.env.close()

    def start(self, daemon_extra="", **kw):
        return self.env.warmd(conf(self.env, daemon_extra, **kw), env={ENV_NAME: K_ENV})

    def assert_no_piece(self, where, text):
        found = sorted(p for k in (K_FILE, K_ENV) for p in pieces(k) if p in text)
        self.assertEqual(found, [], f"{len(found)} {PIECE}-character pieces of a key in {where}")

    def echo_scenario(self, style):
        prom = self.env.path("warmd.prom")
        state = self.env.path("state.json")
        w = self.start(f'metrics_textfile = "{prom}"; metrics_textfile_interval = "1s";')
        wait_for(lambda: all(t["state"] == "warm" for t in w.status()["targets"]), 10,
                 what="both targets warm with the long keys")
        set_faults(self.env, echo_key=style)
        seen = {}
        # warmctl test first: it refuses once the credential has failed.
        for t in ("a", "o"):
            rc, out, err = w.ctl("test", t, "-n", "1")
            self.assertEqual(rc, 1, (out, err))
            seen[f"warmctl test {t}"] = out + err
            rc, out, err = w.ctl("--json", "test", t, "-n", "1")
            seen[f"warmctl --json test {t}"] = out + err
        for t in ("a", "o"):
            rc, out, err = w.ctl("warm", t)
            seen[f"warmctl warm {t}"] = out + err
        wait_for(lambda: all(provider(w.status(), p)["credential_failed"]
                             for p in ("anthropic", "openai")), 10, what="both keys rejected")
        st = w.status()
        for t in st["targets"]:
            self.assertIn("HTTP 401", t["last_error"] or "", t)
        for p in ("anthropic", "openai"):
            self.assertIn("HTTP 401", provider(st, p)["credential_error"])
        # The texts still say what happened: the key was there and is masked.
        self.assertIn("[key]", seen["warmctl test a"] + seen["warmctl test o"])
        seen["warmctl --json status"] = json.dumps(st)
        for args in (("status",), ("status", "a"), ("status", "o"), ("metrics",), ("audit",),
                     ("--json", "audit"), ("--json", "status", "a")):
            rc, out, err = w.ctl(*args)
            seen["warmctl " + " ".join(args)] = out + err
        time.sleep(1.5)   # one more textfile interval
        with open(prom) as f:
            seen["metrics textfile"] = f.read()
        rc, _ = w.stop()
        self.assertEqual(rc, 0)
        seen["warmd log"] = w.log()
        with open(state) as f:
            seen["state file"] = f.read()
        self.assertIn("HTTP 401", seen["state file"])
        for where, text in seen.items():
            with self.subTest(style=style, where=where):
                self.assert_no_piece(where, text)

    def test_html_echo_leaves_no_piece_of_the_key(self):
        self.echo_scenario("html")

    def test_json_echo_leaves_no_piece_of_the_key(self):
        self.echo_scenario("json")

    @unittest.skipIf(os.environ.get("WARMD_VALGRIND") == "1",
                     "under valgrind /proc/PID/environ is valgrind's copy, not warmd's")
    def test_env_key_wiped_from_proc_and_kept_across_reload(self):
        w = self.start()
        wait_for(lambda: w.target("o")["state"] == "warm", 10, what="openai target warm")
        with open(f"/proc/{w.proc.pid}/environ", "rb") as f:
            environ = f.read().decode("latin-1")
        self.assert_no_piece("/proc/PID/environ", environ)
        self.assertIn(ENV_NAME + "=", environ)   # the variable is there, its value is not
        rc, out, err = w.ctl("reload")
        self.assertEqual(rc, 0, (out, err))
        warms = w.target("o")["warms"]
        self.assertEqual(w.ctl("warm", "o")[0], 0)
        wait_for(lambda: w.target("o")["warms"] > warms, 10, what="a warm after the reload")
        o = w.target("o")
        self.assertIsNone(o["last_error"], o)      # the reloaded credential still holds the key
        self.assertFalse(provider(w.status(), "openai")["credential_failed"])
        with open(f"/proc/{w.proc.pid}/environ", "rb") as f:
            self.assert_no_piece("/proc/PID/environ after reload", f.read().decode("latin-1"))

    def test_key_file_open_to_others_is_warned_about(self):
        path = write_key(self.env, "open.key", K_FILE, 0o644)
        text = conf(self.env, key_file="open.key")
        cfg = self.env.write("check.conf", text)
        p = subprocess.run([WARMD, "--check-config", "-c", cfg], capture_output=True, text=True,
                           env={**os.environ, ENV_NAME: K_ENV}, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        line = next(n for n, l in enumerate(text.splitlines(), 1) if "open.key" in l)
        warning = f"{cfg}:{line}: warning: provider \"anthropic\": api_key_file {path}"
        self.assertIn(warning, p.stderr)
        self.assertIn("0644", p.stderr)
        self.assert_no_piece("--check-config", p.stdout + p.stderr)
        # At start, in the log; gone on a reload once fixed; back on one when broken again.
        w = self.start(key_file="open.key")
        self.assertIn(f"api_key_file {path}", w.log())
        self.assertIn("0644", w.log())
        os.chmod(path, 0o600)
        rc, out, err = w.ctl("reload")
        self.assertEqual(rc, 0, (out, err))
        self.assertNotIn("api_key_file", out + err)
        os.chmod(path, 0o640)   # owned by warmd's own user: the group has no business reading it
        rc, out, err = w.ctl("reload")
        self.assertEqual(rc, 0, (out, err))
        self.assertIn(f"api_key_file {path}", out + err)
        self.assertIn("0640", out + err)
        n = w.log().count(f"api_key_file {path}")
        w.signal(signal.SIGHUP)  # a reload by signal logs it too
        wait_for(lambda: w.log().count(f"api_key_file {path}") > n, 10, what="the SIGHUP warning")
        self.assert_no_piece("warmd log", w.log())


class UrlCredentials(unittest.TestCase):
    """Credentials in base_url: a self-hosted gateway on loopback that asks for basic auth
    (the fake provider takes any Authorization, and echo_key decodes a Basic one)."""

    def setUp(self):
        self.env = Env("--openai-key", "")

    def tearDown(self):
        self.env.close()

    def test_url_password_never_shown(self):
        """A loopback gateway that asks for basic auth, its password in base_url: status,
        warmctl test, the log, the state file and a config error never show it, even when
        the gateway echoes the credentials it was sent."""
        base = self.env.fake.url.replace("http://", f"http://gw-user:{URL_PW}@", 1) + "/v1"
        text = (daemon_block(self.env.path("warmd.sock")) +
                f'providers = ( {{ name = "gw"; kind = "openai-compatible"; base_url = "{base}"; }} );\n'
                'targets = ( { name = "c"; provider = "gw"; request_file = "openai-chat.json"; '
                'ttl = 30; } );\n')
        w = self.env.warmd(text)
        wait_for(lambda: w.target("c")["warms"] > 0 and not w.target("c")["last_error"], 10,
                 what="a warm through the gateway")
        set_faults(self.env, echo_key="json")
        seen = {}
        rc, out, err = w.ctl("test", "c", "-n", "1")
        self.assertEqual(rc, 1, (out, err))
        seen["warmctl test c"] = out + err
        w.ctl("warm", "c")
        wait_for(lambda: provider(w.status(), "gw")["credential_failed"], 10,
                 what="the gateway's 401")
        st = w.status()
        c = st["targets"][0]
        self.assertIn("HTTP 401", c["last_error"], c)
        self.assertIn("gw-user:[key]", c["last_error"], c)   # the echo is there, masked
        seen["warmctl --json status"] = json.dumps(st)
        for args in (("status",), ("status", "c"), ("--json", "audit")):
            rc, out, err = w.ctl(*args)
            seen["warmctl " + " ".join(args)] = out + err
        # Plain http to a host that is not loopback: the reload is refused, its error
        # shows the URL without the credentials.
        with open(w.config, "w") as f:
            f.write(text.replace(base, f"http://gw-user:{URL_PW}@gw.example/v1"))
        rc, out, err = w.ctl("reload")
        self.assertNotEqual(rc, 0, (out, err))
        self.assertIn('base_url "http://***@gw.example/v1" must use https://', out + err)
        seen["warmctl reload"] = out + err
        rc, _ = w.stop()
        self.assertEqual(rc, 0)
        seen["warmd log"] = w.log()
        with open(self.env.path("state.json")) as f:
            seen["state file"] = f.read()
        self.assertIn("***@127.0.0.1", seen["state file"])
        for where, shown in seen.items():
            with self.subTest(where=where):
                found = sorted(p for p in pieces(URL_PW) if p in shown)
                self.assertEqual(found, [], f"{len(found)} {PIECE}-character pieces of the "
                                            f"password in {where}")


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
class NotDumpable(unittest.TestCase):
    """warmd running as an unprivileged user clears its dumpable flag: no core
    dumps, and its /proc files belong to root (another process of the same
    user cannot read its memory or environment); warmctl still works."""

    def setUp(self):
        self.env = Env("--anthropic-key", K_FILE, "--openai-key", K_ENV)
        self.home = self.env.path("nobody")
        os.mkdir(self.home)
        os.chmod(self.env.dir, 0o711)
        for name in ("support-bot.json", "openai-chat.json"):
            shutil.copy(self.env.path(name), self.home)
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.env.close()

    def test_proc_files_belong_to_root(self):
        with open(os.path.join(self.home, "long.key"), "w") as f:
            f.write(K_FILE + "\n")
        os.chmod(os.path.join(self.home, "long.key"), 0o600)
        sock = os.path.join(self.home, "warmd.sock")
        text = conf(self.env).replace(self.env.path("warmd.sock"), sock).replace(
            self.env.path("state.json"), os.path.join(self.home, "state.json"))
        cfg = os.path.join(self.home, "warmd.conf")
        with open(cfg, "w") as f:
            f.write(text)
        for name in os.listdir(self.home):
            os.chown(os.path.join(self.home, name), 65534, 65534)
        os.chown(self.home, 65534, 65534)
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
        log = open(os.path.join(self.env.dir, "nobody.log"), "w")
        self.addCleanup(log.close)
        self.proc = subprocess.Popen(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", WARMD, "-c", cfg],
            stdout=log, stderr=subprocess.STDOUT, env={**env, ENV_NAME: K_ENV})

        def ping():
            return subprocess.run([WARMCTL, "-s", sock, "ping"], capture_output=True,
                                  timeout=30).returncode == 0
        wait_for(lambda: self.proc.poll() is not None or ping(), 20, what="warmd as nobody")
        self.assertIsNone(self.proc.poll(), open(log.name).read())
        # (The /proc/PID directory keeps the process's uid; the files in it do not.)
        for name in ("environ", "mem", "fd"):
            st = os.stat(f"/proc/{self.proc.pid}/{name}")
            self.assertEqual(st.st_uid, 0, f"/proc/PID/{name} is warmd's: it is still dumpable")
        with open(f"/proc/{self.proc.pid}/status") as f:
            self.assertIn("\nUid:\t65534", f.read())
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(20), 0, open(log.name).read())


if __name__ == "__main__":
    unittest.main()
