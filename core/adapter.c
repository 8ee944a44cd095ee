/* adapter: what every adapter shares: result names, and the helpers for
 * error text, usage fields and hashing. */
#include "adapter.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "hex.h"
#include "jsonscan.h"
#include "jsonx.h"
#include "url.h"
#include "xalloc.h"

const char *warm_result_name(enum warm_result r)
{
	switch (r) {
	case WARM_HIT:
		return "hit";
	case WARM_WRITE:
		return "write";
	case WARM_NONE:
		return "none";
	case WARM_ERROR:
		return "error";
	}
	return "?";
}

void warm_build_free(struct warm_build *b)
{
	free(b->body);
	free(b->model);
	free(b->path);
	buf_free(&b->prefix);
	b->body = NULL;
	b->model = NULL;
	b->path = NULL;
}

/* Copies at most n - 1 bytes of src into dst, each byte that is not printable
 * ASCII as a space: a provider's text must not forge log lines (newlines,
 * "<3>" priority prefixes after them) nor, cut short later, leave half a
 * UTF-8 character in status JSON. Returns how many bytes of src it read. */
static size_t printable_copy(char *dst, size_t n, const char *src, size_t len)
{
	size_t i;

	for (i = 0; i < len && i + 1 < n; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
	}
	dst[i] = '\0';
	return i;
}

/* The text is built from the answer as warm.c and probe.c received it,
 * already scrubbed of keys (cred_scrub_answer()); they scrub the result
 * again, for keys that JSON escapes hid until the message was decoded. */
void adapter_error_text(long status, const char *type, const char *message, const char *body,
                        size_t len, struct errmsg *e)
{
	char excerpt[161], msg[sizeof(e->text)], kind[128];
	size_t n;

	if (message && *message) {
		printable_copy(msg, sizeof(msg), message, strlen(message));
		if (type && *type) {
			printable_copy(kind, sizeof(kind), type, strlen(type));
			errmsg_set(e, -EPROTO, "HTTP %ld %s: %s", status, kind, msg);
		} else {
			errmsg_set(e, -EPROTO, "HTTP %ld: %s", status, msg);
		}
		return;
	}
	n = printable_copy(excerpt, sizeof(excerpt), body, len);
	if (n)
		errmsg_set(e, -EPROTO, "HTTP %ld: %s%s", status, excerpt, len > n ? "..." : "");
	else
		errmsg_set(e, -EPROTO, "HTTP %ld with an empty body", status);
}

void adapter_error_from_body(long status, const char *body, size_t len,
                             const char *const *type_keys, struct errmsg *e)
{
	json_object *o = NULL, *err;
	const char *type = NULL;

	if (jsonx_parse(body, len, 0, &o, NULL) == 0) {
		err = jsonx_get(o, "error");
		if (err && jsonx_get_str(err, "message")) {
			for (const char *const *k = type_keys; *k && !type; k++)
				type = jsonx_get_str(err, *k);
			adapter_error_text(status, type, jsonx_get_str(err, "message"), body, len,
			                   e);
			json_object_put(o);
			return;
		}
		json_object_put(o);
	}
	adapter_error_text(status, NULL, NULL, body, len, e);
}

void adapter_path_segment(struct buf *out, const char *s, const char *keep)
{
	url_escape(out, s, strlen(s), keep);
}

void adapter_prefix_put(struct buf *prefix, const char *tag, json_object *v)
{
	buf_puts(prefix, tag);
	jsonx_append(prefix, v);
	buf_puts(prefix, "\n");
}

void adapter_set_body(struct warm_build *b, json_object *t)
{
	struct buf body = BUF_INIT;

	/* Room up front: growing to 8 KB by doubling is eight reallocations. */
	buf_grow(&body, b->size_hint + 256);
	jsonx_append(&body, t);
	b->body_len = body.len;
	/* Kept for the target's life: no room to spare (10,000 of them). */
	b->body = xrealloc(buf_steal(&body), b->body_len + 1);
}

