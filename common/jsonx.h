/* jsonx: strict JSON parsing and faithful serialisation on top of json-c.
 *
 * Why json-c: it keeps object keys in insertion order, replaces a value in
 * place, and re-emits a parsed floating-point number with its original text
 * (0.1 stays "0.1", 1.0 stays "1.0"), so a parsed template can be written
 * back byte-for-byte in every value we do not touch. */
#ifndef WARMD_JSONX_H
#define WARMD_JSONX_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errmsg.h"

#define JSONX_MAX_DEPTH 256

/* Parses exactly one JSON value from s[0..len) (strict RFC 8259: no NaN,
 * no trailing garbage other than whitespace, valid UTF-8). On error returns
 * -EINVAL and fills e with "line L, column C: reason". *ret owns a new
 * reference on success and is untouched on failure. */
int jsonx_parse(const char *s, size_t len, int max_depth, json_object **ret, struct errmsg *e);

/* jsonx_parse()'s two ways, for the tests that compare them: its fast path
 * (0 and *ret, or -1 for a document it leaves to json-c, without a reason)
 * and json-c's tokenizer behind the lexical checks, which gives the errors. */
int jsonx_parse_fast(const char *s, size_t len, int max_depth, json_object **ret);
int jsonx_parse_json_c(const char *s, size_t len, int max_depth, json_object **ret,
                       struct errmsg *e);

/* Compact serialisation: no spaces, '/' not escaped, UTF-8 kept as is.
 * The string belongs to o and lives until o changes or is freed. */
const char *jsonx_dump(json_object *o, size_t *ret_len);

/* Appends the compact serialisation of o to out. Returns 0. */
int jsonx_append(struct buf *out, json_object *o);

/* Walks a parsed document and fails (-ERANGE, with the JSON path in e) on an
 * integer json-c had to clamp because it does not fit 64 bits. */
int jsonx_check_ranges(json_object *o, struct errmsg *e);

/* Typed lookups; NULL / false when absent or of another type. */
json_object *jsonx_get(json_object *o, const char *key);
const char *jsonx_get_str(json_object *o, const char *key);
bool jsonx_get_int64(json_object *o, const char *key, int64_t *ret);
bool jsonx_is_int(json_object *o);

/* Add a value, or null when v is NULL / a double is NaN, under a key that o
 * does not have yet and that outlives o (a string literal). */
void jsonx_add_str(json_object *o, const char *key, const char *v);
void jsonx_add_time(json_object *o, const char *key, double unix_s); /* <=0 means null */
void jsonx_add_int(json_object *o, const char *key, int64_t v);
/* A double printed in the shortest form that reads back exactly; NULL for NaN/inf. */
json_object *jsonx_new_double(double v);
void jsonx_add_double(json_object *o, const char *key, double v);
void jsonx_add_bool(json_object *o, const char *key, bool v);
/* An amount of pico-USD as dollars, printed exactly to the micro-dollar ("0.012345"). */
void jsonx_add_usd(json_object *o, const char *key, int64_t pico);

/* An object written straight into a buffer, member by member: the bytes
 * jsonx_append() gives for the object the jsonx_add_* helpers of the same
 * names build (check_jsonx compares them), without a json-c object for
 * each value. Keys are appended in the order given, as they are: names in
 * warmd's own code that need no escaping. */
struct jsonx_obj {
	struct buf *out;
	bool any; /* a member was written: the next one needs a comma */
};
void jsonx_obj_open(struct jsonx_obj *w, struct buf *out);
void jsonx_obj_close(struct jsonx_obj *w);
void jsonx_put_str(struct jsonx_obj *w, const char *key, const char *v);
void jsonx_put_time(struct jsonx_obj *w, const char *key, double unix_s);
void jsonx_put_int(struct jsonx_obj *w, const char *key, int64_t v);
void jsonx_put_double(struct jsonx_obj *w, const char *key, double v);
void jsonx_put_bool(struct jsonx_obj *w, const char *key, bool v);
void jsonx_put_usd(struct jsonx_obj *w, const char *key, int64_t pico);
/* An array of the strings in csv, which is split at each comma. */
void jsonx_put_str_list(struct jsonx_obj *w, const char *key, const char *csv);

#endif
