/* audit_traffic: checks that weigh the traffic warmd saw: distinct cache
 * keys per provider (cache-keys), requests per prefix and key (key-rate),
 * gaps longer than the TTL (uncovered-gaps), and which Anthropic TTL costs
 * less (ttl-choice). */
#include "adapters.h"
#include "audit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_internal.h"
#include "duration.h"
#include "jsonx.h"
#include "pricing.h"
#include "xalloc.h"

#define RPM_WINDOW_S 900 /* key-rate looks at the last 15 minutes of touches */

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
const char *audit_cache_key_of(const struct audit_target *t, const struct shape *s)
{
	if (t->cache_key)
		return t->cache_key;
	return s && s->doc ? jsonx_get_str(s->doc, "prompt_cache_key") : NULL;
}

/* Each key keeps its own copy of a prefix on the provider's side: past a few
 * dozen per provider, most of them are cold most of the time. Sorting the
 * (provider, key) pairs counts distinct keys in O(n log n) for large fleets.
 * keys[i] is target i's key in effect, or NULL. */
void audit_check_cache_keys(struct audit *a, const struct audit_target *t, char *const *keys,
                            size_t n)
{
	struct pkey *v = xreallocarray(NULL, n, sizeof(*v));
	size_t m = 0, distinct = 0;

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
			audit_add(
			        a, NULL, v[i].provider, AUDIT_HIGH, C_CACHE_KEYS, "cache keys",
			        "hours",
			        audit_fmt(a, "Too many distinct cache keys on provider %s",
			                  v[i].provider),
			        audit_fmt(
			                a,
			                "Targets on provider %s use %zu distinct prompt_cache_key "
			                "values (more than %d). Each key keeps its own copy of the "
			                "prefix, so traffic spread this thin rarely finds a warm "
			                "one, and warmd spends a warm per key.",
			                v[i].provider, distinct, AUDIT_MAX_CACHE_KEYS),
			        audit_fmt(a, "Use fewer, coarser keys (per prompt and tenant "
			                     "group, not per user or session), so that each key "
			                     "sees steady traffic."));
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
void audit_check_key_rate(struct audit *a, const struct audit_target *t, const struct shape *s,
                          double now)
{
	const char *key = audit_cache_key_of(t, s);
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
	audit_add(
	        a, t, NULL, AUDIT_HIGH, C_KEY_RATE, "cache keys", "hours",
	        audit_fmt(a, "Prefix + cache key above ~%d requests/min", AUDIT_MAX_KEY_RPM),
	        audit_fmt(
	                a,
	                "%u requests reached this prefix%s%s%s within one minute (from %s, in the "
	                "last %d minutes). Above ~%d requests/min OpenAI routes the overflow to "
	                "machines that do not hold the prefix, so those requests miss the cache.",
	                peak, key ? " with prompt_cache_key \"" : " (no prompt_cache_key)",
	                key ? key : "", key ? "\"" : "", when, RPM_WINDOW_S / 60,
	                AUDIT_MAX_KEY_RPM),
	        audit_fmt(a,
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

void audit_check_gaps(struct audit *a, const struct audit_target *t)
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
	audit_add(a, t, NULL, AUDIT_MEDIUM, C_GAPS, "cache configuration", "minutes",
	          audit_fmt(a, "Traffic gaps longer than the TTL are not bridged"),
	          audit_fmt(a,
	                    "%u of %u gaps between real requests were longer than the %s TTL and "
	                    "not covered by warming (policy %s%s%s; longest such gap %s), so each "
	                    "ended with the next request writing the prefix again%s%s%s.",
	                    uncovered, t->ntouch - 1, dur(t->ttl_s, ttl, sizeof(ttl)),
	                    policy_name(t->policy),
	                    t->policy == POLICY_ALWAYS ? ", idle_limit " : "",
	                    t->policy == POLICY_ALWAYS ? dur(t->idle_limit_s, idle, sizeof(idle))
	                                               : "",
	                    dur(longest, lg, sizeof(lg)), extra[0] ? ": about " : "", extra,
	                    extra[0] ? " more than reads would have cost" : ""),
	          audit_fmt(a, "Let warmd bridge these gaps: policy = \"adaptive\" (warms only "
	                       "while that is cheaper than re-writing), \"always\" with a longer "
	                       "idle_limit, or a schedule that covers the traffic hours."));
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
void audit_check_ttl_choice(struct audit *a, const struct audit_target *t, bool *ret_cmp)
{
	struct prefix_prices pp;
	bool short_ttl = t->ttl_s <= 300;
	int64_t c5, c1h, cur, alt;
	char cur_s[32], alt_s[32], ttl[32];
	struct finding *f;

	*ret_cmp = false;
	if (!adapter_kind_anthropic_cache(t->kind) || t->ntouch < 2 || t->ttl_s <= 0 ||
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
	f = audit_add(
	        a, t, NULL, AUDIT_MEDIUM, C_TTL, "cache configuration", "minutes",
	        audit_fmt(a, "A %s TTL would be cheaper for this traffic", short_ttl ? "1h" : "5m"),
	        audit_fmt(a,
	                  "Over the %u requests seen, keeping a %ld-token prefix warm would have "
	                  "cost %s with the %s TTL and warming, against %s with a %s TTL (each gap "
	                  "either bridged with warms or re-written, whichever is cheaper).",
	                  t->ntouch, prefix_tokens(t), cur_s, dur(t->ttl_s, ttl, sizeof(ttl)),
	                  alt_s, short_ttl ? "1h" : "5m"),
	        audit_fmt(a,
	                  "Set ttl = \"%s\" on the target and \"ttl\": \"%s\" in the template's "
	                  "cache_control.",
	                  short_ttl ? "1h" : "5m", short_ttl ? "1h" : "5m"));
	f->has_costs = true;
	f->cost_cur = cur;
	f->cost_alt = alt;
}
