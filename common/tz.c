/* tz: civil time in IANA time zones, read once from TZif files, never
 * through the TZ environment variable. */
#include "tz.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "xalloc.h"

#define TZ_DIR_DEFAULT "/usr/share/zoneinfo"
#define TZ_LOCALTIME   "/etc/localtime"
#define TZ_NAME_MAX    63          /* struct window keeps the name in 64 bytes */
#define TZ_FILE_MAX    (1 << 20)   /* real zone files are a few KiB */
#define TZ_MAX_TIMES   (1 << 16)   /* real ones have a few hundred transitions */
#define TZ_MAX_OFFSET  (26 * 3600) /* RFC 8536: offsets lie within (-25 h, 26 h) */
#define TZ_RULE_MAX    255         /* a footer or a $TZ rule */

/* One local time type: its offset (seconds east of UTC) and whether it is
 * daylight time. */
struct tz_type {
	int32_t off;
	bool isdst;
};

/* One end of daylight time in a POSIX TZ rule: a day of the year, and a
 * time of day on the wall clock in force just before. */
struct tz_when {
	char kind; /* 'J': day n (1-365, never counting Feb 29); 'D': day n (0-365);
	            * 'M': weekday d (0 = Sunday) of week w (5 = last) of month m */
	int n, m, w, d;
	int32_t secs; /* -167 h to 167 h (RFC 8536 allows both beyond POSIX) */
};

struct tz_rule {
	struct tz_type std, dst;
	bool has_dst;
	struct tz_when start, end; /* daylight time begins and ends */
};

struct tz {
	char *name;
	char *key;          /* where it came from (a path, "TZ=rule"): for sharing */
	unsigned char *src; /* the bytes it was made from: a changed file is a new zone */
	size_t srclen;
	int64_t *at;  /* transition instants, strictly ascending */
	uint8_t *idx; /* the local time type from each one on */
	size_t nat;
	struct tz_type *types; /* types[0] also holds before the first transition */
	size_t ntypes;
	bool has_rule; /* after the last transition (all time, without any) */
	struct tz_rule rule;
	int32_t maxoff;  /* the largest |offset| it ever gives */
	struct tz *next; /* in the shared list */
	bool builtin;    /* static: never freed */
};

/* An interval of instants [begin, end) with one local time type. */
struct span {
	int64_t begin, end;
	struct tz_type type;
};

static struct tz_type utc_type = { 0, false };
static struct tz utc_zone = {
	.name = (char *)"UTC",
	.key = (char *)"UTC",
	.types = &utc_type,
	.ntypes = 1,
	.builtin = true,
};

/* Zones handed out by tz_get(): kept until exit, so that every copy of a
 * pointer stays valid (windows are copied with memcpy). */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz *shared;

/* ---- the calendar ---- */

int64_t tz_floor_div(int64_t x, int64_t y)
{
	return x / y - (x % y < 0);
}

int64_t tz_floor_mod(int64_t x, int64_t y)
{
	return x - tz_floor_div(x, y) * y;
}

/* Days from civil and back: the era-based algorithms (400-year cycles of
 * 146097 days), exact for every int64 year in range. */
int64_t tz_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = tz_floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t days, int64_t *ret_y, int *ret_m, int *ret_d)
{
	int64_t z = days + 719468, era = tz_floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);

	*ret_y = yoe + era * 400 + (m <= 2);
	*ret_m = m;
	*ret_d = (int)(doy - (153 * mp + 2) / 5 + 1);
}

