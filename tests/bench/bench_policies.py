#!/usr/bin/env python3
"""bench_policies: what each warming policy costs, relative to the hindsight
oracle, on week-long synthetic traces of five traffic families (or on your
own trace).

    python3 tests/bench/bench_policies.py [--seeds 3] [--days 7]
    python3 tests/bench/bench_policies.py --trace my-traffic.csv   # unix_seconds,target lines

Every policy is priced by the same independent cost model here (Anthropic
Sonnet prices, a 5-minute TTL, prefix-only costs: a read is 0.1x input and a
write 1.25x): a request or warm that finds the cache warm reads, one that
finds it cold writes. warmd's own policies (adaptive, always) run through
`warmd --simulate --events`, whose events are priced here; the comparison
rules are simulated here:

  never        no warming
  half_ttl     a warm every TTL/2, around the clock
  ttl_edge     a warm just before each expiry, around the clock
  keep30       keep warm for 30 minutes after the last request
  survival30   warm while P(a request within the next TTL | quiet so far) >= 0.30,
               from the gaps seen so far (causal)
  oracle       hindsight: per gap, the cheaper of bridging it and re-creating

and, on the families whose traces can carry session hints (agent_sessions),
`hints`: warmd --simulate on the same requests with the hints an agent would
send (a keep for the tool call's timeout after each call, a drop when the
task ends: traces.py --hints), which make each target a session, warmed only
while a keep is open.

Prints cost / oracle per policy and family, adaptive against the best rule,
and what the hints buy against adaptive without them.
"""
import argparse
import bisect
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import traces  # noqa: E402

SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
WARMD = os.environ.get("WARMD_BIN") or os.path.join(SRC, "build", "warmd")
T = 300.0
R, W = 0.30, 3.75  # USD per MTok: read, 5-minute write (claude-sonnet-4-5)
MARGIN = 3.0       # warms go this long before expiry


def price(events):
    """events: sorted (time, kind) with kind 'warm' or 'req'. Returns the cost in reads."""
    exp, cost = -1.0, 0.0
    for t, _ in events:
        cost += R if t < exp else W
        exp = t + T
    return cost


def rule_warms(reqs, rule, start, end):
    """Warm times of a comparison rule for one target's sorted request times."""
    warms = []
    if rule == "half_ttl" or rule == "ttl_edge":
        step = T / 2 if rule == "half_ttl" else T - MARGIN
        t = start
        while t < end:
            warms.append(t)
            t += step
        return warms
    gaps = []  # seen so far, for survival30
    for i, r in enumerate(reqs):
        nxt = reqs[i + 1] if i + 1 < len(reqs) else end
        j = 1
        while True:
            w = r + j * (T - MARGIN)
            if w >= nxt or w >= end:
                break
            if rule == "keep30":
                go = j * T <= 1800
            else:  # survival30
                longer = [g for g in gaps if g >= j * T]
                go = bool(longer) and sum(1 for g in longer if g < (j + 1) * T) / len(longer) >= 0.30
            if not go:
                break
            warms.append(w)
            j += 1
        if i + 1 < len(reqs):
            gaps.append(reqs[i + 1] - r)
    return warms


def oracle(reqs):
    cost = W
    for a, b in zip(reqs, reqs[1:]):
        g = b - a
        if g <= T:
            cost += R
        else:
            k = math.ceil(g / T) - 1
            cost += min(k * R, W - R) + R
    return cost


