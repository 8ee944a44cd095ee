/* config_keys: the key tables' machinery, in the spirit of redis' config.c:
 * each section is described by a table of keys (name, type, bounds,
 * default, whether a reload applies it, help); the loader walks the
 * settings the file actually has, so that unknown keys and type errors are
 * reported with the line they are on, then gives every other key its
 * default. */
#include "config_keys.h"

#include <errno.h>
#include <libconfig.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duration.h"
#include "log.h"
#include "xalloc.h"

const char *config_file_of(const struct loader *ld, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;

	return f ? f : ld->path;
}

int config_line_of(const config_setting_t *s)
{
	return s ? (int)config_setting_source_line(s) : 0;
}

char *config_resolve_path(const struct loader *ld, const char *p)
{
	char *out;

	if (p[0] == '/')
		return xstrdup(p);
	out = xmalloc(strlen(ld->dir) + strlen(p) + 2);
	sprintf(out, "%s/%s", ld->dir, p);
	return out;
}

char *config_resolve_credential(const struct loader *ld, const char *f)
{
	const char *cred = getenv("CREDENTIALS_DIRECTORY");

	if (f[0] != '/' && cred && *cred) {
		char *p = xmalloc(strlen(cred) + strlen(f) + 2);
		sprintf(p, "%s/%s", cred, f);
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	return config_resolve_path(ld, f);
}

/* Levenshtein distance, for "did you mean" hints on misspelt keys. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(cur));
	}
	return prev[lb];
}

const char *config_closest_key(const struct key_def *keys, const char *name)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (const struct key_def *k = keys; k->name; k++) {
		size_t dist = edit_distance(k->name, name);
		if (dist < bestd) {
			bestd = dist;
			best = k->name;
		}
	}
	return best;
}

int config_enum_lookup(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

static void enum_list(const char *const *names, char *out, size_t n)
{
	out[0] = '\0';
	for (int i = 0; names[i]; i++) {
		size_t l = strlen(out);
		snprintf(out + l, n - l, "%s%s", i ? ", " : "", names[i]);
	}
}

void config_strlist_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* The readers of each type: setting s into field, the key's place in its
 * struct. Each returns 0, or -EINVAL with the error reported (then field
 * keeps its value, except a list, which keeps what was read of it). */

static int read_strlist(const struct loader *ld, const struct key_def *k, config_setting_t *s,
                        char ***field, const char *where)
{
	int type = config_setting_type(s), n;

	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		err_at(ld, s, "%s: \"%s\" must be %s", where, k->name, k->help);
		return -EINVAL;
	}
	n = config_setting_length(s);
	config_strlist_free(*field);
	*field = xcalloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			err_at(ld, el, "%s: \"%s\" must be %s", where, k->name, k->help);
			return -EINVAL;
		}
		(*field)[i] = xstrdup(config_setting_get_string(el));
	}
	return 0;
}

/* K_ENUM: v is one of k->enums (its index is the value). */
static int read_enum(const struct loader *ld, const struct key_def *k, config_setting_t *s,
                     const char *v, int *field, const char *where)
{
	int e = config_enum_lookup(k->enums, v);
	char list[128];

	if (e >= 0) {
		*field = e;
		return 0;
	}
	enum_list(k->enums, list, sizeof(list));
	if (k->future && config_enum_lookup(k->future, v) >= 0)
		err_at(ld, s,
		       "%s: %s \"%s\" is not supported by this version of warmd (use one of: %s)",
		       where, k->name, v, list);
	else
		err_at(ld, s, "%s: unknown %s \"%s\" (use one of: %s)", where, k->name, v, list);
	return -EINVAL;
}

/* K_STR, K_PATH (relative to warmd.conf), K_OPTPATH ("" disables: NULL). */
static int read_str(const struct loader *ld, const struct key_def *k, config_setting_t *s,
                    const char *v, char **field, const char *where)
{
	if (!*v && k->type == K_OPTPATH) {
		free(*field);
		*field = NULL;
		return 0;
	}
	if (!*v) {
		err_at(ld, s, "%s: \"%s\" must not be empty", where, k->name);
		return -EINVAL;
	}
	free(*field);
	*field = k->type == K_STR ? xstrdup(v) : config_resolve_path(ld, v);
	return 0;
}

