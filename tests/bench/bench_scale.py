#!/usr/bin/env python3
"""bench_scale: warmd with many targets against the fake provider on loopback.

Measures what the brief budgets: RSS with N targets of ~8 KB templates,
CPU share while idling between warms, `warmctl --json status` latency for
all targets, and the rate of the first burst of warms next to the rate wrk
reaches against the same server (when wrk is installed).

    python3 tests/bench/bench_scale.py [--targets 10000] [--ttl 300] [--idle 60]

Numbers go to stdout; nothing is asserted (benchmarks are not tests).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import (ANTHROPIC_KEY, EXAMPLES, WARMCTL, WARMD, FakeProvider,  # noqa: E402
                     wait_for)


def template(i, size):
    with open(os.path.join(EXAMPLES, "support-bot.json")) as f:
        t = json.load(f)
    sysblock = t["system"][0]
    # Distinct prefixes of about `size` bytes: a per-target header and filler.
    filler = (f"Target {i}: " + sysblock["text"]) * (size // len(sysblock["text"]) + 1)
    sysblock["text"] = filler[:size]
    return json.dumps(t)


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime, seconds


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def status_ms(sock, runs=5):
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        p = subprocess.run([WARMCTL, "-s", sock, "--json", "status"], capture_output=True)
        times.append((time.monotonic() - t0) * 1000)
        assert p.returncode == 0, p.stderr
    return min(times), sorted(times)[len(times) // 2], len(p.stdout)


def raw_status_ms(sock, runs=5):
    """The daemon's side alone: one status request on the socket, no JSON parsing."""
    import socket
    times = []
    for _ in range(runs):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        t0 = time.monotonic()
        s.connect(sock)
        s.sendall(b'{"cmd":"status"}\n')
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        times.append((time.monotonic() - t0) * 1000)
        s.close()
    return min(times), sorted(times)[len(times) // 2]


def wrk_rate(url, body_file, seconds=5):
    if not shutil.which("wrk"):
        return None
    lua = body_file + ".lua"
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\n'
                f'local f = io.open("{body_file}")\nwrk.body = f:read("*a")\nf:close()\n'
                'wrk.headers["content-type"] = "application/json"\n'
                f'wrk.headers["x-api-key"] = "{ANTHROPIC_KEY}"\n'
                'wrk.headers["anthropic-version"] = "2023-06-01"\n')
    p = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "-s", lua, url + "/v1/messages"],
                       capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=10000)
    ap.add_argument("--size", type=int, default=8192, help="template bytes")
    ap.add_argument("--ttl", type=int, default=300)
    ap.add_argument("--idle", type=int, default=60, help="seconds of idle CPU measurement")
    ap.add_argument("--max-inflight", type=int, default=64)
    a = ap.parse_args()

    d = tempfile.mkdtemp(prefix="warmd-bench-")
    fake = FakeProvider(d, "--ttl-5m", str(a.ttl), "--log-requests", "10")
    with open(os.path.join(d, "anthropic.key"), "w") as f:
        f.write(ANTHROPIC_KEY + "\n")
    os.makedirs(os.path.join(d, "t"))
    targets = []
    for i in range(a.targets):
        p = os.path.join(d, "t", f"{i}.json")
        with open(p, "w") as f:
            f.write(template(i, a.size))
        targets.append(f'{{ name = "t{i}"; request_file = "t/{i}.json"; ttl = {a.ttl}; }}')
    sock = os.path.join(d, "control.sock")
    with open(os.path.join(d, "warmd.conf"), "w") as f:
        f.write(f'daemon = {{ control_socket = "{sock}"; touch_socket = ""; '
                f'max_inflight = {a.max_inflight}; log_level = "info"; }};\n'
                f'providers = ( {{ name = "anthropic"; base_url = "{fake.url}"; '
                f'api_key_file = "anthropic.key"; max_inflight = {a.max_inflight}; }} );\n'
                "targets = (\n" + ",\n".join(targets) + "\n);\n")
    log = open(os.path.join(d, "warmd.log"), "w")
    t_start = time.monotonic()
    w = subprocess.Popen([WARMD, "-c", os.path.join(d, "warmd.conf")], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: os.path.exists(sock), 120, what="control socket")
        t_ready = time.monotonic()

        # warmd logs each first write with a millisecond timestamp: the burst's span.
        def first_writes():
            with open(os.path.join(d, "warmd.log")) as f:
                return [line.split()[0] for line in f if "tokens of version" in line]
        wait_for(lambda: len(first_writes()) >= a.targets, 600, step=0.5,
                 what="every target warmed once")
        stamps = sorted(first_writes())

        def ts(s):
            return time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + float(s[19:-1])
        span = ts(stamps[-1]) - ts(stamps[0])
        burst = (a.targets - 1) / span if span > 0 else float("inf")
        print(f"targets: {a.targets} x {a.size} B templates, ttl {a.ttl}s")
        print(f"start-up (load + bind): {t_ready - t_start:.2f} s")
        print(f"first burst: {a.targets} warms in {span:.2f} s = {burst:.0f} warms/s")
        print(f"RSS after the burst: {rss_mib(w.pid):.1f} MiB")
        lo, med, size = status_ms(sock)
        print(f"warmctl --json status: min {lo:.0f} ms, median {med:.0f} ms ({size / 1e6:.1f} MB)")
        lo, med = raw_status_ms(sock)
        print(f"  of which the daemon (raw socket round trip): min {lo:.0f} ms, median {med:.0f} ms")
        c0, t0 = proc_stat(w.pid), time.monotonic()
        time.sleep(a.idle)
        cpu = (proc_stat(w.pid) - c0) / (time.monotonic() - t0) * 100
        print(f"CPU while warming on schedule for {a.idle}s: {cpu:.2f}% of one core")
        print(f"RSS at the end: {rss_mib(w.pid):.1f} MiB")
        body = os.path.join(d, "t", "0.json")
        rate = wrk_rate(fake.url, body)
        if rate:
            print(f"wrk against the same fake provider: {rate:.0f} req/s "
                  f"(warmd's burst reached {burst / rate:.2f}x of it)")
        else:
            print("wrk not installed: no reference rate")
    finally:
        w.terminate()
        w.wait(10)
        fake.stop()
        log.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
