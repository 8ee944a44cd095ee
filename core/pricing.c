/* pricing: what tokens cost, per model, exactly. */
#include "pricing.h"

#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xalloc.h"

/* USD per million tokens -> pico-USD per token (exact to 1e-6 USD/MTok). */
static int64_t per_token(double usd_per_mtok)
{
	return (int64_t)llround(usd_per_mtok * 1e6);
}

static const char *setting_file(const config_setting_t *s, const char *fallback)
{
	const char *f = s ? config_setting_source_file(s) : NULL;

	return f ? f : fallback;
}

static bool read_price(config_setting_t *g, const char *key, int64_t *ret, bool *present,
                       const char *file, struct diags *d)
{
	config_setting_t *s = config_setting_get_member(g, key);
	double v;

	if (present)
		*present = s != NULL;
	if (!s)
		return true;
	if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		v = config_setting_get_float(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT ||
	         config_setting_type(s) == CONFIG_TYPE_INT64)
		v = (double)config_setting_get_int64(s);
	else {
		diags_add(d, DIAG_ERROR, setting_file(s, file), config_setting_source_line(s),
		          "pricing: %s must be a number of USD per million tokens", key);
		return false;
	}
	if (!(v >= 0) || v > BOUNDS_MAX_USD_PER_MTOK) {
		diags_add(d, DIAG_ERROR, setting_file(s, file), config_setting_source_line(s),
		          "pricing: %s = %g is out of range: from 0 to %d USD per million tokens",
		          key, v, BOUNDS_MAX_USD_PER_MTOK);
		return false;
	}
	*ret = per_token(v);
	return true;
}

static bool same_scope(const char *a, const char *b)
{
	return !a == !b && (!a || strcmp(a, b) == 0);
}

static void price_free(struct price *pr)
{
	free(pr->model);
	free(pr->kind);
	free(pr->region);
}

static void put(struct pricing *p, struct price *pr)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->v[i].model, pr->model) == 0 && same_scope(p->v[i].kind, pr->kind) &&
		    same_scope(p->v[i].region, pr->region)) {
			price_free(&p->v[i]);
			p->v[i] = *pr;
			return;
		}
	}
	p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
	p->v[p->n++] = *pr;
}

int pricing_merge_setting(struct pricing *p, void *setting, const char *file, struct diags *d)
{
	static const char *const keys[] = { "model",      "input",  "cache_write", "cache_write_1h",
		                            "cache_read", "output", "storage",     "kind",
		                            "region",     NULL };
	config_setting_t *list = setting;
	size_t errors = d->errors;
	int n;

	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		diags_add(d, DIAG_ERROR, setting_file(list, file), config_setting_source_line(list),
		          "\"pricing\" must be a list: pricing = ( { model = \"...\"; ... } );");
		return -EINVAL;
	}
	n = config_setting_length(list);
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct price pr = { 0 };
		bool has_write = false, ok = true;
		const char *model = NULL, *kind = NULL, *region = NULL;

		if (!config_setting_is_group(g) ||
		    !config_setting_lookup_string(g, "model", &model) || !*model) {
			diags_add(d, DIAG_ERROR, setting_file(g, file),
			          config_setting_source_line(g),
			          "pricing[%d]: needs a model = \"...\"", i);
			continue;
		}
		for (int k = 0; k < config_setting_length(g); k++) {
			const char *name =
			        config_setting_name(config_setting_get_elem(g, (unsigned)k));
			bool known = false;
			for (const char *const *kk = keys; *kk; kk++)
				known |= strcmp(*kk, name) == 0;
			if (!known) {
				config_setting_t *s = config_setting_get_elem(g, (unsigned)k);
				diags_add(d, DIAG_ERROR, setting_file(s, file),
				          config_setting_source_line(s),
				          "pricing \"%s\": unknown key \"%s\"", model, name);
				ok = false;
			}
		}
		for (int k = 0; k < 2; k++) {
			const char *key = k ? "region" : "kind", **dst = k ? &region : &kind;
			config_setting_t *s = config_setting_get_member(g, key);
			if (s && (!config_setting_lookup_string(g, key, dst) || !**dst)) {
				diags_add(d, DIAG_ERROR, setting_file(s, file),
				          config_setting_source_line(s),
				          "pricing \"%s\": %s must be a non-empty string", model,
				          key);
				ok = false;
			}
		}
		ok &= read_price(g, "input", &pr.input, NULL, file, d);
		ok &= read_price(g, "cache_write", &pr.cache_write, &has_write, file, d);
		ok &= read_price(g, "cache_write_1h", &pr.cache_write_1h, &pr.has_write_1h, file,
		                 d);
		ok &= read_price(g, "cache_read", &pr.cache_read, NULL, file, d);
		ok &= read_price(g, "output", &pr.output, NULL, file, d);
		ok &= read_price(g, "storage", &pr.storage, &pr.has_storage, file, d);
		if (!config_setting_get_member(g, "input") ||
		    !config_setting_get_member(g, "cache_read")) {
			diags_add(d, DIAG_ERROR, setting_file(g, file),
			          config_setting_source_line(g),
			          "pricing \"%s\": input and cache_read are required", model);
			ok = false;
		}
		if (!ok)
			continue;
		/* No write price: the provider does not bill writes beyond input. */
		if (!has_write)
			pr.cache_write = pr.input;
		if (!pr.has_write_1h)
			pr.cache_write_1h = pr.cache_write;
		pr.model = xstrdup(model);
		pr.kind = xstrdup_or_null(kind);
		pr.region = xstrdup_or_null(region);
		put(p, &pr);
	}
	return d->errors > errors ? -EINVAL : 0;
}

