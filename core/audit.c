/* audit: findings, score and readiness from plain data (no I/O, no state).
 *
 * How a template is read: the audit walks the cached prefix in the order the
 * provider serialises it. Anthropic: tools, system, then message content
 * blocks, up to the last block carrying cache_control (all of it with a
 * top-level cache_control: automatic caching). OpenAI: messages (chat) or
 * instructions and input items (responses), then tools; there is no explicit
 * breakpoint, so the prefix is everything but a final user turn, the part
 * that varies per request. Only text the application writes is scanned for
 * dynamic content (system and instruction text, message text, tool
 * descriptions): tool results, tool-call arguments, images and documents are
 * replayed history or data, and a timestamp in them is not a sign of a
 * prompt that changes per request. */
#include "audit.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "jsonx.h"
#include "pricing.h"

#define DYN_HITS     8  /* dynamic-content fields remembered per target */
#define MATCH_SHOW   40 /* bytes of a match quoted in a description */
#define PATH_MAX_LEN 160
#define DESC_DEPTH   32  /* how deep tool schemas are searched for descriptions */
#define RPM_WINDOW_S 900 /* key-rate looks at the last 15 minutes of touches */
#define WRITE_SHARE  4   /* warm-writes: more than 1 in WRITE_SHARE warms wrote */
/* Text of one prefix searched for dynamic content: the regexes cost ~0.1 s
 * per MB (the audit runs on a worker thread, but its answer should not take
 * minutes), and what breaks a cache sits near the start of the prefix, not
 * 4 MB into it. */
#define SCAN_MAX_BYTES (4u << 20)

/* ---- small helpers ------------------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

/* A finalizer, so that summing per-name hashes (order-free) stays well mixed. */
static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

/* "$0.109500": pico-USD to the micro-dollar, without floating point. */
static void usd_text(int64_t pico, char *out, size_t n)
{
	int64_t micro = (pico + 500000) / 1000000;

	snprintf(out, n, "$%lld.%06lld", (long long)(micro / 1000000),
	         (long long)(micro % 1000000));
}

static const char *dur(double s, char *out, size_t n)
{
	return duration_format(s, out, n);
}

/* ---- findings ----------------------------------------------------------------------- */

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

static const char *const check_names[] = {
	"dynamic-content", "below-minimum", "unsorted-tools", "tool-order",     "image-detail",
	"fields-changed",  "cache-keys",    "key-rate",       "uncovered-gaps", "ttl-choice",
	"no-touches",      "inline-key",    "unwarmable",     "warm-writes",
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

struct audit {
	struct finding *v;
	size_t n, cap;
	bool oom;
	bool static_only;
	const regex_t *rx; /* compiled dyn_patterns */
	uint32_t mask;     /* checks that fired for the target being checked */
};

static char *fmt(struct audit *a, const char *f, ...) __attribute__((format(printf, 2, 3)));

static char *fmt(struct audit *a, const char *f, ...)
{
	va_list ap;
	char *s = NULL;
	int r;

	va_start(ap, f);
	r = vasprintf(&s, f, ap);
	va_end(ap);
	if (r < 0) {
		a->oom = true;
		return NULL;
	}
	return s;
}

/* Adds a finding; takes ownership of title, desc and rec (any may be NULL
 * after an allocation failure, which a->oom records). */
static struct finding *add(struct audit *a, const struct audit_target *t, const char *provider,
                           enum audit_severity sev, enum check check, const char *category,
                           const char *effort, char *title, char *desc, char *rec)
{
	struct finding *x;

	if (!title || !desc || !rec || a->oom)
		goto fail;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct finding *v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			goto fail;
		a->v = v;
		a->cap = cap;
	}
	x = &a->v[a->n];
	*x = (struct finding){ .f = { .severity = sev,
		                      .target = t ? t->name : NULL,
		                      .provider = t ? t->provider : provider,
		                      .check = check_names[check],
		                      .category = category,
		                      .title = title,
		                      .description = desc,
		                      .recommendation = rec,
		                      .effort = effort },
		               .title = title,
		               .desc = desc,
		               .rec = rec,
		               .check_id = check,
		               .seq = a->n };
	a->n++;
	if (t)
		a->mask |= BIT(check);
	return x;
fail:
	a->oom = true;
	free(title);
	free(desc);
	free(rec);
	return NULL;
}

static void audit_free(struct audit *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].title);
		free(a->v[i].desc);
		free(a->v[i].rec);
	}
	free(a->v);
}

/* ---- the template's cached prefix --------------------------------------------------- */

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

#define NO_INDEX ((size_t)-1)

/* Appends element v; its path is base, or base[idx]. */
static int push(struct shape *s, json_object *v, enum elem_kind k, const char *field,
                const char *base, size_t idx)
{
	struct elem *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		e = realloc(s->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		s->e = e;
		s->cap = cap;
	}
	e = &s->e[s->n++];
	*e = (struct elem){ .v = v, .kind = k, .field = field };
	if (idx == NO_INDEX)
		snprintf(e->path, sizeof(e->path), "%s", base);
	else
		snprintf(e->path, sizeof(e->path), "%s[%zu]", base, idx);
	return 0;
}

/* A marker on the block, or on a block of a tool_result's content. */
static bool block_marked(json_object *b)
{
	json_object *inner = jsonx_get(b, "content");

	if (jsonx_get(b, "cache_control"))
		return true;
	for (size_t i = 0;
	     json_object_is_type(inner, json_type_array) && i < json_object_array_length(inner);
	     i++)
		if (jsonx_get(json_object_array_get_idx(inner, i), "cache_control"))
			return true;
	return false;
}

/* Pushes the blocks of an array (or one string) named base, and moves *bp
 * past each marked one. */
static int push_blocks(struct shape *s, json_object *v, const char *field, const char *base,
                       size_t *bp)
{
	int r = 0;

	if (json_object_is_type(v, json_type_string))
		return push(s, v, EK_STRING, field, base, NO_INDEX);
	if (!json_object_is_type(v, json_type_array))
		return 0;
	for (size_t j = 0; r == 0 && j < json_object_array_length(v); j++) {
		json_object *b = json_object_array_get_idx(v, j);
		r = push(s, b, EK_BLOCK, field, base, j);
		if (r == 0 && block_marked(b))
			*bp = s->n;
	}
	return r;
}

static int shape_anthropic(struct shape *s)
{
	json_object *tools = jsonx_get(s->doc, "tools"), *msgs = jsonx_get(s->doc, "messages");
	char base[48];
	size_t bp = 0;
	int r = 0;

	for (size_t i = 0; json_object_is_type(tools, json_type_array) && r == 0 &&
	                   i < json_object_array_length(tools);
	     i++) {
		json_object *tool = json_object_array_get_idx(tools, i);
		r = push(s, tool, EK_TOOL, "tools", "tools", i);
		if (jsonx_get(tool, "cache_control"))
			bp = s->n;
	}
	if (r == 0)
		r = push_blocks(s, jsonx_get(s->doc, "system"), "system", "system", &bp);
	for (size_t i = 0; json_object_is_type(msgs, json_type_array) && r == 0 &&
	                   i < json_object_array_length(msgs);
	     i++) {
		snprintf(base, sizeof(base), "messages[%zu].content", i);
		r = push_blocks(s, jsonx_get(json_object_array_get_idx(msgs, i), "content"),
		                "messages", base, &bp);
	}
	/* Automatic caching marks the last block; without any marker nothing is
	 * cached at all (template loading reports that), so audit everything. */
	s->nprefix = jsonx_get(s->doc, "cache_control") || bp == 0 ? s->n : bp;
	return r;
}

