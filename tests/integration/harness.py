"""harness: starts the fake provider and a real warmd on loopback for integration tests.

Everything runs in a fresh temporary directory: config, keys, templates,
sockets and logs. Binaries come from $WARMD_BIN / $WARMCTL_BIN (set by
ctest), else build/. With WARMD_VALGRIND=1 warmd runs under valgrind and a
memory error or leak fails the test at stop().
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SRC = os.environ.get("WARMD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
WARMD = os.environ.get("WARMD_BIN") or os.path.join(SRC, "build", "warmd")
WARMCTL = os.environ.get("WARMCTL_BIN") or os.path.join(SRC, "build", "warmctl")
FAKEPROV = os.path.join(SRC, "tests", "fakeprov", "fakeprov.py")
EXAMPLES = os.path.join(SRC, "config", "examples")

ANTHROPIC_KEY = "fake-anthropic-key"
OPENAI_KEY = "fake-openai-key"


def wait_for(pred, timeout, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class FakeProvider:
    def __init__(self, workdir, *args):
        self.port_file = os.path.join(workdir, "fakeprov.port")
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.log = open(os.path.join(workdir, "fakeprov.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, FAKEPROV, "--port", "0", "--port-file", self.port_file,
             "--anthropic-key", ANTHROPIC_KEY, "--openai-key", OPENAI_KEY, *args],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.port_file), 10, what="fakeprov port file")
        with open(self.port_file) as f:
            self.port = int(f.read().strip())
        self.url = f"http://127.0.0.1:{self.port}"

    def state(self):
        with urllib.request.urlopen(self.url + "/_fake/state", timeout=5) as r:
            return json.load(r)

    def reset(self):
        req = urllib.request.Request(self.url + "/_fake/reset", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def post(self, path, body, headers):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json", **headers},
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Warmd:
    """One warmd process with its config in workdir."""

    def __init__(self, workdir, config_text, env=None, name="warmd"):
        self.workdir = workdir
        self.config = os.path.join(workdir, name + ".conf")
        self.socket = os.path.join(workdir, name + ".sock")
        self.log_path = os.path.join(workdir, name + ".log")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.env = dict(os.environ)
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.pop("JOURNAL_STREAM", None)
        self.env.update(env or {})
        self.proc = None

    def start(self, wait=True):
        cmd = [WARMD, "-c", self.config]
        if os.environ.get("WARMD_VALGRIND") == "1":
            cmd = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                   "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
                   *cmd]
        self.logf = open(self.log_path, "a")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, env=self.env)
        if wait:
            wait_for(lambda: self.proc.poll() is not None or self.ctl("ping")[0] == 0,
                     30 if os.environ.get("WARMD_VALGRIND") == "1" else 10,
                     what="warmd to answer ping")
            if self.proc.poll() is not None:
                raise AssertionError(f"warmd exited with {self.proc.returncode}:\n{self.log()}")
        return self

    def ctl(self, *args, timeout=None):
        cmd = [WARMCTL, "-s", self.socket]
        if timeout is not None:
            cmd += ["-t", str(timeout)]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def ctl_json(self, *args):
        rc, out, err = self.ctl("--json", *args)
        return rc, json.loads(out) if out.strip() else None

    def status(self, target=None):
        rc, out, err = self.ctl("--json", "status", *([target] if target else []))
        assert rc == 0, (f"status failed: {rc} {out!r} {err!r}; warmd "
                         f"{'running' if self.proc.poll() is None else 'exited'}; log tail:\n"
                         f"{self.log()[-3000:]}")
        return json.loads(out)["data"]

    def target(self, name):
        for t in self.status()["targets"]:
            if t["name"] == name:
                return t
        raise KeyError(name)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM; returns (exit code, seconds it took)."""
        if self.proc is None or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None), 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout * (4 if os.environ.get("WARMD_VALGRIND") == "1" else 1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.logf.close()
        return rc, time.monotonic() - t0

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""


def environ_of(w):
    """warmd's /proc/PID/environ, or None under valgrind: there the file is
    valgrind's copy of the environment, which warmd cannot wipe, so a test
    must report that check as skipped, not passed."""
    if os.environ.get("WARMD_VALGRIND") == "1":
        return None
    with open(f"/proc/{w.proc.pid}/environ", "rb") as f:
        return f.read()


def provider_block(fake, anthropic=True, openai=True, extra=""):
    parts = []
    if anthropic:
        parts.append(f'{{ name = "anthropic"; base_url = "{fake.url}"; api_key_file = "anthropic.key"; {extra} }}')
    if openai:
        parts.append(f'{{ name = "openai"; base_url = "{fake.url}/v1"; api_key_env = "WARMD_TEST_OPENAI_KEY"; {extra} }}')
    return "providers = (\n  " + ",\n  ".join(parts) + "\n);\n"


class Env:
    """A temp dir with keys, example templates, a fake provider and helpers."""

    def __init__(self, *fake_args):
        self.dir = tempfile.mkdtemp(prefix="warmd-it-")
        with open(os.path.join(self.dir, "anthropic.key"), "w") as f:
            f.write(ANTHROPIC_KEY + "\n")
        os.chmod(os.path.join(self.dir, "anthropic.key"), 0o600)  # others may not read a key
        for name in os.listdir(EXAMPLES):
            shutil.copy(os.path.join(EXAMPLES, name), self.dir)
        self.fake = FakeProvider(self.dir, *fake_args)
        self.daemons = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def warmd(self, config_text, env=None, name="warmd", start=True):
        w = Warmd(self.dir, config_text, env={"WARMD_TEST_OPENAI_KEY": OPENAI_KEY, **(env or {})},
                  name=name)
        self.daemons.append(w)
        return w.start() if start else w

    def close(self, keep=False):
        failures = []
        for w in self.daemons:
            rc, _ = w.stop()
            if rc not in (0, None) and w.proc is not None:
                failures.append(f"{w.config}: exit {rc}\n{w.log()[-4000:]}")
        self.fake.stop()
        if not keep and not failures:
            shutil.rmtree(self.dir, ignore_errors=True)
        if failures:
            raise AssertionError("warmd did not exit cleanly:\n" + "\n".join(failures))


def daemon_block(sock, extra=""):
    """A daemon section for a test: its sockets and state live in the test's directory."""
    if "state_file" not in extra:
        extra = f'state_file = "{os.path.join(os.path.dirname(sock), "state.json")}"; {extra}'
    return f'daemon = {{ control_socket = "{sock}"; log_level = "debug"; {extra} }};\n'
