/* sim: warmd --simulate TRACE: the live scheduler and policies on virtual time. */
#include "adapters.h"
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapters.h"
#include "bounds.h"
#include "daemon.h"
#include "duration.h"
#include "jsonx.h"
#include "pricing.h"
#include "session.h"
#include "xalloc.h"

#define SIM_SEED 0x5eedULL

/* A trace row: a real request, or a session hint the application sends
 * (warmctl keep / drop, see hint()). */
enum req_kind { REQ_REQUEST, REQ_KEEP, REQ_DROP };

struct req {
	double t;
	size_t target; /* index into sim.x */
	long input;    /* tokens the request sent, -1 unknown */
	size_t order;  /* trace order, for a stable sort */
	enum req_kind kind;
	double keep_s; /* REQ_KEEP: keep_until = t + keep_s */
};

struct simentry;

/* One target's view of its cache, and its bill. */
struct simx {
	struct target *t;
	long prefix;      /* P: cached prefix tokens */
	int64_t r, w, in; /* pico-USD per token: read, write, plain input */
	double cache_exp; /* the modelled provider cache */
	double first, cov_start, cov_exp, covered;
	uint64_t requests, cold, warms, warm_writes;
	int64_t warm_cost, req_cost, miss_cost, tail_cost;
	struct simentry *e; /* its cache entry */
};

/* One provider cache entry: the targets share.c found sharing it (or one
 * target alone). The baselines are priced per entry, on the merged requests
 * of its targets: the provider keeps one cache for all of them, so pricing
 * each target as if it had its own would count the entry's writes and
 * bridging warms once per target, and put warmd below the hindsight optimum. */
struct simentry {
	struct simx *lead;    /* share.c's leader: its TTL and prices price the entry */
	struct simx **member; /* its targets, in name order */
	size_t n;
	double *times; /* the members' request times, merged (in time order) */
	size_t ntimes, tcap;
	char *label; /* PROVIDER/VERSION */
};

struct sim {
	struct daemon d;        /* only through daemon.h's functions */
	struct target_set *set; /* d's running set: what the simulation reads */
	struct clock *clk;      /* virtual; the daemon's scheduler runs on it */
	struct simx *x;
	size_t n;
	struct simentry *e; /* in the order of their first target's name */
	size_t ne;
	FILE *events;
	double start, end;
	bool saturated; /* a sum of money reached PRICING_MAX_PICO (said once) */
};

/* Every sum of money in the report: checked, saturating. */
static void add_money(struct sim *s, int64_t *acc, int64_t v)
{
	s->saturated |= pricing_add(acc, v);
}

