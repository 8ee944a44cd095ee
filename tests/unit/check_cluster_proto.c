/* check_cluster_proto: cluster mode's records and decisions
 * (core/cluster_proto.c). The known answers were computed once with an
 * independent implementation (Python's hashlib and the published FNV-1a
 * and splitmix64 constants) and are pinned here: a node of another
 * version must compute the same ids and owners, or two nodes would both
 * (or neither) warm an entry. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "cluster_proto.h"

#define MSG "http://127.0.0.1:8080/v1/messages" /* only hashed: nothing is sent */
/* A literal and its length (embedded NULs too), for the parsers that take both. */
#define LIT(s) s, sizeof(s) - 1

START_TEST(test_entry_id_known)
{
	char hex[17];

	ck_assert_uint_eq(cluster_entry_id("anthropic", MSG, ""), 0x573966bb210b622dULL);
	ck_assert_uint_eq(cluster_entry_id("anthropic", MSG, "green"), 0x251f69670538b948ULL);
	/* SHA-256 of two NUL bytes */
	ck_assert_uint_eq(cluster_entry_id("", "", ""), 0x96a296d224f285c6ULL);
	/* a target without versions: NULL is "" */
	ck_assert_uint_eq(cluster_entry_id("anthropic", MSG, NULL), 0x573966bb210b622dULL);
	/* the NULs keep the fields apart */
	ck_assert_uint_ne(cluster_entry_id("ab", "c", ""), cluster_entry_id("a", "bc", ""));
	ck_assert_uint_ne(cluster_entry_id("a", "b", "c"), cluster_entry_id("a", "bc", ""));

	cluster_eid_format(0x2de1a12c52ebb660ULL, hex);
	ck_assert_str_eq(hex, "2de1a12c52ebb660");
	cluster_eid_format(0x5ULL, hex);
	ck_assert_str_eq(hex, "0000000000000005");
	cluster_eid_format(UINT64_MAX, hex);
	ck_assert_str_eq(hex, "ffffffffffffffff");
}
END_TEST

START_TEST(test_weight_known)
{
	ck_assert_uint_eq(cluster_node_seed(""), CLUSTER_DIGEST_INIT);
	ck_assert_uint_eq(cluster_node_seed("host-a"), 0x66fb977456191da5ULL);
	ck_assert_uint_eq(cluster_node_seed("host-b"), 0x66fb94745619188cULL);
	/* splitmix64's first output from state 0 */
	ck_assert_uint_eq(cluster_weight(0, 0), 0xe220a8397b1dcdafULL);
	ck_assert_uint_eq(cluster_weight(cluster_node_seed("host-a"), 0x2de1a12c52ebb660ULL),
	                  0x9fcb8e2a1824d7cbULL);
}
END_TEST

START_TEST(test_digest_known)
{
	uint64_t h = CLUSTER_DIGEST_INIT;

	h = cluster_digest_add(h, "a", 0x0123456789abcdefULL);
	h = cluster_digest_add(h, "b", 0xfedcba9876543210ULL);
	ck_assert_uint_eq(h, 0xea7bd50b73d77326ULL);
	/* order matters: the caller sorts */
	ck_assert_uint_ne(cluster_digest_add(cluster_digest_add(CLUSTER_DIGEST_INIT, "b",
	                                                        0xfedcba9876543210ULL),
	                                     "a", 0x0123456789abcdefULL),
	                  h);
}
END_TEST

START_TEST(test_pick)
{
	uint64_t seeds[3] = { 7, 7, 7 };
	uint64_t eid = 0x2de1a12c52ebb660ULL;

	ck_assert_int_eq(cluster_pick(seeds, 0, eid), -1);
	ck_assert_int_eq(cluster_pick(seeds, 1, eid), 0);
	/* a tie goes to the lower index */
	ck_assert_int_eq(cluster_pick(seeds, 3, eid), 0);
	seeds[0] = cluster_node_seed("host-a");
	seeds[1] = cluster_node_seed("host-b");
	seeds[2] = cluster_node_seed("host-c");
	{
		int w = cluster_pick(seeds, 3, eid);
		for (int i = 0; i < 3; i++)
			ck_assert_uint_ge(cluster_weight(seeds[w], eid),
			                  cluster_weight(seeds[i], eid));
	}
}
END_TEST

