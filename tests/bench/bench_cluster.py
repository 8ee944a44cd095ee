#!/usr/bin/env python3
"""bench_cluster: what cluster mode costs Redis, and how fast a dead node's
targets move (docs/benchmarks.md, "Cluster mode").

Starts one redis-server (unix socket, no persistence), the loopback nginx of
bench_scale.py (answers every POST /v1/messages at once, logs each one) and
N warmd nodes (default 3) with the same T targets (default 10,000) of S-byte
templates (default 8 KB, bench_scale's), TTL 300 s, lease 10 s. Then:

  1. start-up: until every node shows the same live owner for every target
     (polled with `warmctl --json status`) and that has not changed for two
     leases, and how many warms that took (nginx's access log; 1.00 per
     target is no duplicate at start);
  2. steady state: Redis commands per second over --steady seconds (60),
     from `INFO commandstats` deltas (total and per command; Redis counts
     the commands a script runs as well as the EVAL that ran it, so `eval`
     alone is the scripts' round trips), the nodes' CPU share and RSS,
     Redis's used memory, warms per second;
  3. takeover: SIGKILL the node that owns the most; the time until every
     target's owner is a live node (polling a survivor's status), and until
     the survivors' "cluster: took over N entries" lines add up to what the
     dead node owned.

    python3 tests/bench/bench_cluster.py [--nodes 3] [--targets 10000]
        [--size 8192] [--ttl 300] [--lease 10] [--steady 60] [--json]

Benchmarks print figures and assert nothing. Build a release binary first
(WARMD_BIN, WARMCTL_BIN or build/); needs redis-server and nginx
(`scripts/deps.sh bench`).
"""
import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from bench_scale import ANTHROPIC_KEY, Nginx, ping, proc_cpu, rss_mib, template  # noqa: E402
from harness import WARMCTL, WARMD, wait_for  # noqa: E402
from redisfix import REDIS_CLI, REDIS_SERVER, Redis  # noqa: E402


def status(sock):
    p = subprocess.run([WARMCTL, "-s", sock, "-t", "60", "--json", "status"], capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"status: {p.stderr}")
    return json.loads(p.stdout)["data"]