int pricing_load(const char *path, struct diags *d, struct pricing **ret)
{
	struct pricing *p = xcalloc(1, sizeof(*p));
	config_setting_t *list;
	const char *as_of = NULL;
	config_t cf;
	int r = 0;

	config_init(&cf);
	if (access(path, R_OK) < 0) {
		diags_add(d, DIAG_ERROR, path, 0, "cannot read pricing file: %s", strerror(errno));
		r = -EINVAL;
	} else if (config_read_file(&cf, path) != CONFIG_TRUE) {
		diags_add(d, DIAG_ERROR, config_error_file(&cf) ? config_error_file(&cf) : path,
		          config_error_line(&cf), "%s", config_error_text(&cf));
		r = -EINVAL;
	} else {
		if (config_lookup_string(&cf, "as_of", &as_of))
			p->as_of = xstrdup(as_of);
		list = config_lookup(&cf, "pricing");
		if (!list) {
			diags_add(d, DIAG_ERROR, path, 0, "no \"pricing\" list");
			r = -EINVAL;
		} else {
			r = pricing_merge_setting(p, list, path, d);
		}
	}
	config_destroy(&cf);
	if (r < 0) {
		pricing_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void pricing_add_all(struct pricing *dst, const struct pricing *src)
{
	for (size_t i = 0; src && i < src->n; i++) {
		struct price pr = src->v[i];
		pr.model = xstrdup(src->v[i].model);
		pr.kind = xstrdup_or_null(src->v[i].kind);
		pr.region = xstrdup_or_null(src->v[i].region);
		put(dst, &pr);
	}
}

void pricing_free(struct pricing *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		price_free(&p->v[i]);
	free(p->v);
	free(p->as_of);
	free(p);
}

const struct price *pricing_find(const struct pricing *p, const char *model)
{
	return pricing_find_for(p, NULL, NULL, model);
}

/* How well an entry's scope fits: -1 not at all, else more is more specific. */
static int scope_rank(const struct price *pr, const char *kind, const char *region)
{
	if (pr->kind && (!kind || strcmp(pr->kind, kind) != 0))
		return -1;
	if (pr->region && (!region || strcmp(pr->region, region) != 0))
		return -1;
	return (pr->kind ? 2 : 0) + (pr->region ? 1 : 0);
}

const struct price *pricing_find_for(const struct pricing *p, const char *kind, const char *region,
                                     const char *model)
{
	const struct price *best = NULL;
	size_t best_len = 0;
	int best_rank = -1;

	if (!p || !model)
		return NULL;
	for (size_t i = 0; i < p->n; i++) {
		size_t n = strlen(p->v[i].model);
		int rank = scope_rank(&p->v[i], kind, region);
		if (rank < 0 || n < best_len || (n == best_len && rank <= best_rank) ||
		    strncmp(model, p->v[i].model, n) != 0)
			continue;
		best = &p->v[i];
		best_len = n;
		best_rank = rank;
	}
	return best;
}

int64_t pricing_mul(int64_t tokens, int64_t pico_per_token)
{
	int64_t v;

	if (tokens <= 0 || pico_per_token <= 0)
		return 0;
	if (__builtin_mul_overflow(tokens, pico_per_token, &v) || v > PRICING_MAX_PICO)
		return PRICING_MAX_PICO;
	return v;
}

int64_t pricing_sum(int64_t a, int64_t b)
{
	int64_t v;

	if (__builtin_add_overflow(a, b, &v))
		return a > 0 ? PRICING_MAX_PICO : -PRICING_MAX_PICO;
	if (v > PRICING_MAX_PICO)
		return PRICING_MAX_PICO;
	if (v < -PRICING_MAX_PICO)
		return -PRICING_MAX_PICO;
	return v;
}

bool pricing_add(int64_t *acc, int64_t v)
{
	int64_t old = *acc;

	*acc = pricing_sum(old, v);
	return (*acc == PRICING_MAX_PICO || *acc == -PRICING_MAX_PICO) && *acc != old;
}

int64_t pricing_read(const struct price *pr, int64_t tokens)
{
	return pricing_mul(tokens, pr->cache_read);
}

int64_t pricing_write(const struct price *pr, int64_t tokens, double ttl_s)
{
	return pricing_mul(tokens, ttl_s > 300 ? pr->cache_write_1h : pr->cache_write);
}

int64_t pricing_storage(const struct price *pr, int64_t tokens, double seconds)
{
	int64_t hourly = pricing_mul(tokens, pr->storage);
	double v;

	if (!(seconds > 0) || hourly <= 0)
		return 0;
	/* A double: exact up to 2^53 pico-dollars ($9,007), within a part in
	 * 10^15 above, which is far below the prices' own precision. */
	v = (double)hourly * (seconds / 3600.0);
	return v >= (double)PRICING_MAX_PICO ? PRICING_MAX_PICO : (int64_t)llround(v);
}

/* Without a price: Gemini Flash's, USD per million tokens (per hour). */
#define USUAL_INPUT   0.30
#define USUAL_STORAGE 1.00

void pricing_keep_or_recreate(const struct price *pr, double ttl_s, double *ret_keep,
                              double *ret_recreate)
{
	double input = USUAL_INPUT, storage = USUAL_STORAGE;

	if (pr && pr->has_storage) {
		input = (double)pr->input;
		storage = (double)pr->storage;
	}
	/* Per token: both costs grow with the cache's size alike. */
	*ret_keep = storage * ttl_s / 3600.0;
	*ret_recreate = input;
}

int64_t pricing_saving(const struct price *pr, int64_t tokens, double ttl_s)
{
	int64_t w = pricing_write(pr, tokens, ttl_s), r = pricing_read(pr, tokens);

	return w > r ? w - r : 0; /* both within [0, PRICING_MAX_PICO]: no overflow */
}

int64_t pricing_cost(const struct price *pr, const struct warm_usage *u, double ttl_s)
{
	int64_t c = pricing_read(pr, u->read);

	c = pricing_sum(c, pricing_write(pr, u->write, ttl_s));
	c = pricing_sum(c, pricing_mul(u->input, pr->input));
	return pricing_sum(c, pricing_mul(u->output, pr->output));
}

double pricing_usd(int64_t pico)
{
	return (double)pico / (double)PICO_PER_USD;
}
