/* audit_dynamic: the dynamic-content check: timestamps, dates, UUIDs,
 * request or session ids and counters in the text of the cached prefix.
 *
 * Only text the application writes is scanned (system and instruction
 * text, message text, tool descriptions): tool results, tool-call
 * arguments, images and documents are replayed history or data, and a
 * timestamp in them is not a sign of a prompt that changes per request. */
#include "audit.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_internal.h"
#include "jsonx.h"
#include "xalloc.h"

#define DYN_HITS     8  /* dynamic-content fields remembered per target */
#define MATCH_SHOW   40 /* bytes of a match quoted in a description */
#define PATH_MAX_LEN 160
#define DESC_DEPTH   32 /* how deep tool schemas are searched for descriptions */
/* Text of one prefix searched for dynamic content: the regexes cost ~0.1 s
 * per MB (the audit runs on a worker thread, but its answer should not take
 * minutes), and what breaks a cache sits near the start of the prefix, not
 * 4 MB into it. */
#define SCAN_MAX_BYTES (4u << 20)

static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

/* The patterns are matched byte-wise (warmd never calls setlocale, so the C
 * locale applies): every one of them is ASCII. Post-filters say what POSIX
 * ERE cannot (no lookaround, no word boundaries). */
#define F_DIGIT      1u  /* the match contains a digit (ids, not words) */
#define F_MIXED      2u  /* a digit and a letter (hex ids, not numbers or words) */
#define F_B64        4u  /* a digit, an upper- and a lower-case letter */
#define F_EDGE_DIGIT 8u  /* not inside a longer number */
#define F_EDGE_ALNUM 16u /* not inside a longer word */
#define F_CASE       32u /* compiled case-sensitive */

#define MONTHS                                                                                     \
	"(january|february|march|april|may|june|july|august|september|october|november|"           \
	"december)"
#define WEEKDAYS "(monday|tuesday|wednesday|thursday|friday|saturday|sunday)"

