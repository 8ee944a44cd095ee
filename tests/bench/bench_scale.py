#!/usr/bin/env python3
"""bench_scale: the hot-path budgets of docs/benchmarks.md, in one run.

Starts a loopback nginx that answers every POST /v1/messages at once with a
canned ~350-byte Anthropic answer (so that the client side is what is
measured), then, against it, one after the other:

  1. wrk (the ceiling: what a C load generator gets from this server),
  2. the Python peer (tests/bench/peer_aiohttp.py: asyncio + aiohttp,
     keep-alive, 32 in flight, 20,000 POSTs of the warm body, usage parsed),
  3. warmd with N targets of S-byte templates (one anthropic provider,
     max_inflight 64, no rpm limit): start-up, the start-up burst,
     `warmctl warm --all`, RSS, `warmctl --json status`, then one TTL cycle
     for CPU, lateness (warmd_warm_lateness_seconds) and loop wake-ups.

    python3 tests/bench/bench_scale.py [--targets 10000] [--size 8192]
        [--ttl 300] [--json] [--skip-wrk] [--skip-peer] [--skip-cycle]

Rates are read from nginx's access log ($msec of each request, one log per
client), so warmd and the peer are measured the same way. Wake-ups are the
loop's epoll_wait calls, counted per second with `perf stat -I` during the
cycle: a second in which no warm was sent and no control request came, yet
epoll_wait returned, is a wake-up between due warms. With --ttl shorter than
300 s the cycle's CPU is also given scaled to 5-minute TTLs (the work is per
warm, so CPU share scales with the warm rate, ttl/300).

Benchmarks print figures and assert nothing. Build a release binary first
(WARMD_BIN, WARMCTL_BIN or build/); nginx, wrk, perf and python3-aiohttp are
Debian packages (`scripts/deps.sh bench` installs them).
"""
import argparse
import bisect
import calendar
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import ANTHROPIC_KEY, EXAMPLES, SRC, WARMCTL, WARMD, wait_for  # noqa: E402

