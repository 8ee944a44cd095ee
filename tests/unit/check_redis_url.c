/* check_redis_url: the URL of cluster mode's Redis (core/redis_url.c): the
 * forms warmd.conf may write, what each parses to and formats back as, and
 * every refusal with its reason, never quoting a password. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

/* Parses s, asserts success, and that the formatted URL is want and
 * parses back to the same address. */
static struct redis_addr good(const char *s, const char *want)
{
	struct redis_addr a, b;
	struct errmsg e = { .text = "" };
	char out[1200];
	int n;

	memset(&a, 0x5a, sizeof(a));
	ck_assert_msg(redis_url_parse(s, &a, &e) == 0, "%s: %s", s, e.text);
	n = redis_url_format(&a, out, sizeof(out));
	ck_assert_int_eq(n, (int)strlen(out));
	ck_assert_str_eq(out, want);
	ck_assert_msg(redis_url_parse(out, &b, &e) == 0, "%s: %s", out, e.text);
	ck_assert(a.unix_socket == b.unix_socket);
	ck_assert_str_eq(a.host, b.host);
	ck_assert_int_eq(a.port, b.port);
	ck_assert_int_eq(a.db, b.db);
	ck_assert_str_eq(a.user, b.user);
	return a;
}

/* Asserts that s is refused with a message containing sub, that *ret is
 * untouched, and that the message does not hold secret (when given). */
static void bad(const char *s, const char *sub, const char *secret)
{
	struct redis_addr a;
	struct errmsg e = { .text = "" };

	memset(&a, 0x5a, sizeof(a));
	ck_assert_msg(redis_url_parse(s, &a, &e) == -EINVAL, "%s: accepted", s);
	ck_assert_msg(strstr(e.text, sub) != NULL, "%s: \"%s\", want \"%s\"", s, e.text, sub);
	if (secret)
		ck_assert_msg(strstr(e.text, secret) == NULL, "%s: the message \"%s\" shows %s", s,
		              e.text, secret);
	for (size_t i = 0; i < sizeof(a); i++)
		ck_assert_msg(((unsigned char *)&a)[i] == 0x5a, "%s: *ret changed", s);
}

START_TEST(test_tcp_forms)
{
	struct redis_addr a;

	a = good("redis://10.0.0.5:6379/0", "redis://10.0.0.5:6379/0");
	ck_assert(!a.unix_socket);
	ck_assert_str_eq(a.host, "10.0.0.5");
	ck_assert_int_eq(a.port, 6379);
	ck_assert_int_eq(a.db, 0);
	ck_assert_str_eq(a.user, "");

	/* default port and database */
	a = good("redis://redis.example.internal", "redis://redis.example.internal:6379/0");
	ck_assert_str_eq(a.host, "redis.example.internal");
	ck_assert_int_eq(a.port, 6379);
	ck_assert_int_eq(a.db, 0);
	a = good("redis://cache-1/", "redis://cache-1:6379/0");
	ck_assert_int_eq(a.db, 0);
	a = good("redis://h:7000", "redis://h:7000/0");
	ck_assert_int_eq(a.port, 7000);
	a = good("redis://h/15", "redis://h:6379/15");
	ck_assert_int_eq(a.db, 15);
	a = good("redis://h:1/100000", "redis://h:1/100000");
	ck_assert_int_eq(a.port, 1);
	ck_assert_int_eq(a.db, 100000);
	a = good("redis://h:65535/007", "redis://h:65535/7");
	ck_assert_int_eq(a.port, 65535);
	ck_assert_int_eq(a.db, 7);
	/* the scheme in any case, written back in lower case */
	good("REDIS://H", "redis://H:6379/0");

	/* IPv6 in brackets, stored without them */
	a = good("redis://[::1]:6380/2", "redis://[::1]:6380/2");
	ck_assert_str_eq(a.host, "::1");
	ck_assert_int_eq(a.port, 6380);
	ck_assert_int_eq(a.db, 2);
	a = good("redis://[fd00:1::5]", "redis://[fd00:1::5]:6379/0");
	ck_assert_str_eq(a.host, "fd00:1::5");

	/* an ACL user */
	a = good("redis://warmd@10.0.0.5:6379/1", "redis://warmd@10.0.0.5:6379/1");
	ck_assert_str_eq(a.user, "warmd");
	ck_assert_str_eq(a.host, "10.0.0.5");
	a = good("redis://app.warm_d-1@[::1]", "redis://app.warm_d-1@[::1]:6379/0");
	ck_assert_str_eq(a.user, "app.warm_d-1");
}
END_TEST