static const struct dyn_pattern {
	const char *kind;
	const char *re;
	unsigned flags;
} dyn_patterns[] = {
	{ "ISO 8601 timestamp",
	  "[0-9]{4}-[01][0-9]-[0-3][0-9][t ][0-2][0-9]:[0-5][0-9](:[0-5][0-9](\\.[0-9]+)?)?"
	  "(z|[+-][0-2][0-9]:?[0-5][0-9])?",
	  F_EDGE_DIGIT },
	{ "RFC 2822 date",
	  "(mon|tue|wed|thu|fri|sat|sun), [0-3]?[0-9] "
	  "(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) [0-9]{4}"
	  "( [0-2][0-9]:[0-5][0-9](:[0-5][0-9])?( [+-][0-9]{4}| gmt| utc)?)?",
	  0 },
	{ "date", WEEKDAYS ",? +" MONTHS " +[0-3]?[0-9](st|nd|rd|th)?,? +[0-9]{4}", 0 },
	{ "date", MONTHS " +[0-3]?[0-9](st|nd|rd|th)?,? +[0-9]{4}", F_EDGE_DIGIT },
	{ "date", "[0-3]?[0-9](st|nd|rd|th)? +(of +)?" MONTHS ",? +[0-9]{4}", F_EDGE_DIGIT },
	{ "ISO 8601 date", "[0-9]{4}-[01][0-9]-[0-3][0-9]", F_EDGE_DIGIT },
	{ "date", "[0-3]?[0-9]/[0-3]?[0-9]/[0-9]{4}", F_EDGE_DIGIT },
	{ "time of day", "[0-2]?[0-9]:[0-5][0-9]:[0-5][0-9]", F_EDGE_DIGIT },
	/* A bare HH:MM is too often a static opening hour: only with context. */
	{ "time of day",
	  "(time|now|clock|as of|updated|generated|timestamp)[^0-9a-z]{1,12}[0-2]?[0-9]:[0-5][0-9]",
	  F_EDGE_DIGIT },
	{ "Unix timestamp", "1[5-9][0-9]{8}([0-9]{3})?", F_EDGE_DIGIT },
	{ "UUID", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", F_EDGE_ALNUM },
	{ "request or session id",
	  "(req|request|sess|session|conv|conversation|trace|thread|run|msg|chatcmpl|resp|user|"
	  "usr|cus|evt|txn|order)[_-][a-z0-9]{8,}",
	  F_DIGIT | F_EDGE_ALNUM },
	{ "request or session id",
	  "(request|session|conversation|trace|correlation|user|client|device|account)[ _-]?id"
	  "[\"']?[ ]*[:=#][ ]*[\"']?[a-z0-9][a-z0-9_-]{5,}",
	  F_DIGIT },
	{ "counter",
	  "(request|turn|message|iteration|conversation|session|call|query|ticket|run)[ ]*"
	  "(#|no\\.|number|count)[ ]*:?[ ]*[0-9]+",
	  F_EDGE_DIGIT },
	{ "counter", "(request|turn|iteration)[ ]*:?[ ]*[0-9]{2,}", F_EDGE_DIGIT },
	{ "hex token", "[0-9a-f]{24,}", F_MIXED | F_EDGE_ALNUM },
	{ "base64 token", "[A-Za-z0-9+/_-]{32,}={0,2}", F_B64 | F_CASE },
};

#define NPATTERNS (sizeof(dyn_patterns) / sizeof(dyn_patterns[0]))

/* The compiled dyn_patterns, one set per audit run. */
struct audit_rx {
	regex_t rx[NPATTERNS];
};

/* regcomp's memory is warmd's request (fatal when it runs out, as xalloc.h
 * says); the patterns are constants, so one that does not compile is a
 * bug, which check_audit would hit first. */
struct audit_rx *audit_rx_new(void)
{
	struct audit_rx *x = xcalloc(1, sizeof(*x));

	for (size_t i = 0; i < NPATTERNS; i++) {
		int cf = REG_EXTENDED | (dyn_patterns[i].flags & F_CASE ? 0 : REG_ICASE);
		int r = regcomp(&x->rx[i], dyn_patterns[i].re, cf);
		if (r == REG_ESPACE)
			xalloc_die("regcomp");
		if (r != 0)
			abort();
	}
	return x;
}

void audit_rx_free(struct audit_rx *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < NPATTERNS; i++)
		regfree(&x->rx[i]);
	free(x);
}

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Does s[so..eo), a match of a pattern with flags, pass its post-filter? */
static bool accept(const char *s, size_t so, size_t eo, size_t len, unsigned flags)
{
	bool digit = false, upper = false, lower = false;
	char before = so ? s[so - 1] : ' ', after = eo < len ? s[eo] : ' ';

	for (size_t i = so; i < eo; i++) {
		digit |= is_digit(s[i]);
		upper |= s[i] >= 'A' && s[i] <= 'Z';
		lower |= s[i] >= 'a' && s[i] <= 'z';
	}
	if ((flags & (F_DIGIT | F_MIXED | F_B64)) && !digit)
		return false;
	if ((flags & F_MIXED) && !upper && !lower)
		return false;
	if ((flags & F_B64) && !(upper && lower))
		return false;
	if ((flags & F_EDGE_DIGIT) && (is_digit(before) || is_digit(after)))
		return false;
	if ((flags & F_EDGE_ALNUM) && (is_alnum(before) || is_alnum(after)))
		return false;
	return true;
}

/* The first accepted match of pattern i in s, as byte offsets; false if none. */
static bool rx_first(const regex_t *rx, size_t i, const char *s, size_t len, size_t *so, size_t *eo)
{
	size_t pos = 0;
	regmatch_t m;

	while (pos < len && regexec(rx, s + pos, 1, &m, pos ? REG_NOTBOL : 0) == 0) {
		size_t a = pos + (size_t)m.rm_so, b = pos + (size_t)m.rm_eo;
		if (accept(s, a, b, len, dyn_patterns[i].flags)) {
			*so = a;
			*eo = b;
			return true;
		}
		pos = b > a ? b : a + 1;
	}
	return false;
}

