/* share: targets whose prefixes are the same cache entry, or extend one.
 * An entry is (provider, url, version): a provider is one credential, and
 * providers' caches are per organisation, so two providers never share. */
#include "share.h"

#include <stdlib.h>
#include <string.h>

#include "target.h"
#include "xalloc.h"

static int cmp_entry(const struct target *a, const char *prov, const char *url, const char *hash)
{
	int c = strcmp(a->prov->name, prov);

	if (c == 0)
		c = strcmp(a->tmpl->url, url);
	if (c == 0)
		c = strcmp(a->tmpl->version, hash);
	return c;
}

static int cmp_key(const struct target *a, const struct target *b)
{
	return cmp_entry(a, b->prov->name, b->tmpl->url, b->tmpl->version);
}

/* Same entry first; within it, a target that warms by itself (not manual)
 * leads, a target of warmd.conf before a session (which ends when its
 * application says so, and whose policy may stop early), then by name. */
static int cmp_group(const void *pa, const void *pb)
{
	const struct target *a = *(struct target *const *)pa, *b = *(struct target *const *)pb;
	int c = cmp_key(a, b);

	if (c == 0)
		c = (a->policy == POLICY_MANUAL) - (b->policy == POLICY_MANUAL);
	if (c == 0)
		c = (a->session != NULL) - (b->session != NULL);
	if (c == 0)
		c = strcmp(a->name, b->name);
	return c;
}

static void push(struct target ***arr, size_t *n, struct target *t)
{
	struct target **v = xreallocarray(*arr, *n + 1, sizeof(*v));

	v[(*n)++] = t;
	*arr = v;
}

void share_unlink(struct target *t)
{
	free(t->followers);
	free(t->extended_by);
	t->followers = t->extended_by = NULL;
	t->nfollowers = t->nextended_by = 0;
	t->leader = t->extends = NULL;
}

/* The leader of the entry at hash in t's provider and url, or NULL: a binary
 * search in sorted. */
static struct target *find(struct target **sorted, size_t n, const struct target *t,
                           const char *hash)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cmp_entry(sorted[mid], t->prov->name, t->tmpl->url, hash) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* The first of its group is the leader (cmp_group put it there). */
	if (lo < n && cmp_entry(sorted[lo], t->prov->name, t->tmpl->url, hash) == 0)
		return sorted[lo];
	return NULL;
}

void share_link(struct target **v, size_t n)
{
	struct target **sorted = xcalloc(n + 1, sizeof(*sorted));

	for (size_t i = 0; i < n; i++)
		share_unlink(v[i]);
	memcpy(sorted, v, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_group);
	for (size_t i = 1; i < n; i++) {
		struct target *lead = sorted[i - 1]->leader ? sorted[i - 1]->leader : sorted[i - 1];
		if (cmp_key(sorted[i], lead) == 0) {
			sorted[i]->leader = lead;
			push(&lead->followers, &lead->nfollowers, sorted[i]);
		}
	}
	/* A leader's prefix may extend another entry at one of its earlier
	 * breakpoints: the deepest one that some target warms. */
	for (size_t i = 0; i < n; i++) {
		struct target *t = sorted[i];
		if (t->leader)
			continue;
		for (int k = t->tmpl->nbp - 2; k >= 0 && !t->extends; k--) {
			struct target *base = find(sorted, n, t, t->tmpl->bp_hashes[k]);
			if (base && base != t) {
				t->extends = base;
				push(&base->extended_by, &base->nextended_by, t);
			}
		}
	}
	free(sorted);
}
