/* check_tz: time zone conversion without the environment (common/tz.c),
 * checked against glibc's own (run here, single-threaded, with setenv). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "testutil.h"
#include "tz.h"

/* Check records every passed assertion through a pipe: in loops of
 * millions, only failures may speak. */
#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)

/* ---- glibc as the oracle ---- */

static void glibc_tz(const char *tz)
{
	unsetenv("TZDIR");
	setenv("TZ", tz, 1);
	tzset();
}

static int32_t glibc_off(int64_t t, int *ret_isdst)
{
	time_t tt = (time_t)t;
	struct tm tm;

	EXPECT(localtime_r(&tt, &tm), "localtime_r(%lld) failed", (long long)t);
	if (ret_isdst)
		*ret_isdst = tm.tm_isdst > 0;
	return (int32_t)tm.tm_gmtoff;
}

static int64_t utc(int y, int m, int d, int h, int mi)
{
	return tz_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60;
}

/* Compares tz_offset with glibc at every hour from January of y0 to
 * January of y1, and at the second of every change glibc shows, and
 * returns how many changes there were. */
static int compare_offsets(const struct tz *z, const char *what, int y0, int y1)
{
	int64_t t0 = utc(y0, 1, 1, 0, 0), t1 = utc(y1, 1, 1, 0, 0);
	int32_t prev = glibc_off(t0, NULL);
	int changes = 0;

	for (int64_t t = t0; t < t1; t += 3600) {
		int gd;
		bool ours_dst;
		int32_t g = glibc_off(t, &gd), o = tz_offset(z, t, &ours_dst);
		EXPECT(o == g, "%s at %lld: offset %d, glibc %d", what, (long long)t, o, g);
		EXPECT(ours_dst == gd, "%s at %lld: isdst %d, glibc %d", what, (long long)t,
		       ours_dst, gd);
		if (g != prev) {
			/* Find glibc's exact second of change in (t - 3600, t]. */
			int64_t lo = t - 3600, hi = t;
			while (hi - lo > 1) {
				int64_t mid = lo + (hi - lo) / 2;
				if (glibc_off(mid, NULL) == g)
					hi = mid;
				else
					lo = mid;
			}
			EXPECT(tz_offset(z, hi, NULL) == g && tz_offset(z, hi - 1, NULL) == prev,
			       "%s: change at %lld: ours %d -> %d, glibc %d -> %d", what,
			       (long long)hi, tz_offset(z, hi - 1, NULL), tz_offset(z, hi, NULL),
			       prev, g);
			changes++;
		}
		prev = g;
	}
	return changes;
}

struct local_counts {
	int plain, gaps, overlaps;
};

/* Checks tz_from_local for every half hour of the wall clock from y0 to
 * y1: where the wall clock reads it once, the answer is glibc's mktime();
 * twice (an overlap), the earlier of the instants; never (a gap), the
 * instant the clock jumps over it. */
static void compare_local(const struct tz *z, const char *what, int y0, int y1,
                          struct local_counts *c)
{
	int64_t l0 = utc(y0, 1, 1, 0, 0), l1 = utc(y1, 1, 1, 0, 0);

	for (int64_t L = l0; L < l1; L += 1800) {
		static const int64_t probe[] = { -26 * 3600, -13 * 3600, 0, 13 * 3600, 26 * 3600 };
		int64_t r = tz_from_local(z, L), best = INT64_MAX, found[5];
		int n = 0;

		/* glibc's answers: the instants L - o at which glibc's offset is o */
		for (size_t k = 0; k < sizeof(probe) / sizeof(probe[0]); k++) {
			int32_t o = glibc_off(L + probe[k], NULL);
			bool seen = false;
			if (glibc_off(L - o, NULL) != o)
				continue;
			for (int j = 0; j < n; j++)
				seen = seen || found[j] == L - o;
			if (!seen)
				found[n++] = L - o;
			if (L - o < best)
				best = L - o;
		}
		if (best == INT64_MAX) {
			/* a gap: the first instant whose wall clock is later */
			EXPECT(r + glibc_off(r, NULL) > L && r - 1 + glibc_off(r - 1, NULL) < L,
			       "%s: local %lld in a gap -> %lld", what, (long long)L, (long long)r);
			c->gaps++;
			continue;
		}
		EXPECT(r == best, "%s: local %lld -> %lld, want the earliest %lld", what,
		       (long long)L, (long long)r, (long long)best);
		if (n > 1) {
			c->overlaps++;
		} else {
			time_t tt = (time_t)L;
			struct tm tm;
			gmtime_r(&tt, &tm); /* the fields of the wall-clock time */
			tm.tm_isdst = -1;
			EXPECT((int64_t)mktime(&tm) == r, "%s: local %lld -> %lld, mktime %lld",
			       what, (long long)L, (long long)r, (long long)mktime(&tm));
			c->plain++;
		}
	}
}

