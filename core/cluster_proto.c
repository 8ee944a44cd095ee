/* cluster_proto: the records cluster mode keeps in Redis and the pure
 * decisions on them. The parsers are strict on purpose: another warmd
 * writes exactly what the formatters here write, so anything else (an
 * older or newer version, a hand-written key, garbage) is refused with the
 * field it went wrong at, and the daemon never acts on half a record. */
#include "cluster_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "hex.h"
#include "xalloc.h"

#define RECORD_MAX   512 /* far above the longest record a warmd writes */
#define FIELDS_MAX   8
#define TIME_MAX     1e11 /* Unix seconds: year 5138, but no exponent needed */
#define LEASE_MS_MIN 100L
#define LEASE_MS_MAX 3600000L
#define OWNED_MAX    100000000L

bool cluster_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > CLUSTER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

uint64_t cluster_entry_id(const char *provider, const char *url, const char *version)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t id = 0;

	if (!version)
		version = "";

	/* Only an allocation can fail here (as in adapter.c's hashing); an id
	 * of 0 would put every entry on one node, so stop as xalloc does. */
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, provider, strlen(provider) + 1) ||
	    !EVP_DigestUpdate(ctx, url, strlen(url) + 1) ||
	    !EVP_DigestUpdate(ctx, version, strlen(version)) || !EVP_DigestFinal_ex(ctx, md, NULL))
		abort();
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 8; i++)
		id = id << 8 | md[i];
	return id;
}

void cluster_eid_format(uint64_t eid, char out[17])
{
	snprintf(out, 17, "%016" PRIx64, eid);
}

int cluster_eid_parse(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n != 16)
		return -EINVAL;
	for (size_t i = 0; i < 16; i++) {
		int d = hex_value(s[i]);
		if (d < 0 || (s[i] >= 'A' && s[i] <= 'F'))
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	*ret = v;
	return 0;
}

