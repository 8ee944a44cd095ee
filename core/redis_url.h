/* redis_url: where cluster mode's Redis is, as warmd.conf writes it.
 *
 * "redis://[USER@]HOST[:PORT][/DB]" or "unix:///ABSOLUTE/PATH[?db=N]". A
 * password in the URL is refused (the URL is shown in status and logs; the
 * password goes in cluster.password_file), and so is "rediss://" (Debian
 * 12's hiredis 0.14 has no TLS). Pure. */
#ifndef WARMD_REDIS_URL_H
#define WARMD_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "errmsg.h"

struct redis_addr {
	bool unix_socket;
	char host[256]; /* host name or address (IPv6 without brackets), or the socket path */
	int port;       /* 1..65535 (6379 when not given); 0 for a socket */
	long db;        /* 0..100000 */
	char user[65];  /* ACL user from USER@, or "" */
};

/* Parses s into *ret: the scheme in any case; "redis://HOST/" is database
 * 0; no percent-encoding; at most 1024 characters, printable ASCII, no
 * spaces. Returns 0, or -EINVAL with e saying what is wrong (never quoting
 * the user part, a port or a query, where a password could be); *ret is
 * untouched then. */
int redis_url_parse(const char *s, struct redis_addr *ret, struct errmsg *e);
/* Writes a as a URL into out (size n): what status and logs show, with
 * the port and database always written for redis:// and ?db=N only when
 * not 0 for unix://; it parses back to a. Returns the length it needed
 * (like snprintf). */
int redis_url_format(const struct redis_addr *a, char *out, size_t n);

#endif
