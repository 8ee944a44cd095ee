"""redisfix: a real redis-server for the cluster tests, a client for it, and
fake "Redis" servers that misbehave.

Redis runs from a temp dir on a Unix socket only (`--port 0`), with no
persistence, so a test owns its server and a restart starts empty. The
client is `redis-cli -s SOCK` in a subprocess, so the tests need nothing but
the redis-tools that come with redis-server. A test calls
`skip_without_redis()` (unittest.SkipTest, reported by pyunit as exit 77)
when redis-server or redis-cli is missing; scripts/deps.sh installs both.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import (ANTHROPIC_KEY, EXAMPLES, OPENAI_KEY, Env, Warmd, daemon_block,
                     provider_block, wait_for)

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def skip_without_redis():
    if not REDIS_SERVER or not REDIS_CLI:
        raise unittest.SkipTest("redis-server or redis-cli not installed "
                                "(scripts/deps.sh installs redis-server)")


class Redis:
    """One redis-server on DIR/redis.sock; kill(), stop()/cont() and restart() keep the path."""

    def __init__(self, d):
        self.dir = d
        os.makedirs(d, exist_ok=True)
        self.socket = os.path.join(d, "redis.sock")
        self.url = "unix://" + self.socket
        self.log_path = os.path.join(d, "redis.log")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", self.dir, "--logfile", self.log_path,
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.proc.poll() is not None or self.ping(), 10, what="redis-server")
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}: {self.log()}")
        return self

    def ping(self):
        try:
            return self.cli("PING", timeout=2) == "PONG"
        except (subprocess.TimeoutExpired, AssertionError):
            return False

    def cli(self, *args, timeout=10, check=True):
        """One command through redis-cli; its raw output, stripped (lists: one item a line)."""
        p = subprocess.run([REDIS_CLI, "-s", self.socket, "--raw", *args], capture_output=True,
                           text=True, timeout=timeout)
        if check and (p.returncode != 0 or p.stdout.startswith("ERR") or
                      "Could not connect" in p.stderr):
            raise AssertionError(f"redis-cli {' '.join(args)}: rc {p.returncode} "
                                 f"{p.stdout!r} {p.stderr!r}")
        return p.stdout.strip()

    def lines(self, *args):
        out = self.cli(*args)
        return out.splitlines() if out else []

    def hgetall(self, key):
        items = self.lines("HGETALL", key)
        return dict(zip(items[0::2], items[1::2]))

    def publish(self, channel, message):
        return int(self.cli("PUBLISH", channel, message))

    def commandstats(self):
        """{command: calls} from INFO commandstats."""
        out = {}
        for line in self.lines("INFO", "commandstats"):
            if line.startswith("cmdstat_"):
                name, _, rest = line.partition(":")
                fields = dict(kv.split("=", 1) for kv in rest.split(","))
                out[name[len("cmdstat_"):]] = int(fields["calls"])
        return out

    def kill(self):
        """SIGKILL: no goodbye to the clients; the socket file stays behind."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def restart(self):
        self.kill()
        return self.start()

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-3000:]
        except OSError:
            return ""


class BadRedis:
    """A Unix socket server that speaks like a broken Redis. mode:
      garbage    answers whatever it reads with bytes that are not RESP
      silent     accepts, reads, never answers
      wrongtype  answers every read with a well-formed reply of the wrong
                 type (an integer), whatever the command
      chatty     greets each connection with a reply nobody asked for, and
                 answers every read with two replies
    It counts connections and bytes read, so a test can see the daemon tried."""

    def __init__(self, path, mode):
        self.path = path
        self.mode = mode
        self.connections = 0
        self.bytes_read = 0
        self.lock = threading.Lock()
        self.conns = []
        self.stopping = False
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            if self.mode == "chatty":
                c.sendall(b"+HELLO\r\n")
            while not self.stopping:
                data = c.recv(65536)
                if not data:
                    return
                with self.lock:
                    self.bytes_read += len(data)
                if self.mode == "garbage":
                    c.sendall(b"\x00\xff\xfeHTTP/1.1 400 not redis\r\n\r\n<html>")
                elif self.mode == "wrongtype":
                    c.sendall(b":42\r\n")
                elif self.mode == "chatty":
                    c.sendall(b"+OK\r\n+OK\r\n")
                # silent: read and say nothing
        except OSError:
            return

    def close(self):
        self.stopping = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


