/* clock: the one place that decides what time it is. */
#include "clock.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "xalloc.h"

struct live_clock {
	struct clock c;
	uv_loop_t *loop;
	uv_timer_t timer;
	double offset; /* realtime - monotonic at start */
};

struct virtual_clock {
	struct clock c;
	double now;
};

void clock_on_alarm(struct clock *c, clock_alarm_cb cb, void *data)
{
	c->alarm = cb;
	c->alarm_data = data;
}

void clock_arm(struct clock *c, double at)
{
	c->armed_at = at;
	c->ops->arm(c, at);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double live_now(struct clock *c)
{
	struct live_clock *lc = (struct live_clock *)c;

	return mono_s() + lc->offset;
}

static void live_timer_cb(uv_timer_t *t)
{
	struct live_clock *lc = t->data;

	lc->c.armed_at = -1;
	if (lc->c.alarm)
		lc->c.alarm(lc->c.alarm_data);
}

static void live_arm(struct clock *c, double at)
{
	struct live_clock *lc = (struct live_clock *)c;
	double delay;

	if (at < 0) {
		uv_timer_stop(&lc->timer);
		return;
	}
	/* The loop's cached time may be stale; the delay is counted from it. */
	uv_update_time(lc->loop);
	delay = ceil((at - live_now(c)) * 1000.0);
	if (delay < 0)
		delay = 0;
	uv_timer_start(&lc->timer, live_timer_cb, (uint64_t)delay, 0);
}

static const struct clock_ops live_ops = { live_now, live_arm };

struct clock *clock_live_new(uv_loop_t *loop)
{
	struct live_clock *lc = xcalloc(1, sizeof(*lc));
	struct timespec rt;

	lc->c.ops = &live_ops;
	lc->c.armed_at = -1;
	lc->loop = loop;
	clock_gettime(CLOCK_REALTIME, &rt);
	lc->offset = (double)rt.tv_sec + (double)rt.tv_nsec / 1e9 - mono_s();
	uv_timer_init(loop, &lc->timer);
	lc->timer.data = lc;
	return &lc->c;
}

static void live_close_cb(uv_handle_t *h)
{
	free(h->data);
}

void clock_live_close(struct clock *c)
{
	struct live_clock *lc = (struct live_clock *)c;

	if (!c)
		return;
	uv_timer_stop(&lc->timer);
	uv_close((uv_handle_t *)&lc->timer, live_close_cb);
}

static double virtual_now(struct clock *c)
{
	return ((struct virtual_clock *)c)->now;
}

static void virtual_arm(struct clock *c, double at)
{
	(void)c;
	(void)at; /* armed_at is all the virtual clock needs */
}

static const struct clock_ops virtual_ops = { virtual_now, virtual_arm };

struct clock *clock_virtual_new(double start)
{
	struct virtual_clock *vc = xcalloc(1, sizeof(*vc));

	vc->c.ops = &virtual_ops;
	vc->c.armed_at = -1;
	vc->now = start;
	return &vc->c;
}

void clock_virtual_free(struct clock *c)
{
	free(c);
}

bool clock_virtual_step(struct clock *c)
{
	struct virtual_clock *vc = (struct virtual_clock *)c;

	if (c->armed_at < 0)
		return false;
	if (c->armed_at > vc->now)
		vc->now = c->armed_at;
	c->armed_at = -1;
	if (c->alarm)
		c->alarm(c->alarm_data);
	return true;
}

int clock_virtual_advance(struct clock *c, double to)
{
	struct virtual_clock *vc = (struct virtual_clock *)c;
	int fired = 0;

	while (c->armed_at >= 0 && c->armed_at <= to) {
		clock_virtual_step(c);
		fired++;
	}
	if (to > vc->now)
		vc->now = to;
	return fired;
}
