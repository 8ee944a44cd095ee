/* fuzz_cluster: what cluster mode reads from outside (core/redis_url.c,
 * core/cluster_proto.c): the Redis URL of warmd.conf, and the heartbeat,
 * warmth and weight records and entry ids other nodes (or anyone who can
 * write to the Redis) leave there. Every input goes to each parser.
 *
 * Invariants: a refusal says why; what parses formats into text that
 * parses back to the same values and formats to the same text again, so
 * two nodes that pass a record around agree on it. */
#include <math.h>

#include "cluster_proto.h"
#include "fuzz.h"
#include "redis_url.h"

static void check_url(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), out[1200], again[1200];
	struct redis_addr a, b;
	struct errmsg e = { .text = "" };
	int n;

	if (redis_url_parse(s, &a, &e) < 0) {
		if (!e.text[0])
			abort();
		free(s);
		return;
	}
	if (!memchr(a.host, '\0', sizeof(a.host)) || !memchr(a.user, '\0', sizeof(a.user)) ||
	    !a.host[0] || a.db < 0 || a.db > 100000 ||
	    (a.unix_socket ? a.port != 0 || a.host[0] != '/' || a.user[0]
	                   : a.port < 1 || a.port > 65535))
		abort();
	n = redis_url_format(&a, out, sizeof(out));
	if (n < 0 || (size_t)n >= sizeof(out) || redis_url_parse(out, &b, &e) < 0)
		abort();
	if (a.unix_socket != b.unix_socket || strcmp(a.host, b.host) != 0 || a.port != b.port ||
	    a.db != b.db || strcmp(a.user, b.user) != 0)
		abort();
	redis_url_format(&b, again, sizeof(again));
	if (strcmp(out, again) != 0)
		abort();
	free(s);
}

static void check_heartbeat(const char *s, size_t size)
{
	struct cluster_heartbeat h, g;
	struct errmsg e = { .text = "" };
	char out[128], again[128];
	int n;

	if (cluster_heartbeat_parse(s, size, &h, &e) < 0) {
		if (!e.text[0])
			abort();
		return;
	}
	n = cluster_heartbeat_format(&h, out, sizeof(out));
	if (n < 0 || (size_t)n >= sizeof(out) || cluster_heartbeat_parse(out, (size_t)n, &g, &e))
		abort();
	if (g.instance != h.instance || g.lease_ms != h.lease_ms || g.owned != h.owned ||
	    g.digest != h.digest)
		abort();
	cluster_heartbeat_format(&g, again, sizeof(again));
	if (strcmp(out, again) != 0)
		abort();
}

static void check_warmth(const char *s, size_t size)
{
	struct cluster_warmth w, v;
	struct errmsg e = { .text = "" };
	char out[256], again[256];
	int n;

	if (cluster_warmth_parse(s, size, &w, &e) < 0) {
		if (!e.text[0])
			abort();
		return;
	}
	if (!cluster_name_ok(w.node, strlen(w.node)) || !isfinite(w.last_refresh) ||
	    !isfinite(w.expires_at) || w.last_refresh < 0 || w.expires_at < 0)
		abort();
	n = cluster_warmth_format(&w, out, sizeof(out));
	if (n < 0 || (size_t)n >= sizeof(out) || cluster_warmth_parse(out, (size_t)n, &v, &e))
		abort();
	/* at most 3 decimals in, "%.3f" out: the same doubles exactly */
	if (strcmp(v.node, w.node) != 0 || v.last_refresh != w.last_refresh ||
	    v.expires_at != w.expires_at || v.prefix_tokens != w.prefix_tokens ||
	    v.result != w.result)
		abort();
	cluster_warmth_format(&v, again, sizeof(again));
	if (strcmp(out, again) != 0)
		abort();
}

static void check_weight_msg(const char *s, size_t size)
{
	struct errmsg e = { .text = "" };
	char lane[130], lane2[130], out[160];
	int w = -1, w2 = -1, n;

	if (cluster_weight_msg_parse(s, size, lane, &w, &e) < 0) {
		if (!e.text[0])
			abort();
		return;
	}
	if (!memchr(lane, '\0', sizeof(lane)) || !strchr(lane, '@') || w < 0 || w > 100)
		abort();
	n = snprintf(out, sizeof(out), "%s %d", lane, w);
	if (n < 0 || (size_t)n >= sizeof(out) ||
	    cluster_weight_msg_parse(out, (size_t)n, lane2, &w2, &e) < 0 ||
	    strcmp(lane, lane2) != 0 || w != w2)
		abort();
}

static void check_eid(const char *s, size_t size)
{
	uint64_t eid;
	char out[17];

	if (cluster_eid_parse(s, size, &eid) < 0)
		return;
	/* only the one spelling the formatter writes is accepted */
	cluster_eid_format(eid, out);
	if (size != 16 || memcmp(out, s, 16) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the records in an allocation of their exact size, so ASan catches a
	 * read past n (Redis hands over lengths, not NUL-terminated strings) */
	char *rec = malloc(size ? size : 1);

	if (!rec)
		abort();
	if (size)
		memcpy(rec, data, size);
	check_url(data, size);
	check_heartbeat(rec, size);
	check_warmth(rec, size);
	check_weight_msg(rec, size);
	check_eid(rec, size);
	free(rec);
	return 0;
}
