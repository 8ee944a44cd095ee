/* provider: the runtime provider object. */
#include "provider.h"

#include <stdlib.h>
#include <string.h>

#include "adapters.h"
#include "cred.h"
#include "http.h"
#include "xalloc.h"

const double provider_lat_bounds[PROVIDER_LAT_BUCKETS] = { 0.025, 0.05, 0.1, 0.25, 0.5,
	                                                   1,     2.5,  5,   10,   30 };

void provider_observe_latency(struct provider *p, double seconds)
{
	for (int i = 0; i < PROVIDER_LAT_BUCKETS; i++) {
		if (seconds <= provider_lat_bounds[i]) {
			p->lat_buckets[i]++;
			break;
		}
	}
	p->lat_count++;
	p->lat_sum += seconds;
}

struct provider *provider_new(const struct cfg_provider *c)
{
	struct provider *p = xcalloc(1, sizeof(*p));

	p->name = xstrdup(c->name);
	p->refs = 1;
	breaker_init(&p->breaker, BREAKER_TRIP_PROVIDER);
	p->kind = c->kind;
	p->ops = adapter_ops_for(c->kind);
	p->inline_key = c->api_key != NULL;
	provider_apply_config(p, c);
	return p;
}

void provider_apply_config(struct provider *p, const struct cfg_provider *c)
{
	free(p->base_url);
	p->base_url = xstrdup(c->base_url);
	p->kind = c->kind;
	p->ops = adapter_ops_for(c->kind);
	p->max_inflight = c->max_inflight;
	p->max_rpm = c->max_rpm;
	p->timeout_ms = c->timeout_ms;
	p->connect_timeout_ms = c->connect_timeout_ms;
	p->low_speed_bps = c->low_speed_bps;
	p->low_speed_time_ms = c->low_speed_time_ms;
	p->max_response_bytes = c->max_response_bytes;
	/* curl copies string options, so warms in flight keep what they had. */
	free(p->ca_file);
	free(p->proxy);
	p->ca_file = xstrdup_or_null(c->ca_file);
	p->proxy = xstrdup_or_null(c->proxy);
	free(p->region);
	p->region = xstrdup_or_null(c->region);
}

void provider_request_limits(const struct provider *p, struct http_req *req)
{
	req->connect_timeout_ms = p->connect_timeout_ms;
	req->timeout_ms = p->timeout_ms;
	req->max_response = p->max_response_bytes;
	req->low_speed_bps = p->low_speed_bps;
	req->low_speed_time_ms = p->low_speed_time_ms;
	req->ca_file = p->ca_file;
	req->proxy = p->proxy;
}

struct provider *provider_ref(struct provider *p)
{
	p->refs++;
	return p;
}

void provider_unref(struct provider *p)
{
	if (!p || --p->refs > 0)
		return;
	heap_free(&p->waitq);
	cred_unref(p->cred);
	free(p->ca_file);
	free(p->proxy);
	free(p->region);
	free(p->base_url);
	free(p->name);
	free(p);
}