static bool is_user_turn(json_object *m)
{
	const char *role = jsonx_get_str(m, "role"), *type = jsonx_get_str(m, "type");

	return role && strcmp(role, "user") == 0 && (!type || strcmp(type, "message") == 0);
}

/* OpenAI: messages or instructions + input, then tools; the prefix is all of
 * it but a final user turn (the part that varies per request). */
static int shape_openai(struct shape *s)
{
	json_object *tools = jsonx_get(s->doc, "tools"), *instr = jsonx_get(s->doc, "instructions");
	json_object *items = jsonx_get(s->doc, "messages");
	const char *field = "messages";
	size_t n, end;
	int r = 0;

	if (!items) {
		items = jsonx_get(s->doc, "input");
		field = "input";
	}
	if (json_object_is_type(instr, json_type_string))
		r = push(s, instr, EK_STRING, "instructions", "instructions", NO_INDEX);
	if (r == 0 && json_object_is_type(items, json_type_string))
		r = push(s, items, EK_STRING, field, "input", NO_INDEX);
	n = json_object_is_type(items, json_type_array) ? json_object_array_length(items) : 0;
	end = n > 1 && is_user_turn(json_object_array_get_idx(items, n - 1)) ? n - 1 : n;
	for (size_t i = 0; r == 0 && i < end; i++)
		r = push(s, json_object_array_get_idx(items, i), EK_MESSAGE, field, field, i);
	for (size_t i = 0; json_object_is_type(tools, json_type_array) && r == 0 &&
	                   i < json_object_array_length(tools);
	     i++)
		r = push(s, json_object_array_get_idx(tools, i), EK_TOOL, "tools", "tools", i);
	s->nprefix = s->n;
	return r;
}

static void shape_free(struct shape *s)
{
	json_object_put(s->doc);
	free(s->e);
	memset(s, 0, sizeof(*s));
}

/* Parses body into s. -EINVAL: no body or not a JSON object; -ENOMEM. */
static int shape_parse(const char *body, size_t len, enum provider_kind kind, struct shape *s)
{
	struct errmsg e;
	int r;

	memset(s, 0, sizeof(*s));
	if (!body || !len)
		return -EINVAL;
	r = jsonx_parse(body, len, JSONX_MAX_DEPTH, &s->doc, &e);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if (!json_object_is_type(s->doc, json_type_object)) {
		shape_free(s);
		return -EINVAL;
	}
	r = kind == PROVIDER_ANTHROPIC ? shape_anthropic(s) : shape_openai(s);
	if (r < 0)
		shape_free(s);
	return r;
}

/* ---- tools -------------------------------------------------------------------------- */

/* Chat wraps the name in "function"; built-in tools may only have a type. */
static const char *tool_name(json_object *tool)
{
	const char *n = jsonx_get_str(jsonx_get(tool, "function"), "name");

	if (!n)
		n = jsonx_get_str(tool, "name");
	if (!n)
		n = jsonx_get_str(tool, "type");
	return n ? n : "";
}

static size_t tool_count(const struct shape *s)
{
	json_object *tools = jsonx_get(s->doc, "tools");

	return json_object_is_type(tools, json_type_array) ? json_object_array_length(tools) : 0;
}

static const char *tool_at(const struct shape *s, size_t i)
{
	return tool_name(json_object_array_get_idx(jsonx_get(s->doc, "tools"), i));
}

/* ---- fingerprint -------------------------------------------------------------------- */

static const char *const anthropic_fields[] = { "model",  "tool_choice", "thinking", "tools",
	                                        "system", "messages",    NULL };
static const char *const openai_fields[] = { "model",    "instructions",
	                                     "tools",    "response_format",
	                                     "text",     "prompt_cache_key",
	                                     "messages", NULL };

static bool is_elem_field(const char *f)
{
	return strcmp(f, "tools") == 0 || strcmp(f, "system") == 0 || strcmp(f, "messages") == 0 ||
	       strcmp(f, "instructions") == 0;
}

/* Hashes field f: its elements inside the prefix, or its whole value. */
static bool field_hash(const struct shape *s, const char *f, uint64_t *ret)
{
	uint64_t h = FNV_INIT;
	bool any = false;
	size_t len;
	const char *dump;

	if (!is_elem_field(f)) {
		json_object *v = jsonx_get(s->doc, f);
		if (!v)
			return false;
		dump = jsonx_dump(v, &len);
		*ret = fnv(h, dump, len);
		return true;
	}
	for (size_t i = 0; i < s->nprefix; i++) {
		const char *ef = s->e[i].field;
		/* responses input counts as "messages": the same role in the prompt */
		if (strcmp(ef, f) != 0 && !(strcmp(f, "messages") == 0 && strcmp(ef, "input") == 0))
			continue;
		h = fnv(h, s->e[i].path, strlen(s->e[i].path));
		dump = jsonx_dump(s->e[i].v, &len);
		h = fnv(h, dump, len);
		any = true;
	}
	*ret = h;
	return any;
}

static void fp_tools(const struct shape *s, struct audit_fp *fp)
{
	size_t n = tool_count(s);

	fp->ntools = n > UINT16_MAX ? UINT16_MAX : (uint16_t)n;
	fp->tools_order = FNV_INIT;
	for (size_t i = 0; i < n; i++) {
		const char *name = tool_at(s, i);
		uint64_t h = fnv(FNV_INIT, name, strlen(name));
		fp->tools_order = fnv(fp->tools_order, name, strlen(name) + 1);
		fp->tools_set += mix(h);
		if (i < AUDIT_FP_TOOLS)
			fp->tool[i] = h;
	}
}

static void fp_from_shape(const struct shape *s, enum provider_kind kind, struct audit_fp *fp)
{
	const char *const *names = kind == PROVIDER_ANTHROPIC ? anthropic_fields : openai_fields;

	memset(fp, 0, sizeof(*fp));
	fp->valid = true;
	fp_tools(s, fp);
	for (const char *const *f = names; *f && fp->nfields < AUDIT_FP_FIELDS; f++) {
		uint64_t h;
		if (!field_hash(s, *f, &h))
			continue;
		text_copy(fp->field[fp->nfields].name, AUDIT_FP_NAME, *f);
		fp->field[fp->nfields++].hash = h;
	}
}

int audit_fingerprint(const char *body, size_t len, enum provider_kind kind, struct audit_fp *ret)
{
	struct shape s;
	int r = shape_parse(body, len, kind, &s);

	memset(ret, 0, sizeof(*ret));
	if (r < 0)
		return r;
	fp_from_shape(&s, kind, ret);
	shape_free(&s);
	return 0;
}

