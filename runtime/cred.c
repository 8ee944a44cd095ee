/* cred: a provider's API key, the header lines that carry it, and the
 * scrubber that masks pieces of keys in what providers send back. */
#include "cred.h"

#include <errno.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "http.h"
#include "url.h"
#include "xalloc.h"

#define CRED_MAX_KEY 4096

static struct cred *live; /* every credential holding a secret, for the scrubber */

void *cred_secret_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		xalloc_die("mmap");
	(void)madvise(p, len, MADV_DONTDUMP);
	(void)mlock(p, len); /* best effort: RLIMIT_MEMLOCK may forbid it */
	return p;
}

void cred_secret_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	munlock(p, len);
	munmap(p, len);
}

static bool in_my_groups(gid_t gid)
{
	gid_t groups[256];
	int n;

	if (gid == getegid())
		return true;
	n = getgroups(sizeof(groups) / sizeof(groups[0]), groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* Others may never read a key file. Its group may, read-only, when that is
 * how warmd reads it (owned by another user, root:warmd 0640, as packaged
 * config directories are); when warmd owns the file, a group has no reason
 * to. Under $CREDENTIALS_DIRECTORY systemd owns the mode and the directory
 * is private to the service, so there is nothing to say. */
void cred_key_file_warning(const char *what, const char *path, const struct stat *st, char *warn,
                           size_t n)
{
	const char *cd = getenv("CREDENTIALS_DIRECTORY");
	unsigned mode = (unsigned)st->st_mode & 07777;
	size_t cdlen = cd ? strlen(cd) : 0;

	if (cdlen && strncmp(path, cd, cdlen) == 0 && path[cdlen] == '/')
		return;
	if (mode & S_IRWXO)
		snprintf(warn, n,
		         "%s %s is open to every user (mode %04o): chmod 600 it (or "
		         "640, owned by root with warmd's group)",
		         what, path, mode);
	else if ((mode & S_IRWXG) && ((mode & S_IRWXG) != S_IRGRP || st->st_uid == geteuid() ||
	                              !in_my_groups(st->st_gid)))
		snprintf(warn, n,
		         "%s %s is open to its group (mode %04o), which is not how "
		         "warmd reads it: chmod 600 it (or 640, owned by root with warmd's group)",
		         what, path, mode);
}

int cred_read_secret_file(const char *what, const char *path, char *out, size_t cap,
                          size_t *ret_len, struct stat *ret_st, char *warn, size_t warn_len,
                          struct errmsg *e)
{
	struct stat st;
	int r = fileio_read_into(path, what, out, cap, ret_len, &st, e);

	/* The file read, not the name: nothing can swap it in between. */
	if (r == 0)
		cred_key_file_warning(what, path, &st, warn, warn_len);
	if (r == 0 && ret_st)
		*ret_st = st;
	return r;
}

/* api_key_env values, each captured once per process into secret memory:
 * the copy in the environment is wiped once read (/proc/PID/environ shows
 * it to anyone who may read that file), and a running process's
 * environment cannot change, so a reload finds the key here. */
struct env_capture {
	char *name; /* name and value live in one secret mapping */
	char *value;
	void *mem;
	size_t mem_len;
};
static struct env_capture *captures;
static size_t ncaptures;

const char *cred_env_capture(const char *name)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), nlen = strlen(name), vlen;
	struct env_capture *cap;
	char *v;

	for (size_t i = 0; i < ncaptures; i++)
		if (strcmp(captures[i].name, name) == 0)
			return captures[i].value;
	v = getenv(name);
	if (!v || !*v)
		return NULL;
	vlen = strlen(v);
	captures = xreallocarray(captures, ncaptures + 1, sizeof(*captures));
	cap = &captures[ncaptures];
	cap->mem_len = (nlen + vlen + 2 + page - 1) / page * page;
	cap->mem = cred_secret_alloc(cap->mem_len);
	cap->name = cap->mem;
	cap->value = cap->name + nlen + 1;
	memcpy(cap->name, name, nlen + 1);
	memcpy(cap->value, v, vlen + 1);
	/* The bytes /proc/PID/environ reads; getenv() now gives "". */
	explicit_bzero(v, vlen);
	ncaptures++;
	return cap->value;
}

