/* warmctl: the command-line client of warmd's control socket (warmctl(1), docs/protocol.md): one request,
 * one answer line, shown as text or passed through as JSON, with stable exit codes. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "duration.h"
#include "errmsg.h"
#include "jsonx.h"
#include "proto.h"
#include "version.h"
#include "xalloc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define DEFAULT_SOCKET    "/run/warmd/control.sock"
#define DEFAULT_TIMEOUT_S 30.0
/* Requests are capped at PROTO_MAX_LINE, answers are not: status for 10,000 targets is several
 * MiB. The cap only stops a runaway peer from eating all memory. */
#define MAX_ANSWER_MIB 256
#define MAX_ANSWER     ((size_t)MAX_ANSWER_MIB * 1024 * 1024)
#define USAGE          "usage: warmctl [-s SOCKET] [-t SECONDS] [--json] COMMAND [ARGS]"

enum exit_status {
	EXIT_DONE = 0,        /* the daemon said ok */
	EXIT_REFUSED = 1,     /* the daemon said no, or warmctl itself failed */
	EXIT_USAGE = 2,       /* bad command line */
	EXIT_UNREACHABLE = 3, /* no daemon, no answer in time, or an answer that is not protocol */
};

/* How a field of the daemon's answer is shown. */
enum kind {
	KIND_TEXT,     /* a string */
	KIND_COUNT,    /* an integer */
	KIND_DURATION, /* seconds, as "5m" or "12.3s" */
	KIND_TIME,     /* Unix seconds, relative to now ("in 4m48s", "12s ago") */
	KIND_NEXT,     /* same, but a past time is "now" (the warm is due) */
	KIND_USD,      /* dollars */
	KIND_PERCENT,  /* a ratio 0-1, as "83%" */
	KIND_MS,       /* milliseconds */
};

struct column {
	const char *title;
	const char *key;
	enum kind kind;
	bool right; /* numbers are right-aligned */
};

static const struct column status_columns[] = {
	{ "TARGET", "name", KIND_TEXT, false },
	{ "PROVIDER", "provider", KIND_TEXT, false },
	{ "STATE", "state", KIND_TEXT, false },
	{ "VERSION", "version", KIND_TEXT, false },
	{ "TTL", "ttl_s", KIND_DURATION, true },
	{ "REFRESHED", "last_refresh", KIND_TIME, false },
	{ "EXPIRES", "expires_at", KIND_TIME, false },
	{ "NEXT", "next_warm_at", KIND_NEXT, false },
	{ "HITS", "hits", KIND_COUNT, true },
	{ "WRITES", "writes", KIND_COUNT, true },
	{ "WARMS", "warms", KIND_COUNT, true },
	{ "ERRORS", "errors", KIND_COUNT, true },
	{ "COST", "cost_usd", KIND_USD, true },
	{ "REASON", "reason", KIND_TEXT, false }, /* last: never padded */
};

static const struct column version_columns[] = {
	{ "VERSION", "version", KIND_TEXT, false },
	{ "NAME", "name", KIND_TEXT, false },
	{ "WEIGHT", "weight", KIND_COUNT, true },
	{ "STATE", "state", KIND_TEXT, false },
	{ "FIRST SEEN", "first_seen", KIND_TIME, false },
	{ "LAST SEEN", "last_seen", KIND_TIME, false },
	{ "PREFIX", "prefix_tokens", KIND_COUNT, true },
	{ "HITS", "hits", KIND_COUNT, true },
	{ "WRITES", "writes", KIND_COUNT, true },
	{ "LANE", "lane", KIND_TEXT, false }, /* last: never padded */
};

static const struct column weight_columns[] = {
	{ "NAME", "name", KIND_TEXT, false },     { "VERSION", "version", KIND_TEXT, false },
	{ "WEIGHT", "weight", KIND_COUNT, true }, { "STATE", "state", KIND_TEXT, false },
	{ "LANE", "lane", KIND_TEXT, false },
};

static const struct column finding_columns[] = {
	{ "#", "rank", KIND_COUNT, true },        { "SEVERITY", "severity", KIND_TEXT, false },
	{ "TARGET", "target", KIND_TEXT, false }, { "CATEGORY", "category", KIND_TEXT, false },
	{ "EFFORT", "effort", KIND_TEXT, false }, { "TITLE", "title", KIND_TEXT, false },
};

static const struct column readiness_columns[] = {
	{ "CATEGORY", "category", KIND_TEXT, false },
	{ "STATUS", "status", KIND_TEXT, false },
	{ "ITEM", "item", KIND_TEXT, false },
};

static const struct column test_columns[] = {
	{ "#", "n", KIND_COUNT, true },
	{ "RESULT", "result", KIND_TEXT, false },
	{ "CACHED", "cached_tokens", KIND_COUNT, true },
	{ "WRITTEN", "written_tokens", KIND_COUNT, true },
	{ "LATENCY", "latency_ms", KIND_MS, true },
};

static const struct column variant_columns[] = {
	{ "READ", "read_tokens", KIND_COUNT, true },
	{ "KEPT", "kept_ratio", KIND_PERCENT, true },
	{ "FILE", "file", KIND_TEXT, false },
};

struct field {
	const char *key;
	enum kind kind;
};

/* Every target field of `status` (docs/protocol.md), in the order of the contract. */
static const struct field target_fields[] = {
	{ "name", KIND_TEXT },       { "provider", KIND_TEXT },       { "model", KIND_TEXT },
	{ "policy", KIND_TEXT },     { "state", KIND_TEXT },          { "version", KIND_TEXT },
	{ "ttl_s", KIND_DURATION },  { "prefix_tokens", KIND_COUNT }, { "last_refresh", KIND_TIME },
	{ "expires_at", KIND_TIME }, { "next_warm_at", KIND_NEXT },   { "reason", KIND_TEXT },
	{ "warms", KIND_COUNT },     { "hits", KIND_COUNT },          { "writes", KIND_COUNT },
	{ "errors", KIND_COUNT },    { "touches", KIND_COUNT },       { "last_error", KIND_TEXT },
	{ "cost_usd", KIND_USD },    { "saved_usd", KIND_USD },       { "owner", KIND_TEXT },
};

/* Output under construction. The first allocation failure sticks in err, so the formatting
 * code does not check every append; whoever writes the text out checks err once. */
struct out {
	struct buf b;
	int err;
};

struct cmdline;
typedef void (*print_cb)(struct out *o, json_object *data, const struct cmdline *cl, double now);

struct command {
	enum proto_cmd cmd;
	const char *help;
	print_cb print; /* renders the data of an ok answer */
};

