/* oauth: OAuth2 access tokens for a Google service account, fetched and
 * refreshed in the background (one fetcher per credential). */
#include "oauth.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "http.h"
#include "jwt.h"
#include "log.h"
#include "xalloc.h"

#define FILE_MAX      (16 * 1024) /* a key file (Google's are about 2.3 KiB) */
#define ASSERTION_MAX 4096
#define TOKEN_MAX     4096
#define SCRATCH_MAX   8192 /* the token answer's strings, decoded */
#define ANSWER_MAX    (64 * 1024)
#define FORM_PREFIX   "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="

enum oauth_state {
	O_IDLE,     /* not started */
	O_FETCHING, /* an exchange in flight */
	O_WAITING,  /* the timer: a refresh or a retry */
	O_REJECTED, /* refused OAUTH_REFUSALS_FATAL times in a row: no more until asked */
};

struct oauth {
	struct cred *cred; /* owner (no reference: it owns us) */
	enum oauth_state state;

	/* Secret memory: the key file, its decoded strings, the assertion, the
	 * form body, the current and previous tokens, the answer's strings. */
	void *mem;
	size_t mem_len;
	char *sa_buf, *assertion, *body, *token, *prev_token, *scratch;
	size_t body_len, token_len, prev_len;
	struct jwt_sa sa; /* strings in sa_buf */
	EVP_PKEY *key;
	struct cred *key_scrub;   /* the scrubber's view of the private key */
	struct cred *token_scrub; /* ...of the tokens and the assertion */

	/* Times in uv_now() milliseconds. */
	bool has_token;
	uint64_t usable_until; /* the token is used until then */
	uint64_t refresh_at;   /* the next exchange is planned then */
	uint64_t fetch_started;
	unsigned failures; /* exchanges failed in a row (transport, 5xx, 429) */
	unsigned refusals; /* exchanges refused in a row (4xx) */
	bool rejection_told;
	char error[480]; /* why there is no token: the last failure (scrubbed) */
	struct oauth_stats stats;

	/* Runtime (start). */
	uv_loop_t *loop;
	struct http *http;
	char *provider, *ca_file, *proxy;
	long connect_timeout_ms, timeout_ms;
	uv_timer_t timer;
	bool timer_open;
	struct http_req req;
	struct http_headers *form_headers;
};

static const char *const form_lines[] = { "Content-Type: application/x-www-form-urlencoded",
	                                  "Accept: application/json", NULL };

static void fetch(struct oauth *o);

/* ---- the scrubber's view of the tokens ------------------------------------------------- */

static void scrub_tokens(struct oauth *o)
{
	const char *v[3];
	size_t len[3], n = 0;

	if (o->has_token) {
		v[n] = o->token;
		len[n++] = o->token_len;
	}
	if (o->prev_len) {
		v[n] = o->prev_token;
		len[n++] = o->prev_len;
	}
	if (o->assertion[0]) {
		v[n] = o->assertion;
		len[n++] = strlen(o->assertion);
	}
	cred_unref(o->token_scrub);
	o->token_scrub = cred_scrub_only(v, len, n);
}

/* ---- timing --------------------------------------------------------------------------- */

static void timer_cb(uv_timer_t *t)
{
	fetch(t->data);
}

static void plan(struct oauth *o, uint64_t at)
{
	uint64_t now = uv_now(o->loop);

	o->state = O_WAITING;
	o->refresh_at = at;
	uv_timer_start(&o->timer, timer_cb, at > now ? at - now : 0, 0);
}

/* When to fetch again after failures in a row: 1 s, 2 s, 4 s... up to a
 * minute, and never after the token stops being usable (one more try then). */
static uint64_t backoff_at(const struct oauth *o, unsigned n)
{
	double s = n >= 7 ? OAUTH_RETRY_MAX_S : (double)(1u << (n ? n - 1 : 0));
	uint64_t now = uv_now(o->loop), at = now + (uint64_t)(s * 1000);

	if (s > OAUTH_RETRY_MAX_S)
		at = now + (uint64_t)(OAUTH_RETRY_MAX_S * 1000);
	if (o->has_token && o->usable_until > now && at > o->usable_until)
		at = o->usable_until;
	return at;
}

/* ---- one exchange --------------------------------------------------------------------- */

static void done_cb(struct http_req *req);

