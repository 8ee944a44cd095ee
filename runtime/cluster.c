/* cluster: ownership of cache entries among warmd nodes sharing one Redis
 * (cluster.h says what; docs/cluster.md says why each rule is as it is).
 *
 * One cycle every lease/4: a heartbeat script renews this node's key and
 * returns the live nodes; the configurations of nodes whose digest changed
 * are read again; rendezvous hashing over the live nodes that have an entry
 * names its owner; a lease script renews or takes the entries this node
 * should own and releases the ones it should no longer hold. A cycle that
 * fails (Redis gone, a timeout, an answer no warmd script gives) puts the
 * node in degraded mode: it warms everything until a cycle succeeds. */
#include "cluster.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cluster_proto.h"
#include "jsonx.h"
#include "log.h"
#include "redis.h"
#include "sched.h"
#include "target.h"
#include "xalloc.h"

#define MAX_NODES     64  /* node names a node keeps track of */
#define LEASE_BATCH   256 /* entries per lease script call */
#define RELAY_PENDING 256 /* touches this node published and has not heard back */

/* Renews this node's heartbeat, registers it, and returns what was there
 * before (so a second process with the same name shows), then each live
 * node's name, record and remaining time; forgets nodes whose heartbeat
 * expired, and their configurations. KEYS: heartbeat key, node set;
 * ARGV: name, record, lease ms, heartbeat key prefix, config key prefix. */
static const char HB_SCRIPT[] =
        "local prev = redis.call('GET', KEYS[1])\n"
        "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
        "redis.call('SADD', KEYS[2], ARGV[1])\n"
        "local out = {prev or false}\n"
        "for _, n in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"
        "  local k = ARGV[4] .. n\n"
        "  local v = redis.call('GET', k)\n"
        "  if v then\n"
        "    out[#out+1] = n; out[#out+1] = v; out[#out+1] = redis.call('PTTL', k)\n"
        "  else\n"
        "    redis.call('SREM', KEYS[2], n); redis.call('DEL', ARGV[5] .. n)\n"
        "  end\n"
        "end\n"
        "return out\n";

/* For each entry (KEYS: its lease key, its warmth key; ARGV[2+i]: w to own
 * it, r to let it go): the holder afterwards, and the warmth record when
 * this call took it (what the takeover must know). ARGV: name, lease ms. */
static const char LEASE_SCRIPT[] = "local me, px, out = ARGV[1], ARGV[2], {}\n"
                                   "for i = 1, #KEYS / 2 do\n"
                                   "  local lk, wk = KEYS[2*i-1], KEYS[2*i]\n"
                                   "  local h, w = redis.call('GET', lk), false\n"
                                   "  if ARGV[2+i] == 'w' then\n"
                                   "    if h == me then redis.call('PEXPIRE', lk, px)\n"
                                   "    elseif not h then\n"
                                   "      redis.call('SET', lk, me, 'PX', px); h = me\n"
                                   "      w = redis.call('GET', wk) or false\n"
                                   "    end\n"
                                   "  elseif h == me then redis.call('DEL', lk); h = false end\n"
                                   "  out[2*i-1] = h or false; out[2*i] = w\n"
                                   "end\n"
                                   "return out\n";

/* This node's configuration: KEYS[1] replaced by the pairs in ARGV. */
static const char CFG_SCRIPT[] = "redis.call('DEL', KEYS[1])\n"
                                 "for i = 1, #ARGV, 2 do\n"
                                 "  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])\n"
                                 "end\n"
                                 "return #ARGV / 2\n";

/* A warm's warmth: stored and published, unless the record there already
 * says the cache lives longer (two nodes warmed during a hand-over, and
 * the slower answer came last). KEYS[1]: warmth key; ARGV: record, ms to
 * keep it, channel, message, its expires_at. */
static const char WARM_SCRIPT[] = "local old = redis.call('GET', KEYS[1])\n"
                                  "if old then\n"
                                  "  local ea = tonumber(string.match(old, '^v1 %S+ %S+ (%S+)'))\n"
                                  "  if ea and ea > tonumber(ARGV[5]) then return 0 end\n"
                                  "end\n"
                                  "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
                                  "return redis.call('PUBLISH', ARGV[3], ARGV[4])\n";

/* Rollout weights: ARGV[1] 'set' (this node changed them while Redis was
 * away, or just now) or 'add' (only where Redis has none), ARGV[2] the
 * channel, then lane/weight pairs; every change is published. Returns the
 * whole hash. */
static const char WEIGHTS_SCRIPT[] =
        "for i = 3, #ARGV, 2 do\n"
        "  local old = redis.call('HGET', KEYS[1], ARGV[i])\n"
        "  if ARGV[1] == 'set' or not old then\n"
        "    if old ~= ARGV[i+1] then\n"
        "      redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])\n"
        "      redis.call('PUBLISH', ARGV[2], ARGV[i] .. ' ' .. ARGV[i+1])\n"
        "    end\n"
        "  end\n"
        "end\n"
        "return redis.call('HGETALL', KEYS[1])\n";

/* Releases what this node holds and its heartbeat (a clean stop). */
static const char LEAVE_SCRIPT[] = "for i = 2, #KEYS do\n"
                                   "  if redis.call('GET', KEYS[i]) == ARGV[1] then\n"
                                   "    redis.call('DEL', KEYS[i])\n"
                                   "  end\n"
                                   "end\n"
                                   "redis.call('DEL', KEYS[1])\n"
                                   "return 1\n";

/* A target name and the entry another node's configuration gives it. */
struct named_eid {
	char *name;
	uint64_t eid;
};

struct node {
	char name[CLUSTER_NAME_MAX + 1];
	uint64_t seed;
	bool live, self;
	double hb_age; /* seconds since its last heartbeat */
	long owned;
	uint64_t digest;       /* of its configuration, as its heartbeat says */
	uint64_t cfg_digest;   /* of the configuration read below (0: none read) */
	struct named_eid *cfg; /* sorted by name */
	size_t ncfg;
	uint64_t *eids; /* the entries it has, sorted, unique */
	size_t neids;
	bool reading;  /* its configuration is being read */
	uint64_t seen; /* the heartbeat cycle (1, 2...) that last saw it live */
};

/* A cache entry this node's configuration has: its leading target. */
struct entry {
	uint64_t eid;
	struct target *t; /* ref */
	bool held;        /* this node holds its lease */
	int owner;        /* node index of who warms it, -1: unknown */
};