struct cmdline {
	const char *socket;
	double timeout; /* seconds */
	bool json;
	const struct command *command;
	const char *target; /* NULL when absent */
	bool all;
	enum proto_touch_result result; /* touch: --hit / --miss */
	long long cached, input;        /* touch: --cached N / --input N, -1 when absent */
	const char *version;            /* shift, promote: VERSION */
	long long percent;              /* shift: PERCENT, -1 when absent */
	long long n;                    /* test: -n N, -1 when absent */
	const char *variants[PROTO_TEST_MAX_VARIANTS]; /* test: --variant FILE... */
	size_t nvariants;
	const char *provider;     /* keep: --provider P */
	const char *request_file; /* keep: --request-file FILE */
	const char *body;         /* keep: --body TEXT, or "-" for stdin */
	const char *model;        /* keep: --model M, or NULL */
	const char *deployment;   /* keep: --deployment D, or NULL */
	double ttl_s, for_s;      /* keep: --ttl, --for; 0 when absent */
	long long priority;       /* keep: --priority N, -1 when absent */
};

/* One exchange with the daemon. */
struct ctl {
	const char *path;
	double timeout;  /* seconds, for messages */
	double deadline; /* CLOCK_MONOTONIC seconds */
	int fd;
};

/* What the line framer hands over: the first complete line only. */
static double clock_now(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void out_bytes(struct out *o, const char *p, size_t n)
{
	if (o->err == 0)
		o->err = buf_append(&o->b, p, n);
}

static void out_str(struct out *o, const char *s)
{
	out_bytes(o, s, strlen(s));
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		out_bytes(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void out_pad(struct out *o, size_t n)
{
	static const char spaces[] = "                                ";

	while (n > 0) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
		out_bytes(o, spaces, k);
		n -= k;
	}
}

/* Appends text that came from the daemon with control characters (C0, DEL and C1) replaced,
 * so that a provider's error message cannot move the cursor or break a table row. json-c has
 * already checked that it is valid UTF-8. */
static void out_text(struct out *o, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s, next = (unsigned char)s[1];
		size_t skip;

		if (c < 0x20 || c == 0x7f)
			skip = 1;
		else if (c == 0xc2 && next >= 0x80 && next <= 0x9f)
			skip = 2;
		else
			continue;
		out_bytes(o, run, (size_t)(s - run));
		out_str(o, c == '\t' || c == '\n' || c == '\r' ? " " : "?");
		s += skip - 1;
		run = s + 1;
	}
	out_bytes(o, run, (size_t)(s - run));
}

/* Columns a string takes on a terminal, counting one per UTF-8 code point. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* Whole seconds below a minute ("12s"), else duration_format ("4m48s", "1h5m"). */
static char *span_format(double s, char *out, size_t n)
{
	if (fabs(s) < 60 && s == floor(s))
		snprintf(out, n, "%.0fs", s);
	else
		duration_format(s, out, n);
	return out;
}

/* Returns true and the value when v is a finite JSON number. */
static bool number_of(json_object *v, double *ret)
{
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return false;
	*ret = json_object_get_double(v);
	return isfinite(*ret);
}

static void out_relative(struct out *o, double t, double now, bool next)
{
	double d = round(t - now);
	char s[64];

	if (d == 0 || (next && d < 0)) {
		out_str(o, "now");
		return;
	}
	span_format(fabs(d), s, sizeof(s));
	if (d > 0)
		out_printf(o, "in %s", s);
	else
		out_printf(o, "%s ago", s);
}

static void out_iso8601(struct out *o, double t)
{
	time_t tt = (time_t)floor(t);
	struct tm tm;
	char s[64];

	if (!gmtime_r(&tt, &tm) || strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out_str(o, "?");
	else
		out_str(o, s);
}

/* Appends one field: "-" when absent or null, "?" when of an unexpected type. The detailed
 * form adds the absolute time to relative ones and shows more cents. */
static void out_value(struct out *o, json_object *v, enum kind kind, double now, bool detailed)
{
	char s[64];
	double d;

	if (!v || json_object_is_type(v, json_type_null)) {
		out_str(o, "-");
		return;
	}
	if (kind == KIND_TEXT) {
		if (json_object_is_type(v, json_type_string))
			out_text(o, json_object_get_string(v));
		else
			out_str(o, "?");
		return;
	}
	if (!number_of(v, &d)) {
		out_str(o, "?");
		return;
	}
	switch (kind) {
	case KIND_COUNT:
		if (jsonx_is_int(v))
			out_printf(o, "%" PRId64, json_object_get_int64(v));
		else if (d == floor(d) && fabs(d) < 1e15)
			out_printf(o, "%.0f", d);
		else
			out_str(o, "?");
		break;
	case KIND_DURATION:
		out_str(o, span_format(d, s, sizeof(s)));
		break;
	case KIND_TIME:
	case KIND_NEXT:
		/* Past year 5000 is not a time the daemon means. */
		if (fabs(d) > 1e11) {
			out_str(o, "?");
			break;
		}
		if (detailed) {
			out_iso8601(o, d);
			out_str(o, " (");
		}
		out_relative(o, d, now, kind == KIND_NEXT);
		if (detailed)
			out_str(o, ")");
		break;
	case KIND_USD:
		if (detailed)
			out_printf(o, "%s$%.6f", d < 0 ? "-" : "", fabs(d));
		else
			out_printf(o, "%s$%.4f", d < 0 ? "-" : "", fabs(d));
		break;
	case KIND_PERCENT:
		out_printf(o, "%.0f%%", d * 100);
		break;
	case KIND_MS:
		out_printf(o, "%.0f ms", d);
		break;
	case KIND_TEXT:
		break; /* handled above */
	}
}

/* Appends each string of a JSON array on its own line; anything else in it shows as "?". */
static void out_lines(struct out *o, json_object *array)
{
	if (!json_object_is_type(array, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(array); i++) {
		json_object *v = json_object_array_get_idx(array, i);

		if (json_object_is_type(v, json_type_string))
			out_text(o, json_object_get_string(v));
		else
			out_str(o, "?");
		out_str(o, "\n");
	}
}

/* Writes o to f. Returns 0, or a negative errno after saying why on stderr. */
static int out_write(struct out *o, FILE *f)
{
	if (o->err < 0) {
		fprintf(stderr, "warmctl: %s\n", strerror(-o->err));
		return o->err;
	}
	if ((o->b.len && fwrite(o->b.data, 1, o->b.len, f) != o->b.len) || fflush(f) != 0) {
		int err = errno ? errno : EIO;
		fprintf(stderr, "warmctl: cannot write the output: %s\n", strerror(err));
		return -err;
	}
	return 0;
}

static void print_ping_cb(struct out *o, json_object *data, const struct cmdline *cl, double now)
{
	out_str(o, "pong: warmd ");
	out_value(o, jsonx_get(data, "version"), KIND_TEXT, now, false);
	out_str(o, ", pid ");
	out_value(o, jsonx_get(data, "pid"), KIND_COUNT, now, false);
	out_str(o, ", up ");
	out_value(o, jsonx_get(data, "uptime_s"), KIND_DURATION, now, false);
	out_str(o, "\n");
}

/* Cluster mode's line: this node, the live nodes, and whether Redis is there. */
static void print_cluster_header(struct out *o, json_object *cl, double now)
{
	json_object *nodes = jsonx_get(cl, "nodes"), *deg = jsonx_get(cl, "degraded");

	if (!json_object_is_type(cl, json_type_object))
		return;
	out_str(o, "cluster: node ");
	out_value(o, jsonx_get(cl, "node"), KIND_TEXT, now, false);
	out_str(o, " owns ");
	out_value(o, jsonx_get(cl, "owned"), KIND_COUNT, now, false);
	if (json_object_is_type(nodes, json_type_array))
		out_printf(o, " of the entries, %zu live node(s)", json_object_array_length(nodes));
	out_str(o, ", redis ");
	out_value(o, jsonx_get(cl, "redis"), KIND_TEXT, now, false);
	if (json_object_is_type(deg, json_type_boolean) && json_object_get_boolean(deg))
		out_str(o, ", DEGRADED: Redis unreachable, warming every target");
	out_str(o, "\n");
}

static void print_status_header(struct out *o, json_object *daemon, double now)
{
	json_object *paused = jsonx_get(daemon, "paused_all");

	out_str(o, "warmd ");
	out_value(o, jsonx_get(daemon, "version"), KIND_TEXT, now, false);
	out_str(o, " pid ");
	out_value(o, jsonx_get(daemon, "pid"), KIND_COUNT, now, false);
	out_str(o, ", up ");
	out_value(o, jsonx_get(daemon, "uptime_s"), KIND_DURATION, now, false);
	out_str(o, ", config ");
	out_value(o, jsonx_get(daemon, "config_file"), KIND_TEXT, now, false);
	out_str(o, ", ");
	out_value(o, jsonx_get(daemon, "inflight"), KIND_COUNT, now, false);
	out_str(o, " in flight");
	if (json_object_is_type(paused, json_type_boolean) && json_object_get_boolean(paused))
		out_str(o, ", ALL PAUSED");
	if (jsonx_is_int(jsonx_get(daemon, "sessions")) &&
	    json_object_get_int64(jsonx_get(daemon, "sessions")) > 0) {
		out_str(o, ", ");
		out_value(o, jsonx_get(daemon, "sessions"), KIND_COUNT, now, false);
		out_str(o, " sessions");
	}
	out_str(o, "\n");
	print_cluster_header(o, jsonx_get(daemon, "cluster"), now);
}

/* The table: every cell is formatted once into one buffer (NUL-terminated, found by offset,
 * row 0 holding the titles), then the widths are known and the rows are printed. */
/* An aligned table of n rows (JSON objects) under cols; the last column is not padded. */
static void print_table(struct out *o, json_object *rows, size_t n, const struct column *cols,
                        size_t NCOL, double now)
{
	struct out cells = { BUF_INIT, 0 };
	/* n is bounded by the answer's size (MAX_ANSWER_MIB). */
	size_t *width = xcalloc(NCOL, sizeof(size_t)),
	       *offs = xcalloc(n + 1, NCOL * sizeof(size_t));

	for (size_t row = 0; row <= n; row++) {
		json_object *t = row ? json_object_array_get_idx(rows, row - 1) : NULL;

		for (size_t c = 0; c < NCOL; c++) {
			offs[row * NCOL + c] = cells.b.len;
			if (row == 0)
				out_str(&cells, cols[c].title);
			else if (!json_object_is_type(t, json_type_object))
				out_str(&cells, "?");
			else
				out_value(&cells, jsonx_get(t, cols[c].key), cols[c].kind, now,
				          false);
			out_bytes(&cells, "", 1);
		}
	}
	if (cells.err < 0) {
		o->err = cells.err;
		goto out;
	}
	for (size_t i = 0; i < (n + 1) * NCOL; i++) {
		size_t w = text_width(cells.b.data + offs[i]);

		if (w > width[i % NCOL])
			width[i % NCOL] = w;
	}
	for (size_t row = 0; row <= n; row++) {
		for (size_t c = 0; c < NCOL; c++) {
			const char *s = cells.b.data + offs[row * NCOL + c];
			size_t pad = width[c] - text_width(s);

			if (c == NCOL - 1) {
				out_str(o, s);
				break;
			}
			if (cols[c].right)
				out_pad(o, pad);
			out_str(o, s);
			if (!cols[c].right)
				out_pad(o, pad);
			out_str(o, "  ");
		}
		out_str(o, "\n");
	}
out:
	buf_free(&cells.b);
	free(offs);
	free(width);
}

static void print_target_detail(struct out *o, json_object *t, double now)
{
	size_t keyw = 0;

	for (size_t i = 0; i < ARRAY_SIZE(target_fields); i++)
		if (strlen(target_fields[i].key) > keyw)
			keyw = strlen(target_fields[i].key);
	for (size_t i = 0; i < ARRAY_SIZE(target_fields); i++) {
		out_str(o, target_fields[i].key);
		out_str(o, ":");
		out_pad(o, keyw - strlen(target_fields[i].key) + 1);
		if (json_object_is_type(t, json_type_object))
			out_value(o, jsonx_get(t, target_fields[i].key), target_fields[i].kind, now,
			          true);
		else
			out_str(o, "?");
		out_str(o, "\n");
	}
	/* Only a cache warmd manages has one (Gemini cachedContents). */
	if (json_object_is_type(t, json_type_object) && jsonx_get(t, "cache_name")) {
		out_str(o, "cache_name:");
		out_pad(o, keyw - strlen("cache_name") + 1);
		out_value(o, jsonx_get(t, "cache_name"), KIND_TEXT, now, true);
		out_str(o, "\n");
	}
	/* A session (warmctl keep): until when it is kept. */
	if (json_object_is_type(t, json_type_object) &&
	    json_object_get_boolean(jsonx_get(t, "session"))) {
		out_str(o, "session:");
		out_pad(o, keyw - strlen("session") + 1);
		out_str(o, "yes (warmctl keep)\n");
		out_str(o, "keep_until:");
		out_pad(o, keyw - strlen("keep_until") + 1);
		out_value(o, jsonx_get(t, "keep_until"), KIND_TIME, now, true);
		out_str(o, "\n");
		out_str(o, "keep_for_s:");
		out_pad(o, keyw - strlen("keep_for_s") + 1);
		out_value(o, jsonx_get(t, "keep_for_s"), KIND_DURATION, now, true);
		out_str(o, "\n");
	}
}

static void print_status_cb(struct out *o, json_object *data, const struct cmdline *cl, double now)
{
	json_object *targets = jsonx_get(data, "targets");
	size_t n = json_object_is_type(targets, json_type_array) ? json_object_array_length(targets)
	                                                         : 0;

	if (!cl->target)
		print_status_header(o, jsonx_get(data, "daemon"), now);
	if (n == 0) {
		if (!cl->target)
			out_str(o, "\n");
		out_str(o, "no targets configured\n");
		return;
	}
	if (cl->target) {
		for (size_t i = 0; i < n; i++) {
			if (i)
				out_str(o, "\n");
			print_target_detail(o, json_object_array_get_idx(targets, i), now);
		}
		return;
	}
	out_str(o, "\n");
	print_table(o, targets, n, status_columns, ARRAY_SIZE(status_columns), now);
}

/* warm, pause, resume: the daemon says what it did. */
static void print_message_cb(struct out *o, json_object *data, const struct cmdline *cl, double now)
{
	out_value(o, jsonx_get(data, "message"), KIND_TEXT, now, false);
	out_str(o, "\n");
}

/* keep: what it did, why the next warm is when it is, and the warnings. */
static void print_keep_cb(struct out *o, json_object *data, const struct cmdline *cl, double now)
{
	json_object *w = jsonx_get(data, "warnings");

	print_message_cb(o, data, cl, now);
	out_str(o, "keep_until: ");
	out_value(o, jsonx_get(data, "keep_until"), KIND_TIME, now, true);
	out_str(o, "\nreason: ");
	out_value(o, jsonx_get(data, "reason"), KIND_TEXT, now, false);
	out_str(o, "\n");
	for (size_t i = 0;
	     json_object_is_type(w, json_type_array) && i < json_object_array_length(w); i++) {
		out_str(o, "warning: ");
		out_value(o, json_object_array_get_idx(w, i), KIND_TEXT, now, false);
		out_str(o, "\n");
	}
}

static void print_reload_cb(struct out *o, json_object *data, const struct cmdline *cl, double now)
{
	print_message_cb(o, data, cl, now);
	out_lines(o, jsonx_get(data, "warnings"));
}

static void print_metrics_cb(struct out *o, json_object *data, const struct cmdline *cl, double now)
{
	json_object *text = jsonx_get(data, "text");

	(void)cl;
	(void)now;
	/* Exactly the exposition, for promtool or a pipe. */
	if (text && json_object_is_type(text, json_type_string))
		out_bytes(o, json_object_get_string(text),
		          (size_t)json_object_get_string_len(text));
}

static void print_versions_cb(struct out *o, json_object *data, const struct cmdline *cl,
                              double now)
{
	json_object *versions = jsonx_get(data, "versions");
	size_t n = json_object_is_type(versions, json_type_array)
	                   ? json_object_array_length(versions)
	                   : 0;

	(void)cl;
	out_str(o, "target ");
	out_text(o, jsonx_get_str(data, "target") ? jsonx_get_str(data, "target") : "?");
	out_printf(o, ": %zu version%s, newest first\n\n", n, n == 1 ? "" : "s");
	print_table(o, versions, n, version_columns, ARRAY_SIZE(version_columns), now);
}

static void print_weights_cb(struct out *o, json_object *data, const struct cmdline *cl, double now)
{
	json_object *v = jsonx_get(data, "versions");
	size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;

	print_message_cb(o, data, cl, now);
	out_str(o, "\n");
	print_table(o, v, n, weight_columns, ARRAY_SIZE(weight_columns), now);
}

static void print_route_cb(struct out *o, json_object *data, const struct cmdline *cl, double now)
{
	(void)cl;
	/* One line an application can read: the lane to use and touch. */
	out_value(o, jsonx_get(data, "lane"), KIND_TEXT, now, false);
	out_str(o, "  version ");
	out_value(o, jsonx_get(data, "version"), KIND_TEXT, now, false);
	out_str(o, "  weight ");
	out_value(o, jsonx_get(data, "weight"), KIND_COUNT, now, false);
	out_str(o, "  ");
	out_value(o, jsonx_get(data, "state"), KIND_TEXT, now, false);
	if (jsonx_get(data, "cache_name")) { /* the cachedContent to name */
		out_str(o, "  cache ");
		out_value(o, jsonx_get(data, "cache_name"), KIND_TEXT, now, false);
	}
	out_str(o, "\n");
}

/* Each finding of the action plan in full, under its table row. */
static void print_findings_detail(struct out *o, json_object *plan, double now)
{
	static const struct {
		const char *label, *key;
	} parts[] = { { "what", "description" }, { "fix", "recommendation" } };

	for (size_t i = 0; i < json_object_array_length(plan); i++) {
		json_object *f = json_object_array_get_idx(plan, i);
		out_printf(o, "\n%zu. [", i + 1);
		out_value(o, jsonx_get(f, "severity"), KIND_TEXT, now, false);
		out_str(o, "] ");
		out_value(o, jsonx_get(f, "target"), KIND_TEXT, now, false);
		out_str(o, ": ");
		out_value(o, jsonx_get(f, "title"), KIND_TEXT, now, false);
		out_str(o, "\n");
		for (size_t k = 0; k < ARRAY_SIZE(parts); k++) {
			out_printf(o, "   %s: ", parts[k].label);
			out_value(o, jsonx_get(f, parts[k].key), KIND_TEXT, now, false);
			out_str(o, "\n");
		}
	}
}

static void print_audit_cb(struct out *o, json_object *data, const struct cmdline *cl, double now)
{
	json_object *findings = jsonx_get(data, "findings"), *plan = jsonx_get(data, "action_plan"),
	            *ready = jsonx_get(data, "readiness"), *items = jsonx_get(ready, "items");
	size_t nf = json_object_is_type(findings, json_type_array)
	                    ? json_object_array_length(findings)
	                    : 0,
	       np = json_object_is_type(plan, json_type_array) ? json_object_array_length(plan) : 0,
	       ni = json_object_is_type(items, json_type_array) ? json_object_array_length(items)
	                                                        : 0;

	(void)cl;
	out_str(o, "score ");
	out_value(o, jsonx_get(data, "score"), KIND_COUNT, now, false);
	out_str(o, "/100, grade ");
	out_value(o, jsonx_get(data, "grade"), KIND_TEXT, now, false);
	out_printf(o, ", %zu finding%s\n", nf, nf == 1 ? "" : "s");
	if (np) {
		out_str(o, "\naction plan (most severe first):\n");
		print_table(o, plan, np, finding_columns, ARRAY_SIZE(finding_columns), now);
		print_findings_detail(o, plan, now);
	}
	out_str(o, "\nproduction readiness ");
	out_value(o, jsonx_get(ready, "score"), KIND_COUNT, now, false);
	out_str(o, "/100:\n");
	print_table(o, items, ni, readiness_columns, ARRAY_SIZE(readiness_columns), now);
}

static void print_test_cb(struct out *o, json_object *data, const struct cmdline *cl, double now)
{
	json_object *reqs = jsonx_get(data, "requests"), *vars = jsonx_get(data, "variants");
	size_t n = json_object_is_type(reqs, json_type_array) ? json_object_array_length(reqs) : 0;

	(void)cl;
	out_str(o, "target ");
	out_value(o, jsonx_get(data, "target"), KIND_TEXT, now, false);
	out_printf(o, ": %zu request%s, one after another\n\n", n, n == 1 ? "" : "s");
	print_table(o, reqs, n, test_columns, ARRAY_SIZE(test_columns), now);
	out_str(o, "\nhit rate ");
	out_value(o, jsonx_get(data, "hit_rate"), KIND_PERCENT, now, false);
	out_str(o, ", first hit: request ");
	out_value(o, jsonx_get(data, "first_hit"), KIND_COUNT, now, false);
	out_str(o, "\nlatency: hit ");
	out_value(o, jsonx_get(data, "latency_hit_ms"), KIND_MS, now, false);
	out_str(o, ", write ");
	out_value(o, jsonx_get(data, "latency_write_ms"), KIND_MS, now, false);
	out_str(o, "\ncost per request: hit ");
	out_value(o, jsonx_get(data, "cost_hit_usd"), KIND_USD, now, true);
	out_str(o, ", write ");
	out_value(o, jsonx_get(data, "cost_write_usd"), KIND_USD, now, true);
	out_str(o, "\n");
	if (json_object_is_type(vars, json_type_array) && json_object_array_length(vars)) {
		out_str(o, "\nvariants (how much of the cached prefix each one kept):\n");
		print_table(o, vars, json_object_array_length(vars), variant_columns,
		            ARRAY_SIZE(variant_columns), now);
	}
}

/* The commands warmctl knows, in the order --help lists them. */
static const struct command commands[] = {
	{ PROTO_PING, "check that warmd answers", print_ping_cb },
	{ PROTO_STATUS, "all targets as a table, or one target in detail", print_status_cb },
	{ PROTO_WARM, "warm now, whatever the schedule says", print_message_cb },
	{ PROTO_PAUSE, "stop warming until resumed", print_message_cb },
	{ PROTO_RESUME, "warm again after a pause", print_message_cb },
	{ PROTO_RELOAD, "reload the configuration; exit 1 if it is rejected", print_reload_cb },
	{ PROTO_TOUCH, "report real traffic: the cache was just used", print_message_cb },
	{ PROTO_METRICS, "Prometheus text exposition of warmd's metrics", print_metrics_cb },
	{ PROTO_VERSIONS, "the target's versions: live ones, then history", print_versions_cb },
	{ PROTO_AUDIT, "caching audit: findings, score, readiness checklist", print_audit_cb },
	{ PROTO_TEST, "send N real requests and show that the cache hits", print_test_cb },
	{ PROTO_SHIFT, "give a version PERCENT of traffic (warmed first)", print_weights_cb },
	{ PROTO_PROMOTE, "give a version all traffic (warmed first)", print_weights_cb },
	{ PROTO_ROLLBACK, "restore the weights before the last shift/promote/rollback",
	  print_weights_cb },
	{ PROTO_ROUTE, "pick a version by weight (the lane to use and touch)", print_route_cb },
	{ PROTO_KEEP, "keep a session (a live conversation) warm for a while", print_keep_cb },
	{ PROTO_DROP, "end a session at once: no further warm", print_message_cb },
};

static const char *command_args(const struct command *c)
{
	if (c->cmd == PROTO_DROP)
		return "NAME"; /* a session's */
	switch (proto_cmd_info(c->cmd)->args) {
	case PROTO_ARGS_TARGET_OPT:
		return "[TARGET]";
	case PROTO_ARGS_TARGET_OR_ALL:
		return "TARGET|--all";
	case PROTO_ARGS_TOUCH:
		return "TARGET [--hit|--miss] [--cached N] [--input N]";
	case PROTO_ARGS_TARGET:
		return "TARGET";
	case PROTO_ARGS_TEST:
		return "TARGET [-n N] [--variant FILE]...";
	case PROTO_ARGS_VERSION:
		return "TARGET VERSION";
	case PROTO_ARGS_SHIFT:
		return "TARGET VERSION PERCENT";
	case PROTO_ARGS_KEEP:
		return "NAME --provider P (--request-file FILE | --body -) [--model M] "
		       "[--deployment D] [--ttl 5m] [--for 20m] [--priority N]";
	case PROTO_ARGS_NONE:
		break;
	}
	return "";
}

static void print_help(void)
{
	printf("%s\n\nAsk warmd, the daemon that keeps LLM prompt caches warm, to do something.\n"
	       "\nCommands:\n",
	       USAGE);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const char *name = proto_cmd_info(commands[i].cmd)->name;
		const char *args = command_args(&commands[i]);
		int w = printf("  %s%s%s", name, *args ? " " : "", args);

		if (w >= 24)
			printf("\n%24s%s\n", "", commands[i].help); /* long usage: help below */
		else
			printf("%*s%s\n", 24 - w, "", commands[i].help);
	}
	printf("\nOptions (before COMMAND; --json may also follow it):\n"
	       "  -s SOCKET   control socket (default: $WARMD_SOCKET, else %s)\n"
	       "  -t SECONDS  how long to wait for the answer (default %.0f; 1.5 or 2m work too)\n"
	       "  --json      print the daemon's JSON answer line unchanged\n"
	       "  -h, --help  show this help and exit\n"
	       "  --version   show the version and exit\n"
	       "Put -- before a TARGET that starts with '-'.\n"
	       "\nExit status:\n"
	       "  0  done\n"
	       "  1  the daemon refused the command (e.g. a rejected reload), or warmctl failed\n"
	       "  2  usage error\n"
	       "  3  cannot reach the daemon: no socket, no answer in time, or not a valid "
	       "answer\n",
	       DEFAULT_SOCKET, DEFAULT_TIMEOUT_S);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("warmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n" USAGE " (see warmctl --help)\n", stderr);
	return -EINVAL;
}

static const struct command *command_lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(proto_cmd_info(commands[i].cmd)->name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Reads the arguments after COMMAND: its TARGET or --all, and --json. */
static int parse_command_args(int argc, char **argv, int i, struct cmdline *cl)
{
	const char *name = proto_cmd_info(cl->command->cmd)->name;
	enum proto_args args = proto_cmd_info(cl->command->cmd)->args;
	bool options = true;

	for (; i < argc; i++) {
		const char *a = argv[i];

		if (options && strcmp(a, "--") == 0) {
			options = false;
		} else if (options && strcmp(a, "--json") == 0) {
			cl->json = true;
		} else if (options && args == PROTO_ARGS_TARGET_OR_ALL && strcmp(a, "--all") == 0) {
			cl->all = true;
		} else if (options && args == PROTO_ARGS_TOUCH &&
		           (strcmp(a, "--hit") == 0 || strcmp(a, "--miss") == 0)) {
			if (cl->result != PROTO_TOUCH_UNKNOWN)
				return usage_error("%s: give --hit or --miss once", name);
			cl->result = a[2] == 'h' ? PROTO_TOUCH_HIT : PROTO_TOUCH_MISS;
		} else if (options && args == PROTO_ARGS_TOUCH &&
		           (strcmp(a, "--cached") == 0 || strcmp(a, "--input") == 0)) {
			long long *dst = a[2] == 'c' ? &cl->cached : &cl->input;
			char *end;
			if (i + 1 >= argc)
				return usage_error("%s: %s needs a number", name, a);
			errno = 0;
			*dst = strtoll(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || *dst < 0)
				return usage_error("%s: %s needs a non-negative integer, not '%s'",
				                   name, a, argv[i]);
		} else if (options && args == PROTO_ARGS_TEST && strcmp(a, "-n") == 0) {
			char *end;
			if (i + 1 >= argc)
				return usage_error("%s: -n needs a number", name);
			errno = 0;
			cl->n = strtoll(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || cl->n < 1 ||
			    cl->n > PROTO_TEST_MAX_N)
				return usage_error("%s: -n needs a number from 1 to %d, not '%s'",
				                   name, PROTO_TEST_MAX_N, argv[i]);
		} else if (options && args == PROTO_ARGS_TEST && strcmp(a, "--variant") == 0) {
			if (i + 1 >= argc || !*argv[i + 1])
				return usage_error("%s: --variant needs a FILE", name);
			if (cl->nvariants == PROTO_TEST_MAX_VARIANTS)
				return usage_error("%s: at most %d --variant files", name,
				                   PROTO_TEST_MAX_VARIANTS);
			cl->variants[cl->nvariants++] = argv[++i];
		} else if (options && args == PROTO_ARGS_KEEP &&
		           (strcmp(a, "--provider") == 0 || strcmp(a, "--request-file") == 0 ||
		            strcmp(a, "--body") == 0 || strcmp(a, "--model") == 0 ||
		            strcmp(a, "--deployment") == 0)) {
			const char **dst = a[2] == 'p'   ? &cl->provider
			                   : a[2] == 'r' ? &cl->request_file
			                   : a[2] == 'm' ? &cl->model
			                   : a[2] == 'd' ? &cl->deployment
			                                 : &cl->body;
			if (i + 1 >= argc || !*argv[i + 1])
				return usage_error("%s: %s needs a value", name, a);
			if (*dst)
				return usage_error("%s: give %s once", name, a);
			*dst = argv[++i];
		} else if (options && args == PROTO_ARGS_KEEP &&
		           (strcmp(a, "--ttl") == 0 || strcmp(a, "--for") == 0)) {
			double *dst = a[2] == 't' ? &cl->ttl_s : &cl->for_s;
			if (i + 1 >= argc)
				return usage_error("%s: %s needs a duration", name, a);
			if (duration_parse(argv[++i], dst) < 0 || !(*dst > 0))
				return usage_error("%s: %s needs a duration such as 5m, 90s or 300 "
				                   "(seconds), more than 0, not '%s'",
				                   name, a, argv[i]);
		} else if (options && args == PROTO_ARGS_KEEP && strcmp(a, "--priority") == 0) {
			char *end;
			if (i + 1 >= argc)
				return usage_error("%s: --priority needs a number", name);
			errno = 0;
			cl->priority = strtoll(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || cl->priority < 0 ||
			    cl->priority > 1000000)
				return usage_error(
				        "%s: --priority needs a number from 0 to 1000000, "
				        "not '%s'",
				        name, argv[i]);
		} else if (options && a[0] == '-' && a[1] != '\0') {
			return usage_error("%s: unknown option '%s'", name, a);
		} else if (args == PROTO_ARGS_NONE) {
			return usage_error("%s takes no argument", name);
		} else if (*a == '\0') {
			return usage_error("%s: arguments must not be empty", name);
		} else if (!cl->target) {
			cl->target = a;
		} else if ((args == PROTO_ARGS_VERSION || args == PROTO_ARGS_SHIFT) &&
		           !cl->version) {
			cl->version = a;
		} else if (args == PROTO_ARGS_SHIFT && cl->percent < 0) {
			char *end;
			errno = 0;
			cl->percent = strtoll(a, &end, 10);
			if (end != a && *end == '%')
				end++; /* "50%" reads as it is meant */
			if (errno || end == a || *end || cl->percent < 0 || cl->percent > 100)
				return usage_error(
				        "%s: PERCENT must be a whole number from 0 to 100, "
				        "not '%s'",
				        name, a);
		} else {
			return usage_error("%s takes %s", name, command_args(cl->command));
		}
	}
	if ((args == PROTO_ARGS_VERSION || args == PROTO_ARGS_SHIFT) && !cl->version)
		return usage_error("%s needs %s", name, command_args(cl->command));
	if (args == PROTO_ARGS_SHIFT && cl->percent < 0)
		return usage_error("%s needs %s", name, command_args(cl->command));
	if ((args == PROTO_ARGS_TOUCH || args == PROTO_ARGS_TARGET || args == PROTO_ARGS_TEST ||
	     args == PROTO_ARGS_VERSION || args == PROTO_ARGS_SHIFT) &&
	    !cl->target)
		return usage_error("%s needs a TARGET", name);
	if (args == PROTO_ARGS_KEEP && !cl->target)
		return usage_error("%s needs a NAME", name);
	if (args == PROTO_ARGS_KEEP && !cl->provider)
		return usage_error("%s needs --provider P (one of warmd.conf's providers)", name);
	if (args == PROTO_ARGS_KEEP && !cl->request_file == !cl->body)
		return usage_error("%s needs the body: --request-file FILE or --body - (stdin), "
		                   "one of them",
		                   name);
	if (args == PROTO_ARGS_TARGET_OR_ALL && !cl->target && !cl->all)
		return usage_error("%s needs a TARGET or --all", name);
	if (cl->target && cl->all)
		return usage_error("%s takes a TARGET or --all, not both", name);
	return 0;
}

/* Fills ret from the command line. Returns 1 to go on, 0 when the work is done (--help,
 * --version), or -EINVAL after printing a usage error. */
static int parse_args(int argc, char **argv, struct cmdline *ret)
{
	enum { OPT_HELP = 256, OPT_VERSION, OPT_JSON };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("WARMD_SOCKET");
	struct cmdline cl = {
		.socket = env && *env ? env : DEFAULT_SOCKET,
		.timeout = DEFAULT_TIMEOUT_S,
		.result = PROTO_TOUCH_UNKNOWN,
		.cached = -1,
		.input = -1,
		.percent = -1,
		.n = -1,
		.priority = -1,
	};
	int c, r;

	/* '+': stop at COMMAND, whose own arguments may look like options. ':': we word the
	 * errors ourselves. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hs:t:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP:
			print_help();
			return 0;
		case OPT_VERSION:
			printf("warmctl %s\n", WARMD_VERSION);
			return 0;
		case OPT_JSON:
			cl.json = true;
			break;
		case 's':
			if (*optarg == '\0')
				return usage_error("-s needs a socket path");
			cl.socket = optarg;
			break;
		case 't':
			if (duration_parse(optarg, &cl.timeout) < 0 || !(cl.timeout > 0))
				return usage_error(
				        "-t needs a positive number of seconds, not '%s'", optarg);
			break;
		case ':':
			return usage_error("option -%c needs an argument", optopt);
		default:
			if (optopt > 0 && optopt < 256)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("no COMMAND given");
	cl.command = command_lookup(argv[optind]);
	if (!cl.command)
		return usage_error("unknown command '%s'", argv[optind]);
	r = parse_command_args(argc, argv, optind + 1, &cl);
	if (r < 0)
		return r;
	*ret = cl;
	return 1;
}

/* Makes blocking connect() and send() give up at the deadline: on a Unix socket they wait at
 * most SO_SNDTIMEO (connect waits while the daemon's listen backlog is full). */
static int ctl_set_send_timeout(struct ctl *c, struct errmsg *e)
{
	double left = c->deadline - clock_now(CLOCK_MONOTONIC);
	struct timeval tv;

	if (left < 0.001)
		left = 0.001; /* zero would mean "wait forever" */
	tv.tv_sec = (time_t)left;
	tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
	if (setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		int err = errno;
		return errmsg_set(e, -err, "cannot set a socket timeout: %s", strerror(err));
	}
	return 0;
}

static const char *connect_hint(int err)
{
	switch (err) {
	case ENOENT:
	case ECONNREFUSED:
		return " (is warmd running?)";
	case EACCES:
		return " (are you root or in the warmd group?)";
	default:
		return "";
	}
}

/* Opens c->fd. Returns 0, or a negative errno with the reason in e (c->fd is then -1). */
static int ctl_connect(struct ctl *c, struct errmsg *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(c->path);
	char span[64];
	int r, err;

	if (len >= sizeof(sa.sun_path))
		return errmsg_set(e, -ENAMETOOLONG, "cannot connect to %s: %s", c->path,
		                  strerror(ENAMETOOLONG));
	memcpy(sa.sun_path, c->path, len + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		err = errno;
		return errmsg_set(e, -err, "cannot create a socket: %s", strerror(err));
	}
	r = ctl_set_send_timeout(c, e);
	if (r < 0)
		goto fail;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	err = errno;
	if (err == EAGAIN)
		r = errmsg_set(e, -ETIMEDOUT, "cannot connect to %s: not accepted within %s",
		               c->path, span_format(c->timeout, span, sizeof(span)));
	else
		r = errmsg_set(e, -err, "cannot connect to %s: %s%s", c->path, strerror(err),
		               connect_hint(err));
fail:
	close(c->fd);
	c->fd = -1;
	return r;
}

static int ctl_send(struct ctl *c, const struct buf *req, struct errmsg *e)
{
	char span[64];
	size_t off = 0;
	int r = ctl_set_send_timeout(c, e);

	while (r == 0 && off < req->len) {
		/* MSG_NOSIGNAL: a daemon that hangs up must give EPIPE, not kill us. */
		ssize_t n = send(c->fd, req->data + off, req->len - off, MSG_NOSIGNAL);
		int err = errno;

		if (n >= 0)
			off += (size_t)n;
		else if (err == EAGAIN || err == EWOULDBLOCK)
			r = errmsg_set(e, -ETIMEDOUT, "%s: the request was not taken within %s",
			               c->path, span_format(c->timeout, span, sizeof(span)));
		else if (err != EINTR)
			r = errmsg_set(e, -err, "cannot send the request to %s: %s", c->path,
			               strerror(err));
	}
	return r;
}

/* How much one read() may take: a status answer for 10,000 targets is 5 MB. */
#define READ_CHUNK (256 * 1024)

/* Reads until the first complete line or the deadline, straight into
 * ret_line (no copy of a 5 MB answer); a CR before the newline is dropped,
 * and anything after the line is not ours. */
static int ctl_receive(struct ctl *c, struct buf *ret_line, struct errmsg *e)
{
	size_t start = ret_line->len;
	char span[64];
	bool done = false;
	int r = 0;

	while (r == 0 && !done) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		double left = c->deadline - clock_now(CLOCK_MONOTONIC);
		const char *nl;
		char *dst;
		ssize_t n;
		int err;

		if (left <= 0) {
			r = errmsg_set(e, -ETIMEDOUT, "no answer from %s within %s", c->path,
			               span_format(c->timeout, span, sizeof(span)));
			break;
		}
		n = poll(&p, 1, left * 1000 >= INT_MAX ? INT_MAX : (int)ceil(left * 1000));
		if (n < 0) {
			err = errno;
			if (err != EINTR)
				r = errmsg_set(e, -err, "cannot wait for %s: %s", c->path,
				               strerror(err));
			continue;
		}
		if (n == 0)
			continue; /* the deadline check above words the timeout */
		dst = buf_space(ret_line, READ_CHUNK);
		n = read(c->fd, dst, READ_CHUNK);
		err = errno;
		if (n < 0 && (err == EINTR || err == EAGAIN))
			continue;
		if (n < 0) {
			r = errmsg_set(e, -err, "cannot read the answer from %s: %s", c->path,
			               strerror(err));
			break;
		}
		if (n == 0) {
			r = errmsg_set(e, -ECONNRESET, "%s: the daemon closed the connection %s",
			               c->path,
			               ret_line->len > start ? "in the middle of its answer"
			                                     : "without answering");
			break;
		}
		nl = memchr(dst, '\n', (size_t)n);
		if (nl)
			n = nl - dst;
		if (ret_line->len - start + (size_t)n > MAX_ANSWER) {
			r = errmsg_set(e, -EMSGSIZE, "the answer from %s is longer than %d MiB",
			               c->path, MAX_ANSWER_MIB);
			break;
		}
		buf_wrote(ret_line, (size_t)n);
		if (nl) {
			/* Tolerate CRLF, as the daemon's own line reader does. */
			if (ret_line->len > start && ret_line->data[ret_line->len - 1] == '\r')
				ret_line->data[--ret_line->len] = '\0';
			done = true;
		}
	}
	return r;
}

/* Sends the request line req to the control socket and appends the answer line, without its
 * newline, to ret_line. Returns 0, or a negative errno with a message naming the socket in e
 * (-ENOMEM when warmctl itself ran out of memory). */
static int ctl_exchange(const char *path, double timeout, const struct buf *req,
                        struct buf *ret_line, struct errmsg *e)
{
	struct ctl c = {
		.path = path,
		.timeout = timeout,
		.deadline = clock_now(CLOCK_MONOTONIC) + timeout,
		.fd = -1,
	};
	int r;

	r = ctl_connect(&c, e);
	if (r < 0)
		return r;
	r = ctl_send(&c, req, e);
	if (r == 0)
		r = ctl_receive(&c, ret_line, e);
	close(c.fd);
	return r;
}

/* Shows an ok:false answer on stderr: "warmctl: CODE: MESSAGE", then each detail. */
static void print_refusal(struct out *o, json_object *resp, const char *code, const char *message)
{
	out_str(o, "warmctl: ");
	out_text(o, code ? code : "error");
	out_str(o, ": ");
	out_text(o, message ? message : "(no message)");
	out_str(o, "\n");
	out_lines(o, jsonx_get(jsonx_get(resp, "error"), "details"));
}

/* test --variant: each file's bytes go to the daemon (which may not be able
 * to read the caller's files), named as given. */
static int read_variants(const struct cmdline *cl, json_object **ret, struct errmsg *e)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; i < cl->nvariants; i++) {
		FILE *f = fopen(cl->variants[i], "r");
		struct buf b = BUF_INIT;
		char chunk[65536];
		size_t n;
		json_object *v;

		if (!f) {
			json_object_put(arr);
			return errmsg_set(e, -errno, "--variant %s: %s", cl->variants[i],
			                  strerror(errno));
		}
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= PROTO_MAX_LINE)
			if (buf_append(&b, chunk, n) < 0)
				break;
		fclose(f);
		if (b.len > PROTO_MAX_LINE) {
			buf_free(&b);
			json_object_put(arr);
			return errmsg_set(e, -EFBIG, "--variant %s: larger than %d bytes",
			                  cl->variants[i], PROTO_MAX_LINE);
		}
		v = json_object_new_object();
		jsonx_add_str(v, "file", cl->variants[i]);
		json_object_object_add(
		        v, "body", json_object_new_string_len(b.data ? b.data : "", (int)b.len));
		json_object_array_add(arr, v);
		buf_free(&b);
	}
	*ret = arr;
	return 0;
}