struct dyn_hit {
	const char *kind;
	char match[MATCH_SHOW + 4];
	char path[PATH_MAX_LEN];
	size_t off;        /* characters into the field's text */
	size_t prefix_off; /* characters into the cached prefix's text */
	bool critical;
};

struct dyn_scan {
	const regex_t *rx;
	size_t scanned;      /* bytes searched so far, up to SCAN_MAX_BYTES */
	size_t prefix_chars; /* text seen so far in the prefix */
	size_t prompt_chars; /* the same without tool definitions */
	struct dyn_hit hit[DYN_HITS];
	unsigned nhits, total;
};

static void quote_match(char *out, const char *s, size_t so, size_t eo)
{
	size_t n = eo - so > MATCH_SHOW ? MATCH_SHOW : eo - so;

	while (n > 0 && n < eo - so && ((unsigned char)s[so + n] & 0xC0) == 0x80)
		n--; /* never cut a UTF-8 character */
	memcpy(out, s + so, n);
	strcpy(out + n, n < eo - so ? "..." : "");
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* Scans one text of the prefix: records its earliest dynamic value. */
static void scan_text(struct dyn_scan *d, const char *s, const char *path, bool tool)
{
	size_t len = strlen(s), best_so = len, best_eo = 0, best = NPATTERNS;
	bool search = d->scanned < SCAN_MAX_BYTES;

	d->scanned += len;
	for (size_t i = 0; search && i < NPATTERNS; i++) {
		size_t so, eo;
		if (rx_first(&d->rx[i], i, s, len, &so, &eo) && so < best_so) {
			best_so = so;
			best_eo = eo;
			best = i;
		}
	}
	if (best < NPATTERNS) {
		size_t off = utf8_chars(s, best_so);
		d->total++;
		if (d->nhits < DYN_HITS) {
			struct dyn_hit *h = &d->hit[d->nhits++];
			h->kind = dyn_patterns[best].kind;
			quote_match(h->match, s, best_so, best_eo);
			text_copy(h->path, sizeof(h->path), path);
			h->off = off;
			h->prefix_off = d->prefix_chars + off;
			h->critical = h->prefix_off < AUDIT_CRITICAL_CHARS ||
			              (!tool && d->prompt_chars + off < AUDIT_CRITICAL_CHARS);
		}
	}
	len = utf8_chars(s, len);
	d->prefix_chars += len;
	if (!tool)
		d->prompt_chars += len;
}

/* Tool definitions: every "description", however deep in the schema. */
static void scan_tool(struct dyn_scan *d, json_object *o, const char *path, int depth)
{
	char sub[PATH_MAX_LEN];

	if (depth > DESC_DEPTH)
		return;
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			scan_tool(d, json_object_array_get_idx(o, i), sub, depth + 1);
		}
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, key, v) {
		snprintf(sub, sizeof(sub), "%s.%s", path, key);
		if (strcmp(key, "description") == 0 && json_object_is_type(v, json_type_string))
			scan_text(d, json_object_get_string(v), sub, true);
		else
			scan_tool(d, v, sub, depth + 1);
	}
}

static bool is_text_part(json_object *part)
{
	const char *type = jsonx_get_str(part, "type");

	return type && (strcmp(type, "text") == 0 || strcmp(type, "input_text") == 0 ||
	                strcmp(type, "output_text") == 0);
}

/* A message's (or responses item's) own text; tool messages and non-message
 * items are replayed data. */
