/* config_cluster: the optional cluster = { ... } section: the Redis that
 * several warmd nodes share, how this node logs in and names itself, and
 * the lease after which a dead node's targets move. Without the section
 * warmd runs alone, exactly as before. Every key needs a restart. */
#include "config.h"

#include <libconfig.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_proto.h"
#include "config_keys.h"
#include "config_sections.h"
#include "duration.h"
#include "xalloc.h"

/* A takeover waits up to a lease for the dead owner's lease to expire and
 * warms after that: a TTL under this many leases leaves little room. */
#define TTL_LEASES 4

/* The host name up to its first '.', as `hostname -s` prints it; NULL
 * when there is none (the check after the defaults reports it). */
static void default_node(const struct loader *ld, const config_setting_t *g, const void *base,
                         void *field)
{
	char host[256] = "", **dst = field;

	if (gethostname(host, sizeof(host) - 1) < 0)
		return;
	host[strcspn(host, ".")] = '\0';
	free(*dst);
	*dst = xstrdup(host);
}

#define C(f) offsetof(struct cfg_cluster, f)
/* One key per entry (clang-format would spread each over seven lines). */
/* clang-format off */
static const struct key_def cluster_keys[] = {
	{ .name = "redis", .type = K_STR, .off = C(redis), .restart = true,
	  .help = "a URL such as \"redis://10.0.0.5:6379/0\" or \"unix:///run/redis/redis.sock\"" },
	{ .name = "password_file", .type = K_STR, .off = C(password_file), .restart = true,
	  .help = "a file name" },
	{ .name = "username", .type = K_STR, .off = C(username), .restart = true,
	  .help = "a Redis ACL user" },
	{ .name = "node", .type = K_STR, .off = C(node), .dfn = default_node, .restart = true,
	  .help = "this node's name, unique in the cluster" },
	{ .name = "namespace", .type = K_STR, .off = C(ns), .def.s = "warmd", .restart = true,
	  .help = "the prefix of the cluster's Redis keys" },
	{ .name = "lease", .type = K_DURATION, .off = C(lease_s), .def.d = CFG_CLUSTER_LEASE_S,
	  .restart = true, .help = "a duration such as \"10s\"" },
	{ .name = NULL },
};
/* clang-format on */
_Static_assert(sizeof(cluster_keys) / sizeof(cluster_keys[0]) <= CONFIG_MAX_KEYS + 1,
               "more cluster_keys than CONFIG_MAX_KEYS");
#undef C

/* An ACL user as redis_url.c takes one after USER@, so that both ways of
 * giving it read the same. */
static bool user_ok(const char *s)
{
	size_t n = strlen(s);

	return n <= 64 && cluster_name_ok(s, n);
}

/* redis: required, a URL redis_url_parse() takes; a USER@ in it is the
 * username. */
static void check_redis(const struct loader *ld, config_setting_t *g, struct cfg_cluster *cl)
{
	config_setting_t *s = config_setting_get_member(g, "redis");
	struct errmsg e;

	if (!s) {
		err_at(ld, g,
		       "cluster: \"redis\" is required: the Redis every node uses, such as redis = "
		       "\"redis://10.0.0.5:6379/0\" or \"unix:///run/redis/redis.sock\"");
		return;
	}
	if (!cl->redis)
		return; /* reported by the key table */
	if (redis_url_parse(cl->redis, &cl->addr, &e) < 0) {
		err_at(ld, s, "cluster.redis: %s", e.text);
		return;
	}
	if (!cl->addr.user[0])
		return;
	if (cl->username && strcmp(cl->username, cl->addr.user) != 0) {
		err_at(ld, config_setting_get_member(g, "username"),
		       "cluster: username \"%s\" differs from the user in redis (\"%s\"): give it "
		       "once",
		       cl->username, cl->addr.user);
		return;
	}
	if (!cl->username)
		cl->username = xstrdup(cl->addr.user);
}

/* username needs password_file (Redis' AUTH takes both); password_file is
 * looked up among systemd's credentials first, like api_key_file. */
static void check_login(const struct loader *ld, config_setting_t *g, struct cfg_cluster *cl)
{
	config_setting_t *u = config_setting_get_member(g, "username");

	if (cl->username && !user_ok(cl->username))
		err_at(ld, u ? u : config_setting_get_member(g, "redis"),
		       "cluster: username must be 1 to 64 characters of [A-Za-z0-9._-]");
	else if (cl->username && !cl->password_file)
		err_at(ld, u ? u : config_setting_get_member(g, "redis"),
		       "cluster: a username (%s) needs password_file: Redis logs a user in with "
		       "a password",
		       u ? "username" : "USER@ in redis");
	if (cl->password_file) {
		char *r = config_resolve_credential(ld, cl->password_file);
		free(cl->password_file);
		cl->password_file = r;
	}
}

