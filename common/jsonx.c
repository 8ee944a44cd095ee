/* jsonx: strict JSON parsing and faithful serialisation on top of json-c. */
#include "jsonx.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

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

/* json-c's "strict" mode still takes single quotes, NaN, Infinity, "1.",
 * "-01" and raw control characters in strings. This pass checks the lexical
 * rules of RFC 8259 that json-c does not (numbers, literals, bytes outside
 * strings, control characters inside them) and leaves structure, escapes and
 * UTF-8 to json-c. Returns the offset of the first offending byte. */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* On failure *i is the offending byte. */
static int check_number(const char *s, size_t len, size_t *i)
{
	size_t p = *i;
	int r = 0;

	if (s[p] == '-')
		p++;
	if (p < len && s[p] == '0')
		p++;
	else if (p < len && s[p] >= '1' && s[p] <= '9')
		while (p < len && is_digit(s[p]))
			p++;
	else
		r = -EINVAL;
	if (r == 0 && p < len && s[p] == '.') {
		if (++p >= len || !is_digit(s[p]))
			r = -EINVAL;
		while (p < len && is_digit(s[p]))
			p++;
	}
	if (r == 0 && p < len && (s[p] == 'e' || s[p] == 'E')) {
		p++;
		if (p < len && (s[p] == '+' || s[p] == '-'))
			p++;
		if (p >= len || !is_digit(s[p]))
			r = -EINVAL;
		while (p < len && is_digit(s[p]))
			p++;
	}
	if (r == 0 && p < len && (is_digit(s[p]) || s[p] == '.' || s[p] == 'e' || s[p] == 'E'))
		r = -EINVAL;
	*i = p;
	return r;
}

/* Length of a well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	size_t n;
	unsigned lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if (s[k] < 0x80 || s[k] > 0xBF)
			return 0;
	return n;
}

static int check_strict(const char *s, size_t len, size_t *ret_off)
{
	static const char *const literals[] = { "true", "false", "null" };
	size_t i = 0;

	while (i < len) {
		char c = s[i];
		if (c == '"') {
			for (i++; i < len && s[i] != '"';) {
				size_t n;
				if ((unsigned char)s[i] < 0x20)
					goto bad;
				if (s[i] == '\\') {
					i += 2;
					continue;
				}
				n = utf8_seq((const unsigned char *)s + i, len - i);
				if (n == 0)
					goto bad;
				i += n;
			}
			i++;
		} else if (strchr(" \t\r\n{}[],:", c) && c != '\0') {
			i++;
		} else if (c == '-' || is_digit(c)) {
			if (check_number(s, len, &i) < 0)
				goto bad;
		} else {
			/* The longest prefix of a literal; the error is where it stops. */
			size_t best = 0, full = 0;
			for (size_t k = 0; k < 3; k++) {
				size_t n = 0, want = strlen(literals[k]);
				while (n < want && i + n < len && s[i + n] == literals[k][n])
					n++;
				if (n == want)
					full = n;
				if (n > best)
					best = n;
			}
			if (!full) {
				if (i + best == len)
					return 0; /* cut short: json-c says "end of input" */
				i += best;
				goto bad;
			}
			i += full;
			if (i < len &&
			    ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
				goto bad;
		}
	}
	return 0;
bad:
	*ret_off = i;
	return -EINVAL;
}

/* Offset of the first '[' or '{' nested deeper than max_depth. json-c
 * notices the depth only at the first value inside that container, so its
 * parse end is past the bracket (and, for an object, past the first key). */
static size_t too_deep_at(const char *s, size_t len, int max_depth)
{
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		} else if (s[i] == '[' || s[i] == '{') {
			if (++depth > max_depth)
				return i;
		} else if (s[i] == ']' || s[i] == '}') {
			depth--;
		}
	}
	return len;
}

/* Fills e with "line L, column C: what" for offset off of s; returns -EINVAL. */
static int error_at(struct errmsg *e, const char *s, size_t off, const char *what)
{
	int line, col;

	offset_to_linecol(s, off, &line, &col);
	return errmsg_set(e, -EINVAL, "line %d, column %d: %s", line, col, what);
}

