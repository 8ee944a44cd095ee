/* config: reads warmd.conf (libconfig) into an immutable snapshot.
 *
 * Each section is described by a table of keys (name, type, bounds, default)
 * in the spirit of redis' config.c; the loader applies the defaults, then
 * walks the settings the file actually has, so that unknown keys and type
 * errors are reported with the line they are on. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <syslog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duration.h"
#include "log.h"
#include "pricing.h"
#include "sched.h"

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
};

static const char *const kind_names[] = { "anthropic", "openai", "openai-compatible", NULL };
static const char *const policy_names[] = { "always", "manual", "schedule", "adaptive", NULL };
static const char *const endpoint_names[] = { "auto", "messages", "chat", "responses", NULL };
static const char *const warm_mode_names[] = { "minimal", "prewarm", NULL };
/* Accepted words that name features of later versions, so the error can say so. */
static const char *const policy_future[] = { NULL };
static const char *const endpoint_future[] = { NULL };

#define D(f) offsetof(struct cfg_daemon, f)
static const struct key_def daemon_keys[] = {
	{ "control_socket", K_PATH, D(control_socket), 0, 0, NULL, "a socket path" },
	{ "control_group", K_STR, D(control_group), 0, 0, NULL, "a group name" },
	{ "touch_socket", K_OPTPATH, D(touch_socket), 0, 0, NULL,
	  "a socket path (\"\" disables touches)" },
	{ "pricing_file", K_OPTPATH, D(pricing_file), 0, 0, NULL,
	  "a price table (\"\" disables prices)" },
	{ "state_file", K_OPTPATH, D(state_file), 0, 0, NULL, "a file path (\"\" disables state)" },
	{ "max_inflight", K_INT, D(max_inflight), 1, 100000, NULL, "concurrent warms" },
	{ "metrics_listen", K_STR, D(metrics_listen), 0, 0, NULL,
	  "an address such as \"127.0.0.1:9477\"" },
	{ "metrics_textfile", K_OPTPATH, D(metrics_textfile), 0, 0, NULL,
	  "a file path ending in .prom" },
	{ "metrics_textfile_interval", K_DURATION, D(metrics_textfile_interval), 0, 0, NULL,
	  "a duration such as \"15s\"" },
	{ "log_level", K_LOGLEVEL, D(log_level), 0, 0, NULL,
	  "one of error, warning, notice, info, debug" },
	{ NULL, 0, 0, 0, 0, NULL, NULL },
};
#undef D

#define P(f) offsetof(struct cfg_provider, f)
static const struct key_def provider_keys[] = {
	{ "name", K_STR, P(name), 0, 0, NULL, "a name" },
	{ "kind", K_ENUM, P(kind), 0, 0, kind_names, "anthropic, openai or openai-compatible" },
	{ "base_url", K_STR, P(base_url), 0, 0, NULL, "a URL" },
	{ "api_key_file", K_STR, P(api_key_file), 0, 0, NULL, "a file name" },
	{ "api_key_env", K_STR, P(api_key_env), 0, 0, NULL, "an environment variable name" },
	{ "api_key", K_STR, P(api_key), 0, 0, NULL, "a key" },
	{ "max_rpm", K_INT, P(max_rpm), 0, 1000000, NULL, "requests per minute (0 = no limit)" },
	{ "max_inflight", K_INT, P(max_inflight), 1, 100000, NULL, "concurrent warms" },
	{ "timeout_ms", K_INT, P(timeout_ms), 100, 600000, NULL, "milliseconds" },
	{ "connect_timeout_ms", K_INT, P(connect_timeout_ms), 100, 120000, NULL, "milliseconds" },
	{ "low_speed_bps", K_INT, P(low_speed_bps), 1, 100000000, NULL, "bytes per second" },
	{ "low_speed_time_ms", K_INT, P(low_speed_time_ms), 0, 600000, NULL,
	  "milliseconds (0 disables the low-speed abort)" },
	{ "max_response_bytes", K_SIZE, P(max_response_bytes), 1024, 1073741824, NULL, "bytes" },
	{ "ca_file", K_PATH, P(ca_file), 0, 0, NULL, "a PEM file of CA certificates" },
	{ "proxy", K_STR, P(proxy), 0, 0, NULL, "a proxy URL such as \"http://proxy:3128\"" },
	{ "headers", K_STRLIST, P(headers), 0, 0, NULL,
	  "a list of \"Name: value\" lines such as [\"anthropic-beta: ...\"]" },
	{ NULL, 0, 0, 0, 0, NULL, NULL },
};
#undef P