static void fetch(struct oauth *o)
{
	struct errmsg e = { "" };
	time_t now = time(NULL);
	struct jwt_claims c = { .iss = o->sa.client_email,
		                .scope = JWT_SCOPE,
		                .aud = o->sa.token_uri,
		                .kid = o->sa.private_key_id,
		                .iat = (int64_t)now,
		                .exp = (int64_t)now + JWT_LIFETIME_S };
	long n = jwt_sign(o->key, &c, o->assertion, ASSERTION_MAX, &e);
	int r;

	uv_timer_stop(&o->timer);
	if (n < 0) { /* cannot happen with a key that loaded; a rejection all the same */
		snprintf(o->error, sizeof(o->error), "%.400s", e.text);
		o->state = O_REJECTED;
		o->rejection_told = false;
		log_error("provider %s: %s", o->provider, o->error);
		return;
	}
	o->body_len = (size_t)snprintf(o->body, sizeof(FORM_PREFIX) + ASSERTION_MAX, "%s%s",
	                               FORM_PREFIX, o->assertion);
	scrub_tokens(o); /* the assertion is a credential for an hour */
	http_req_reset(&o->req);
	memset(&o->req, 0, sizeof(o->req));
	o->req.url = o->sa.token_uri;
	o->req.body = o->body;
	o->req.body_len = o->body_len;
	o->req.headers = o->form_headers;
	o->req.connect_timeout_ms = o->connect_timeout_ms;
	o->req.timeout_ms = o->timeout_ms;
	o->req.max_response = ANSWER_MAX;
	o->req.ca_file = o->ca_file;
	o->req.proxy = o->proxy;
	o->req.done = done_cb;
	o->req.data = o;
	o->fetch_started = uv_now(o->loop);
	o->stats.exchanges++;
	r = http_start(o->http, &o->req);
	if (r < 0) {
		snprintf(o->error, sizeof(o->error), "cannot send the token request: %s",
		         strerror(-r));
		o->failures++;
		plan(o, backoff_at(o, o->failures));
		return;
	}
	o->state = O_FETCHING;
	log_debug("provider %s: exchanging an assertion for %s at %s", o->provider,
	          o->sa.client_email, o->sa.token_uri);
}

/* The next exchange of a token that lasts lifetime_s from start: at 80%
 * of it, or 5 minutes before the end of a long one. Used until 10% of
 * it (at most a minute) before the end, so a warm never carries a token
 * about to expire. */
static void take_token(struct oauth *o, const struct jwt_token *t)
{
	uint64_t life = (uint64_t)t->expires_in * 1000, margin = life / 10;
	uint64_t refresh = life > 1500 * 1000 ? life - 300 * 1000 : life * 8 / 10;
	bool first = !o->has_token && o->stats.tokens == 0;

	if (margin > 60 * 1000)
		margin = 60 * 1000;
	if (o->has_token) {
		memcpy(o->prev_token, o->token, o->token_len + 1);
		o->prev_len = o->token_len;
	}
	memcpy(o->token, t->access_token, t->access_token_len);
	o->token[t->access_token_len] = '\0';
	o->token_len = t->access_token_len;
	o->has_token = true;
	o->usable_until = o->fetch_started + life - margin;
	o->failures = o->refusals = 0;
	o->rejection_told = false;
	o->error[0] = '\0';
	o->stats.tokens++;
	scrub_tokens(o);
	plan(o, o->fetch_started + refresh);
	log_at(first ? LOG_INFO : LOG_DEBUG,
	       "provider %s: access token for %s, valid for %llds (next one in %llds)", o->provider,
	       o->sa.client_email, (long long)t->expires_in, (long long)(refresh / 1000));
}

/* The endpoint refused the assertion: the key is wrong or deleted, the
 * account disabled, or (for a while after it is created) not yet known. */
static void refused(struct oauth *o, const char *why)
{
	o->refusals++;
	o->stats.refusals++;
	snprintf(o->error, sizeof(o->error), "%s refused the service account %s: %s",
	         o->sa.token_uri, o->sa.client_email, why);
	cred_scrub(o->error);
	if (o->refusals >= OAUTH_REFUSALS_FATAL) {
		o->state = O_REJECTED;
		o->rejection_told = false;
		log_error("provider %s: %s; %u times in a row: its targets stop until the key "
		          "changes (reload) or an operator's warm",
		          o->provider, o->error, o->refusals);
		return;
	}
	log_warning("provider %s: %s", o->provider, o->error);
	plan(o, backoff_at(o, o->refusals));
}

