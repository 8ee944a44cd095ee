#!/usr/bin/env python3
"""soak: many targets with seconds-scale TTLs against a fake provider with
every fault mode on, for a while; then checks that warmd stayed up, kept
answering its control socket, kept a flat fd count and a flat RSS, and
exited cleanly (under ASan or valgrind that also means: no leaks).

    python3 tests/soak/soak.py [--seconds 60] [--targets 40] [--valgrind]

Uses $WARMD_BIN / $WARMCTL_BIN (ctest sets them), else build/. Exit 0 on
success; prints what it measured either way.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import (ANTHROPIC_KEY, EXAMPLES, OPENAI_KEY, WARMCTL, WARMD,  # noqa: E402
                     FakeProvider, wait_for)

FAULTS = {"seed": 7, "p_500": 0.08, "p_529": 0.05, "p_429": 0.03, "retry_after": 1,
          "p_garbage": 0.03, "p_huge": 0.01, "huge_bytes": 8 * 1024 * 1024, "p_endless": 0.01,
          "p_hang": 0.01, "hang_seconds": 30, "p_reset": 0.02, "p_trickle": 0.01,
          "trickle_bps": 5, "ratelimit_headers": True}


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def write_key(path, key):
    """A key file as an operator keeps one: its owner's only (0600), or warmd warns."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--targets", type=int, default=40)
    ap.add_argument("--ttl", type=float, default=6)
    ap.add_argument("--valgrind", action="store_true")
    a = ap.parse_args()

    d = tempfile.mkdtemp(prefix="warmd-soak-")
    fake = FakeProvider(d, "--ttl-5m", str(a.ttl), "--openai-ttl", str(a.ttl))
    req = urllib.request.Request(fake.url + "/_fake/faults", data=json.dumps(FAULTS).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=5).read()
    write_key(os.path.join(d, "anthropic.key"), ANTHROPIC_KEY)
    write_key(os.path.join(d, "openai.key"), OPENAI_KEY)
    targets = []
    for i in range(a.targets):
        anth = i % 2 == 0
        src = os.path.join(EXAMPLES, "support-bot.json" if anth else "openai-chat.json")
        with open(src) as f:
            t = json.load(f)
        if anth:
            t["system"][0]["text"] = f"Soak target {i}. " + t["system"][0]["text"]
        else:
            t["messages"][0]["content"] = f"Soak target {i}. " + t["messages"][0]["content"]
        path = os.path.join(d, f"t{i}.json")
        with open(path, "w") as f:
            json.dump(t, f)
        targets.append(f'{{ name = "t{i}"; provider = "{"anthropic" if anth else "openai"}"; '
                       f'request_file = "{path}"; ttl = {a.ttl}; }}')
    sock = os.path.join(d, "control.sock")
    conf = os.path.join(d, "warmd.conf")
    with open(conf, "w") as f:
        f.write(f'daemon = {{ control_socket = "{sock}"; state_file = "{d}/state.json"; '
                f'log_level = "notice"; }};\n'
                f'providers = (\n'
                f'  {{ name = "anthropic"; base_url = "{fake.url}"; api_key_file = "anthropic.key"; '
                f'timeout_ms = 3000; low_speed_time_ms = 2000; max_response_bytes = 262144; }},\n'
                f'  {{ name = "openai"; base_url = "{fake.url}/v1"; api_key_file = "openai.key"; '
                f'timeout_ms = 3000; low_speed_time_ms = 2000; max_response_bytes = 262144; }}\n'
                ');\ntargets = (\n' + ",\n".join(targets) + "\n);\n")
    cmd = [WARMD, "-c", conf]
    if a.valgrind:
        cmd = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
               "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
               *cmd]
    log = open(os.path.join(d, "warmd.log"), "w")
    w = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    ok = True
    try:
        wait_for(lambda: subprocess.run([WARMCTL, "-s", sock, "ping"],
                                        capture_output=True).returncode == 0,
                 60 if a.valgrind else 10, what="warmd to answer")
        # Let the first burst and the first faults settle, then take a baseline.
        time.sleep(min(10.0, a.seconds / 4))
        base_fds, base_rss = fds(w.pid), rss_kib(w.pid)
        worst_ctl, peak_fds, peak_rss = 0.0, base_fds, base_rss
        end = time.monotonic() + a.seconds
        while time.monotonic() < end:
            t0 = time.monotonic()
            p = subprocess.run([WARMCTL, "-s", sock, "-t", "5", "--json", "status"],
                               capture_output=True)
            took = time.monotonic() - t0
            if p.returncode != 0:
                print(f"FAIL: status answered {p.returncode}: {p.stderr.decode()}")
                ok = False
            worst_ctl = max(worst_ctl, took)
            peak_fds, peak_rss = max(peak_fds, fds(w.pid)), max(peak_rss, rss_kib(w.pid))
            time.sleep(1)
        st = json.loads(subprocess.run([WARMCTL, "-s", sock, "--json", "status"],
                                       capture_output=True).stdout)["data"]
        fake_state = fake.state()
        warms = sum(t["warms"] for t in st["targets"])
        errors = sum(t["errors"] for t in st["targets"])
        print(f"targets {a.targets}, {a.seconds:.0f}s, faults {fake_state.get('faults')}")
        print(f"warms {warms}, errors {errors}, provider requests {fake_state['requests']}")
        print(f"fds: baseline {base_fds}, peak {peak_fds}; RSS: baseline {base_rss} KiB, "
              f"peak {peak_rss} KiB; slowest status {worst_ctl * 1000:.0f} ms")
        # Connections come and go with the faults: allow the pool, not growth.
        if peak_fds > base_fds + 2 * 8 + 4:
            print("FAIL: fd count grew")
            ok = False
        if peak_rss > base_rss * 1.5 + 8192:
            print("FAIL: RSS grew")
            ok = False
        if worst_ctl > (5.0 if a.valgrind else 1.0):
            print("FAIL: the control socket was slow to answer")
            ok = False
    finally:
        w.terminate()
        try:
            rc = w.wait(60 if a.valgrind else 10)
        except subprocess.TimeoutExpired:
            w.kill()
            rc = w.wait()
        log.close()
        fake.stop()
    with open(os.path.join(d, "warmd.log")) as f:
        text = f.read()
    if rc != 0:
        print(f"FAIL: warmd exited with {rc}")
        print(text[-4000:])
        ok = False
    if "api_key_file" in text and "is open to" in text:
        print("FAIL: warmd warned that others can read a key file (the soak writes them 0600)")
        ok = False
    if ok:
        shutil.rmtree(d, ignore_errors=True)
        print("soak: OK")
    else:
        print(f"soak: FAILED (files kept in {d})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