#define T(f) offsetof(struct cfg_target, f)
static const struct key_def target_keys[] = {
	{ "name", K_STR, T(name), 0, 0, NULL, "a name" },
	{ "provider", K_STR, T(provider), 0, 0, NULL, "a provider name" },
	{ "request_file", K_PATH, T(request_file), 0, 0, NULL, "a file name" },
	{ "ttl", K_DURATION, T(ttl_s), 0, 0, NULL, "a duration such as \"5m\" or seconds" },
	{ "policy", K_ENUM, T(policy), 0, 0, policy_names, "always, manual, schedule or adaptive" },
	{ "priority", K_INT, T(priority), 0, 1000000, NULL, "a number (lower warms first)" },
	{ "cache_key", K_STR, T(cache_key), 0, 0, NULL, "a prompt_cache_key" },
	{ "endpoint", K_ENUM, T(endpoint), 0, 0, endpoint_names,
	  "auto, messages, chat or responses" },
	{ "warm_mode", K_ENUM, T(warm_mode), 0, 0, warm_mode_names, "minimal or prewarm" },
	{ "allow_edit", K_STRLIST, T(allow_edit_list), 0, 0, NULL,
	  "a list of the fields warmd may drop: [\"thinking\", \"tool_choice\"]" },
	{ "idle_limit", K_DURATION, T(idle_limit_s), 0, 0, NULL,
	  "a duration such as \"30m\" (0 = never idle)" },
	{ "schedule", K_STRLIST, T(schedule), 0, 0, NULL,
	  "a list of windows such as [\"Mon-Fri 07:30-19:00\"]" },
	{ "version_overlap", K_DURATION, T(overlap_s), 0, 0, NULL,
	  "a duration such as \"10m\" (0 = drop a replaced version at once)" },
	{ "versions", K_CUSTOM, 0, 0, 0, NULL, "a list of { name; request_file; weight; } groups" },
	{ NULL, 0, 0, 0, 0, NULL, NULL },
};
#undef T

#define V(f) offsetof(struct cfg_target, f)
static const struct key_def version_keys[] = {
	{ "name", K_STR, V(vname), 0, 0, NULL, "a version name" },
	{ "request_file", K_PATH, V(request_file), 0, 0, NULL, "a file name" },
	{ "weight", K_INT, V(weight), 0, 100, NULL, "a share of traffic from 0 to 100" },
	{ NULL, 0, 0, 0, 0, NULL, NULL },
};
#undef V

/* The longest duration a key takes, however it is written: the text form
 * ("365d") is capped by duration_parse(), numbers (ttl = 1e300) here. */
#define CFG_MAX_DURATION_S (365.0 * 86400)

struct loader {
	const char *path;
	const char *dir;
	struct diags *d;
};

const char *provider_kind_name(enum provider_kind k)
{
	return kind_names[k];
}

const char *policy_name(enum policy p)
{
	return policy_names[p];
}

const char *endpoint_name(enum endpoint e)
{
	return endpoint_names[e];
}

bool config_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

bool config_lane_name_valid(const char *s)
{
	const char *at = strchr(s, '@');
	char group[80];

	if (!at)
		return config_name_valid(s);
	if ((size_t)(at - s) >= sizeof(group))
		return false;
	memcpy(group, s, (size_t)(at - s));
	group[at - s] = '\0';
	return config_name_valid(group) && config_name_valid(at + 1);
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

static const char *setting_file(const struct loader *ld, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;

	return f ? f : ld->path;
}

static int setting_line(const config_setting_t *s)
{
	return s ? (int)config_setting_source_line(s) : 0;
}

#define err_at(ld, s, ...)                                                                         \
	diags_add((ld)->d, DIAG_ERROR, setting_file(ld, s), setting_line(s), __VA_ARGS__)
#define warn_at(ld, s, ...)                                                                        \
	diags_add((ld)->d, DIAG_WARNING, setting_file(ld, s), setting_line(s), __VA_ARGS__)

static char *resolve_path(const struct loader *ld, const char *p)
{
	char *out;

	if (p[0] == '/')
		return xstrdup(p);
	out = malloc(strlen(ld->dir) + strlen(p) + 2);
	if (!out)
		abort();
	sprintf(out, "%s/%s", ld->dir, p);
	return out;
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

static const char *closest_key(const struct key_def *keys, const char *name)
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

static int enum_lookup(const char *const *names, const char *s)
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

static void free_strlist(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Reads one setting into base+k->off. Returns 0 or -EINVAL (error reported). */
static int read_key(const struct loader *ld, const struct key_def *k, config_setting_t *s,
                    void *base, const char *where)
{
	char *field = (char *)base + k->off;
	int type = config_setting_type(s);

	switch (k->type) {
	case K_CUSTOM:
		return 0;
	case K_STRLIST: {
		char ***dst = (char ***)(void *)field;
		int n;
		if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
			err_at(ld, s, "%s: \"%s\" must be %s", where, k->name, k->help);
			return -EINVAL;
		}
		n = config_setting_length(s);
		free_strlist(*dst);
		*dst = calloc((size_t)n + 1, sizeof(char *));
		if (!*dst)
			abort();
		for (int i = 0; i < n; i++) {
			config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
			if (config_setting_type(el) != CONFIG_TYPE_STRING) {
				err_at(ld, el, "%s: \"%s\" must be %s", where, k->name, k->help);
				return -EINVAL;
			}
			(*dst)[i] = xstrdup(config_setting_get_string(el));
		}
		return 0;
	}
	case K_STR:
	case K_PATH:
	case K_OPTPATH:
	case K_ENUM:
	case K_LOGLEVEL: {
		const char *v;
		if (type != CONFIG_TYPE_STRING) {
			err_at(ld, s, "%s: \"%s\" must be a string (%s)", where, k->name, k->help);
			return -EINVAL;
		}
		v = config_setting_get_string(s);
		if (k->type == K_ENUM) {
			int e = enum_lookup(k->enums, v);
			if (e < 0) {
				char list[128];
				enum_list(k->enums, list, sizeof(list));
				if ((k->enums == policy_names &&
				     enum_lookup(policy_future, v) >= 0) ||
				    (k->enums == endpoint_names &&
				     enum_lookup(endpoint_future, v) >= 0))
					err_at(ld, s,
					       "%s: %s \"%s\" is not supported by this version of "
					       "warmd (use one of: %s)",
					       where, k->name, v, list);
				else
					err_at(ld, s, "%s: unknown %s \"%s\" (use one of: %s)",
					       where, k->name, v, list);
				return -EINVAL;
			}
			*(int *)(void *)field = e;
		} else if (k->type == K_LOGLEVEL) {
			int lvl = log_level_parse(v);
			if (lvl < 0) {
				err_at(ld, s, "%s: log_level \"%s\" is not %s", where, v, k->help);
				return -EINVAL;
			}
			*(int *)(void *)field = lvl;
		} else {
			char **dst = (char **)(void *)field;
			if (!*v && k->type == K_OPTPATH) {
				free(*dst);
				*dst = NULL;
				return 0;
			}
			if (!*v) {
				err_at(ld, s, "%s: \"%s\" must not be empty", where, k->name);
				return -EINVAL;
			}
			free(*dst);
			*dst = k->type == K_STR ? xstrdup(v) : resolve_path(ld, v);
		}
		return 0;
	}
	case K_SIZE:
	case K_INT: {
		long long v;
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
			err_at(ld, s, "%s: \"%s\" must be an integer (%s)", where, k->name,
			       k->help);
			return -EINVAL;
		}
		v = config_setting_get_int64(s);
		if (v < k->min || v > k->max) {
			err_at(ld, s, "%s: \"%s\" = %lld is out of range [%ld, %ld]", where,
			       k->name, v, k->min, k->max);
			return -EINVAL;
		}
		if (k->type == K_SIZE)
			*(size_t *)(void *)field = (size_t)v;
		else
			*(int *)(void *)field = (int)v;
		return 0;
	}
	case K_DURATION: {
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
			err_at(ld, s, "%s: \"%s\" must be at most a year (%s)", where, k->name,
			       k->help);
			return -EINVAL;
		}
		*(double *)(void *)field = v;
		return 0;
	}
	}
	return -EINVAL;
}

