/* config: reads warmd.conf (libconfig) into an immutable snapshot: opens
 * the file, has each section read (config_sections.h: config_daemon.c,
 * config_provider.c, config_target.c, config_cluster.c, each through the
 * key tables of config_keys.c) and frees the result. The top of the
 * loader: nothing below calls back into this file. */
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_keys.h"
#include "config_sections.h"
#include "pricing.h"
#include "xalloc.h"

static void check_sections(const struct loader *ld, config_t *cf)
{
	config_setting_t *root = config_root_setting(cf);
	int n = config_setting_length(root);
	static const struct key_def top[] = {
		{ .name = "daemon" },  { .name = "providers" }, { .name = "targets" },
		{ .name = "pricing" }, { .name = "cluster" },   { .name = NULL },
	};
	char list[64] = ""; /* "daemon, providers, targets, pricing, cluster" */

	for (const struct key_def *k = top; k->name; k++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
		         k == top ? "" : ", ", k->name);
	for (int i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		bool known = false;
		for (const struct key_def *k = top; k->name; k++)
			known |= strcmp(k->name, name) == 0;
		if (!known) {
			const char *hint = config_closest_key(top, name);
			if (hint)
				err_at(ld, s, "unknown section \"%s\" (did you mean \"%s\"?)", name,
				       hint);
			else
				err_at(ld, s, "unknown section \"%s\" (expected %s)", name, list);
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

/* The sections, in order: each may depend on the ones before it. */
static void load_sections(const struct loader *ld, config_t *cf, struct config *c)
{
	config_setting_t *pricing = config_lookup(cf, "pricing");

	check_sections(ld, cf);
	config_load_daemon(ld, cf, c);
	config_load_providers(ld, cf, c);
	config_load_targets(ld, cf, c);
	config_load_cluster(ld, cf, c);
	if (pricing) {
		c->price_overrides = xcalloc(1, sizeof(*c->price_overrides));
		pricing_merge_setting(c->price_overrides, pricing, c->file, ld->d);
	}
}

int config_load(const char *path, struct diags *d, struct config **ret)
{
	size_t errors_before = d->errors;
	struct config *c = xcalloc(1, sizeof(*c));
	struct loader ld;
	struct stat st;
	config_t cf;

	c->file = xstrdup(path);
	c->dir = dir_of(path);
	ld = (struct loader){ .path = c->file, .dir = c->dir, .d = d, .c = c };
	config_init(&cf);
	config_set_include_dir(&cf, c->dir);
	if (access(path, R_OK) < 0 || stat(path, &st) < 0)
		diags_add(d, DIAG_ERROR, path, 0, "cannot read config file: %s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		diags_add(d, DIAG_ERROR, path, 0, "config file is not a regular file");
	else if (config_read_file(&cf, path) != CONFIG_TRUE)
		diags_add(d, DIAG_ERROR, config_error_file(&cf) ? config_error_file(&cf) : path,
		          config_error_line(&cf), "%s", config_error_text(&cf));
	else
		load_sections(&ld, &cf, c);
	config_wipe_providers(&cf);
	config_wipe_cluster(&cf);
	config_destroy(&cf);
	if (d->errors > errors_before) {
		config_free(c);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

/* For the strings that may hold a secret: the inline key, header lines (a
 * gateway's token), URLs (a password in their userinfo). */
static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void free_secret_list(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		explicit_bzero(v[i], strlen(v[i]));
	config_strlist_free(v);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nproviders; i++) {
		struct cfg_provider *p = &c->providers[i];
		free(p->name);
		free_secret(p->base_url);
		free(p->api_key_file);
		free(p->api_key_env);
		free(p->ca_file);
		free_secret(p->proxy);
		free(p->region);
		free(p->aws_credentials_file);
		free(p->aws_profile);
		free(p->project);
		free(p->service_account_file);
		free(p->api_version);
		free_secret_list(p->headers);
		free_secret(p->api_key);
		free(p->file);
	}
	for (size_t i = 0; i < c->ntargets; i++) {
		struct cfg_target *t = &c->targets[i];
		free(t->name);
		free(t->provider);
		free(t->request_file);
		free(t->cache_key);
		free(t->model);
		free(t->deployment);
		config_strlist_free(t->schedule);
		free(t->windows);
		config_strlist_free(t->allow_edit_list);
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
	free_secret(c->cluster.redis); /* a refused one may hold a password */
	free(c->cluster.password_file);
	free(c->cluster.username);
	free(c->cluster.node);
	free(c->cluster.ns);
	free(c->cluster.file);
	free(c->file);
	free(c->dir);
	free(c);
}

int config_restart_only_changes(const struct config *old, const struct config *next,
                                config_change_cb cb, void *ctx)
{
	return config_daemon_restart_changes(old, next, cb, ctx) +
	       config_cluster_restart_changes(old, next, cb, ctx);
}