static void scan_message(struct dyn_scan *d, json_object *m, const char *path)
{
	const char *role = jsonx_get_str(m, "role"), *type = jsonx_get_str(m, "type");
	json_object *content = jsonx_get(m, "content");
	char sub[PATH_MAX_LEN];

	if (!role || strcmp(role, "tool") == 0 || strcmp(role, "function") == 0 ||
	    (type && strcmp(type, "message") != 0))
		return;
	if (json_object_is_type(content, json_type_string)) {
		snprintf(sub, sizeof(sub), "%s.content", path);
		scan_text(d, json_object_get_string(content), sub, false);
		return;
	}
	for (size_t j = 0;
	     json_object_is_type(content, json_type_array) && j < json_object_array_length(content);
	     j++) {
		json_object *part = json_object_array_get_idx(content, j);
		if (!is_text_part(part) ||
		    !json_object_is_type(jsonx_get(part, "text"), json_type_string))
			continue;
		snprintf(sub, sizeof(sub), "%s.content[%zu].text", path, j);
		scan_text(d, jsonx_get_str(part, "text"), sub, false);
	}
}

static void scan_elem(struct dyn_scan *d, const struct elem *e)
{
	char sub[PATH_MAX_LEN];

	switch (e->kind) {
	case EK_TOOL:
		scan_tool(d, e->v, e->path, 0);
		break;
	case EK_STRING:
		scan_text(d, json_object_get_string(e->v), e->path, false);
		break;
	case EK_BLOCK:
		if (is_text_part(e->v) &&
		    json_object_is_type(jsonx_get(e->v, "text"), json_type_string)) {
			snprintf(sub, sizeof(sub), "%s.text", e->path);
			scan_text(d, jsonx_get_str(e->v, "text"), sub, false);
		}
		break;
	case EK_MESSAGE:
		scan_message(d, e->v, e->path);
		break;
	}
}

/* How often a value of this kind changes, for the description. */
static const char *dyn_why(const char *kind)
{
	if (strstr(kind, "date"))
		return "a date changes every day";
	if (strstr(kind, "id") || strstr(kind, "token") || strstr(kind, "UUID"))
		return "an identifier like this usually differs per request or session";
	if (strstr(kind, "counter"))
		return "a counter differs on every request";
	return "a clock value differs on every request";
}

void audit_check_dynamic(struct audit *a, const struct audit_target *t, const struct shape *s)
{
	struct dyn_scan d = { .rx = a->rx->rx };
	const struct dyn_hit *h;
	struct buf more = BUF_INIT;

	for (size_t i = 0; i < s->nprefix; i++)
		scan_elem(&d, &s->e[i]);
	if (!d.nhits)
		return;
	h = &d.hit[0];
	for (unsigned i = 1; i < d.nhits; i++)
		buf_printf(&more, "%s %s (%s, \"%s\")", i == 1 ? " Also:" : ",", d.hit[i].path,
		           d.hit[i].kind, d.hit[i].match);
	if (d.total > d.nhits)
		buf_printf(&more, " and %u more", d.total - d.nhits);
	audit_add(a, t, NULL, h->critical ? AUDIT_CRITICAL : AUDIT_HIGH, C_DYNAMIC, "prompt design",
	          "hours",
	          audit_fmt(a, "%s in the cached prefix%s", h->kind,
	                    h->critical ? " (near its start)" : ""),
	          audit_fmt(a,
	                    "%s \"%s\" at %s, character %zu of that text (character %zu of the "
	                    "cached prefix's text): %s, and each time it changes everything after "
	                    "it is written to the cache again instead of read.%s",
	                    h->kind, h->match, h->path, h->off, h->prefix_off, dyn_why(h->kind),
	                    more.data ? more.data : ""),
	          audit_fmt(a,
	                    "Move the %s out of the cached prefix: put it in the last user "
	                    "message, after the breakpoint (or round it to what really changes, "
	                    "e.g. the day, and place it after the static instructions). If it "
	                    "never changes between requests, it is harmless.",
	                    h->kind));
	buf_free(&more);
}