/* Reads every member of group g through keys. Returns the number of errors. */
static int read_group(const struct loader *ld, config_setting_t *g, const struct key_def *keys,
                      void *base, const char *where)
{
	int errors = 0, n = config_setting_length(g);

	for (int i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct key_def *k;

		for (k = keys; k->name; k++)
			if (strcmp(k->name, name) == 0)
				break;
		if (!k->name) {
			const char *hint = closest_key(keys, name);
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
	}
	return errors;
}

/* $ENV_DIR/file (systemd may pass several directories separated by ':'; the
 * first one), else fallback/file. */
static void default_dir_path(char **dst, const char *env, const char *fallback, const char *file)
{
	const char *dir = getenv(env);
	size_t n;
	char *p;

	if (!dir || !*dir)
		dir = fallback;
	n = strcspn(dir, ":");
	p = malloc(n + strlen(file) + 2);
	if (!p)
		abort();
	sprintf(p, "%.*s/%s", (int)n, dir, file);
	free(*dst);
	*dst = p;
}

static void default_runtime_path(char **dst, const char *file)
{
	default_dir_path(dst, "RUNTIME_DIRECTORY", "/run/warmd", file);
}

static void load_daemon(const struct loader *ld, config_t *cf, struct config *c)
{
	config_setting_t *g = config_lookup(cf, "daemon");

	c->daemon.max_inflight = 64;
	c->daemon.metrics_textfile_interval = 15;
	c->daemon.log_level = LOG_INFO;
	default_runtime_path(&c->daemon.control_socket, "control.sock");
	default_dir_path(&c->daemon.state_file, "STATE_DIRECTORY", "/var/lib/warmd", "state.json");
	if (g && config_setting_is_group(g)) {
		c->daemon.line = setting_line(g);
		read_group(ld, g, daemon_keys, &c->daemon, "daemon");
		c->daemon.touch_socket_set = config_setting_get_member(g, "touch_socket") != NULL;
		c->daemon.control_group_set = config_setting_get_member(g, "control_group") != NULL;
		c->daemon.pricing_file_set = config_setting_get_member(g, "pricing_file") != NULL;
	}
	if (!c->daemon.control_group)
		c->daemon.control_group = xstrdup("warmd");
	if (!c->daemon.pricing_file_set)
		c->daemon.pricing_file = resolve_path(ld, "pricing.conf"); /* beside warmd.conf */
	if (c->daemon.control_group_set && !getgrnam(c->daemon.control_group))
		err_at(ld, config_setting_get_member(g, "control_group"),
		       "daemon: control_group \"%s\" does not exist", c->daemon.control_group);
	if (c->daemon.metrics_textfile && c->daemon.metrics_textfile_interval < 1)
		err_at(ld, config_setting_get_member(g, "metrics_textfile_interval"),
		       "daemon: metrics_textfile_interval must be at least 1s");
	if (!c->daemon.touch_socket_set) {
		/* Beside the control socket, wherever that is. */
		const char *cs = c->daemon.control_socket, *slash = strrchr(cs, '/');
		size_t dl = slash ? (size_t)(slash - cs) : 0;
		char *p = malloc(dl + sizeof("/touch.sock"));
		if (!p)
			abort();
		sprintf(p, "%.*s/touch.sock", (int)dl, cs);
		c->daemon.touch_socket = p;
	}
	if (!g)
		return;
	if (!config_setting_is_group(g)) {
		err_at(ld, g, "\"daemon\" must be a group: daemon = { ... };");
		return;
	}
}

/* Is the URL's host a loopback address? Plain http is allowed only there. */
static bool url_host_is_loopback(const char *url)
{
	const char *h = strstr(url, "://");
	struct in_addr a4;
	char host[256];
	size_t n;

	if (!h)
		return false;
	h += 3;
	n = strcspn(h, "/?#");
	if (memchr(h, '@', n))
		return false; /* userinfo: the host is what follows it */
	if (*h == '[')
		return strncmp(h, "[::1]", 5) == 0 && (h[5] == '\0' || strchr(":/?#", h[5]));
	n = strcspn(h, ":/?#");
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcmp(host, "localhost") == 0)
		return true;
	/* a dotted-quad 127.0.0.0/8 address, not a name starting with "127." */
	return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

static int check_base_url(const struct loader *ld, config_setting_t *s, struct cfg_provider *p)
{
	size_t n;

	if (strncmp(p->base_url, "https://", 8) != 0 &&
	    !(strncmp(p->base_url, "http://", 7) == 0 && url_host_is_loopback(p->base_url))) {
		err_at(ld, s,
		       "provider \"%s\": base_url \"%s\" must use https:// (plain http is only "
		       "allowed for loopback test endpoints)",
		       p->name, p->base_url);
		return -EINVAL;
	}
	for (const char *q = p->base_url; *q; q++) {
		if ((unsigned char)*q <= ' ' || *q == '"' || *q == '\\') {
			err_at(ld, s,
			       "provider \"%s\": base_url contains a space or control character",
			       p->name);
			return -EINVAL;
		}
	}
	n = strlen(p->base_url);
	while (n > 8 && p->base_url[n - 1] == '/')
		p->base_url[--n] = '\0';
	return 0;
}

static const char *kind_default_url(enum provider_kind k)
{
	switch (k) {
	case PROVIDER_ANTHROPIC:
		return "https://api.anthropic.com";
	case PROVIDER_OPENAI:
		return "https://api.openai.com/v1";
	case PROVIDER_OPENAI_COMPAT:
		return NULL;
	}
	return NULL;
}

static const char *kind_default_env(enum provider_kind k)
{
	switch (k) {
	case PROVIDER_ANTHROPIC:
		return "ANTHROPIC_API_KEY";
	case PROVIDER_OPENAI:
		return "OPENAI_API_KEY";
	case PROVIDER_OPENAI_COMPAT:
		return NULL;
	}
	return NULL;
}

/* api_key_file: systemd credentials first (LoadCredential=), then the config dir. */
static char *resolve_key_file(const struct loader *ld, const char *f)
{
	const char *cred = getenv("CREDENTIALS_DIRECTORY");

	if (f[0] != '/' && cred && *cred) {
		char *p = malloc(strlen(cred) + strlen(f) + 2);
		if (!p)
			abort();
		sprintf(p, "%s/%s", cred, f);
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	return resolve_path(ld, f);
}

static void check_allow_edit(const struct loader *ld, config_setting_t *g, struct cfg_target *t,
                             const char *where)
{
	for (size_t i = 0; t->allow_edit_list && t->allow_edit_list[i]; i++) {
		const char *f = t->allow_edit_list[i];
		if (strcmp(f, "thinking") == 0)
			t->allow_edit |= ALLOW_EDIT_THINKING;
		else if (strcmp(f, "tool_choice") == 0)
			t->allow_edit |= ALLOW_EDIT_TOOL_CHOICE;
		else
			err_at(ld, config_setting_get_member(g, "allow_edit"),
			       "%s: allow_edit \"%s\" is not an edit warmd can make (thinking, "
			       "tool_choice)",
			       where, f);
	}
}

/* "Name: value", a token name, no line breaks, and not one warmd sets itself. */
static void check_headers(const struct loader *ld, config_setting_t *g, struct cfg_provider *p,
                          const char *where)
{
	static const char *const reserved[] = { "x-api-key",      "authorization",
		                                "content-type",   "anthropic-version",
		                                "content-length", "host",
		                                "expect" };

	for (size_t i = 0; p->headers && p->headers[i]; i++) {
		const char *h = p->headers[i], *colon = strchr(h, ':');
		size_t n = colon ? (size_t)(colon - h) : 0;
		bool bad = n == 0 || strpbrk(h, "\r\n") != NULL;
		for (size_t k = 0; k < n && !bad; k++)
			bad = !(isalnum((unsigned char)h[k]) || h[k] == '-' || h[k] == '_');
		if (bad) {
			err_at(ld, config_setting_get_member(g, "headers"),
			       "%s: header \"%.64s\" is not \"Name: value\"", where, h);
			continue;
		}
		for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
			if (strlen(reserved[k]) == n && strncasecmp(h, reserved[k], n) == 0)
				err_at(ld, config_setting_get_member(g, "headers"),
				       "%s: header %.*s is set by warmd itself", where, (int)n, h);
	}
}

static void load_providers(const struct loader *ld, config_t *cf, struct config *c)
{
	config_setting_t *list = config_lookup(cf, "providers");
	int n;

	/* None at all is fine while no target needs one: the shipped config
	 * starts warmd idle. A target without a provider is the error. */
	if (!list)
		return;
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		err_at(ld, list, "\"providers\" must be a list: providers = ( { ... } );");
		return;
	}
	n = config_setting_length(list);
	if (n == 0)
		return;
	c->providers = calloc((size_t)n, sizeof(*c->providers));
	if (!c->providers)
		abort();
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct cfg_provider *p = &c->providers[c->nproviders];
		char where[96];
		config_setting_t *ks;
		int kind_set, errors;

		if (!config_setting_is_group(g)) {
			err_at(ld, g, "providers[%d] must be a group { ... }", i);
			continue;
		}
		c->nproviders++;
		p->file = xstrdup(setting_file(ld, g));
		p->line = setting_line(g);
		p->kind = -1;
		p->max_inflight = 8;
		p->timeout_ms = 30000;
		p->connect_timeout_ms = 10000;
		p->low_speed_bps = 16;
		p->low_speed_time_ms = 20000;
		p->max_response_bytes = 1024 * 1024;
		snprintf(where, sizeof(where), "providers[%d]", i);
		errors = read_group(ld, g, provider_keys, p, where);
		if (!p->name) {
			err_at(ld, g, "%s: \"name\" is required", where);
			continue;
		}
		snprintf(where, sizeof(where), "provider \"%s\"", p->name);
		if (!config_name_valid(p->name)) {
			err_at(ld, config_setting_get_member(g, "name"),
			       "%s: names may only use letters, digits, '-', '_' and '.' (at most "
			       "64)",
			       where);
			errors++;
		}
		for (size_t j = 0; j + 1 < c->nproviders; j++) {
			if (c->providers[j].name && strcmp(c->providers[j].name, p->name) == 0) {
				err_at(ld, g, "%s: defined twice (first at line %d)", where,
				       c->providers[j].line);
				errors++;
			}
		}
		kind_set = config_setting_get_member(g, "kind") != NULL;
		if (!kind_set) {
			/* A provider named after its kind needs no "kind". */
			int k = enum_lookup(kind_names, p->name);
			if (k < 0) {
				err_at(ld, g,
				       "%s: \"kind\" is required (anthropic, openai or "
				       "openai-compatible)",
				       where);
				continue;
			}
			p->kind = k;
		}
		if ((int)p->kind < 0)
			continue;
		if (!p->base_url) {
			const char *u = kind_default_url(p->kind);
			if (!u) {
				err_at(ld, g, "%s: \"base_url\" is required for kind %s", where,
				       provider_kind_name(p->kind));
				continue;
			}
			p->base_url = xstrdup(u);
		}
		if (!errors)
			check_base_url(ld,
			               config_setting_get_member(g, "base_url")
			                       ? config_setting_get_member(g, "base_url")
			                       : g,
			               p);
		ks = config_setting_get_member(g, "api_key_file");
		if (!ks)
			ks = config_setting_get_member(g, "api_key_env");
		if (!ks)
			ks = config_setting_get_member(g, "api_key");
		p->key_line = setting_line(ks ? ks : g);
		if (!!p->api_key_file + !!p->api_key_env + !!p->api_key > 1) {
			err_at(ld, ks, "%s: use only one of api_key_file, api_key_env and api_key",
			       where);
			continue;
		}
		if (p->api_key_file) {
			char *r = resolve_key_file(ld, p->api_key_file);
			free(p->api_key_file);
			p->api_key_file = r;
		}
		check_headers(ld, g, p, where);
		if (p->api_key)
			warn_at(ld, ks,
			        "%s: the API key is written inline in the config; prefer "
			        "api_key_file (systemd LoadCredential=) or api_key_env",
			        where);
		if (!p->api_key_file && !p->api_key_env && !p->api_key && kind_default_env(p->kind))
			p->api_key_env = xstrdup(kind_default_env(p->kind));
	}
}

