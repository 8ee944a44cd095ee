/* redis_url: reads and writes the URL of cluster mode's Redis. Strict: what
 * is not exactly one of the two forms is refused with the reason, and no
 * message quotes the user part of the URL or a query, where a password
 * could be. */
#include "redis_url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define REDIS_URL_MAX 1024 /* longer than any host or socket path allows */
#define REDIS_PORT    6379
#define REDIS_DB_MAX  100000L

/* sun_path holds the path and its NUL. */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* s[0..n) as a number of digits only (no sign, no space), within lo..hi. */
static bool digits_in_range(const char *s, size_t n, long lo, long hi, long *ret)
{
	long v = 0;

	if (n == 0 || n > 9)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return false;
	*ret = v;
	return true;
}

/* Does the text after the authority or path ask for a password anyway
 * (redis-py's ?password=)? Then say where the password goes. */
static bool asks_password(const char *s)
{
	return strstr(s, "password=") || strstr(s, "pass=");
}

static int refuse_password(struct errmsg *e)
{
	return errmsg_set(e, -EINVAL, "put the password in password_file, not in the URL");
}

/* "?db=N" or nothing, after a socket path. */
static int parse_query(const char *q, long *db, struct errmsg *e)
{
	if (!*q)
		return 0;
	if (asks_password(q))
		return refuse_password(e);
	if (strncmp(q, "?db=", 4) != 0)
		return errmsg_set(
		        e, -EINVAL,
		        "the only query a unix:// URL takes is ?db=N (a database number)");
	if (!digits_in_range(q + 4, strlen(q + 4), 0, REDIS_DB_MAX, db))
		return errmsg_set(e, -EINVAL, "?db= must be a database number from 0 to %ld",
		                  REDIS_DB_MAX);
	return 0;
}

static int parse_unix(const char *p, struct redis_addr *a, struct errmsg *e)
{
	size_t n = strcspn(p, "?");

	if (p[0] != '/')
		return errmsg_set(e, -EINVAL,
		                  "the socket path must be absolute: unix:///run/redis/redis.sock");
	if (n > SOCKET_PATH_MAX)
		return errmsg_set(
		        e, -EINVAL,
		        "the socket path is longer than %zu characters (what a Unix socket "
		        "address holds)",
		        SOCKET_PATH_MAX);
	if (parse_query(p + n, &a->db, e) < 0)
		return -EINVAL;
	memcpy(a->host, p, n);
	a->host[n] = '\0';
	a->unix_socket = true;
	a->port = 0;
	return 0;
}

/* USER of USER@: what the URL shows in status, so never quoted. */
static int parse_user(const char *u, size_t n, struct redis_addr *a, struct errmsg *e)
{
	if (memchr(u, ':', n))
		return refuse_password(e);
	if (n == 0)
		return errmsg_set(e, -EINVAL, "nothing before '@' (write USER@HOST, or no '@')");
	if (n >= sizeof(a->user))
		return errmsg_set(e, -EINVAL,
		                  "the user name before '@' is longer than %zu characters",
		                  sizeof(a->user) - 1);
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(u[i]) && u[i] != '.' && u[i] != '_' && u[i] != '-')
			return errmsg_set(e, -EINVAL,
			                  "the user name before '@' may hold only [A-Za-z0-9._-] "
			                  "(percent-encoding is not supported)");
	memcpy(a->user, u, n);
	a->user[n] = '\0';
	return 0;
}