/* The keys written as strings: K_STR, K_PATH, K_OPTPATH, K_ENUM, K_LOGLEVEL. */
static int read_string(const struct loader *ld, const struct key_def *k, config_setting_t *s,
                       void *field, const char *where)
{
	const char *v;
	int lvl;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		err_at(ld, s, "%s: \"%s\" must be a string (%s)", where, k->name, k->help);
		return -EINVAL;
	}
	v = config_setting_get_string(s);
	if (k->type == K_ENUM)
		return read_enum(ld, k, s, v, field, where);
	if (k->type != K_LOGLEVEL)
		return read_str(ld, k, s, v, field, where);
	lvl = log_level_parse(v);
	if (lvl < 0) {
		err_at(ld, s, "%s: log_level \"%s\" is not %s", where, v, k->help);
		return -EINVAL;
	}
	*(int *)field = lvl;
	return 0;
}

/* K_INT and K_SIZE, within [k->min, k->max]. */
static int read_int(const struct loader *ld, const struct key_def *k, config_setting_t *s,
                    void *field, const char *where)
{
	int type = config_setting_type(s);
	long long v;

	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
		err_at(ld, s, "%s: \"%s\" must be an integer (%s)", where, k->name, k->help);
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < k->min || v > k->max) {
		err_at(ld, s, "%s: \"%s\" = %lld is out of range [%ld, %ld]", where, k->name, v,
		       k->min, k->max);
		return -EINVAL;
	}
	if (k->type == K_SIZE)
		*(size_t *)field = (size_t)v;
	else
		*(int *)field = (int)v;
	return 0;
}

/* The longest duration a key takes, however it is written: the text form
 * ("365d") is capped by duration_parse(), numbers (ttl = 1e300) here. */
#define CFG_MAX_DURATION_S (365.0 * 86400)

/* K_DURATION: seconds as a number, or a string duration_parse() reads. */
static int read_duration(const struct loader *ld, const struct key_def *k, config_setting_t *s,
                         double *field, const char *where)
{
	int type = config_setting_type(s);
	double v;

	if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
		long long i = config_setting_get_int64(s);
		if (i < 0) {
			err_at(ld, s, "%s: \"%s\" must not be negative", where, k->name);
			return -EINVAL;
		}
		v = (double)i;
	} else if (type == CONFIG_TYPE_FLOAT) {
		v = config_setting_get_float(s);
	} else if (type == CONFIG_TYPE_STRING) {
		if (duration_parse(config_setting_get_string(s), &v) < 0) {
			err_at(ld, s, "%s: \"%s\" = \"%s\" is not %s", where, k->name,
			       config_setting_get_string(s), k->help);
			return -EINVAL;
		}
	} else {
		err_at(ld, s, "%s: \"%s\" must be %s", where, k->name, k->help);
		return -EINVAL;
	}
	if (!(v >= 0)) {
		err_at(ld, s, "%s: \"%s\" must not be negative", where, k->name);
		return -EINVAL;
	}
	if (v > CFG_MAX_DURATION_S) {
		err_at(ld, s, "%s: \"%s\" must be at most a year (%s)", where, k->name, k->help);
		return -EINVAL;
	}
	*field = v;
	return 0;
}

/* Reads one setting into base+k->off. Returns 0 or -EINVAL (error reported). */
static int read_key(const struct loader *ld, const struct key_def *k, config_setting_t *s,
                    void *base, const char *where)
{
	void *field = (char *)base + k->off;

	switch (k->type) {
	case K_CUSTOM:
		return 0;
	case K_STRLIST:
		return read_strlist(ld, k, s, field, where);
	case K_STR:
	case K_PATH:
	case K_OPTPATH:
	case K_ENUM:
	case K_LOGLEVEL:
		return read_string(ld, k, s, field, where);
	case K_SIZE:
	case K_INT:
		return read_int(ld, k, s, field, where);
	case K_DURATION:
		return read_duration(ld, k, s, field, where);
	}
	return -EINVAL;
}

