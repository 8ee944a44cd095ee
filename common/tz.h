/* tz: civil time in IANA time zones without touching the environment.
 *
 * glibc converts zones only through the process-wide TZ variable (setenv,
 * tzset, localtime, mktime): setenv is not thread-safe while worker threads
 * read the environment, and each change re-reads a zone file. Here a zone
 * is loaded once, when the config names it, from its compiled TZif file
 * (the 64-bit data of a version 2+ file: transition times and local time
 * types, and the footer's POSIX TZ rule, such as "CET-1CEST,M3.5.0,M10.5.0/3",
 * for instants after the last transition) into an immutable object that any
 * thread may convert with.
 *
 * Two kinds of time: an instant is Unix seconds (UTC); "local seconds"
 * count seconds since 1970-01-01 00:00 on the zone's wall clock, so that
 * local / 86400 (rounded down) is a local day number, and its weekday and
 * the minute of the day follow by arithmetic.
 *
 * It knows nothing of the daemon; it reads zone files and never logs. */
#ifndef WARMD_TZ_H
#define WARMD_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"

/* Instants and local seconds are clamped to +-TZ_TIME_LIMIT (about 140
 * million years) so that no arithmetic on them overflows. */
#define TZ_TIME_LIMIT (INT64_C(1) << 52)

struct tz;

/* The zone called name, loaded on first use, as an immutable object that
 * lives until the process exits (callers copy the pointer freely and never
 * free it). name is an IANA name ("Europe/Berlin"), read from
 * $TZDIR/name (default /usr/share/zoneinfo/name); it may not start with
 * '/' or contain "..". "UTC" and "Etc/UTC" work without the zone files.
 * "" is the machine's local time as glibc would find it now: $TZ (":Zone",
 * "Zone", ":/path/file" or a POSIX TZ rule; empty means UTC), else
 * /etc/localtime, else UTC.
 *
 * Asking again for a name whose file has not changed gives the same object;
 * a changed file (a tzdata update, then a reload) gives a new one, and the
 * old one stays valid for whoever still holds it. Safe to call from any
 * thread. Returns 0, or -errno with e: -ENOENT for an unknown zone,
 * -EINVAL for a name that is not allowed or a file that is not a zone. */
int tz_get(const char *name, const struct tz **ret, struct errmsg *e);

/* The built-in UTC zone (never fails). */
const struct tz *tz_utc(void);

/* The name it was loaded as ("" for the machine's local time). */
const char *tz_name(const struct tz *z);

/* The offset of local time from UTC at instant t, in seconds east of
 * Greenwich; *ret_isdst (may be NULL) says whether it is daylight time. */
int32_t tz_offset(const struct tz *z, int64_t t, bool *ret_isdst);

/* Instant t on the zone's wall clock, in local seconds. */
int64_t tz_to_local(const struct tz *z, int64_t t);

/* The instant at which the zone's wall clock reads local. Where the clock
 * jumps forward over it (a DST gap: 02:30 on the spring-forward night in
 * Berlin never shows), the instant of the jump (03:00 CEST): the first
 * instant at which the clock reads later than local. Where the clock falls
 * back and reads it twice (an overlap: 02:30 in Berlin in October), the
 * earlier instant (02:30 CEST, not CET). So a window boundary is never
 * skipped and is crossed the first time the clock shows it. */
int64_t tz_from_local(const struct tz *z, int64_t local);

/* Civil calendar (proleptic Gregorian): days since 1970-01-01 for a date
 * (month 1-12, day 1-31), the date of a day, and its weekday (0 = Sunday). */
int64_t tz_days_from_civil(int64_t y, int m, int d);
void tz_civil_from_days(int64_t days, int64_t *ret_y, int *ret_m, int *ret_d);
int tz_weekday(int64_t days);

/* x / y and x mod y rounded towards minus infinity (y > 0): the local day
 * of local seconds before 1970 is still the one that contains them. */
int64_t tz_floor_div(int64_t x, int64_t y);
int64_t tz_floor_mod(int64_t x, int64_t y);

/* For tests and tools: a zone from the bytes of a TZif file, or from a POSIX
 * TZ rule ("EST5EDT,M3.2.0,M11.1.0"), not shared with tz_get(); free it with
 * tz_free() (which accepts NULL). Return 0 or -EINVAL with e. */
int tz_from_tzif(const char *name, const unsigned char *data, size_t len, struct tz **ret,
                 struct errmsg *e);
int tz_from_posix(const char *name, const char *rule, struct tz **ret, struct errmsg *e);
void tz_free(struct tz *z);

#endif
