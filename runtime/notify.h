/* notify: systemd's notification protocol (sd_notify): READY, RELOADING,
 * STOPPING, STATUS, and watchdog pings from the loop. All calls are no-ops
 * when warmd does not run under systemd (no $NOTIFY_SOCKET). */
#ifndef WARMD_NOTIFY_H
#define WARMD_NOTIFY_H

#include <uv.h>

void notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload expects. */
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Starts pinging WATCHDOG=1 at half of $WATCHDOG_USEC from a loop timer (so
 * a wedged loop stops the pings). Returns 0 (also when not enabled). */
int notify_watchdog_start(uv_loop_t *loop);
void notify_watchdog_stop(void);

#endif