/* What check_strict() found at offset off. */
static int lexical_error(struct errmsg *e, const char *s, size_t len, size_t off)
{
	char what[32];

	if (off >= len)
		snprintf(what, sizeof(what), "unexpected end of input");
	else if ((unsigned char)s[off] >= 0x20 && (unsigned char)s[off] < 0x7f)
		snprintf(what, sizeof(what), "unexpected '%c'", s[off]);
	else
		snprintf(what, sizeof(what), "unexpected byte 0x%02x", (unsigned char)s[off]);
	return error_at(e, s, off, what);
}

/* Offset of the first byte at or after off that is not whitespace, or len. */
static size_t trailing_at(const char *s, size_t len, size_t off)
{
	while (off < len && (s[off] == ' ' || s[off] == '\t' || s[off] == '\n' || s[off] == '\r'))
		off++;
	return off;
}

/* ---- the fast path: well-formed documents without json-c's tokenizer ----
 *
 * json-c reads a document a byte at a time through a state machine, and the
 * lexical pass above reads it once more: together most of loading a
 * template. This parser reads a document once, a string 8 bytes at a time,
 * and builds the same tree through the same json-c calls the tokenizer
 * makes. It takes only what is plainly well-formed and declines the rest
 * (-1): anything malformed, a document that is not an object or an array,
 * nesting past the limit, integers of more than 18 digits (json-c clamps
 * what does not fit 64 bits), doubles that overflow, \u escapes that
 * decode to NUL or to half a surrogate pair. jsonx_parse() then asks
 * json-c, which also names the error; check_jsonx compares the two paths
 * on every fixture and on random documents. */

struct fast {
	const unsigned char *p, *end;
	int depth, max_depth;
	struct buf tmp; /* a string with escapes, decoded; a key; a number */
};

static void fast_ws(struct fast *f)
{
	while (f->p < f->end && (*f->p == ' ' || *f->p == '\n' || *f->p == '\t' || *f->p == '\r'))
		f->p++;
}

/* Whether none of the 8 bytes in v ends a plain run of a string: no byte
 * below 0x20, no '"', no '\\', nothing from 0x80 up (UTF-8 is checked a
 * sequence at a time). */
static bool plain_ascii8(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
	uint64_t ctl = (v - ones * 0x20) & ~v, quote = (q - ones) & ~q, bslash = (b - ones) & ~b;

	return ((ctl | quote | bslash | v) & high) == 0;
}

static int hex4(const unsigned char *p, unsigned *ret)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*ret = v;
	return 0;
}

/* Appends the code point cp (not a surrogate, not 0) in UTF-8. */
static void put_utf8(struct buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(b, u, n);
}