def owners(sock):
    return {t["name"]: t.get("owner") for t in status(sock)["targets"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--targets", type=int, default=10000)
    ap.add_argument("--size", type=int, default=8192, help="template bytes")
    ap.add_argument("--ttl", type=int, default=300)
    ap.add_argument("--lease", type=float, default=10.0, help="seconds")
    ap.add_argument("--steady", type=float, default=60.0, help="seconds of steady state measured")
    ap.add_argument("--max-inflight", type=int, default=64)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = ap.parse_args()
    if not REDIS_SERVER or not REDIS_CLI or not shutil.which("nginx"):
        print("bench_cluster: needs redis-server, redis-cli and nginx", file=sys.stderr)
        return 2

    def say(msg):
        if not a.json:
            print(msg, file=sys.stderr, flush=True)

    names = [f"n{i + 1}" for i in range(a.nodes)]
    res = {"nodes": a.nodes, "targets": a.targets, "template_bytes": a.size, "ttl_s": a.ttl,
           "lease_s": a.lease, "warmd": os.path.realpath(WARMD)}
    d = tempfile.mkdtemp(prefix="warmd-bench-cluster-")
    ngx = Nginx(d, ["warmd"])
    redis = Redis(os.path.join(d, "redis"))
    ns = "b" + secrets.token_hex(4)
    procs, logs = {}, {}
    try:
        fd = os.open(os.path.join(d, "anthropic.key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(ANTHROPIC_KEY + "\n")
        os.makedirs(os.path.join(d, "t"))
        targets = []
        for i in range(a.targets):
            with open(os.path.join(d, "t", f"{i}.json"), "w") as f:
                f.write(template(i, a.size))
            targets.append(f'{{ name = "t{i:05d}"; request_file = "t/{i}.json"; ttl = {a.ttl}; }}')
        targets_text = "targets = (\n" + ",\n".join(targets) + "\n);\n"
        socks = {}
        for n in names:
            socks[n] = os.path.join(d, f"{n}.sock")
            with open(os.path.join(d, f"{n}.conf"), "w") as f:
                f.write(f'daemon = {{ control_socket = "{socks[n]}"; touch_socket = ""; '
                        f'max_inflight = {a.max_inflight}; log_level = "info"; '
                        f'pricing_file = ""; state_file = "{d}/{n}.state.json"; }};\n'
                        f'providers = ( {{ name = "anthropic"; kind = "anthropic"; '
                        f'base_url = "{ngx.url("warmd")}"; api_key_file = "anthropic.key"; '
                        f'max_inflight = {a.max_inflight}; max_rpm = 0; }} );\n'
                        f'cluster = {{ redis = "{redis.url}"; node = "{n}"; namespace = "{ns}"; '
                        f'lease = "{a.lease:g}s"; }};\n' + targets_text)

        say(f"start-up: {a.nodes} nodes x {a.targets} targets of {a.size} B, lease {a.lease:g}s")
        t_start = time.time()
        for n in names:
            logs[n] = open(os.path.join(d, f"{n}.log"), "w")
            procs[n] = subprocess.Popen([WARMD, "-c", os.path.join(d, f"{n}.conf")],
                                        stdout=logs[n], stderr=subprocess.STDOUT, cwd=d)
        for n in names:
            wait_for(lambda: procs[n].poll() is not None or ping(socks[n]), 300, step=0.05,
                     what=f"{n}'s control socket")
            if procs[n].poll() is not None:
                raise RuntimeError(f"{n} exited with {procs[n].returncode}")

        def all_owned(live):
            """The owners when every live node shows the same live owner for every target."""
            seen = None
            for n in live:
                o = owners(socks[n])
                if len(o) != a.targets or any(v not in live for v in o.values()):
                    return None
                if seen is not None and o != seen:
                    return None
                seen = o
            return seen

        def settled(live):
            """all_owned(), unchanged for two leases (the first node up owns
            everything for a moment, until the others' heartbeats are seen)."""
            first = wait_for(lambda: all_owned(live), 600, step=0.2, what="every target owned")
            t_first = time.time()
            while True:
                time.sleep(max(0.5, a.lease / 4))
                now = wait_for(lambda: all_owned(live), 600, step=0.2, what="every target owned")
                if now != first:
                    first, t_first = now, time.time()
                elif time.time() - t_first >= 2 * a.lease:
                    return first, t_first
        final, t_settled = settled(names)
        res["startup_s"] = t_settled - t_start
        res["startup_warms_per_target"] = len(ngx.stamps("warmd")) / a.targets
        res["owned"] = {n: list(final.values()).count(n) for n in names}
        say(f"  owners settled after {res['startup_s']:.1f}s; {res['startup_warms_per_target']:.2f} "
            f"warms per target; {res['owned']}")

        say(f"steady state: {a.steady:g}s")
        c0, w0 = redis.commandstats(), len(ngx.stamps("warmd"))
        cpu0 = {n: proc_cpu(procs[n].pid) for n in names}
        t0 = time.time()
        time.sleep(a.steady)
        c1, w1 = redis.commandstats(), len(ngx.stamps("warmd"))
        cpu1 = {n: proc_cpu(procs[n].pid) for n in names}
        dt = time.time() - t0
        per = {k: (c1.get(k, 0) - c0.get(k, 0)) / dt for k in c1}
        per = {k: v for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v > 0}
        # INFO itself (ours, two calls) is not the cluster's
        per.pop("info", None)
        res["redis_ops_per_s"] = sum(per.values())
        res["redis_ops_per_s_by_command"] = per
        res["warms_per_s"] = (w1 - w0) / dt
        res["node_cpu_pct"] = {n: 100 * (cpu1[n] - cpu0[n]) / dt for n in names}
        res["node_rss_mib"] = {n: rss_mib(procs[n].pid) for n in names}
        mem = dict(l.split(":", 1) for l in redis.lines("INFO", "memory") if ":" in l)
        res["redis_used_memory_mib"] = int(mem["used_memory"]) / 2**20
        res["redis_keys"] = int(redis.cli("DBSIZE"))

        final = all_owned(names) or final
        res["owned"] = {n: list(final.values()).count(n) for n in names}
        victim = max(names, key=lambda n: res["owned"][n])
        survivors = [n for n in names if n != victim]
        say(f"takeover: SIGKILL {victim} ({res['owned'][victim]} targets)")
        before = {n: os.path.getsize(os.path.join(d, f"{n}.log")) for n in survivors}
        t_kill = time.time()
        procs[victim].kill()
        procs[victim].wait()
        poll = []

        def moved():
            t = time.time()
            o = owners(socks[survivors[0]])
            poll.append(time.time() - t)
            return all(v in survivors for v in o.values()) or None
        wait_for(moved, 600, step=0.1, what="every target owned by a survivor")
        res["takeover_s"] = time.time() - t_kill
        res["takeover_poll_s"] = max(poll)

        def logged():
            total = 0
            for n in survivors:
                with open(os.path.join(d, f"{n}.log")) as f:
                    total += sum(int(m.group(1)) for m in re.finditer(
                        rf"cluster: took over (\d+) entr(?:y|ies) from {victim}\b",
                        f.read()[before[n]:]))
            return total >= res["owned"][victim] or None
        try:
            wait_for(logged, 120, step=0.2, what="took over lines")
            res["takeover_logged_s"] = time.time() - t_kill
        except AssertionError:
            res["takeover_logged_s"] = None
        res["takeover_targets"] = res["owned"][victim]
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for f in logs.values():
            f.close()
        ngx.stop()
        redis.close()
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)
        else:
            say(f"kept {d}")

    if a.json:
        print(json.dumps(res, indent=2))
        return 0
    rows = [
        ("nodes x targets", f"{a.nodes} x {a.targets} ({a.size} B templates, TTL {a.ttl}s, "
                            f"lease {a.lease:g}s)"),
        ("start-up until owners settled", f"{res['startup_s']:.1f} s"),
        ("warms per target at start-up", f"{res['startup_warms_per_target']:.2f}"),
        ("owned per node", " ".join(f"{n}={k}" for n, k in res["owned"].items())),
        ("Redis commands/s, steady state", f"{res['redis_ops_per_s']:.0f}"),
        ("  by command (incl. in scripts)", ", ".join(f"{k} {v:.0f}" for k, v in
                                   res["redis_ops_per_s_by_command"].items())),
        ("warms/s, steady state", f"{res['warms_per_s']:.1f}"),
        ("node CPU, steady state", " ".join(f"{n}={v:.1f}%" for n, v in
                                            res["node_cpu_pct"].items())),
        ("node RSS", " ".join(f"{n}={v:.0f} MiB" for n, v in res["node_rss_mib"].items())),
        ("Redis memory / keys", f"{res['redis_used_memory_mib']:.1f} MiB / {res['redis_keys']}"),
        ("takeover (all owned by survivors)", f"{res['takeover_s']:.2f} s for "
                                              f"{res['takeover_targets']} targets "
                                              f"(status poll up to {res['takeover_poll_s']:.2f} s)"),
        ("takeover logged", "n/a" if res["takeover_logged_s"] is None
                            else f"{res['takeover_logged_s']:.2f} s"),
    ]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