/* ---- dynamic content ---------------------------------------------------------------- */

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

static void rx_free(regex_t *rx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		regfree(&rx[i]);
}

/* Compiles every pattern. Returns 0 or -ENOMEM (a pattern that does not
 * compile is a bug the unit tests catch: -EINVAL). */
static int rx_init(regex_t *rx)
{
	for (size_t i = 0; i < NPATTERNS; i++) {
		int cf = REG_EXTENDED | (dyn_patterns[i].flags & F_CASE ? 0 : REG_ICASE);
		int r = regcomp(&rx[i], dyn_patterns[i].re, cf);
		if (r != 0) {
			rx_free(rx, i);
			return r == REG_ESPACE ? -ENOMEM : -EINVAL;
		}
	}
	return 0;
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
	json_object_object_foreach(o, key, v)
	{
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

static void check_dynamic(struct audit *a, const struct audit_target *t, const struct shape *s)
{
	struct dyn_scan d = { .rx = a->rx };
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
	add(a, t, NULL, h->critical ? AUDIT_CRITICAL : AUDIT_HIGH, C_DYNAMIC, "prompt design",
	    "hours",
	    fmt(a, "%s in the cached prefix%s", h->kind, h->critical ? " (near its start)" : ""),
	    fmt(a,
	        "%s \"%s\" at %s, character %zu of that text (character %zu of the cached "
	        "prefix's text): %s, and each time it changes everything after it is written "
	        "to the cache again instead of read.%s",
	        h->kind, h->match, h->path, h->off, h->prefix_off, dyn_why(h->kind),
	        more.data ? more.data : ""),
	    fmt(a,
	        "Move the %s out of the cached prefix: put it in the last user message, after "
	        "the breakpoint (or round it to what really changes, e.g. the day, and place "
	        "it after the static instructions). If it never changes between requests, "
	        "it is harmless.",
	        h->kind));
	buf_free(&more);
}

/* ---- prefix length ------------------------------------------------------------------ */

static long min_cacheable(const struct audit_target *t)
{
	if (t->min_cacheable > 0)
		return t->min_cacheable;
	return t->kind == PROVIDER_OPENAI ? 1024 : 0; /* OpenAI caches from 1024 tokens */
}

static void check_minimum(struct audit *a, const struct audit_target *t)
{
	long min = min_cacheable(t);
	bool confirmed = !a->static_only && t->nones > 0 && t->hits == 0 && t->writes == 0;
	bool cached = t->hits + t->writes > 0 && t->prefix_tokens_seen > 0;
	char of[48] = "";

	if (min > 0)
		snprintf(of, sizeof(of), " of %ld tokens", min);

	if (!confirmed && (a->static_only || !cached) && min > 0 && t->prefix_tokens_est > 0 &&
	    t->prefix_tokens_est < min)
		add(a, t, NULL, AUDIT_HIGH, C_MINIMUM, "prompt design", "hours",
		    fmt(a, "Prefix below the model's minimum cacheable length (estimated)"),
		    fmt(a,
		        "The cached prefix is about %ld tokens; %s caches nothing shorter than "
		        "%ld tokens, so every request pays full input price and every warm is "
		        "wasted.",
		        t->prefix_tokens_est, t->model ? t->model : "the model", min),
		    fmt(a,
		        "Grow the shared prefix past %ld tokens (move stable context such as "
		        "tool definitions, examples or reference text ahead of the "
		        "breakpoint), or stop warming this target.",
		        min));
	if (confirmed)
		add(a, t, NULL, AUDIT_HIGH, C_MINIMUM, "prompt design", "hours",
		    fmt(a, "Prefix not cached (confirmed from usage)"),
		    fmt(a,
		        "%llu warm(s) came back with neither a cache read nor a write and none "
		        "ever cached: the prefix (about %ld tokens) is below %s's minimum%s.",
		        (unsigned long long)t->nones, t->prefix_tokens_est,
		        t->model ? t->model : "the model", of),
		    fmt(a, "Grow the shared prefix past the model's minimum, or stop warming this "
		           "target: the provider is not caching it."));
}

/* ---- prefix stability --------------------------------------------------------------- */

/* "a, b, c" of the first few tool names, in template order. */
static void tool_list(const struct shape *s, struct buf *out)
{
	size_t n = tool_count(s), show = n > 8 ? 8 : n;

	for (size_t i = 0; i < show; i++)
		buf_printf(out, "%s%s", i ? ", " : "", tool_at(s, i));
	if (n > show)
		buf_printf(out, ", ... (%zu in all)", n);
}

/* Unsorted is not wrong in itself, but a tool list that is not sorted is
 * usually assembled from a map or a plugin registry whose order can change
 * between processes and releases: sorting makes the prefix deterministic. */
static void check_sorted(struct audit *a, const struct audit_target *t, const struct shape *s)
{
	size_t n = tool_count(s), i;
	struct buf list = BUF_INIT;

	for (i = 1; i < n; i++)
		if (strcmp(tool_at(s, i - 1), tool_at(s, i)) > 0)
			break;
	if (i >= n)
		return;
	tool_list(s, &list);
	add(a, t, NULL, AUDIT_MEDIUM, C_UNSORTED, "prefix stability", "minutes",
	    fmt(a, "Tools are not in a stable (sorted) order"),
	    fmt(a,
	        "The %zu tools are in the order %s; \"%s\" comes after \"%s\". Tools are part "
	        "of the cached prefix (Anthropic puts them first): if the application builds "
	        "this list from a map, a set or a plugin registry, another order on the next "
	        "request or release re-writes the cache from there on.",
	        n, list.data ? list.data : "", tool_at(s, i), tool_at(s, i - 1)),
	    fmt(a, "Sort the tools by name (or emit them from one fixed list) wherever the "
	           "application assembles the request."));
	buf_free(&list);
}

static int fp_tool_index(const struct audit_fp *fp, uint64_t h)
{
	for (int i = 0; i < fp->ntools && i < AUDIT_FP_TOOLS; i++)
		if (fp->tool[i] == h)
			return i;
	return -1;
}

/* Same tool set as the previous version, another order. True if reported. */
static bool check_tool_order(struct audit *a, const struct audit_target *t, const struct shape *s,
                             const struct audit_fp *cur)
{
	const struct audit_fp *prev = t->prev_fp;
	size_t i, lim;
	char moved[128];
	int at;

	if (!prev || !prev->valid || prev->ntools != cur->ntools || cur->ntools < 2 ||
	    prev->tools_set != cur->tools_set || prev->tools_order == cur->tools_order)
		return false;
	lim = cur->ntools < AUDIT_FP_TOOLS ? cur->ntools : AUDIT_FP_TOOLS;
	for (i = 0; i < lim && prev->tool[i] == cur->tool[i]; i++)
		;
	if (i == lim) /* the change is past what the fingerprint names */
		snprintf(moved, sizeof(moved), "the first %zu are in place", lim);
	else if ((at = fp_tool_index(prev, cur->tool[i])) >= 0)
		snprintf(moved, sizeof(moved), "\"%.60s\" is tool %zu now, was tool %d",
		         tool_at(s, i), i + 1, at + 1);
	else
		snprintf(moved, sizeof(moved), "\"%.60s\" is tool %zu now", tool_at(s, i), i + 1);
	add(a, t, NULL, AUDIT_MEDIUM, C_TOOL_ORDER, "prefix stability", "minutes",
	    fmt(a, "Tool order changed between versions"),
	    fmt(a,
	        "The %u tools are the same as in the previous version but in another order "
	        "(%s): the new version shares no cache with the old one although the tools "
	        "did not change.",
	        cur->ntools, moved),
	    fmt(a, "Emit the tools in one deterministic order (sorted by name) in every "
	           "release."));
	return true;
}

/* The detail of an image part, "auto" when unset (the API's default), or
 * NULL when the part is not an image. */
static const char *image_detail(json_object *part)
{
	const char *type = jsonx_get_str(part, "type"), *d = NULL;

	if (!type)
		return NULL;
	if (strcmp(type, "image_url") == 0)
		d = jsonx_get_str(jsonx_get(part, "image_url"), "detail");
	else if (strcmp(type, "input_image") == 0)
		d = jsonx_get_str(part, "detail");
	else
		return NULL;
	return d ? d : "auto";
}

/* Images tokenise by detail level: a template that mixes levels is usually
 * one whose application picks the level per request. */
static void check_image_detail(struct audit *a, const struct audit_target *t, const struct shape *s)
{
	json_object *items = jsonx_get(s->doc, "messages");
	const char *first = NULL, *other = NULL;
	char first_at[64] = "", other_at[64] = "";
	size_t nimg = 0;

	if (!items)
		items = jsonx_get(s->doc, "input");
	for (size_t i = 0;
	     json_object_is_type(items, json_type_array) && i < json_object_array_length(items);
	     i++) {
		json_object *c = jsonx_get(json_object_array_get_idx(items, i), "content");
		for (size_t j = 0;
		     json_object_is_type(c, json_type_array) && j < json_object_array_length(c);
		     j++) {
			const char *d = image_detail(json_object_array_get_idx(c, j));
			if (!d)
				continue;
			nimg++;
			if (!first) {
				first = d;
				snprintf(first_at, sizeof(first_at), "[%zu].content[%zu]", i, j);
			} else if (!other && strcmp(d, first) != 0) {
				other = d;
				snprintf(other_at, sizeof(other_at), "[%zu].content[%zu]", i, j);
			}
		}
	}
	if (!other)
		return;
	add(a, t, NULL, AUDIT_MEDIUM, C_IMAGE_DETAIL, "prefix stability", "minutes",
	    fmt(a, "Inconsistent image detail levels"),
	    fmt(a,
	        "The template's %zu images do not share one detail level: \"%s\" at %s%s, "
	        "\"%s\" at %s%s. The detail level changes how an image is tokenised, so an "
	        "application that picks it per request produces a different prefix each time.",
	        nimg, first, jsonx_get(s->doc, "messages") ? "messages" : "input", first_at, other,
	        jsonx_get(s->doc, "messages") ? "messages" : "input", other_at),
	    fmt(a, "Set one explicit detail level (\"low\", \"high\" or \"auto\") on every "
	           "image."));
}

static const uint64_t *fp_field(const struct audit_fp *fp, const char *name)
{
	for (unsigned i = 0; i < fp->nfields; i++)
		if (strncmp(fp->field[i].name, name, AUDIT_FP_NAME) == 0)
			return &fp->field[i].hash;
	return NULL;
}

struct names {
	const char *v[2 * AUDIT_FP_FIELDS];
	unsigned n;
};

/* Collects the fields of a that b lacks or holds with another hash. */
static void fields_diff(const struct audit_fp *a, const struct audit_fp *b, bool skip_tools,
                        struct names *out)
{
	for (unsigned i = 0; i < a->nfields; i++) {
		const char *name = a->field[i].name;
		const uint64_t *h = fp_field(b, name);
		bool dup = false;

		if ((h && *h == a->field[i].hash) || (skip_tools && strcmp(name, "tools") == 0))
			continue;
		for (unsigned j = 0; j < out->n; j++)
			dup |= strcmp(out->v[j], name) == 0;
		if (!dup)
			out->v[out->n++] = name;
	}
}

/* A version change is expected on a deliberate prompt update; what the
 * operator needs is which fields moved, to spot the ones that should not. */
static void check_fields(struct audit *a, const struct audit_target *t, const struct audit_fp *cur,
                         bool reordered)
{
	const struct audit_fp *prev = t->prev_fp;
	struct names diff = { .n = 0 };
	struct buf list = BUF_INIT;

	if (!prev || !prev->valid)
		return;
	fields_diff(cur, prev, reordered, &diff);
	fields_diff(prev, cur, reordered, &diff);
	for (unsigned i = 0; i < diff.n; i++)
		buf_printf(&list, "%s%s", i ? ", " : "", diff.v[i]);
	if (diff.n)
		add(a, t, NULL, AUDIT_MEDIUM, C_FIELDS, "prefix stability", "hours",
		    fmt(a, "Fields ahead of the breakpoint changed since the previous version"),
		    fmt(a,
		        "Compared with the previous version, these parts of the cached prefix "
		        "differ: %s. The new version starts with an empty cache; if a field "
		        "changed without anyone editing the prompt, something in it is "
		        "generated per deploy or per process.",
		        list.data ? list.data : ""),
		    fmt(a, "If the change was deliberate, nothing to do (warmd warms the new "
		           "version at once; keep the old one warm while traffic still uses "
		           "it). If not, find what regenerates these fields and make them "
		           "deterministic."));
	buf_free(&list);
}

/* ---- cache keys --------------------------------------------------------------------- */

struct pkey {
	const char *provider, *key;
};

static int pkey_cmp(const void *x, const void *y)
{
	const struct pkey *a = x, *b = y;
	int r = strcmp(a->provider, b->provider);

	return r ? r : strcmp(a->key, b->key);
}

/* The prompt_cache_key in effect: the target's, else the template's. */
static const char *cache_key_of(const struct audit_target *t, const struct shape *s)
{
	if (t->cache_key)
		return t->cache_key;
	return s && s->doc ? jsonx_get_str(s->doc, "prompt_cache_key") : NULL;
}

/* Each key keeps its own copy of a prefix on the provider's side: past a few
 * dozen per provider, most of them are cold most of the time. Sorting the
 * (provider, key) pairs counts distinct keys in O(n log n) for large fleets.
 * keys[i] is target i's key in effect, or NULL. */
static void check_cache_keys(struct audit *a, const struct audit_target *t, char *const *keys,
                             size_t n)
{
	struct pkey *v = malloc((n ? n : 1) * sizeof(*v));
	size_t m = 0, distinct = 0;

	if (!v) {
		a->oom = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (keys[i] && t[i].provider)
			v[m++] = (struct pkey){ t[i].provider, keys[i] };
	qsort(v, m, sizeof(*v), pkey_cmp);
	for (size_t i = 0; i < m; i++) {
		if (i == 0 || pkey_cmp(&v[i - 1], &v[i]) != 0)
			distinct++;
		if (i + 1 < m && strcmp(v[i].provider, v[i + 1].provider) == 0)
			continue;
		if (distinct > AUDIT_MAX_CACHE_KEYS)
			add(a, NULL, v[i].provider, AUDIT_HIGH, C_CACHE_KEYS, "cache keys", "hours",
			    fmt(a, "Too many distinct cache keys on provider %s", v[i].provider),
			    fmt(a,
			        "Targets on provider %s use %zu distinct prompt_cache_key values "
			        "(more than %d). Each key keeps its own copy of the prefix, so "
			        "traffic spread this thin rarely finds a warm one, and warmd "
			        "spends a warm per key.",
			        v[i].provider, distinct, AUDIT_MAX_CACHE_KEYS),
			    fmt(a, "Use fewer, coarser keys (per prompt and tenant group, not per "
			           "user or session), so that each key sees steady traffic."));
		distinct = 0;
	}
	free(v);
}

/* The busiest minute of touches in the last RPM_WINDOW_S seconds. */
static unsigned peak_per_minute(const struct audit_target *t, double now, uint32_t *ret_at)
{
	unsigned peak = 0, lo = 0;

	*ret_at = 0;
	for (unsigned hi = 0; hi < t->ntouch; hi++) {
		if (t->touch_times[hi] + (double)RPM_WINDOW_S < now) {
			lo = hi + 1;
			continue;
		}
		while (lo < hi && (int64_t)t->touch_times[hi] - t->touch_times[lo] >= 60)
			lo++;
		if (hi - lo + 1 > peak) {
			peak = hi - lo + 1;
			*ret_at = t->touch_times[lo];
		}
	}
	return peak;
}

/* OpenAI routes a prefix + key to one machine and spills to others above
 * ~15 requests/min, where the prefix is not cached yet. */
static void check_key_rate(struct audit *a, const struct audit_target *t, const struct shape *s,
                           double now)
{
	const char *key = cache_key_of(t, s);
	char when[32] = "?";
	uint32_t at;
	unsigned peak;
	time_t tt;
	struct tm tm;

	if (t->kind != PROVIDER_OPENAI)
		return;
	peak = peak_per_minute(t, now, &at);
	if (peak <= AUDIT_MAX_KEY_RPM)
		return;
	tt = (time_t)at;
	if (gmtime_r(&tt, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	add(a, t, NULL, AUDIT_HIGH, C_KEY_RATE, "cache keys", "hours",
	    fmt(a, "Prefix + cache key above ~%d requests/min", AUDIT_MAX_KEY_RPM),
	    fmt(a,
	        "%u requests reached this prefix%s%s%s within one minute (from %s, in the "
	        "last %d minutes). Above ~%d requests/min OpenAI routes the "
	        "overflow to machines that do not hold the prefix, so those requests miss the "
	        "cache.",
	        peak, key ? " with prompt_cache_key \"" : " (no prompt_cache_key)", key ? key : "",
	        key ? "\"" : "", when, RPM_WINDOW_S / 60, AUDIT_MAX_KEY_RPM),
	    fmt(a,
	        "Spread this traffic over several prompt_cache_key values (for example a "
	        "key suffix per shard of users) so each prefix + key stays under ~%d "
	        "requests/min, and give each key its own warmd target.",
	        AUDIT_MAX_KEY_RPM));
}

/* ---- traffic gaps and the TTL ------------------------------------------------------- */

static double gap_at(const struct audit_target *t, unsigned i)
{
	double g = (double)t->touch_times[i + 1] - (double)t->touch_times[i];

	return g > 0 ? g : 0;
}

/* Would warmd's policy keep the cache through a gap of g seconds? Schedule
 * and adaptive decide per gap with information the audit does not have:
 * they are taken as covering (they are warming policies by design). */
static bool gap_covered(const struct audit_target *t, double g)
{
	switch (t->policy) {
	case POLICY_MANUAL:
		return g <= t->ttl_s;
	case POLICY_ALWAYS:
		return t->idle_limit_s <= 0 || g <= t->idle_limit_s + t->ttl_s;
	default:
		return true;
	}
}

static long prefix_tokens(const struct audit_target *t)
{
	return t->prefix_tokens_seen > 0 ? t->prefix_tokens_seen : t->prefix_tokens_est;
}

/* Prices of one prefix: a read, a 5-minute write and a 1-hour write, with
 * Anthropic's multipliers where the table lacks a figure. */
struct prefix_prices {
	int64_t read, write_5m, write_1h;
};

static bool prefix_prices(const struct audit_target *t, struct prefix_prices *ret)
{
	const struct price *p = t->price;
	int64_t tok = prefix_tokens(t);

	if (!p || tok <= 0 || p->input <= 0)
		return false;
	/* Prices are bounded (BOUNDS_MAX_PRICE_PICO), so the multiples fit. */
	ret->read = pricing_mul(tok, p->cache_read > 0 ? p->cache_read : p->input / 10);
	ret->write_5m = pricing_mul(tok, p->cache_write > 0 ? p->cache_write : p->input * 5 / 4);
	ret->write_1h = pricing_mul(
	        tok, p->has_write_1h && p->cache_write_1h > 0 ? p->cache_write_1h : p->input * 2);
	return true;
}

static void check_gaps(struct audit *a, const struct audit_target *t)
{
	unsigned uncovered = 0;
	double longest = 0;
	struct prefix_prices pp;
	char ttl[32], lg[32], extra[96] = "", idle[32];

	if (t->ntouch < 2 || t->ttl_s <= 0)
		return;
	for (unsigned i = 0; i + 1 < t->ntouch; i++) {
		double g = gap_at(t, i);
		if (g > t->ttl_s && !gap_covered(t, g)) {
			uncovered++;
			longest = g > longest ? g : longest;
		}
	}
	if (!uncovered)
		return;
	if (prefix_prices(t, &pp))
		usd_text(pricing_mul(uncovered,
		                     (t->ttl_s > 300 ? pp.write_1h : pp.write_5m) - pp.read),
		         extra, sizeof(extra));
	add(a, t, NULL, AUDIT_MEDIUM, C_GAPS, "cache configuration", "minutes",
	    fmt(a, "Traffic gaps longer than the TTL are not bridged"),
	    fmt(a,
	        "%u of %u gaps between real requests were longer than the %s TTL and not "
	        "covered by warming (policy %s%s%s; longest such gap %s), so each ended with "
	        "the next request writing the prefix again%s%s%s.",
	        uncovered, t->ntouch - 1, dur(t->ttl_s, ttl, sizeof(ttl)), policy_name(t->policy),
	        t->policy == POLICY_ALWAYS ? ", idle_limit " : "",
	        t->policy == POLICY_ALWAYS ? dur(t->idle_limit_s, idle, sizeof(idle)) : "",
	        dur(longest, lg, sizeof(lg)), extra[0] ? ": about " : "", extra,
	        extra[0] ? " more than reads would have cost" : ""),
	    fmt(a, "Let warmd bridge these gaps: policy = \"adaptive\" (warms only while that is "
	           "cheaper than re-writing), \"always\" with a longer idle_limit, or a schedule "
	           "that covers the traffic hours."));
}

/* What keeping this traffic's cache costs with TTL ttl: the first write, then
 * per gap either a read (the gap fits in the TTL), or the cheaper of bridging
 * it with warms (one read per TTL, plus the request's read) and letting the
 * cache expire (the request writes it again). Warms of an Anthropic prefix
 * generate no output (max_tokens 0), so reads are all they cost. */
static int64_t traffic_cost(const struct audit_target *t, double ttl, int64_t r, int64_t w)
{
	int64_t total = w;

	for (unsigned i = 0; i + 1 < t->ntouch; i++) {
		double g = gap_at(t, i), k;
		if (g <= ttl) {
			total = pricing_sum(total, r);
			continue;
		}
		k = ceil(g / ttl); /* k - 1 warms, then the request's read */
		total = pricing_sum(total, r > 0 && k < (double)w / (double)r ? (int64_t)k * r : w);
	}
	return total;
}

/* Anthropic offers 5-minute and 1-hour caches: which one is cheaper for the
 * traffic seen so far. Sets *ret_cmp: 1 compared, 0 no data. */
static void check_ttl_choice(struct audit *a, const struct audit_target *t, bool *ret_cmp)
{
	struct prefix_prices pp;
	bool short_ttl = t->ttl_s <= 300;
	int64_t c5, c1h, cur, alt;
	char cur_s[32], alt_s[32], ttl[32];
	struct finding *f;

	*ret_cmp = false;
	if (t->kind != PROVIDER_ANTHROPIC || t->ntouch < 2 || t->ttl_s <= 0 ||
	    (t->ttl_s > 300 && t->ttl_s < 3600) || !prefix_prices(t, &pp))
		return;
	*ret_cmp = true;
	c5 = traffic_cost(t, short_ttl ? t->ttl_s : 300, pp.read, pp.write_5m);
	c1h = traffic_cost(t, short_ttl ? 3600 : t->ttl_s, pp.read, pp.write_1h);
	cur = short_ttl ? c5 : c1h;
	alt = short_ttl ? c1h : c5;
	/* a 5% margin: not worth a change (or flapping advice) below that;
	 * alt * 20 >= cur * 19 without the products (money goes up to
	 * PRICING_MAX_PICO, twenty times that does not fit) */
	if (alt >= cur - cur / 20)
		return;
	usd_text(cur, cur_s, sizeof(cur_s));
	usd_text(alt, alt_s, sizeof(alt_s));
	f = add(a, t, NULL, AUDIT_MEDIUM, C_TTL, "cache configuration", "minutes",
	        fmt(a, "A %s TTL would be cheaper for this traffic", short_ttl ? "1h" : "5m"),
	        fmt(a,
	            "Over the %u requests seen, keeping a %ld-token prefix warm would have "
	            "cost %s with the %s TTL and warming, against %s with a %s TTL (each gap "
	            "either bridged with warms or re-written, whichever is cheaper).",
	            t->ntouch, prefix_tokens(t), cur_s, dur(t->ttl_s, ttl, sizeof(ttl)), alt_s,
	            short_ttl ? "1h" : "5m"),
	        fmt(a,
	            "Set ttl = \"%s\" on the target and \"ttl\": \"%s\" in the template's "
	            "cache_control.",
	            short_ttl ? "1h" : "5m", short_ttl ? "1h" : "5m"));
	if (f) {
		f->has_costs = true;
		f->cost_cur = cur;
		f->cost_alt = alt;
	}
}

/* ---- operations --------------------------------------------------------------------- */

/* Has a finding of check for provider prov been made already? (Provider
 * findings are made once, not once per target.) */
static bool provider_reported(const struct audit *a, enum check check, const char *prov)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].f.target == NULL && a->v[i].f.check == check_names[check] && prov &&
		    a->v[i].f.provider && strcmp(a->v[i].f.provider, prov) == 0)
			return true;
	return false;
}

static void check_operations(struct audit *a, const struct audit_target *t)
{
	if (t->inline_key && !provider_reported(a, C_INLINE_KEY, t->provider))
		add(a, NULL, t->provider, AUDIT_HIGH, C_INLINE_KEY, "security", "minutes",
		    fmt(a, "API key written inline in the configuration"),
		    fmt(a,
		        "Provider %s has its API key in warmd.conf itself, where backups, "
		        "config management and anyone who can read the file see it.",
		        t->provider ? t->provider : "(unnamed)"),
		    fmt(a, "Move it to api_key_file (with systemd LoadCredential=) or api_key_env, "
		           "and rotate the key."));
	if (t->unwarmable && t->unwarmable[0])
		add(a, t, NULL, AUDIT_HIGH, C_UNWARMABLE, "operations", "hours",
		    fmt(a, "The template cannot be warmed minimally"),
		    fmt(a, "warmd sends no warms for this target: %s.", t->unwarmable),
		    fmt(a, "Change the template (or allow_edit, where it says so) so that a "
		           "minimal request reads the same prefix as the application's "
		           "requests."));
	if (a->static_only)
		return;
	if (t->touches == 0 && t->ntouch == 0)
		add(a, t, NULL, AUDIT_LOW, C_NO_TOUCHES, "monitoring", "hours",
		    fmt(a, "No real traffic reported"),
		    fmt(a, "warmd has never received a touch for this target, so it cannot tell "
		           "whether the application's requests read the cache it keeps warm, "
		           "nor size warming to the traffic."),
		    fmt(a, "Have the application send a touch after each request (a datagram "
		           "\"TARGET hit|miss cached=N input=N\" to the touch socket, or warmctl "
		           "touch)."));
	if (t->writes >= 2 && t->warms >= 4 && t->writes * WRITE_SHARE > t->warms)
		add(a, t, NULL, AUDIT_MEDIUM, C_WARM_WRITES, "cache effectiveness", "hours",
		    fmt(a, "Warms write the cache instead of reading it"),
		    fmt(a,
		        "%llu of %llu warms wrote the prefix instead of reading it. A warm should "
		        "find its own earlier write: repeated writes mean the prefix drifts "
		        "between requests, or the provider evicts it before the TTL (a busy "
		        "self-hosted KV cache, another machine behind the same key).",
		        (unsigned long long)t->writes, (unsigned long long)t->warms),
		    fmt(a, "Compare successive warm bodies for drift (dynamic content, unstable "
		           "tool order); on a self-hosted server give the KV cache more room; "
		           "check the TTL matches the template's cache_control."));
}

/* ---- per target --------------------------------------------------------------------- */

/* What the readiness checklist needs to know beyond the findings. */
struct tstate {
	bool parsed;       /* the body could be read */
	bool ttl_compared; /* the TTL cost comparison had data */
	uint32_t mask;     /* BIT(check) of each check that fired */
};

static void check_target(struct audit *a, const struct audit_target *t, const struct shape *s,
                         double now, struct tstate *st)
{
	struct audit_fp fp;
	bool reordered = false;

	a->mask = 0;
	st->parsed = s->doc != NULL;
	if (st->parsed) {
		fp_from_shape(s, t->kind, &fp);
		check_dynamic(a, t, s);
	}
	check_minimum(a, t);
	if (st->parsed) {
		check_sorted(a, t, s);
		reordered = check_tool_order(a, t, s, &fp);
		check_image_detail(a, t, s);
		check_fields(a, t, &fp, reordered);
	}
	if (!a->static_only) {
		check_key_rate(a, t, s, now);
		check_gaps(a, t);
		check_ttl_choice(a, t, &st->ttl_compared);
	}
	check_operations(a, t);
	st->mask = a->mask;
}

/* ---- readiness ---------------------------------------------------------------------- */

/* Ordered from best to worst: an item takes the worst status of its targets. */
enum rstatus { R_DONE, R_UNKNOWN, R_NOT_DONE };

static const char *const rstatus_names[] = { "done", "unknown", "not_done" };

typedef enum rstatus (*ritem_fn)(const struct audit_target *t, const struct tstate *st);

static enum rstatus r_static_first(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & BIT(C_DYNAMIC))
		return R_NOT_DONE;
	return st->parsed ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_minimum(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & BIT(C_MINIMUM))
		return R_NOT_DONE;
	if (t->hits + t->writes > 0 && t->prefix_tokens_seen > 0)
		return R_DONE; /* usage proves it is cached */
	return min_cacheable(t) > 0 && t->prefix_tokens_est > 0 ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_tools(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & (BIT(C_UNSORTED) | BIT(C_TOOL_ORDER) | BIT(C_IMAGE_DETAIL)))
		return R_NOT_DONE;
	return st->parsed ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_ttl(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & BIT(C_TTL))
		return R_NOT_DONE;
	return st->ttl_compared ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_keys(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & (BIT(C_KEY_RATE) | BIT(C_CACHE_KEYS)))
		return R_NOT_DONE;
	/* keys only steer OpenAI's routing; the rate needs traffic to judge */
	return t->kind != PROVIDER_OPENAI || t->ntouch >= 2 ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_versions(const struct audit_target *t, const struct tstate *st)
{
	/* done: rollouts are explicit (blue/green), or a change was seen and the
	 * new version's cache confirmed; one version alone proves nothing */
	if (t->named_versions || (t->nversions > 1 && t->prefix_tokens_seen > 0))
		return R_DONE;
	return R_UNKNOWN;
}

static enum rstatus r_touches(const struct audit_target *t, const struct tstate *st)
{
	return t->touches > 0 || t->ntouch > 0 ? R_DONE : R_NOT_DONE;
}

static enum rstatus r_policy(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & (BIT(C_UNWARMABLE) | BIT(C_GAPS)))
		return R_NOT_DONE;
	/* manual is fine only when the traffic shows it needs no warming */
	return t->policy != POLICY_MANUAL || t->ntouch >= 2 ? R_DONE : R_UNKNOWN;
}

static enum rstatus r_rate_limits(const struct audit_target *t, const struct tstate *st)
{
	if (st->mask & BIT(C_KEY_RATE))
		return R_NOT_DONE;
	/* a self-hosted server has no provider quota to stay under */
	return t->provider_has_rpm_limit || t->kind == PROVIDER_OPENAI_COMPAT ? R_DONE : R_NOT_DONE;
}

static enum rstatus r_retries(const struct audit_target *t, const struct tstate *st)
{
	if (t->warms == 0)
		return R_UNKNOWN;
	/* warmd retries transient failures itself; more than 1 in 10 warms
	 * still failing means the retries are not absorbing them */
	return t->errors * 10 > t->warms ? R_NOT_DONE : R_DONE;
}

static enum rstatus r_tested(const struct audit_target *t, const struct tstate *st)
{
	return t->tested ? R_DONE : R_NOT_DONE;
}

static const struct ritem {
	const char *category, *item;
	ritem_fn fn;
} ritems[] = {
	{ "prompt design", "static content first", r_static_first },
	{ "prompt design", "prefix above the minimum", r_minimum },
	{ "prompt design", "stable tools", r_tools },
	{ "cache configuration", "TTL choice", r_ttl },
	{ "cache configuration", "cache keys", r_keys },
	{ "cache configuration", "versions", r_versions },
	{ "monitoring", "touches received", r_touches },
	{ "operations", "warming policy", r_policy },
	{ "operations", "rate limits", r_rate_limits },
	{ "operations", "retries", r_retries },
	{ "testing", "verification test run", r_tested },
};

#define NRITEMS (sizeof(ritems) / sizeof(ritems[0]))

static bool selected_target(const struct audit_target *t, const char *only)
{
	return !only || (t->name && strcmp(t->name, only) == 0);
}

/* One checklist item over the selected targets; detail names the targets
 * that hold it back (the first few), null when done. */
static json_object *ritem_json(const struct ritem *ri, const struct audit_target *t,
                               const struct tstate *st, size_t n, const char *only,
                               enum rstatus *ret)
{
	enum rstatus worst = R_DONE;
	size_t nsel = 0, nworst = 0;
	struct buf d = BUF_INIT;
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < n; i++) {
		enum rstatus s;
		if (!selected_target(&t[i], only))
			continue;
		nsel++;
		s = ri->fn(&t[i], &st[i]);
		worst = s > worst ? s : worst;
	}
	if (!nsel)
		worst = R_UNKNOWN;
	for (size_t i = 0; nsel && worst != R_DONE && i < n; i++) {
		if (!selected_target(&t[i], only) || ri->fn(&t[i], &st[i]) != worst)
			continue;
		if (++nworst <= 3)
			buf_printf(&d, "%s%s", nworst > 1 ? ", " : "", t[i].name ? t[i].name : "?");
	}
	if (nworst > 3)
		buf_printf(&d, " and %zu more", nworst - 3);
	jsonx_add_str(o, "category", ri->category);
	jsonx_add_str(o, "item", ri->item);
	jsonx_add_str(o, "status", rstatus_names[worst]);
	jsonx_add_str(o, "detail", !nsel ? "no targets" : d.data);
	buf_free(&d);
	*ret = worst;
	return o;
}

