/* touch: the datagram socket applications report real traffic on.
 *
 * Each datagram is one touch (core/touch_report.h has its format); valid
 * ones go to ops->touched, bad ones are counted by ops->rejected and
 * dropped, never answered. Reads at most a batch per wake-up, so a flood
 * cannot starve the loop. */
#ifndef WARMD_TOUCH_H
#define WARMD_TOUCH_H

#include <uv.h>

#include "errmsg.h"
#include "touch_report.h"

struct touch;

struct touch_ops {
	/* A valid touch arrived. */
	void (*touched)(void *data, const struct touch_report *rep);
	/* A datagram was dropped; why says why (no answer goes back). */
	void (*rejected)(void *data, const char *why);
};

/* Takes the datagram socket systemd passed (FileDescriptorName=touch, or
 * the first datagram Unix socket) as it is, or else binds path (mode 0660,
 * group group when it exists), on loop, and hands each datagram to ops with
 * data. Returns 0, or a negative errno with e saying why. */
int touch_open(uv_loop_t *loop, const char *path, const char *group, const struct touch_ops *ops,
               void *data, struct touch **ret, struct errmsg *e);
/* Closes the socket and unlinks it if touch_open() bound it; freed in the
 * close callback. Accepts NULL. */
void touch_close(struct touch *t);

#endif