#define NENTRIES 10000

static uint64_t entry(int i)
{
	char url[64];

	snprintf(url, sizeof(url), "https://gw.example/v1/%d", i);
	return cluster_entry_id("p", url, i % 3 ? "" : "blue");
}

/* 3 nodes x 10000 entries: each gets a third, within 2 points. */
START_TEST(test_evenness)
{
	uint64_t seeds[3];
	int count[3] = { 0 };

	seeds[0] = cluster_node_seed("host-a");
	seeds[1] = cluster_node_seed("host-b");
	seeds[2] = cluster_node_seed("host-c");
	for (int i = 0; i < NENTRIES; i++)
		count[cluster_pick(seeds, 3, entry(i))]++;
	for (int k = 0; k < 3; k++)
		ck_assert_msg(count[k] >= NENTRIES * 31 / 100 && count[k] <= NENTRIES * 35 / 100,
		              "node %d owns %d of %d", k, count[k], NENTRIES);
}
END_TEST

/* Removing a node moves only its entries; adding one moves about a
 * quarter, and only to the new node. */
START_TEST(test_minimal_movement)
{
	static const char *const names[] = { "host-a", "host-b", "host-c", "host-d" };
	uint64_t all[4], without_b[2];
	int moved_to_d = 0, gone_b = 0;

	for (int k = 0; k < 4; k++)
		all[k] = cluster_node_seed(names[k]);
	without_b[0] = all[0];
	without_b[1] = all[2];
	for (int i = 0; i < NENTRIES; i++) {
		uint64_t eid = entry(i);
		int three = cluster_pick(all, 3, eid), two = cluster_pick(without_b, 2, eid);
		int four = cluster_pick(all, 4, eid);
		const char *owner3 = names[three], *owner2 = names[two ? 2 : 0];

		if (three == 1)
			gone_b++;
		else
			ck_assert_msg(strcmp(owner3, owner2) == 0,
			              "entry %d moved from %s to %s when host-b left", i, owner3,
			              owner2);
		if (four != three) {
			ck_assert_msg(four == 3, "entry %d moved from %s to %s, not to host-d", i,
			              owner3, names[four]);
			moved_to_d++;
		}
	}
	ck_assert_int_gt(gone_b, 0);
	ck_assert_msg(moved_to_d >= NENTRIES * 23 / 100 && moved_to_d <= NENTRIES * 27 / 100,
	              "host-d took %d of %d", moved_to_d, NENTRIES);
}
END_TEST

START_TEST(test_names)
{
	char n64[65], n65[66];

	memset(n64, 'a', 64);
	n64[64] = '\0';
	memset(n65, 'a', 65);
	n65[65] = '\0';
	ck_assert(cluster_name_ok("host-a", 6));
	ck_assert(cluster_name_ok("Host_1.example-2", 16));
	ck_assert(cluster_name_ok(n64, 64));
	ck_assert(!cluster_name_ok(n65, 65));
	ck_assert(!cluster_name_ok("", 0));
	ck_assert(!cluster_name_ok("a b", 3));
	ck_assert(!cluster_name_ok("a:b", 3));
	ck_assert(!cluster_name_ok("a/b", 3));
	ck_assert(!cluster_name_ok("h\xc3\xa9", 3));
	ck_assert(!cluster_name_ok("ab\0c", 4));
	/* n, not the NUL, says where the name ends */
	ck_assert(cluster_name_ok("host-a:junk", 6));
}
END_TEST