static json_object *readiness_json(const struct audit_target *t, const struct tstate *st, size_t n,
                                   const char *only)
{
	json_object *o = json_object_new_object(), *items = json_object_new_array();
	unsigned done = 0;

	for (size_t i = 0; i < NRITEMS; i++) {
		enum rstatus s;
		json_object_array_add(items, ritem_json(&ritems[i], t, st, n, only, &s));
		done += s == R_DONE;
	}
	/* only what warmd has seen counts: unknown is not done */
	jsonx_add_int(o, "score", (done * 100 + NRITEMS / 2) / NRITEMS);
	json_object_object_add(o, "items", items);
	return o;
}

/* ---- score, plan and the JSON ------------------------------------------------------- */

static const char *const severity_names[] = { "critical", "high", "medium", "low" };
static const int penalties[] = { AUDIT_PENALTY_CRITICAL, AUDIT_PENALTY_HIGH, AUDIT_PENALTY_MEDIUM,
	                         AUDIT_PENALTY_LOW };

const char *audit_severity_name(enum audit_severity s)
{
	return (unsigned)s < 4 ? severity_names[s] : "unknown";
}

const char *audit_grade(int score)
{
	return score >= 90 ? "A" : score >= 80 ? "B" : score >= 70 ? "C" : score >= 60 ? "D" : "F";
}

