/* adapterutil: what the adapter tests share (see adapterutil.h). */
#include "adapterutil.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define POOL_MAX 64

static char *pool[POOL_MAX];
static int npool;

/* Where a failed build's template pointer points: it must stay there. */
static struct tmpl untouched;

static const char *pool_add(char *d)
{
	ck_assert_int_lt(npool, POOL_MAX);
	pool[npool++] = d;
	return d;
}

const char *Q(const char *s)
{
	char *d = strdup(s);

	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return pool_add(d);
}

const char *au_keep(const char *s)
{
	return pool_add(strdup(s ? s : "(null)"));
}

void au_teardown(void)
{
	while (npool > 0)
		free(pool[--npool]);
}

struct tmpl *au_build_ok(const struct cfg_target *ct, const struct cfg_provider *cp, const char *tq,
                         int line)
{
	const char *json = Q(tq);
	struct tmpl *t = NULL;
	struct errmsg e = { { 0 } };
	int r = template_from_bytes(json, strlen(json), ct, cp, &t, &e);

	ck_assert_msg(r == 0, "line %d: template_from_bytes(%s) = %d: %s", line, json, r, e.text);
	ck_assert_msg(t != NULL, "line %d: no template", line);
	return t;
}

struct tmpl *au_expect_warm(const struct cfg_target *ct, const struct cfg_provider *cp,
                            const char *tq, const char *wq, int line)
{
	struct tmpl *t = au_build_ok(ct, cp, tq, line);
	const char *want = Q(wq);

	if (t->unwarmable[0] || !t->body || strcmp(t->body, want) != 0 ||
	    t->body_len != strlen(want)) {
		/* Free first, so that a failure leaks nothing under valgrind. */
		const char *got = au_keep(t->body), *why = au_keep(t->unwarmable);
		size_t got_len = t->body_len;
		tmpl_unref(t);
		ck_abort_msg("line %d: warm body (len %zu, unwarmable \"%s\")\n got: %s\nwant: %s",
		             line, got_len, why, got, want);
	}
	return t;
}

void au_expect_err(const struct cfg_target *ct, const struct cfg_provider *cp, const char *tq,
                   int want_r, const char *needle, int line)
{
	const char *json = Q(tq);
	struct tmpl *t = &untouched;
	struct errmsg e = { { 0 } };
	int r = template_from_bytes(json, strlen(json), ct, cp, &t, &e);

	if (r == 0 && t != &untouched)
		tmpl_unref(t);
	ck_assert_msg(r == want_r, "line %d: template_from_bytes(%s) = %d (%s), want %d", line,
	              json, r, e.text, want_r);
	ck_assert_msg(t == &untouched, "line %d: *ret changed on failure", line);
	ck_assert_msg(strstr(e.text, needle) != NULL, "line %d: error \"%s\" lacks \"%s\"", line,
	              e.text, needle);
}

void au_expect_notes(const struct tmpl *t, const char *needle, int line)
{
	ck_assert_msg(strstr(t->notes, needle) != NULL, "line %d: notes \"%s\" lack \"%s\"", line,
	              t->notes, needle);
}

struct tmpl *au_expect_fixture_warm(const struct cfg_target *ct, const struct cfg_provider *cp,
                                    const char *name, int line)
{
	char path[256];
	size_t tlen, wlen;
	char *tj, *want;
	struct tmpl *t = NULL;
	struct errmsg e = { { 0 } };
	int r;

	snprintf(path, sizeof(path), "%s.json", name);
	tj = tu_fixture(path, &tlen);
	snprintf(path, sizeof(path), "%s.warm.json", name);
	want = tu_fixture_chomped(path, &wlen);
	r = template_from_bytes(tj, tlen, ct, cp, &t, &e);
	free(tj);
	if (r != 0) {
		free(want);
		ck_abort_msg("line %d: %s.json: template_from_bytes = %d: %s", line, name, r,
		             e.text);
	}
	if (!t->body || strcmp(t->body, want) != 0 || t->body_len != wlen) {
		/* Free first, so that a failure leaks nothing under valgrind. */
		const char *got = au_keep(t->body), *why = au_keep(t->unwarmable);
		const char *w = au_keep(want);
		size_t got_len = t->body_len;
		tmpl_unref(t);
		free(want);
		ck_abort_msg("line %d: %s.warm.json: warm body (len %zu, want %zu, unwarmable "
		             "\"%s\")\n got: %s\nwant: %s",
		             line, name, got_len, wlen, why, got, w);
	}
	free(want);
	return t;
}

void au_usage_ok(const struct adapter_ops *ops, const char *body, enum warm_result res, int64_t rd,
                 int64_t wr, int64_t in, int64_t out, int line)
{
	struct warm_usage u;
	struct errmsg e = { { 0 } };
	int r = ops->parse_ok(body, strlen(body), &u, &e);

	ck_assert_msg(r == 0, "line %d: parse_ok(%s) = %d: %s", line, body, r, e.text);
	ck_assert_msg(u.result == res, "line %d: result %s, want %s", line,
	              warm_result_name(u.result), warm_result_name(res));
	ck_assert_msg(u.read == rd && u.write == wr && u.input == in && u.output == out,
	              "line %d: read %lld write %lld input %lld output %lld", line,
	              (long long)u.read, (long long)u.write, (long long)u.input,
	              (long long)u.output);
}

void au_usage_err(const struct adapter_ops *ops, const char *body, const char *needle, int line)
{
	struct warm_usage u;
	struct errmsg e = { { 0 } };
	int r = ops->parse_ok(body, strlen(body), &u, &e);

	ck_assert_msg(r == -EPROTO, "line %d: parse_ok(%s) = %d, want -EPROTO", line, body, r);
	ck_assert_msg(strstr(e.text, needle) != NULL, "line %d: error \"%s\" lacks \"%s\"", line,
	              e.text, needle);
}

void au_error_text(const struct adapter_ops *ops, long status, const char *body, const char *want,
                   int line)
{
	struct errmsg e = { { 0 } };

	ops->parse_error(status, body, strlen(body), &e);
	ck_assert_msg(strcmp(e.text, want) == 0, "line %d: \"%s\", want \"%s\"", line, e.text,
	              want);
}
