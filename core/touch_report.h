/* touch_report: one report of real traffic (a touch), and the parser of the
 * datagram that carries it.
 *
 * One datagram is "TARGET [hit|miss] [cached=N] [input=N]": fire and forget;
 * N is at most BOUNDS_MAX_TOKENS (common/bounds.h). A touch tells warmd the
 * provider cache of TARGET was just used (so the TTL clock restarts and the
 * next warm moves out). warmctl touch sends the same report over the
 * control socket. Pure: the socket is control/touch.c's. */
#ifndef WARMD_TOUCH_REPORT_H
#define WARMD_TOUCH_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"
#include "proto.h"

#define TOUCH_MAX_DATAGRAM 512

struct touch_report {
	char target[130]; /* a target, or a lane: GROUP@VERSION */
	enum proto_touch_result result;
	int64_t cached; /* -1: not reported */
	int64_t input;  /* -1: not reported */
};

/* Parses one datagram. Returns 0, or -EINVAL with e saying what is wrong
 * (a count beyond BOUNDS_MAX_TOKENS names the field and the bound). */
int touch_report_parse(const char *p, size_t n, struct touch_report *ret, struct errmsg *e);

#endif