START_TEST(test_eid_parse)
{
	uint64_t v = 42;

	ck_assert_int_eq(cluster_eid_parse("2de1a12c52ebb660", 16, &v), 0);
	ck_assert_uint_eq(v, 0x2de1a12c52ebb660ULL);
	ck_assert_int_eq(cluster_eid_parse("ffffffffffffffffjunk", 16, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	v = 42;
	ck_assert_int_eq(cluster_eid_parse("2DE1A12C52EBB660", 16, &v), -EINVAL);
	ck_assert_int_eq(cluster_eid_parse("2de1a12c52ebb66", 15, &v), -EINVAL);
	ck_assert_int_eq(cluster_eid_parse("2de1a12c52ebb6600", 17, &v), -EINVAL);
	ck_assert_int_eq(cluster_eid_parse("2de1a12c52ebb66g", 16, &v), -EINVAL);
	ck_assert_int_eq(cluster_eid_parse(" de1a12c52ebb660", 16, &v), -EINVAL);
	ck_assert_int_eq(cluster_eid_parse("2de1a12c\0"
	                                   "2ebb660",
	                                   16, &v),
	                 -EINVAL);
	ck_assert_uint_eq(v, 42);
}
END_TEST

START_TEST(test_heartbeat_round_trip)
{
	struct cluster_heartbeat h = { .instance = 0x00ab00cd00ef0012ULL,
		                       .lease_ms = 10000,
		                       .owned = 12,
		                       .digest = 0xea7bd50b73d77326ULL },
	                         r;
	struct errmsg e = { .text = "" };
	char out[128];
	int n;

	n = cluster_heartbeat_format(&h, out, sizeof(out));
	ck_assert_str_eq(out, "v1 00ab00cd00ef0012 10000 12 ea7bd50b73d77326");
	ck_assert_int_eq(n, (int)strlen(out));
	ck_assert_msg(cluster_heartbeat_parse(out, strlen(out), &r, &e) == 0, "%s", e.text);
	ck_assert_uint_eq(r.instance, h.instance);
	ck_assert_int_eq(r.lease_ms, h.lease_ms);
	ck_assert_int_eq(r.owned, h.owned);
	ck_assert_uint_eq(r.digest, h.digest);

	/* the bounds */
	ck_assert_int_eq(
	        cluster_heartbeat_parse(LIT("v1 0000000000000000 100 0 ffffffffffffffff"), &r, &e),
	        0);
	ck_assert_int_eq(r.lease_ms, 100);
	ck_assert_int_eq(r.owned, 0);
	ck_assert_int_eq(cluster_heartbeat_parse(LIT("v1 0000000000000000 3600000 100000000 "
	                                             "0000000000000000"),
	                                         &r, &e),
	                 0);
	ck_assert_int_eq(r.lease_ms, 3600000);
	ck_assert_int_eq(r.owned, 100000000);
	/* n, not a NUL, ends the record */
	ck_assert_int_eq(cluster_heartbeat_parse(out, strlen(out) - 1, &r, &e), -EINVAL);
}
END_TEST

static void heartbeat_bad(const char *s, const char *sub)
{
	struct cluster_heartbeat r;
	struct errmsg e = { .text = "" };

	memset(&r, 0x5a, sizeof(r));
	ck_assert_msg(cluster_heartbeat_parse(s, strlen(s), &r, &e) == -EINVAL, "%s: accepted", s);
	ck_assert_msg(strstr(e.text, sub) != NULL, "%s: \"%s\", want \"%s\"", s, e.text, sub);
	for (size_t i = 0; i < sizeof(r); i++)
		ck_assert_msg(((unsigned char *)&r)[i] == 0x5a, "%s: *ret changed", s);
}

START_TEST(test_heartbeat_refused)
{
	char big[600];

	heartbeat_bad("", "heartbeat: empty field 1");
	heartbeat_bad("v2 00ab00cd00ef0012 10000 12 ea7bd50b73d77326",
	              "heartbeat: version is not v1");
	heartbeat_bad("v1 00ab00cd00ef0012 10000 12", "heartbeat: 4 fields, want 5");
	heartbeat_bad("v1 00ab00cd00ef0012 10000 12 ea7bd50b73d77326 x",
	              "heartbeat: more than 5 fields");
	heartbeat_bad("v1 00ab00cd00ef0012 10000 12 ea7bd50b73d77326 ",
	              "heartbeat: more than 5 fields");
	heartbeat_bad("v1 00ab00cd00ef0012  10000 12 ea7bd50b73d77326", "heartbeat: empty field 3");
	heartbeat_bad("v1\t00ab00cd00ef0012 10000 12 ea7bd50b73d77326", "version is not v1");
	heartbeat_bad("v1 00AB00CD00EF0012 10000 12 ea7bd50b73d77326",
	              "heartbeat: instance is not 16 lower-case hex digits");
	heartbeat_bad("v1 ab00cd00ef0012 10000 12 ea7bd50b73d77326",
	              "heartbeat: instance is not 16 lower-case hex digits");
	heartbeat_bad("v1 00ab00cd00ef0012 99 12 ea7bd50b73d77326",
	              "heartbeat: lease_ms is out of range [100, 3600000]");
	heartbeat_bad("v1 00ab00cd00ef0012 3600001 12 ea7bd50b73d77326",
	              "heartbeat: lease_ms is out of range");
	heartbeat_bad("v1 00ab00cd00ef0012 99999999999999999999 12 ea7bd50b73d77326",
	              "heartbeat: lease_ms is out of range");
	heartbeat_bad("v1 00ab00cd00ef0012 +10000 12 ea7bd50b73d77326",
	              "heartbeat: lease_ms is not a whole number");
	heartbeat_bad("v1 00ab00cd00ef0012 1e4 12 ea7bd50b73d77326",
	              "heartbeat: lease_ms is not a whole number");
	heartbeat_bad("v1 00ab00cd00ef0012 10000 -1 ea7bd50b73d77326",
	              "heartbeat: owned is not a whole number");
	heartbeat_bad("v1 00ab00cd00ef0012 10000 100000001 ea7bd50b73d77326",
	              "heartbeat: owned is out of range [0, 100000000]");
	heartbeat_bad("v1 00ab00cd00ef0012 10000 12 ea7bd50b73d7732",
	              "heartbeat: digest is not 16 lower-case hex digits");
	heartbeat_bad("v1 00ab00cd00ef0012 10000 12 ea7bd50b73d77326\n",
	              "heartbeat: digest is not 16 lower-case hex digits");
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	heartbeat_bad(big, "heartbeat: longer than 512 bytes");
	{
		struct cluster_heartbeat r;
		struct errmsg e;
		ck_assert_int_eq(cluster_heartbeat_parse(LIT("v1 0000000000000000 100 0\0 "
		                                             "ffffffffffffffff"),
		                                         &r, &e),
		                 -EINVAL);
		ck_assert_str_eq(e.text, "heartbeat: holds a NUL byte");
	}
}
END_TEST

START_TEST(test_warmth_round_trip)
{
	struct cluster_warmth w = { .node = "host-a",
		                    .last_refresh = 1767225600.25,
		                    .expires_at = 1767225900.125,
		                    .prefix_tokens = 3057,
		                    .result = WARM_HIT },
	                      r;
	static const enum warm_result results[] = { WARM_HIT, WARM_WRITE, WARM_NONE, WARM_ERROR };
	static const char *const names[] = { "hit", "write", "none", "error" };
	struct errmsg e = { .text = "" };
	char out[256], want[256];

	ck_assert_int_eq(cluster_warmth_format(&w, out, sizeof(out)), (int)strlen(out));
	ck_assert_str_eq(out, "v1 host-a 1767225600.250 1767225900.125 3057 hit");
	for (int i = 0; i < 4; i++) {
		w.result = results[i];
		cluster_warmth_format(&w, out, sizeof(out));
		snprintf(want, sizeof(want), "v1 host-a 1767225600.250 1767225900.125 3057 %s",
		         names[i]);
		ck_assert_str_eq(out, want);
		ck_assert_msg(cluster_warmth_parse(out, strlen(out), &r, &e) == 0, "%s", e.text);
		ck_assert_str_eq(r.node, "host-a");
		ck_assert(r.last_refresh == w.last_refresh);
		ck_assert(r.expires_at == w.expires_at);
		ck_assert_int_eq(r.prefix_tokens, 3057);
		ck_assert_int_eq(r.result, results[i]);
	}
	/* unknown times, the bounds, fewer decimals and leading zeros */
	ck_assert_int_eq(cluster_warmth_parse(LIT("v1 a 0 0.000 0 none"), &r, &e), 0);
	ck_assert(r.last_refresh == 0 && r.expires_at == 0);
	ck_assert_int_eq(
	        cluster_warmth_parse(LIT("v1 a 100000000000 007.5 100000000 write"), &r, &e), 0);
	ck_assert(r.last_refresh == 1e11);
	ck_assert(r.expires_at == 7.5);
	ck_assert_int_eq(r.prefix_tokens, BOUNDS_MAX_TOKENS);
	/* a parsed time formats back to the same text (3 decimals, exact) */
	ck_assert_int_eq(
	        cluster_warmth_parse(LIT("v1 a 1767225600.001 99999999999.999 1 hit"), &r, &e), 0);
	cluster_warmth_format(&r, out, sizeof(out));
	ck_assert_str_eq(out, "v1 a 1767225600.001 99999999999.999 1 hit");
}
END_TEST

static void warmth_bad(const char *s, const char *sub)
{
	struct cluster_warmth r;
	struct errmsg e = { .text = "" };

	memset(&r, 0x5a, sizeof(r));
	ck_assert_msg(cluster_warmth_parse(s, strlen(s), &r, &e) == -EINVAL, "%s: accepted", s);
	ck_assert_msg(strstr(e.text, sub) != NULL, "%s: \"%s\", want \"%s\"", s, e.text, sub);
	for (size_t i = 0; i < sizeof(r); i++)
		ck_assert_msg(((unsigned char *)&r)[i] == 0x5a, "%s: *ret changed", s);
}

START_TEST(test_warmth_refused)
{
	char line[256], n65[66];

	warmth_bad("v0 a 1 2 3 hit", "warmth: version is not v1");
	warmth_bad("v1 a 1 2 3", "warmth: 5 fields, want 6");
	warmth_bad("v1 a 1 2 3 hit x", "warmth: more than 6 fields");
	warmth_bad("v1 a 1 2 3 hit\n", "warmth: result is not one of hit, write, none, error");
	warmth_bad("v1 a 1 2 3 HIT", "warmth: result is not one of");
	warmth_bad("v1 a 1 2 3 miss", "warmth: result is not one of");
	warmth_bad("v1 a:b 1 2 3 hit", "warmth: node is not 1 to 64 characters of [A-Za-z0-9._-]");
	memset(n65, 'n', 65);
	n65[65] = '\0';
	snprintf(line, sizeof(line), "v1 %s 1 2 3 hit", n65);
	warmth_bad(line, "warmth: node is not");
	warmth_bad("v1 a 1.2345 2 3 hit",
	           "warmth: last_refresh is not Unix seconds with at most 3 decimals");
	warmth_bad("v1 a 1. 2 3 hit", "warmth: last_refresh is not Unix seconds");
	warmth_bad("v1 a .5 2 3 hit", "warmth: last_refresh is not Unix seconds");
	warmth_bad("v1 a -1 2 3 hit", "warmth: last_refresh is not Unix seconds");
	warmth_bad("v1 a 1e9 2 3 hit", "warmth: last_refresh is not Unix seconds");
	warmth_bad("v1 a inf 2 3 hit", "warmth: last_refresh is not Unix seconds");
	warmth_bad("v1 a nan 2 3 hit", "warmth: last_refresh is not Unix seconds");
	warmth_bad("v1 a 0x10 2 3 hit", "warmth: last_refresh is not Unix seconds");
	warmth_bad("v1 a 1 100000000000.001 3 hit",
	           "warmth: expires_at is out of range [0, 100000000000]");
	warmth_bad("v1 a 1 2.5.1 3 hit", "warmth: expires_at is not Unix seconds");
	warmth_bad("v1 a 1 2 100000001 hit",
	           "warmth: prefix_tokens is out of range [0, 100000000]");
	warmth_bad("v1 a 1 2 3.0 hit", "warmth: prefix_tokens is not a whole number");
}
END_TEST

START_TEST(test_weight_msg)
{
	char lane[130], n64[65], line[200];
	struct errmsg e = { .text = "" };
	int w = -7;

	ck_assert_int_eq(cluster_weight_msg_parse(LIT("support-bot@green 25"), lane, &w, &e), 0);
	ck_assert_str_eq(lane, "support-bot@green");
	ck_assert_int_eq(w, 25);
	ck_assert_int_eq(cluster_weight_msg_parse(LIT("a@b 0"), lane, &w, &e), 0);
	ck_assert_int_eq(w, 0);
	ck_assert_int_eq(cluster_weight_msg_parse(LIT("a@b 100"), lane, &w, &e), 0);
	ck_assert_int_eq(w, 100);
	/* the longest lane */
	memset(n64, 'x', 64);
	n64[64] = '\0';
	snprintf(line, sizeof(line), "%s@%s 5", n64, n64);
	ck_assert_int_eq(cluster_weight_msg_parse(line, strlen(line), lane, &w, &e), 0);
	ck_assert_uint_eq(strlen(lane), 129);

	static const struct {
		const char *s, *sub;
	} bad[] = {
		{ "a@b", "weight: not GROUP@VERSION WEIGHT" },
		{ "ab 5", "weight: lane is not GROUP@VERSION" },
		{ "@b 5", "weight: lane is not GROUP@VERSION" },
		{ "a@ 5", "weight: lane is not GROUP@VERSION" },
		{ "a@b@c 5", "weight: lane is not GROUP@VERSION" },
		{ "a b@c 5", "weight: lane is not GROUP@VERSION" },
		{ "a@b ", "weight: weight is not a number from 0 to 100" },
		{ "a@b 101", "weight: weight is out of range [0, 100]" },
		{ "a@b 1000", "weight: weight is not a number from 0 to 100" },
		{ "a@b -1", "weight: weight is not a whole number" },
		{ "a@b 5 ", "weight: weight is not a whole number" },
		{ "a@b 5\n", "weight: weight is not a whole number" },
		{ "a@b  5", "weight: weight is not a whole number" },
		{ "a@b x", "weight: weight is not a whole number" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w = -7;
		strcpy(lane, "untouched");
		ck_assert_msg(cluster_weight_msg_parse(bad[i].s, strlen(bad[i].s), lane, &w, &e) ==
		                      -EINVAL,
		              "%s: accepted", bad[i].s);
		ck_assert_msg(strstr(e.text, bad[i].sub) != NULL, "%s: \"%s\", want \"%s\"",
		              bad[i].s, e.text, bad[i].sub);
		ck_assert_int_eq(w, -7);
		ck_assert_str_eq(lane, "untouched");
	}
	snprintf(line, sizeof(line), "%sx@%s 5", n64, n64);
	ck_assert_int_eq(cluster_weight_msg_parse(line, strlen(line), lane, &w, &e), -EINVAL);
	ck_assert_int_eq(cluster_weight_msg_parse(LIT("a@b 5\0"), lane, &w, &e), -EINVAL);
}
END_TEST

static Suite *cluster_proto_suite(void)
{
	Suite *s = suite_create("cluster_proto");
	TCase *tc;

	tc = tcase_create("hashing");
	tcase_add_test(tc, test_entry_id_known);
	tcase_add_test(tc, test_weight_known);
	tcase_add_test(tc, test_digest_known);
	tcase_add_test(tc, test_pick);
	tcase_add_test(tc, test_evenness);
	tcase_add_test(tc, test_minimal_movement);
	suite_add_tcase(s, tc);

	tc = tcase_create("records");
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_eid_parse);
	tcase_add_test(tc, test_heartbeat_round_trip);
	tcase_add_test(tc, test_heartbeat_refused);
	tcase_add_test(tc, test_warmth_round_trip);
	tcase_add_test(tc, test_warmth_refused);
	tcase_add_test(tc, test_weight_msg);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cluster_proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