/* keep's body: --request-file FILE, --body - (stdin) or --body TEXT. At
 * most PROTO_MAX_LINE bytes: more cannot travel in one request line. */
static int read_body(const struct cmdline *cl, struct buf *ret, struct errmsg *e)
{
	const char *what = cl->request_file ? cl->request_file : "stdin";
	FILE *f = NULL;
	char chunk[65536];
	size_t n;

	if (cl->body && strcmp(cl->body, "-") != 0)
		return buf_append(ret, cl->body, strlen(cl->body));
	f = cl->request_file ? fopen(cl->request_file, "r") : stdin;
	if (!f)
		return errmsg_set(e, -errno, "--request-file %s: %s", what, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && ret->len <= PROTO_MAX_LINE)
		if (buf_append(ret, chunk, n) < 0)
			break;
	if (ferror(f)) {
		int err = errno ? errno : EIO;
		if (f != stdin)
			fclose(f);
		return errmsg_set(e, -err, "cannot read the body from %s: %s", what, strerror(err));
	}
	if (f != stdin)
		fclose(f);
	if (ret->len > PROTO_MAX_LINE)
		return errmsg_set(e, -EFBIG,
		                  "the body from %s is larger than %d bytes: one control request "
		                  "carries at most that much",
		                  what, PROTO_MAX_LINE);
	return 0;
}

