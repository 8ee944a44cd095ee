/* httpstub: a tiny HTTP/1.1 server on 127.0.0.1, on the test's loop, for
 * the unit tests of what sends requests (warm, probe). It answers the
 * requests in order with the answers queued (status and body), the last
 * one again once the queue is used up; keeps connections alive; counts
 * the requests. */
#ifndef WARMD_HTTPSTUB_H
#define WARMD_HTTPSTUB_H

#include <uv.h>

struct httpstub;

struct httpstub *httpstub_new(uv_loop_t *loop);
/* "http://127.0.0.1:PORT" */
const char *httpstub_url(const struct httpstub *s);
/* Queues an answer: status, and a body sent as application/json. */
void httpstub_answer(struct httpstub *s, int status, const char *body);
unsigned httpstub_requests(const struct httpstub *s);
/* The request line and headers of the last request ("" before the first). */
const char *httpstub_last_head(const struct httpstub *s);
/* The body of the last request (at most 8 KiB; "" before the first). */
const char *httpstub_last_body(const struct httpstub *s);
/* Closes the server and its connections; the loop must run afterwards. */
void httpstub_close(struct httpstub *s);

#endif
