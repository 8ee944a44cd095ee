/* sched_rules: the numbers of the scheduling rules (docs/scheduling.md),
 * shared by the scheduler (runtime/sched.c), which applies them, and by the
 * configuration, which refuses a TTL the scheduler cannot beat. Plain
 * constants: a pure module may include this without pulling in the
 * scheduler. */
#ifndef WARMD_SCHED_RULES_H
#define WARMD_SCHED_RULES_H

#define SCHED_MARGIN_FLOOR_S     0.5
#define SCHED_MARGIN_FLOOR_MAX_S 5.0
#define SCHED_MIN_TTL_S          2.0
#define SCHED_RETRY_BASE_S       1.0
#define SCHED_RETRY_MAX_S        60.0
/* At most 15 requests a minute per OpenAI prefix + prompt_cache_key (a
 * token bucket, so a quick retry still fits). */
#define SCHED_PREFIX_RPM   15.0
#define SCHED_PREFIX_BURST 3.0

#endif