struct cluster {
	uv_loop_t *loop;
	struct target_set *set;
	struct cluster_ops ops;
	void *data;
	struct redis *redis;
	char *ns, *url;
	char node_name[CLUSTER_NAME_MAX + 1];
	double lease_s;
	uint64_t instance;
	uv_timer_t timer;

	struct node nodes[MAX_NODES];
	size_t nnodes;
	int self; /* index of this node in nodes */
	bool too_many_logged;

	struct entry *entries; /* sorted by eid */
	size_t nentries;
	uint64_t digest;    /* of this node's configuration */
	bool cfg_dirty;     /* to be published */
	bool weights_dirty; /* changed here while Redis was away */

	bool up;       /* Redis connected */
	bool degraded; /* warming everything */
	double degraded_since;
	enum { PHASE_IDLE, PHASE_NODES, PHASE_LEASES } phase; /* of the cycle in flight */
	unsigned pending; /* its phase's commands still unanswered */
	bool cycle_failed;
	char cycle_error[300];
	uint64_t heartbeats;
	bool duplicate_logged;
	uint64_t takeovers;
	unsigned took_from[MAX_NODES]; /* this cycle's takeovers, by previous owner */
	size_t owned, differs;

	double bad_touch_logged_at;
	bool leaving; /* cluster_leave(): no more cycles */
	void (*left)(void *data);
	void *left_data;
	char *relay[RELAY_PENDING]; /* FIFO of touch texts published here */
	unsigned relay_head, relay_n;
};

/* ---- small helpers ---- */

static double now_s(const struct cluster *c)
{
	return clock_now(c->set->clk);
}

static char *key_of(const struct cluster *c, const char *what, const char *id)
{
	size_t n = strlen(c->ns) + strlen(what) + strlen(id) + 3;
	char *k = xmalloc(n);

	snprintf(k, n, "%s:%s:%s", c->ns, what, id);
	return k;
}

static char *eid_key(const struct cluster *c, const char *what, uint64_t eid)
{
	char hex[17];

	cluster_eid_format(eid, hex);
	return key_of(c, what, hex);
}

static char *channel(const struct cluster *c, const char *what)
{
	size_t n = strlen(c->ns) + strlen(what) + 2;
	char *k = xmalloc(n);

	snprintf(k, n, "%s:%s", c->ns, what);
	return k;
}

/* An argument vector the commands are built in (strings owned). */
struct args {
	char **v;
	size_t *len;
	int n, cap;
};

static void args_add_len(struct args *a, char *s, size_t len)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xreallocarray(a->v, (size_t)a->cap, sizeof(*a->v));
		a->len = xreallocarray(a->len, (size_t)a->cap, sizeof(*a->len));
	}
	a->v[a->n] = s;
	a->len[a->n++] = len;
}

static void args_add(struct args *a, char *s)
{
	args_add_len(a, s, strlen(s));
}

