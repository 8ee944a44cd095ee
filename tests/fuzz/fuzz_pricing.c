/* fuzz_pricing: the price table loader (core/pricing.c pricing_load),
 * libconfig text like config/pricing.conf. An operator may point
 * pricing_file anywhere; the shipped table is edited by hand. */
#include "fuzz.h"
#include "pricing.h"

static bool has_include(const uint8_t *data, size_t size)
{
	return memmem(data, size, "@include", 8) != NULL || memmem(data, size, "@INCLUDE", 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diags d = { 0 };
	struct pricing *p = NULL;
	char path[64];
	int fd;

	if (has_include(data, size))
		return -1; /* reads other files: see fuzz_config.c */
	fd = fuzz_memfd("pricing.conf", data, size, path);
	if (pricing_load(path, &d, &p) == 0) {
		for (size_t i = 0; i < p->n; i++) {
			const struct price *pr = &p->v[i];
			if (!pr->model || pr->input < 0 || pr->cache_write < 0 ||
			    pr->cache_write_1h < 0 || pr->cache_read < 0 || pr->output < 0)
				abort();
			if (pricing_find(p, pr->model) == NULL)
				abort();
		}
		pricing_free(p);
	} else if (!d.errors) {
		abort();
	}
	diags_free(&d);
	close(fd);
	return 0;
}
