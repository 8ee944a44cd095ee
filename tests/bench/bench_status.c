/* bench_status: how long the daemon takes to build and serialise the status
 * answer for N targets (the part of `warmctl status --json` warmd owns).
 *
 *   build/tests/bench_status [N]     (default 10000)
 *
 * Builds N targets the way daemon_apply does (no network), then times
 * the streamed encoding status_write() does (target_status_write(), one
 * target at a time straight into the answer), 20 runs; prints min / median.
 * It also times the encoding status used before, a json-c tree per target
 * serialised by jsonx_append(), and checks that both give the same bytes. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "breaker.h"
#include "buf.h"
#include "config.h"
#include "jsonx.h"
#include "policy.h"
#include "proto.h"
#include "status_ref.h"
#include "provider.h"
#include "target.h"
#include "template.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b);

/* Each target's status as a json-c tree, written by jsonx_append(): how
 * status was encoded before target_status_write() (tests/unit/status_ref.c). */
static void write_tree(const struct target *t, double now, struct buf *out)
{
	json_object *o = status_ref_tree(t, now, false);

	jsonx_append(out, o);
	json_object_put(o);
}

/* 20 runs of one encoding of the n targets: the median in ms; *ret_out
 * keeps the last answer. */
static double run(struct target **ts, size_t n, double t0, bool tree, struct buf *ret_out,
                  double *ret_min)
{
	double times[20];

	for (int r = 0; r < 20; r++) {
		double start = now_ms();
		struct buf out = BUF_INIT;
		proto_response_ok_open(&out);
		buf_puts(&out, "{\"targets\":[");
		for (size_t i = 0; i < n; i++) {
			if (i)
				buf_puts(&out, ",");
			if (tree)
				write_tree(ts[i], t0, &out);
			else
				target_status_write(ts[i], t0, false, &out);
		}
		buf_puts(&out, "]}");
		proto_response_ok_close(&out);
		times[r] = now_ms() - start;
		buf_free(ret_out);
		*ret_out = out;
	}
	qsort(times, 20, sizeof(double), cmp);
	*ret_min = times[0];
	return times[10];
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	struct cfg_provider cp = { .name = "anthropic",
		                   .kind = PROVIDER_ANTHROPIC,
		                   .base_url = "http://127.0.0.1:9",
		                   .max_inflight = 8 };
	struct provider *p = provider_new(&cp);
	struct target **ts = calloc(n, sizeof(*ts));
	double t0 = 1.8e9;

	for (size_t i = 0; i < n; i++) {
		struct tmpl *tm = calloc(1, sizeof(*tm));
		char name[32];
		snprintf(name, sizeof(name), "target-%05zu", i);
		tm->refs = 1;
		snprintf(tm->short_version, sizeof(tm->short_version), "%012zx", i * 7919);
		tm->model = strdup("claude-sonnet-4-5");
		tm->prefix_tokens_est = 2048;
		ts[i] = target_new(name);
		ts[i]->prov = provider_ref(p);
		ts[i]->tmpl = tm;
		ts[i]->ttl_s = 300;
		ts[i]->last_refresh = t0 - 100;
		ts[i]->expires_at = t0 + 200;
		ts[i]->next_warm_at = t0 + 196.5;
		ts[i]->warms = ts[i]->hits = 40 + i;
		ts[i]->writes = 1;
		snprintf(ts[i]->reason, sizeof(ts[i]->reason),
		         "always: warm 3.5s before expiry (margin 3.4s = floor 3.0s + p99 latency "
		         "412ms, spread 120ms)");
		/* Some of everything a status line shows, so that the two encodings
		 * are compared on more than one shape. */
		if (i % 3 == 0) {
			ts[i]->last_refresh = t0 - 100 - (double)i / 1000;
			ts[i]->next_warm_at = t0 + 196.5 + (double)(i % 1000) / 7;
		}
		if (i % 5 == 0) {
			ts[i]->errors = i;
			snprintf(ts[i]->last_error, sizeof(ts[i]->last_error),
			         "HTTP 529 overloaded_error: \"Overloaded\" (%zu)", i);
		}
		if (i % 7 == 0) {
			ts[i]->price = (const struct price *)ts[i]; /* only tested for NULL */
			ts[i]->cost_pico = (int64_t)i * 123456789;
			ts[i]->saved_pico = (int64_t)i * 987654321;
		}
		if (i % 11 == 0) {
			ts[i]->group = strdup("group");
			ts[i]->vname = i % 22 ? strdup("blue") : NULL;
			ts[i]->weight = (int)(i % 101);
			ts[i]->retire_at = t0 + 600.25;
		}
		ts[i]->ttl_s = i % 13 ? 300 : 3600.5;
	}
	{
		struct buf direct = BUF_INIT, tree = BUF_INIT;
		double min_d, min_t, med_t = run(ts, n, t0, true, &tree, &min_t);
		double med_d = run(ts, n, t0, false, &direct, &min_d);
		bool same = direct.len == tree.len && memcmp(direct.data, tree.data, tree.len) == 0;

		printf("status for %zu targets: min %.1f ms, median %.1f ms, %.1f MB "
		       "(a json-c tree per target: min %.1f ms, median %.1f ms); "
		       "the same bytes: %s\n",
		       n, min_d, med_d, (double)direct.len / 1e6, min_t, med_t,
		       same ? "yes" : "NO");
		buf_free(&direct);
		buf_free(&tree);
		if (!same)
			return 1;
	}
	for (size_t i = 0; i < n; i++)
		target_unref(ts[i]);
	free(ts);
	provider_unref(p);
	return 0;
}