static void args_addf(struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void args_addf(struct args *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		xalloc_die("vasprintf");
	va_end(ap);
	args_add(a, s);
}

static void args_free(struct args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	free(a->len);
	*a = (struct args){ 0 };
}

/* Sends a and frees it. Returns redis_cmd's answer. */
static int send_args(struct cluster *c, struct args *a, redis_reply_cb cb, void *data)
{
	int r = redis_cmd(c->redis, cb, data, a->n, (const char **)a->v, a->len);

	args_free(a);
	return r;
}

static void node_cfg_free(struct node *n);

static int node_find(const struct cluster *c, const char *name)
{
	for (size_t i = 0; i < c->nnodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The node named name (added when new), or -1 when the table is full of
 * nodes seen in this cycle or the last. A slot whose node has been gone
 * longer is taken over (an autoscaled fleet has new names all the time);
 * the owners that named it are all set again by the cycle. */
static int node_get(struct cluster *c, const char *name)
{
	int i = node_find(c, name);

	if (i >= 0)
		return i;
	if (c->nnodes < MAX_NODES) {
		i = (int)c->nnodes++;
	} else {
		for (size_t k = 0; k < c->nnodes && i < 0; k++)
			if ((int)k != c->self && c->nodes[k].seen + 1 < c->heartbeats + 1 &&
			    !c->nodes[k].reading)
				i = (int)k;
		if (i < 0) {
			if (!c->too_many_logged)
				log_warning(
				        "cluster: more than %d live nodes: %s and later ones are "
				        "ignored",
				        MAX_NODES, name);
			c->too_many_logged = true;
			return -1;
		}
		node_cfg_free(&c->nodes[i]);
	}
	memset(&c->nodes[i], 0, sizeof(c->nodes[i]));
	text_copy(c->nodes[i].name, sizeof(c->nodes[i].name), name);
	c->nodes[i].seed = cluster_node_seed(name);
	return i;
}

static int cmp_eid(const void *a, const void *b)
{
	uint64_t x = ((const struct entry *)a)->eid, y = ((const struct entry *)b)->eid;

	return x < y ? -1 : x > y;
}

static struct entry *entry_find(const struct cluster *c, uint64_t eid)
{
	struct entry key = { .eid = eid };

	return bsearch(&key, c->entries, c->nentries, sizeof(key), cmp_eid);
}

static bool takes_part(const struct target *t)
{
	return !t->session && !t->removed;
}

static uint64_t target_eid(const struct target *t)
{
	return cluster_entry_id(t->prov->name, t->tmpl->url, t->tmpl->version);
}

/* ---- what targets show ---- */

/* Sets t's (and its followers') ownership; replans when it changed. */
static void set_owner(struct cluster *c, struct target *t, bool foreign, const char *owner)
{
	bool changed = t->foreign != foreign;

	t->foreign = foreign;
	t->owner = owner;
	for (size_t k = 0; k < t->nfollowers; k++) {
		t->followers[k]->foreign = foreign;
		t->followers[k]->owner = owner;
	}
	if (changed)
		sched_plan(c->set->sched, t);
}

/* Another node's warm of e's entry, as its warmth record says. */
static void apply_warmth(struct cluster *c, struct entry *e, const struct cluster_warmth *w)
{
	/* The owner too: an operator's warm elsewhere moves its next warm. */
	if (!e->t || e->t->removed)
		return;
	sched_refreshed_elsewhere(c->set->sched, e->t, w->last_refresh, w->expires_at,
	                          w->prefix_tokens, w->result);
}

/* ---- degraded mode ---- */

static void enter_degraded(struct cluster *c, const char *why)
{
	if (c->degraded)
		return;
	c->degraded = true;
	c->degraded_since = now_s(c);
	log_warning("cluster: Redis unreachable (%s): degraded mode, warming every target", why);
	for (size_t i = 0; i < c->nentries; i++) {
		c->entries[i].held = false;
		if (takes_part(c->entries[i].t))
			set_owner(c, c->entries[i].t, false, c->node_name);
	}
	c->owned = 0;
	sched_rearm(c->set->sched);
}

static void leave_degraded(struct cluster *c)
{
	if (!c->degraded)
		return;
	c->degraded = false;
	c->degraded_since = 0;
	log_notice("cluster: Redis back: shared ownership again");
}

/* ---- the cycle ---- */

static void assign(struct cluster *c);
static void cycle_end(struct cluster *c);

/* One of the cycle's commands is answered (ok or not); the last one of a
 * phase moves the cycle on. */
static void cycle_step_done(struct cluster *c)
{
	if (--c->pending > 0)
		return;
	if (c->cycle_failed) {
		c->phase = PHASE_IDLE;
		enter_degraded(c, c->cycle_error);
		return;
	}
	if (c->phase == PHASE_NODES) {
		c->phase = PHASE_LEASES;
		assign(c);
	} else if (c->phase == PHASE_LEASES) {
		cycle_end(c);
	}
}

static void cycle_fail(struct cluster *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void cycle_fail(struct cluster *c, const char *fmt, ...)
{
	va_list ap;

	if (c->cycle_failed)
		return;
	c->cycle_failed = true;
	va_start(ap, fmt);
	vsnprintf(c->cycle_error, sizeof(c->cycle_error), fmt, ap);
	va_end(ap);
}

static bool reply_is_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static bool reply_is_nil(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_NIL;
}

/* A peer's configuration, as HGETALL gives it. */
struct cfg_read {
	struct cluster *c;
	char name[CLUSTER_NAME_MAX + 1];
	uint64_t digest;
};

static int cmp_named(const void *a, const void *b)
{
	return strcmp(((const struct named_eid *)a)->name, ((const struct named_eid *)b)->name);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void node_cfg_free(struct node *n)
{
	for (size_t i = 0; i < n->ncfg; i++)
		free(n->cfg[i].name);
	free(n->cfg);
	free(n->eids);
	n->cfg = NULL;
	n->eids = NULL;
	n->ncfg = n->neids = 0;
	n->cfg_digest = 0;
}

/* Takes r (HGETALL's flat name/eid array) as n's configuration, if it is
 * the one n's heartbeat announced. Returns 0, or -EINVAL with why. */
static int node_cfg_take(struct node *n, const redisReply *r, uint64_t digest, char *why,
                         size_t whylen)
{
	size_t m = r->elements / 2;
	struct named_eid *v = xcalloc(m + 1, sizeof(*v));
	uint64_t h = CLUSTER_DIGEST_INIT;

	for (size_t i = 0; i < m; i++) {
		const redisReply *k = r->element[2 * i], *e = r->element[2 * i + 1];
		if (!reply_is_str(k) || !reply_is_str(e) || k->len == 0 || k->len > 129 ||
		    memchr(k->str, '\0', k->len) ||
		    cluster_eid_parse(e->str, e->len, &v[i].eid) < 0) {
			snprintf(why, whylen,
			         "%s's configuration: entry %zu is not a target name and an "
			         "entry id",
			         n->name, i);
			for (size_t j = 0; j < i; j++)
				free(v[j].name);
			free(v);
			return -EINVAL;
		}
		v[i].name = xstrndup(k->str, k->len);
	}
	qsort(v, m, sizeof(*v), cmp_named);
	for (size_t i = 0; i < m; i++)
		h = cluster_digest_add(h, v[i].name, v[i].eid);
	node_cfg_free(n);
	n->cfg = v;
	n->ncfg = m;
	n->eids = xcalloc(m + 1, sizeof(*n->eids));
	for (size_t i = 0; i < m; i++)
		n->eids[i] = v[i].eid;
	qsort(n->eids, m, sizeof(*n->eids), cmp_u64);
	for (size_t i = 0; i < m; i++)
		if (n->neids == 0 || n->eids[n->neids - 1] != n->eids[i])
			n->eids[n->neids++] = n->eids[i];
	/* Read while it was being rewritten: the next cycle reads it again. */
	n->cfg_digest = h == digest ? digest : 0;
	return 0;
}

static void cfg_read_cb(void *data, const redisReply *r, const char *err)
{
	struct cfg_read *rd = data;
	struct cluster *c = rd->c;
	int i = node_find(c, rd->name);
	char why[300];

	if (i >= 0)
		c->nodes[i].reading = false;
	if (!r)
		cycle_fail(c, "reading %s's configuration: %s", rd->name, err);
	else if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
		cycle_fail(c, "reading %s's configuration: not a hash", rd->name);
	else if (i >= 0 && node_cfg_take(&c->nodes[i], r, rd->digest, why, sizeof(why)) < 0)
		cycle_fail(c, "%s", why);
	free(rd);
	cycle_step_done(c);
}

/* Reads the configuration of every live peer whose digest is neither ours
 * nor the one read last. */
static void read_changed_cfgs(struct cluster *c)
{
	for (size_t i = 0; i < c->nnodes; i++) {
		struct node *n = &c->nodes[i];
		struct args a = { 0 };
		struct cfg_read *rd;
		if (!n->live || n->self || n->digest == c->digest || n->digest == n->cfg_digest)
			continue;
		rd = xcalloc(1, sizeof(*rd));
		rd->c = c;
		rd->digest = n->digest;
		text_copy(rd->name, sizeof(rd->name), n->name);
		args_add(&a, xstrdup("HGETALL"));
		args_add(&a, key_of(c, "cfg", n->name));
		c->pending++;
		if (send_args(c, &a, cfg_read_cb, rd) < 0) {
			c->pending--;
			free(rd);
			cycle_fail(c, "Redis connection lost");
		}
	}
}

/* Takes one node of the heartbeat answer (name, record, ms left). */
static void hb_take_node(struct cluster *c, const redisReply *nm, const redisReply *rec,
                         const redisReply *ttl)
{
	struct cluster_heartbeat hb;
	struct errmsg e;
	int i;

	if (!reply_is_str(nm) || !cluster_name_ok(nm->str, nm->len)) {
		cycle_fail(c, "the heartbeat script returned a node name no warmd writes");
		return;
	}
	if (!reply_is_str(rec) || ttl->type != REDIS_REPLY_INTEGER ||
	    cluster_heartbeat_parse(rec->str, rec->len, &hb, &e) < 0) {
		log_warning(
		        "cluster: node %.*s: its heartbeat record is not one warmd writes (%s): "
		        "ignored",
		        (int)nm->len, nm->str, reply_is_str(rec) ? e.text : "not a string");
		return;
	}
	{
		char name[CLUSTER_NAME_MAX + 1];
		memcpy(name, nm->str, nm->len);
		name[nm->len] = '\0';
		if ((i = node_get(c, name)) < 0)
			return;
	}
	c->nodes[i].live = true;
	c->nodes[i].seen = c->heartbeats + 1;
	c->nodes[i].owned = hb.owned;
	c->nodes[i].digest = hb.digest;
	c->nodes[i].hb_age = (double)(hb.lease_ms - ttl->integer) / 1000.0;
	if (c->nodes[i].hb_age < 0)
		c->nodes[i].hb_age = 0;
}

/* Did another process write our heartbeat since our last one? */
static void hb_check_previous(struct cluster *c, const redisReply *prev)
{
	struct cluster_heartbeat hb;
	struct errmsg e;

	if (!reply_is_str(prev) || cluster_heartbeat_parse(prev->str, prev->len, &hb, &e) < 0 ||
	    hb.instance == c->instance)
		return;
	if (c->heartbeats == 0)
		log_warning("cluster: node name %s had a live heartbeat from another process: this "
		            "node's previous run, or another node with the same name",
		            c->node_name);
	else if (!c->duplicate_logged) {
		c->duplicate_logged = true;
		log_error("cluster: another warmd uses the node name %s: node names must be unique "
		          "(cluster.node)",
		          c->node_name);
	}
}

static void hb_cb(void *data, const redisReply *r, const char *err)
{
	struct cluster *c = data;

	if (!r) {
		cycle_fail(c, "heartbeat: %s", err);
	} else if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || (r->elements - 1) % 3) {
		cycle_fail(c, "heartbeat: Redis answered %s, not the script's list",
		           r->type == REDIS_REPLY_ERROR ? r->str : "something else");
	} else {
		hb_check_previous(c, r->element[0]);
		for (size_t i = 0; i < c->nnodes; i++)
			c->nodes[i].live = false;
		for (size_t i = 1; i + 2 < r->elements && !c->cycle_failed; i += 3)
			hb_take_node(c, r->element[i], r->element[i + 1], r->element[i + 2]);
		c->nodes[c->self].live = true;
		c->nodes[c->self].self = true;
		c->heartbeats++;
		if (!c->cycle_failed)
			read_changed_cfgs(c);
	}
	cycle_step_done(c);
}

/* ---- this node's configuration ---- */

/* Rebuilds the entries from the set, and this node's digest; an entry
 * that was there before keeps what the cycles learnt of it. */
static void build_entries(struct cluster *c)
{
	struct target_set *s = c->set;
	struct entry *old = c->entries;
	size_t nold = c->nentries, n = 0;
	uint64_t h = CLUSTER_DIGEST_INIT;

	c->entries = xcalloc(s->ntargets + 1, sizeof(*c->entries));
	c->nentries = 0;
	for (size_t i = 0; i < s->ntargets; i++) {
		struct target *t = s->targets[i];
		if (!takes_part(t))
			continue;
		h = cluster_digest_add(h, t->name, target_eid(t));
		if (t->leader)
			continue;
		c->entries[n] =
		        (struct entry){ .eid = target_eid(t), .t = target_ref(t), .owner = -1 };
		n++;
	}
	qsort(c->entries, n, sizeof(*c->entries), cmp_eid);
	c->nentries = n;
	for (size_t i = 0; i < nold; i++) {
		struct entry *e = entry_find(c, old[i].eid);
		if (e) {
			e->held = old[i].held;
			e->owner = old[i].owner;
		}
		target_unref(old[i].t);
	}
	free(old);
	c->digest = h;
	c->cfg_dirty = true;
}

static void cfg_written_cb(void *data, const redisReply *r, const char *err)
{
	struct cluster *c = data;

	if (!r || r->type == REDIS_REPLY_ERROR) {
		cycle_fail(c, "publishing this node's configuration: %s", r ? r->str : err);
		c->cfg_dirty = true;
	}
	cycle_step_done(c);
}

static void publish_cfg(struct cluster *c)
{
	struct args a = { 0 };

	args_add(&a, xstrdup("EVAL"));
	args_add(&a, xstrdup(CFG_SCRIPT));
	args_add(&a, xstrdup("1"));
	args_add(&a, key_of(c, "cfg", c->node_name));
	for (size_t i = 0; i < c->set->ntargets; i++) {
		const struct target *t = c->set->targets[i];
		char hex[17];
		if (!takes_part(t))
			continue;
		cluster_eid_format(target_eid(t), hex);
		args_add(&a, xstrdup(t->name));
		args_add(&a, xstrdup(hex));
	}
	c->cfg_dirty = false;
	c->pending++;
	if (send_args(c, &a, cfg_written_cb, c) < 0) {
		c->pending--;
		c->cfg_dirty = true;
		cycle_fail(c, "Redis connection lost");
	}
}

/* ---- ownership ---- */

/* Does live node n have the entry eid? */
static bool node_has(const struct cluster *c, const struct node *n, uint64_t eid)
{
	if (n->self || n->digest == c->digest)
		return true;
	return n->neids && bsearch(&eid, n->eids, n->neids, sizeof(eid), cmp_u64) != NULL;
}

/* The node that should own eid: rendezvous over the live nodes that have it. */
static int top_node(const struct cluster *c, uint64_t eid)
{
	uint64_t seeds[MAX_NODES];
	int idx[MAX_NODES];
	size_t n = 0;
	int k;

	for (size_t i = 0; i < c->nnodes; i++) {
		const struct node *nd = &c->nodes[i];
		if (!nd->live || !node_has(c, nd, eid))
			continue;
		seeds[n] = nd->seed;
		idx[n++] = (int)i;
	}
	k = cluster_pick(seeds, n, eid);
	return k < 0 ? c->self : idx[k];
}

/* The names of the live nodes whose configuration gives t's name another
 * entry, comma-separated, or NULL. */
static char *differs_of(const struct cluster *c, const struct target *t, uint64_t eid)
{
	char list[512] = "";
	size_t len = 0;

	for (size_t i = 0; i < c->nnodes; i++) {
		const struct node *n = &c->nodes[i];
		struct named_eid key = { .name = (char *)t->name }, *f;
		if (!n->live || n->self || n->digest == c->digest || n->cfg_digest == 0)
			continue;
		f = bsearch(&key, n->cfg, n->ncfg, sizeof(key), cmp_named);
		if (f && f->eid != eid)
			len += (size_t)snprintf(list + len,
			                        sizeof(list) - len < 1 ? 0 : sizeof(list) - len,
			                        "%s%s", len ? "," : "", n->name);
		if (len >= sizeof(list))
			break;
	}
	return len ? xstrdup(list) : NULL;
}

/* Every target's config_differs, logged when it appears. */
static void update_differs(struct cluster *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->set->ntargets; i++) {
		struct target *t = c->set->targets[i];
		char *d;
		if (!takes_part(t))
			continue;
		d = differs_of(c, t, target_eid(t));
		if (d && (!t->config_differs || strcmp(d, t->config_differs) != 0))
			log_warning("cluster: target %s: node(s) %s have another version of it in "
			            "their "
			            "configuration; each version is warmed by one of the nodes "
			            "that have it",
			            t->name, d);
		free(t->config_differs);
		t->config_differs = d;
		n += d != NULL;
	}
	c->differs = n;
}

/* One lease script call: the entries it was for, by id (a reload may
 * rebuild the table before the answer comes). */
struct lease_batch {
	struct cluster *c;
	size_t n;
	uint64_t eids[LEASE_BATCH];
	char modes[LEASE_BATCH];
};

/* A takeover of an entry node i owned (held, or was to hold): counted by
 * that node, and logged at the end of the cycle. */
static void note_takeover(struct cluster *c, int i)
{
	c->takeovers++;
	c->took_from[i]++;
}

static void log_takeovers(struct cluster *c)
{
	for (size_t i = 0; i < c->nnodes; i++) {
		if (!c->took_from[i])
			continue;
		log_notice("cluster: took over %u entr%s from %s (%s)", c->took_from[i],
		           c->took_from[i] == 1 ? "y" : "ies", c->nodes[i].name,
		           c->nodes[i].live ? "it let them go" : "it is gone");
		c->took_from[i] = 0;
	}
}

static void lease_take(struct cluster *c, struct entry *e, const redisReply *h, const redisReply *w)
{
	struct cluster_warmth wm;
	struct errmsg err;
	bool was = e->held;
	int owner, prev = e->owner;

	if (reply_is_nil(h)) {
		e->held = false;
		e->owner = top_node(c, e->eid);
		set_owner(c, e->t, true, c->nodes[e->owner].name);
		return;
	}
	{
		char name[CLUSTER_NAME_MAX + 1];
		memcpy(name, h->str, h->len);
		name[h->len] = '\0';
		owner = node_get(c, name);
	}
	e->held = owner == c->self;
	e->owner = owner;
	if (e->held && !was && prev >= 0 && prev != c->self)
		note_takeover(c, prev);
	if (e->held && !was && reply_is_str(w)) {
		if (cluster_warmth_parse(w->str, w->len, &wm, &err) < 0) {
			log_warning(
			        "cluster: entry of %s: its warmth record is not one warmd writes "
			        "(%s): warming it as if cold",
			        e->t->name, err.text);
		} else {
			sched_refreshed_elsewhere(c->set->sched, e->t, wm.last_refresh,
			                          wm.expires_at, wm.prefix_tokens, wm.result);
		}
	}
	set_owner(c, e->t, !e->held, owner >= 0 ? c->nodes[owner].name : NULL);
}

static void lease_cb(void *data, const redisReply *r, const char *err)
{
	struct lease_batch *b = data;
	struct cluster *c = b->c;

	if (!r) {
		cycle_fail(c, "leases: %s", err);
	} else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 * b->n) {
		cycle_fail(c, "leases: Redis answered %s, not the script's list",
		           r->type == REDIS_REPLY_ERROR ? r->str : "something else");
	} else {
		for (size_t i = 0; i < b->n && !c->cycle_failed; i++) {
			const redisReply *h = r->element[2 * i], *w = r->element[2 * i + 1];
			struct entry *e;
			if (!(reply_is_nil(h) ||
			      (reply_is_str(h) && cluster_name_ok(h->str, h->len))) ||
			    !(reply_is_nil(w) || reply_is_str(w))) {
				cycle_fail(c,
				           "leases: the script answered a holder no warmd writes");
				break;
			}
			if ((e = entry_find(c, b->eids[i])) && takes_part(e->t))
				lease_take(c, e, h, w);
		}
	}
	free(b);
	cycle_step_done(c);
}

static void send_batch(struct cluster *c, struct lease_batch *b)
{
	struct args a = { 0 };

	args_add(&a, xstrdup("EVAL"));
	args_add(&a, xstrdup(LEASE_SCRIPT));
	args_addf(&a, "%zu", 2 * b->n);
	for (size_t i = 0; i < b->n; i++) {
		args_add(&a, eid_key(c, "lease", b->eids[i]));
		args_add(&a, eid_key(c, "warm", b->eids[i]));
	}
	args_add(&a, xstrdup(c->node_name));
	args_addf(&a, "%ld", (long)(c->lease_s * 1000));
	for (size_t i = 0; i < b->n; i++)
		args_add_len(&a, xstrndup(&b->modes[i], 1), 1);
	c->pending++;
	if (send_args(c, &a, lease_cb, b) < 0) {
		c->pending--;
		free(b);
		cycle_fail(c, "Redis connection lost");
	}
}

/* Ownership from the live nodes: leases renewed, taken and released. */
static void assign(struct cluster *c)
{
	struct lease_batch *b = NULL;

	c->pending = 1; /* this function's own step: the batches' answers may come first */
	update_differs(c);
	for (size_t i = 0; i < c->nentries; i++) {
		struct entry *e = &c->entries[i];
		int top;
		char mode;
		if (!takes_part(e->t))
			continue;
		top = top_node(c, e->eid);
		if (top == c->self)
			mode = 'w';
		else if (e->held || c->degraded)
			mode = 'r'; /* after degraded mode: what this node may still hold */
		else {
			e->owner = top;
			set_owner(c, e->t, true, c->nodes[top].name);
			continue;
		}
		if (!b) {
			b = xcalloc(1, sizeof(*b));
			b->c = c;
		}
		b->eids[b->n] = e->eid;
		b->modes[b->n++] = mode;
		if (b->n == LEASE_BATCH) {
			send_batch(c, b);
			b = NULL;
		}
	}
	if (b)
		send_batch(c, b);
	cycle_step_done(c);
}

/* A cycle succeeded: the node is back in shared ownership. */
static void cycle_end(struct cluster *c)
{
	size_t owned = 0;

	c->phase = PHASE_IDLE;
	for (size_t i = 0; i < c->nentries; i++)
		owned += c->entries[i].held;
	for (size_t i = 0; i < c->set->ntargets; i++) /* a session is this node's own */
		if (c->set->targets[i]->session)
			c->set->targets[i]->owner = c->node_name;
	c->owned = owned;
	log_takeovers(c);
	leave_degraded(c);
	sched_rearm(c->set->sched);
}

/* Starts a cycle: this node's configuration if it changed, the heartbeat. */
static void cycle_start(struct cluster *c)
{
	struct cluster_heartbeat hb = { .instance = c->instance,
		                        .lease_ms = (long)(c->lease_s * 1000),
		                        .owned = (long)c->owned,
		                        .digest = c->digest };
	struct args a = { 0 };
	char rec[128];

	if (c->phase != PHASE_IDLE || !c->up || c->leaving)
		return;
	c->phase = PHASE_NODES;
	c->cycle_failed = false;
	c->pending = 1;
	if (c->cfg_dirty)
		publish_cfg(c);
	cluster_heartbeat_format(&hb, rec, sizeof(rec));
	args_add(&a, xstrdup("EVAL"));
	args_add(&a, xstrdup(HB_SCRIPT));
	args_add(&a, xstrdup("2"));
	args_add(&a, key_of(c, "node", c->node_name));
	args_add(&a, channel(c, "nodes"));
	args_add(&a, xstrdup(c->node_name));
	args_add(&a, xstrdup(rec));
	args_addf(&a, "%ld", hb.lease_ms);
	args_add(&a, key_of(c, "node", ""));
	args_add(&a, key_of(c, "cfg", ""));
	if (send_args(c, &a, hb_cb, c) < 0) {
		cycle_fail(c, "Redis connection lost");
		cycle_step_done(c);
	}
}

/* ---- Redis's side: connection, channels ---- */

static void timer_cb(uv_timer_t *h)
{
	cycle_start(h->data);
}

static void weights_sync(struct cluster *c, bool set);

static void up_cb(void *data)
{
	struct cluster *c = data;

	c->up = true;
	log_info("cluster: connected to Redis at %s as node %s", c->url, c->node_name);
	c->cfg_dirty = true;
	weights_sync(c, c->weights_dirty);
	cycle_start(c);
}

static void down_cb(void *data, const char *why)
{
	struct cluster *c = data;

	c->up = false;
	/* What this node published and has not heard back is lost with the
	 * connection: nothing echoes it now. */
	while (c->relay_n) {
		free(c->relay[c->relay_head]);
		c->relay[c->relay_head] = NULL;
		c->relay_head = (c->relay_head + 1) % RELAY_PENDING;
		c->relay_n--;
	}
	enter_degraded(c, why);
}

/* A touch from the channel: applied unless it is the echo of one this node
 * relayed (and applied) itself. */
static void touch_msg(struct cluster *c, const char *msg, size_t len)
{
	struct touch_report rep;
	struct errmsg e;

	if (c->relay_n && strlen(c->relay[c->relay_head]) == len &&
	    memcmp(c->relay[c->relay_head], msg, len) == 0) {
		free(c->relay[c->relay_head]);
		c->relay[c->relay_head] = NULL;
		c->relay_head = (c->relay_head + 1) % RELAY_PENDING;
		c->relay_n--;
		return;
	}
	if (touch_report_parse(msg, len, &rep, &e) < 0) {
		char why[600];
		snprintf(why, sizeof(why), "from the cluster's touch channel: %s", e.text);
		c->set->touches_dropped++;
		/* Anyone who may publish could flood the log: every 10 s at most. */
		if (now_s(c) - c->bad_touch_logged_at >= 10) {
			c->bad_touch_logged_at = now_s(c);
			log_warning("cluster: touch dropped: %s", why);
		}
		return;
	}
	if (c->ops.touch)
		c->ops.touch(c->data, &rep);
}

/* Sets lane's weight as Redis says; true when it changed. */
static bool apply_weight(struct cluster *c, const char *lane, int weight)
{
	struct target *t = target_set_find(c->set, lane);

	if (!t || !t->vname) {
		log_info("cluster: weight for %s ignored: no such version here", lane);
		return false;
	}
	if (t->weight == weight)
		return false;
	t->prev_weight = t->weight;
	t->weight = weight;
	sched_plan(c->set->sched, t);
	log_notice("cluster: %s: weight now %d%% (from Redis)", lane, weight);
	return true;
}

static void weights_msg(struct cluster *c, const char *msg, size_t len)
{
	char lane[130];
	int w;
	struct errmsg e;

	if (cluster_weight_msg_parse(msg, len, lane, &w, &e) < 0) {
		log_warning("cluster: weights message ignored: %s", e.text);
		return;
	}
	if (apply_weight(c, lane, w)) {
		sched_rearm(c->set->sched);
		if (c->ops.weights)
			c->ops.weights(c->data);
	}
}

static void warm_msg(struct cluster *c, const char *msg, size_t len)
{
	const char *sp = memchr(msg, ' ', len);
	struct cluster_warmth w;
	struct errmsg e;
	uint64_t eid;
	struct entry *en;

	if (!sp || cluster_eid_parse(msg, (size_t)(sp - msg), &eid) < 0 ||
	    cluster_warmth_parse(sp + 1, len - (size_t)(sp + 1 - msg), &w, &e) < 0) {
		log_warning(
		        "cluster: warmth message ignored: not \"ENTRY RECORD\" as warmd writes it");
		return;
	}
	if (strcmp(w.node, c->node_name) == 0 || !(en = entry_find(c, eid)))
		return;
	apply_warmth(c, en, &w);
	sched_rearm(c->set->sched);
}

static void message_cb(void *data, const char *chan, const char *msg, size_t len)
{
	struct cluster *c = data;
	size_t nl = strlen(c->ns);

	if (strncmp(chan, c->ns, nl) != 0 || chan[nl] != ':')
		return;
	chan += nl + 1;
	if (strcmp(chan, "touch") == 0)
		touch_msg(c, msg, len);
	else if (strcmp(chan, "warm") == 0)
		warm_msg(c, msg, len);
	else if (strcmp(chan, "weights") == 0)
		weights_msg(c, msg, len);
}

/* ---- what the rest of the daemon tells ---- */

static void ignore_cb(void *data, const redisReply *r, const char *err)
{
	struct cluster *c = data;

	if (!r)
		log_info("cluster: a write to Redis was lost: %s", err);
	else if (r->type == REDIS_REPLY_ERROR)
		log_warning("cluster: Redis refused a write: %s", r->str);
	(void)c;
}

void cluster_warmed(struct cluster *c, const struct target *t)
{
	struct cluster_warmth w = { .last_refresh = t->last_refresh,
		                    .expires_at = t->expires_at,
		                    .prefix_tokens = t->prefix_tokens,
		                    .result = t->last_result };
	struct entry *e;
	struct args a = { 0 };
	char rec[256], hex[17];
	double keep;

	/* Whoever warmed it tells (an owner that just let the entry go, or
	 * an operator's warm of an entry another node owns): the record
	 * that says the cache lives longest stays. */
	if (!c || !c->up || c->degraded || !takes_part(t) || t->leader || !t->has_result ||
	    t->last_refresh <= 0 || !(e = entry_find(c, target_eid(t))))
		return;
	text_copy(w.node, sizeof(w.node), c->node_name);
	if (cluster_warmth_format(&w, rec, sizeof(rec)) < 0)
		return;
	cluster_eid_format(e->eid, hex);
	keep = 2 * t->ttl_s > 3600 ? 2 * t->ttl_s : 3600;
	args_add(&a, xstrdup("EVAL"));
	args_add(&a, xstrdup(WARM_SCRIPT));
	args_add(&a, xstrdup("1"));
	args_add(&a, key_of(c, "warm", hex));
	args_add(&a, xstrdup(rec));
	args_addf(&a, "%ld", (long)(keep * 1000));
	args_add(&a, channel(c, "warm"));
	args_addf(&a, "%s %s", hex, rec);
	args_addf(&a, "%.3f", w.expires_at);
	send_args(c, &a, ignore_cb, c);
}

/* A touch as its datagram says it (core/touch_report.h). */
static void touch_text(const struct touch_report *rep, char *out, size_t n)
{
	int k = snprintf(out, n, "%s", rep->target);

	if (rep->result == PROTO_TOUCH_HIT)
		k += snprintf(out + k, n - (size_t)k, " hit");
	else if (rep->result == PROTO_TOUCH_MISS)
		k += snprintf(out + k, n - (size_t)k, " miss");
	if (rep->cached >= 0)
		k += snprintf(out + k, n - (size_t)k, " cached=%" PRId64, rep->cached);
	if (rep->input >= 0)
		snprintf(out + k, n - (size_t)k, " input=%" PRId64, rep->input);
}

void cluster_touch_relay(struct cluster *c, const struct touch_report *rep)
{
	struct args a = { 0 };
	char text[TOUCH_MAX_DATAGRAM + 64];

	if (!c || !c->up)
		return;
	touch_text(rep, text, sizeof(text));
	if (c->relay_n == RELAY_PENDING) { /* never heard back: forget the oldest */
		free(c->relay[c->relay_head]);
		c->relay_head = (c->relay_head + 1) % RELAY_PENDING;
		c->relay_n--;
	}
	c->relay[(c->relay_head + c->relay_n++) % RELAY_PENDING] = xstrdup(text);
	args_add(&a, xstrdup("PUBLISH"));
	args_add(&a, channel(c, "touch"));
	args_add(&a, xstrdup(text));
	send_args(c, &a, ignore_cb, c);
}

static void weights_cb(void *data, const redisReply *r, const char *err)
{
	struct cluster *c = data;
	bool changed = false;

	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
		log_warning("cluster: rollout weights not synchronised: %s",
		            !r                             ? err
		            : r->type == REDIS_REPLY_ERROR ? r->str
		                                           : "not a hash");
		c->weights_dirty = true;
		return;
	}
	c->weights_dirty = false;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		char msg[300], lane[130];
		int w;
		struct errmsg e;
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (!reply_is_str(k) || !reply_is_str(v) || k->len + v->len + 2 > sizeof(msg))
			continue;
		snprintf(msg, sizeof(msg), "%.*s %.*s", (int)k->len, k->str, (int)v->len, v->str);
		if (cluster_weight_msg_parse(msg, strlen(msg), lane, &w, &e) < 0) {
			log_warning("cluster: weights in Redis: %s", e.text);
			continue;
		}
		changed |= apply_weight(c, lane, w);
	}
	if (changed) {
		sched_rearm(c->set->sched);
		if (c->ops.weights)
			c->ops.weights(c->data);
	}
}

