/* config_internal: what the loader's files share with each other. Not an
 * API: included only by core/config*.c (the API is config.h). */
#ifndef WARMD_CONFIG_INTERNAL_H
#define WARMD_CONFIG_INTERNAL_H

#include <libconfig.h>
#include <stddef.h>

#include "config.h"
#include "diag.h"

enum key_type {
	K_STR,
	K_PATH,
	K_OPTPATH,
	K_INT,
	K_SIZE,
	K_DURATION,
	K_ENUM,
	K_LOGLEVEL,
	K_STRLIST,
	K_CUSTOM /* read by the section's own code */
};

struct key_def {
	const char *name;
	enum key_type type;
	size_t off;
	long min, max;            /* K_INT bounds */
	const char *const *enums; /* K_ENUM names, NULL-terminated, index = value */
	const char *help;         /* what the value is, for error text */
	/* K_ENUM: words that name values of later versions, so the error can
	 * say so (NULL-terminated), or NULL. */
	const char *const *future;
};

/* One config_load(): the file as given, its directory, the diagnostics. */
struct loader {
	const char *path;
	const char *dir;
	struct diags *d;
};

/* Where setting s is: its file (an @include'd one, or the config itself),
 * and its line (0 for none). s may be NULL. */
const char *config_file_of(const struct loader *ld, const config_setting_t *s);
int config_line_of(const config_setting_t *s);

#define err_at(ld, s, ...)                                                                         \
	diags_add((ld)->d, DIAG_ERROR, config_file_of(ld, s), config_line_of(s), __VA_ARGS__)
#define warn_at(ld, s, ...)                                                                        \
	diags_add((ld)->d, DIAG_WARNING, config_file_of(ld, s), config_line_of(s), __VA_ARGS__)

/* p, or p relative to the config's directory (new string). */
char *config_resolve_path(const struct loader *ld, const char *p);
/* The key of keys closest to a misspelt name (for "did you mean"), or NULL. */
const char *config_closest_key(const struct key_def *keys, const char *name);
/* The index of s in NULL-terminated names, or -1. */
int config_enum_lookup(const char *const *names, const char *s);
/* Frees a NULL-terminated list of strings (NULL is fine). */
void config_strlist_free(char **v);
/* Reads every member of group g through keys into base. Returns the number
 * of errors (each one reported). */
int config_read_group(const struct loader *ld, config_setting_t *g, const struct key_def *keys,
                      void *base, const char *where);

/* The sections, in the order config_load() reads them. */
void config_load_daemon(const struct loader *ld, config_t *cf, struct config *c);
void config_load_providers(const struct loader *ld, config_t *cf, struct config *c);
void config_load_targets(const struct loader *ld, config_t *cf, struct config *c);

#endif