/* policy = "schedule" needs windows; windows need that policy. */
static void check_schedule(const struct loader *ld, config_setting_t *g, struct cfg_target *t,
                           const char *where)
{
	config_setting_t *s = config_setting_get_member(g, "schedule");
	size_t n = 0;

	while (t->schedule && t->schedule[n])
		n++;
	if (n && t->policy != POLICY_SCHEDULE) {
		warn_at(ld, s, "%s: \"schedule\" is only used with policy = \"schedule\"; ignored",
		        where);
		return;
	}
	if (t->policy != POLICY_SCHEDULE)
		return;
	if (n == 0) {
		err_at(ld, s ? s : config_setting_get_member(g, "policy"),
		       "%s: policy \"schedule\" needs schedule = [\"Mon-Fri 07:30-19:00 "
		       "Europe/Berlin\", ...]",
		       where);
		return;
	}
	t->windows = calloc(n, sizeof(*t->windows));
	if (!t->windows)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct errmsg e;
		config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
		if (policy_window_parse(t->schedule[i], &t->windows[i], &e) < 0)
			err_at(ld, el ? el : s, "%s: %s", where, e.text);
	}
	t->nwindows = n;
}

static char **strlist_dup(char *const *v)
{
	size_t n = 0;
	char **r;

	if (!v)
		return NULL;
	while (v[n])
		n++;
	if (!(r = calloc(n + 1, sizeof(*r))))
		abort();
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

/* A deep copy of t (every string and list its own). */
static void target_copy(struct cfg_target *dst, const struct cfg_target *t)
{
	*dst = *t;
	dst->name = t->name ? xstrdup(t->name) : NULL;
	dst->provider = t->provider ? xstrdup(t->provider) : NULL;
	dst->request_file = t->request_file ? xstrdup(t->request_file) : NULL;
	dst->cache_key = t->cache_key ? xstrdup(t->cache_key) : NULL;
	dst->schedule = strlist_dup(t->schedule);
	dst->allow_edit_list = strlist_dup(t->allow_edit_list);
	dst->file = t->file ? xstrdup(t->file) : NULL;
	dst->group = t->group ? xstrdup(t->group) : NULL;
	dst->vname = t->vname ? xstrdup(t->vname) : NULL;
	dst->windows = NULL;
	if (t->nwindows) {
		if (!(dst->windows = malloc(t->nwindows * sizeof(*t->windows))))
			abort();
		memcpy(dst->windows, t->windows, t->nwindows * sizeof(*t->windows));
	}
}

/* How many cfg_targets a targets list becomes (a target with versions is one
 * per version). */
static size_t count_lanes(config_setting_t *list)
{
	size_t n = 0;

	for (int i = 0; i < config_setting_length(list); i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		config_setting_t *v = config_setting_is_group(g)
		                              ? config_setting_get_member(g, "versions")
		                              : NULL;
		int m = v && (config_setting_is_list(v) || config_setting_is_array(v))
		                ? config_setting_length(v)
		                : 0;
		n += m > 0 ? (size_t)m : 1;
	}
	return n;
}

/* Turns the target at c->targets[c->ntargets - 1], whose group g lists
 * versions, into one target per version named NAME@VERSION (the versions
 * take the slots after it, which count_lanes() reserved). */
static void expand_versions(const struct loader *ld, config_setting_t *g, struct config *c,
                            const char *where)
{
	config_setting_t *vs = config_setting_get_member(g, "versions");
	struct cfg_target *base = &c->targets[c->ntargets - 1], proto;
	int m, total = 0;

	if (base->request_file) {
		err_at(ld, config_setting_get_member(g, "request_file"),
		       "%s: give either \"request_file\" or \"versions\", not both", where);
		return;
	}
	if (!config_setting_is_list(vs) && !config_setting_is_array(vs)) {
		err_at(ld, vs,
		       "%s: \"versions\" must be a list: versions = ( { name = \"blue\"; "
		       "request_file = \"...\"; weight = 100; } );",
		       where);
		return;
	}
	m = config_setting_length(vs);
	if (m < 1 || m > CFG_MAX_VERSIONS) {
		err_at(ld, vs, "%s: \"versions\" must list 1 to %d versions", where,
		       CFG_MAX_VERSIONS);
		return;
	}
	proto = *base; /* the lanes' common settings; base's strings move into it */
	c->ntargets--;
	for (int i = 0; i < m; i++) {
		config_setting_t *vg = config_setting_get_elem(vs, (unsigned)i);
		struct cfg_target *t = &c->targets[c->ntargets];
		char vwhere[160], name[160];

		target_copy(t, &proto);
		c->ntargets++;
		free(t->name);
		t->name = NULL;
		t->group = xstrdup(proto.name);
		t->weight = -1;
		t->line = setting_line(vg);
		snprintf(vwhere, sizeof(vwhere), "%s: versions[%d]", where, i);
		if (!config_setting_is_group(vg)) {
			err_at(ld, vg, "%s must be a group { name; request_file; weight; }",
			       vwhere);
			continue;
		}
		read_group(ld, vg, version_keys, t, vwhere);
		if (!t->vname || !t->request_file || t->weight < 0) {
			err_at(ld, vg, "%s: \"name\", \"request_file\" and \"weight\" are required",
			       vwhere);
			continue;
		}
		t->request_file_line = setting_line(config_setting_get_member(vg, "request_file"));
		if (!config_name_valid(t->vname))
			err_at(ld, config_setting_get_member(vg, "name"),
			       "%s: version names may only use letters, digits, '-', '_' and '.'",
			       vwhere);
		for (size_t j = c->ntargets - 1 - (size_t)i; j + 1 < c->ntargets; j++)
			if (c->targets[j].vname && strcmp(c->targets[j].vname, t->vname) == 0)
				err_at(ld, vg, "%s: version \"%s\" is listed twice", where,
				       t->vname);
		snprintf(name, sizeof(name), "%s@%s", proto.name, t->vname);
		t->name = xstrdup(name);
		total += t->weight;
	}
	if (total == 0)
		err_at(ld, vs, "%s: every version has weight 0: at least one must take traffic",
		       where);
	/* proto's strings were copied into every lane */
	free(proto.name);
	free(proto.provider);
	free(proto.cache_key);
	free_strlist(proto.schedule);
	free(proto.windows);
	free_strlist(proto.allow_edit_list);
	free(proto.file);
}

static void load_targets(const struct loader *ld, config_t *cf, struct config *c)
{
	config_setting_t *list = config_lookup(cf, "targets");
	int n;

	if (!list) {
		diags_add(ld->d, DIAG_WARNING, ld->path, 0,
		          "no \"targets\" list: warmd will run but warm nothing");
		return;
	}
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		err_at(ld, list, "\"targets\" must be a list: targets = ( { ... } );");
		return;
	}
	n = config_setting_length(list);
	c->targets = calloc(count_lanes(list) + 1, sizeof(*c->targets));
	if (!c->targets)
		abort();
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct cfg_target *t = &c->targets[c->ntargets];
		const struct cfg_provider *p = NULL;
		config_setting_t *s;
		char where[96];

		if (!config_setting_is_group(g)) {
			err_at(ld, g, "targets[%d] must be a group { ... }", i);
			continue;
		}
		c->ntargets++;
		t->file = xstrdup(setting_file(ld, g));
		t->line = setting_line(g);
		t->ttl_s = -1;
		t->priority = 10;
		t->policy = POLICY_ALWAYS;
		t->endpoint = ENDPOINT_AUTO;
		t->overlap_s = CFG_VERSION_OVERLAP_S;
		snprintf(where, sizeof(where), "targets[%d]", i);
		read_group(ld, g, target_keys, t, where);
		if (!t->name) {
			err_at(ld, g, "%s: \"name\" is required", where);
			continue;
		}
		snprintf(where, sizeof(where), "target \"%s\"", t->name);
		if (!config_name_valid(t->name))
			err_at(ld, config_setting_get_member(g, "name"),
			       "%s: names may only use letters, digits, '-', '_' and '.' (at most "
			       "64)",
			       where);
		for (size_t j = 0; j + 1 < c->ntargets; j++) {
			const char *other =
			        c->targets[j].group ? c->targets[j].group : c->targets[j].name;
			if (other && strcmp(other, t->name) == 0) {
				err_at(ld, g, "%s: defined twice (first at line %d)", where,
				       c->targets[j].line);
				break;
			}
		}
		if (!t->provider && c->nproviders == 0) {
			err_at(ld, g, "%s: no provider is configured: add one to \"providers\"",
			       where);
			continue;
		}
		if (!t->provider) {
			if (c->nproviders != 1) {
				err_at(ld, g,
				       "%s: \"provider\" is required when more than one provider "
				       "is "
				       "configured",
				       where);
				continue;
			}
			t->provider = xstrdup(c->providers[0].name ? c->providers[0].name : "");
		}
		for (size_t j = 0; j < c->nproviders; j++) {
			if (c->providers[j].name &&
			    strcmp(c->providers[j].name, t->provider) == 0) {
				p = &c->providers[j];
				t->provider_index = j;
			}
		}
		if (!p) {
			err_at(ld, config_setting_get_member(g, "provider"),
			       "%s: unknown provider \"%s\"", where, t->provider);
			continue;
		}
		s = config_setting_get_member(g, "request_file");
		t->request_file_line = setting_line(s ? s : g);
		if (!t->request_file && !config_setting_get_member(g, "versions"))
			err_at(ld, g,
			       "%s: \"request_file\" is required (the application's request body "
			       "as JSON)",
			       where);
		s = config_setting_get_member(g, "ttl");
		if (t->ttl_s < 0) {
			if ((int)p->kind == PROVIDER_OPENAI_COMPAT) {
				err_at(ld, g,
				       "%s: \"ttl\" is required for openai-compatible providers "
				       "(they evict by LRU; ttl is your warm interval)",
				       where);
				continue;
			}
			t->ttl_s = 300;
		} else if (t->ttl_s < SCHED_MIN_TTL_S) {
			err_at(ld, s,
			       "%s: ttl %gs is too short for the scheduler to beat: warms need a "
			       "margin of at least %.1fs before expiry, so ttl must be at least "
			       "%gs",
			       where, t->ttl_s, SCHED_MARGIN_FLOOR_S, SCHED_MIN_TTL_S);
		}
		t->ttl_set = config_setting_get_member(g, "ttl") != NULL;
		check_allow_edit(ld, g, t, where);
		if (t->warm_mode == WARM_MODE_PREWARM &&
		    ((t->endpoint != ENDPOINT_RESPONSES && t->endpoint != ENDPOINT_AUTO) ||
		     (int)p->kind == PROVIDER_ANTHROPIC))
			err_at(ld, config_setting_get_member(g, "warm_mode"),
			       "%s: warm_mode \"prewarm\" needs the responses endpoint", where);
		if (t->endpoint != ENDPOINT_AUTO && (int)p->kind >= 0) {
			bool ok = (p->kind == PROVIDER_ANTHROPIC) ==
			          (t->endpoint == ENDPOINT_MESSAGES);
			if (!ok)
				err_at(ld, config_setting_get_member(g, "endpoint"),
				       "%s: endpoint \"%s\" does not match provider \"%s\" of kind "
				       "%s",
				       where, endpoint_name(t->endpoint), p->name,
				       provider_kind_name(p->kind));
		}
		check_schedule(ld, g, t, where);
		if (t->cache_key && (int)p->kind == PROVIDER_ANTHROPIC)
			err_at(ld, config_setting_get_member(g, "cache_key"),
			       "%s: cache_key (OpenAI prompt_cache_key) does not apply to "
			       "Anthropic "
			       "provider \"%s\"",
			       where, p->name);
		if (config_setting_get_member(g, "versions"))
			expand_versions(ld, g, c, where);
	}
}

