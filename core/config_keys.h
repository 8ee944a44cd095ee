/* config_keys: the loader's lowest layer, shared by config.c and the
 * sections (config_daemon.c, config_provider.c, config_target.c): one
 * config_load() (struct loader), where a setting is and how to report a
 * problem at it (err_at, warn_at), and the key tables that describe each
 * section with the reader that walks them. Not an API: included only by
 * core/config*.c (the API is config.h). It does not include config.h, so
 * that config.c can sit above the files that use it. */
#ifndef WARMD_CONFIG_KEYS_H
#define WARMD_CONFIG_KEYS_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

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

struct config;
struct loader;

/* A default computed from the environment or from keys that come earlier
 * in the same table: sets *field (NULL, or -1 for a number, when there is
 * none). g is the group as written (NULL when absent), so that a default
 * may depend on whether the key was given at all. */
typedef void (*key_default_fn)(const struct loader *ld, const config_setting_t *g, const void *base,
                               void *field);

/* One key of a section, in the manner of redis' config table: name, type,
 * bounds, default, whether a running daemon can apply a change, and help.
 *
 * Defaults: the loader reads the file's values first, then gives every key
 * that the file does not give, or gives a rejected value for, its default,
 * in table order: dfn when there is one, else def (numbers: def.i or def.d;
 * strings and paths: def.s, NULL for none, a path relative to warmd.conf's
 * directory). */
struct key_def {
	const char *name;
	enum key_type type;
	size_t off;
	long min, max;            /* K_INT and K_SIZE bounds */
	const char *const *enums; /* K_ENUM names, NULL-terminated, index = value */
	const char *help;         /* what the value is, for error text */
	/* K_ENUM: words that name values of later versions, so the error can
	 * say so (NULL-terminated), or NULL. */
	const char *const *future;
	union {
		long i;        /* K_INT, K_SIZE, K_ENUM, K_LOGLEVEL */
		double d;      /* K_DURATION */
		const char *s; /* K_STR, K_PATH, K_OPTPATH */
	} def;
	key_default_fn dfn;
	/* A reload cannot apply a change: it takes effect at the next restart
	 * (the bound sockets, the state file, the metrics outputs). */
	bool restart;
};

/* The most keys one table may have (the loader tracks them in a bitmap;
 * each table asserts it statically). */
#define CONFIG_MAX_KEYS 64

/* One config_load(): the file as given, its directory, the diagnostics,
 * and the config so far (defaults of later sections may depend on it). */
struct loader {
	const char *path;
	const char *dir;
	struct diags *d;
	const struct config *c;
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
/* A file holding a secret (api_key_file, password_file...): relative
 * names are looked up in systemd's $CREDENTIALS_DIRECTORY first
 * (LoadCredential=), then taken relative to the config's directory (new
 * string). */
char *config_resolve_credential(const struct loader *ld, const char *f);
/* The key of keys closest to a misspelt name (for "did you mean"), or NULL. */
const char *config_closest_key(const struct key_def *keys, const char *name);
/* The index of s in NULL-terminated names, or -1. */
int config_enum_lookup(const char *const *names, const char *s);
/* Frees a NULL-terminated list of strings (NULL is fine). */
void config_strlist_free(char **v);
/* Reads group g through keys into base: every member g has (g may be NULL
 * or not a group: then none), then the defaults (see struct key_def).
 * Returns the number of errors (each one reported). */
int config_read_group(const struct loader *ld, config_setting_t *g, const struct key_def *keys,
                      void *base, const char *where);

/* Does key k hold the same value in a and b (two structs of its table)? */
bool config_key_equal(const struct key_def *k, const void *a, const void *b);
/* The value of key k in base as warmd.conf would write it (numbers are
 * printed into buf[n]), or NULL when it is unset or disabled. */
const char *config_key_text(const struct key_def *k, const void *base, char *buf, size_t n);

#endif
