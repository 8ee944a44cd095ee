/* jsonx: strict JSON parsing and faithful serialisation on top of json-c. */
#include "jsonx.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void offset_to_linecol(const char *s, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (s[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

int jsonx_parse(const char *s, size_t len, int max_depth, json_object **ret, struct errmsg *e)
{
	struct json_tokener *tok;
	json_object *o;
	enum json_tokener_error jerr;
	size_t off, i;
	int line, col;

	if (len > INT32_MAX)
		return errmsg_set(e, -EINVAL, "document too large");
	tok = json_tokener_new_ex(max_depth > 0 ? max_depth : JSONX_MAX_DEPTH);
	if (!tok)
		return errmsg_set(e, -ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, s, (int)len);
	jerr = json_tokener_get_error(tok);
	off = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/* The input ended inside a value. */
		json_tokener_free(tok);
		offset_to_linecol(s, len, &line, &col);
		return errmsg_set(e, -EINVAL, "line %d, column %d: unexpected end of input", line,
		                  col);
	}
	if (jerr != json_tokener_success) {
		json_tokener_free(tok);
		offset_to_linecol(s, off < len ? off : len, &line, &col);
		return errmsg_set(e, -EINVAL, "line %d, column %d: %s", line, col,
		                  json_tokener_error_desc(jerr));
	}
	json_tokener_free(tok);
	for (i = off; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
			json_object_put(o);
			offset_to_linecol(s, i, &line, &col);
			return errmsg_set(e, -EINVAL,
			                  "line %d, column %d: trailing data after JSON value",
			                  line, col);
		}
	}
	*ret = o;
	return 0;
}

const char *jsonx_dump(json_object *o, size_t *ret_len)
{
	return json_object_to_json_string_length(
	        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, ret_len);
}

static int check_ranges(json_object *o, char *path, size_t cap, size_t plen, struct errmsg *e)
{
	int r;

	switch (json_object_get_type(o)) {
	case json_type_int:
		/* json-c saturates out-of-range integers to these bounds. */
		if (json_object_get_int64(o) == INT64_MIN ||
		    (json_object_get_int64(o) == INT64_MAX &&
		     json_object_get_uint64(o) == (uint64_t)INT64_MAX) ||
		    json_object_get_uint64(o) == UINT64_MAX)
			return errmsg_set(
			        e, -ERANGE,
			        "%s: integer does not fit in 64 bits (write it as a string "
			        "or a float)",
			        plen ? path : "$");
		return 0;
	case json_type_object: {
		json_object_object_foreach(o, k, v)
		{
			int n = snprintf(path + plen, cap - plen, ".%s", k);
			size_t nl = n < 0 ? plen : plen + (size_t)n;
			if (nl >= cap)
				nl = cap - 1;
			r = check_ranges(v, path, cap, nl, e);
			if (r < 0)
				return r;
			path[plen] = '\0';
		}
		return 0;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			int n = snprintf(path + plen, cap - plen, "[%zu]", i);
			size_t nl = n < 0 ? plen : plen + (size_t)n;
			if (nl >= cap)
				nl = cap - 1;
			r = check_ranges(json_object_array_get_idx(o, i), path, cap, nl, e);
			if (r < 0)
				return r;
			path[plen] = '\0';
		}
		return 0;
	default:
		return 0;
	}
}

int jsonx_check_ranges(json_object *o, struct errmsg *e)
{
	char path[256] = "$";

	return check_ranges(o, path, sizeof(path), 1, e);
}

json_object *jsonx_get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

const char *jsonx_get_str(json_object *o, const char *key)
{
	json_object *v = jsonx_get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

bool jsonx_is_int(json_object *o)
{
	return o && json_object_is_type(o, json_type_int);
}

bool jsonx_get_int64(json_object *o, const char *key, int64_t *ret)
{
	json_object *v = jsonx_get(o, key);

	if (!jsonx_is_int(v))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

void jsonx_add_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

void jsonx_add_time(json_object *o, const char *key, double unix_s)
{
	char tmp[32];

	if (!(unix_s > 0)) {
		json_object_object_add(o, key, NULL);
		return;
	}
	/* Millisecond precision, printed as written (no binary noise). */
	snprintf(tmp, sizeof(tmp), "%.3f", unix_s);
	json_object_object_add(o, key, json_object_new_double_s(unix_s, tmp));
}

void jsonx_add_int(json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

json_object *jsonx_new_double(double v)
{
	char tmp[40];

	if (!isfinite(v))
		return NULL;
	/* The shortest of %.15g / %.17g that reads back as the same double. */
	snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) != v)
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	if (!strpbrk(tmp, ".eEn"))
		strcat(tmp, ".0");
	return json_object_new_double_s(v, tmp);
}

void jsonx_add_double(json_object *o, const char *key, double v)
{
	json_object_object_add(o, key, jsonx_new_double(v));
}

void jsonx_add_bool(json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}
