/* aws_cred: the AWS credentials of a bedrock provider, and the signer that
 * signs each of its requests with them. */
#include "aws_cred.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sigv4.h"
#include "xalloc.h"

#define AWS_MAX_ID     128
#define AWS_MAX_SECRET 256
#define AWS_MAX_TOKEN  8192

struct aws_signer {
	void *mem; /* secret mapping: the three below */
	size_t mem_len;
	char *akid, *secret, *token; /* token NULL: long-term credentials */
	time_t expires;              /* the token's stated expiry, 0: none */
	char *file, *profile;        /* where they come from; file NULL: the environment */
	char *provider;              /* its name, for the log */
	char region[40];
	struct stat st;     /* the file as last read */
	double checked_at;  /* when the file was last looked at (the caller's clock) */
	bool reread_failed; /* logged once, until a read succeeds */
};

/* ---- the credentials file --------------------------------------------------------------- */

static const char *trim(const char *s, const char *end, size_t *ret_len)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	*ret_len = (size_t)(end - s);
	return s;
}

static bool key_is(const char *k, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(k, name, n) == 0;
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "2026-01-05T09:00:00Z", with optional fractional seconds, 'T' or ' ',
 * and "Z", "+HH:MM", "+HHMM" or "-..." (as the tools that write it do). */
static int parse_time(const char *s, size_t n, time_t *ret)
{
	struct tm tm = { 0 };
	size_t i = 19;
	int off = 0, y, mo, d, h, mi, se;

	if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || se < 0 || se > 60)
		return -EINVAL;
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		int oh = n - i >= 3 ? digits(s + i + 1, 2) : -1;
		size_t m = i + 3 + (i + 3 < n && s[i + 3] == ':');
		int om = n >= m + 2 ? digits(s + m, 2) : -1;
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -EINVAL;
		off = (s[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
		i = m + 2;
	}
	if (i != n)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*ret = timegm(&tm) - off;
	return 0;
}

/* Is the section header line[0..n) ("[NAME]" or "[profile NAME]") profile's? */
static bool section_is(const char *line, size_t n, const char *profile)
{
	size_t len;
	const char *name = trim(line + 1, line + n - 1, &len);

	if (len > 8 && strncmp(name, "profile", 7) == 0 && (name[7] == ' ' || name[7] == '\t'))
		name = trim(name + 8, name + len, &len);
	return len == strlen(profile) && memcmp(name, profile, len) == 0;
}

int aws_cred_parse(const char *text, size_t len, const char *profile, struct aws_keys *ret,
                   struct errmsg *e)
{
	static const char *const expiry_keys[] = { "aws_expiration",
		                                   "aws_session_expiration",
		                                   "aws_credential_expiration",
		                                   "x_security_token_expires",
		                                   "expiration",
		                                   NULL };
	const char *p = text, *end = text + len;
	struct aws_keys k = { 0 };
	bool found = false, in = false;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end, *eq;
		size_t n, kn, vn;
		const char *line = trim(p, eol, &n), *key, *v;

		p = nl ? nl + 1 : end;
		if (n == 0 || line[0] == '#' || line[0] == ';')
			continue;
		if (line[0] == '[') {
			in = line[n - 1] == ']' && section_is(line, n, profile);
			found |= in;
			continue;
		}
		if (!in || !(eq = memchr(line, '=', n)))
			continue;
		key = trim(line, eq, &kn);
		v = trim(eq + 1, line + n, &vn);
		if (key_is(key, kn, "aws_access_key_id")) {
			k.access_key_id = v, k.access_key_id_len = vn;
		} else if (key_is(key, kn, "aws_secret_access_key")) {
			k.secret_key = v, k.secret_key_len = vn;
		} else if (key_is(key, kn, "aws_session_token") ||
		           key_is(key, kn, "aws_security_token")) {
			k.session_token = vn ? v : NULL, k.session_token_len = vn;
		} else {
			for (const char *const *x = expiry_keys; *x; x++)
				if (key_is(key, kn, *x) && parse_time(v, vn, &k.expires) < 0)
					return errmsg_set(
					        e, -EINVAL,
					        "profile [%s]: %s is not an ISO 8601 time "
					        "such as 2026-01-05T09:00:00Z",
					        profile, *x);
		}
	}
	if (!found)
		return errmsg_set(e, -ENOENT, "no [%s] profile in it", profile);
	if (!k.access_key_id || !k.access_key_id_len)
		return errmsg_set(e, -EINVAL, "profile [%s] has no aws_access_key_id", profile);
	if (!k.secret_key || !k.secret_key_len)
		return errmsg_set(e, -EINVAL, "profile [%s] has no aws_secret_access_key", profile);
	*ret = k;
	return 0;
}