static void failed(struct oauth *o, const char *why)
{
	o->failures++;
	snprintf(o->error, sizeof(o->error), "no token from %s: %s", o->sa.token_uri, why);
	cred_scrub(o->error);
	log_at(o->failures == 1 ? LOG_WARNING : LOG_DEBUG, "provider %s: %s (%s)", o->provider,
	       o->error, o->has_token ? "the current token is still used" : "retrying");
	plan(o, backoff_at(o, o->failures));
}

static void done_cb(struct http_req *req)
{
	struct oauth *o = req->data;
	struct jwt_token t;
	struct errmsg e = { "" };
	char why[320];
	int r = -EPROTO;

	o->state = O_IDLE;
	if (!req->error && req->resp.data)
		r = jwt_token_parse(req->resp.data, req->resp.len, o->scratch, SCRATCH_MAX, &t, &e);
	if (req->error) {
		failed(o, req->errtext);
	} else if (req->status == 200 && r == 0 && t.access_token) {
		take_token(o, &t);
	} else if (req->status >= 400 && req->status < 500 && req->status != 408 &&
	           req->status != 429) {
		if (r == 0 && t.error)
			snprintf(why, sizeof(why), "HTTP %ld %.60s%s%.200s", req->status, t.error,
			         t.error_description ? ": " : "",
			         t.error_description ? t.error_description : "");
		else
			snprintf(why, sizeof(why), "HTTP %ld", req->status);
		refused(o, why);
	} else {
		if (req->status == 200)
			snprintf(why, sizeof(why), "%.300s", e.text);
		else
			snprintf(why, sizeof(why), "HTTP %ld", req->status);
		failed(o, why);
	}
	/* The answer held the token: wipe it where http.c kept it. */
	if (req->resp.data)
		explicit_bzero(req->resp.data, req->resp.cap);
	explicit_bzero(o->scratch, SCRATCH_MAX);
	http_req_reset(req);
}

/* ---- the signer ----------------------------------------------------------------------- */

static int oauth_authorize(struct cred *c, const struct cred_request *r, struct cred_lines *out,
                           double *ret_retry_at, struct errmsg *e)
{
	struct oauth *o = c->signer_data;
	uint64_t now, wake;

	if (o->state == O_IDLE && !o->loop) {
		*ret_retry_at = r->now + 1;
		return errmsg_set(e, -EAGAIN, "the service account's token fetcher is not running");
	}
	now = uv_now(o->loop);
	if (o->has_token && now < o->usable_until)
		return cred_lines_add(out, "Authorization: Bearer %s", o->token) < 0
		               ? errmsg_set(e, -E2BIG, "the access token is too long")
		               : 0;
	if (o->state == O_REJECTED) {
		if (!o->rejection_told) {
			o->rejection_told = true;
			return errmsg_set(e, -EKEYREJECTED, "%s", o->error);
		}
		/* Asked again (an operator's warm): a fresh round of exchanges. */
		o->refusals = 0;
		fetch(o);
	}
	/* Look again soon after the exchange in flight (or the next one) starts:
	 * on loopback or to Google it takes milliseconds. */
	wake = o->state == O_WAITING && o->refresh_at > now ? o->refresh_at - now : 0;
	*ret_retry_at = r->now + (double)wake / 1000 + OAUTH_LOOK_AGAIN_S;
	if (o->error[0])
		return errmsg_set(e, -EAGAIN, "waiting for an access token: %s", o->error);
	return errmsg_set(e, -EAGAIN, "waiting for an access token from %s", o->sa.token_uri);
}

static void close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void oauth_free(struct cred *c)
{
	struct oauth *o = c->signer_data;

	if (!o)
		return;
	c->signer_data = NULL;
	c->signer = NULL;
	if (o->state == O_FETCHING)
		http_cancel(&o->req);
	if (o->req.resp.data)
		explicit_bzero(o->req.resp.data, o->req.resp.cap);
	http_req_reset(&o->req);
	http_headers_free(o->form_headers);
	EVP_PKEY_free(o->key);
	cred_unref(o->key_scrub);
	cred_unref(o->token_scrub);
	cred_secret_free(o->mem, o->mem_len);
	free(o->provider);
	free(o->ca_file);
	free(o->proxy);
	if (o->timer_open) {
		uv_timer_stop(&o->timer);
		o->timer.data = o;
		uv_close((uv_handle_t *)&o->timer, close_cb);
	} else {
		free(o);
	}
}

/* A reload replaced prev by c with the same key: c takes over its token
 * and its plan, instead of a fresh exchange that holds the warms. */
