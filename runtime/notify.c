/* notify: systemd's notification protocol (sd_notify). */
#include "notify.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"

static uv_timer_t watchdog;
static bool watchdog_on;

void notify_ready(void)
{
	sd_notify(0, "READY=1");
}

void notify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ULL +
	                 (unsigned long long)ts.tv_nsec / 1000);
	sd_notify(0, msg);
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void notify_status(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	sd_notify(0, msg);
}

static void watchdog_cb(uv_timer_t *t)
{
	(void)t;
	sd_notify(0, "WATCHDOG=1");
}

int notify_watchdog_start(uv_loop_t *loop)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	uv_timer_init(loop, &watchdog);
	uv_timer_start(&watchdog, watchdog_cb, usec / 2000, usec / 2000);
	watchdog_on = true;
	log_info("watchdog enabled: pinging every %llu ms", (unsigned long long)(usec / 2000));
	return 0;
}

void notify_watchdog_stop(void)
{
	if (!watchdog_on)
		return;
	uv_timer_stop(&watchdog);
	uv_close((uv_handle_t *)&watchdog, NULL);
	watchdog_on = false;
}
