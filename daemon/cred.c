/* cred: a provider's API key and the header lines that carry it. */
#include "cred.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http.h"

#define CRED_MAX_KEY 4096

/* Reads at most CRED_MAX_KEY bytes of a key file into out (secret memory). */
static int read_key_file(const char *path, char *out, size_t cap, size_t *ret_len, struct errmsg *e)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return errmsg_set(e, -errno, "cannot open api_key_file %s: %s", path,
		                  strerror(errno));
	for (;;) {
		ssize_t n = read(fd, out + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			close(fd);
			return errmsg_set(e, r, "cannot read api_key_file %s: %s", path,
			                  strerror(-r));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			close(fd);
			return errmsg_set(e, -EFBIG, "api_key_file %s is larger than %d bytes",
			                  path, CRED_MAX_KEY);
		}
	}
	close(fd);
	*ret_len = len;
	return 0;
}

static void *secret_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, len, MADV_DONTDUMP);
	(void)mlock(p, len); /* best effort: RLIMIT_MEMLOCK may forbid it */
	return p;
}

static void secret_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	munlock(p, len);
	munmap(p, len);
}

/* Trims surrounding whitespace in place and checks the key is one header-safe token. */
static int check_key(char *key, size_t *len, const char *source, struct errmsg *e)
{
	size_t a = 0, b = *len;

	while (a < b && (key[a] == ' ' || key[a] == '\t' || key[a] == '\n' || key[a] == '\r'))
		a++;
	while (b > a && (key[b - 1] == ' ' || key[b - 1] == '\t' || key[b - 1] == '\n' ||
	                 key[b - 1] == '\r'))
		b--;
	memmove(key, key + a, b - a);
	explicit_bzero(key + (b - a), *len - (b - a));
	*len = b - a;
	if (*len == 0)
		return errmsg_set(e, -EINVAL, "API key from %s is empty", source);
	for (size_t i = 0; i < *len; i++)
		if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
			return errmsg_set(e, -EINVAL,
			                  "API key from %s contains a space, control or non-ASCII "
			                  "character at byte %zu",
			                  source, i + 1);
	return 0;
}