/* A finding belongs to the report of target only: its own, or its provider's. */
static bool selected_finding(const struct finding *x, const char *only, const char *only_prov)
{
	if (!only)
		return true;
	if (x->f.target)
		return strcmp(x->f.target, only) == 0;
	return only_prov && x->f.provider && strcmp(x->f.provider, only_prov) == 0;
}

static json_object *finding_json(const struct finding *x)
{
	json_object *o = json_object_new_object();

	jsonx_add_str(o, "target", x->f.target);
	jsonx_add_str(o, "provider", x->f.provider);
	jsonx_add_str(o, "severity", audit_severity_name(x->f.severity));
	jsonx_add_str(o, "category", x->f.category);
	jsonx_add_str(o, "check", x->f.check);
	jsonx_add_str(o, "title", x->f.title);
	jsonx_add_str(o, "description", x->f.description);
	jsonx_add_str(o, "recommendation", x->f.recommendation);
	jsonx_add_str(o, "effort", x->f.effort);
	if (x->has_costs) {
		jsonx_add_usd(o, "cost_current_usd", x->cost_cur);
		jsonx_add_usd(o, "cost_alternative_usd", x->cost_alt);
	}
	return o;
}

/* Severity first, then target name (provider-wide findings after the
 * targets'), then the order the checks ran in. */
