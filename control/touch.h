/* touch: the datagram socket applications report real traffic on.
 *
 * One datagram is "TARGET [hit|miss] [cached=N] [input=N]": fire and forget;
 * N is at most BOUNDS_MAX_TOKENS (common/bounds.h).
 * A touch tells warmd the provider cache of TARGET was just used (so the TTL
 * clock restarts and the next warm moves out); bad datagrams are counted and
 * dropped, never answered. */
#ifndef WARMD_TOUCH_H
#define WARMD_TOUCH_H

#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"
#include "proto.h"

#define TOUCH_MAX_DATAGRAM 512

struct daemon;
struct touch;

struct touch_report {
	char target[130]; /* a target, or a lane: GROUP@VERSION */
	enum proto_touch_result result;
	int64_t cached; /* -1: not reported */
	int64_t input;  /* -1: not reported */
};

/* Parses one datagram. Returns 0, or -EINVAL with e saying what is wrong
 * (a count beyond BOUNDS_MAX_TOKENS names the field and the bound). */
int touch_parse(const char *p, size_t n, struct touch_report *ret, struct errmsg *e);

/* Takes the datagram socket systemd passed (FileDescriptorName=touch, or
 * the first datagram Unix socket) as it is, or else binds path (mode 0660,
 * group group when it exists), and feeds valid touches to daemon_touch(). */
int touch_open(struct daemon *d, const char *path, const char *group, struct touch **ret,
               struct errmsg *e);
/* Closes the socket and unlinks it if touch_open() bound it; freed in the
 * close callback. Accepts NULL. */
void touch_close(struct touch *t);

#endif