struct zone_case {
	const char *name;
	bool dst; /* has daylight time in the years compared */
};

static const struct zone_case zones[] = {
	{ "Europe/Berlin", true },
	{ "America/New_York", true },
	{ "Australia/Sydney", true },
	{ "Asia/Kolkata", false },
	{ "UTC", false },
	{ "Europe/Dublin", true },
	{ "Australia/Lord_Howe", true },
	{ "America/Nuuk", true },
	{ "Africa/Casablanca", true },
};

/* Every hour of 2019-2029 (the file's transitions) and 2036-2045 (past
 * 2037, the footer's rule), offsets and wall clock both ways. */
START_TEST(test_zone_matches_glibc)
{
	const struct zone_case *zc = &zones[_i];
	const struct tz *z;
	struct errmsg e;
	struct local_counts c = { 0, 0, 0 };
	int changes;

	unsetenv("TZDIR");
	ck_assert_msg(tz_get(zc->name, &z, &e) == 0, "%s: %s (is tzdata installed?)", zc->name,
	              e.text);
	ck_assert_str_eq(tz_name(z), zc->name);
	glibc_tz(zc->name);
	changes = compare_offsets(z, zc->name, 2019, 2030);
	changes += compare_offsets(z, zc->name, 2036, 2046);
	compare_local(z, zc->name, 2019, 2030, &c);
	compare_local(z, zc->name, 2036, 2046, &c);
	/* a test that sees no change tests nothing */
	if (zc->dst) {
		ck_assert_msg(changes >= 40, "%s: only %d changes", zc->name, changes);
		ck_assert_msg(c.gaps > 0 && c.overlaps > 0, "%s: %d gaps, %d overlaps", zc->name,
		              c.gaps, c.overlaps);
	} else {
		ck_assert_int_eq(c.gaps + c.overlaps, 0);
	}
	ck_assert_int_gt(c.plain, 300000);
}
END_TEST

/* POSIX rules alone (what a footer or $TZ holds), glibc given the same. */
START_TEST(test_posix_rules_match_glibc)
{
	static const char *const rules[] = {
		"EST5EDT,M3.2.0,M11.1.0",
		"CET-1CEST,M3.5.0,M10.5.0/3",
		"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", /* negative rule time (RFC 8536) */
		"IST-1GMT0,M10.5.0,M3.5.0/1",      /* "negative" daylight time (Dublin) */
		"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
		"NZST-12NZDT,M9.5.0,M4.1.0/3",
		"XST3XDT,J60/2,J300/3", /* Julian days, never counting Feb 29 */
		"YST3YDT,59/2,299/3",   /* zero-based days, counting it */
		"ZST-3:30ZDT-4:30:15,M4.1.6/26,M9.5.4/-1:30",
		"EST5EDT", /* no dates: M3.2.0,M11.1.0 */
		"IST-5:30",
		"<-03>3",
	};
	struct errmsg e;

	for (size_t k = 0; k < sizeof(rules) / sizeof(rules[0]); k++) {
		struct tz *z = NULL;
		ck_assert_msg(tz_from_posix("x", rules[k], &z, &e) == 0, "%s: %s", rules[k],
		              e.text);
		glibc_tz(rules[k]);
		compare_offsets(z, rules[k], 2020, 2030);
		tz_free(z);
	}
}
END_TEST

/* All-year daylight time ("0/0,J365/25"): RFC 8536 says the zone is always
 * on daylight time; glibc gets the first hours of each year wrong, so this
 * is checked by hand. */