static void check_names(const struct loader *ld, config_setting_t *g, struct cfg_cluster *cl)
{
	config_setting_t *n = config_setting_get_member(g, "node");

	if (!cl->node && !n)
		err_at(ld, g, "cluster: cannot read this host's name: set node = \"...\"");
	else if (cl->node && !cluster_name_ok(cl->node, strlen(cl->node)))
		err_at(ld, n ? n : g,
		       n ? "cluster: \"node\" must be 1 to %d characters of [A-Za-z0-9._-]"
		         : "cluster: this host's name is not a node name (1 to %d characters of "
		           "[A-Za-z0-9._-]): set node = \"...\"",
		       CLUSTER_NAME_MAX);
	if (cl->ns && !cluster_name_ok(cl->ns, strlen(cl->ns)))
		err_at(ld, config_setting_get_member(g, "namespace"),
		       "cluster: \"namespace\" must be 1 to %d characters of [A-Za-z0-9._-]",
		       CLUSTER_NAME_MAX);
}

/* A takeover can take a lease before the new owner warms: a target whose
 * TTL is not several leases long may go cold in between. One warning per
 * target as written (at its first version's line, for one with versions). */
static void warn_short_ttls(const struct loader *ld, const struct config *c)
{
	char ttl[32], lease[32];

	for (size_t i = 0; i < c->ntargets; i++) {
		const struct cfg_target *t = &c->targets[i];
		if (t->ttl_s < 0 || t->ttl_s >= TTL_LEASES * c->cluster.lease_s)
			continue;
		/* the versions of one target share its ttl (they follow each other) */
		if (i > 0 && t->group && c->targets[i - 1].group &&
		    strcmp(t->group, c->targets[i - 1].group) == 0)
			continue;
		diags_add(ld->d, DIAG_WARNING, t->file ? t->file : ld->path, t->line,
		          "target \"%s\": ttl %s is under %d x the cluster lease (%s): a takeover "
		          "may let it lapse",
		          t->group ? t->group : t->name,
		          duration_format(t->ttl_s, ttl, sizeof(ttl)), TTL_LEASES,
		          duration_format(c->cluster.lease_s, lease, sizeof(lease)));
	}
}

void config_load_cluster(const struct loader *ld, config_t *cf, struct config *c)
{
	config_setting_t *g = config_lookup(cf, "cluster");
	struct cfg_cluster *cl = &c->cluster;
	size_t errors = ld->d->errors;

	if (!g)
		return;
	if (!config_setting_is_group(g)) {
		err_at(ld, g, "\"cluster\" must be a group: cluster = { redis = \"...\"; };");
		return;
	}
	cl->enabled = true;
	cl->file = xstrdup(config_file_of(ld, g));
	cl->line = config_line_of(g);
	config_read_group(ld, g, cluster_keys, cl, "cluster");
	check_redis(ld, g, cl);
	check_login(ld, g, cl);
	check_names(ld, g, cl);
	if (cl->lease_s < CFG_CLUSTER_LEASE_MIN_S || cl->lease_s > CFG_CLUSTER_LEASE_MAX_S) {
		err_at(ld, config_setting_get_member(g, "lease"),
		       "cluster: \"lease\" must be from 1s to 5m (how long a dead node's targets "
		       "stay unowned at most)");
		return;
	}
	if (ld->d->errors == errors)
		warn_short_ttls(ld, c);
}

void config_wipe_cluster(config_t *cf)
{
	const char *v;

	/* libconfig's own copy, malloc'd: writable, only typed const */
	if (config_lookup_string(cf, "cluster.redis", &v))
		explicit_bzero((char *)v, strlen(v));
}

int config_cluster_restart_changes(const struct config *old, const struct config *next,
                                   config_change_cb cb, void *ctx)
{
	int n = 0;

	if (old->cluster.enabled != next->cluster.enabled) {
		cb("cluster", next->cluster.enabled ? next->cluster.redis : NULL, ctx);
		return 1;
	}
	if (!next->cluster.enabled)
		return 0;
	for (const struct key_def *k = cluster_keys; k->name; k++) {
		char name[64], text[64];
		if (!k->restart || config_key_equal(k, &old->cluster, &next->cluster))
			continue;
		snprintf(name, sizeof(name), "cluster.%s", k->name);
		cb(name, config_key_text(k, &next->cluster, text, sizeof(text)), ctx);
		n++;
	}
	return n;
}
