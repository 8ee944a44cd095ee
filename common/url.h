/* url: percent-encoding, and the userinfo of a URL
 * ("https://user:password@host/"), which may hold a secret: where it is,
 * which part of it is the secret, and the URL as an operator may see it.
 * Every place that shows a configured URL (base_url, proxy) shows
 * url_redact() of it. Pure. */
#ifndef WARMD_URL_H
#define WARMD_URL_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* The userinfo of url: in its authority (after "scheme://", or from the
 * start when there is no scheme, up to the first '/', '?' or '#'), what
 * comes before the last '@'. Returns false when there is none; else true
 * with its offset and length (without the '@'). */
bool url_userinfo(const char *url, size_t *ret_off, size_t *ret_len);

/* The secret of url's userinfo: the password (after the first ':'), or the
 * whole userinfo when it has no ':' (a token where the user goes). Returns
 * false when there is none, else true with where it starts in url and its
 * length. */
bool url_secret(const char *url, const char **ret, size_t *ret_len);

/* Appends s[0..n) to out percent-encoded (upper-case hex): every byte
 * but RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~) and those in
 * keep (NULL: none), so what is encoded stays one path segment or one
 * query value whatever it holds. */
void url_escape(struct buf *out, const char *s, size_t n, const char *keep);

/* Decodes the %XX escapes of s[0..n) into out (at least n bytes; not
 * NUL-terminated), as curl does before it sends a userinfo: a '%' not
 * followed by two hex digits stays as it is. Returns the length. */
size_t url_unescape(const char *s, size_t n, char *out);

/* url with its userinfo, when it has one, replaced by three asterisks
 * (what follows "https:" + "//" is then "***@host/v1"): a new string the
 * caller frees; NULL for NULL. */
char *url_redact(const char *url);

#endif
