/* audit_shape: a template read the way its provider caches it (the cached
 * prefix as a list of elements, the tools) and the fingerprint of a
 * version. Not an API: included only by core/audit*.c. */
#ifndef WARMD_AUDIT_SHAPE_H
#define WARMD_AUDIT_SHAPE_H

#include <json-c/json.h>
#include <stddef.h>

#include "audit_types.h"

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

#endif