static int plan_cmp(const void *x, const void *y)
{
	const struct finding *a = *(const struct finding *const *)x;
	const struct finding *b = *(const struct finding *const *)y;
	int r;

	if (a->f.severity != b->f.severity)
		return a->f.severity < b->f.severity ? -1 : 1;
	if (!a->f.target != !b->f.target)
		return a->f.target ? -1 : 1;
	if (a->f.target && (r = strcmp(a->f.target, b->f.target)) != 0)
		return r;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static json_object *plan_json(const struct finding **sel, size_t nsel)
{
	json_object *plan = json_object_new_array();

	qsort(sel, nsel, sizeof(*sel), plan_cmp);
	for (size_t i = 0; i < nsel && i < AUDIT_ACTION_PLAN_MAX; i++) {
		json_object *o = finding_json(sel[i]);
		char prio[4] = { 'P', (char)('1' + sel[i]->f.severity), '\0' };
		jsonx_add_int(o, "rank", (int64_t)i + 1);
		jsonx_add_str(o, "priority", prio);
		json_object_array_add(plan, o);
	}
	return plan;
}

static const char *provider_of(const struct audit_target *t, size_t n, const char *only)
{
	for (size_t i = 0; only && i < n; i++)
		if (t[i].name && strcmp(t[i].name, only) == 0)
			return t[i].provider;
	return NULL;
}

static json_object *report_json(const struct audit *a, const struct audit_target *t,
                                const struct tstate *st, size_t n, const char *only)
{
	const char *only_prov = provider_of(t, n, only);
	const struct finding **sel = malloc((a->n ? a->n : 1) * sizeof(*sel));
	json_object *o, *findings, *counts;
	unsigned count[4] = { 0 };
	size_t nsel = 0;
	int score = 100;

	o = sel ? json_object_new_object() : NULL;
	if (!o) {
		free(sel);
		return NULL;
	}
	findings = json_object_new_array();
	for (size_t i = 0; i < a->n; i++) {
		if (!selected_finding(&a->v[i], only, only_prov))
			continue;
		sel[nsel++] = &a->v[i];
		count[a->v[i].f.severity]++;
		score -= penalties[a->v[i].f.severity];
		json_object_array_add(findings, finding_json(&a->v[i]));
	}
	score = score < 0 ? 0 : score;
	counts = json_object_new_object();
	for (int s = 0; s < 4; s++)
		jsonx_add_int(counts, severity_names[s], count[s]);
	jsonx_add_int(o, "score", score);
	jsonx_add_str(o, "grade", audit_grade(score));
	json_object_object_add(o, "counts", counts);
	json_object_object_add(o, "findings", findings);
	json_object_object_add(o, "action_plan", plan_json(sel, nsel));
	json_object_object_add(o, "readiness", readiness_json(t, st, n, only));
	free(sel);
	return o;
}

/* ---- entry points ------------------------------------------------------------------- */

/* Every target's checks (one template parsed at a time: a fleet's templates
 * are never all in memory), then the provider-wide ones. st may be NULL. */
static int audit_all(struct audit *a, const struct audit_target *t, size_t n, double now,
                     struct tstate *st)
{
	char **keys = calloc(n ? n : 1, sizeof(*keys));

	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n && !a->oom; i++) {
		struct tstate tmp = { 0 };
		struct shape s;
		const char *k;
		if (shape_parse(t[i].body, t[i].body_len, t[i].kind, &s) == -ENOMEM)
			a->oom = true;
		check_target(a, &t[i], &s, now, st ? &st[i] : &tmp);
		k = cache_key_of(&t[i], &s);
		if (k && !(keys[i] = strdup(k)))
			a->oom = true;
		shape_free(&s);
	}
	if (!a->oom)
		check_cache_keys(a, t, keys, n);
	/* a provider's cache-keys finding holds back each of its targets */
	for (size_t f = 0; st && f < a->n; f++)
		for (size_t i = 0; !a->v[f].f.target && i < n; i++)
			if (t[i].provider && strcmp(t[i].provider, a->v[f].f.provider) == 0)
				st[i].mask |= BIT(a->v[f].check_id);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	return a->oom ? -ENOMEM : 0;
}

json_object *audit_run(const struct audit_target *t, size_t n, double now, const char *only)
{
	struct audit a = { 0 };
	regex_t rx[NPATTERNS];
	struct tstate *st = calloc(n ? n : 1, sizeof(*st));
	json_object *o = NULL;

	if (!st || rx_init(rx) < 0) {
		free(st);
		return NULL;
	}
	a.rx = rx;
	if (audit_all(&a, t, n, now, st) == 0)
		o = report_json(&a, t, st, n, only);
	audit_free(&a);
	rx_free(rx, NPATTERNS);
	free(st);
	return o;
}

int audit_static(const struct audit_target *t, size_t n, audit_emit_cb emit, void *ctx)
{
	struct audit a = { .static_only = true };
	regex_t rx[NPATTERNS];
	int r;

	r = rx_init(rx);
	if (r < 0)
		return r;
	a.rx = rx;
	r = audit_all(&a, t, n, 0, NULL);
	for (size_t i = 0; r == 0 && i < a.n; i++)
		emit(&a.v[i].f, ctx);
	if (r == 0)
		r = (int)a.n;
	audit_free(&a);
	rx_free(rx, NPATTERNS);
	return r;
}
