/* audit_find: one run of the audit and the findings it collects: the
 * checks' ids, audit_add() and audit_fmt(), which every check calls, and
 * what the readiness checklist keeps of each target. The lowest of the
 * audit's files. Not an API: included only by core/audit*.c. */
#ifndef WARMD_AUDIT_FIND_H
#define WARMD_AUDIT_FIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit_types.h"

/* The checks; names are the stable "check" ids listed in audit.h. */
enum check {
	C_DYNAMIC,
	C_MINIMUM,
	C_UNSORTED,
	C_TOOL_ORDER,
	C_IMAGE_DETAIL,
	C_FIELDS,
	C_CACHE_KEYS,
	C_KEY_RATE,
	C_GAPS,
	C_TTL,
	C_NO_TOUCHES,
	C_INLINE_KEY,
	C_UNWARMABLE,
	C_WARM_WRITES,
};

#define BIT(c) (1u << (c))

struct finding {
	struct audit_finding f;
	char *title, *desc, *rec; /* owned: f's strings point here */
	enum check check_id;
	int64_t cost_cur, cost_alt; /* ttl-choice: both figures */
	bool has_costs;
	size_t seq;
};

struct audit_rx;

/* One run of the audit: its findings so far. */
struct audit {
	struct finding *v;
	size_t n, cap;
	bool static_only;
	struct audit_rx *rx; /* compiled dynamic-content patterns */
	uint32_t mask;       /* checks that fired for the target being checked */
};

/* What the readiness checklist needs to know beyond the findings. */
struct tstate {
	bool parsed;       /* the body could be read */
	bool ttl_compared; /* the TTL cost comparison had data */
	uint32_t mask;     /* BIT(check) of each check that fired */
};

/* A new string for a finding's text. */
char *audit_fmt(struct audit *a, const char *f, ...) __attribute__((format(printf, 2, 3)));
/* Adds a finding (t NULL: provider-wide, for provider); takes
 * ownership of title, desc and rec. */
struct finding *audit_add(struct audit *a, const struct audit_target *t, const char *provider,
                          enum audit_severity sev, enum check check, const char *category,
                          const char *effort, char *title, char *desc, char *rec);

/* Frees the findings of a (their strings and the list); a->rx is the
 * caller's. */
void audit_free_findings(struct audit *a);

#endif