def warmd_costs(rows, policies, tmp):
    """Runs warmd --simulate once per policy; returns {policy: {target: cost}}.
    rows may carry hints (time, target, hint)."""
    trace = os.path.join(tmp, "trace.csv")
    with open(trace, "w") as f:
        for row in rows:
            f.write(",".join([f"{row[0]:.3f}", *row[1:]]) + "\n")
    names = sorted({row[1] for row in rows})
    with open(os.path.join(SRC, "config", "examples", "support-bot.json")) as f:
        tmpl = json.load(f)
    out = {}
    for pol in policies:
        targets = []
        for n in names:
            t = dict(tmpl)
            t["system"] = [dict(tmpl["system"][0], text=f"{n}. " + tmpl["system"][0]["text"])]
            with open(os.path.join(tmp, f"{n}.json"), "w") as f:
                json.dump(t, f)
            targets.append(f'{{ name = "{n}"; request_file = "{n}.json"; ttl = "5m"; '
                           f'policy = "{pol}"; }}')
        conf = os.path.join(tmp, "sim.conf")
        with open(conf, "w") as f:
            f.write('daemon = { pricing_file = ""; log_level = "warning"; };\n'
                    'providers = ( { name = "anthropic"; } );\n'
                    "targets = (\n" + ",\n".join(targets) + "\n);\n")
        ev = os.path.join(tmp, "events.csv")
        p = subprocess.run([WARMD, "--simulate", trace, "-c", conf, "--events", ev],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"warmd --simulate failed: {p.stderr}")
        per = {n: [] for n in names}
        with open(ev) as f:
            next(f)
            for line in f:
                t, n, kind, _ = line.rstrip("\n").split(",")
                per[n].append((float(t), kind))
        out[pol] = {n: price(sorted(v)) for n, v in per.items()}
    return out


RULES = ["never", "half_ttl", "ttl_edge", "keep30", "survival30"]


def evaluate(rows, tmp, hinted=None):
    """Cost / oracle per policy on rows; with hinted (the same requests with
    session hints), also "hints"."""
    by = {}
    for t, n in rows:
        by.setdefault(n, []).append(t)
    start, end = rows[0][0], rows[-1][0]
    totals = {k: 0.0 for k in RULES + ["oracle"]}
    for n, reqs in by.items():
        totals["oracle"] += oracle(reqs)
        for rule in RULES:
            warms = [] if rule == "never" else rule_warms(reqs, rule, start, end)
            ev = sorted([(t, "req") for t in reqs] + [(t, "warm") for t in warms])
            totals[rule] += price(ev)
    wd = warmd_costs(rows, ["adaptive", "always"], tmp)
    for pol, costs in wd.items():
        totals[pol] = sum(costs.values())
    if hinted:
        totals["hints"] = sum(warmd_costs(hinted, ["adaptive"], tmp)["adaptive"].values())
    return {k: v / totals["oracle"] for k, v in totals.items() if k != "oracle"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--trace", help="your own trace: unix_seconds,target lines")
    a = ap.parse_args()
    cols = RULES + ["always", "adaptive"]
    print(f"cost / hindsight oracle (5-minute TTL, write = {W / R:.1f} reads)")
    print(f"{'family':16}" + "".join(f"{c:>11}" for c in cols) + f"{'best rule':>12}"
          f"{'adaptive/best':>15}{'hints':>9}{'hints/adaptive':>16}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        if a.trace:
            with open(a.trace) as f:
                rows = sorted((float(l.split(",")[0]), l.split(",")[1].strip())
                              for l in f if l.strip() and not l.startswith("#"))
            runs.append(("your trace", rows, None))
        else:
            for fam in sorted(traces.FAMILIES):
                for seed in range(1, a.seeds + 1):
                    hinted = (traces.generate(fam, 6, a.days, seed, hints=True)
                              if fam in traces.HINTED else None)
                    runs.append((f"{fam}#{seed}", traces.generate(fam, 6, a.days, seed), hinted))
        for name, rows, hinted in runs:
            r = evaluate(rows, tmp, hinted)
            best = min(r[k] for k in RULES)
            worst = max(worst, r["adaptive"] / best)
            hint_cols = (f"{r['hints']:9.3f}{r['hints'] / r['adaptive']:16.3f}" if hinted
                         else f"{'-':>9}{'-':>16}")
            print(f"{name:16}" + "".join(f"{r[c]:11.3f}" for c in cols) +
                  f"{best:12.3f}{r['adaptive'] / best:15.3f}" + hint_cols)
    print(f"worst adaptive / best rule: {worst:.3f}")


if __name__ == "__main__":
    main()