/* Writes this node's lanes' weights (all of them when set, else only where
 * Redis has none) and takes Redis's. */
static void weights_sync(struct cluster *c, bool set)
{
	struct args a = { 0 };

	args_add(&a, xstrdup("EVAL"));
	args_add(&a, xstrdup(WEIGHTS_SCRIPT));
	args_add(&a, xstrdup("1"));
	args_add(&a, channel(c, "weights"));
	args_add(&a, xstrdup(set ? "set" : "add"));
	args_add(&a, channel(c, "weights"));
	for (size_t i = 0; i < c->set->ntargets; i++) {
		const struct target *t = c->set->targets[i];
		if (!t->vname || t->session)
			continue;
		args_add(&a, xstrdup(t->name));
		args_addf(&a, "%d", t->weight);
	}
	if (send_args(c, &a, weights_cb, c) < 0)
		c->weights_dirty = true;
}

void cluster_weights_publish(struct cluster *c)
{
	if (!c)
		return;
	if (!c->up) {
		c->weights_dirty = true;
		return;
	}
	weights_sync(c, true);
}

void cluster_set_changed(struct cluster *c)
{
	if (!c)
		return;
	build_entries(c);
	for (size_t i = 0; i < c->nentries; i++) {
		struct entry *e = &c->entries[i];
		/* What the cycles knew of it; a new entry waits for the next
		 * cycle (started now when Redis is there), or is ours alone in
		 * degraded mode. */
		if (c->degraded || e->held)
			set_owner(c, e->t, false, c->node_name);
		else
			set_owner(c, e->t, true, e->owner >= 0 ? c->nodes[e->owner].name : NULL);
	}
	sched_rearm(c->set->sched);
	if (c->up) /* the lanes may be new: Redis's weights are the cluster's */
		weights_sync(c, c->weights_dirty);
	if (c->up && c->phase == PHASE_IDLE)
		cycle_start(c);
}

