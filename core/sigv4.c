/* sigv4: AWS Signature Version 4 for one request (pure: no clock, no I/O). */
#include "sigv4.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "url.h"
#include "xalloc.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];

	EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
	hex_encode(md, 32, out);
}

/* SigV4's URI encoding of s[0..n): upper-case hex, '/' kept when keep_slash. */
static void uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash)
{
	url_escape(out, s, n, keep_slash ? "/" : NULL);
}

/* Percent-decodes s[0..n) into out (a '%' not followed by two hex digits
 * stays as it is). */
static void uri_decode(struct buf *out, const char *s, size_t n)
{
	buf_wrote(out, url_unescape(s, n, buf_space(out, n)));
}

struct param {
	char *name, *value; /* encoded */
};

static int param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* The query's parameters, each decoded then encoded, sorted by name then value. */
static void canonical_query(struct buf *out, const char *q)
{
	struct param *v = NULL;
	size_t n = 0, cap = 0;

	while (q && *q) {
		size_t len = strcspn(q, "&"), nlen = strcspn(q, "=");
		struct buf raw = BUF_INIT, enc = BUF_INIT;
		if (nlen > len)
			nlen = len;
		if (len > 0) {
			if (n == cap) {
				cap = cap ? 2 * cap : 8;
				v = xreallocarray(v, cap, sizeof(*v));
			}
			uri_decode(&raw, q, nlen);
			uri_encode(&enc, raw.data ? raw.data : "", raw.len, false);
			v[n].name = buf_steal(&enc);
			buf_reset(&raw);
			if (nlen < len)
				uri_decode(&raw, q + nlen + 1, len - nlen - 1);
			uri_encode(&enc, raw.data ? raw.data : "", raw.len, false);
			v[n].value = buf_steal(&enc);
			n++;
		}
		buf_free(&raw);
		q += len + (q[len] == '&');
	}
	if (n)
		qsort(v, n, sizeof(*v), param_cmp);
	for (size_t i = 0; i < n; i++) {
		buf_printf(out, "%s%s=%s", i ? "&" : "", v[i].name, v[i].value);
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

struct canon_header {
	char name[64];
	const char *value;
};

static int header_cmp(const void *a, const void *b)
{
	return strcmp(((const struct canon_header *)a)->name,
	              ((const struct canon_header *)b)->name);
}

/* The value trimmed, with each run of spaces inside it as one space. */
static void canonical_value(struct buf *out, const char *v)
{
	bool space = false;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space)
			buf_append(out, " ", 1);
		space = false;
		buf_append(out, v, 1);
	}
}

/* Lower-cased, checked and sorted: the headers to sign. Returns how many. */
static int collect_headers(const struct sigv4_request *r, const char *amz_date, const char *token,
                           struct canon_header *h, struct errmsg *e)
{
	size_t n = 0;
	bool host = false;

	if (r->nheaders + 2 > SIGV4_MAX_HEADERS)
		return errmsg_set(e, -EINVAL, "more than %d headers to sign", SIGV4_MAX_HEADERS);
	for (size_t i = 0; i < r->nheaders + 2; i++) {
		const char *name = i < r->nheaders    ? r->headers[i].name
		                   : i == r->nheaders ? "x-amz-date"
		                                      : "x-amz-security-token";
		const char *value = i < r->nheaders    ? r->headers[i].value
		                    : i == r->nheaders ? amz_date
		                                       : token;
		size_t len = strlen(name);
		if (!value)
			continue;
		if (len == 0 || len >= sizeof(h[n].name) || strpbrk(name, ":\r\n \t") ||
		    strpbrk(value, "\r\n"))
			return errmsg_set(e, -EINVAL, "header %.64s cannot be signed", name);
		for (size_t k = 0; k <= len; k++)
			h[n].name[k] =
			        (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
		h[n].value = value;
		host |= strcmp(h[n].name, "host") == 0;
		for (size_t k = 0; k < n; k++)
			if (strcmp(h[k].name, h[n].name) == 0)
				return errmsg_set(e, -EINVAL, "header %s given twice", h[n].name);
		n++;
	}
	if (!host)
		return errmsg_set(e, -EINVAL, "no host header to sign");
	qsort(h, n, sizeof(*h), header_cmp);
	return (int)n;
}

/* One link of the key chain: out = HMAC-SHA256(key, data). */
static void hmac(const void *key, size_t klen, const char *data, unsigned char out[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data, strlen(data), out, &len);
}

int sigv4_sign(const struct sigv4_request *r, const struct sigv4_credentials *c,
               struct sigv4_signature *ret, struct buf *ret_canonical, struct errmsg *e)
{
	struct canon_header h[SIGV4_MAX_HEADERS];
	struct buf canon = BUF_INIT, names = BUF_INIT, sts = BUF_INIT;
	char payload_hash[65], canon_hash[65], date8[9], amz_date[17];
	unsigned char k[32], sig[32];
	char *secret = NULL;
	size_t slen = strlen(c->secret_key);
	struct tm tm;
	int n, w, rc = 0;