# What a real Messages answer to a max_tokens 0 warm looks like (~350 bytes).
ANSWER = ('{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant",'
          '"model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":"max_tokens",'
          '"stop_sequence":null,"usage":{"input_tokens":4,"cache_creation_input_tokens":0,'
          '"cache_read_input_tokens":2048,"cache_creation":{"ephemeral_5m_input_tokens":0,'
          '"ephemeral_1h_input_tokens":0},"output_tokens":0,"service_tier":"standard"}}')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    """nginx in a temp dir, one server (and access log) per client."""

    def __init__(self, d, names):
        self.d = d
        self.ports = {n: free_port() for n in names}
        servers = "".join(
            f"""
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        access_log {d}/access-{name}.log stamp buffer=256k flush=100ms;
        location = /v1/messages {{
            default_type application/json;
            return 200 '{ANSWER}';
        }}
    }}""" for name, port in self.ports.items())
        user = "user root root;\n" if os.geteuid() == 0 else ""
        conf = f"""{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format stamp '$msec $status';
    client_body_buffer_size 64k;
    client_max_body_size 1m;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 900s;
    {servers}
}}
"""
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(conf)
        self.p = subprocess.Popen(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for port in self.ports.values():
            wait_for(lambda: self._up(port), 10, what="nginx")

    @staticmethod
    def _up(port):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False

    def url(self, name):
        return f"http://127.0.0.1:{self.ports[name]}"

    def stamps(self, name):
        """Times of the requests logged for name (flushed within 100 ms)."""
        out = []
        try:
            with open(os.path.join(self.d, f"access-{name}.log")) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[1] == "200":
                        out.append(float(parts[0]))
        except FileNotFoundError:
            pass
        return out

    def stop(self):
        self.p.send_signal(signal.SIGQUIT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def rate_of(stamps):
    """Requests per second over the span of a burst, first to last answer."""
    if len(stamps) < 2 or stamps[-1] <= stamps[0]:
        return 0.0
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def template(i, size):
    """A distinct Anthropic template of about size bytes (system prompt filler)."""
    with open(os.path.join(EXAMPLES, "support-bot.json")) as f:
        t = json.load(f)
    t["system"][0]["text"] = ""
    base = len(json.dumps(t))
    text = f"Target {i}: " + t["system"][0]["text"]
    filler = "You are a helpful assistant for target %d. " % i
    text = (text + filler * (size // len(filler) + 2))[:max(size - base, 64)]
    t["system"][0]["text"] = text
    return json.dumps(t)


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def ctl(sock, *args, check=True):
    p = subprocess.run([WARMCTL, "-s", sock, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"warmctl {' '.join(args)}: {p.stderr}")
    return p.stdout


def ping(sock):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(sock)
        s.sendall(b'{"cmd":"ping"}\n')
        data = s.recv(4096)
        s.close()
        return b'"ok"' in data or b"ok" in data
    except OSError:
        return False


def run_wrk(url, body_file, seconds):
    if not shutil.which("wrk"):
        return None
    lua = body_file + ".lua"
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\n'
                f'local f = io.open("{body_file}")\nwrk.body = f:read("*a")\nf:close()\n'
                'wrk.headers["content-type"] = "application/json"\n'
                f'wrk.headers["x-api-key"] = "{ANTHROPIC_KEY}"\n'
                'wrk.headers["anthropic-version"] = "2023-06-01"\n')
    p = subprocess.run(["wrk", "-t1", "-c64", f"-d{seconds}s", "-s", lua, url + "/v1/messages"],
                       capture_output=True, text=True)
    m = re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)
    return float(m.group(1)) if m else None


def peer_python():
    """An interpreter that has aiohttp: this one, else Debian's."""
    for py in (sys.executable, "/usr/bin/python3"):
        if subprocess.run([py, "-c", "import aiohttp"], capture_output=True).returncode == 0:
            return py
    return None


def run_peer(url, body_file, requests, inflight):
    py = peer_python()
    if not py:
        return None
    p = subprocess.run([py, os.path.join(HERE, "peer_aiohttp.py"), url + "/v1/messages",
                        body_file, "--requests", str(requests), "--inflight", str(inflight),
                        "--key", ANTHROPIC_KEY], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("peer failed: " + p.stderr)
    return json.loads(p.stdout)


def metric(text, name):
    """{labels: value} of one metric family in Prometheus text."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, _, val = line.rpartition(" ")
            out[key[len(name):]] = float(val)
    return out


def lateness(before, after):
    """Bucket counts (non-cumulative deltas) of warmd_warm_lateness_seconds."""
    b0 = metric(before, "warmd_warm_lateness_seconds_bucket")
    b1 = metric(after, "warmd_warm_lateness_seconds_bucket")
    les = sorted(((float(k.split('"')[1]) if "Inf" not in k else float("inf")), k) for k in b1)
    cum = [(le, b1[k] - b0.get(k, 0)) for le, k in les]
    count = cum[-1][1] if cum else 0
    s0 = metric(before, "warmd_warm_lateness_seconds_sum").get("", 0)
    s1 = metric(after, "warmd_warm_lateness_seconds_sum").get("", 0)
    worst = next((le for le, c in cum if c >= count), float("inf")) if count else 0
    within = {le: c for le, c in cum}
    return {"count": int(count), "mean_ms": (s1 - s0) / count * 1000 if count else 0,
            "within_1ms": within.get(0.001, 0) / count if count else 0,
            "within_5ms": within.get(0.005, 0) / count if count else 0,
            "late_over_5ms": int(count - within.get(0.005, 0)), "worst_bucket_s": worst}


class EpollCounter:
    """Per-second counts of the loop's epoll_wait calls (perf stat -I)."""

    def __init__(self, pid, path):
        self.path = path
        self.p = None
        if not shutil.which("perf"):
            return
        events = "syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait"
        self.t0 = time.time()
        self.p = subprocess.Popen(["perf", "stat", "-I", "1000", "-x", ",", "-e", events,
                                   "-p", str(pid), "-o", path],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        """[(second_end_unix, count)], or None without perf."""
        if not self.p:
            return None
        self.p.send_signal(signal.SIGINT)
        self.p.wait(10)
        per = {}
        with open(self.path) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) < 4 or line.startswith("#"):
                    continue
                try:
                    t = float(parts[0])
                    # A task that never ran in the interval is "<not counted>": 0.
                    n = 0 if parts[1].startswith("<not") else int(float(parts[1]))
                except ValueError:
                    continue
                per[t] = per.get(t, 0) + n
        return [(self.t0 + t, n) for t, n in sorted(per.items())]


def wakeups(per_second, warm_stamps):
    """Wake-ups in the seconds with no warm sent or answered in or next to them."""
    quiet = idle_wakes = 0
    busy = 0
    stamps = sorted(warm_stamps)
    for end, n in per_second:
        lo = bisect.bisect_left(stamps, end - 2.0)
        hi = bisect.bisect_right(stamps, end + 1.0)
        if hi > lo:
            busy += n
            continue
        quiet += 1
        idle_wakes += n
    return {"quiet_seconds": quiet, "wakeups_in_quiet_seconds": idle_wakes,
            "wakeups_in_busy_seconds": busy}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=10000)
    ap.add_argument("--size", type=int, default=8192, help="template bytes")
    ap.add_argument("--ttl", type=int, default=300)
    ap.add_argument("--max-inflight", type=int, default=64)
    ap.add_argument("--peer-requests", type=int, default=20000)
    ap.add_argument("--peer-inflight", type=int, default=32)
    ap.add_argument("--wrk-seconds", type=int, default=5)
    ap.add_argument("--status-runs", type=int, default=7)
    ap.add_argument("--skip-wrk", action="store_true")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--skip-cycle", action="store_true", help="no TTL cycle (CPU, lateness)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = ap.parse_args()

    res = {"targets": a.targets, "template_bytes": a.size, "ttl_s": a.ttl,
           "max_inflight": a.max_inflight, "warmd": os.path.realpath(WARMD)}
    d = tempfile.mkdtemp(prefix="warmd-bench-")
    ngx = Nginx(d, ["wrk", "peer", "warmd"])
    w = None
    log = None

    def say(msg):
        if not a.json:
            print(msg, file=sys.stderr, flush=True)
    try:
        with open(os.path.join(d, "anthropic.key"), "w") as f:
            f.write(ANTHROPIC_KEY + "\n")
        os.makedirs(os.path.join(d, "t"))
        targets = []
        for i in range(a.targets):
            with open(os.path.join(d, "t", f"{i}.json"), "w") as f:
                f.write(template(i, a.size))
            targets.append(f'{{ name = "t{i:05d}"; request_file = "t/{i}.json"; '
                           f'ttl = {a.ttl}; }}')
        # The peer sends warmd's own warm body for target 0 (max_tokens 0).
        body_file = os.path.join(d, "body.json")
        warmbody = os.path.join(os.path.dirname(os.path.realpath(WARMD)), "tests", "warmbody")
        if os.path.exists(warmbody):
            with open(body_file, "w") as f:
                subprocess.run([warmbody, "--kind", "anthropic",
                                os.path.join(d, "t", "0.json")], stdout=f, check=True)
        else:
            t = json.loads(template(0, a.size))
            t["max_tokens"] = 0
            with open(body_file, "w") as f:
                f.write(json.dumps(t))
        res["body_bytes"] = os.path.getsize(body_file)

        if not a.skip_wrk:
            say(f"wrk: {a.wrk_seconds}s, 1 thread, 64 connections")
            res["wrk_rps"] = run_wrk(ngx.url("wrk"), body_file, a.wrk_seconds)
        if not a.skip_peer:
            say(f"peer: {a.peer_requests} requests, {a.peer_inflight} in flight")
            peer = run_peer(ngx.url("peer"), body_file, a.peer_requests, a.peer_inflight)
            if peer:
                time.sleep(0.3)
                res["peer_rps_self"] = peer["rate"]
                res["peer_rps"] = rate_of(ngx.stamps("peer"))
                res["peer_errors"] = peer["errors"]

        sock = os.path.join(d, "control.sock")
        with open(os.path.join(d, "warmd.conf"), "w") as f:
            f.write(f'daemon = {{ control_socket = "{sock}"; touch_socket = ""; '
                    f'max_inflight = {a.max_inflight}; log_level = "info"; '
                    f'pricing_file = ""; state_file = "{d}/state.json"; }};\n'
                    f'providers = ( {{ name = "anthropic"; kind = "anthropic"; '
                    f'base_url = "{ngx.url("warmd")}"; api_key_file = "anthropic.key"; '
                    f'max_inflight = {a.max_inflight}; max_rpm = 0; }} );\n'
                    "targets = (\n" + ",\n".join(targets) + "\n);\n")
        say(f"warmd: {a.targets} targets of {a.size} B")
        log = open(os.path.join(d, "warmd.log"), "w")
        t_exec = time.time()
        w = subprocess.Popen([WARMD, "-c", os.path.join(d, "warmd.conf")], stdout=log,
                             stderr=subprocess.STDOUT, cwd=d)
        wait_for(lambda: ping(sock), 120, step=0.005, what="control socket")
        res["startup_s"] = time.time() - t_exec
        with open(os.path.join(d, "warmd.log")) as f:
            m = re.search(r"^(\S+)Z .* started: ", f.read(), re.M)
        if m:
            started = calendar.timegm(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")) + \
                float(m.group(1)[19:])
            res["startup_log_s"] = started - t_exec

        # The start-up burst: every target is due at once.
        wait_for(lambda: len(ngx.stamps("warmd")) >= a.targets, 600, step=0.2,
                 what="the start-up burst")
        time.sleep(0.5)
        st = ngx.stamps("warmd")
        res["startup_burst_wps"] = rate_of(st[:a.targets])
        res["rss_after_startup_burst_mib"] = rss_mib(w.pid)

        # warm --all: the burst budget.
        n0 = len(st)
        t_trig = time.time()
        ctl(sock, "warm", "--all")
        wait_for(lambda: len(ngx.stamps("warmd")) >= n0 + a.targets, 600, step=0.1,
                 what="the warm --all burst")
        time.sleep(0.5)
        st = ngx.stamps("warmd")
        burst = st[n0:n0 + a.targets]
        res["burst_wps"] = rate_of(burst)
        res["burst_trigger_to_last_s"] = burst[-1] - t_trig
        res["burst_end"] = burst[-1]
        if res.get("peer_rps"):
            res["burst_vs_peer"] = res["burst_wps"] / res["peer_rps"]
        if res.get("wrk_rps"):
            res["burst_vs_wrk"] = res["burst_wps"] / res["wrk_rps"]
        res["rss_after_burst_mib"] = rss_mib(w.pid)

        # status --json of every target.
        times = []
        size = 0
        for _ in range(a.status_runs):
            t0 = time.monotonic()
            out = ctl(sock, "--json", "status")
            times.append((time.monotonic() - t0) * 1000)
            size = len(out)
        res["status_ms_median"] = statistics.median(times)
        res["status_ms_min"] = min(times)
        res["status_bytes"] = size
        time.sleep(0.2)
        res["rss_after_status_mib"] = rss_mib(w.pid)

        if not a.skip_cycle:
            # One TTL cycle: every target comes due once (the burst refreshed them all).
            say(f"TTL cycle: {a.ttl + 5}s")
            before = ctl(sock, "metrics")
            c0, t0 = proc_cpu(w.pid), time.time()
            ep = EpollCounter(w.pid, os.path.join(d, "perf.txt"))
            end = res["burst_end"] + a.ttl + 3
            while time.time() < end:
                time.sleep(min(1.0, max(0.0, end - time.time())))
            per_second = ep.stop()
            c1, t1 = proc_cpu(w.pid), time.time()
            after = ctl(sock, "metrics")
            time.sleep(0.3)
            cyc = [s for s in ngx.stamps("warmd") if t0 <= s <= t1]
            res["cycle_s"] = t1 - t0
            res["cycle_warms"] = len(cyc)
            res["cycle_cpu_pct"] = (c1 - c0) / (t1 - t0) * 100
            if a.ttl != 300:
                res["cycle_cpu_pct_at_300s"] = res["cycle_cpu_pct"] * a.ttl / 300
            res["lateness"] = lateness(before, after)
            if per_second is not None:
                res["wakeups"] = wakeups(per_second, cyc)
            res["rss_end_mib"] = rss_mib(w.pid)
    finally:
        if w:
            w.terminate()
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
        if log:
            log.close()
        ngx.stop()
        if a.keep:
            print(f"kept {d}", file=sys.stderr)
        else:
            shutil.rmtree(d, ignore_errors=True)

    if a.json:
        json.dump(res, sys.stdout, indent=1)
        print()
        return
    table(res)


def table(r):
    def f(key, fmt, unit=""):
        v = r.get(key)
        return "-" if v is None else (fmt % v) + unit
    rows = [
        ("targets", f"{r['targets']} x {r['template_bytes']} B templates "
                    f"(warm body {r.get('body_bytes', 0)} B), ttl {r['ttl_s']} s"),
        ("wrk (ceiling)", f("wrk_rps", "%.0f", " req/s")),
        ("peer (aiohttp)", f("peer_rps", "%.0f", " req/s") +
         f" (its own clock: {f('peer_rps_self', '%.0f')})"),
        ("start-up", f("startup_s", "%.3f", " s to the first control answer") +
         f" ({f('startup_log_s', '%.3f', ' s')} to the 'started' log line)"),
        ("start-up burst", f("startup_burst_wps", "%.0f", " warms/s")),
        ("warm --all burst", f("burst_wps", "%.0f", " warms/s") +
         f" = {f('burst_vs_peer', '%.2f', 'x the peer')}, {f('burst_vs_wrk', '%.2f', 'x wrk')}"),
        ("RSS after bursts", f("rss_after_burst_mib", "%.1f", " MiB")),
        ("status --json", f("status_ms_median", "%.1f", " ms median") +
         f" (min {f('status_ms_min', '%.1f', ' ms')}, {r.get('status_bytes', 0) / 1e6:.1f} MB)"),
        ("RSS after status", f("rss_after_status_mib", "%.1f", " MiB")),
    ]
    if "cycle_cpu_pct" in r:
        cpu = f("cycle_cpu_pct", "%.2f", "% of a core")
        if "cycle_cpu_pct_at_300s" in r:
            cpu += f" at ttl {r['ttl_s']} s = {r['cycle_cpu_pct_at_300s']:.2f}% at 300 s"
        rows.append(("CPU over a TTL cycle", cpu + f" ({r['cycle_warms']} warms in "
                                                  f"{r['cycle_s']:.0f} s)"))
        lt = r["lateness"]
        rows.append(("lateness", f"{lt['count']} scheduled warms: {lt['within_1ms'] * 100:.1f}% "
                                 f"<= 1 ms, {lt['within_5ms'] * 100:.2f}% <= 5 ms, "
                                 f"{lt['late_over_5ms']} later (worst bucket "
                                 f"<= {lt['worst_bucket_s']} s), mean {lt['mean_ms']:.2f} ms"))
        if "wakeups" in r:
            wk = r["wakeups"]
            rows.append(("wake-ups", f"{wk['wakeups_in_quiet_seconds']} in "
                                     f"{wk['quiet_seconds']} quiet seconds "
                                     f"({wk['wakeups_in_busy_seconds']} while warming)"))
        rows.append(("RSS at the end", f("rss_end_mib", "%.1f", " MiB")))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