/* keep's request line, checked against the protocol's line limit. */
static int encode_keep(const struct cmdline *cl, struct buf *req, struct errmsg *e)
{
	struct buf body = BUF_INIT;
	int r = read_body(cl, &body, e);

	if (r == 0)
		r = proto_request_encode_keep(req, cl->target, cl->provider,
		                              body.data ? body.data : "", body.len, cl->ttl_s,
		                              cl->for_s, cl->priority, cl->model, cl->deployment);
	if (r == 0 && req->len > PROTO_MAX_LINE + 1)
		r = errmsg_set(e, -EFBIG,
		               "the body is %zu bytes, %zu once JSON-escaped in the request line: "
		               "one control request carries at most %d bytes",
		               body.len, req->len - 1, PROTO_MAX_LINE);
	else if (r < 0 && r != -EFBIG && !e->text[0])
		errmsg_set(e, r, "cannot encode the request: %s", strerror(-r));
	buf_free(&body);
	return r;
}

int main(int argc, char **argv)
{
	struct buf req = BUF_INIT, line = BUF_INIT;
	struct out o = { BUF_INIT, 0 };
	json_object *resp = NULL, *data = NULL;
	const char *code = NULL, *message = NULL;
	struct cmdline cl;
	struct errmsg e;
	bool ok = false;
	int r, status;

	r = parse_args(argc, argv, &cl);
	if (r <= 0)
		return r == 0 ? EXIT_DONE : EXIT_USAGE;

	status = EXIT_REFUSED;
	if (cl.command->cmd == PROTO_KEEP) {
		e.text[0] = '\0';
		r = encode_keep(&cl, &req, &e);
		if (r < 0) {
			fprintf(stderr, "warmctl: %s\n", e.text);
			goto out;
		}
	} else if (cl.command->cmd == PROTO_TOUCH) {
		r = proto_request_encode_touch(&req, cl.target, cl.result, cl.cached, cl.input);
	} else if (cl.command->cmd == PROTO_TEST || cl.command->cmd == PROTO_SHIFT ||
	           cl.command->cmd == PROTO_PROMOTE) {
		json_object *variants = NULL;
		r = cl.nvariants ? read_variants(&cl, &variants, &e) : 0;
		if (r < 0) {
			fprintf(stderr, "warmctl: %s\n", e.text);
			goto out;
		}
		r = proto_request_encode_args(&req, cl.command->cmd, cl.target, cl.version,
		                              cl.percent, cl.n, variants);
		if (r == 0 && req.len > PROTO_MAX_LINE + 1) {
			fprintf(stderr,
			        "warmctl: the request is over %d bytes: the variant files are "
			        "too large to send\n",
			        PROTO_MAX_LINE);
			goto out;
		}
	} else {
		r = proto_request_encode(&req, cl.command->cmd, cl.target, cl.all);
	}
	if (r < 0) {
		fprintf(stderr, "warmctl: cannot encode the request: %s\n", strerror(-r));
		goto out;
	}
	r = ctl_exchange(cl.socket, cl.timeout, &req, &line, &e);
	if (r < 0) {
		fprintf(stderr, "warmctl: %s\n", e.text);
		status = r == -ENOMEM ? EXIT_REFUSED : EXIT_UNREACHABLE;
		goto out;
	}
	/* --json passes the line on unchanged: the verdict is all it needs. */
	if (cl.json)
		r = proto_response_peek(line.data, line.len, &ok) < 0
		            ? errmsg_set(&e, -EPROTO, "the answer is not a warmd response")
		            : 0;
	else
		r = proto_response_decode(line.data, line.len, &resp, &ok, &data, &code, &message,
		                          &e);
	if (r < 0) {
		fprintf(stderr, "warmctl: %s: %s\n", cl.socket, e.text);
		status = EXIT_UNREACHABLE;
		goto out;
	}

	if (cl.json) {
		/* The line as received, moved rather than copied (5 MB for 10,000 targets). */
		o.b = line;
		line = (struct buf)BUF_INIT;
		out_str(&o, "\n");
	} else if (ok) {
		cl.command->print(&o, data, &cl, clock_now(CLOCK_REALTIME));
	} else {
		print_refusal(&o, resp, code, message);
	}
	if (out_write(&o, ok || cl.json ? stdout : stderr) == 0)
		status = ok ? EXIT_DONE : EXIT_REFUSED;
out:
	json_object_put(resp);
	buf_free(&o.b);
	buf_free(&line);
	buf_free(&req);
	return status;
}