int tz_weekday(int64_t days)
{
	return (int)tz_floor_mod(days + 4, 7); /* 1970-01-01 was a Thursday */
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static int64_t clamp_time(int64_t t)
{
	return t < -TZ_TIME_LIMIT ? -TZ_TIME_LIMIT : t > TZ_TIME_LIMIT ? TZ_TIME_LIMIT : t;
}

/* ---- POSIX TZ rules ("CET-1CEST,M3.5.0,M10.5.0/3") ---- */

/* The local day on which w falls in year y. */
static int64_t rule_day(const struct tz_when *w, int64_t y)
{
	int64_t jan1 = tz_days_from_civil(y, 1, 1), first;
	int dd;

	if (w->kind == 'J')
		return jan1 + w->n - 1 + (is_leap(y) && w->n >= 60);
	if (w->kind == 'D')
		return jan1 + w->n;
	first = tz_days_from_civil(y, w->m, 1);
	dd = (w->d - tz_weekday(first) + 7) % 7 + 7 * (w->w - 1);
	while (dd >= month_days(y, w->m))
		dd -= 7; /* week 5: the last such day */
	return first + dd;
}

/* The span of instants around t with one type, under rule r. Daylight time
 * begins and ends once a year; the changes of the five years around t
 * surely include the last one at or before t and the first after it. */
static void rule_span(const struct tz_rule *r, int64_t t, struct span *s)
{
	struct {
		int64_t at;
		bool dst;
	} ev[10], tmp;
	int64_t y;
	int m, d, n = 0, i, j;

	if (!r->has_dst) {
		s->begin = INT64_MIN;
		s->end = INT64_MAX;
		s->type = r->std;
		return;
	}
	tz_civil_from_days(tz_floor_div(t + r->std.off, 86400), &y, &m, &d);
	for (int64_t k = y - 2; k <= y + 2; k++) {
		/* Each change is given in the wall-clock time in force before it. */
		ev[n].at = rule_day(&r->start, k) * 86400 + r->start.secs - r->std.off;
		ev[n++].dst = true;
		ev[n].at = rule_day(&r->end, k) * 86400 + r->end.secs - r->dst.off;
		ev[n++].dst = false;
	}
	/* Stable sort: where two changes meet (all-year daylight time, as in
	 * "EST5EDT,0/0,J365/25"), the later year's, listed later, wins. */
	for (i = 1; i < n; i++) {
		tmp = ev[i];
		for (j = i; j > 0 && ev[j - 1].at > tmp.at; j--)
			ev[j] = ev[j - 1];
		ev[j] = tmp;
	}
	for (i = 0; i + 1 < n && ev[i + 1].at <= t; i++)
		;
	s->begin = ev[i].at;
	s->end = ev[i + 1].at;
	s->type = ev[i].dst ? r->dst : r->std;
}

/* An abbreviation: 3 or more letters, or <3 or more of [A-Za-z0-9+-]>. */
static const char *parse_abbr(const char *p)
{
	const char *q;

	if (*p == '<') {
		for (q = p + 1; isalnum((unsigned char)*q) || *q == '+' || *q == '-'; q++)
			;
		return *q == '>' && q - p - 1 >= 3 ? q + 1 : NULL;
	}
	for (q = p; isalpha((unsigned char)*q); q++)
		;
	return q - p >= 3 ? q : NULL;
}

/* 1 to n decimal digits. */
static const char *parse_num(const char *p, int n, int *ret)
{
	int v = 0, k = 0;

	for (; k < n && isdigit((unsigned char)p[k]); k++)
		v = v * 10 + (p[k] - '0');
	if (k == 0 || isdigit((unsigned char)p[k]))
		return NULL;
	*ret = v;
	return p + k;
}

/* [+-]h[h[h]][:mm[:ss]] with hours at most max_h, in seconds. */
static const char *parse_hms(const char *p, int max_h, int32_t *ret)
{
	int sign = 1, h, m = 0, s = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (!(p = parse_num(p, 3, &h)) || h > max_h)
		return NULL;
	if (*p == ':') {
		if (!(p = parse_num(p + 1, 2, &m)) || m > 59)
			return NULL;
		if (*p == ':' && (!(p = parse_num(p + 1, 2, &s)) || s > 59))
			return NULL;
	}
	*ret = sign * (h * 3600 + m * 60 + s);
	return p;
}

static const char *parse_when(const char *p, struct tz_when *w)
{
	memset(w, 0, sizeof(*w));
	if (*p == 'J') {
		w->kind = 'J';
		if (!(p = parse_num(p + 1, 3, &w->n)) || w->n < 1 || w->n > 365)
			return NULL;
	} else if (*p == 'M') {
		w->kind = 'M';
		if (!(p = parse_num(p + 1, 2, &w->m)) || w->m < 1 || w->m > 12 || *p != '.' ||
		    !(p = parse_num(p + 1, 1, &w->w)) || w->w < 1 || w->w > 5 || *p != '.' ||
		    !(p = parse_num(p + 1, 1, &w->d)) || w->d > 6)
			return NULL;
	} else {
		w->kind = 'D';
		if (!(p = parse_num(p, 3, &w->n)) || w->n > 365)
			return NULL;
	}
	w->secs = 2 * 3600;
	if (*p == '/')
		p = parse_hms(p + 1, 167, &w->secs);
	return p;
}

/* POSIX offsets count west of Greenwich ("EST5"); ours count east. */
static int parse_rule(const char *s, struct tz_rule *r)
{
	const char *p = s;
	int32_t v;

	memset(r, 0, sizeof(*r));
	if (strlen(s) > TZ_RULE_MAX || !(p = parse_abbr(p)) || !(p = parse_hms(p, 24, &v)))
		return -EINVAL;
	r->std.off = -v;
	if (*p == '\0')
		return 0;
	if (!(p = parse_abbr(p)))
		return -EINVAL;
	r->has_dst = true;
	r->dst.isdst = true;
	r->dst.off = r->std.off + 3600;
	if (*p && *p != ',') {
		if (!(p = parse_hms(p, 24, &v)))
			return -EINVAL;
		r->dst.off = -v;
	}
	if (*p == '\0') {
		/* No dates: POSIX leaves them to the system; glibc's (and the
		 * US's since 2007) are these. */
		r->start = (struct tz_when){ .kind = 'M', .m = 3, .w = 2, .d = 0, .secs = 7200 };
		r->end = (struct tz_when){ .kind = 'M', .m = 11, .w = 1, .d = 0, .secs = 7200 };
		return 0;
	}
	if (*p != ',' || !(p = parse_when(p + 1, &r->start)) || *p != ',' ||
	    !(p = parse_when(p + 1, &r->end)) || *p != '\0')
		return -EINVAL;
	return 0;
}

/* ---- zones ---- */

static int32_t abs_off(int32_t off)
{
	return off < 0 ? -off : off;
}

static struct tz *zone_new(const char *name)
{
	struct tz *z = xcalloc(1, sizeof(*z));

	z->name = xstrdup(name);
	return z;
}

void tz_free(struct tz *z)
{
	if (!z || z->builtin)
		return;
	free(z->name);
	free(z->key);
	free(z->src);
	free(z->at);
	free(z->idx);
	free(z->types);
	free(z);
}

static void rule_into_zone(struct tz *z, const struct tz_rule *r)
{
	z->has_rule = true;
	z->rule = *r;
	if (abs_off(r->std.off) > z->maxoff)
		z->maxoff = abs_off(r->std.off);
	if (r->has_dst && abs_off(r->dst.off) > z->maxoff)
		z->maxoff = abs_off(r->dst.off);
}

int tz_from_posix(const char *name, const char *rule, struct tz **ret, struct errmsg *e)
{
	struct tz_rule r;
	struct tz *z;

	if (parse_rule(rule, &r) < 0)
		return errmsg_set(e, -EINVAL, "\"%s\" is not a POSIX TZ rule", rule);
	z = zone_new(name);
	z->types = xcalloc(1, sizeof(*z->types));
	z->ntypes = 1;
	z->types[0] = r.std;
	rule_into_zone(z, &r);
	*ret = z;
	return 0;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct tzif_head {
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

/* A header at p (44 bytes), and the size of the data block after it with
 * tsize-byte times; -EINVAL for absurd counts (which also keeps the size
 * far from overflow). */
static int tzif_head(const unsigned char *p, size_t avail, size_t tsize, struct tzif_head *h,
                     size_t *ret_size)
{
	if (avail < 44 || memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	if (h->typecnt < 1 || h->typecnt > 256 || h->charcnt < 1 || h->charcnt > 65536 ||
	    h->timecnt > TZ_MAX_TIMES || h->leapcnt > TZ_MAX_TIMES ||
	    (h->isstdcnt && h->isstdcnt != h->typecnt) || (h->isutcnt && h->isutcnt != h->typecnt))
		return -EINVAL;
	*ret_size = h->timecnt * (tsize + 1) + h->typecnt * 6 + h->charcnt +
	            h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
	return 0;
}

/* The transition times and the local time type of each, from the data
 * block b (tsize-byte times). Returns 0 or -EINVAL with e. */
static int tzif_times(struct tz *z, const unsigned char *b, size_t tsize, const struct tzif_head *h,
                      struct errmsg *e)
{
	for (size_t i = 0; i < h->timecnt; i++) {
		const unsigned char *p = b + i * tsize;
		z->at[i] = tsize == 8 ? (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4))
		                      : (int32_t)be32(p);
		if (i && z->at[i] <= z->at[i - 1])
			return errmsg_set(e, -EINVAL,
			                  "a damaged TZif file (transitions out of order)");
	}
	for (size_t i = 0; i < h->timecnt; i++) {
		z->idx[i] = b[h->timecnt * tsize + i];
		if (z->idx[i] >= h->typecnt)
			return errmsg_set(e, -EINVAL, "a damaged TZif file (no local time type %u)",
			                  z->idx[i]);
	}
	return 0;
}

/* The local time types (6 bytes each) at types. Returns 0 or -EINVAL. */
static int tzif_types(struct tz *z, const unsigned char *types, const struct tzif_head *h,
                      struct errmsg *e)
{
	for (size_t i = 0; i < h->typecnt; i++) {
		const unsigned char *p = types + i * 6;
		int32_t off = (int32_t)be32(p);
		if (off <= -TZ_MAX_OFFSET || off >= TZ_MAX_OFFSET || p[4] > 1 || p[5] >= h->charcnt)
			return errmsg_set(e, -EINVAL, "a damaged TZif file (local time type %zu)",
			                  i);
		z->types[i].off = off;
		z->types[i].isdst = p[4];
		if (abs_off(off) > z->maxoff)
			z->maxoff = abs_off(off);
	}
	return 0;
}

/* The footer at f (up to end): "\n" POSIX TZ rule "\n", the rule possibly
 * empty. Returns 0 or -EINVAL. */
static int tzif_footer(struct tz *z, const unsigned char *f, const unsigned char *end,
                       struct errmsg *e)
{
	const unsigned char *nl;
	char rule[TZ_RULE_MAX + 1];
	struct tz_rule tr;

	if (f >= end || *f != '\n' || !(nl = memchr(f + 1, '\n', (size_t)(end - f - 1))))
		return errmsg_set(e, -EINVAL, "a damaged TZif file (no footer)");
	if ((size_t)(nl - f - 1) > TZ_RULE_MAX)
		return errmsg_set(e, -EINVAL, "a damaged TZif file (footer too long)");
	memcpy(rule, f + 1, (size_t)(nl - f - 1));
	rule[nl - f - 1] = '\0';
	if (rule[0] && parse_rule(rule, &tr) < 0)
		return errmsg_set(e, -EINVAL, "a TZif footer \"%s\" that is not a POSIX TZ rule",
		                  rule);
	if (rule[0])
		rule_into_zone(z, &tr);
	return 0;
}

int tz_from_tzif(const char *name, const unsigned char *data, size_t len, struct tz **ret,
                 struct errmsg *e)
{
	const unsigned char *end = data + len, *b;
	struct tzif_head h;
	size_t size, tsize = 8;
	struct tz *z;
	int r;

	if (len < 44 || memcmp(data, "TZif", 4) != 0)
		return errmsg_set(e, -EINVAL, "not a TZif file");
	if (tzif_head(data, len, 4, &h, &size) < 0 || size > len - 44)
		return errmsg_set(e, -EINVAL, "a damaged TZif file (version 1 header)");
	if (data[4] == '\0') {
		/* Version 1: 32-bit times and no rule for the future. */
		b = data + 44;
		tsize = 4;
	} else if (data[4] >= '2') {
		/* Version 2 and later repeat the data with 64-bit times. */
		const unsigned char *p2 = data + 44 + size;
		if (tzif_head(p2, (size_t)(end - p2), 8, &h, &size) < 0 ||
		    size > (size_t)(end - p2) - 44)
			return errmsg_set(e, -EINVAL, "a damaged TZif file (version 2 header)");
		b = p2 + 44;
	} else {
		return errmsg_set(e, -EINVAL, "a TZif file of unknown version '%c'", data[4]);
	}
	if (h.leapcnt)
		return errmsg_set(
		        e, -EINVAL,
		        "a zone with leap seconds (right/...); use the zone without them");
	/* The counts are bounded (tzif_head): at most TZ_MAX_TIMES and 256. */
	z = zone_new(name);
	if (h.timecnt) {
		z->at = xcalloc(h.timecnt, sizeof(*z->at));
		z->idx = xcalloc(h.timecnt, 1);
	}
	z->types = xcalloc(h.typecnt, sizeof(*z->types));
	z->nat = h.timecnt;
	z->ntypes = h.typecnt;
	r = tzif_times(z, b, tsize, &h, e);
	if (r == 0)
		r = tzif_types(z, b + h.timecnt * (tsize + 1), &h, e);
	if (r == 0 && tsize == 8)
		r = tzif_footer(z, b + size, end, e);
	if (r < 0) {
		tz_free(z);
		return r;
	}
	*ret = z;
	return 0;
}

/* ---- conversions ---- */

/* The span of instants around t (within the clamp) with one local type. */
static void span_at(const struct tz *z, int64_t t, struct span *s)
{
	size_t lo, hi;

	if (z->nat == 0 || t >= z->at[z->nat - 1]) {
		if (z->has_rule) {
			rule_span(&z->rule, t, s);
			if (z->nat && s->begin < z->at[z->nat - 1])
				s->begin = z->at[z->nat - 1];
			return;
		}
		s->type = z->types[z->nat ? z->idx[z->nat - 1] : 0];
		s->begin = z->nat ? z->at[z->nat - 1] : INT64_MIN;
		s->end = INT64_MAX;
		return;
	}
	if (t < z->at[0]) {
		s->type = z->types[0];
		s->begin = INT64_MIN;
		s->end = z->at[0];
		return;
	}
	lo = 0; /* at[lo] <= t < at[hi] */
	hi = z->nat - 1;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->at[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	s->type = z->types[z->idx[lo]];
	s->begin = z->at[lo];
	s->end = z->at[hi];
}

int32_t tz_offset(const struct tz *z, int64_t t, bool *ret_isdst)
{
	struct span s;

	span_at(z, clamp_time(t), &s);
	if (ret_isdst)
		*ret_isdst = s.type.isdst;
	return s.type.off;
}

int64_t tz_to_local(const struct tz *z, int64_t t)
{
	t = clamp_time(t);
	return t + tz_offset(z, t, NULL);
}

int64_t tz_from_local(const struct tz *z, int64_t local)
{
	struct span cur, nxt;
	int64_t lo, hi, gap = INT64_MAX;

	local = clamp_time(local);
	/* Every answer t has |local - t| <= maxoff: walk the spans over that
	 * range in order; the first that contains local - its offset holds the
	 * earliest answer. Between two spans where the offset grows, local may
	 * fall into the gap. */
	lo = local - z->maxoff;
	hi = local + z->maxoff;
	span_at(z, lo, &cur);
	for (int guard = 0; guard < 4096; guard++) {
		int64_t t = local - cur.type.off;
		if (t >= cur.begin && t < cur.end)
			return t;
		if (cur.end > hi)
			break;
		span_at(z, cur.end, &nxt);
		if (gap == INT64_MAX && nxt.type.off > cur.type.off &&
		    local >= cur.end + cur.type.off && local < cur.end + nxt.type.off)
			gap = cur.end;
		cur = nxt;
	}
	if (gap != INT64_MAX)
		return gap;
	return local - tz_offset(z, local, NULL); /* only for an inconsistent zone */
}

const char *tz_name(const struct tz *z)
{
	return z->name;
}

const struct tz *tz_utc(void)
{
	return &utc_zone;
}

/* ---- loading and sharing ---- */

/* An IANA name: components of [A-Za-z0-9_+-.], none empty or starting with
 * a dot, so that it cannot leave the zone directory. */
static bool name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > TZ_NAME_MAX || n[0] == '/' || strstr(n, ".."))
		return false;
	for (const char *c = n; *c; c++) {
		if ((c == n || c[-1] == '/') && (*c == '/' || *c == '.'))
			return false;
		if (!isalnum((unsigned char)*c) && !strchr("/_+-.", *c))
			return false;
	}
	return n[len - 1] != '/';
}

/* Loads the TZif file at path as zone name; what names it in messages. */
static int load_file(const char *name, const char *what, const char *path, struct tz **ret,
                     struct errmsg *e)
{
	char *data = NULL;
	size_t len = 0;
	struct stat st;
	struct tz *z;
	/* fileio's own text (NULL) would not say "time zone": worded here. */
	int r = fileio_read(path, "time zone", TZ_FILE_MAX, &data, &len, NULL);

	if (r == -ENOENT || r == -ENOTDIR)
		return errmsg_set(e, -ENOENT, "unknown time zone %s (no %s)", what, path);
	if (r == -EINVAL && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return errmsg_set(e, -EINVAL, "%s is not a time zone (%s is a directory)", what,
		                  path);
	if (r == -EINVAL || r == -EFBIG)
		return errmsg_set(
		        e, -EINVAL,
		        "time zone %s: cannot read %s: not a regular file of at most 1 MiB", what,
		        path);
	if (r < 0)
		return errmsg_set(e, r, "time zone %s: cannot read %s: %s", what, path,
		                  strerror(-r));
	r = tz_from_tzif(name, (const unsigned char *)data, len, &z, e);
	if (r < 0) {
		errmsg_prefix(e, "time zone %s: %s", what, path);
		free(data);
		return r;
	}
	z->src = (unsigned char *)data;
	z->srclen = len;
	z->key = xstrdup(path);
	*ret = z;
	return 0;
}

/* The shared zone equal to z (same name, source and bytes), or z itself,
 * now shared. Takes z. */
static const struct tz *share(struct tz *z)
{
	struct tz *s;

	pthread_mutex_lock(&shared_lock);
	for (s = shared; s; s = s->next)
		if (strcmp(s->name, z->name) == 0 && strcmp(s->key, z->key) == 0 &&
		    s->srclen == z->srclen && memcmp(s->src, z->src, z->srclen) == 0)
			break;
	if (!s) {
		z->next = shared;
		shared = s = z;
		z = NULL;
	}
	pthread_mutex_unlock(&shared_lock);
	tz_free(z);
	return s;
}

static const char *zone_dir(void)
{
	const char *dir = getenv("TZDIR");

	return dir && *dir ? dir : TZ_DIR_DEFAULT;
}

/* The machine's local time, found as glibc finds it. */
static int get_local(const struct tz **ret, struct errmsg *e)
{
	const char *env = getenv("TZ"), *s;
	char path[PATH_MAX], what[TZ_RULE_MAX + 48], key[TZ_RULE_MAX + 8];
	struct tz *z = NULL;
	int r;

	if (!env) {
		r = load_file("", TZ_LOCALTIME " (the machine's local time)", TZ_LOCALTIME, &z, e);
		if (r == -ENOENT) {
			*ret = &utc_zone; /* no /etc/localtime: UTC, as in glibc */
			return 0;
		}
		if (r < 0)
			return r;
		*ret = share(z);
		return 0;
	}
	if (!*env || strlen(env) > TZ_RULE_MAX) {
		if (*env)
			return errmsg_set(e, -EINVAL, "the machine's local time: $TZ is too long");
		*ret = &utc_zone;
		return 0;
	}
	snprintf(what, sizeof(what), "\"%s\" ($TZ, the machine's local time)", env);
	s = env + (env[0] == ':');
	if (s[0] == '/') {
		r = load_file("", what, s, &z, e);
	} else if (name_ok(s) &&
	           snprintf(path, sizeof(path), "%s/%s", zone_dir(), s) < (int)sizeof(path)) {
		r = load_file("", what, path, &z, e);
		if (r == -ENOENT && env[0] != ':')
			r = 1; /* not a zone: perhaps a rule */
	} else if (env[0] == ':') {
		r = errmsg_set(e, -EINVAL, "%s is not a time zone name", what);
	} else {
		r = 1;
	}
	if (r == 1) {
		r = tz_from_posix("", s, &z, e);
		if (r == -EINVAL)
			errmsg_set(e, r, "%s is neither a zone in %s nor a POSIX TZ rule", what,
			           zone_dir());
		if (r == 0) {
			snprintf(key, sizeof(key), "TZ=%s", s);
			z->key = xstrdup(key);
			z->src = (unsigned char *)xstrdup(s);
			z->srclen = strlen(s);
		}
	}
	if (r < 0)
		return r;
	*ret = share(z);
	return 0;
}

int tz_get(const char *name, const struct tz **ret, struct errmsg *e)
{
	char path[PATH_MAX], what[TZ_NAME_MAX + 3];
	struct tz *z;
	int r;

	if (!name)
		return errmsg_set(e, -EINVAL, "no time zone");
	if (!*name)
		return get_local(ret, e);
	if (!name_ok(name))
		return errmsg_set(e, -EINVAL,
		                  "\"%.*s\" is not a time zone name (an IANA name such as "
		                  "Europe/Berlin, without \"..\" or a leading /)",
		                  TZ_NAME_MAX + 1, name);
	if (snprintf(path, sizeof(path), "%s/%s", zone_dir(), name) >= (int)sizeof(path))
		return errmsg_set(e, -EINVAL, "time zone \"%s\": $TZDIR is too long", name);
	snprintf(what, sizeof(what), "\"%s\"", name);
	r = load_file(name, what, path, &z, e);
	if (r == -ENOENT && (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)) {
		*ret = &utc_zone; /* without tzdata, UTC still is */
		return 0;
	}
	if (r < 0)
		return r;
	*ret = share(z);
	return 0;
}