class Subscriber:
    """`redis-cli SUBSCRIBE CHANNEL` in the background; messages() so far."""

    def __init__(self, redis, channel):
        self.path = os.path.join(redis.dir, f"sub-{channel.replace(':', '_')}.out")
        self.f = open(self.path, "w")
        self.proc = subprocess.Popen([REDIS_CLI, "-s", redis.socket, "--raw", "SUBSCRIBE", channel],
                                     stdout=self.f, stderr=subprocess.STDOUT)
        # --raw prints each push as three lines: "message", channel, payload
        wait_for(lambda: "subscribe" in self._text(), 5, what=f"SUBSCRIBE {channel}")

    def _text(self):
        with open(self.path) as f:
            return f.read()

    def messages(self):
        lines = self._text().splitlines()
        return [lines[i + 2] for i in range(len(lines) - 2) if lines[i] == "message"]

    def close(self):
        self.proc.terminate()
        self.proc.wait(5)
        self.f.close()


def sleep_until(t):
    d = t - time.time()
    if d > 0:
        time.sleep(d)


# ------------------------------------------------------------ the cluster

def marked_template(marker, tag=""):
    """support-bot.json with marker (and tag) at the start of the system
    prompt: a prefix of its own, whose requests the fake provider's log
    tells apart by the marker."""
    with open(os.path.join(EXAMPLES, "support-bot.json")) as f:
        t = json.load(f)
    t["system"][0]["text"] = f"{marker} {tag}" + t["system"][0]["text"]
    return json.dumps(t)


class Node(Warmd):
    """A warmd of the cluster, in a directory of its own (its host): config,
    key, templates, control socket, touch socket, state file, log."""

    def __init__(self, cluster, name, redis_url):
        self.name = name
        self.dir = os.path.join(cluster.env.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        key = os.path.join(self.dir, "anthropic.key")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(ANTHROPIC_KEY + "\n")
        self.touch_socket = os.path.join(self.dir, "touch.sock")
        self.redis_url = redis_url
        self.cluster = cluster
        super().__init__(self.dir, "", env={"WARMD_TEST_OPENAI_KEY": OPENAI_KEY}, name="warmd")

    def write(self, fname, text):
        with open(os.path.join(self.dir, fname), "w") as f:
            f.write(text)

    def configure(self):
        c = self.cluster
        text = (daemon_block(self.socket, f'touch_socket = "{self.touch_socket}"; {c.daemon_extra}') +
                provider_block(c.env.fake, openai=False) +
                f'cluster = {{ redis = "{self.redis_url}"; node = "{self.name}"; '
                f'namespace = "{c.ns}"; lease = "{c.lease_s:g}s"; {c.cluster_extra} }};\n' +
                self.targets_text + "\n")
        with open(self.config, "w") as f:
            f.write(text)

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name}: warmd exited with {self.proc.returncode}:\n"
                                 f"{self.log()[-3000:]}")
        return self.ctl("ping")[0] == 0

    def touch(self, text):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(text.encode(), self.touch_socket)
        s.close()

    def targets(self):
        return {t["name"]: t for t in self.status()["targets"]}

    def cluster_status(self):
        return self.status()["daemon"].get("cluster")

    def kill(self):
        """SIGKILL, as a host dies; the node no longer counts for Env.close()."""
        self.proc.kill()
        self.proc.wait()
        self.logf.close()
        self.cluster.env.daemons.remove(self)
        del self.cluster.nodes[self.name]


