/* audit_internal: what the audit's files share with each other. Not an
 * API: included only by core/audit*.c (the API is audit.h). */
#ifndef WARMD_AUDIT_INTERNAL_H
#define WARMD_AUDIT_INTERNAL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"

/* The checks; names are the stable "check" ids of audit.h. */
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

/* audit.c: a new string for a finding's text. */
char *audit_fmt(struct audit *a, const char *f, ...) __attribute__((format(printf, 2, 3)));
/* audit.c: adds a finding (t NULL: provider-wide, for provider); takes
 * ownership of title, desc and rec. */
struct finding *audit_add(struct audit *a, const struct audit_target *t, const char *provider,
                          enum audit_severity sev, enum check check, const char *category,
                          const char *effort, char *title, char *desc, char *rec);

/* ---- audit_shape.c: the template's cached prefix ---------------------------------------- */

enum elem_kind {
	EK_TOOL,    /* a tool definition: its descriptions are prompt text */
	EK_STRING,  /* a string that is all text (system, content, instructions, input) */
	EK_BLOCK,   /* an Anthropic content block: text only when type "text" */
	EK_MESSAGE, /* an OpenAI message or responses item */
};

struct elem {
	json_object *v;
	enum elem_kind kind;
	const char *field; /* the top-level field it belongs to */
	char path[48];
};

struct shape {
	json_object *doc;
	struct elem *e;
	size_t n, cap;
	size_t nprefix; /* the first nprefix elements are the cached prefix */
};

/* Parses body into s. -EINVAL: no body or not a JSON object (s is then
 * empty, doc NULL). Free with audit_shape_free either way. */
int audit_shape_parse(const char *body, size_t len, enum provider_kind kind, struct shape *s);
void audit_shape_free(struct shape *s);
size_t audit_tool_count(const struct shape *s);
/* The name of tool i ("" when it has none). */
const char *audit_tool_at(const struct shape *s, size_t i);
void audit_fp_from_shape(const struct shape *s, enum provider_kind kind, struct audit_fp *fp);

/* ---- the checks ------------------------------------------------------------------------ */

/* audit_dynamic.c */
struct audit_rx *audit_rx_new(void);
void audit_rx_free(struct audit_rx *x);
void audit_check_dynamic(struct audit *a, const struct audit_target *t, const struct shape *s);

/* audit_prefix.c */
long audit_min_cacheable(const struct audit_target *t);
void audit_check_minimum(struct audit *a, const struct audit_target *t);
void audit_check_sorted(struct audit *a, const struct audit_target *t, const struct shape *s);
/* True if it reported a reordering (check_fields then leaves the tools out). */
bool audit_check_tool_order(struct audit *a, const struct audit_target *t, const struct shape *s,
                            const struct audit_fp *cur);
void audit_check_image_detail(struct audit *a, const struct audit_target *t, const struct shape *s);
void audit_check_fields(struct audit *a, const struct audit_target *t, const struct audit_fp *cur,
                        bool reordered);

/* audit_traffic.c */
/* The prompt_cache_key in effect: the target's, else the template's (s may be empty). */
const char *audit_cache_key_of(const struct audit_target *t, const struct shape *s);
/* keys[i]: target i's key in effect, or NULL. Provider-wide findings. */
void audit_check_cache_keys(struct audit *a, const struct audit_target *t, char *const *keys,
                            size_t n);
void audit_check_key_rate(struct audit *a, const struct audit_target *t, const struct shape *s,
                          double now);
void audit_check_gaps(struct audit *a, const struct audit_target *t);
void audit_check_ttl_choice(struct audit *a, const struct audit_target *t, bool *ret_cmp);

/* audit_ops.c */
void audit_check_operations(struct audit *a, const struct audit_target *t);

/* ---- the answer ------------------------------------------------------------------------ */

/* audit_readiness.c: the checklist over the targets selected by only. */
json_object *audit_readiness_json(const struct audit_target *t, const struct tstate *st, size_t n,
                                  const char *only);
/* audit_report.c: audit_run's object (see audit.h). */
json_object *audit_report_json(const struct audit *a, const struct audit_target *t,
                               const struct tstate *st, size_t n, const char *only);

#endif
