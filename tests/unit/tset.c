/* tset: a target set built by hand for unit tests. */
#include "tset.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters.h"
#include "clock.h"
#include "cred.h"
#include "credentials.h"
#include "template.h"

static int fire_cb(void *data, struct target *t)
{
	struct tset *x = data;

	ck_assert_uint_lt(x->nfired, TSET_MAX_FIRES);
	x->fired[x->nfired++] = t;
	return 0;
}

static const struct sched_ops tset_ops = { .fire = fire_cb };

struct tset *tset_new(void)
{
	struct tset *x = calloc(1, sizeof(*x));

	ck_assert_ptr_nonnull(x);
	x->set.clk = clock_virtual_new(TSET_T0);
	x->set.sched = sched_new(x->set.clk, &tset_ops, x, 1);
	x->set.started_at = TSET_T0;
	x->set.config_loaded_at = TSET_T0;
	return x;
}

void tset_free(struct tset *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->set.ntargets; i++)
		sched_remove(x->set.sched, x->set.targets[i]);
	sched_free(x->set.sched);
	for (size_t i = 0; i < x->set.ntargets; i++)
		target_unref(x->set.targets[i]);
	for (size_t i = 0; i < x->set.nprovs; i++)
		provider_unref(x->set.provs[i]);
	free(x->set.targets);
	free(x->set.provs);
	clock_virtual_free(x->set.clk);
	free(x);
}

static void cfg_provider_of(struct cfg_provider *c, const char *name, const char *base_url)
{
	memset(c, 0, sizeof(*c));
	c->name = (char *)name;
	c->kind = PROVIDER_OPENAI_COMPAT;
	c->base_url = (char *)(base_url ? base_url : "http://127.0.0.1:1");
	c->max_inflight = 4;
	c->timeout_ms = 5000;
	c->connect_timeout_ms = 2000;
	c->max_response_bytes = 1024 * 1024;
}

struct provider *tset_provider(struct tset *x, const char *name, const char *base_url)
{
	struct cfg_provider c;
	struct provider *p;
	struct errmsg e;

	cfg_provider_of(&c, name, base_url);
	p = provider_new(&c);
	ck_assert_msg(cred_load(&c, adapter_ops_for(c.kind), &p->cred, &e) == 0, "%s", e.text);
	x->set.provs = realloc(x->set.provs, (x->set.nprovs + 1) * sizeof(*x->set.provs));
	ck_assert_ptr_nonnull(x->set.provs);
	x->set.provs[x->set.nprovs++] = p;
	sched_set_providers(x->set.sched, x->set.provs, x->set.nprovs);
	return p;
}

static struct tmpl *template_of(const struct provider *p, const char *text)
{
	struct cfg_provider c;
	struct tmpl *tm = NULL;
	struct errmsg e;
	char body[1024];

	cfg_provider_of(&c, p->name, p->base_url);
	snprintf(body, sizeof(body),
	         "{\"model\":\"test-model\",\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},"
	         "{\"role\":\"user\",\"content\":\"hi\"}]}",
	         text);
	ck_assert_msg(template_from_bytes(body, strlen(body), NULL, &c, &tm, &e) == 0, "%s",
	              e.text);
	return tm;
}

static struct target *add(struct tset *x, struct provider *p, const char *name, const char *text)
{
	struct target *t = target_new(name);
	double now = clock_now(x->set.clk);

	t->prov = provider_ref(p);
	t->tmpl = template_of(p, text);
	t->ttl_s = 300;
	t->policy = POLICY_ALWAYS;
	t->last_touch = now;
	target_version_enter(t, t->tmpl, now);
	x->set.targets = realloc(x->set.targets, (x->set.ntargets + 1) * sizeof(*x->set.targets));
	ck_assert_ptr_nonnull(x->set.targets);
	x->set.targets[x->set.ntargets++] = t;
	target_set_sort(x->set.targets, x->set.ntargets);
	return t;
}

struct target *tset_target(struct tset *x, struct provider *p, const char *name, const char *text)
{
	return add(x, p, name, text);
}

struct target *tset_lane(struct tset *x, struct provider *p, const char *group, const char *vname,
                         int weight, const char *text)
{
	char name[160];
	struct target *t;

	snprintf(name, sizeof(name), "%s@%s", group, vname);
	t = add(x, p, name, text);
	t->group = strdup(group);
	t->vname = strdup(vname);
	ck_assert(t->group && t->vname);
	t->weight = t->cfg_weight = weight;
	t->prev_weight = -1;
	return t;
}

void tset_warm(struct tset *x, struct target *t)
{
	double now = clock_now(x->set.clk);

	t->has_result = true;
	t->last_result = WARM_HIT;
	t->last_refresh = now;
	t->expires_at = now + t->ttl_s;
	t->refreshed_by_warm = true;
}

void tset_advance(struct tset *x, double s)
{
	clock_virtual_advance(x->set.clk, clock_now(x->set.clk) + s);
}
