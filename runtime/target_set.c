/* target_set: the running set of targets as other modules see it. */
#include "target_set.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"

static int target_cmp(const void *a, const void *b)
{
	return strcmp((*(struct target *const *)a)->name, (*(struct target *const *)b)->name);
}

void target_set_sort(struct target **v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), target_cmp);
}

struct target **target_set_slot(const struct target_set *s, const char *name)
{
	struct target key = { .name = (char *)(uintptr_t)name }, *kp = &key;

	if (s->ntargets == 0 || !name)
		return NULL; /* bsearch() must not see a NULL array */
	return bsearch(&kp, s->targets, s->ntargets, sizeof(*s->targets), target_cmp);
}

struct target *target_set_find(const struct target_set *s, const char *name)
{
	struct target **hit = target_set_slot(s, name);

	return hit ? *hit : NULL;
}

static int lane_cmp(const char *name, const char *group, size_t glen)
{
	int c = strncmp(name, group, glen);

	return c ? c : (unsigned char)name[glen] - (unsigned char)'@';
}

size_t target_set_lanes(const struct target_set *s, const char *group, size_t *ret_first)
{
	size_t lo = 0, hi = s->ntargets, glen = strlen(group), n = 0;

	/* The first name >= "GROUP@": names sort by strcmp, so lanes are a run. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (lane_cmp(s->targets[mid]->name, group, glen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo + n < s->ntargets && lane_cmp(s->targets[lo + n]->name, group, glen) == 0)
		n++;
	*ret_first = lo;
	return n;
}
