/* fuzz_jwt: the service account key file (jwt_sa_parse) and the token
 * endpoint's answer (jwt_token_parse), read by core/jwt.c's own scanner.
 *
 * Whoever can write the key file, or answers on its token_uri (the
 * endpoint, a proxy, a misconfigured URI), controls these bytes. The
 * strings go into a fixed buffer, as into warmd's secret memory: a write
 * past it would be a write past a locked mapping. */
#include "fuzz.h"
#include "jwt.h"

#define OUT 4096

static void check_str(const char *s, size_t len, const char *out, bool printable)
{
	if (s < out || s + len >= out + OUT || s[len] != '\0')
		abort();
	for (size_t i = 0; printable && i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = malloc(OUT); /* exactly: ASan sees a write past it */
	struct jwt_sa sa;
	struct jwt_token t;
	struct errmsg e;

	if (!out)
		abort();
	e.text[0] = '\0';
	if (jwt_sa_parse((const char *)data, size, out, OUT, &sa, &e) == 0) {
		check_str(sa.client_email, strlen(sa.client_email), out, true);
		check_str(sa.private_key, sa.private_key_len, out, false);
		if (sa.private_key_id)
			check_str(sa.private_key_id, strlen(sa.private_key_id), out, true);
		/* token_uri: https, or http to loopback, nothing a header could break on */
		if (strncmp(sa.token_uri, "https://", 8) != 0 &&
		    strncmp(sa.token_uri, "http://", 7) != 0)
			abort();
		if (strpbrk(sa.token_uri, " \r\n"))
			abort();
	} else if (!e.text[0]) {
		abort(); /* a refusal says why */
	}
	e.text[0] = '\0';
	if (jwt_token_parse((const char *)data, size, out, OUT, &t, &e) == 0) {
		if (t.access_token) {
			check_str(t.access_token, t.access_token_len, out, true);
			if (t.expires_in <= 0 || t.error)
				abort();
		} else if (!t.error) {
			abort();
		}
	} else if (!e.text[0]) {
		abort();
	}
	free(out);
	return 0;
}
