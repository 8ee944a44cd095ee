/* touch_report: a report of real traffic, and its datagram's parser. */
#include "touch_report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "config.h"

/* One "key=N" field, N a token count within BOUNDS_MAX_TOKENS. Returns 1
 * when tok is not this key, 0 with *ret set, or -EINVAL with e. */
static int parse_count(const char *tok, size_t klen, const char *key, int64_t *ret,
                       struct errmsg *e)
{
	char *end;
	long long v;

	if (strncmp(tok, key, klen) != 0)
		return 1; /* not this key */
	if (tok[klen] < '0' || tok[klen] > '9')
		return errmsg_set(e, -EINVAL, "\"%.32s\" needs a non-negative integer", tok);
	errno = 0;
	v = strtoll(tok + klen, &end, 10);
	if (*end)
		return errmsg_set(e, -EINVAL, "\"%.32s\" needs a non-negative integer", tok);
	if (errno == ERANGE || v > BOUNDS_MAX_TOKENS)
		return errmsg_set(e, -EINVAL, "%.32s is out of range: at most %lld tokens", tok,
		                  (long long)BOUNDS_MAX_TOKENS);
	*ret = v;
	return 0;
}

int touch_report_parse(const char *p, size_t n, struct touch_report *ret, struct errmsg *e)
{
	char buf[TOUCH_MAX_DATAGRAM + 1], *save = NULL, *tok;
	int ntok = 0;

	if (n == 0)
		return errmsg_set(e, -EINVAL, "empty datagram");
	if (n > TOUCH_MAX_DATAGRAM)
		return errmsg_set(e, -EINVAL, "datagram longer than %d bytes", TOUCH_MAX_DATAGRAM);
	if (memchr(p, '\0', n))
		return errmsg_set(e, -EINVAL, "datagram contains a NUL byte");
	memcpy(buf, p, n);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	ret->result = PROTO_TOUCH_UNKNOWN;
	ret->cached = ret->input = -1;
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		int r;
		if (ntok++ == 0) {
			if (!config_lane_name_valid(tok) && !config_session_name_valid(tok))
				return errmsg_set(e, -EINVAL, "\"%.64s\" is not a target name",
				                  tok);
			text_copy(ret->target, sizeof(ret->target), tok);
			continue;
		}
		if (strcmp(tok, "hit") == 0 || strcmp(tok, "miss") == 0) {
			if (ret->result != PROTO_TOUCH_UNKNOWN)
				return errmsg_set(e, -EINVAL, "hit/miss given twice");
			ret->result = tok[0] == 'h' ? PROTO_TOUCH_HIT : PROTO_TOUCH_MISS;
			continue;
		}
		r = parse_count(tok, 7, "cached=", &ret->cached, e);
		if (r == 1)
			r = parse_count(tok, 6, "input=", &ret->input, e);
		if (r == 1)
			return errmsg_set(e, -EINVAL, "unknown field \"%.32s\"", tok);
		if (r < 0)
			return r;
	}
	if (ntok == 0)
		return errmsg_set(e, -EINVAL, "no target name");
	return 0;
}