void cred_env_forget(void)
{
	for (size_t i = 0; i < ncaptures; i++)
		cred_secret_free(captures[i].mem, captures[i].mem_len);
	free(captures);
	captures = NULL;
	ncaptures = 0;
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

/* Reads the key from its source into key[CRED_MAX_KEY]; describes the source in
 * source[n]. Returns 0 (keylen 0: no key, acceptable for ops) or a negative errno. */
static int read_key(const struct cfg_provider *c, const struct adapter_ops *ops, char *key,
                    size_t *ret_len, char *source, size_t n, struct cred *cr, struct errmsg *e)
{
	const char *v;
	size_t len;

	*ret_len = 0;
	if (c->api_key_file) {
		snprintf(source, n, "api_key_file %s", c->api_key_file);
		return cred_read_secret_file("api_key_file", c->api_key_file, key, CRED_MAX_KEY,
		                             ret_len, NULL, cr->warning, sizeof(cr->warning), e);
	}
	if (c->api_key_env) {
		snprintf(source, n, "environment variable %s", c->api_key_env);
		if (!(v = cred_env_capture(c->api_key_env)))
			return ops->key_required ? errmsg_set(e, -ENOKEY,
			                                      "environment variable %s is not set "
			                                      "(it should hold the API key)",
			                                      c->api_key_env)
			                         : 0;
		if ((len = strlen(v)) >= CRED_MAX_KEY)
			return errmsg_set(e, -EFBIG, "%s is longer than %d bytes", source,
			                  CRED_MAX_KEY);
		memcpy(key, v, len);
		*ret_len = len;
		return 0;
	}
	if (c->api_key) {
		snprintf(source, n, "the inline api_key");
		len = strlen(c->api_key);
		/* The parsed config is the only other copy: wipe it, taken or not.
		 * (The config loader refuses an empty key, so "" means "wiped".) */
		if (len == 0)
			return errmsg_set(e, -ENOKEY, "the inline api_key was already read");
		if (len < CRED_MAX_KEY)
			memcpy(key, c->api_key, len);
		explicit_bzero(c->api_key, len);
		if (len >= CRED_MAX_KEY)
			return errmsg_set(e, -EFBIG, "inline api_key is longer than %d bytes",
			                  CRED_MAX_KEY);
		*ret_len = len;
		return 0;
	}
	return ops->key_required
	               ? errmsg_set(e, -ENOKEY, "no API key: set api_key_file or api_key_env")
	               : 0;
}

/* Does an extra header line carry a secret of its own (a gateway's token)? */
static bool secret_header(const char *line)
{
	static const char *const words[] = { "auth", "key", "token", "secret", "password" };
	size_t n = strcspn(line, ":");

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		for (size_t k = 0; k + strlen(words[i]) <= n; k++)
			if (strncasecmp(line + k, words[i], strlen(words[i])) == 0)
				return true;
	return false;
}

/* The secret in a secret header line: its value, after an auth scheme
 * such as "Bearer " when there is one. */
static void header_secret(const char *line, const char **ret, size_t *ret_len)
{
	const char *v = line + strcspn(line, ":"), *end, *space;

	v += *v == ':';
	while (*v == ' ' || *v == '\t')
		v++;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	space = memrchr(v, ' ', (size_t)(end - v));
	if (space)
		v = space + 1;
	*ret = v;
	*ret_len = (size_t)(end - v);
}

static inline uint64_t load_window(const char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

static inline size_t window_slot(uint64_t w, unsigned bits)
{
	return (size_t)((w * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - bits));
}

/* A window is never 0: secrets are printable, so 0 marks an empty slot. */
static void window_add(struct cred *c, uint64_t w)
{
	size_t mask = ((size_t)1 << c->window_bits) - 1;

	for (size_t i = window_slot(w, c->window_bits);; i = (i + 1) & mask) {
		if (c->windows[i] == w)
			return;
		if (c->windows[i] == 0) {
			c->windows[i] = w;
			return;
		}
	}
}

static inline bool window_has(const struct cred *c, uint64_t w)
{
	size_t mask = ((size_t)1 << c->window_bits) - 1;

	for (size_t i = window_slot(w, c->window_bits);; i = (i + 1) & mask) {
		if (c->windows[i] == w)
			return true;
		if (c->windows[i] == 0)
			return false;
	}
}

static size_t windows_of(size_t len)
{
	return len >= CRED_SCRUB_PIECE ? len - CRED_SCRUB_PIECE + 1 : 0;
}

/* The 4-byte grams of the secrets that have windows: a window at offset s
 * of a text holds the gram at the first multiple of 4 from s, so a text
 * none of whose grams at multiples of 4 is a secret's holds no window
 * (cred_scrub_mem's first look). Never 0, like a window. */
static inline uint32_t load_gram(const char *p)
{
	uint32_t g;

	memcpy(&g, p, sizeof(g));
	return g;
}

static inline size_t gram_slot(uint32_t g, unsigned bits)
{
	return (size_t)((g * UINT32_C(0x9e3779b1)) >> (32 - bits));
}

static void gram_add(struct cred *c, uint32_t g)
{
	size_t mask = ((size_t)1 << c->gram_bits) - 1;

	for (size_t i = gram_slot(g, c->gram_bits);; i = (i + 1) & mask) {
		if (c->grams[i] == g)
			return;
		if (c->grams[i] == 0) {
			c->grams[i] = g;
			return;
		}
	}
}

static inline bool gram_has(const struct cred *c, uint32_t g)
{
	size_t mask = ((size_t)1 << c->gram_bits) - 1;

	for (size_t i = gram_slot(g, c->gram_bits);; i = (i + 1) & mask) {
		if (c->grams[i] == g)
			return true;
		if (c->grams[i] == 0)
			return false;
	}
}

/* Adds the windows and the grams of one secret (nothing for one shorter
 * than CRED_SCRUB_PIECE: short_len covers a short key). */
static void scrub_add(struct cred *cr, const char *v, size_t len)
{
	for (size_t i = 0; i + CRED_SCRUB_PIECE <= len; i++)
		window_add(cr, load_window(v + i));
	for (size_t i = 0; len >= CRED_SCRUB_PIECE && i + 4 <= len; i++)
		gram_add(cr, load_gram(v + i));
}

/* Counts one secret of len bytes: its windows into *nwin, and *nsecrets. */
static void scrub_count(size_t len, size_t *nwin, size_t *nsecrets)
{
	*nwin += windows_of(len);
	*nsecrets += len >= CRED_SCRUB_PIECE;
}

void cred_scrub_set(struct cred *cr, const struct cred_secret *extra, size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), keylen = cr->has_key ? strlen(cr->mem) : 0;
	size_t nwin = 0, nsecrets = 0, slots, gslots, vlen;
	void *old_mem = cr->scrub_mem;
	size_t old_len = cr->scrub_mem_len;
	const char *v;

	/* The key, the lines that carry a secret (the key's, a provider's
	 * extra headers), the URLs' passwords and the signer's secrets. */
	scrub_count(keylen, &nwin, &nsecrets);
	for (size_t i = 0; cr->lines && cr->lines[i]; i++)
		if (secret_header(cr->lines[i])) {
			header_secret(cr->lines[i], &v, &vlen);
			scrub_count(vlen, &nwin, &nsecrets);
		}
	for (size_t i = 0; i < cr->n_url_secrets; i++)
		scrub_count(cr->url_secrets[i].len, &nwin, &nsecrets);
	for (size_t i = 0; i < n; i++)
		scrub_count(extra[i].len, &nwin, &nsecrets);
	cr->short_len = keylen > 0 && keylen < CRED_SCRUB_PIECE ? keylen : 0;
	cr->windows = NULL;
	cr->window_bits = 0;
	cr->grams = NULL;
	cr->gram_bits = 0;
	cr->scrub_mem = NULL;
	cr->scrub_mem_len = 0;
	if (nwin > 0) {
		/* At most half full: probes stay short. A secret has 4 grams
		 * more than windows (nwin + 4 per secret is more than enough). */
		for (cr->window_bits = 4, slots = 16; slots < 2 * nwin; slots *= 2)
			cr->window_bits++;
		for (cr->gram_bits = 4, gslots = 16; gslots < 2 * (nwin + 4 * nsecrets);
		     gslots *= 2)
			cr->gram_bits++;
		cr->scrub_mem_len =
		        (slots * sizeof(uint64_t) + gslots * sizeof(uint32_t) + page - 1) / page *
		        page;
		cr->scrub_mem = cred_secret_alloc(cr->scrub_mem_len);
		cr->windows = cr->scrub_mem;
		cr->grams = (uint32_t *)(cr->windows + slots);
		scrub_add(cr, cr->mem, keylen);
		for (size_t i = 0; cr->lines && cr->lines[i]; i++) {
			if (!secret_header(cr->lines[i]))
				continue;
			header_secret(cr->lines[i], &v, &vlen);
			scrub_add(cr, v, vlen);
		}
		for (size_t i = 0; i < cr->n_url_secrets; i++)
			scrub_add(cr, cr->url_secrets[i].p, cr->url_secrets[i].len);
		for (size_t i = 0; i < n; i++)
			scrub_add(cr, extra[i].p, extra[i].len);
	}
	cred_secret_free(old_mem, old_len);
	if ((nwin == 0 && cr->short_len == 0) || cr->live_prev || live == cr)
		return;
	cr->live_next = live;
	if (live)
		live->live_prev = cr;
	live = cr;
}

struct cred *cred_scrub_only(const char *const *v, const size_t *len, size_t n)
{
	struct cred_secret *extra = xcalloc(n ? n : 1, sizeof(*extra));
	struct cred *cr = xcalloc(1, sizeof(*cr));

	cr->refs = 1;
	for (size_t i = 0; i < n; i++)
		extra[i] = (struct cred_secret){ v[i], len[i] };
	cred_scrub_set(cr, extra, n);
	free(extra);
	return cr;
}

/* The secrets of the provider's URLs (base_url's and proxy's userinfo:
 * url_secret()), as written and as curl sends them (unescaped), kept in a
 * secret mapping of their own for cred_scrub_set(): they are never sent as
 * header lines, but a gateway may echo them. */
static void url_secrets_keep(struct cred *cr, const struct cfg_provider *c)
{
	const char *const urls[] = { c->base_url, c->proxy };
	size_t page = (size_t)sysconf(_SC_PAGESIZE), need = 0, vlen;
	const char *v;
	char *p;

	for (size_t i = 0; i < 2; i++)
		if (urls[i] && url_secret(urls[i], &v, &vlen))
			need += 2 * vlen;
	if (need == 0)
		return;
	cr->url_mem_len = (need + page - 1) / page * page;
	cr->url_mem = cred_secret_alloc(cr->url_mem_len);
	p = cr->url_mem;
	for (size_t i = 0; i < 2; i++) {
		if (!urls[i] || !url_secret(urls[i], &v, &vlen))
			continue;
		memcpy(p, v, vlen);
		cr->url_secrets[cr->n_url_secrets++] = (struct cred_secret){ p, vlen };
		p += vlen;
		cr->url_secrets[cr->n_url_secrets].p = p;
		cr->url_secrets[cr->n_url_secrets++].len = url_unescape(v, vlen, p);
		p += vlen;
	}
}

int cred_load_key(const struct cfg_provider *c, const struct adapter_ops *ops, struct cred **ret,
                  struct errmsg *e)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), keylen = 0, used, extra_bytes = 0, nextra = 0;
	struct adapter_header hdr[ADAPTER_MAX_HEADERS];
	char source[300], *key, *lines_mem;
	const char **lines;
	struct cred *cr;
	int n, r;

	cr = xcalloc(1, sizeof(*cr));
	cr->refs = 1;
	for (size_t i = 0; c->headers && c->headers[i]; i++) {
		extra_bytes += strlen(c->headers[i]) + 1 + sizeof(char *);
		nextra++;
	}
	cr->mem_len = ((2 * CRED_MAX_KEY + 2048 + extra_bytes) + page - 1) / page * page;
	cr->mem = cred_secret_alloc(cr->mem_len);
	key = cr->mem;
	r = read_key(c, ops, key, &keylen, source, sizeof(source), cr, e);
	/* A named file must hold a key: an empty one is a mistake, not "no key". */
	if (r == 0 && (keylen > 0 || c->api_key_file))
		r = check_key(key, &keylen, source, e);
	if (r < 0)
		goto fail;
	cr->has_key = keylen > 0;
	key[keylen] = '\0';
	if (cr->has_key)
		EVP_Digest(key, keylen, cr->fingerprint, NULL, EVP_sha256(), NULL);

	/* Header lines follow the key in the same mapping. */
	n = ops->headers(cr->has_key ? key : NULL, hdr);
	lines = (const char **)(void *)(key + CRED_MAX_KEY);
	lines_mem = (char *)(lines + ADAPTER_MAX_HEADERS + nextra + 1);
	used = (size_t)(lines_mem - (char *)cr->mem);
	for (int i = 0; i < n; i++) {
		int w = snprintf(lines_mem, cr->mem_len - used, "%s: %s%s", hdr[i].name,
		                 hdr[i].prefix ? hdr[i].prefix : "",
		                 hdr[i].value ? hdr[i].value : "");
		if (w < 0 || (size_t)w >= cr->mem_len - used) {
			r = errmsg_set(e, -EFBIG, "header lines do not fit");
			goto fail;
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
	if (!cr->headers)
		xalloc_die("curl header list");
	url_secrets_keep(cr, c);
	cred_scrub_set(cr, NULL, 0);
	*ret = cr;
	return 0;
fail:
	cred_unref(cr);
	return r;
}

void cred_start(struct cred *c, struct cred *prev, const struct cred_runtime *rt)
{
	if (c && c->signer && c->signer->start)
		c->signer->start(c, prev, rt);
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
	if (c->live_prev)
		c->live_prev->live_next = c->live_next;
	else if (live == c)
		live = c->live_next;
	if (c->live_next)
		c->live_next->live_prev = c->live_prev;
	if (c->signer)
		c->signer->free(c);
	http_headers_free(c->headers);
	cred_secret_free(c->scrub_mem, c->scrub_mem_len);
	cred_secret_free(c->url_mem, c->url_mem_len);
	cred_secret_free(c->mem, c->mem_len);
	explicit_bzero(c->fingerprint, sizeof(c->fingerprint));
	free(c);
}

bool cred_same_key(const struct cred *a, const struct cred *b)
{
	if (a->has_key != b->has_key)
		return false;
	return !a->has_key || memcmp(a->fingerprint, b->fingerprint, sizeof(a->fingerprint)) == 0;
}

/* Writes the mask of a run of n bytes at out (n bytes at most). */
static size_t put_mask(char *out, size_t n)
{
	static const char mask[] = "[key]";

	if (n < sizeof(mask) - 1) {
		memset(out, '*', n);
		return n;
	}
	memcpy(out, mask, sizeof(mask) - 1);
	return sizeof(mask) - 1;
}

/* One pass: at each offset i, every live secret's window starting there
 * extends the masked stretch; byte i's fate is known once the windows that
 * start at or before it are checked, so the output, never longer than what
 * has been read, is written in place behind the reading point. */
/* The first look: whether text may hold a window of a live secret, from
 * its grams at offsets that are multiples of 4 (a window at s holds the
 * gram at the first of them from s, which fits in text when the window
 * does). False means it holds none. */
static bool may_hold_window(const char *text, size_t len)
{
	for (size_t m = 0; m + 4 <= len; m += 4) {
		uint32_t g = load_gram(text + m);
		for (const struct cred *c = live; c; c = c->live_next)
			if (c->grams && gram_has(c, g))
				return true;
	}
	return false;
}

size_t cred_scrub_mem(char *text, size_t len)
{
	size_t w = 0, run = 0, mask_end = 0;
	bool masking = false, short_key = false;

	if (!live)
		return len;
	/* Most texts hold no piece of any key: a look at a quarter of their
	 * offsets says so, and they stay as they are. A key shorter than a
	 * window has no grams: every offset is compared with it. */
	for (const struct cred *c = live; c; c = c->live_next)
		short_key |= c->short_len > 0;
	if (!short_key && !may_hold_window(text, len))
		return len;
	for (size_t i = 0; i < len; i++) {
		uint64_t win = i + CRED_SCRUB_PIECE <= len ? load_window(text + i) : 0;
		for (const struct cred *c = live; c; c = c->live_next) {
			if (win && c->windows && window_has(c, win) &&
			    i + CRED_SCRUB_PIECE > mask_end)
				mask_end = i + CRED_SCRUB_PIECE;
			if (c->short_len && i + c->short_len <= len &&
			    memcmp(text + i, c->mem, c->short_len) == 0 &&
			    i + c->short_len > mask_end)
				mask_end = i + c->short_len;
		}
		if (i < mask_end) {
			if (!masking)
				run = i;
			masking = true;
			continue;
		}
		if (masking)
			w += put_mask(text + w, i - run);
		masking = false;
		text[w++] = text[i];
	}
	if (masking)
		w += put_mask(text + w, len - run);
	return w;
}

void cred_scrub(char *text)
{
	size_t n;

	if (!text || !live)
		return;
	n = cred_scrub_mem(text, strlen(text));
	text[n] = '\0';
}

/* Header names stay as sent (the rate-limit parser reads them, and a key
 * that happens to contain a word like "anthropic" must not hide them);
 * values, and status lines whole, are scrubbed. */
static size_t scrub_headers(char *h, size_t len)
{
	size_t w = 0, i = 0;

	while (i < len) {
		char *nl = memchr(h + i, '\n', len - i), *colon;
		size_t end = nl ? (size_t)(nl - h) + 1 : len, keep = 0, n;

		colon = memchr(h + i, ':', end - i);
		if (colon && !(end - i >= 5 && memcmp(h + i, "HTTP/", 5) == 0))
			keep = (size_t)(colon - (h + i)) + 1;
		n = cred_scrub_mem(h + i + keep, end - i - keep);
		memmove(h + w, h + i, keep + n);
		w += keep + n;
		i = end;
	}
	return w;
}

void cred_scrub_answer(struct http_req *req)
{
	if (!live)
		return;
	if (req->resp.data) {
		req->resp.len = cred_scrub_mem(req->resp.data, req->resp.len);
		req->resp.data[req->resp.len] = '\0';
	}
	if (req->headers_in.data) {
		req->headers_in.len = scrub_headers(req->headers_in.data, req->headers_in.len);
		req->headers_in.data[req->headers_in.len] = '\0';
	}
	cred_scrub(req->errtext);
}

int cred_lines_add(struct cred_lines *l, const char *fmt, ...)
{
	size_t room = sizeof(l->buf) - l->used;
	va_list ap;
	int n;

	if (l->n >= CRED_MAX_EXTRA)
		return -E2BIG;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		explicit_bzero(l->buf + l->used, room);
		return -E2BIG;
	}
	l->v[l->n++] = l->buf + l->used;
	l->v[l->n] = NULL;
	l->used += (size_t)n + 1;
	return 0;
}

void cred_lines_wipe(struct cred_lines *l)
{
	explicit_bzero(l->buf, sizeof(l->buf));
	l->n = l->used = 0;
	l->v[0] = NULL;
}

int cred_authorize(struct cred *c, struct http_req *req, double now, struct cred_lines *lines,
                   double *ret_retry_at, struct errmsg *e)
{
	struct cred_request r = { .method = req->method ? req->method : "POST",
		                  .url = req->url,
		                  .body = req->body,
		                  .body_len = req->body_len,
		                  .now = now };
	int rc;

	req->headers = c->headers;
	req->extra_headers = NULL;
	lines->n = lines->used = 0;
	lines->v[0] = NULL;
	if (!c->signer)
		return 0;
	rc = c->signer->authorize(c, &r, lines, ret_retry_at, e);
	if (rc < 0) {
		cred_lines_wipe(lines);
		return rc;
	}
	req->extra_headers = lines->v;
	return 0;
}
