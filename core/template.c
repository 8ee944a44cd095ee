/* template: one version of a target's request, loaded from request_file. */
#include "template.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters.h"
#include "fileio.h"
#include "jsonx.h"

/* What the adapter may know of t's configuration and its provider p's
 * (NULL: the defaults). */
static const struct adapter_target *adapter_target_of(const struct cfg_target *t,
                                                      const struct cfg_provider *p,
                                                      struct adapter_target *ret)
{
	if (!t)
		return NULL;
	*ret = (struct adapter_target){ .endpoint = t->endpoint,
		                        .warm_mode = t->warm_mode,
		                        .allow_edit = t->allow_edit,
		                        .cache_key = t->cache_key,
		                        .model = t->model,
		                        .region = p->region,
		                        .project = p->project,
		                        .deployment = t->deployment,
		                        .api_version = p->api_version };
	return ret;
}

int template_from_bytes(const char *data, size_t len, const struct cfg_target *t,
                        const struct cfg_provider *p, struct tmpl **ret, struct errmsg *e)
{
	const struct adapter_ops *ops = adapter_ops_for(p->kind);
	struct adapter_target at;
	struct warm_build b = { 0 };
	json_object *doc = NULL;
	struct tmpl *tm;
	int r;

	r = jsonx_parse(data, len, JSONX_MAX_DEPTH, &doc, e);
	if (r < 0)
		return r;
	r = jsonx_check_ranges(doc, e);
	/* The prefix and the body are about the template's size: room for
	 * them up front instead of growing each by doubling. */
	b.size_hint = len;
	buf_grow(&b.prefix, len + 256);
	if (r == 0)
		r = ops->build(doc, adapter_target_of(t, p, &at), &b, e);
	json_object_put(doc);
	if (r < 0) {
		warm_build_free(&b);
		return r;
	}
	tm = calloc(1, sizeof(*tm));
	if (!tm) {
		warm_build_free(&b);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	tm->refs = 1;
	if (b.version[0])
		memcpy(tm->version, b.version, sizeof(tm->version));
	else
		adapter_hash(b.prefix.data, b.prefix.len, tm->version);
	memcpy(tm->short_version, tm->version, 12);
	tm->model = b.model;
	b.model = NULL;
	tm->body = b.body;
	tm->body_len = b.body_len;
	b.body = NULL;
	tm->endpoint = b.endpoint;
	tm->prefix_tokens_est = b.prefix_tokens_est;
	tm->max_tokens = b.max_tokens;
	tm->ttl_s = b.ttl_s;
	memcpy(tm->bp_hashes, b.bp_hashes, sizeof(tm->bp_hashes));
	tm->nbp = b.nbp;
	tm->min_cacheable = b.min_cacheable;
	tm->managed = b.managed;
	text_copy(tm->unwarmable, sizeof(tm->unwarmable), b.unwarmable);
	text_copy(tm->notes, sizeof(tm->notes), b.notes);
	if (asprintf(&tm->url, "%s%s", p->base_url, b.path) < 0)
		tm->url = NULL;
	warm_build_free(&b);
	if (!tm->url) {
		tmpl_unref(tm);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	*ret = tm;
	return 0;
}

int template_load(const struct cfg_target *t, const struct cfg_provider *p, struct tmpl **ret,
                  struct errmsg *e)
{
	char *data = NULL;
	size_t len = 0;
	int r = fileio_read(t->request_file, "request_file", TEMPLATE_MAX_BYTES, &data, &len, e);

	if (r < 0)
		return r;
	r = template_from_bytes(data, len, t, p, ret, e);
	if (r < 0)
		errmsg_prefix(e, "request_file %s", t->request_file);
	free(data);
	return r;
}

struct tmpl *tmpl_ref(struct tmpl *t)
{
	t->refs++;
	return t;
}

void tmpl_unref(struct tmpl *t)
{
	if (!t || --t->refs > 0)
		return;
	free(t->model);
	free(t->url);
	free(t->body);
	free(t);
}