	if (!gmtime_r(&r->when, &tm) ||
	    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm) != sizeof(amz_date) - 1)
		return errmsg_set(e, -EINVAL, "the time cannot be written as x-amz-date");
	memcpy(date8, amz_date, 8);
	date8[8] = '\0';
	n = collect_headers(r, amz_date, c->session_token, h, e);
	if (n < 0)
		return n;

	/* The canonical request. */
	buf_printf(&canon, "%s\n", r->method);
	uri_encode(&canon, r->path, strlen(r->path), true);
	buf_puts(&canon, "\n");
	canonical_query(&canon, r->query);
	buf_puts(&canon, "\n");
	for (int i = 0; i < n; i++) {
		buf_printf(&canon, "%s:", h[i].name);
		canonical_value(&canon, h[i].value);
		buf_puts(&canon, "\n");
		buf_printf(&names, "%s%s", i ? ";" : "", h[i].name);
	}
	sha256_hex(r->payload ? r->payload : "", r->payload_len, payload_hash);
	buf_printf(&canon, "\n%s\n%s", names.data, payload_hash);

	/* The string to sign, and the signature. */
	sha256_hex(canon.data, canon.len, canon_hash);
	buf_printf(&sts, SIGV4_ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date8,
	           r->region, r->service, canon_hash);
	secret = malloc(slen + 5);
	if (!secret) {
		rc = errmsg_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(secret, "AWS4", 4);
	memcpy(secret + 4, c->secret_key, slen + 1);
	hmac(secret, slen + 4, date8, k);
	hmac(k, 32, r->region, k);
	hmac(k, 32, r->service, k);
	hmac(k, 32, "aws4_request", k);
	hmac(k, 32, sts.data, sig);
	hex_encode(sig, 32, ret->signature);
	memcpy(ret->amz_date, amz_date, sizeof(amz_date));
	w = snprintf(ret->authorization, sizeof(ret->authorization),
	             SIGV4_ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
	                             "Signature=%s",
	             c->access_key_id, date8, r->region, r->service, names.data, ret->signature);
	if (w < 0 || (size_t)w >= sizeof(ret->authorization))
		rc = errmsg_set(e, -EINVAL, "the Authorization header would be too long");
	if (rc == 0 && ret_canonical)
		buf_append(ret_canonical, canon.data, canon.len);
out:
	if (secret) {
		explicit_bzero(secret, slen + 4);
		free(secret);
	}
	explicit_bzero(k, sizeof(k));
	buf_free(&canon);
	buf_free(&names);
	buf_free(&sts);
	return rc;
}

int sigv4_url_split(const char *url, char *host, size_t n, const char **ret_path,
                    size_t *ret_path_len, const char **ret_query, struct errmsg *e)
{
	const char *h, *end, *port = NULL, *path;
	const char *deflt;
	size_t hlen;

	if (strncasecmp(url, "https://", 8) == 0)
		h = url + 8, deflt = "443";
	else if (strncasecmp(url, "http://", 7) == 0)
		h = url + 7, deflt = "80";
	else
		return errmsg_set(e, -EINVAL, "not an http(s) URL");
	if (strchr(url, '#'))
		return errmsg_set(e, -EINVAL, "a URL with a fragment cannot be signed");
	end = h + strcspn(h, "/?");
	if (memchr(h, '@', (size_t)(end - h)))
		return errmsg_set(e, -EINVAL, "a URL with user information cannot be signed");
	if (*h == '[') {
		const char *close = memchr(h, ']', (size_t)(end - h));
		if (!close)
			return errmsg_set(e, -EINVAL, "a bad IPv6 address in the URL");
		if (close + 1 < end && close[1] == ':')
			port = close + 2;
		hlen = (size_t)((port ? port - 1 : end) - h);
	} else {
		port = memchr(h, ':', (size_t)(end - h));
		hlen = (size_t)((port ? port : end) - h);
		if (port)
			port++;
	}
	if (hlen == 0)
		return errmsg_set(e, -EINVAL, "no host in the URL");
	/* curl sends the port only when it is not the scheme's default. */
	if (port &&
	    ((size_t)(end - port) == strlen(deflt) && memcmp(port, deflt, strlen(deflt)) == 0))
		port = NULL;
	if (port && port == end)
		port = NULL;
	if (hlen + (port ? (size_t)(end - port) + 1 : 0) >= n)
		return errmsg_set(e, -EINVAL, "the host name is too long");
	memcpy(host, h, hlen);
	if (port) {
		host[hlen] = ':';
		memcpy(host + hlen + 1, port, (size_t)(end - port));
		hlen += (size_t)(end - port) + 1;
	}
	host[hlen] = '\0';
	path = end;
	if (*path == '/') {
		*ret_path = path;
		*ret_path_len = strcspn(path, "?");
	} else {
		*ret_path = "/";
		*ret_path_len = 1;
	}
	path += strcspn(path, "?");
	*ret_query = *path == '?' ? path + 1 : NULL;
	return 0;
}