int cred_load(const struct cfg_provider *c, const struct provider_ops *ops, struct cred **ret,
              struct errmsg *e)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), keylen = 0, used, extra_bytes = 0, nextra = 0;
	struct provider_header hdr[PROVIDER_MAX_HEADERS];
	char source[300], *key, *lines_mem;
	const char **lines;
	struct cred *cr;
	int n, r;

	cr = calloc(1, sizeof(*cr));
	if (!cr)
		return errmsg_set(e, -ENOMEM, "out of memory");
	cr->refs = 1;
	for (size_t i = 0; c->headers && c->headers[i]; i++) {
		extra_bytes += strlen(c->headers[i]) + 1 + sizeof(char *);
		nextra++;
	}
	cr->mem_len = ((2 * CRED_MAX_KEY + 2048 + extra_bytes) + page - 1) / page * page;
	cr->mem = secret_alloc(cr->mem_len);
	if (!cr->mem) {
		free(cr);
		return errmsg_set(e, -ENOMEM, "cannot map memory for the API key");
	}
	key = cr->mem;
	if (c->api_key_file) {
		snprintf(source, sizeof(source), "api_key_file %s", c->api_key_file);
		r = read_key_file(c->api_key_file, key, CRED_MAX_KEY, &keylen, e);
	} else if (c->api_key_env) {
		const char *v = getenv(c->api_key_env);
		snprintf(source, sizeof(source), "environment variable %s", c->api_key_env);
		if (!v || !*v) {
			r = ops->key_required ? errmsg_set(e, -ENOKEY,
			                                   "environment variable %s is not set "
			                                   "(it should hold the API key)",
			                                   c->api_key_env)
			                      : 0;
		} else if (strlen(v) >= CRED_MAX_KEY) {
			r = errmsg_set(e, -EFBIG, "%s is longer than %d bytes", source,
			               CRED_MAX_KEY);
		} else {
			keylen = strlen(v);
			memcpy(key, v, keylen);
			r = 0;
		}
	} else if (c->api_key) {
		snprintf(source, sizeof(source), "the inline api_key");
		keylen = strlen(c->api_key);
		if (keylen >= CRED_MAX_KEY) {
			r = errmsg_set(e, -EFBIG, "inline api_key is longer than %d bytes",
			               CRED_MAX_KEY);
		} else {
			memcpy(key, c->api_key, keylen);
			r = 0;
		}
	} else {
		r = ops->key_required
		            ? errmsg_set(e, -ENOKEY, "no API key: set api_key_file or api_key_env")
		            : 0;
	}
	/* A named file must hold a key: an empty one is a mistake, not "no key". */
	if (r == 0 && (keylen > 0 || c->api_key_file))
		r = check_key(key, &keylen, source, e);
	if (r < 0) {
		cred_unref(cr);
		return r;
	}
	cr->has_key = keylen > 0;
	key[keylen] = '\0';
	if (cr->has_key)
		EVP_Digest(key, keylen, cr->fingerprint, NULL, EVP_sha256(), NULL);

	/* Header lines follow the key in the same mapping. */
	n = ops->headers(cr->has_key ? key : NULL, hdr);
	lines = (const char **)(void *)(key + CRED_MAX_KEY);
	lines_mem = (char *)(lines + PROVIDER_MAX_HEADERS + nextra + 1);
	used = (size_t)(lines_mem - (char *)cr->mem);
	for (int i = 0; i < n; i++) {
		int w = snprintf(lines_mem, cr->mem_len - used, "%s: %s%s", hdr[i].name,
		                 hdr[i].prefix ? hdr[i].prefix : "",
		                 hdr[i].value ? hdr[i].value : "");
		if (w < 0 || (size_t)w >= cr->mem_len - used) {
			cred_unref(cr);
			return errmsg_set(e, -EFBIG, "header lines do not fit");
		}
		lines[i] = lines_mem;
		lines_mem += w + 1;
		used += (size_t)w + 1;
	}
	/* The provider's extra headers (anthropic-beta...), as written. */
	for (size_t i = 0; i < nextra; i++) {
		size_t w = strlen(c->headers[i]);
		memcpy(lines_mem, c->headers[i], w + 1);
		lines[n++] = lines_mem;
		lines_mem += w + 1;
	}
	lines[n] = NULL;
	cr->lines = lines;
	cr->headers = http_headers_new(cr->lines);
	if (!cr->headers) {
		cred_unref(cr);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	*ret = cr;
	return 0;
}

struct cred *cred_ref(struct cred *c)
{
	c->refs++;
	return c;
}

void cred_unref(struct cred *c)
{
	if (!c || --c->refs > 0)
		return;
	http_headers_free(c->headers);
	secret_free(c->mem, c->mem_len);
	explicit_bzero(c->fingerprint, sizeof(c->fingerprint));
	free(c);
}

bool cred_same_key(const struct cred *a, const struct cred *b)
{
	if (a->has_key != b->has_key)
		return false;
	return !a->has_key || memcmp(a->fingerprint, b->fingerprint, sizeof(a->fingerprint)) == 0;
}

void cred_scrub(const struct cred *c, char *text)
{
	const char *key = c ? c->mem : NULL;
	size_t klen;
	char *p;

	if (!c || !c->has_key)
		return;
	klen = strlen(key);
	/* Search on after each replacement: the mask itself may contain the key. */
	for (char *from = text; (p = strstr(from, key));) {
		static const char mask[] = "[key]";
		if (klen < sizeof(mask) - 1) {
			memset(p, '*', klen); /* never grow the text */
			from = p + klen;
			continue;
		}
		memmove(p + sizeof(mask) - 1, p + klen, strlen(p + klen) + 1);
		memcpy(p, mask, sizeof(mask) - 1);
		from = p + sizeof(mask) - 1;
	}
}
