/* jsonscan: reads a few integer fields of a small JSON object without
 * building a tree (see jsonscan.h: it declines whatever is not plain). */
#include "jsonscan.h"

#include <string.h>

#define MAX_FIELDS 32

struct comp {
	const char *p;
	size_t n;
};

struct scan {
	const char *s;
	size_t len, i;
	struct jsonscan_field *f;
	int64_t max;
	struct comp path[MAX_FIELDS][JSONSCAN_MAX_KEYS];
	int ncomp[MAX_FIELDS];
	bool seen[MAX_FIELDS];
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void skip_ws(struct scan *c)
{
	while (c->i < c->len && (c->s[c->i] == ' ' || c->s[c->i] == '\n' || c->s[c->i] == '\r' ||
	                         c->s[c->i] == '\t'))
		c->i++;
}

/* A string of printable ASCII without escapes; c->i is at its quote. */
static int string(struct scan *c, const char **ret, size_t *ret_n)
{
	size_t start = ++c->i;

	for (; c->i < c->len; c->i++) {
		unsigned char ch = (unsigned char)c->s[c->i];
		if (ch == '"') {
			*ret = c->s + start;
			*ret_n = c->i - start;
			c->i++;
			return 0;
		}
		if (ch < 0x20 || ch >= 0x7f || ch == '\\')
			return -1;
	}
	return -1;
}

/* A number of the plain kind: -?(0|[1-9][0-9]{0,14})(.[0-9]{1,15})?. Sets
 * *ret_uint to its value when it is a non-negative integer, else to -1. */
static int number(struct scan *c, int64_t *ret_uint)
{
	const char *s = c->s;
	size_t i = c->i, d = 0;
	bool neg = false, plain = true;
	int64_t v = 0;

	if (s[i] == '-') {
		neg = true;
		i++;
	}
	if (i >= c->len || !is_digit(s[i]))
		return -1;
	if (s[i] == '0') {
		i++;
	} else {
		for (; i < c->len && is_digit(s[i]); i++) {
			if (++d > 15)
				return -1;
			v = v * 10 + (s[i] - '0');
		}
	}
	if (i < c->len && s[i] == '.') {
		plain = false;
		for (d = 0, i++; i < c->len && is_digit(s[i]); i++)
			if (++d > 15)
				return -1;
		if (d == 0)
			return -1;
	}
	/* A digit after a leading 0, or an exponent: not plain. */
	if (i < c->len && (is_digit(s[i]) || s[i] == 'e' || s[i] == 'E'))
		return -1;
	c->i = i;
	*ret_uint = !neg && plain ? v : -1;
	return 0;
}

static int literal(struct scan *c, const char *word)
{
	size_t n = strlen(word);

	if (c->len - c->i < n || memcmp(c->s + c->i, word, n) != 0)
		return -1;
	c->i += n;
	return 0;
}

static int value(struct scan *c, int depth, int pathlen, uint32_t cand);

/* An object at depth; cand: the fields whose first pathlen keys lead here. */
static int object(struct scan *c, int depth, int pathlen, uint32_t cand)
{
	if (depth > JSONSCAN_MAX_DEPTH)
		return -1;
	c->i++;
	skip_ws(c);
	if (c->i < c->len && c->s[c->i] == '}') {
		c->i++;
		return 0;
	}
	for (;;) {
		const char *key;
		size_t kn;
		uint32_t m = 0;

		if (c->i >= c->len || c->s[c->i] != '"' || string(c, &key, &kn) < 0)
			return -1;
		skip_ws(c);
		if (c->i >= c->len || c->s[c->i] != ':')
			return -1;
		c->i++;
		skip_ws(c);
		for (uint32_t rest = pathlen < JSONSCAN_MAX_KEYS ? cand : 0; rest;
		     rest &= rest - 1) {
			int k = __builtin_ctz(rest);
			if (c->path[k][pathlen].n == kn &&
			    memcmp(c->path[k][pathlen].p, key, kn) == 0)
				m |= 1u << k;
		}
		if (value(c, depth, pathlen + 1, m) < 0)
			return -1;
		skip_ws(c);
		if (c->i >= c->len)
			return -1;
		if (c->s[c->i] == '}') {
			c->i++;
			return 0;
		}
		if (c->s[c->i] != ',')
			return -1;
		c->i++;
		skip_ws(c);
	}
}

static int array(struct scan *c, int depth)
{
	if (depth > JSONSCAN_MAX_DEPTH)
		return -1;
	c->i++;
	skip_ws(c);
	if (c->i < c->len && c->s[c->i] == ']') {
		c->i++;
		return 0;
	}
	for (;;) {
		if (value(c, depth, 0, 0) < 0)
			return -1;
		skip_ws(c);
		if (c->i >= c->len)
			return -1;
		if (c->s[c->i] == ']') {
			c->i++;
			return 0;
		}
		if (c->s[c->i] != ',')
			return -1;
		c->i++;
		skip_ws(c);
	}
}

/* A value inside a container at depth, reached by pathlen keys that the
 * fields in cand share. */
static int value(struct scan *c, int depth, int pathlen, uint32_t cand)
{
	struct jsonscan_field *f = NULL;
	uint32_t below = 0;
	const char *str;
	size_t n;
	int64_t v;

	for (uint32_t rest = cand; rest; rest &= rest - 1) {
		int k = __builtin_ctz(rest);
		if (c->ncomp[k] == pathlen)
			f = &c->f[k];
		else
			below |= 1u << k;
	}
	if (f) {
		size_t k = (size_t)(f - c->f);
		if (c->seen[k])
			return -1; /* json-c keeps the last of a repeated key */
		c->seen[k] = true;
	}
	if (c->i >= c->len)
		return -1;
	switch (c->s[c->i]) {
	case '{':
		if (f && f->kind != JSONSCAN_OBJECT)
			return -1;
		if (f)
			f->found = true;
		return object(c, depth + 1, pathlen, below);
	case 'n':
		return literal(c, "null"); /* a null field reads as an absent one */
	case '[':
		return f ? -1 : array(c, depth + 1);
	case '"':
		return f ? -1 : string(c, &str, &n);
	case 't':
		return f ? -1 : literal(c, "true");
	case 'f':
		return f ? -1 : literal(c, "false");
	default:
		if (number(c, &v) < 0)
			return -1;
		if (!f)
			return 0;
		if (f->kind != JSONSCAN_INT || v < 0 || v > c->max)
			return -1;
		f->found = true;
		f->value = v;
		return 0;
	}
}

/* Splits the paths; checks that every container on a path is a field. */
static int prepare(struct scan *c, struct jsonscan_field *f, size_t n)
{
	if (n > MAX_FIELDS)
		return -1;
	for (size_t k = 0; k < n; k++) {
		const char *p = f[k].path;
		int m = 0;
		f[k].found = false;
		f[k].value = 0;
		c->seen[k] = false;
		for (;;) {
			const char *dot = strchr(p, '.');
			size_t len = dot ? (size_t)(dot - p) : strlen(p);
			if (m == JSONSCAN_MAX_KEYS)
				return -1;
			c->path[k][m].p = p;
			c->path[k][m].n = len;
			m++;
			if (!dot)
				break;
			p = dot + 1;
		}
		c->ncomp[k] = m;
	}
	for (size_t k = 0; k < n; k++) {
		bool parent = c->ncomp[k] == 1;
		for (size_t j = 0; j < n; j++) {
			bool same = c->ncomp[j] == c->ncomp[k],
			     prefix = c->ncomp[j] == c->ncomp[k] - 1;
			for (int m = 0; (same || prefix) && m < c->ncomp[j]; m++)
				if (c->path[j][m].n != c->path[k][m].n ||
				    memcmp(c->path[j][m].p, c->path[k][m].p, c->path[k][m].n) != 0)
					same = prefix = false;
			if (same && j != k)
				return -1; /* asked twice */
			if (prefix && f[j].kind == JSONSCAN_OBJECT)
				parent = true;
		}
		if (!parent)
			return -1;
	}
	return 0;
}

int jsonscan_fields(const char *s, size_t len, struct jsonscan_field *f, size_t n, int64_t max)
{
	struct scan c = { .s = s, .len = len, .f = f, .max = max };

	if (prepare(&c, f, n) < 0)
		return -1;
	skip_ws(&c);
	if (c.i >= len || s[c.i] != '{')
		return -1;
	if (object(&c, 1, 0, n == MAX_FIELDS ? ~0u : (1u << n) - 1) < 0)
		return -1;
	skip_ws(&c);
	return c.i == len ? 0 : -1;
}