class Cluster:
    """A fake provider, one redis-server and N warmd nodes that share them.

    Every node gets the same config but for `node` (and its own paths):
    the targets_text given (templates written with write_all()), and
    cluster = { redis = unix://...; node; namespace = t<random>; lease }.
    The fake provider keeps a long request log, the evidence of the tests."""

    def __init__(self, ttl, lease_s=3, daemon_extra="", fake_args=()):
        skip_without_redis()
        self.ttl = ttl
        self.lease_s = lease_s
        self.daemon_extra = daemon_extra
        self.cluster_extra = ""  # more settings of the cluster section (username...)
        self.env = Env("--ttl-5m", str(ttl), "--log-requests", "100000", *fake_args)
        self.redis = Redis(os.path.join(self.env.dir, "redis"))
        self.ns = "t" + secrets.token_hex(4)
        self.nodes = {}
        self.targets_text = ""
        self.t0 = time.time()

    def write_all(self, fname, text):
        """A template file, the same on every node (those to come too)."""
        self.env.write(fname, text)
        for n in self.nodes.values():
            n.write(fname, text)

    def start(self, names, redis_url=None, targets_text=None):
        """Starts these nodes at once (as a fleet is deployed) and waits until
        each answers ping. redis_url and targets_text: for nodes that are
        not really of this cluster (a broken Redis, targets of their own)."""
        started = []
        for name in names:
            n = Node(self, name, redis_url or self.redis.url)
            n.targets_text = targets_text if targets_text is not None else self.targets_text
            for fname in os.listdir(self.env.dir):
                if fname.endswith(".json"):
                    shutil.copy(os.path.join(self.env.dir, fname), n.dir)
            n.configure()
            n.start(wait=False)
            self.env.daemons.append(n)
            self.nodes[name] = n
            started.append(n)
        for n in started:
            wait_for(n.ready, 20, what=f"{n.name} to answer ping")
        return started

    def live(self):
        return list(self.nodes.values())

    def owners(self, ignore=()):
        """{target: owner} when every live node agrees on every target's
        owner, that owner is a live node and the state is warm; else None.
        Targets named in ignore (say, a version of weight 0) are left out."""
        view = None
        for n in self.live():
            ts = n.targets()
            mine = {name: (t.get("owner"), t["state"]) for name, t in ts.items()
                    if name not in ignore}
            if any(o not in self.nodes or st != "warm" for o, st in mine.values()):
                return None
            if view is not None and mine != view:
                return None
            view = mine
        return {name: o for name, (o, _) in view.items()}

    def settle(self, timeout=None, ignore=()):
        """Waits until the nodes agree on owners and those owners have held
        for two leases; returns {target: owner}. Agreement alone is not
        enough: the first node up takes every free lease, and the others
        agree that it holds them until it hands them over, a few cycles
        later, to the owners the hash gives them."""
        seen = {"owners": None, "since": 0.0}

        def stable():
            o = self.owners(ignore)
            now = time.monotonic()
            if o is None or o != seen["owners"]:
                seen["owners"], seen["since"] = o, now
                return None
            return o if now - seen["since"] >= 2 * self.lease_s else None

        return wait_for(stable, timeout or (6 * self.lease_s + 10), step=0.2,
                        what="every node to show the same live owner and state warm, "
                             "unchanged for two leases")

    # evidence: the fake provider's request log

    def log(self):
        return self.env.fake.state()["log"]

    def requests(self, marker, log=None, warms_only=False):
        """The 200 answers to requests of the prefix marked so, oldest first."""
        out = [e for e in (log if log is not None else self.log())
               if e["status"] == 200 and marker in e["body"]]
        if warms_only:
            out = [e for e in out if e["max_tokens"] == 0]
        return sorted(out, key=lambda e: e["t"])

    def timeline(self, markers, log=None):
        """Each prefix's requests as seconds since the cluster started (w = warm that wrote)."""
        log = log if log is not None else self.log()
        lines = []
        for m in markers:
            rs = self.requests(m, log)
            lines.append(f"{m}: " + " ".join(
                f"{e['t'] - self.t0:.1f}{'' if e['max_tokens'] == 0 else 'a'}"
                f"{'w' if e.get('write') else ''}" for e in rs))
        return "\n".join(lines)

    def logs(self, tail=2500):
        return "\n".join(f"--- {n.name} log tail:\n{n.log()[-tail:]}" for n in self.env.daemons)

    def close(self):
        keep = os.environ.get("WARMD_KEEP") == "1"
        try:
            self.env.close(keep=keep)
        finally:
            self.redis.close()
            if keep:
                print(f"kept {self.env.dir}")
            elif os.path.isdir(self.env.dir):
                shutil.rmtree(self.env.dir, ignore_errors=True)