START_TEST(test_unix_forms)
{
	struct redis_addr a;

	a = good("unix:///run/redis/redis.sock", "unix:///run/redis/redis.sock");
	ck_assert(a.unix_socket);
	ck_assert_str_eq(a.host, "/run/redis/redis.sock");
	ck_assert_int_eq(a.port, 0);
	ck_assert_int_eq(a.db, 0);
	ck_assert_str_eq(a.user, "");
	a = good("unix:///tmp/x/redis.sock?db=2", "unix:///tmp/x/redis.sock?db=2");
	ck_assert_str_eq(a.host, "/tmp/x/redis.sock");
	ck_assert_int_eq(a.db, 2);
	a = good("unix:///s?db=0", "unix:///s");
	ck_assert_int_eq(a.db, 0);
	a = good("unix:///a@b:c/redis.sock", "unix:///a@b:c/redis.sock");
	ck_assert_str_eq(a.host, "/a@b:c/redis.sock");
}
END_TEST

/* The longest names each part holds, and one more. */
START_TEST(test_lengths)
{
	char url[1100], host[300], path[200], user[80];
	struct redis_addr a;

	memset(host, 'h', 255);
	host[255] = '\0';
	snprintf(url, sizeof(url), "redis://%s:1/1", host);
	a = good(url, url);
	ck_assert_uint_eq(strlen(a.host), 255);
	snprintf(url, sizeof(url), "redis://%sh:1/1", host);
	bad(url, "host name is longer than 255 characters", NULL);

	path[0] = '/';
	memset(path + 1, 'p', 106);
	path[107] = '\0';
	snprintf(url, sizeof(url), "unix://%s", path);
	a = good(url, url);
	ck_assert_uint_eq(strlen(a.host), 107);
	snprintf(url, sizeof(url), "unix://%sp", path);
	bad(url, "socket path is longer than 107 characters", NULL);

	memset(user, 'u', 64);
	user[64] = '\0';
	snprintf(url, sizeof(url), "redis://%s@h:6379/0", user);
	a = good(url, url);
	ck_assert_uint_eq(strlen(a.user), 64);
	snprintf(url, sizeof(url), "redis://%su@h", user);
	bad(url, "user name before '@' is longer than 64 characters", NULL);

	memset(url, 'x', sizeof(url));
	memcpy(url, "redis://", 8);
	url[1025] = '\0';
	bad(url, "longer than 1024 characters", NULL);
}
END_TEST

START_TEST(test_password_refused)
{
	bad("redis://:hunter2secret@10.0.0.5:6379/0",
	    "put the password in password_file, not in the URL", "hunter2secret");
	bad("redis://warmd:hunter2secret@h", "put the password in password_file, not in the URL",
	    "hunter2secret");
	/* a password holding '@': the last '@' ends the user part */
	bad("redis://warmd:hunter2@secret@h", "password_file", "hunter2");
	bad("redis://warmd:hunter2/secret@h", "password_file", "hunter2");
	bad("redis://:hunter2/secret@h:6379/0", "password_file", "hunter2");
	bad("redis://h:6379/0?password=hunter2secret", "password_file", "hunter2secret");
	bad("unix:///run/redis.sock?password=hunter2secret", "password_file", "hunter2secret");
	bad("unix:///run/redis.sock?db=1&pass=hunter2secret", "password_file", "hunter2secret");
	/* nothing from the user part or a query is ever quoted */
	bad("redis://hunter2%secret@h", "may hold only [A-Za-z0-9._-]", "hunter2");
	bad("redis://@h", "nothing before '@'", NULL);
	bad("redis://h/0?auth=hunter2secret", "unexpected text at offset 11", "hunter2secret");
	bad("unix:///s?token=hunter2secret", "only query a unix:// URL takes is ?db=N",
	    "hunter2secret");
	/* a password where the port goes is not quoted either */
	bad("redis://h:hunter2secret", "port is not a number from 1 to 65535", "hunter2secret");
}
END_TEST

