/* pricing: what tokens cost, per model, exactly.
 *
 * Prices come from the shipped, dated table (config/pricing.conf) with the
 * operator's `pricing = ( ... )` entries over it. Money is kept in integer
 * picodollars (1e-12 USD) per token, so sums of millions of warms stay exact;
 * a price of $0.0375 per million tokens is 37,500 pico-USD per token.
 *
 * Prices are bounded when read (common/bounds.h), and every product and sum
 * of money below is checked: a figure saturates at PRICING_MAX_PICO instead
 * of wrapping, so no input can turn a cost or a saving negative. */
#ifndef WARMD_PRICING_H
#define WARMD_PRICING_H

#include <stdbool.h>
#include <stdint.h>

#include "adapter.h"
#include "bounds.h"
#include "diag.h"

#define PICO_PER_USD     1000000000000LL
#define PRICING_MAX_PICO BOUNDS_MAX_PICO /* where money saturates ($4,000,000) */

struct price {
	char *model; /* the model, or a prefix of the family */
	/* Where the price holds: providers of this kind ("vertex") and in this
	 * region ("global"); NULL: any (a cloud may price by region). */
	char *kind;
	char *region;
	int64_t input, cache_write, cache_write_1h, cache_read, output; /* pico-USD per token */
	bool has_write_1h;
	/* Keeping an explicit cache (Gemini's cachedContents), pico-USD per
	 * token per hour (the table's USD per million tokens per hour); 0 when
	 * the table has none. */
	int64_t storage;
	bool has_storage;
};

struct pricing {
	struct price *v;
	size_t n;
	char *as_of;
};

/* Reads a pricing file (libconfig: as_of = "..."; pricing = ( {...} );).
 * A price above BOUNDS_MAX_USD_PER_MTOK is an error. Problems go to d with FILE:LINE; returns 0 or -EINVAL. */
int pricing_load(const char *path, struct diags *d, struct pricing **ret);
/* Reads `pricing = ( ... )` entries from a config setting (warmd.conf's
 * overrides) into p, replacing entries of the same model. */
int pricing_merge_setting(struct pricing *p, void *libconfig_setting, const char *file,
                          struct diags *d);
/* Copies src's entries into dst (replacing the same models). */
void pricing_add_all(struct pricing *dst, const struct pricing *src);
void pricing_free(struct pricing *p);

/* The entry whose model is the longest prefix of model, or NULL. Entries
 * for a kind or a region only are left out. */
const struct price *pricing_find(const struct pricing *p, const char *model);

/* The same for a provider of kind in region (either NULL: unknown): among
 * the entries for any kind or that kind, and for any region or that one,
 * the longest model prefix wins; at equal length the more specific entry
 * (kind and region, then kind, then neither). */
const struct price *pricing_find_for(const struct pricing *p, const char *kind, const char *region,
                                     const char *model);

/* What one answer's usage cost, in pico-USD. A cache write is priced at the
 * 1 h rate when ttl_s > 300 (and the table has one); providers that do not
 * bill writes (no cache_write price) charge them as plain input. Saturates
 * at PRICING_MAX_PICO; negative counts cost nothing. */
int64_t pricing_cost(const struct price *pr, const struct warm_usage *u, double ttl_s);

/* Cost of a prefix of tokens read from / written to the cache, and as plain
 * input (for savings and the simulator). Saturate like pricing_cost. */
int64_t pricing_read(const struct price *pr, int64_t tokens);
int64_t pricing_write(const struct price *pr, int64_t tokens, double ttl_s);
/* What keeping tokens in an explicit cache for seconds costs (storage is
 * billed by the hour, prorated). Saturates like pricing_cost; 0 for a
 * non-positive count or time. */
int64_t pricing_storage(const struct price *pr, int64_t tokens, double seconds);
/* For a cache billed by the hour (Gemini's cachedContents) and the adaptive
 * policy: what keeping it ttl_s more costs (storage) and what creating it
 * again costs (its tokens as input), per token, in any one unit: pr's
 * prices, or Gemini Flash's usual ones when pr is NULL or has no storage
 * price. */
void pricing_keep_or_recreate(const struct price *pr, double ttl_s, double *ret_keep,
                              double *ret_recreate);
/* What reading tokens from the cache saved over writing them: never
 * negative (a table whose reads cost more than writes saves nothing). */
int64_t pricing_saving(const struct price *pr, int64_t tokens, double ttl_s);

/* Checked money arithmetic, for every figure of pico-USD warmd keeps.
 * pricing_mul: tokens * pico_per_token, 0 when either is <= 0, at most
 * PRICING_MAX_PICO. pricing_sum: a + b, kept within +-PRICING_MAX_PICO.
 * pricing_add: *acc = pricing_sum(*acc, v); returns true only when this call
 * made *acc saturate (so the caller can log it once: later additions to a
 * saturated figure return false). */
int64_t pricing_mul(int64_t tokens, int64_t pico_per_token);
int64_t pricing_sum(int64_t a, int64_t b);
bool pricing_add(int64_t *acc, int64_t v);

/* pico-USD as a double of dollars (for JSON and Prometheus). */
double pricing_usd(int64_t pico);

#endif