static void check_sections(const struct loader *ld, config_t *cf)
{
	config_setting_t *root = config_root_setting(cf);
	int n = config_setting_length(root);
	static const struct key_def top[] = {
		{ "daemon", 0, 0, 0, 0, NULL, NULL },  { "providers", 0, 0, 0, 0, NULL, NULL },
		{ "targets", 0, 0, 0, 0, NULL, NULL }, { "pricing", 0, 0, 0, 0, NULL, NULL },
		{ NULL, 0, 0, 0, 0, NULL, NULL },
	};

	for (int i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		bool known = false;
		for (const struct key_def *k = top; k->name; k++)
			known |= strcmp(k->name, name) == 0;
		if (!known) {
			const char *hint = closest_key(top, name);
			if (hint)
				err_at(ld, s, "unknown section \"%s\" (did you mean \"%s\"?)", name,
				       hint);
			else
				err_at(ld, s,
				       "unknown section \"%s\" (expected daemon, providers, "
				       "targets)",
				       name);
		}
	}
}

static char *dir_of(const char *path)
{
	char *abs = realpath(path, NULL), *slash;

	if (!abs)
		abs = xstrdup(path);
	slash = strrchr(abs, '/');
	if (!slash) {
		free(abs);
		return xstrdup(".");
	}
	if (slash == abs)
		slash[1] = '\0';
	else
		*slash = '\0';
	return abs;
}

