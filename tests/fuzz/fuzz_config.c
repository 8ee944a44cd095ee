/* fuzz_config: the config loader (core/config.c, libconfig text), with
 * everything it parses on the way: durations, schedule windows, header
 * lines, base URLs, versions, warmd.conf's own pricing entries and the
 * cluster section's Redis URL.
 *
 * config_load() takes a path, so the input goes to a memory file named by
 * its /proc/self/fd path. @include is left out: it reads other files (a
 * pipe or stdin would block the run), and libconfig's include is not ours. */
#include <ctype.h>

#include "cluster_proto.h"
#include "config.h"
#include "diag.h"
#include "fuzz.h"
#include "sched_rules.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Defaults that come from the environment: the same for every run. */
	unsetenv("RUNTIME_DIRECTORY");
	unsetenv("STATE_DIRECTORY");
	unsetenv("CREDENTIALS_DIRECTORY");
	return 0;
}

static bool has_include(const uint8_t *data, size_t size)
{
	static const char word[] = "@include";

	for (size_t i = 0; i + sizeof(word) - 1 <= size; i++) {
		size_t k = 0;
		while (k < sizeof(word) - 1 && tolower(data[i + k]) == word[k])
			k++;
		if (k == sizeof(word) - 1)
			return true;
	}
	return false;
}

/* Durations are bounded however they are written ("ttl = 1e300;" too):
 * the scheduler turns them into timer milliseconds and status text. */
static bool duration_sane(double v)
{
	return v >= 0 && v <= 365.0 * 86400;
}

/* What cluster mode relies on: a parsed address, names it can put in
 * Redis keys, a lease in bounds, a user only with a password. */
static void check_cluster(const struct cfg_cluster *cl)
{
	struct redis_addr a;
	struct errmsg e;

	if (!cl->enabled) {
		if (cl->redis || cl->node || cl->ns)
			abort();
		return;
	}
	if (!cl->redis || redis_url_parse(cl->redis, &a, &e) < 0 ||
	    strcmp(a.host, cl->addr.host) != 0 || !cl->node ||
	    !cluster_name_ok(cl->node, strlen(cl->node)) || !cl->ns ||
	    !cluster_name_ok(cl->ns, strlen(cl->ns)) || !(cl->lease_s >= CFG_CLUSTER_LEASE_MIN_S) ||
	    !(cl->lease_s <= CFG_CLUSTER_LEASE_MAX_S) || (cl->username && !cl->password_file) ||
	    (cl->addr.user[0] && (!cl->username || strcmp(cl->username, cl->addr.user) != 0)))
		abort();
}

/* What daemon.c relies on in a config that loaded. */
static void check_config(const struct config *c)
{
	if (!duration_sane(c->daemon.metrics_textfile_interval))
		abort();
	for (size_t i = 0; i < c->nproviders; i++) {
		const struct cfg_provider *p = &c->providers[i];
		if (!p->name || !config_name_valid(p->name) || !p->base_url ||
		    (strncmp(p->base_url, "https://", 8) != 0 &&
		     strncmp(p->base_url, "http://", 7) != 0))
			abort();
	}
	for (size_t i = 0; i < c->ntargets; i++) {
		const struct cfg_target *t = &c->targets[i];
		if (!t->name || !config_lane_name_valid(t->name) || !t->request_file ||
		    t->provider_index >= c->nproviders || !(t->ttl_s >= SCHED_MIN_TTL_S))
			abort();
		if (!duration_sane(t->ttl_s) || !duration_sane(t->idle_limit_s) ||
		    !duration_sane(t->overlap_s))
			abort();
		if (t->policy == POLICY_SCHEDULE && (!t->windows || !t->nwindows))
			abort();
		if (t->group && (t->weight < 0 || t->weight > 100 || !t->vname))
			abort();
	}
	check_cluster(&c->cluster);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diags d = { 0 };
	struct config *c = NULL;
	char path[64], line[1400];
	int fd;

	if (has_include(data, size))
		return -1; /* not worth keeping in the corpus */
	fd = fuzz_memfd("warmd.conf", data, size, path);
	if (config_load(path, &d, &c) == 0) {
		if (d.errors)
			abort();
		check_config(c);
		config_free(c);
	} else if (!d.errors) {
		abort(); /* a refused config says why */
	}
	for (size_t i = 0; i < d.n; i++)
		diag_format(&d.v[i], line, sizeof(line));
	diags_free(&d);
	close(fd);
	return 0;
}