/* ---- life ---- */

int cluster_open(uv_loop_t *loop, struct target_set *set, const struct cfg_cluster *cfg,
                 const char *password, size_t password_len, const struct cluster_ops *ops,
                 void *data, struct cluster **ret, struct errmsg *e)
{
	static const struct redis_ops rops = { .up = up_cb,
		                               .down = down_cb,
		                               .message = message_cb };
	struct cluster *c = xcalloc(1, sizeof(*c));
	char url[400];
	const char *chans[3];
	char *ch[3];
	struct redis_opts ro;
	double timeout;
	int r;

	c->loop = loop;
	c->set = set;
	c->ops = ops ? *ops : (struct cluster_ops){ 0 };
	c->data = data;
	c->ns = xstrdup(cfg->ns);
	redis_url_format(&cfg->addr, url, sizeof(url));
	c->url = xstrdup(url);
	text_copy(c->node_name, sizeof(c->node_name), cfg->node);
	c->lease_s = cfg->lease_s;
	c->instance = ((uint64_t)uv_hrtime() << 16) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)c;
	c->self = node_get(c, c->node_name);
	c->nodes[c->self].self = c->nodes[c->self].live = true;
	ch[0] = channel(c, "touch");
	ch[1] = channel(c, "warm");
	ch[2] = channel(c, "weights");
	for (int i = 0; i < 3; i++)
		chans[i] = ch[i];
	/* A Redis call may take a quarter of a lease: a cycle then still ends
	 * before the next one, and a dead Redis is noticed well within a lease. */
	timeout = c->lease_s / 4 > 2.0 ? 2.0 : c->lease_s / 4;
	ro = (struct redis_opts){ .addr = cfg->addr,
		                  .username = cfg->username,
		                  .password = password,
		                  .password_len = password_len,
		                  .timeout_s = timeout < 0.25 ? 0.25 : timeout,
		                  .channels = chans,
		                  .nchannels = 3 };
	r = redis_open(loop, &ro, &rops, c, &c->redis, e);
	for (int i = 0; i < 3; i++)
		free(ch[i]);
	if (r < 0) {
		free(c->ns);
		free(c->url);
		free(c);
		return r;
	}
	/* A dead owner's lease expires within a lease of its last renewal, and
	 * a survivor's next cycle (a quarter lease; one more when it saw the
	 * heartbeat go before the lease) takes it: warms come that much earlier. */
	sched_set_margin_extra(set->sched, 1.5 * c->lease_s);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	uv_timer_start(&c->timer, timer_cb, (uint64_t)(c->lease_s * 250),
	               (uint64_t)(c->lease_s * 250));
	set->cluster = c;
	*ret = c;
	return 0;
}