/* HOST or [IPV6], then :PORT or nothing: h[0..n). */
static int parse_hostport(const char *h, size_t n, struct redis_addr *a, struct errmsg *e)
{
	const char *host = h, *port = NULL, *end = h + n;
	size_t hl;

	if (n && h[0] == '[') {
		const char *close = memchr(h, ']', n);
		struct in6_addr six;
		if (!close)
			return errmsg_set(e, -EINVAL, "'[' without ']' around an IPv6 address");
		host = h + 1;
		hl = (size_t)(close - host);
		if (hl == 0 || hl >= 64)
			return errmsg_set(e, -EINVAL, "not an IPv6 address between '[' and ']'");
		memcpy(a->host, host, hl);
		a->host[hl] = '\0';
		if (inet_pton(AF_INET6, a->host, &six) != 1)
			return errmsg_set(e, -EINVAL, "\"%s\" is not an IPv6 address", a->host);
		if (close + 1 < end && close[1] != ':')
			return errmsg_set(e, -EINVAL,
			                  "unexpected text after ']': write [IPV6]:PORT");
		if (close + 1 < end)
			port = close + 2;
	} else {
		const char *colon = memchr(h, ':', n);
		hl = colon ? (size_t)(colon - h) : n;
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return errmsg_set(e, -EINVAL,
			                  "an IPv6 address must be written in brackets: "
			                  "redis://[::1]:6379");
		if (hl == 0)
			return errmsg_set(e, -EINVAL, "no host: write redis://HOST[:PORT][/DB]");
		if (hl >= sizeof(a->host))
			return errmsg_set(e, -EINVAL, "the host name is longer than %zu characters",
			                  sizeof(a->host) - 1);
		for (size_t i = 0; i < hl; i++)
			if (!is_alnum(h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
				return errmsg_set(
				        e, -EINVAL,
				        "the host may hold only letters, digits, '.', '-' "
				        "and '_' (or be [IPV6])");
		memcpy(a->host, h, hl);
		a->host[hl] = '\0';
		if (colon)
			port = colon + 1;
	}
	a->port = REDIS_PORT;
	if (port) {
		long p;
		size_t pl = (size_t)(end - port);
		/* not quoted: a password put where the port goes is still one */
		if (!digits_in_range(port, pl, 1, 65535, &p))
			return errmsg_set(e, -EINVAL, "the port is not a number from 1 to 65535");
		a->port = (int)p;
	}
	return 0;
}

/* p: after "redis://" in url. */
static int parse_tcp(const char *url, const char *p, struct redis_addr *a, struct errmsg *e)
{
	size_t n = strcspn(p, "/?#");
	const char *at = NULL, *rest = p + n, *last_at = strrchr(p, '@');

	/* The last '@' ends the user part: a password may hold '@' too. */
	for (size_t i = 0; i < n; i++)
		if (p[i] == '@')
			at = p + i;
	/* USER:PASSWORD@, even when the password holds a '/' that ended the
	 * authority early: a redis:// URL has no other use for ':' before '@' */
	if (asks_password(rest) || (last_at && memchr(p, ':', (size_t)(last_at - p))))
		return refuse_password(e);
	if (at && parse_user(p, (size_t)(at - p), a, e) < 0)
		return -EINVAL;
	if (parse_hostport(at ? at + 1 : p, at ? (size_t)(p + n - at - 1) : n, a, e) < 0)
		return -EINVAL;
	a->db = 0;
	if (*rest == '/' && rest[1]) {
		size_t dl = strspn(rest + 1, "0123456789");
		if (!digits_in_range(rest + 1, dl, 0, REDIS_DB_MAX, &a->db))
			return errmsg_set(e, -EINVAL,
			                  "the path must be a database number from 0 to %ld: "
			                  "redis://HOST:PORT/DB",
			                  REDIS_DB_MAX);
		rest += 1 + dl;
	} else if (*rest == '/') {
		rest++;
	}
	/* not quoted: a query may carry a token under any name */
	if (*rest)
		return errmsg_set(e, -EINVAL,
		                  "unexpected text at offset %zu (a redis:// URL ends with the "
		                  "database number: redis://HOST[:PORT][/DB])",
		                  (size_t)(rest - url));
	return 0;
}

int redis_url_parse(const char *s, struct redis_addr *ret, struct errmsg *e)
{
	struct redis_addr a = { 0 };
	size_t n = strlen(s);
	int rc;

	if (n == 0)
		return errmsg_set(e, -EINVAL,
		                  "empty: write redis://HOST[:PORT][/DB] or "
		                  "unix:///PATH[?db=N]");
	if (n > REDIS_URL_MAX)
		return errmsg_set(e, -EINVAL, "longer than %d characters", REDIS_URL_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return errmsg_set(e, -EINVAL,
			                  "holds a space, a control or a non-ASCII character at "
			                  "offset %zu",
			                  i);
	if (strncasecmp(s, "redis://", 8) == 0)
		rc = parse_tcp(s, s + 8, &a, e);
	else if (strncasecmp(s, "unix://", 7) == 0)
		rc = parse_unix(s + 7, &a, e);
	else if (strncasecmp(s, "rediss://", 9) == 0)
		rc = errmsg_set(e, -EINVAL,
		                "rediss:// (TLS) is not supported: Debian 12's hiredis 0.14 has no "
		                "TLS; reach Redis over a unix socket or a TLS tunnel (stunnel)");
	else
		rc = errmsg_set(e, -EINVAL,
		                "must start with redis:// (redis://HOST[:PORT][/DB]) or unix:// "
		                "(unix:///PATH[?db=N])");
	if (rc < 0)
		return rc;
	*ret = a;
	return 0;
}

int redis_url_format(const struct redis_addr *a, char *out, size_t n)
{
	bool six = strchr(a->host, ':') != NULL;

	if (a->unix_socket)
		return a->db ? snprintf(out, n, "unix://%s?db=%ld", a->host, a->db)
		             : snprintf(out, n, "unix://%s", a->host);
	return snprintf(out, n, "redis://%s%s%s%s%s:%d/%ld", a->user, a->user[0] ? "@" : "",
	                six ? "[" : "", a->host, six ? "]" : "", a->port, a->db);
}
