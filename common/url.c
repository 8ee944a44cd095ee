/* url: the userinfo of a URL, which may hold a secret. */
#include "url.h"

#include <string.h>

#include "buf.h"
#include "hex.h"
#include "xalloc.h"

#define URL_MASK "***"

bool url_userinfo(const char *url, size_t *ret_off, size_t *ret_len)
{
	const char *scheme = strstr(url, "://"), *auth = url, *at;
	size_t n;

	/* "://" inside a path or query is not the scheme's */
	if (scheme && scheme - url < (ptrdiff_t)strcspn(url, "/?#"))
		auth = scheme + 3;
	n = strcspn(auth, "/?#");
	at = memrchr(auth, '@', n);
	if (!at)
		return false;
	*ret_off = (size_t)(auth - url);
	*ret_len = (size_t)(at - auth);
	return true;
}

bool url_secret(const char *url, const char **ret, size_t *ret_len)
{
	const char *colon;
	size_t off, len;

	if (!url_userinfo(url, &off, &len))
		return false;
	colon = memchr(url + off, ':', len);
	if (colon) {
		len -= (size_t)(colon + 1 - (url + off));
		off = (size_t)(colon + 1 - url);
	}
	if (len == 0)
		return false;
	*ret = url + off;
	*ret_len = len;
	return true;
}

void url_escape(struct buf *out, const char *s, size_t n, const char *keep)
{
	static const char up[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3] = { '%', up[c >> 4], up[c & 15] };
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || (keep && c && strchr(keep, c)))
			buf_append(out, &s[i], 1);
		else
			buf_append(out, esc, 3);
	}
}

size_t url_unescape(const char *s, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n && (hi = hex_value(s[i + 1])) >= 0 &&
		    (lo = hex_value(s[i + 2])) >= 0) {
			out[k++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[k++] = s[i];
		}
	}
	return k;
}

char *url_redact(const char *url)
{
	size_t off, len;
	char *out;

	if (!url)
		return NULL;
	if (!url_userinfo(url, &off, &len))
		return xstrdup(url);
	out = xmalloc(strlen(url) - len + sizeof(URL_MASK));
	memcpy(out, url, off);
	memcpy(out + off, URL_MASK, sizeof(URL_MASK) - 1);
	strcpy(out + off + sizeof(URL_MASK) - 1, url + off + len);
	return out;
}
