/* strmap: a map from strings to indices, for finding a name among
 * thousands without comparing it with each of them.
 *
 * The map keeps its own copy of each key. Growing never fails (xalloc.h). */
#ifndef WARMD_STRMAP_H
#define WARMD_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

#define STRMAP_NONE ((size_t)-1)

struct strmap {
	struct strmap_slot *slots;
	size_t n, cap; /* entries, slots (0 or a power of two) */
};

/* The index stored under key, or STRMAP_NONE. */
size_t strmap_get(const struct strmap *m, const char *key);
/* Stores index under key unless the key is there already. Returns the index
 * the key now maps to: index, or the one stored before. */
size_t strmap_add(struct strmap *m, const char *key, size_t index);
/* Frees the slots and the keys; m is empty and reusable. */
void strmap_free(struct strmap *m);

#endif