/* One escape after its backslash (at f->p), decoded into f->tmp. */
static int fast_escape(struct fast *f)
{
	static const char plain[256] = { ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
		                         ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t' };
	unsigned cp, lo;

	if (f->p >= f->end)
		return -1;
	if (plain[*f->p]) {
		buf_append(&f->tmp, &plain[*f->p], 1);
		f->p++;
		return 0;
	}
	if (*f->p != 'u' || f->end - f->p < 5 || hex4(f->p + 1, &cp) < 0)
		return -1;
	f->p += 5;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return -1;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (f->end - f->p < 6 || f->p[0] != '\\' || f->p[1] != 'u' ||
		    hex4(f->p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
			return -1;
		f->p += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return -1;
	put_utf8(&f->tmp, cp);
	return 0;
}

/* A string (f->p just past its opening quote). *ret_s and *ret_len are the
 * string's bytes: in the document when it has no escape, else in f->tmp;
 * with copy (a key: json-c wants it NUL-terminated) always in f->tmp. */
static int fast_string(struct fast *f, bool copy, const char **ret_s, size_t *ret_len)
{
	const unsigned char *run = f->p;
	bool escaped = false;
	uint64_t v;

	buf_reset(&f->tmp);
	for (;;) {
		while (f->end - f->p >= 8 && (memcpy(&v, f->p, 8), plain_ascii8(v)))
			f->p += 8;
		if (f->p >= f->end)
			return -1;
		if (*f->p == '"')
			break;
		if (*f->p == '\\') {
			buf_append(&f->tmp, run, (size_t)(f->p - run));
			f->p++;
			if (fast_escape(f) < 0)
				return -1;
			run = f->p;
			escaped = true;
		} else if (*f->p < 0x20) {
			return -1;
		} else if (*f->p < 0x80) {
			f->p++;
		} else {
			size_t n = utf8_seq(f->p, (size_t)(f->end - f->p));
			if (n == 0)
				return -1;
			f->p += n;
		}
	}
	if (escaped || copy) {
		buf_append(&f->tmp, run, (size_t)(f->p - run));
		*ret_s = f->tmp.data;
		*ret_len = f->tmp.len;
	} else {
		*ret_s = (const char *)run;
		*ret_len = (size_t)(f->p - run);
	}
	f->p++; /* the closing quote */
	return 0;
}

static int fast_number(struct fast *f, json_object **ret)
{
	const unsigned char *start = f->p;
	bool is_double = false;
	int digits = 0;
	int64_t v = 0;
	char text[64];
	double d;

	if (*f->p == '-')
		f->p++;
	if (f->p < f->end && *f->p == '0') {
		f->p++;
		digits = 1;
	} else {
		/* At most 18 digits (below 2^63); more go to json-c, which clamps. */
		while (f->p < f->end && *f->p >= '0' && *f->p <= '9') {
			if (++digits > 18)
				return -1;
			v = v * 10 + (*f->p++ - '0');
		}
		if (!digits)
			return -1;
	}
	if (f->p < f->end && *f->p == '.') {
		is_double = true;
		if (++f->p >= f->end || !is_digit((char)*f->p))
			return -1;
		while (f->p < f->end && is_digit((char)*f->p))
			f->p++;
	}
	if (f->p < f->end && (*f->p == 'e' || *f->p == 'E')) {
		is_double = true;
		if (++f->p < f->end && (*f->p == '+' || *f->p == '-'))
			f->p++;
		if (f->p >= f->end || !is_digit((char)*f->p))
			return -1;
		while (f->p < f->end && is_digit((char)*f->p))
			f->p++;
	}
	if (!is_double) {
		*ret = json_object_new_int64(*start == '-' ? -v : v);
		return 0;
	}
	if ((size_t)(f->p - start) >= sizeof(text))
		return -1;
	memcpy(text, start, (size_t)(f->p - start));
	text[f->p - start] = '\0';
	errno = 0;
	d = strtod(text, NULL);
	if (errno || !isfinite(d))
		return -1;
	*ret = json_object_new_double_s(d, text);
	return 0;
}

/* The literal word at f->p. */
static int fast_literal(struct fast *f, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(f->end - f->p) < n || memcmp(f->p, word, n) != 0)
		return -1;
	f->p += n;
	return 0;
}

static int fast_value(struct fast *f, json_object **ret);

static int fast_array(struct fast *f, json_object **ret)
{
	json_object *a = json_object_new_array(), *v;

	f->p++;
	fast_ws(f);
	if (f->p < f->end && *f->p == ']') {
		f->p++;
		*ret = a;
		return 0;
	}
	for (;;) {
		if (fast_value(f, &v) < 0)
			break;
		json_object_array_add(a, v);
		fast_ws(f);
		if (f->p >= f->end)
			break;
		if (*f->p == ']') {
			f->p++;
			*ret = a;
			return 0;
		}
		if (*f->p++ != ',')
			break;
		fast_ws(f);
	}
	json_object_put(a);
	return -1;
}

static int fast_object(struct fast *f, json_object **ret)
{
	json_object *o = json_object_new_object(), *v;
	const char *key;
	size_t klen;
	char *k;

	f->p++;
	fast_ws(f);
	if (f->p < f->end && *f->p == '}') {
		f->p++;
		*ret = o;
		return 0;
	}
	for (;;) {
		if (f->p >= f->end || *f->p++ != '"' || fast_string(f, true, &key, &klen) < 0)
			break;
		if (memchr(key, '\0', klen)) /* json-c would cut the key short there */
			break;
		fast_ws(f);
		if (f->p >= f->end || *f->p++ != ':')
			break;
		fast_ws(f);
		/* The key must outlive the value's own strings in f->tmp. */
		k = buf_steal(&f->tmp);
		if (fast_value(f, &v) < 0) {
			free(k);
			break;
		}
		json_object_object_add(o, k, v);
		free(k);
		fast_ws(f);
		if (f->p >= f->end)
			break;
		if (*f->p == '}') {
			f->p++;
			*ret = o;
			return 0;
		}
		if (*f->p++ != ',')
			break;
		fast_ws(f);
	}
	json_object_put(o);
	return -1;
}

static int fast_value(struct fast *f, json_object **ret)
{
	const char *s;
	size_t len;
	int r;

	if (f->p >= f->end)
		return -1;
	switch (*f->p) {
	case '{':
	case '[':
		if (++f->depth > f->max_depth)
			return -1;
		r = *f->p == '{' ? fast_object(f, ret) : fast_array(f, ret);
		f->depth--;
		return r;
	case '"':
		f->p++;
		if (fast_string(f, false, &s, &len) < 0)
			return -1;
		*ret = json_object_new_string_len(s, (int)len);
		return 0;
	case 't':
		if (fast_literal(f, "true") < 0)
			return -1;
		*ret = json_object_new_boolean(1);
		return 0;
	case 'f':
		if (fast_literal(f, "false") < 0)
			return -1;
		*ret = json_object_new_boolean(0);
		return 0;
	case 'n':
		if (fast_literal(f, "null") < 0)
			return -1;
		*ret = NULL;
		return 0;
	default:
		return fast_number(f, ret);
	}
}

int jsonx_parse_fast(const char *s, size_t len, int max_depth, json_object **ret)
{
	struct fast f = { .p = (const unsigned char *)s,
		          .end = (const unsigned char *)s + len,
		          .max_depth = max_depth > 0 ? max_depth : JSONX_MAX_DEPTH };
	json_object *o = NULL;
	int r = -1;

	if (len > INT32_MAX)
		return -1;
	fast_ws(&f);
	if (f.p < f.end && (*f.p == '{' || *f.p == '[') && fast_value(&f, &o) == 0) {
		fast_ws(&f);
		if (f.p == f.end)
			r = 0;
		else
			json_object_put(o);
	}
	buf_free(&f.tmp);
	if (r == 0)
		*ret = o;
	return r;
}

int jsonx_parse_json_c(const char *s, size_t len, int max_depth, json_object **ret,
                       struct errmsg *e)
{
	int depth = max_depth > 0 ? max_depth : JSONX_MAX_DEPTH, r = 0;
	enum json_tokener_error jerr;
	struct json_tokener *tok;
	json_object *o;
	size_t off;

	if (len > INT32_MAX)
		return errmsg_set(e, -EINVAL, "document too large");
	if (check_strict(s, len, &off) < 0)
		return lexical_error(e, s, len, off);
	/* json-c counts the depth it is at, not the levels it holds: +1. */
	tok = json_tokener_new_ex(depth + 1);
	if (!tok)
		xalloc_die("json_tokener_new_ex");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, s, (int)len);
	jerr = json_tokener_get_error(tok);
	off = json_tokener_get_parse_end(tok); /* all of s (len) when it asks for more */
	if (jerr == json_tokener_continue) {
		/* A number or literal at the very end needs to see the end: feed it. */
		o = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	}
	if (jerr == json_tokener_continue) /* the input ended inside a value */
		r = error_at(e, s, len, "unexpected end of input");
	else if (jerr == json_tokener_error_depth)
		r = error_at(e, s, too_deep_at(s, off < len ? off : len, depth),
		             json_tokener_error_desc(jerr));
	else if (jerr != json_tokener_success)
		r = error_at(e, s, off < len ? off : len, json_tokener_error_desc(jerr));
	else if ((off = trailing_at(s, len, off)) < len)
		r = error_at(e, s, off, "trailing data after JSON value");
	json_tokener_free(tok);
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	*ret = o;
	return 0;
}

int jsonx_parse(const char *s, size_t len, int max_depth, json_object **ret, struct errmsg *e)
{
	if (jsonx_parse_fast(s, len, max_depth, ret) == 0)
		return 0;
	return jsonx_parse_json_c(s, len, max_depth, ret, e);
}

/* ---- writing JSON straight into a buffer ----
 *
 * json-c serialises through a printbuf of each object's own, appending an
 * escaped string in pieces of a few bytes; for a template that was most of
 * a warm body's cost. This writes into the caller's buffer instead, looking
 * at a string 8 bytes at a time, and gives what jsonx_dump() gives byte for
 * byte (check_jsonx compares the two on random trees): json-c's escapes
 * (\b \t \n \f \r \" \\, \u00xx in lower case for the other control
 * characters, '/' and everything from 0x7f up as they are), object keys up to
 * their first NUL as json-c writes them, integers in decimal. A double is
 * left to json-c's own serialiser: one parsed from text is written back as
 * that text. */

/* The letter after the backslash for a byte json-c escapes, 'u' for \u00xx,
 * 0 for a byte written as it is. */
static const char escape_letter[256] = {
	['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f',  ['\r'] = 'r', [0x00] = 'u',
	[0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',  [0x05] = 'u', [0x06] = 'u',
	[0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u', [0x0f] = 'u',  [0x10] = 'u', [0x11] = 'u',
	[0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u',  [0x16] = 'u', [0x17] = 'u',
	[0x18] = 'u', [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u',  [0x1c] = 'u', [0x1d] = 'u',
	[0x1e] = 'u', [0x1f] = 'u', ['"'] = '"',  ['\\'] = '\\',
};

/* Whether none of the 8 bytes in v needs escaping: no byte below 0x20, no
 * '"', no '\\' (each test is exact: a set high bit marks such a byte). */
static bool plain8(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
	uint64_t ctl = (v - ones * 0x20) & ~v, quote = (q - ones) & ~q, bslash = (b - ones) & ~b;

	return ((ctl | quote | bslash) & high) == 0;
}

static void put_char(struct buf *out, char c)
{
	*buf_space(out, 1) = c;
	buf_wrote(out, 1);
}

/* s[0..len) as a JSON string, then tail unless it is 0 (':' after a key). */
static void put_escaped(struct buf *out, const char *s, size_t len, char tail)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
	/* Room for the string as it is, its quotes and the tail; an escape
	 * makes room for itself and what is left. */
	char *d0 = buf_space(out, len + 3), *d = d0;
	uint64_t v;

	*d++ = '"';
	for (;;) {
		while (end - p >= 8 && (memcpy(&v, p, 8), plain8(v)))
			p += 8;
		while (p < end && !escape_letter[*p])
			p++;
		if (p == end)
			break;
		memcpy(d, run, (size_t)(p - run));
		d += p - run;
		buf_wrote(out, (size_t)(d - d0));
		d = d0 = buf_space(out, (size_t)(end - p) + 8);
		*d++ = '\\';
		*d++ = escape_letter[*p];
		if (d[-1] == 'u') {
			*d++ = '0';
			*d++ = '0';
			*d++ = hex[*p >> 4];
			*d++ = hex[*p & 15];
		}
		run = ++p;
	}
	memcpy(d, run, (size_t)(end - run));
	d += end - run;
	*d++ = '"';
	if (tail)
		*d++ = tail;
	buf_wrote(out, (size_t)(d - d0));
}

/* The decimal digits of u ending at end (two at a time); returns the first. */
static char *digits_before(char *end, uint64_t u)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
	                            "25262728293031323334353637383940414243444546474849"
	                            "50515253545556575859606162636465666768697071727374"
	                            "75767778798081828384858687888990919293949596979899";
	char *p = end;

	while (u >= 100) {
		unsigned k = (unsigned)(u % 100) * 2;
		u /= 100;
		*--p = pairs[k + 1];
		*--p = pairs[k];
	}
	if (u >= 10) {
		*--p = pairs[u * 2 + 1];
		*--p = pairs[u * 2];
	} else {
		*--p = (char)('0' + u);
	}
	return p;
}

static void put_uint(struct buf *out, bool negative, uint64_t u)
{
	char tmp[24], *p = digits_before(tmp + sizeof(tmp), u);

	if (negative)
		*--p = '-';
	buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

static void put_value(struct buf *out, json_object *o)
{
	bool first = true;
	size_t len;
	const char *s;
	int64_t i;

	switch (json_object_get_type(o)) {
	case json_type_null:
		buf_append(out, "null", 4);
		return;
	case json_type_boolean:
		if (json_object_get_boolean(o))
			buf_append(out, "true", 4);
		else
			buf_append(out, "false", 5);
		return;
	case json_type_int:
		/* json-c holds an int64 or a uint64; only the latter reads as
		 * INT64_MAX and more. */
		i = json_object_get_int64(o);
		if (i == INT64_MAX)
			put_uint(out, false, json_object_get_uint64(o));
		else if (i < 0)
			put_uint(out, true, (uint64_t)0 - (uint64_t)i);
		else
			put_uint(out, false, (uint64_t)i);
		return;
	case json_type_string:
		put_escaped(out, json_object_get_string(o), (size_t)json_object_get_string_len(o),
		            0);
		return;
	case json_type_object:
		put_char(out, '{');
		json_object_object_foreach(o, k, v) {
			if (!first)
				put_char(out, ',');
			first = false;
			put_escaped(out, k, strlen(k), ':');
			put_value(out, v);
		}
		put_char(out, '}');
		return;
	case json_type_array:
		put_char(out, '[');
		len = json_object_array_length(o);
		for (size_t n = 0; n < len; n++) {
			if (n)
				put_char(out, ',');
			put_value(out, json_object_array_get_idx(o, n));
		}
		put_char(out, ']');
		return;
	case json_type_double:
		s = jsonx_dump(o, &len);
		buf_append(out, s, len);
		return;
	}
}

int jsonx_append(struct buf *out, json_object *o)
{
	put_value(out, o);
	return 0;
}

const char *jsonx_dump(json_object *o, size_t *ret_len)
{
	return json_object_to_json_string_length(
	        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, ret_len);
}

/* json-c saturates out-of-range integers to INT64_MIN / UINT64_MAX, so those
 * two exact values are indistinguishable and refused. */
static bool clamped(json_object *o)
{
	return json_object_get_int64(o) == INT64_MIN || json_object_get_uint64(o) == UINT64_MAX;
}

/* Whether o holds a clamped integer anywhere: the walk without the path,
 * which costs a snprintf per node and is only needed to name one. */
static bool has_clamped(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_int:
		return clamped(o);
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			if (has_clamped(v))
				return true;
		}
		return false;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (has_clamped(json_object_array_get_idx(o, i)))
				return true;
		return false;
	default:
		return false;
	}
}

static int check_ranges(json_object *o, char *path, size_t cap, size_t plen, struct errmsg *e)
{
	int r;

	switch (json_object_get_type(o)) {
	case json_type_int:
		if (clamped(o))
			return errmsg_set(
			        e, -ERANGE,
			        "%s: integer does not fit in 64 bits (write it as a string "
			        "or a float)",
			        plen ? path : "$");
		return 0;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
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

	if (!has_clamped(o))
		return 0;
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

/* The jsonx_add_* helpers build fresh objects with literal keys: telling
 * json-c so skips a lookup and a strdup per field (status for 10,000 targets
 * adds 200,000 of them). */
static void add(json_object *o, const char *key, json_object *v)
{
	json_object_object_add_ex(o, key, v,
	                          JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT);
}

void jsonx_add_str(json_object *o, const char *key, const char *v)
{
	add(o, key, v ? json_object_new_string(v) : NULL);
}

static const char *double_text(double v, char *tmp);

/* The text of a time: milliseconds, printed as written (no binary noise),
 * in tmp[40]; NULL for null (not after 1970, or not finite). Integer
 * formatting: %f costs more than the rest of a status line. */
static const char *time_text(double unix_s, char *tmp)
{
	long long ms;
	char *p = tmp + 40;

	if (!(unix_s > 0))
		return NULL;
	/* Milliseconds past what a long long holds (year 285 million, only
	 * from a corrupt source): the double as it is, or null for infinity. */
	if (!(unix_s < 9e15))
		return double_text(unix_s, tmp);
	ms = llround(unix_s * 1000);
	*--p = '\0';
	for (int i = 0; i < 3; i++, ms /= 10)
		*--p = (char)('0' + ms % 10);
	*--p = '.';
	return digits_before(p, (uint64_t)ms);
}

void jsonx_add_time(json_object *o, const char *key, double unix_s)
{
	char tmp[40];
	const char *text = time_text(unix_s, tmp);

	add(o, key, text ? json_object_new_double_s(unix_s, text) : NULL);
}

void jsonx_add_int(json_object *o, const char *key, int64_t v)
{
	add(o, key, json_object_new_int64(v));
}

/* The shortest of %.15g / %.17g that reads back as the same double, in
 * tmp[40]; NULL for NaN and infinities. */
static const char *double_text(double v, char *tmp)
{
	if (!isfinite(v))
		return NULL;
	/* A whole number below 1e15 is its digits (what %.15g prints), without
	 * the formatting and reading back. (The range first: converting a
	 * double beyond long long's range is undefined.) */
	if (fabs(v) < 1e15 && !signbit(v) && v == (double)(long long)v) {
		char *p = tmp + 40;
		long long n = (long long)v;
		*--p = '\0';
		*--p = '0';
		*--p = '.';
		do {
			*--p = (char)('0' + n % 10);
			n /= 10;
		} while (n > 0);
		return p;
	}
	snprintf(tmp, 40, "%.15g", v);
	if (strtod(tmp, NULL) != v)
		snprintf(tmp, 40, "%.17g", v);
	if (!strpbrk(tmp, ".eEn"))
		strcat(tmp, ".0");
	return tmp;
}

json_object *jsonx_new_double(double v)
{
	char tmp[40];
	const char *text = double_text(v, tmp);

	return text ? json_object_new_double_s(v, text) : NULL;
}

void jsonx_add_double(json_object *o, const char *key, double v)
{
	add(o, key, jsonx_new_double(v));
}

void jsonx_add_bool(json_object *o, const char *key, bool v)
{
	add(o, key, json_object_new_boolean(v));
}

/* An amount in dollars, rounded half away from zero to whole micro-dollars
 * and printed from the integer: no binary noise in money. Divide first: any
 * int64_t works. The text goes in tmp[48]; *ret_value is the double. */
static const char *usd_text(int64_t pico, char *tmp, double *ret_value)
{
	int64_t micro = pico / 1000000, rest = pico % 1000000;
	uint64_t a;

	if (rest >= 500000)
		micro++;
	else if (rest <= -500000)
		micro--;
	a = micro < 0 ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;
	snprintf(tmp, 48, "%s%llu.%06llu", micro < 0 ? "-" : "", (unsigned long long)(a / 1000000),
	         (unsigned long long)(a % 1000000));
	*ret_value = (double)micro / 1e6;
	return tmp;
}

void jsonx_add_usd(json_object *o, const char *key, int64_t pico)
{
	char tmp[48];
	double v;
	const char *text = usd_text(pico, tmp, &v);

	add(o, key, json_object_new_double_s(v, text));
}

/* ---- objects written member by member ---- */

void jsonx_obj_open(struct jsonx_obj *w, struct buf *out)
{
	w->out = out;
	w->any = false;
	put_char(out, '{');
}

void jsonx_obj_close(struct jsonx_obj *w)
{
	put_char(w->out, '}');
}

/* Keys are names in warmd's own code that need no escaping (jsonx.h). */
static void put_key(struct jsonx_obj *w, const char *key)
{
	size_t n = strlen(key);
	char *d0 = buf_space(w->out, n + 4), *d = d0;

	if (w->any)
		*d++ = ',';
	w->any = true;
	*d++ = '"';
	memcpy(d, key, n);
	d += n;
	*d++ = '"';
	*d++ = ':';
	buf_wrote(w->out, (size_t)(d - d0));
}

static void put_text(struct buf *out, const char *text)
{
	if (text)
		buf_append(out, text, strlen(text));
	else
		buf_append(out, "null", 4);
}

void jsonx_put_str(struct jsonx_obj *w, const char *key, const char *v)
{
	put_key(w, key);
	if (v)
		put_escaped(w->out, v, strlen(v), 0);
	else
		buf_append(w->out, "null", 4);
}

void jsonx_put_str_list(struct jsonx_obj *w, const char *key, const char *csv)
{
	put_key(w, key);
	buf_append(w->out, "[", 1);
	for (const char *p = csv; *p;) {
		size_t n = strcspn(p, ",");
		if (p != csv)
			buf_append(w->out, ",", 1);
		put_escaped(w->out, p, n, 0);
		p += n + (p[n] == ',');
	}
	buf_append(w->out, "]", 1);
}

void jsonx_put_time(struct jsonx_obj *w, const char *key, double unix_s)
{
	char tmp[40];

	put_key(w, key);
	put_text(w->out, time_text(unix_s, tmp));
}

void jsonx_put_int(struct jsonx_obj *w, const char *key, int64_t v)
{
	put_key(w, key);
	put_uint(w->out, v < 0, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

void jsonx_put_double(struct jsonx_obj *w, const char *key, double v)
{
	char tmp[40];

	put_key(w, key);
	put_text(w->out, double_text(v, tmp));
}

void jsonx_put_bool(struct jsonx_obj *w, const char *key, bool v)
{
	put_key(w, key);
	put_text(w->out, v ? "true" : "false");
}

void jsonx_put_usd(struct jsonx_obj *w, const char *key, int64_t pico)
{
	char tmp[48];
	double v;

	put_key(w, key);
	put_text(w->out, usd_text(pico, tmp, &v));
}