/* ---- the signer's secrets --------------------------------------------------------------- */

/* Printable ASCII without spaces: what a header line and a key may hold. */
static bool token_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static int check_keys(const struct aws_keys *k, const char *source, struct errmsg *e)
{
	if (k->access_key_id_len > AWS_MAX_ID ||
	    !token_chars(k->access_key_id, k->access_key_id_len))
		return errmsg_set(e, -EINVAL,
		                  "the access key id from %s is not 1 to %d printable characters",
		                  source, AWS_MAX_ID);
	if (k->secret_key_len > AWS_MAX_SECRET || !token_chars(k->secret_key, k->secret_key_len))
		return errmsg_set(
		        e, -EINVAL,
		        "the secret access key from %s is not 1 to %d printable characters", source,
		        AWS_MAX_SECRET);
	if (k->session_token && (k->session_token_len > AWS_MAX_TOKEN ||
	                         !token_chars(k->session_token, k->session_token_len)))
		return errmsg_set(
		        e, -EINVAL,
		        "the session token from %s is not at most %d printable characters", source,
		        AWS_MAX_TOKEN);
	return 0;
}

static bool same_keys(const struct aws_signer *s, const struct aws_keys *k)
{
	return strlen(s->akid) == k->access_key_id_len &&
	       memcmp(s->akid, k->access_key_id, k->access_key_id_len) == 0 &&
	       strlen(s->secret) == k->secret_key_len &&
	       memcmp(s->secret, k->secret_key, k->secret_key_len) == 0 &&
	       (s->token ? k->session_token && strlen(s->token) == k->session_token_len &&
	                           memcmp(s->token, k->session_token, k->session_token_len) == 0
	                 : !k->session_token) &&
	       s->expires == k->expires;
}

/* Copies k (checked) into the signer's mapping; tells the credential and
 * the scrubber. */
static void take_keys(struct cred *c, struct aws_signer *s, const struct aws_keys *k)
{
	struct cred_secret sec[2];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = 0;

	explicit_bzero(s->mem, s->mem_len);
	s->akid = s->mem;
	s->secret = s->akid + AWS_MAX_ID + 1;
	memcpy(s->akid, k->access_key_id, k->access_key_id_len);
	memcpy(s->secret, k->secret_key, k->secret_key_len);
	s->token = NULL;
	if (k->session_token) {
		s->token = s->secret + AWS_MAX_SECRET + 1;
		memcpy(s->token, k->session_token, k->session_token_len);
	}
	s->expires = k->expires;
	/* A changed key (on a reload) clears a rejected one: the fingerprint. */
	if (!md)
		xalloc_die("EVP_MD_CTX_new");
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, s->akid, strlen(s->akid) + 1);
	EVP_DigestUpdate(md, s->secret, strlen(s->secret) + 1);
	if (s->token)
		EVP_DigestUpdate(md, s->token, strlen(s->token));
	EVP_DigestFinal_ex(md, c->fingerprint, NULL);
	EVP_MD_CTX_free(md);
	c->has_key = true;
	sec[n++] = (struct cred_secret){ s->secret, strlen(s->secret) };
	if (s->token)
		sec[n++] = (struct cred_secret){ s->token, strlen(s->token) };
	cred_scrub_set(c, sec, n);
}

static void source_of(const struct aws_signer *s, char *out, size_t n)
{
	snprintf(out, n, "aws_credentials_file %s [%s]", s->file, s->profile);
}

/* Reads the file into *ret (pointers into buf, a secret mapping of
 * AWS_CRED_MAX_FILE bytes); *ret_st is the file read. */
