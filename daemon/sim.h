/* sim: warmd --simulate TRACE: the live scheduler and policies on virtual
 * time, against a model of the provider cache, to see the bill before
 * turning warmd on.
 *
 * TRACE lines are `unix_seconds,target[,input_tokens]` (real requests, which
 * act as touches), unix_seconds at most BOUNDS_MAX_TIME and input_tokens at
 * most BOUNDS_MAX_TOKENS (common/bounds.h), and session hints
 * `unix_seconds,target,keep=SECONDS` and `unix_seconds,target,drop` (what
 * an application would send as warmctl keep and drop: a hinted target is
 * simulated as its sessions, see sim.c). Money is summed with pricing's
 * checked arithmetic. Each target's cache lives its TTL from every request or
 * warm that refreshes it; targets that share a cache entry (runtime/share.c)
 * share those refreshes. Reported per target, per cache entry and in total:
 * requests, warms, cold requests, coverage and costs; per entry, beside
 * three baselines computed on the merged traffic of its targets (the
 * provider keeps one cache for them): no_warming, fixed_interval (a warm
 * every TTL/2, around the clock) and the hindsight oracle (per gap, the
 * cheaper of keeping warm and re-creating). The total sums the entries.
 * Deterministic (seeded jitter) and causal (a decision only sees the traffic
 * before it). */
#ifndef WARMD_SIM_H
#define WARMD_SIM_H

#include <stdbool.h>
#include <stdio.h>

/* Runs the simulation; the report goes to out (a table, or JSON), one CSV line
 * per warm and request to events_path when given. Problems go to err as
 * FILE:LINE: error: text. Returns the process exit code (0, or 1). */
int sim_run(const char *config_path, const char *trace_path, const char *events_path, bool json,
            FILE *out, FILE *err);

#endif
