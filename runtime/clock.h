/* clock: the one place that decides what time it is, and the single alarm
 * the scheduler sleeps on. The live clock reads CLOCK_MONOTONIC (shifted to
 * Unix time once at start, so reported times are wall-clock-like but never
 * jump) and arms one uv timer; the virtual clock is moved by hand, so tests
 * and the simulator run the same scheduler on made-up time. */
#ifndef WARMD_CLOCK_H
#define WARMD_CLOCK_H

#include <stdbool.h>
#include <uv.h>

struct clock;
typedef void (*clock_alarm_cb)(void *data);

struct clock_ops {
	double (*now)(struct clock *c);
	/* Arms the alarm for absolute time at (seconds); at < 0 disarms. */
	void (*arm)(struct clock *c, double at);
};

struct clock {
	const struct clock_ops *ops;
	clock_alarm_cb alarm;
	void *alarm_data;
	double armed_at; /* -1 when disarmed */
};

static inline double clock_now(struct clock *c)
{
	return c->ops->now(c);
}

/* Sets the callback the alarm fires (once per arm). */
void clock_on_alarm(struct clock *c, clock_alarm_cb cb, void *data);
void clock_arm(struct clock *c, double at);

/* Live clock. clock_live_close() closes the uv timer; the clock is freed in
 * its close callback, so the loop must run once more. */
struct clock *clock_live_new(uv_loop_t *loop);
void clock_live_close(struct clock *c);

/* Virtual clock starting at start (seconds). */
struct clock *clock_virtual_new(double start);
void clock_virtual_free(struct clock *c);
/* Moves time forward to `to`, firing the alarm each time it falls due on the
 * way (the callback may re-arm). Returns the number of alarms fired. */
int clock_virtual_advance(struct clock *c, double to);
/* Moves time to the next alarm and fires it. Returns false when disarmed. */
bool clock_virtual_step(struct clock *c);

#endif