static int read_file(const struct aws_signer *s, char *buf, struct aws_keys *ret,
                     struct stat *ret_st, char *warn, size_t warn_len, struct errmsg *e)
{
	char source[600];
	size_t len;
	int r = cred_read_secret_file("aws_credentials_file", s->file, buf, AWS_CRED_MAX_FILE, &len,
	                              ret_st, warn, warn_len, e);

	if (r < 0)
		return r;
	if ((r = aws_cred_parse(buf, len, s->profile, ret, e)) < 0) {
		errmsg_prefix(e, "aws_credentials_file %s", s->file);
		return r;
	}
	source_of(s, source, sizeof(source));
	return check_keys(ret, source, e);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The file changed since it was read: read it again. A file that cannot be
 * read now (being rewritten, say) keeps the credentials read before; the
 * next look tries again. */
static void reread(struct cred *c, struct aws_signer *s)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE),
	       cap = (AWS_CRED_MAX_FILE + page - 1) / page * page;
	struct errmsg e = { "" };
	struct aws_keys k;
	struct stat st;
	char warn[256], *buf;

	if (stat(s->file, &st) == 0 && same_file(&st, &s->st))
		return;
	buf = cred_secret_alloc(cap);
	if (read_file(s, buf, &k, &st, warn, sizeof(warn), &e) < 0) {
		if (!s->reread_failed)
			log_warning("provider %s: %s; signing with the credentials read before",
			            s->provider, e.text);
		s->reread_failed = true;
		cred_secret_free(buf, cap);
		return;
	}
	if (s->reread_failed)
		log_notice("provider %s: aws_credentials_file %s is readable again", s->provider,
		           s->file);
	s->reread_failed = false;
	s->st = st;
	if (!same_keys(s, &k)) {
		take_keys(c, s, &k);
		log_info("provider %s: new AWS credentials from aws_credentials_file %s [%s]%s",
		         s->provider, s->file, s->profile,
		         s->token ? " (with a session token)" : "");
	}
	cred_secret_free(buf, cap);
}

/* ---- signing ---------------------------------------------------------------------------- */