static void left_cb(void *data, const redisReply *r, const char *err)
{
	struct cluster *c = data;

	if (!r || r->type == REDIS_REPLY_ERROR)
		log_info("cluster: leases not released (%s): the others take over within a lease",
		         r ? r->str : err);
	else
		log_info("cluster: released %zu entr%s to the other nodes", c->owned,
		         c->owned == 1 ? "y" : "ies");
	if (c->left)
		c->left(c->left_data);
}

int cluster_leave(struct cluster *c, void (*done)(void *data), void *data)
{
	struct args a = { 0 };
	int n = 0, r;

	if (!c || !c->up || c->degraded || c->leaving)
		return -ENOTCONN;
	c->leaving = true;
	uv_timer_stop(&c->timer);
	c->left = done;
	c->left_data = data;
	for (size_t i = 0; i < c->nentries; i++)
		n += c->entries[i].held;
	args_add(&a, xstrdup("EVAL"));
	args_add(&a, xstrdup(LEAVE_SCRIPT));
	args_addf(&a, "%d", n + 1);
	args_add(&a, key_of(c, "node", c->node_name));
	for (size_t i = 0; i < c->nentries; i++)
		if (c->entries[i].held)
			args_add(&a, eid_key(c, "lease", c->entries[i].eid));
	args_add(&a, xstrdup(c->node_name));
	r = send_args(c, &a, left_cb, c);
	return r < 0 ? -ENOTCONN : 0;
}

