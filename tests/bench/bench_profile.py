#!/usr/bin/env python3
"""bench_profile: the hot path in counts that do not depend on a noisy machine.

Same setup as bench_scale.py (a loopback nginx, N targets of S-byte
templates), but instead of timing it counts:

  - instructions (valgrind --tool=callgrind, warmd's own process) to load
    the templates (`warmd --check-config`, which stages exactly what
    start-up stages), per warm of a `warmctl warm --all` burst, and for one
    `warmctl --json status` of every target;
  - system calls per warm of a `warm --all` burst (strace -c attached for
    the burst only, in a second run without valgrind), failed ones apart.

    python3 tests/bench/bench_profile.py [--targets 2000] [--size 8192]
        [--top 25] [--json]

The state file is off here: under valgrind a burst lasts long enough for
several state writes (each of every target), which in real time is one.
Instruction counts are deterministic to within a fraction of a percent, so
they are what before/after comparisons of CPU work should quote.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_scale import ANTHROPIC_KEY, WARMCTL, WARMD, Nginx, ctl, ping, template  # noqa: E402
from harness import wait_for  # noqa: E402


def write_config(d, url, n, size, ttl, max_inflight):
    with open(os.path.join(d, "anthropic.key"), "w") as f:
        f.write(ANTHROPIC_KEY + "\n")
    os.makedirs(os.path.join(d, "t"), exist_ok=True)
    targets = []
    for i in range(n):
        with open(os.path.join(d, "t", f"{i}.json"), "w") as f:
            f.write(template(i, size))
        targets.append(f'{{ name = "t{i:05d}"; request_file = "t/{i}.json"; ttl = {ttl}; }}')
    sock = os.path.join(d, "control.sock")
    conf = os.path.join(d, "warmd.conf")
    with open(conf, "w") as f:
        f.write(f'daemon = {{ control_socket = "{sock}"; touch_socket = ""; '
                f'max_inflight = {max_inflight}; log_level = "info"; '
                f'pricing_file = ""; state_file = ""; }};\n'
                f'providers = ( {{ name = "anthropic"; kind = "anthropic"; '
                f'base_url = "{url}"; api_key_file = "anthropic.key"; '
                f'max_inflight = {max_inflight}; max_rpm = 0; }} );\n'
                "targets = (\n" + ",\n".join(targets) + "\n);\n")
    return conf, sock


def cg_total(path):
    """Instructions in one callgrind dump (its summary or totals line)."""
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    return 0


def cg_top(path, top):
    """The costliest functions of a dump, inclusive of nothing (self cost)."""
    p = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path], capture_output=True,
                       text=True)
    rows = []
    total = cg_total(path)
    for line in p.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*)$", line)
        # A dump taken mid-run charges its whole cost to the frames still on
        # the stack (main, the loop, a thread's start): those are not hot spots.
        if m and "PROGRAM TOTALS" not in line and int(m.group(1).replace(",", "")) < total / 2:
            rows.append((int(m.group(1).replace(",", "")), m.group(2)))
    return rows[:top]


def wait_count(ngx, n):
    wait_for(lambda: len(ngx.stamps("warmd")) >= n, 900, step=0.2, what=f"{n} warms")
    time.sleep(0.3)


def callgrind_run(d, ngx, conf, sock, n, top):
    res = {}
    # Start-up: only what daemon_stage (config, keys, templates) and
    # daemon_apply (targets, plans) execute, in a run stopped once it answers.
    out = os.path.join(d, "cg.startup")
    w = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                          "--toggle-collect=daemon_stage", "--toggle-collect=daemon_apply",
                          WARMD, "-c", conf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, cwd=d)
    wait_for(lambda: ping(sock), 600, step=0.1, what="control socket")
    w.terminate()
    w.wait(120)
    res["load_instr"] = cg_total(out)
    res["load_instr_per_template"] = res["load_instr"] / n
    res["load_top"] = cg_top(out, top)
    if os.path.exists(os.path.join(d, "state.json")):
        os.unlink(os.path.join(d, "state.json"))

    base = os.path.join(d, "cg.out")
    log = open(os.path.join(d, "warmd-cg.log"), "w")
    w = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={base}",
                          WARMD, "-c", conf], stdout=log, stderr=subprocess.STDOUT, cwd=d)
    try:
        wait_for(lambda: ping(sock), 600, step=0.1, what="control socket")
        wait_count(ngx, n)
        subprocess.run(["callgrind_control", "-d", "startup", str(w.pid)], capture_output=True)
        n0 = len(ngx.stamps("warmd"))
        ctl(sock, "warm", "--all")
        wait_count(ngx, n0 + n)
        subprocess.run(["callgrind_control", "-d", "burst", str(w.pid)], capture_output=True)
        ctl(sock, "--json", "status")
        time.sleep(0.5)
        subprocess.run(["callgrind_control", "-d", "status", str(w.pid)], capture_output=True)
        dumps = sorted(glob.glob(base + ".*"), key=lambda p: int(p.rsplit(".", 1)[1]))
        burst, status = dumps[-2], dumps[-1]
        res["warm_instr"] = cg_total(burst) / n
        res["warm_top"] = [(c / n, fn) for c, fn in cg_top(burst, top)]
        res["status_instr"] = cg_total(status)
        res["status_top"] = cg_top(status, top)
    finally:
        w.terminate()
        w.wait(120)
        log.close()
    return res


def strace_run(d, ngx, conf, sock, n):
    log = open(os.path.join(d, "warmd.log"), "w")
    w = subprocess.Popen([WARMD, "-c", conf], stdout=log, stderr=subprocess.STDOUT, cwd=d)
    try:
        wait_for(lambda: ping(sock), 120, step=0.01, what="control socket")
        n0 = len(ngx.stamps("warmd"))
        wait_count(ngx, n0 + n)
        out = os.path.join(d, "strace.txt")
        st = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(w.pid)],
                              stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # strace attached
        n0 = len(ngx.stamps("warmd"))
        ctl(sock, "warm", "--all")
        wait_count(ngx, n0 + n)
        st.send_signal(2)
        st.wait(30)
        calls = {}
        with open(out) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                    errors = int(parts[4]) if len(parts) == 6 else 0
                    calls[parts[-1]] = {"per_warm": int(parts[3]) / n,
                                        "errors_per_warm": errors / n}
        return {"syscalls": dict(sorted(calls.items(), key=lambda kv: -kv[1]["per_warm"]))}
    finally:
        w.terminate()
        w.wait(30)
        log.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=2000)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--skip-callgrind", action="store_true")
    ap.add_argument("--skip-strace", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="warmd-prof-")
    ngx = Nginx(d, ["warmd"])
    res = {"targets": a.targets, "template_bytes": a.size, "warmd": os.path.realpath(WARMD)}
    try:
        conf, sock = write_config(d, ngx.url("warmd"), a.targets, a.size, 300, 64)
        if not a.skip_strace and shutil.which("strace"):
            res.update(strace_run(d, ngx, conf, sock, a.targets))
        if not a.skip_callgrind and shutil.which("valgrind"):
            if os.path.exists(os.path.join(d, "state.json")):
                os.unlink(os.path.join(d, "state.json"))  # start cold again
            res.update(callgrind_run(d, ngx, conf, sock, a.targets, a.top))
    finally:
        ngx.stop()
        shutil.rmtree(d, ignore_errors=True)
    if a.json:
        json.dump(res, sys.stdout, indent=1)
        print()
        return
    print(f"{a.targets} targets x {a.size} B")
    if "load_instr" in res:
        print(f"start-up (daemon_stage + daemon_apply): {res['load_instr'] / 1e6:.1f} M instructions, "
              f"{res['load_instr_per_template'] / 1e3:.0f} k per template")
        for c, fn in res["load_top"][:10]:
            print(f"    {c / a.targets / 1e3:10.1f} k  {fn}")
        print(f"per warm (warm --all burst): {res['warm_instr'] / 1e3:.1f} k instructions")
        for c, fn in res["warm_top"]:
            print(f"    {c / 1e3:10.2f} k  {fn}")
        print(f"status --json of all: {res['status_instr'] / 1e6:.1f} M instructions")
        for c, fn in res["status_top"][:10]:
            print(f"    {c / 1e6:10.2f} M  {fn}")
    if "syscalls" in res:
        print("system calls per warm (warm --all burst, strace -c):")
        for name, v in res["syscalls"].items():
            if v["per_warm"] >= 0.01:
                err = f" ({v['errors_per_warm']:.2f} failed)" if v["errors_per_warm"] else ""
                print(f"    {v['per_warm']:6.2f}  {name}{err}")


if __name__ == "__main__":
    main()