static uint64_t fnv1a_add(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t cluster_node_seed(const char *node)
{
	return fnv1a_add(CLUSTER_DIGEST_INIT, node, strlen(node));
}

/* splitmix64's output step on state x (the state advanced by its gamma,
 * then mixed), so that every bit of seed and eid moves every bit of the
 * weight. */
uint64_t cluster_weight(uint64_t seed, uint64_t eid)
{
	uint64_t z = (seed ^ eid) + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int cluster_pick(const uint64_t *seeds, size_t n, uint64_t eid)
{
	int best = -1;
	uint64_t bw = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t w = cluster_weight(seeds[i], eid);
		if (best < 0 || w > bw) {
			best = (int)i;
			bw = w;
		}
	}
	return best;
}

uint64_t cluster_digest_add(uint64_t h, const char *name, uint64_t eid)
{
	unsigned char be[8];

	for (int i = 0; i < 8; i++)
		be[i] = (unsigned char)(eid >> (56 - 8 * i));
	h = fnv1a_add(h, name, strlen(name) + 1);
	return fnv1a_add(h, be, sizeof(be));
}

/* ------------------------------------------------------------- parsing */

/* A record split at single spaces into NUL-terminated fields. */
struct fields {
	char buf[RECORD_MAX + 1];
	char *f[FIELDS_MAX];
	size_t len[FIELDS_MAX];
	int n;
};

/* Splits s[0..n) into exactly want fields, the first of which is "v1".
 * what names the record in errors. */
static int split(const char *s, size_t n, int want, struct fields *fs, const char *what,
                 struct errmsg *e)
{
	char *p;

	if (n > RECORD_MAX)
		return errmsg_set(e, -EINVAL, "%s: longer than %d bytes", what, RECORD_MAX);
	if (memchr(s, '\0', n))
		return errmsg_set(e, -EINVAL, "%s: holds a NUL byte", what);
	memcpy(fs->buf, s, n);
	fs->buf[n] = '\0';
	fs->n = 0;
	p = fs->buf;
	for (;;) {
		char *sp = strchr(p, ' ');
		if (fs->n == want)
			return errmsg_set(e, -EINVAL, "%s: more than %d fields", what, want);
		fs->f[fs->n] = p;
		fs->len[fs->n] = sp ? (size_t)(sp - p) : strlen(p);
		if (fs->len[fs->n] == 0)
			return errmsg_set(e, -EINVAL,
			                  "%s: empty field %d (fields are separated by one space)",
			                  what, fs->n + 1);
		fs->n++;
		if (!sp)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	if (strcmp(fs->f[0], "v1") != 0)
		return errmsg_set(e, -EINVAL, "%s: version is not v1", what);
	if (fs->n != want)
		return errmsg_set(e, -EINVAL, "%s: %d fields, want %d", what, fs->n, want);
	return 0;
}

/* A field of digits only (no sign, no space), as strtol reads it whole,
 * within lo..hi. */
static int field_long(const char *f, long lo, long hi, long *ret, const char *what,
                      const char *field, struct errmsg *e)
{
	char *end;
	long v;

	if (strspn(f, "0123456789") != strlen(f))
		return errmsg_set(e, -EINVAL, "%s: %s is not a whole number", what, field);
	errno = 0;
	v = strtol(f, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return errmsg_set(e, -EINVAL, "%s: %s is out of range [%ld, %ld]", what, field, lo,
		                  hi);
	*ret = v;
	return 0;
}

/* Unix seconds as the formatter writes them: digits, then at most three
 * decimals; 0..TIME_MAX. */
static int field_time(const char *f, double *ret, const char *what, const char *field,
                      struct errmsg *e)
{
	size_t ip = strspn(f, "0123456789"), fp = 0;
	char *end;
	double v;

	if (f[ip] == '.')
		fp = strspn(f + ip + 1, "0123456789");
	if (ip == 0 || (f[ip] == '.' && (fp == 0 || fp > 3)) ||
	    f[ip + (f[ip] == '.' ? 1 + fp : 0)] != '\0')
		return errmsg_set(e, -EINVAL, "%s: %s is not Unix seconds with at most 3 decimals",
		                  what, field);
	errno = 0;
	v = strtod(f, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > TIME_MAX)
		return errmsg_set(e, -EINVAL, "%s: %s is out of range [0, %.0f]", what, field,
		                  TIME_MAX);
	*ret = v;
	return 0;
}

static int field_hex(const char *f, size_t n, uint64_t *ret, const char *what, const char *field,
                     struct errmsg *e)
{
	if (cluster_eid_parse(f, n, ret) < 0)
		return errmsg_set(e, -EINVAL, "%s: %s is not 16 lower-case hex digits", what,
		                  field);
	return 0;
}

int cluster_heartbeat_format(const struct cluster_heartbeat *h, char *out, size_t n)
{
	return snprintf(out, n, "v1 %016" PRIx64 " %ld %ld %016" PRIx64, h->instance, h->lease_ms,
	                h->owned, h->digest);
}

int cluster_heartbeat_parse(const char *s, size_t n, struct cluster_heartbeat *ret,
                            struct errmsg *e)
{
	static const char what[] = "heartbeat";
	struct cluster_heartbeat h;
	struct fields fs;

	if (split(s, n, 5, &fs, what, e) < 0 ||
	    field_hex(fs.f[1], fs.len[1], &h.instance, what, "instance", e) < 0 ||
	    field_long(fs.f[2], LEASE_MS_MIN, LEASE_MS_MAX, &h.lease_ms, what, "lease_ms", e) < 0 ||
	    field_long(fs.f[3], 0, OWNED_MAX, &h.owned, what, "owned", e) < 0 ||
	    field_hex(fs.f[4], fs.len[4], &h.digest, what, "digest", e) < 0)
		return -EINVAL;
	*ret = h;
	return 0;
}

static const char *const result_names[] = {
	[WARM_HIT] = "hit",
	[WARM_WRITE] = "write",
	[WARM_NONE] = "none",
	[WARM_ERROR] = "error",
};

int cluster_warmth_format(const struct cluster_warmth *w, char *out, size_t n)
{
	return snprintf(out, n, "v1 %s %.3f %.3f %ld %s", w->node, w->last_refresh, w->expires_at,
	                w->prefix_tokens, warm_result_name(w->result));
}

int cluster_warmth_parse(const char *s, size_t n, struct cluster_warmth *ret, struct errmsg *e)
{
	static const char what[] = "warmth";
	struct cluster_warmth w;
	struct fields fs;
	size_t r;

	if (split(s, n, 6, &fs, what, e) < 0)
		return -EINVAL;
	if (!cluster_name_ok(fs.f[1], fs.len[1]))
		return errmsg_set(e, -EINVAL,
		                  "%s: node is not 1 to %d characters of [A-Za-z0-9._-]", what,
		                  CLUSTER_NAME_MAX);
	memcpy(w.node, fs.f[1], fs.len[1] + 1);
	if (field_time(fs.f[2], &w.last_refresh, what, "last_refresh", e) < 0 ||
	    field_time(fs.f[3], &w.expires_at, what, "expires_at", e) < 0 ||
	    field_long(fs.f[4], 0, BOUNDS_MAX_TOKENS, &w.prefix_tokens, what, "prefix_tokens", e) <
	            0)
		return -EINVAL;
	for (r = 0; r < sizeof(result_names) / sizeof(result_names[0]); r++)
		if (strcmp(fs.f[5], result_names[r]) == 0)
			break;
	if (r == sizeof(result_names) / sizeof(result_names[0]))
		return errmsg_set(e, -EINVAL, "%s: result is not one of hit, write, none, error",
		                  what);
	w.result = (enum warm_result)r;
	*ret = w;
	return 0;
}

int cluster_weight_msg_parse(const char *s, size_t n, char lane[130], int *weight, struct errmsg *e)
{
	static const char what[] = "weight";
	const char *sp = memchr(s, ' ', n), *at;
	size_t ll;
	char num[4];
	long w = -1;

	if (!sp)
		return errmsg_set(e, -EINVAL, "%s: not GROUP@VERSION WEIGHT", what);
	ll = (size_t)(sp - s);
	at = memchr(s, '@', ll);
	if (!at || !cluster_name_ok(s, (size_t)(at - s)) ||
	    !cluster_name_ok(at + 1, (size_t)(sp - at - 1)))
		return errmsg_set(e, -EINVAL,
		                  "%s: lane is not GROUP@VERSION (each 1 to %d characters of "
		                  "[A-Za-z0-9._-])",
		                  what, CLUSTER_NAME_MAX);
	n -= ll + 1;
	if (n == 0 || n > 3 || memchr(sp + 1, '\0', n))
		return errmsg_set(e, -EINVAL, "%s: weight is not a number from 0 to 100", what);
	memcpy(num, sp + 1, n);
	num[n] = '\0';
	if (field_long(num, 0, 100, &w, what, "weight", e) < 0)
		return -EINVAL;
	memcpy(lane, s, ll);
	lane[ll] = '\0';
	*weight = (int)w;
	return 0;
}