static void timer_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

void cluster_close(struct cluster *c)
{
	if (!c)
		return;
	c->left = NULL; /* nothing is told after close */
	redis_close(c->redis);
	c->redis = NULL;
	for (size_t i = 0; i < c->nentries; i++) {
		set_owner(c, c->entries[i].t, false, NULL);
		target_unref(c->entries[i].t);
	}
	free(c->entries);
	for (size_t i = 0; i < c->nnodes; i++)
		node_cfg_free(&c->nodes[i]);
	for (unsigned i = 0; i < RELAY_PENDING; i++)
		free(c->relay[i]);
	if (c->set->cluster == c)
		c->set->cluster = NULL;
	free(c->ns);
	free(c->url);
	uv_close((uv_handle_t *)&c->timer, timer_closed_cb);
}

/* ---- status and metrics ---- */

void cluster_get_stats(const struct cluster *c, struct cluster_stats *ret)
{
	size_t live = 0;

	for (size_t i = 0; i < c->nnodes; i++)
		live += c->nodes[i].live;
	*ret = (struct cluster_stats){ .connected = c->up,
		                       .degraded = c->degraded,
		                       .degraded_since = c->degraded_since,
		                       .nodes = live,
		                       .owned = c->degraded ? c->nentries : c->owned,
		                       .differs = c->differs,
		                       .takeovers = c->takeovers,
		                       .redis_errors = c->redis ? redis_errors(c->redis) : 0,
		                       .rtt_s = c->redis ? redis_rtt(c->redis) : -1 };
}

