/* fuzz_touch: the touch datagram parser (core/touch_report.c touch_report_parse).
 *
 * Anyone who can write to the touch socket sends "TARGET [hit|miss]
 * [cached=N] [input=N]"; a datagram is handed over whole, as recv() gives it.
 * TARGET is a configured target's (or lane's) name or a session's. */
#include "config.h"
#include "fuzz.h"
#include "touch_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct touch_report rep;
	struct errmsg e;

	e.text[0] = '\0';
	if (touch_report_parse((const char *)data, size, &rep, &e) < 0) {
		if (!e.text[0])
			abort(); /* a dropped datagram is counted with its reason */
		return 0;
	}
	/* What daemon_touch() relies on: a name it can look up, sane counts. */
	if (!memchr(rep.target, '\0', sizeof(rep.target)) ||
	    !(config_lane_name_valid(rep.target) || config_session_name_valid(rep.target)))
		abort();
	if (rep.result != PROTO_TOUCH_UNKNOWN && rep.result != PROTO_TOUCH_HIT &&
	    rep.result != PROTO_TOUCH_MISS)
		abort();
	if (rep.cached < -1 || rep.input < -1)
		abort();
	return 0;
}
