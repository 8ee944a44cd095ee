/* bench_status: how long the daemon takes to build and serialise the status
 * answer for N targets (the part of `warmctl status --json` warmd owns).
 *
 *   build/tests/bench_status [N]     (default 10000)
 *
 * Builds N targets the way daemon_apply does (no network), then times
 * the streamed encoding daemon_status_write() does (target_status_json()
 * and serialisation, one target at a time), 20 runs; prints min / median. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "jsonx.h"
#include "proto.h"
#include "provider.h"
#include "target.h"
#include "template.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
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
	double times[20], t0 = 1.8e9;
	size_t bytes = 0;

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
		ts[i]->warms = ts[i]->hits = 40;
		ts[i]->writes = 1;
		snprintf(ts[i]->reason, sizeof(ts[i]->reason),
		         "always: warm 3.5s before expiry (margin 3.4s = floor 3.0s + p99 latency "
		         "412ms, spread 120ms)");
	}
	for (int run = 0; run < 20; run++) {
		double start = now_ms();
		struct buf out = BUF_INIT;
		proto_response_ok_open(&out);
		buf_puts(&out, "{\"targets\":[");
		for (size_t i = 0; i < n; i++) {
			json_object *o = target_status_json(ts[i], t0, false);
			if (i)
				buf_puts(&out, ",");
			jsonx_append(&out, o);
			json_object_put(o);
		}
		buf_puts(&out, "]}");
		proto_response_ok_close(&out);
		times[run] = now_ms() - start;
		bytes = out.len;
		buf_free(&out);
	}
	qsort(times, 20, sizeof(double), cmp);
	printf("status for %zu targets: min %.1f ms, median %.1f ms, %.1f MB\n", n, times[0],
	       times[10], (double)bytes / 1e6);
	for (size_t i = 0; i < n; i++)
		target_unref(ts[i]);
	free(ts);
	provider_unref(p);
	return 0;
}