START_TEST(test_all_year_daylight_time)
{
	struct tz *z;
	struct errmsg e;

	ck_assert_int_eq(tz_from_posix("x", "EST5EDT,0/0,J365/25", &z, &e), 0);
	for (int y = 2024; y < 2030; y++) {
		ck_assert_int_eq(tz_offset(z, utc(y, 1, 1, 0, 0), NULL), -4 * 3600);
		ck_assert_int_eq(tz_offset(z, utc(y, 1, 1, 4, 59), NULL), -4 * 3600);
		ck_assert_int_eq(tz_offset(z, utc(y, 7, 1, 0, 0), NULL), -4 * 3600);
		ck_assert_int_eq(tz_offset(z, utc(y, 12, 31, 23, 59), NULL), -4 * 3600);
	}
	ck_assert_int_eq(tz_from_local(z, utc(2026, 1, 1, 0, 0)), utc(2026, 1, 1, 4, 0));
	tz_free(z);
}
END_TEST

START_TEST(test_bad_posix_rules)
{
	static const char *const bad[] = {
		"",
		"E5",
		"EST",
		"EST5EDT,M3.2.0",
		"EST5EDT,M13.2.0,M11.1.0",
		"EST25",
		"EST5EDT,M3.6.0,M11.1.0",
		"EST5EDT,M3.2.7,M11.1.0",
		"EST5EDT,J0,J365",
		"EST5EDT,366,0",
		"EST5EDT,M3.2.0/168,M11.1.0",
		"<ES>5",
		"<EST5",
		"EST5EDT,M3.2.0,M11.1.0x",
		"EST5:60",
		"EST5EDT4,",
		"EST 5",
	};
	struct errmsg e;

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct tz *z = NULL;
		ck_assert_msg(tz_from_posix("x", bad[k], &z, &e) == -EINVAL, "\"%s\" accepted",
		              bad[k]);
		ck_assert_ptr_null(z);
	}
}
END_TEST

/* ---- TZif files made here ---- */

struct tzif {
	unsigned char b[4096];
	size_t len;
};

static void put32(struct tzif *f, uint32_t v)
{
	for (int k = 3; k >= 0; k--)
		f->b[f->len++] = (unsigned char)(v >> (8 * k));
}

static void put64(struct tzif *f, int64_t v)
{
	put32(f, (uint32_t)((uint64_t)v >> 32));
	put32(f, (uint32_t)v);
}

static void put_head(struct tzif *f, char version, uint32_t timecnt, uint32_t typecnt,
                     uint32_t leapcnt)
{
	memcpy(f->b + f->len, "TZif", 4);
	f->len += 4;
	f->b[f->len++] = (unsigned char)version;
	memset(f->b + f->len, 0, 15);
	f->len += 15;
	put32(f, 0);       /* isutcnt */
	put32(f, 0);       /* isstdcnt */
	put32(f, leapcnt); /* leapcnt */
	put32(f, timecnt);
	put32(f, typecnt);
	put32(f, 4); /* charcnt: "CET\0" */
}

struct type {
	int32_t off;
	int isdst;
};

/* A file with the given transitions and types, a footer, and optionally a
 * flaw; version '2' writes an empty v1 block first, as zic -b slim does. */
static void make_tzif(struct tzif *f, char version, const int64_t *at, const uint8_t *idx,
                      uint32_t n, const struct type *types, uint32_t ntypes, const char *footer,
                      uint32_t leapcnt)
{
	size_t tsize = version ? 8 : 4;

	f->len = 0;
	if (version) {
		put_head(f, version, 0, 1, 0);
		put32(f, 0); /* one type, UTC */
		f->b[f->len++] = 0;
		f->b[f->len++] = 0;
		memcpy(f->b + f->len, "CET", 4);
		f->len += 4;
	}
	put_head(f, version, n, ntypes, leapcnt);
	for (uint32_t k = 0; k < n; k++) {
		if (tsize == 8)
			put64(f, at[k]);
		else
			put32(f, (uint32_t)(int32_t)at[k]);
	}
	for (uint32_t k = 0; k < n; k++)
		f->b[f->len++] = idx[k];
	for (uint32_t k = 0; k < ntypes; k++) {
		put32(f, (uint32_t)types[k].off);
		f->b[f->len++] = (unsigned char)types[k].isdst;
		f->b[f->len++] = 0;
	}
	memcpy(f->b + f->len, "CET", 4);
	f->len += 4;
	for (uint32_t k = 0; k < leapcnt; k++) {
		if (tsize == 8)
			put64(f, 78796800);
		else
			put32(f, 78796800);
		put32(f, 1);
	}
	if (version) {
		f->b[f->len++] = '\n';
		memcpy(f->b + f->len, footer, strlen(footer));
		f->len += strlen(footer);
		f->b[f->len++] = '\n';
	}
}

