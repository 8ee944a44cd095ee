/* adapterutil: what the adapter tests (check_adapter_<kind>.c) share.
 * Templates are written with ' for " (see Q()) so they stay readable;
 * they are built through template_from_bytes() for a target and provider
 * of the test's own, the warm body compared byte for byte (with a body
 * written in the test, or with a fixture's .warm.json), and an adapter's
 * parse_ok() and parse_error() checked on answers.
 *
 * Check reports the line of the assertion that failed, which is in here:
 * every check takes the caller's line (__LINE__) and names it, with the
 * template, fixture or body it was about, in its message. */
#ifndef WARMD_ADAPTERUTIL_H
#define WARMD_ADAPTERUTIL_H

#include <stdint.h>

#include "adapter.h"
#include "config.h"
#include "template.h"

/* Returns s with every ' turned into " (none of the templates contains an
 * apostrophe); kept until au_teardown(). */
const char *Q(const char *s);
/* Keeps a copy of s ("(null)" for NULL) until au_teardown(): for messages
 * about objects freed before the test fails. */
const char *au_keep(const char *s);
/* Frees what Q() and au_keep() returned: the test case's checked teardown
 * (and a test's own, between cases that use many strings). */
void au_teardown(void);

/* Builds tq (written with ') for ct and cp; fails unless it builds. */
struct tmpl *au_build_ok(const struct cfg_target *ct, const struct cfg_provider *cp, const char *tq,
                         int line);
/* Builds tq and fails unless its warm body is exactly wq (written with '),
 * nothing said unwarmable; returns the template. */
struct tmpl *au_expect_warm(const struct cfg_target *ct, const struct cfg_provider *cp,
                            const char *tq, const char *wq, int line);
/* Fails unless building tq fails with want_r, leaves the template pointer
 * untouched and says needle. */
void au_expect_err(const struct cfg_target *ct, const struct cfg_provider *cp, const char *tq,
                   int want_r, const char *needle, int line);
/* Fails unless t's notes say needle. */
void au_expect_notes(const struct tmpl *t, const char *needle, int line);
/* Builds the fixture <name>.json as it is on disk and fails unless its warm
 * body is <name>.warm.json (without its final newlines) byte for byte;
 * returns the template. */
struct tmpl *au_expect_fixture_warm(const struct cfg_target *ct, const struct cfg_provider *cp,
                                    const char *name, int line);

/* Fails unless ops->parse_ok(body) reads the answer as res with these
 * token counts: read from the cache, written to it, input, output. */
void au_usage_ok(const struct adapter_ops *ops, const char *body, enum warm_result res, int64_t rd,
                 int64_t wr, int64_t in, int64_t out, int line);
/* Fails unless ops->parse_ok(body) refuses it (-EPROTO) saying needle. */
void au_usage_err(const struct adapter_ops *ops, const char *body, const char *needle, int line);
/* Fails unless ops->parse_error(status, body) is exactly want. */
void au_error_text(const struct adapter_ops *ops, long status, const char *body, const char *want,
                   int line);

#endif