/* Gives key k its default in base (see struct key_def). */
static void apply_default(const struct loader *ld, const config_setting_t *g,
                          const struct key_def *k, void *base)
{
	char *field = (char *)base + k->off;
	char **str = (char **)(void *)field;

	if (k->dfn) {
		k->dfn(ld, g, base, field);
		return;
	}
	switch (k->type) {
	case K_INT:
	case K_ENUM:
	case K_LOGLEVEL:
		*(int *)(void *)field = (int)k->def.i;
		break;
	case K_SIZE:
		*(size_t *)(void *)field = (size_t)k->def.i;
		break;
	case K_DURATION:
		*(double *)(void *)field = k->def.d;
		break;
	case K_STR:
	case K_PATH:
	case K_OPTPATH:
		if (!k->def.s)
			break;
		free(*str);
		*str = k->type == K_STR ? xstrdup(k->def.s) : config_resolve_path(ld, k->def.s);
		break;
	case K_STRLIST:
	case K_CUSTOM:
		break;
	}
}

int config_read_group(const struct loader *ld, config_setting_t *g, const struct key_def *keys,
                      void *base, const char *where)
{
	int errors = 0, n = g && config_setting_is_group(g) ? config_setting_length(g) : 0;
	unsigned long long taken = 0; /* keys read from g without an error */

	for (int i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct key_def *k;

		for (k = keys; k->name; k++)
			if (strcmp(k->name, name) == 0)
				break;
		if (!k->name) {
			const char *hint = config_closest_key(keys, name);
			if (hint)
				err_at(ld, s, "%s: unknown key \"%s\" (did you mean \"%s\"?)",
				       where, name, hint);
			else
				err_at(ld, s, "%s: unknown key \"%s\"", where, name);
			errors++;
			continue;
		}
		if (read_key(ld, k, s, base, where) < 0)
			errors++;
		else
			taken |= 1ull << (k - keys);
	}
	/* every table has at most CONFIG_MAX_KEYS keys (a static assertion each) */
	for (const struct key_def *k = keys; k->name; k++)
		if (!(taken & (1ull << (k - keys))))
			apply_default(ld, g, k, base);
	return errors;
}

static bool strlist_equal(char *const *a, char *const *b)
{
	size_t i;

	for (i = 0; a && b && a[i] && b[i]; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return (!a || !a[i]) && (!b || !b[i]);
}

bool config_key_equal(const struct key_def *k, const void *a, const void *b)
{
	const void *x = (const char *)a + k->off, *y = (const char *)b + k->off;

	switch (k->type) {
	case K_STR:
	case K_PATH:
	case K_OPTPATH: {
		const char *s = *(char *const *)x, *t = *(char *const *)y;
		return s == t || (s && t && strcmp(s, t) == 0);
	}
	case K_INT:
	case K_ENUM:
	case K_LOGLEVEL:
		return *(const int *)x == *(const int *)y;
	case K_SIZE:
		return *(const size_t *)x == *(const size_t *)y;
	case K_DURATION:
		return *(const double *)x == *(const double *)y;
	case K_STRLIST:
		return strlist_equal(*(char **const *)x, *(char **const *)y);
	case K_CUSTOM:
		break;
	}
	return true;
}

const char *config_key_text(const struct key_def *k, const void *base, char *buf, size_t n)
{
	const void *x = (const char *)base + k->off;
	int v;

	switch (k->type) {
	case K_STR:
	case K_PATH:
	case K_OPTPATH:
		return *(char *const *)x;
	case K_INT:
		snprintf(buf, n, "%d", *(const int *)x);
		return buf;
	case K_SIZE:
		snprintf(buf, n, "%zu", *(const size_t *)x);
		return buf;
	case K_DURATION:
		return duration_format(*(const double *)x, buf, n);
	case K_ENUM:
		v = *(const int *)x;
		return v >= 0 ? k->enums[v] : NULL;
	case K_LOGLEVEL:
		return log_level_name(*(const int *)x);
	case K_STRLIST: {
		char *const *l = *(char **const *)x;
		buf[0] = '\0';
		for (size_t i = 0; l && l[i]; i++) {
			size_t used = strlen(buf);
			snprintf(buf + used, n - used, "%s\"%s\"", i ? ", " : "", l[i]);
		}
		return l ? buf : NULL;
	}
	case K_CUSTOM:
		break;
	}
	return NULL;
}