static int aws_authorize(struct cred *c, const struct cred_request *r, struct cred_lines *out,
                         double *ret_retry_at, struct errmsg *e)
{
	struct aws_signer *s = c->signer_data;
	struct sigv4_header h[1];
	struct sigv4_signature sig;
	struct sigv4_request req;
	struct sigv4_credentials keys;
	char host[300], *path, when[32];
	const char *p, *query;
	size_t plen;
	time_t wall = time(NULL);
	int rc;

	if (s->file && r->now - s->checked_at >= AWS_CRED_CHECK_S) {
		s->checked_at = r->now;
		reread(c, s);
	}
	if (s->expires && wall >= s->expires) {
		struct tm tm;
		gmtime_r(&s->expires, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		*ret_retry_at = r->now + AWS_CRED_CHECK_S;
		if (s->file)
			return errmsg_set(e, -EAGAIN,
			                  "the AWS session token of aws_credentials_file %s [%s] "
			                  "expired at %s: waiting for the file to hold a new one",
			                  s->file, s->profile, when);
		return errmsg_set(e, -EAGAIN, "the AWS session token expired at %s", when);
	}
	if ((rc = sigv4_url_split(r->url, host, sizeof(host), &p, &plen, &query, e)) < 0)
		return rc;
	path = xmalloc(plen + 1);
	memcpy(path, p, plen);
	path[plen] = '\0';
	h[0] = (struct sigv4_header){ "host", host };
	req = (struct sigv4_request){ .method = r->method,
		                      .path = path,
		                      .query = query,
		                      .headers = h,
		                      .nheaders = 1,
		                      .payload = r->body,
		                      .payload_len = r->body_len,
		                      .region = s->region,
		                      .service = AWS_CRED_SIGNING,
		                      .when = wall };
	keys = (struct sigv4_credentials){ s->akid, s->secret, s->token };
	rc = sigv4_sign(&req, &keys, &sig, NULL, e);
	free(path);
	if (rc == 0)
		rc = cred_lines_add(out, "x-amz-date: %s", sig.amz_date);
	if (rc == 0 && s->token)
		rc = cred_lines_add(out, "x-amz-security-token: %s", s->token);
	if (rc == 0)
		rc = cred_lines_add(out, "authorization: %s", sig.authorization);
	explicit_bzero(&sig, sizeof(sig));
	if (rc == -E2BIG)
		return errmsg_set(e, rc, "the signed header lines do not fit");
	return rc;
}

static void aws_free(struct cred *c)
{
	struct aws_signer *s = c->signer_data;

	if (!s)
		return;
	cred_secret_free(s->mem, s->mem_len);
	free(s->file);
	free(s->profile);
	free(s->provider);
	free(s);
	c->signer_data = NULL;
}

static const struct cred_signer_ops aws_signer_ops = { .authorize = aws_authorize,
	                                               .free = aws_free };

/* ---- where the credentials come from ---------------------------------------------------- */

static int from_environment(struct cred *c, struct aws_signer *s, const struct cfg_provider *p,
                            const char *id, const char *secret, const char *token, struct errmsg *e)
{
	struct aws_keys k = { .access_key_id = id,
		              .secret_key = secret,
		              .session_token = token,
		              .access_key_id_len = id ? strlen(id) : 0,
		              .secret_key_len = secret ? strlen(secret) : 0,
		              .session_token_len = token ? strlen(token) : 0 };
	int r;

	if (!id || !secret)
		return errmsg_set(e, -EINVAL,
		                  "environment variable %s is set but %s is not: AWS credentials "
		                  "need both",
		                  id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		                  id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	if ((r = check_keys(&k, "the environment", e)) < 0)
		return r;
	take_keys(c, s, &k);
	if (p->aws_credentials_file)
		snprintf(c->warning, sizeof(c->warning),
		         "AWS_ACCESS_KEY_ID in the environment takes precedence over "
		         "aws_credentials_file %s, as in the AWS SDKs",
		         p->aws_credentials_file);
	return 0;
}

static int from_file(struct cred *c, struct aws_signer *s, struct errmsg *e)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE),
	       cap = (AWS_CRED_MAX_FILE + page - 1) / page * page;
	char *buf = cred_secret_alloc(cap);
	struct aws_keys k;
	int r = read_file(s, buf, &k, &s->st, c->warning, sizeof(c->warning), e);

	if (r == 0)
		take_keys(c, s, &k);
	cred_secret_free(buf, cap);
	return r;
}

int aws_cred_attach(struct cred *c, const struct cfg_provider *p, struct errmsg *e)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const char *id = cred_env_capture("AWS_ACCESS_KEY_ID");
	const char *secret = cred_env_capture("AWS_SECRET_ACCESS_KEY");
	const char *token = cred_env_capture("AWS_SESSION_TOKEN");
	struct aws_signer *s;
	int r;

	if (!p->region || strlen(p->region) >= sizeof(s->region))
		return errmsg_set(e, -EINVAL,
		                  "AWS credentials sign each request for a region: set region");
	if (!id && !secret && !p->aws_credentials_file)
		return errmsg_set(e, -ENOKEY,
		                  "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
		                  "(and AWS_SESSION_TOKEN), aws_credentials_file, or a Bedrock API "
		                  "key (environment variable %s, api_key_file)",
		                  p->api_key_env ? p->api_key_env : "AWS_BEARER_TOKEN_BEDROCK");
	s = xcalloc(1, sizeof(*s));
	s->mem_len = (AWS_MAX_ID + AWS_MAX_SECRET + AWS_MAX_TOKEN + 3 + page - 1) / page * page;
	s->mem = cred_secret_alloc(s->mem_len);
	s->provider = xstrdup(p->name ? p->name : "?");
	snprintf(s->region, sizeof(s->region), "%s", p->region);
	if (!id && !secret) {
		s->file = xstrdup(p->aws_credentials_file);
		s->profile = xstrdup(p->aws_profile ? p->aws_profile : "default");
	}
	/* Whatever happens next, the credential frees s. */
	c->signer = &aws_signer_ops;
	c->signer_data = s;
	r = s->file ? from_file(c, s, e) : from_environment(c, s, p, id, secret, token, e);
	return r;
}
