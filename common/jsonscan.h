/* jsonscan: reads a few integer fields of a small JSON object without
 * building a tree, for the answers warmd reads once per warm (a ~350-byte
 * body of which only "usage" matters).
 *
 * It is a shortcut, never a second opinion: it answers only for documents
 * of the plain kind (strict JSON whose strings are printable ASCII without
 * escapes, numbers of at most 15 digits per part without exponent, at most
 * JSONSCAN_MAX_DEPTH levels, none of the requested fields twice) and only
 * when every requested field is absent, null, or of its kind. Anything else
 * returns -1, and the caller parses the document with json-c as before,
 * which then also says what is wrong. So for any document, the fields it
 * reports are what json-c's tree would hold. */
#ifndef WARMD_JSONSCAN_H
#define WARMD_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONSCAN_MAX_DEPTH 16
#define JSONSCAN_MAX_KEYS  4 /* components of a path */

enum jsonscan_kind { JSONSCAN_INT, JSONSCAN_OBJECT };

struct jsonscan_field {
	const char *path; /* keys from the root, dotted: "usage.input_tokens" */
	enum jsonscan_kind kind;
	/* Results. */
	bool found;    /* present and not null */
	int64_t value; /* JSONSCAN_INT: a non-negative integer <= max */
};

/* Scans the object s[0..len) for the n fields f. Every object a path goes
 * through must itself be one of the fields (kind JSONSCAN_OBJECT), so that a
 * repeated key anywhere on the way is noticed. Returns 0 with the results
 * filled in, or -1: not answered here (see above); f's results are then
 * meaningless. */
int jsonscan_fields(const char *s, size_t len, struct jsonscan_field *f, size_t n, int64_t max);

#endif