int config_load(const char *path, struct diags *d, struct config **ret)
{
	size_t errors_before = d->errors;
	struct config *c;
	struct loader ld;
	config_t cf;

	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->file = xstrdup(path);
	c->dir = dir_of(path);
	ld.path = c->file;
	ld.dir = c->dir;
	ld.d = d;

	config_init(&cf);
	config_set_include_dir(&cf, c->dir);
	struct stat st;
	if (access(path, R_OK) < 0 || stat(path, &st) < 0) {
		diags_add(d, DIAG_ERROR, path, 0, "cannot read config file: %s", strerror(errno));
		config_destroy(&cf);
		config_free(c);
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode)) {
		diags_add(d, DIAG_ERROR, path, 0, "config file is not a regular file");
		config_destroy(&cf);
		config_free(c);
		return -EINVAL;
	}
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		const char *f = config_error_file(&cf);
		diags_add(d, DIAG_ERROR, f ? f : path, config_error_line(&cf), "%s",
		          config_error_text(&cf));
		config_destroy(&cf);
		config_free(c);
		return -EINVAL;
	}
	check_sections(&ld, &cf);
	load_daemon(&ld, &cf, c);
	load_providers(&ld, &cf, c);
	load_targets(&ld, &cf, c);
	if (config_lookup(&cf, "pricing")) {
		c->price_overrides = calloc(1, sizeof(*c->price_overrides));
		if (!c->price_overrides)
			abort();
		pricing_merge_setting(c->price_overrides, config_lookup(&cf, "pricing"), c->file,
		                      d);
	}
	config_destroy(&cf);
	if (d->errors > errors_before) {
		config_free(c);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nproviders; i++) {
		struct cfg_provider *p = &c->providers[i];
		free(p->name);
		free(p->base_url);
		free(p->api_key_file);
		free(p->api_key_env);
		free(p->ca_file);
		free(p->proxy);
		free_strlist(p->headers);
		free_secret(p->api_key);
		free(p->file);
	}
	for (size_t i = 0; i < c->ntargets; i++) {
		struct cfg_target *t = &c->targets[i];
		free(t->name);
		free(t->provider);
		free(t->request_file);
		free(t->cache_key);
		free_strlist(t->schedule);
		free(t->windows);
		free_strlist(t->allow_edit_list);
		free(t->file);
		free(t->group);
		free(t->vname);
	}
	free(c->providers);
	free(c->targets);
	free(c->daemon.control_socket);
	free(c->daemon.touch_socket);
	free(c->daemon.state_file);
	free(c->daemon.metrics_listen);
	free(c->daemon.pricing_file);
	pricing_free(c->price_overrides);
	free(c->daemon.control_group);
	free(c->daemon.metrics_textfile);
	free(c->file);
	free(c->dir);
	free(c);
}