static const struct type cet_types[] = { { 3600, 0 }, { 7200, 1 } };

/* A slim Berlin: one transition in 1996, then only the footer's rule. */
static void make_slim_berlin(struct tzif *f)
{
	static const int64_t at[] = { 828234000 }; /* 1996-03-31 01:00 UTC: CEST */
	static const uint8_t idx[] = { 1 };

	make_tzif(f, '2', at, idx, 1, cet_types, 2, "CET-1CEST,M3.5.0,M10.5.0/3", 0);
}

static int from_bytes(const unsigned char *b, size_t len, struct tz **ret, struct errmsg *e)
{
	/* an exact-size copy, so that ASan sees any read past the end */
	unsigned char *copy = malloc(len ? len : 1);
	int r;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, b, len);
	r = tz_from_tzif("Test/Zone", copy, len, ret, e);
	free(copy);
	return r;
}

static void write_file(const char *path, const unsigned char *b, size_t len)
{
	FILE *fp = fopen(path, "wb");

	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(b, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
}

START_TEST(test_slim_file_uses_its_footer)
{
	struct tzif f;
	struct tz *z;
	struct errmsg e;
	struct local_counts c = { 0, 0, 0 };
	char *dir = tu_tmpdir(), path[512], env[520];

	make_slim_berlin(&f);
	ck_assert_int_eq(from_bytes(f.b, f.len, &z, &e), 0);
	/* glibc reads the same file by its path */
	ck_assert_ptr_nonnull(dir);
	snprintf(path, sizeof(path), "%s/slim", dir);
	write_file(path, f.b, f.len);
	snprintf(env, sizeof(env), ":%s", path);
	glibc_tz(env);
	ck_assert_int_ge(compare_offsets(z, "slim Berlin", 2020, 2030), 20);
	compare_local(z, "slim Berlin", 2020, 2030, &c);
	ck_assert(c.gaps > 0 && c.overlaps > 0);
	/* before its one transition: type 0 */
	ck_assert_int_eq(tz_offset(z, 0, NULL), 3600);
	tz_free(z);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_version1_file)
{
	static const int64_t at[] = { 100000, 200000 };
	static const uint8_t idx[] = { 1, 0 };
	struct tzif f;
	struct tz *z;
	struct errmsg e;

	make_tzif(&f, 0, at, idx, 2, cet_types, 2, "", 0);
	ck_assert_int_eq(from_bytes(f.b, f.len, &z, &e), 0);
	ck_assert_int_eq(tz_offset(z, 99999, NULL), 3600);
	ck_assert_int_eq(tz_offset(z, 100000, NULL), 7200);
	ck_assert_int_eq(tz_offset(z, 199999, NULL), 7200);
	ck_assert_int_eq(tz_offset(z, 200000, NULL), 3600);
	ck_assert_int_eq(tz_offset(z, INT64_MAX, NULL), 3600); /* no rule: the last type */
	tz_free(z);
}
END_TEST

/* Every truncation of a good file and every flaw is refused, without
 * reading past the bytes given (ASan). */
START_TEST(test_damaged_files)
{
	static const int64_t up[] = { 100, 200 }, down[] = { 200, 100 };
	static const uint8_t idx[] = { 1, 0 }, bad_idx[] = { 1, 2 };
	static const struct type far[] = { { 3600, 0 }, { 26 * 3600, 1 } };
	static const struct type isdst2[] = { { 3600, 0 }, { 7200, 2 } };
	struct tzif f;
	struct tz *z = NULL;
	struct errmsg e;

	make_slim_berlin(&f);
	for (size_t len = 0; len < f.len; len++)
		ck_assert_msg(from_bytes(f.b, len, &z, &e) == -EINVAL, "%zu of %zu bytes accepted",
		              len, f.len);
	f.b[0] = 'X';
	ck_assert_int_eq(from_bytes(f.b, f.len, &z, &e), -EINVAL);
	ck_assert_str_eq(e.text, "not a TZif file");
	make_slim_berlin(&f);
	f.b[4] = '1';
	ck_assert_int_eq(from_bytes(f.b, f.len, &z, &e), -EINVAL);
	make_tzif(&f, '2', down, idx, 2, cet_types, 2, "", 0);
	ck_assert_int_eq(from_bytes(f.b, f.len, &z, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "out of order"));
	make_tzif(&f, '2', up, bad_idx, 2, cet_types, 2, "", 0);
	ck_assert_int_eq(from_bytes(f.b, f.len, &z, &e), -EINVAL);
	make_tzif(&f, '2', up, idx, 2, far, 2, "", 0);
	ck_assert_int_eq(from_bytes(f.b, f.len, &z, &e), -EINVAL);
	make_tzif(&f, '2', up, idx, 2, isdst2, 2, "", 0);
	ck_assert_int_eq(from_bytes(f.b, f.len, &z, &e), -EINVAL);
	make_tzif(&f, '2', up, idx, 2, cet_types, 2, "", 1);
	ck_assert_int_eq(from_bytes(f.b, f.len, &z, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "leap seconds"));
	make_tzif(&f, '2', up, idx, 2, cet_types, 2, "CET-1CEST,M3.5.0", 0);
	ck_assert_int_eq(from_bytes(f.b, f.len, &z, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "footer"));
	/* an absurd count is refused before any allocation is sized by it */
	make_tzif(&f, '2', up, idx, 2, cet_types, 2, "", 0);
	f.b[44 + 10 + 32] = 0x7f; /* v2 timecnt's high byte (after a 10-byte v1 block) */
	ck_assert_int_eq(from_bytes(f.b, f.len, &z, &e), -EINVAL);
	ck_assert_ptr_null(z);
}
END_TEST

/* ---- loading by name ---- */

START_TEST(test_names)
{
	static const char *const bad[] = {
		"../etc/passwd",
		"/etc/localtime",
		"Europe/../../etc/passwd",
		"Europe//Berlin",
		".hidden",
		"Europe/",
		"Europe/.Berlin",
		"Europe/Ber lin",
		"Europe/Berlin\n",
		"a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/aa/bb/cc/dd/ee/ff",
	};
	const struct tz *z;
	struct errmsg e;

	unsetenv("TZDIR");
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		ck_assert_msg(tz_get(bad[k], &z, &e) == -EINVAL, "\"%s\" accepted", bad[k]);
		ck_assert_ptr_nonnull(strstr(e.text, "not a time zone name"));
	}
	ck_assert_int_eq(tz_get("Europe/Berln", &z, &e), -ENOENT);
	ck_assert_str_eq(
	        e.text, "unknown time zone \"Europe/Berln\" (no /usr/share/zoneinfo/Europe/Berln)");
	ck_assert_int_eq(tz_get("Europe", &z, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "is a directory"));
	ck_assert_int_eq(tz_get(NULL, &z, &e), -EINVAL);
}
END_TEST