json_object *cluster_status_json(const struct cluster *c)
{
	json_object *o = json_object_new_object(), *nodes = json_object_new_array();
	struct cluster_stats st;

	cluster_get_stats(c, &st);
	jsonx_add_str(o, "node", c->node_name);
	jsonx_add_str(o, "redis", c->url);
	jsonx_add_str(o, "namespace", c->ns);
	jsonx_add_double(o, "lease_s", c->lease_s);
	jsonx_add_bool(o, "connected", st.connected);
	jsonx_add_bool(o, "degraded", st.degraded);
	jsonx_add_time(o, "degraded_since", st.degraded_since);
	jsonx_add_int(o, "owned", (int64_t)st.owned);
	jsonx_add_int(o, "takeovers", (int64_t)st.takeovers);
	jsonx_add_int(o, "config_differs", (int64_t)st.differs);
	if (st.rtt_s >= 0)
		jsonx_add_double(o, "redis_rtt_ms", (double)(long)(st.rtt_s * 1e6) / 1000);
	else
		json_object_object_add(o, "redis_rtt_ms", NULL);
	for (size_t i = 0; i < c->nnodes; i++) {
		const struct node *n = &c->nodes[i];
		json_object *no;
		if (!n->live)
			continue;
		no = json_object_new_object();
		jsonx_add_str(no, "node", n->name);
		jsonx_add_bool(no, "self", n->self);
		jsonx_add_double(no, "heartbeat_age_s",
		                 n->self ? 0 : (double)(long)(n->hb_age * 1000) / 1000);
		jsonx_add_int(no, "owned", n->self ? (int64_t)st.owned : n->owned);
		json_object_array_add(nodes, no);
	}
	json_object_object_add(o, "nodes", nodes);
	return o;
}