static struct simx *find(struct sim *s, const struct target *t)
{
	for (size_t lo = 0, hi = s->n; lo < hi;) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->x[mid].t->name, t->name);
		if (c == 0)
			return &s->x[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The cache is refreshed at now: coverage bookkeeping and expiry. */
static void refresh(struct simx *x, double now)
{
	double ttl = x->t->ttl_s;

	if (x->first < 0) {
		x->first = x->cov_start = now;
	} else if (now > x->cov_exp) {
		x->covered += x->cov_exp - x->cov_start;
		x->cov_start = now;
	}
	x->cov_exp = x->cache_exp = now + ttl;
}

/* A warm or a request refreshed x's entry: every target that shares it
 * (the same prefix through the same provider) sees the refresh. */
static void refresh_entry(struct simx *x, double now)
{
	for (size_t i = 0; i < x->e->n; i++)
		refresh(x->e->member[i], now);
}

/* A request at now, in e's merged traffic (requests come in time order). */
static void entry_request(struct simentry *e, double now)
{
	if (e->ntimes == e->tcap) {
		e->tcap = e->tcap ? e->tcap * 2 : 256;
		e->times = xreallocarray(e->times, e->tcap, sizeof(*e->times));
	}
	e->times[e->ntimes++] = now;
}

/* PROVIDER/VERSION names an entry: share.c's key is the provider, the URL
 * and the version, but a version hashes the canonical prefix with its model,
 * and the URLs of one provider differ only by model or by endpoint (another
 * body shape, hence another version). */
static void label_entries(struct sim *s)
{
	for (size_t i = 0; i < s->ne; i++) {
		const struct target *t = s->e[i].lead->t;
		s->e[i].label = xasprintf("%s/%s", t->prov->name, t->tmpl->short_version);
	}
}

/* Groups the targets by cache entry, as share.c linked them when the
 * configuration was applied: a target and its leader are one entry. The
 * simulator asks share.c instead of comparing keys itself, so that it never
 * disagrees with the live scheduler about what is shared. */
static void link_entries(struct sim *s)
{
	s->e = xcalloc(s->n + 1, sizeof(*s->e));
	for (size_t i = 0; i < s->n; i++) {
		struct simx *x = &s->x[i];
		struct simx *lead = x->t->leader ? find(s, x->t->leader) : x;
		struct simentry *e = lead->e;

		if (!e) {
			e = lead->e = &s->e[s->ne++];
			e->lead = lead;
		}
		e->member = xreallocarray(e->member, e->n + 1, sizeof(*e->member));
		e->member[e->n++] = x;
		x->e = e;
	}
	label_entries(s);
}

static void event(struct sim *s, double now, const char *name, const char *ev, bool hit)
{
	if (s->events)
		fprintf(s->events, "%.3f,%s,%s,%s\n", now, name, ev, hit ? "hit" : "write");
}

/* sched_ops.fire: the modelled provider answers at once. */
static int sim_fire(void *data, struct target *t)
{
	struct sim *s = data;
	struct simx *x = find(s, t);
	double now = clock_now(s->set->clk);
	bool hit = now < x->cache_exp;
	int64_t cost = pricing_mul(x->prefix, hit ? x->r : x->w);
	struct sched_outcome o = { .result = hit ? WARM_HIT : WARM_WRITE, .sent_at = now };

	refresh_entry(x, now);
	x->warms++;
	x->warm_writes += !hit;
	add_money(s, &x->warm_cost, cost);
	t->warms++;
	t->hits += hit;
	t->writes += !hit;
	add_money(s, &t->cost_pico, cost);
	event(s, now, t->name, "warm", hit);
	sched_done(s->set->sched, t, &o);
	return 0;
}

/* ---- session hints ----
 *
 * A target the trace gives hints for (`time,target,keep=SECONDS`,
 * `time,target,drop`) is simulated as the sessions of an application that
 * sends them: warmed only while a keep is open, as warmd warms a session,
 * whatever the configuration's policy says. A keep counts as traffic, warms
 * at once unless the cache is warm for longer than the margin, and keeps
 * the target until keep_until = its time + SECONDS, which each request (a
 * touch) moves to its time + SECONDS too; inside, the adaptive policy runs
 * as for a session. A drop, or keep_until, ends it (keep_until as a gap
 * that never closed, for the policy to learn); no warm is sent until the
 * next keep. */

/* Between keeps: no warm of its own. The next session is another one, as
 * in warmd, where each is a target of its own: no gap spans the two. */
static void session_over(struct sim *s, struct target *t)
{
	t->last_traffic = 0;
	free(t->session);
	t->session = NULL;
	t->policy = POLICY_MANUAL;
	sched_plan(s->set->sched, t);
	sched_rearm(s->set->sched);
}

/* sched_ops.retire: a hinted target's keep_until came. */
static void sim_retire(void *data, struct target *t)
{
	if (!t->session)
		return;
	session_end_gap(t); /* it went quiet without a drop */
	session_over(data, t);
}

static void hint(struct sim *s, struct target *t, const struct req *q)
{
	double now = clock_now(s->set->clk);

	if (q->kind == REQ_DROP) {
		if (t->session)
			session_over(s, t);
		return;
	}
	if (!t->session) {
		t->session = xcalloc(1, sizeof(*t->session));
		t->policy = POLICY_ADAPTIVE;
	}
	if (!t->gaps)
		t->gaps = xcalloc(1, sizeof(*t->gaps));
	t->session->for_s = q->keep_s;
	t->session->keep_until = now + q->keep_s;
	sched_note_traffic(s->set->sched, t);
	session_keep_warm(s->set->sched, t, now);
	sched_rearm(s->set->sched);
}

static const struct sched_ops sim_ops = { .fire = sim_fire, .retire = sim_retire };

static int cmp_req(const void *a, const void *b)
{
	const struct req *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* A row's third column: input_tokens (a request), keep=SECONDS or drop. */
static int read_third(const char *v, long *ret_input, enum req_kind *ret_kind, double *ret_keep)
{
	char *end;
	long input;

	if (strcmp(v, "drop") == 0) {
		*ret_kind = REQ_DROP;
		return 0;
	}
	if (strncmp(v, "keep=", 5) == 0) {
		if (duration_parse(v + 5, ret_keep) < 0 || !(*ret_keep > 0))
			return -EINVAL;
		*ret_kind = REQ_KEEP;
		return 0;
	}
	errno = 0;
	input = strtol(v, &end, 10);
	if (end == v || *end || errno || input < 0 || input > BOUNDS_MAX_TOKENS)
		return -EINVAL;
	*ret_input = input;
	return 0;
}

static int read_trace(struct sim *s, const char *path, struct req **ret, size_t *ret_n, FILE *err)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	struct req *v = NULL;
	size_t n = 0, cap = 0, nrequests = 0;
	int lineno = 0, errors = 0;

	if (!f) {
		fprintf(err, "%s: error: cannot read trace: %s\n", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end, *name, *comma;
		struct target *t;
		double ts, keep_s;
		long input = -1;
		enum req_kind kind;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			continue;
		ts = strtod(p, &end);
		if (end == p || *end != ',') {
			if (lineno == 1 && strncmp(p, "time", 4) == 0)
				continue; /* a CSV header */
			fprintf(err,
			        "%s:%d: error: expected unix_seconds,target[,input_tokens|keep="
			        "SECONDS|drop]\n",
			        path, lineno);
			errors++;
			continue;
		}
		if (!(ts >= 0 && ts <= BOUNDS_MAX_TIME)) { /* NaN too */
			fprintf(err, "%s:%d: error: unix_seconds must be from 0 to %.0f\n", path,
			        lineno, BOUNDS_MAX_TIME);
			errors++;
			continue;
		}
		name = end + 1;
		comma = strchr(name, ',');
		kind = REQ_REQUEST;
		keep_s = 0;
		if (comma) {
			*comma = '\0';
			if (read_third(comma + 1, &input, &kind, &keep_s) < 0) {
				const char *col = comma + 1;
				if (strncmp(col, "keep=", 5) == 0)
					fprintf(err,
					        "%s:%d: error: keep= must be a duration more than "
					        "0 "
					        "and at most a year (a bare number is seconds)\n",
					        path, lineno);
				else if (*col >= '0' && *col <= '9')
					fprintf(err,
					        "%s:%d: error: input_tokens must be a whole number "
					        "from 0 to %lld\n",
					        path, lineno, (long long)BOUNDS_MAX_TOKENS);
				else
					fprintf(err,
					        "%s:%d: error: the third column must be "
					        "input_tokens, "
					        "keep=SECONDS or drop, not \"%.32s\"\n",
					        path, lineno, col);
				errors++;
				continue;
			}
		}
		t = target_set_find(s->set, name);
		if (!t) {
			fprintf(err,
			        "%s:%d: error: no target named \"%.64s\" in the configuration\n",
			        path, lineno, name);
			errors++;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n] = (struct req){ ts, (size_t)(find(s, t) - s->x), input, n, kind, keep_s };
		nrequests += kind == REQ_REQUEST;
		n++;
	}
	fclose(f);
	if (errors) {
		free(v);
		return -EINVAL;
	}
	if (nrequests == 0) {
		fprintf(err, "%s: error: the trace has no requests\n", path);
		free(v);
		return -EINVAL;
	}
	qsort(v, n, sizeof(*v), cmp_req);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Per-token prices for x: the table's, else typical ones for the provider. */
static void prices(struct simx *x, FILE *err)
{
	const struct price *pr = x->t->price;

	if (pr) {
		x->r = pr->cache_read;
		x->w = x->t->ttl_s > 300 ? pr->cache_write_1h : pr->cache_write;
		x->in = pr->input;
		return;
	}
	if (adapter_kind_breakpoints(x->t->prov->kind)) {
		x->in = 3000000, x->r = 300000, x->w = x->t->ttl_s > 300 ? 6000000 : 3750000;
	} else {
		x->in = 1250000, x->r = 125000, x->w = 1250000;
	}
	fprintf(err, "warning: no price for model %s of target %s: assuming %s's usual ratios\n",
	        x->t->tmpl->model ? x->t->tmpl->model : "?", x->t->name,
	        provider_kind_name(x->t->prov->kind));
}

struct baselines {
	int64_t none, fixed, oracle;
};

/* The baselines of entry e, on its targets' merged requests (without the
 * input beyond the prefix, which every policy pays alike). */
static struct baselines baselines(const struct simentry *e, double start, double end)
{
	const struct simx *x = e->lead;
	struct baselines b = { 0, 0, 0 };
	double T = x->t->ttl_s;
	int64_t r = pricing_mul(x->prefix, x->r), w = pricing_mul(x->prefix, x->w);
	int64_t bridge = w > r ? w - r : 0; /* both within [0, PRICING_MAX_PICO] */

	if (e->ntimes == 0)
		return b;
	b.none = b.oracle = w; /* the first request writes */
	for (size_t i = 1; i < e->ntimes; i++) {
		double g = e->times[i] - e->times[i - 1];
		int64_t kr;

		if (g <= T) {
			b.none = pricing_sum(b.none, r);
			b.oracle = pricing_sum(b.oracle, r);
			continue;
		}
		/* k - 1 warms bridge the gap, or the request writes again: the
		 * cheaper. Times are bounded (BOUNDS_MAX_TIME), so k fits. */
		kr = pricing_mul((int64_t)ceil(g / T) - 1, r);
		b.none = pricing_sum(b.none, w);
		b.oracle = pricing_sum(b.oracle, pricing_sum(kr < bridge ? kr : bridge, r));
	}
	/* A warm every TTL/2 around the clock, from the start of the trace to
	 * its end: the first one writes, the rest and every request read. */
	b.fixed = pricing_sum(w, pricing_mul((int64_t)floor((end - start) / (T / 2)), r));
	b.fixed = pricing_sum(b.fixed, pricing_mul((int64_t)e->ntimes, r));
	return b;
}

/* A report row's figures: a target's, an entry's (its targets' sums) or the
 * total (the entries' sums). */
struct row {
	uint64_t requests, warms, cold;
	double covered, span; /* coverage = covered / span */
	int64_t warm, miss, total;
};

static void row_add(struct sim *s, struct row *acc, const struct row *r)
{
	acc->requests += r->requests, acc->warms += r->warms, acc->cold += r->cold;
	acc->covered += r->covered, acc->span += r->span;
	add_money(s, &acc->warm, r->warm);
	add_money(s, &acc->miss, r->miss);
	add_money(s, &acc->total, r->total);
}

/* Ends every target's coverage at the trace's last request. */
static void close_coverage(struct sim *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct simx *x = &s->x[i];
		if (x->first >= 0)
			x->covered += fmin(x->cov_exp, s->end) - x->cov_start;
	}
}

static struct row target_row(const struct sim *s, const struct simx *x)
{
	return (struct row){
		.requests = x->requests,
		.warms = x->warms,
		.cold = x->cold,
		.covered = x->covered,
		.span = x->first >= 0 ? s->end - x->first : 0,
		.warm = x->warm_cost,
		.miss = x->miss_cost,
		.total = pricing_sum(pricing_sum(x->warm_cost, x->req_cost), x->tail_cost),
	};
}

/* e's figures, its targets' sums, and its baselines. Its coverage is its
 * leader's: every target of the entry sees the same refreshes. */
static struct row entry_row(struct sim *s, const struct simentry *e, struct baselines *ret_b)
{
	struct row r = { 0 }, lead = target_row(s, e->lead);
	struct baselines b = baselines(e, s->start, s->end);

	for (size_t i = 0; i < e->n; i++) {
		struct row m = target_row(s, e->member[i]);
		row_add(s, &r, &m);
		/* The input beyond the prefix costs every policy the same. */
		add_money(s, &b.none, e->member[i]->tail_cost);
		add_money(s, &b.fixed, e->member[i]->tail_cost);
		add_money(s, &b.oracle, e->member[i]->tail_cost);
	}
	r.covered = lead.covered, r.span = lead.span;
	*ret_b = b;
	return r;
}

static json_object *usd(int64_t pico)
{
	json_object *o = json_object_new_object(), *v;

	jsonx_add_usd(o, "v", pico);
	v = json_object_get(json_object_object_get(o, "v"));
	json_object_put(o);
	return v;
}

/* Adds r's members to o, and b's (the baselines) unless b is NULL. */
static void row_fill(json_object *o, const struct row *r, const struct baselines *b)
{
	json_object *base;

	jsonx_add_int(o, "requests", (int64_t)r->requests);
	jsonx_add_int(o, "warms", (int64_t)r->warms);
	jsonx_add_int(o, "cold_requests", (int64_t)r->cold);
	jsonx_add_double(o, "coverage", r->span > 0 ? round(r->covered / r->span * 1e4) / 1e4 : 0);
	json_object_object_add(o, "warm_cost_usd", usd(r->warm));
	json_object_object_add(o, "miss_cost_usd", usd(r->miss));
	json_object_object_add(o, "total_cost_usd", usd(r->total));
	if (!b)
		return;
	base = json_object_new_object();
	json_object_object_add(base, "no_warming", usd(b->none));
	json_object_object_add(base, "fixed_interval", usd(b->fixed));
	json_object_object_add(base, "oracle", usd(b->oracle));
	json_object_object_add(o, "baselines", base);
	jsonx_add_double(o, "cost_vs_oracle",
	                 b->oracle > 0 ? round((double)r->total / (double)b->oracle * 1e4) / 1e4
	                               : 0);
}

static const char *member_str(json_object *o, const char *key)
{
	json_object *v = o ? json_object_object_get(o, key) : NULL;

	return v ? json_object_get_string(v) : "-";
}

static void print_row(FILE *out, int width, const char *indent, const char *label, json_object *o)
{
	json_object *b = json_object_object_get(o, "baselines");

	fprintf(out, "%s%-*s %8s %7s %6s %8s %12s %12s %12s %12s %12s %12s %7s\n", indent,
	        width - (int)strlen(indent), label, member_str(o, "requests"),
	        member_str(o, "warms"), member_str(o, "cold_requests"), member_str(o, "coverage"),
	        member_str(o, "warm_cost_usd"), member_str(o, "miss_cost_usd"),
	        member_str(o, "total_cost_usd"), member_str(b, "no_warming"),
	        member_str(b, "fixed_interval"), member_str(b, "oracle"),
	        member_str(b ? o : NULL, "cost_vs_oracle"));
}

/* The table: an entry of one target is that target's row; a shared entry is
 * its own row, with its targets' rows under it (their costs, not baselines:
 * only the entry has a cache to price). */
static void print_table(const struct sim *s, json_object *root, FILE *out)
{
	json_object *targets = json_object_object_get(root, "targets");
	json_object *entries = json_object_object_get(root, "entries");
	int width = 20;

	for (size_t i = 0; i < s->ne; i++) {
		const struct simentry *e = &s->e[i];
		if (e->n > 1 && (int)strlen(e->label) > width)
			width = (int)strlen(e->label);
		for (size_t k = 0; k < e->n; k++) {
			int w = (int)strlen(e->member[k]->t->name) + (e->n > 1 ? 2 : 0);
			if (w > width)
				width = w;
		}
	}
	fprintf(out, "%-*s %8s %7s %6s %8s %12s %12s %12s %12s %12s %12s %7s\n", width, "TARGET",
	        "REQUESTS", "WARMS", "COLD", "COVERAGE", "WARM_USD", "MISS_USD", "TOTAL_USD",
	        "NO_WARMING", "FIXED_TTL/2", "ORACLE", "÷ORACLE");
	for (size_t i = 0; i < s->ne; i++) {
		const struct simentry *e = &s->e[i];
		if (e->n > 1)
			print_row(out, width, "", e->label, json_object_array_get_idx(entries, i));
		for (size_t k = 0; k < e->n; k++)
			print_row(
			        out, width, e->n > 1 ? "  " : "", e->member[k]->t->name,
			        json_object_array_get_idx(targets, (size_t)(e->member[k] - s->x)));
	}
	print_row(out, width, "", "TOTAL", json_object_object_get(root, "total"));
}

/* The report: targets (a target alone in its entry carries the entry's
 * baselines), entries, and the total, which sums the entries. */
static void report(struct sim *s, bool json, FILE *out)
{
	json_object *root = json_object_new_object(), *targets = json_object_new_array();
	json_object *entries = json_object_new_array(), *total = json_object_new_object();
	struct baselines tb = { 0, 0, 0 }, *eb = xcalloc(s->ne + 1, sizeof(*eb));
	struct row tr = { 0 };

	close_coverage(s);
	for (size_t i = 0; i < s->ne; i++) {
		const struct simentry *e = &s->e[i];
		json_object *o = json_object_new_object(), *names = json_object_new_array();
		struct row r = entry_row(s, e, &eb[i]);

		jsonx_add_str(o, "entry", e->label);
		jsonx_add_str(o, "provider", e->lead->t->prov->name);
		jsonx_add_str(o, "version", e->lead->t->tmpl->short_version);
		for (size_t k = 0; k < e->n; k++)
			json_object_array_add(names, json_object_new_string(e->member[k]->t->name));
		json_object_object_add(o, "targets", names);
		row_fill(o, &r, &eb[i]);
		json_object_array_add(entries, o);
		row_add(s, &tr, &r);
		add_money(s, &tb.none, eb[i].none);
		add_money(s, &tb.fixed, eb[i].fixed);
		add_money(s, &tb.oracle, eb[i].oracle);
	}
	row_fill(total, &tr, &tb);
	for (size_t i = 0; i < s->n; i++) {
		const struct simx *x = &s->x[i];
		json_object *o = json_object_new_object();
		struct row r = target_row(s, x);

		jsonx_add_str(o, "target", x->t->name);
		jsonx_add_str(o, "entry", x->e->label);
		row_fill(o, &r, x->e->n == 1 ? &eb[x->e - s->e] : NULL);
		json_object_array_add(targets, o);
	}
	free(eb);
	json_object_object_add(root, "targets", targets);
	json_object_object_add(root, "entries", entries);
	json_object_object_add(root, "total", total);
	if (json)
		fprintf(out, "%s\n",
		        json_object_to_json_string_ext(
		                root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_table(s, root, out);
	json_object_put(root);
}

static void sim_fini(struct sim *s)
{
	for (size_t i = 0; i < s->n; i++) { /* a hinted target's keep still open */
		free(s->x[i].t->session);
		s->x[i].t->session = NULL;
	}
	daemon_fini(&s->d);
	clock_virtual_free(s->clk);
	for (size_t i = 0; i < s->ne; i++) {
		free(s->e[i].member);
		free(s->e[i].times);
		free(s->e[i].label);
	}
	free(s->e);
	free(s->x);
}

int sim_run(const char *config_path, const char *trace_path, const char *events_path, bool json,
            FILE *out, FILE *err)
{
	struct diags diags = { 0 };
	struct staging *st;
	struct req *reqs = NULL;
	struct sim s;
	size_t nreq = 0;
	int rc = 1;

	memset(&s, 0, sizeof(s));
	if (daemon_stage_offline(config_path, &diags, &st) < 0) {
		diags_print(&diags, err);
		diags_free(&diags);
		return 1;
	}
	diags_free(&diags);
	s.clk = clock_virtual_new(0);
	daemon_init_offline(&s.d, s.clk, &sim_ops, &s, SIM_SEED);
	s.set = &s.d.set;
	/* The targets exist before the trace is read (it names them); the clock
	 * starts at the first request, when they are planned. */
	sched_pause_all(s.set->sched, true);
	daemon_apply(&s.d, st, NULL);
	s.n = s.set->ntargets;
	s.x = xcalloc(s.n + 1, sizeof(*s.x));
	for (size_t i = 0; i < s.n; i++) {
		s.x[i].t = s.set->targets[i];
		s.x[i].prefix = s.set->targets[i]->tmpl->prefix_tokens_est;
		s.x[i].first = -1;
		prices(&s.x[i], err);
	}
	link_entries(&s);
	if (read_trace(&s, trace_path, &reqs, &nreq, err) < 0)
		goto out;
	if (events_path) {
		s.events = fopen(events_path, "we");
		if (!s.events) {
			fprintf(err, "%s: error: cannot write events: %s\n", events_path,
			        strerror(errno));
			goto out;
		}
		fprintf(s.events, "time,target,event,result\n");
	}
	clock_virtual_advance(s.clk, reqs[0].t);
	sched_pause_all(s.set->sched, false);
	for (size_t i = 0; i < nreq; i++) /* hinted: warmed only while a keep is open */
		if (reqs[i].kind != REQ_REQUEST)
			s.x[reqs[i].target].t->policy = POLICY_MANUAL;
	for (size_t i = 0; i < s.n; i++) {
		s.set->targets[i]->last_touch = reqs[0].t; /* idle_limit counts from the start */
		sched_plan(s.set->sched, s.set->targets[i]);
	}
	sched_rearm(s.set->sched);
	s.start = reqs[0].t;
	s.end = reqs[nreq - 1].t;
	for (size_t i = 0; i < nreq; i++) {
		struct simx *x = &s.x[reqs[i].target];
		double now = reqs[i].t;
		bool hit;

		clock_virtual_advance(s.clk, now); /* every warm due before it goes first */
		if (reqs[i].kind != REQ_REQUEST) {
			hint(&s, x->t, &reqs[i]);
			continue;
		}
		sessions_touched(s.set->sessions, x->t, now); /* a hinted one's keep_until */
		hit = now < x->cache_exp;
		refresh_entry(x, now);
		x->requests++;
		x->cold += !hit;
		add_money(&s, &x->req_cost, pricing_mul(x->prefix, hit ? x->r : x->w));
		if (!hit)
			add_money(&s, &x->miss_cost, pricing_mul(x->prefix, x->w - x->r));
		if (reqs[i].input > x->prefix)
			add_money(&s, &x->tail_cost, pricing_mul(reqs[i].input - x->prefix, x->in));
		entry_request(x->e, now);
		event(&s, now, x->t->name, "request", hit);
		x->t->touches++;
		sched_touch(s.set->sched, x->t); /* real traffic, as a touch */
	}
	report(&s, json, out);
	if (s.saturated)
		fprintf(err,
		        "warning: a cost reached $%.0f, where warmd's sums of money stop; the "
		        "figures at that value are lower than the real ones\n",
		        pricing_usd(PRICING_MAX_PICO));
	rc = 0;
out:
	if (s.events && fclose(s.events) != 0) {
		fprintf(err, "%s: error: cannot write events: %s\n", events_path, strerror(errno));
		rc = 1;
	}
	free(reqs);
	sim_fini(&s);
	return rc;
}