START_TEST(test_tzdir_and_sharing)
{
	char *dir = tu_tmpdir(), path[512], sub[512];
	const struct tz *a, *b, *c;
	struct errmsg e;
	struct tzif f;

	ck_assert_ptr_nonnull(dir);
	snprintf(sub, sizeof(sub), "%s/Test", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	snprintf(path, sizeof(path), "%s/Test/Zone", dir);
	make_slim_berlin(&f);
	write_file(path, f.b, f.len);
	setenv("TZDIR", dir, 1);
	ck_assert_msg(tz_get("Test/Zone", &a, &e) == 0, "%s", e.text);
	ck_assert_int_eq(tz_offset(a, utc(2026, 7, 1, 0, 0), NULL), 7200);
	ck_assert_int_eq(tz_get("Europe/Berlin", &b, &e), -ENOENT); /* not in this TZDIR */
	/* the same file again: the same zone */
	ck_assert_int_eq(tz_get("Test/Zone", &b, &e), 0);
	ck_assert_ptr_eq(a, b);
	/* a changed file (a tzdata update, then a reload): a new zone, and
	 * the old one still works */
	{
		static const int64_t at[] = { 0 };
		static const uint8_t idx[] = { 0 };
		static const struct type est[] = { { -5 * 3600, 0 }, { -4 * 3600, 1 } };
		make_tzif(&f, '2', at, idx, 1, est, 2, "EST5EDT,M3.2.0,M11.1.0", 0);
		write_file(path, f.b, f.len);
	}
	ck_assert_int_eq(tz_get("Test/Zone", &c, &e), 0);
	ck_assert_ptr_ne(a, c);
	ck_assert_int_eq(tz_offset(c, utc(2026, 7, 1, 0, 0), NULL), -4 * 3600);
	ck_assert_int_eq(tz_offset(a, utc(2026, 7, 1, 0, 0), NULL), 7200);
	/* a file that is not a zone */
	write_file(path, (const unsigned char *)"hello\n", 6);
	ck_assert_int_eq(tz_get("Test/Zone", &c, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "not a TZif file"));
	/* UTC without any zone files */
	ck_assert_int_eq(tz_get("UTC", &c, &e), 0);
	ck_assert_int_eq(tz_offset(c, utc(2026, 7, 1, 0, 0), NULL), 0);
	unsetenv("TZDIR");
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* "" is the machine's local time, found as glibc finds it, once. */
START_TEST(test_local_time)
{
	static const char *const envs[] = {
		NULL,
		"",
		":Europe/Berlin",
		"America/New_York",
		":/usr/share/zoneinfo/Asia/Kolkata",
		"CET-1CEST,M3.5.0,M10.5.0/3",
		"<+0545>-5:45",
	};
	const struct tz *z;
	struct errmsg e;

	unsetenv("TZDIR");
	for (size_t k = 0; k < sizeof(envs) / sizeof(envs[0]); k++) {
		if (envs[k])
			setenv("TZ", envs[k], 1);
		else
			unsetenv("TZ");
		tzset();
		ck_assert_msg(tz_get("", &z, &e) == 0, "TZ=%s: %s", envs[k] ? envs[k] : "(unset)",
		              e.text);
		compare_offsets(z, envs[k] ? envs[k] : "(unset)", 2025, 2027);
	}
	setenv("TZ", ":Europe/Berln", 1);
	ck_assert_int_eq(tz_get("", &z, &e), -ENOENT);
	setenv("TZ", "not a zone!", 1);
	ck_assert_int_eq(tz_get("", &z, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "neither a zone"));
	unsetenv("TZ");
}
END_TEST

START_TEST(test_calendar)
{
	int64_t y;
	int m, d;

	ck_assert_int_eq(tz_days_from_civil(1970, 1, 1), 0);
	ck_assert_int_eq(tz_days_from_civil(2000, 3, 1), 11017);
	ck_assert_int_eq(tz_days_from_civil(1969, 12, 31), -1);
	ck_assert_int_eq(tz_weekday(tz_days_from_civil(2026, 11, 23)), 1); /* a Monday */
	ck_assert_int_eq(tz_weekday(-1), 3);                               /* a Wednesday */
	for (int64_t days = -800000; days < 800000; days += 13) {
		tz_civil_from_days(days, &y, &m, &d);
		EXPECT(tz_days_from_civil(y, m, d) == days, "day %lld", (long long)days);
	}
	ck_assert_int_eq(tz_floor_div(-1, 86400), -1);
	ck_assert_int_eq(tz_floor_mod(-1, 86400), 86399);
	/* far times are clamped, not overflowed */
	ck_assert_int_eq(tz_to_local(tz_utc(), INT64_MAX), TZ_TIME_LIMIT);
	ck_assert_int_eq(tz_from_local(tz_utc(), INT64_MIN), -TZ_TIME_LIMIT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tz");
	TCase *tc = tcase_create("tz");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_zone_matches_glibc, 0, sizeof(zones) / sizeof(zones[0]));
	tcase_add_test(tc, test_posix_rules_match_glibc);
	tcase_add_test(tc, test_all_year_daylight_time);
	tcase_add_test(tc, test_bad_posix_rules);
	tcase_add_test(tc, test_slim_file_uses_its_footer);
	tcase_add_test(tc, test_version1_file);
	tcase_add_test(tc, test_damaged_files);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_tzdir_and_sharing);
	tcase_add_test(tc, test_local_time);
	tcase_add_test(tc, test_calendar);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