void adapter_hash(const char *data, size_t len, char out[65])
{
	unsigned char md[32];

	EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
	hex_encode(md, 32, out);
}

void adapter_prefix_hash_take(struct adapter_prefix_hash *h, const struct buf *prefix, char out[65])
{
	EVP_MD_CTX *tmp;
	unsigned char md[32];

	if (!h->ctx) {
		h->ctx = EVP_MD_CTX_new();
		if (!h->ctx || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL))
			xalloc_die("EVP_MD_CTX_new");
		h->fed = 0;
	}
	if (prefix->len > h->fed) {
		EVP_DigestUpdate(h->ctx, prefix->data + h->fed, prefix->len - h->fed);
		h->fed = prefix->len;
	}
	/* Finalising ends a context: finalise a copy, keep the original going. */
	tmp = EVP_MD_CTX_new();
	if (!tmp || !EVP_MD_CTX_copy_ex(tmp, h->ctx))
		xalloc_die("EVP_MD_CTX_copy_ex");
	EVP_DigestFinal_ex(tmp, md, NULL);
	EVP_MD_CTX_free(tmp);
	hex_encode(md, 32, out);
}

void adapter_prefix_hash_free(struct adapter_prefix_hash *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	h->fed = 0;
}

int adapter_usage_field(json_object *usage, const char *path, const char *key, int64_t *ret,
                        struct errmsg *e)
{
	json_object *v = jsonx_get(usage, key);
	int64_t n;

	*ret = 0;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return errmsg_set(e, -EPROTO, "%s.%s is not an integer", path, key);
	n = json_object_get_int64(v); /* INT64_MAX for a larger uint64: caught below */
	if (n < 0)
		return errmsg_set(e, -EPROTO, "%s.%s is negative", path, key);
	/* No request comes near this: a larger count is a broken (or hostile)
	 * answer, not a number to bill. The text shows it as the server sent it. */
	if (n > BOUNDS_MAX_TOKENS)
		return errmsg_set(e, -EPROTO, "%s.%s = %.24s is more than %lld tokens", path, key,
		                  json_object_to_json_string(v), (long long)BOUNDS_MAX_TOKENS);
	*ret = n;
	return 0;
}

int adapter_usage_read(const char *body, size_t len, const struct adapter_usage_fields *uf,
                       struct warm_usage *u, bool *ret_any, struct errmsg *e)
{
	struct jsonscan_field f[5] = { { uf->object, JSONSCAN_OBJECT, false, 0 } };
	int64_t *dst[4] = { &u->read, &u->write, &u->input, &u->output };
	json_object *o = NULL, *usage;
	int r;

	memset(u, 0, sizeof(*u));
	*ret_any = false;
	for (int i = 0; i < 4; i++)
		f[i + 1] = (struct jsonscan_field){ uf->path[i], JSONSCAN_INT, false, 0 };
	if (jsonscan_fields(body, len, f, 5, BOUNDS_MAX_TOKENS) == 0 && f[0].found) {
		for (int i = 0; i < 4; i++) {
			*dst[i] = f[i + 1].value;
			*ret_any |= f[i + 1].found;
		}
		return 0;
	}
	if (jsonx_parse(body, len, 0, &o, e) < 0) {
		errmsg_prefix(e, "response is not JSON");
		return -EPROTO;
	}
	usage = jsonx_get(o, uf->object);
	if (!usage || !json_object_is_type(usage, json_type_object)) {
		json_object_put(o);
		return errmsg_set(e, -EPROTO, "response has no %s object", uf->object);
	}
	for (int i = 0; i < 4; i++) {
		*ret_any |= jsonx_get(usage, uf->key[i]) != NULL;
		if ((r = adapter_usage_field(usage, uf->object, uf->key[i], dst[i], e)) < 0) {
			json_object_put(o);
			return r;
		}
	}
	json_object_put(o);
	return 0;
}