START_TEST(test_refusals)
{
	bad("rediss://h:6380/0",
	    "rediss:// (TLS) is not supported: Debian 12's hiredis 0.14 has "
	    "no TLS",
	    NULL);
	bad("REDISS://h", "rediss:// (TLS) is not supported", NULL);
	bad("http://h", "must start with redis:// (redis://HOST[:PORT][/DB]) or unix://", NULL);
	bad("h:6379", "must start with redis://", NULL);
	bad("", "empty", NULL);

	/* ports */
	bad("redis://h:0", "port is not a number from 1 to 65535", NULL);
	bad("redis://h:65536", "port is not a number from 1 to 65535", NULL);
	bad("redis://h:", "port is not a number from 1 to 65535", NULL);
	bad("redis://h:-1", "port is not a number", NULL);
	bad("redis://h:+80", "port is not a number", NULL);
	bad("redis://h:80x", "port is not a number", NULL);
	bad("redis://h:0000000000080", "port is not a number", NULL);

	/* databases */
	bad("redis://h/100001", "database number from 0 to 100000", NULL);
	bad("redis://h/-1", "database number from 0 to 100000", NULL);
	bad("redis://h/x", "database number from 0 to 100000", NULL);
	bad("unix:///s?db=100001", "?db= must be a database number from 0 to 100000", NULL);
	bad("unix:///s?db=", "?db= must be a database number", NULL);
	bad("unix:///s?db=-1", "?db= must be a database number", NULL);

	/* unix paths */
	bad("unix://run/redis.sock", "socket path must be absolute", NULL);
	bad("unix://", "socket path must be absolute", NULL);
	bad("unix://./redis.sock", "socket path must be absolute", NULL);

	/* trailing junk */
	bad("redis://h/0/1", "unexpected text at offset 11", NULL);
	bad("redis://h:6379/0x", "unexpected text at offset 16", NULL);
	bad("redis://h?db=1", "unexpected text at offset 9", NULL);
	bad("redis://h#frag", "unexpected text at offset 9", NULL);
	bad("unix:///s?db=1x", "?db= must be a database number", NULL);
	bad("unix:///s?db=1?db=2", "?db= must be a database number", NULL);

	/* hosts */
	bad("redis://", "no host", NULL);
	bad("redis://:6379", "no host", NULL);
	bad("redis:///0", "no host", NULL);
	bad("redis://u@", "no host", NULL);
	bad("redis://::1", "IPv6 address must be written in brackets", NULL);
	bad("redis://[::1", "'[' without ']'", NULL);
	bad("redis://[]:6379", "not an IPv6 address between '[' and ']'", NULL);
	bad("redis://[10.0.0.1]", "\"10.0.0.1\" is not an IPv6 address", NULL);
	bad("redis://[::1]x", "unexpected text after ']'", NULL);
	bad("redis://h_o$t", "host may hold only letters, digits", NULL);

	/* spaces, control and non-ASCII characters anywhere */
	bad("redis://h /0", "a space, a control or a non-ASCII character at offset 9", NULL);
	bad("redis://h\n", "control", NULL);
	bad("unix:///r\xc3\xa9/s", "non-ASCII character at offset 9", NULL);
}
END_TEST

/* format's return is snprintf's: the length it needed, whatever n is. */
START_TEST(test_format_truncates)
{
	struct redis_addr a;
	struct errmsg e;
	char small[8];

	ck_assert_int_eq(redis_url_parse("redis://10.0.0.5:6379/0", &a, &e), 0);
	ck_assert_int_eq(redis_url_format(&a, small, sizeof(small)), 23);
	ck_assert_str_eq(small, "redis:/");
}
END_TEST

static Suite *redis_url_suite(void)
{
	Suite *s = suite_create("redis_url");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_tcp_forms);
	tcase_add_test(tc, test_unix_forms);
	tcase_add_test(tc, test_lengths);
	tcase_add_test(tc, test_password_refused);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_format_truncates);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(redis_url_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
