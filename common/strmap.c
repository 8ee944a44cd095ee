/* strmap: a map from strings to indices (open addressing, linear probing). */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct strmap_slot {
	char *key; /* NULL: empty */
	uint64_t hash;
	size_t index;
};

/* FNV-1a: names are short, and the map holds no secrets to hide the hash
 * of. */
static uint64_t hash_of(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct strmap_slot *find(const struct strmap *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];
		if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
			return s;
	}
}

size_t strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_slot *s;

	if (!m->cap)
		return STRMAP_NONE;
	s = find(m, key, hash_of(key));
	return s->key ? s->index : STRMAP_NONE;
}

/* At most half full: probes stay short. */
static void grow(struct strmap *m)
{
	struct strmap old = *m;

	m->cap = m->cap ? m->cap * 2 : 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key)
			*find(m, old.slots[i].key, old.slots[i].hash) = old.slots[i];
	free(old.slots);
}

size_t strmap_add(struct strmap *m, const char *key, size_t index)
{
	uint64_t h = hash_of(key);
	struct strmap_slot *s;

	if ((m->n + 1) * 2 > m->cap)
		grow(m);
	s = find(m, key, h);
	if (s->key)
		return s->index;
	*s = (struct strmap_slot){ .key = xstrdup(key), .hash = h, .index = index };
	m->n++;
	return index;
}

void strmap_free(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	*m = (struct strmap){ 0 };
}