static bool adopt(struct oauth *o, struct cred *prev)
{
	struct oauth *po;
	uint64_t now = uv_now(o->loop);

	if (!prev || prev->signer != o->cred->signer || !cred_same_key(prev, o->cred))
		return false;
	po = prev->signer_data;
	if (!po || !po->has_token || now >= po->usable_until)
		return false;
	memcpy(o->token, po->token, po->token_len + 1);
	o->token_len = po->token_len;
	o->has_token = true;
	o->usable_until = po->usable_until;
	o->stats.tokens = po->stats.tokens;
	scrub_tokens(o);
	plan(o, po->refresh_at > now && po->state == O_WAITING ? po->refresh_at : now);
	return true;
}

static void oauth_start(struct cred *c, struct cred *prev, const struct cred_runtime *rt)
{
	struct oauth *o = c->signer_data;

	if (o->loop)
		return;
	o->loop = rt->loop;
	o->http = rt->http;
	o->provider = xstrdup(rt->provider ? rt->provider : "?");
	o->ca_file = xstrdup_or_null(rt->ca_file);
	o->proxy = xstrdup_or_null(rt->proxy);
	o->connect_timeout_ms = rt->connect_timeout_ms;
	o->timeout_ms = rt->timeout_ms;
	uv_timer_init(o->loop, &o->timer);
	o->timer.data = o;
	o->timer_open = true;
	if (!adopt(o, prev))
		fetch(o);
}

static const struct cred_signer_ops oauth_ops = {
	.authorize = oauth_authorize,
	.free = oauth_free,
	.start = oauth_start,
};

/* ---- loading -------------------------------------------------------------------------- */

int oauth_load(struct cred *cr, const struct cfg_provider *c, struct errmsg *e)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = 0, need;
	struct oauth *o = xcalloc(1, sizeof(*o));
	struct stat st;
	const char *path = c->service_account_file;
	char *file;
	int r;

	need = 2 * FILE_MAX + ASSERTION_MAX + sizeof(FORM_PREFIX) + ASSERTION_MAX +
	       2 * (TOKEN_MAX + 1) + SCRATCH_MAX;
	o->mem_len = (need + page - 1) / page * page;
	o->mem = cred_secret_alloc(o->mem_len);
	file = o->mem;
	o->sa_buf = file + FILE_MAX;
	o->assertion = o->sa_buf + FILE_MAX;
	o->body = o->assertion + ASSERTION_MAX;
	o->token = o->body + sizeof(FORM_PREFIX) + ASSERTION_MAX;
	o->prev_token = o->token + TOKEN_MAX + 1;
	o->scratch = o->prev_token + TOKEN_MAX + 1;
	o->cred = cr;

	r = fileio_read_into(path, "service_account_file", file, FILE_MAX, &len, &st, e);
	if (r == 0)
		cred_key_file_warning("service_account_file", path, &st, cr->warning,
		                      sizeof(cr->warning));
	if (r == 0 && (r = jwt_sa_parse(file, len, o->sa_buf, FILE_MAX, &o->sa, e)) < 0)
		errmsg_prefix(e, "service_account_file %s", path);
	if (r == 0 &&
	    (r = jwt_key_from_pem(o->sa.private_key, o->sa.private_key_len, &o->key, e)) < 0)
		errmsg_prefix(e, "service_account_file %s", path);
	if (r < 0)
		goto fail;
	/* The file is the credential: the same bytes, the same key (reloads). */
	EVP_Digest(file, len, cr->fingerprint, NULL, EVP_sha256(), NULL);
	cr->has_key = true;
	o->key_scrub = cred_scrub_only(&o->sa.private_key, &o->sa.private_key_len, 1);
	explicit_bzero(file, FILE_MAX); /* the key is in o->key (and sa_buf) now */
	o->form_headers = http_headers_new(form_lines);
	if (!o->form_headers)
		xalloc_die("curl header list");
	cr->signer = &oauth_ops;
	cr->signer_data = o;
	return 0;
fail:
	EVP_PKEY_free(o->key);
	cred_secret_free(o->mem, o->mem_len);
	free(o);
	return r;
}

bool oauth_stats(const struct cred *cr, struct oauth_stats *ret)
{
	const struct oauth *o;
	uint64_t now;

	if (!cr || cr->signer != &oauth_ops)
		return false;
	o = cr->signer_data;
	*ret = o->stats;
	ret->rejected = o->state == O_REJECTED;
	now = o->loop ? uv_now(o->loop) : 0;
	ret->has_token = o->has_token && now < o->usable_until;
	ret->token_expires_in = ret->has_token ? (double)(o->usable_until - now) / 1000 : 0;
	return true;
}
