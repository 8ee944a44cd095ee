#!/usr/bin/env python3
"""traces: synthetic week-long request traces of five traffic families, for
`warmd --simulate` and tests/bench/bench_policies.py.

    python3 tests/bench/traces.py FAMILY [--targets 6] [--days 7] [--seed 1] [--hints] > trace.csv

Families: office_hours, sparse_poisson, agent_sessions, diurnal, bursts.
Lines are unix_seconds,target (targets t0..tN-1), sorted by time; with
--hints (agent_sessions), also unix_seconds,target,keep=SECONDS after each
call but a session's last, and unix_seconds,target,drop after its last.
"""
import argparse
import math
import random
import sys

START = 1796256000  # Monday 2026-12-07 00:00:00 UTC
DAY = 86400


def office_hours(rng, days, i):
    """Mon-Fri 08:00-17:30 UTC, Poisson bursts of activity, nothing at night."""
    gap = rng.uniform(60, 360)  # mean gap in office hours, per target
    out = []
    for d in range(days):
        if d % 7 >= 5:
            continue
        t = START + d * DAY + 8 * 3600 + rng.uniform(0, 1800)
        end = START + d * DAY + 17.5 * 3600
        while True:
            t += rng.expovariate(1 / gap)
            if t >= end:
                break
            out.append(t)
    return out


def sparse_poisson(rng, days, i):
    """A request every 20-90 minutes on average, around the clock."""
    gap = rng.uniform(1200, 5400)
    t, out = START, []
    while True:
        t += rng.expovariate(1 / gap)
        if t >= START + days * DAY:
            return out
        out.append(t)


TOOL_TIMEOUT = 1800  # agent_sessions with hints: what a keep asks for after each call (30 min)


def agent_sessions(rng, days, i, hints=False):
    """Agent runs: sessions of 5-40 calls with think times (some past the TTL).

    With hints, each call but the last is followed by a keep for the tool
    call's timeout (what the agent knows when the call starts, never when
    the next request comes), and the last by a drop (the task is over)."""
    t, out = START, []
    while True:
        t += rng.expovariate(1 / rng.uniform(3600, 4 * 3600))
        if t >= START + days * DAY:
            return out
        s = t
        n = rng.randint(5, 40)
        for k in range(n):
            out.append(s)
            if hints:
                out.append((s, "drop" if k == n - 1 else f"keep={TOOL_TIMEOUT}"))
            s += rng.lognormvariate(math.log(100), 1.0)
        t = s


def diurnal(rng, days, i):
    """A daily cycle: a request every ~2 min at the peak, ~1 h in the trough."""
    peak = rng.uniform(90, 180)
    t, out = START, []
    while t < START + days * DAY:
        h = ((t - START) % DAY) / 3600
        rate = (1 / peak) * (0.02 + 0.98 * max(0.0, math.sin(math.pi * (h - 5) / 16)) ** 2)
        rate = max(rate, 1 / 3600)
        # thinning: propose at the peak rate, keep with rate/peak
        t += rng.expovariate(1 / peak)
        if rng.random() < rate * peak:
            out.append(t)
    return [x for x in out if x < START + days * DAY]


def bursts(rng, days, i):
    """Bursts of 10-60 requests seconds apart, hours apart, and a few strays."""
    t, out = START, []
    while True:
        t += rng.expovariate(1 / rng.uniform(2 * 3600, 5 * 3600))
        if t >= START + days * DAY:
            break
        s = t
        for _ in range(rng.randint(10, 60)):
            out.append(s)
            s += rng.uniform(2, 30)
        if rng.random() < 0.3:  # a straggler a few minutes later
            out.append(s + rng.uniform(120, 900))
    return sorted(out)


FAMILIES = {"office_hours": office_hours, "sparse_poisson": sparse_poisson,
            "agent_sessions": agent_sessions, "diurnal": diurnal, "bursts": bursts}


HINTED = {"agent_sessions"}  # the families that can carry session hints


def generate(family, targets=6, days=7, seed=1, hints=False):
    """Rows (time, target), or with hints also (time, target, hint) after the
    request they follow. The same seed gives the same requests either way."""
    rng = random.Random(f"{family}-{seed}")
    rows = []
    for i in range(targets):
        gen = FAMILIES[family]
        for t in (gen(rng, days, i, hints=True) if hints else gen(rng, days, i)):
            if isinstance(t, tuple):
                rows.append((round(t[0], 3), f"t{i}", t[1]))
            else:
                rows.append((round(t, 3), f"t{i}"))
    # A hint stays after its request (sorted is stable; rows of one time
    # sort by target, then the request before its hint).
    rows.sort(key=lambda r: (r[0], r[1], len(r)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("family", choices=sorted(FAMILIES))
    ap.add_argument("--targets", type=int, default=6)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hints", action="store_true",
                    help="session hints too (agent_sessions): keep=SECONDS and drop rows")
    a = ap.parse_args()
    if a.hints and a.family not in HINTED:
        ap.error(f"--hints: only {', '.join(sorted(HINTED))} carries hints")
    for row in generate(a.family, a.targets, a.days, a.seed, a.hints):
        sys.stdout.write(",".join([f"{row[0]:.3f}", *row[1:]]) + "\n")


if __name__ == "__main__":
    main()
