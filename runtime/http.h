/* http: the one place that touches curl. A single curl multi handle driven
 * by libuv (socket and timer callbacks, as in curl's multi-uv.c), keep-alive
 * connections shared by all warms, timeouts and a response size cap.
 *
 * Requests are caller-owned structs: the caller fills the inputs, calls
 * http_start(), and gets done() exactly once, from the loop, unless it calls
 * http_cancel() first (then done() never fires). Everything the request
 * points at (URL, body, headers) must stay alive until then. */
#ifndef WARMD_HTTP_H
#define WARMD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "buf.h"

struct http;
struct http_headers;
struct http_req;

typedef void (*http_done_cb)(struct http_req *req);

#define HTTP_DEFAULT_MAX_RESPONSE (1024 * 1024)
#define HTTP_MAX_RESPONSE_HEADERS (32 * 1024)

struct http_req {
	/* Inputs. */
	const char *method; /* NULL: POST; else "PATCH", "DELETE"... (with the body) */
	const char *url;
	const char *body;
	size_t body_len;
	const struct http_headers *headers;
	/* Lines sent after headers for this request only (a signature, a
	 * token: cred_authorize() fills them), NULL-terminated, or NULL. */
	const char *const *extra_headers;
	long connect_timeout_ms;
	long timeout_ms;
	size_t max_response;    /* 0: HTTP_DEFAULT_MAX_RESPONSE */
	long low_speed_bps;     /* with low_speed_time_ms: abort a transfer this slow */
	long low_speed_time_ms; /* 0: no low-speed abort */
	const char *ca_file;    /* NULL: the system's CAs (verification is always on) */
	const char *proxy;      /* NULL: no proxy (the environment's is ignored) */
	http_done_cb done;
	void *data;

	/* Results, valid inside done(). */
	int error;             /* 0, or -ETIMEDOUT, -ECONNREFUSED, -EMSGSIZE, -EIO ... */
	char errtext[256];     /* transport error in words, "" when error == 0 */
	long status;           /* HTTP status, 0 when no response */
	struct buf resp;       /* response body (up to max_response) */
	struct buf headers_in; /* raw response header lines (capped) */
	double total_s;        /* time from start to completion */

	/* Private to http.c. */
	void *easy;
	void *slist; /* headers + extra_headers, copied for curl, or NULL */
	struct http *h;
	bool too_big;
};

/* Creates the multi handle on loop. Returns 0 or -ENOMEM. */
int http_new(uv_loop_t *loop, const char *user_agent, struct http **ret);

/* Starts req. 0: done() will fire once. <0: not started, done() never fires. */
int http_start(struct http *h, struct http_req *req);

/* Stops req if it is running; done() will not fire. Safe on an idle req. */
void http_cancel(struct http_req *req);

/* Releases response buffers held by req (after done()). */
void http_req_reset(struct http_req *req);

/* Number of requests in flight. */
unsigned http_active(const struct http *h);

/* Shuts down: every request must have completed or been cancelled. Closes
 * connections and libuv handles; the loop must run afterwards until the
 * close callbacks fire, then h is freed. */
void http_close(struct http *h);

/* Header lists prepared for curl. lines is NULL-terminated and must outlive
 * the list (cred.c keeps both in one place). */
struct http_headers *http_headers_new(const char *const *lines);
void http_headers_free(struct http_headers *hh);

/* curl_global_init / cleanup, once per process. */
int http_global_init(void);
void http_global_cleanup(void);

#endif
