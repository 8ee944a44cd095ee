/* jwt: service account key files, RS256 assertions and token answers. */
#include "jwt.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "hex.h"

#define SCAN_MAX_DEPTH 32
#define SCAN_KEY_MAX   64 /* longer keys are none of the fields */

/* ---- a JSON scanner that decodes the wanted strings into the caller's buffer -------- */

enum field_type { F_STR, F_INT };

struct field {
	const char *key;
	enum field_type type;
	bool found;
	const char *str; /* F_STR: in the output buffer, NUL-terminated */
	size_t len;
	int64_t num; /* F_INT */
};

struct scan {
	const char *s;
	size_t len, pos;
	char *out; /* decoded strings of the fields */
	size_t cap, used;
	struct errmsg *e;
	const char *what; /* "service account key file": names the document in errors */
};

static int fail(struct scan *sc, const char *why)
{
	return errmsg_set(sc->e, -EINVAL, "%s: %s at byte %zu", sc->what, why, sc->pos + 1);
}

static void skip_ws(struct scan *sc)
{
	while (sc->pos < sc->len && strchr(" \t\r\n", sc->s[sc->pos]) && sc->s[sc->pos])
		sc->pos++;
}

static int read_u16(struct scan *sc, unsigned *ret)
{
	unsigned v = 0;

	if (sc->len - sc->pos < 4)
		return fail(sc, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		int h = hex_value(sc->s[sc->pos + i]);
		if (h < 0)
			return fail(sc, "bad \\u escape");
		v = v << 4 | (unsigned)h;
	}
	sc->pos += 4;
	*ret = v;
	return 0;
}

/* Puts n bytes into dst (when not NULL) at *dlen, within dcap (the last
 * byte kept for the NUL). */
static int put(struct scan *sc, char *dst, size_t *dlen, size_t dcap, const char *b, size_t n)
{
	if (!dst)
		return 0;
	if (*dlen + n >= dcap)
		return errmsg_set(sc->e, -E2BIG, "%s: a string is too long", sc->what);
	memcpy(dst + *dlen, b, n);
	*dlen += n;
	return 0;
}

/* Reads the string at sc->pos (at its opening quote), decoded into
 * dst[0..dcap) when dst is not NULL (else only checked). */
static int read_string(struct scan *sc, char *dst, size_t dcap, size_t *ret_len)
{
	size_t dlen = 0;
	char u8[4];
	int r;

	if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
		return fail(sc, "a string expected");
	if (dst && dcap == 0)
		return errmsg_set(sc->e, -E2BIG, "%s: a string is too long", sc->what);
	sc->pos++;
	for (;;) {
		unsigned char c;
		if (sc->pos >= sc->len)
			return fail(sc, "unterminated string");
		c = (unsigned char)sc->s[sc->pos++];
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(sc, "a control character in a string");
		if (c != '\\') {
			if ((r = put(sc, dst, &dlen, dcap, (const char *)&c, 1)) < 0)
				return r;
			continue;
		}
		if (sc->pos >= sc->len)
			return fail(sc, "unterminated string");
		c = (unsigned char)sc->s[sc->pos++];
		if (c == 'u') {
			unsigned cp, lo;
			size_t n;
			if ((r = read_u16(sc, &cp)) < 0)
				return r;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(sc, "a lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (sc->len - sc->pos < 2 || sc->s[sc->pos] != '\\' ||
				    sc->s[sc->pos + 1] != 'u')
					return fail(sc, "a lone high surrogate");
				sc->pos += 2;
				if ((r = read_u16(sc, &lo)) < 0)
					return r;
				if (lo < 0xdc00 || lo > 0xdfff)
					return fail(sc, "a high surrogate without its low half");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp < 0x80) {
				u8[0] = (char)cp;
				n = 1;
			} else if (cp < 0x800) {
				u8[0] = (char)(0xc0 | cp >> 6);
				u8[1] = (char)(0x80 | (cp & 0x3f));
				n = 2;
			} else if (cp < 0x10000) {
				u8[0] = (char)(0xe0 | cp >> 12);
				u8[1] = (char)(0x80 | (cp >> 6 & 0x3f));
				u8[2] = (char)(0x80 | (cp & 0x3f));
				n = 3;
			} else {
				u8[0] = (char)(0xf0 | cp >> 18);
				u8[1] = (char)(0x80 | (cp >> 12 & 0x3f));
				u8[2] = (char)(0x80 | (cp >> 6 & 0x3f));
				u8[3] = (char)(0x80 | (cp & 0x3f));
				n = 4;
			}
			if ((r = put(sc, dst, &dlen, dcap, u8, n)) < 0)
				return r;
			continue;
		}
		{
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			const char *k = c ? strchr(from, c) : NULL;
			if (!k)
				return fail(sc, "a bad escape");
			if ((r = put(sc, dst, &dlen, dcap, &to[k - from], 1)) < 0)
				return r;
		}
	}
	if (dst)
		dst[dlen] = '\0';
	if (ret_len)
		*ret_len = dlen;
	return 0;
}

/* A JSON number; *ret gets it when it is an integer of at most 15 digits
 * (else ret_int is false). */
static int read_number(struct scan *sc, int64_t *ret, bool *ret_int)
{
	size_t digits = 0;
	bool neg = false, integer = true;
	int64_t v = 0;

	if (sc->pos < sc->len && sc->s[sc->pos] == '-') {
		neg = true;
		sc->pos++;
	}
	if (sc->pos >= sc->len || sc->s[sc->pos] < '0' || sc->s[sc->pos] > '9')
		return fail(sc, "a bad number");
	if (sc->s[sc->pos] == '0' && sc->pos + 1 < sc->len && sc->s[sc->pos + 1] >= '0' &&
	    sc->s[sc->pos + 1] <= '9')
		return fail(sc, "a number with a leading zero");
	while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9') {
		if (++digits <= 15)
			v = v * 10 + (sc->s[sc->pos] - '0');
		sc->pos++;
	}
	if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
		integer = false;
		sc->pos++;
		if (sc->pos >= sc->len || sc->s[sc->pos] < '0' || sc->s[sc->pos] > '9')
			return fail(sc, "a bad number");
		while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
			sc->pos++;
	}
	if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E')) {
		integer = false;
		sc->pos++;
		if (sc->pos < sc->len && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
			sc->pos++;
		if (sc->pos >= sc->len || sc->s[sc->pos] < '0' || sc->s[sc->pos] > '9')
			return fail(sc, "a bad number");
		while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
			sc->pos++;
	}
	*ret_int = integer && digits <= 15;
	*ret = neg ? -v : v;
	return 0;
}

static int skip_value(struct scan *sc, int depth);

/* Skips an object or array at sc->pos. */
static int skip_container(struct scan *sc, int depth)
{
	char close = sc->s[sc->pos] == '{' ? '}' : ']';
	bool object = close == '}', first = true;
	int r;

	if (depth >= SCAN_MAX_DEPTH)
		return fail(sc, "nested too deep");
	sc->pos++;
	for (;;) {
		skip_ws(sc);
		if (sc->pos < sc->len && sc->s[sc->pos] == close && first) {
			sc->pos++;
			return 0;
		}
		if (object) {
			if ((r = read_string(sc, NULL, 0, NULL)) < 0)
				return r;
			skip_ws(sc);
			if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
				return fail(sc, "':' expected");
			sc->pos++;
		}
		if ((r = skip_value(sc, depth + 1)) < 0)
			return r;
		skip_ws(sc);
		first = false;
		if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
			sc->pos++;
			continue;
		}
		if (sc->pos < sc->len && sc->s[sc->pos] == close) {
			sc->pos++;
			return 0;
		}
		return fail(sc, object ? "',' or '}' expected" : "',' or ']' expected");
	}
}

static int skip_value(struct scan *sc, int depth)
{
	static const char *const words[] = { "true", "false", "null" };
	int64_t n;
	bool integer;

	skip_ws(sc);
	if (sc->pos >= sc->len)
		return fail(sc, "a value expected");
	switch (sc->s[sc->pos]) {
	case '"':
		return read_string(sc, NULL, 0, NULL);
	case '{':
	case '[':
		return skip_container(sc, depth);
	default:
		break;
	}
	for (size_t i = 0; i < 3; i++) {
		size_t wl = strlen(words[i]);
		if (sc->len - sc->pos >= wl && memcmp(sc->s + sc->pos, words[i], wl) == 0) {
			sc->pos += wl;
			return 0;
		}
	}
	return read_number(sc, &n, &integer);
}

/* One member's value: into its field when it is one, else skipped. */
static int read_member(struct scan *sc, struct field *f, size_t nf, const char *key)
{
	struct field *fd = NULL;
	char why[128];
	int r;

	for (size_t i = 0; i < nf && !fd; i++)
		if (strcmp(f[i].key, key) == 0)
			fd = &f[i];
	if (!fd)
		return skip_value(sc, 1);
	if (fd->found) {
		snprintf(why, sizeof(why), "\"%s\" is given twice", fd->key);
		return fail(sc, why);
	}
	skip_ws(sc);
	fd->found = true;
	if (fd->type == F_STR) {
		if (sc->pos >= sc->len || sc->s[sc->pos] != '"') {
			snprintf(why, sizeof(why), "\"%s\" must be a string", fd->key);
			return fail(sc, why);
		}
		fd->str = sc->out + sc->used;
		if ((r = read_string(sc, sc->out + sc->used, sc->cap - sc->used, &fd->len)) < 0)
			return r;
		sc->used += fd->len + 1;
		return 0;
	}
	{
		bool integer = false;
		if (sc->pos >= sc->len || !strchr("-0123456789", sc->s[sc->pos]) ||
		    !sc->s[sc->pos] || (r = read_number(sc, &fd->num, &integer)) < 0 || !integer) {
			snprintf(why, sizeof(why), "\"%s\" must be an integer", fd->key);
			return fail(sc, why);
		}
	}
	return 0;
}

/* Reads the object s[0..len): the fields' values into f (strings decoded
 * into out[0..cap)), everything else checked and skipped. */
static int scan_object(const char *s, size_t len, const char *what, struct field *f, size_t nf,
                       char *out, size_t cap, struct errmsg *e)
{
	struct scan sc = { .s = s, .len = len, .out = out, .cap = cap, .e = e, .what = what };
	char key[SCAN_KEY_MAX + 1];
	bool first = true;
	int r;

	if (cap == 0)
		return errmsg_set(e, -E2BIG, "%s: no room", what);
	skip_ws(&sc);
	if (sc.pos >= sc.len || s[sc.pos] != '{')
		return fail(&sc, "not a JSON object");
	sc.pos++;
	for (;;) {
		size_t klen = 0;
		skip_ws(&sc);
		if (first && sc.pos < sc.len && s[sc.pos] == '}') {
			sc.pos++;
			break;
		}
		/* A key longer than any field's is decoded nowhere: -E2BIG
		 * would reject a valid file, so check it and skip it. */
		{
			size_t at = sc.pos;
			r = read_string(&sc, key, sizeof(key), &klen);
			if (r == -E2BIG) {
				sc.pos = at;
				if ((r = read_string(&sc, NULL, 0, NULL)) < 0)
					return r;
				key[0] = '\0';
			} else if (r < 0) {
				return r;
			} else if (memchr(key, '\0', klen)) {
				key[0] = '\0'; /* "a\u0000b" names no field */
			}
		}
		skip_ws(&sc);
		if (sc.pos >= sc.len || s[sc.pos] != ':')
			return fail(&sc, "':' expected");
		sc.pos++;
		if ((r = read_member(&sc, f, nf, key)) < 0)
			return r;
		skip_ws(&sc);
		first = false;
		if (sc.pos < sc.len && s[sc.pos] == ',') {
			sc.pos++;
			continue;
		}
		if (sc.pos < sc.len && s[sc.pos] == '}') {
			sc.pos++;
			break;
		}
		return fail(&sc, "',' or '}' expected");
	}
	skip_ws(&sc);
	if (sc.pos != sc.len)
		return fail(&sc, "text after the object");
	return 0;
}

/* ---- service account key files -------------------------------------------------------- */

/* https, or plain http to a loopback address (tests). */
static bool token_uri_ok(const char *u)
{
	static const char *const loop[] = { "http://127.0.0.1", "http://localhost",
		                            "http://[::1]" };

	if (strncmp(u, "https://", 8) == 0 && u[8] && u[8] != '/')
		return !strpbrk(u, " \t\r\n\"\\");
	for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
		size_t n = strlen(loop[i]);
		if (strncmp(u, loop[i], n) == 0 && (u[n] == ':' || u[n] == '/' || !u[n]))
			return !strpbrk(u, " \t\r\n\"\\@");
	}
	return false;
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return n > 0;
}

int jwt_sa_parse(const char *json, size_t len, char *out, size_t cap, struct jwt_sa *ret,
                 struct errmsg *e)
{
	struct field f[] = {
		{ .key = "type", .type = F_STR },        { .key = "client_email", .type = F_STR },
		{ .key = "private_key", .type = F_STR }, { .key = "private_key_id", .type = F_STR },
		{ .key = "token_uri", .type = F_STR },
	};
	const char *type, *email, *uri;
	int r = scan_object(json, len, "service account key file", f, 5, out, cap, e);

	if (r < 0)
		return r;
	type = f[0].found ? f[0].str : NULL;
	if (type && strcmp(type, "service_account") != 0)
		return errmsg_set(
		        e, -EINVAL,
		        "the key file is of type \"%.40s\", not \"service_account\" (warmd "
		        "signs in as a service account only)",
		        type);
	if (!f[1].found || !printable(f[1].str, f[1].len) || !strchr(f[1].str, '@') ||
	    f[1].len > 256)
		return errmsg_set(e, -EINVAL,
		                  "the key file has no valid \"client_email\" (the service "
		                  "account's address)");
	email = f[1].str;
	if (!f[2].found || f[2].len == 0)
		return errmsg_set(e, -EINVAL, "the key file has no \"private_key\"");
	if (f[3].found && (!printable(f[3].str, f[3].len) || f[3].len > 128))
		return errmsg_set(e, -EINVAL, "the key file's \"private_key_id\" is not an id");
	uri = f[4].found ? f[4].str : JWT_DEFAULT_TOKEN;
	if (strlen(uri) > 512 || !token_uri_ok(uri))
		return errmsg_set(e, -EINVAL,
		                  "the key file's \"token_uri\" must be an https URL (plain http "
		                  "only to a loopback address)");
	*ret = (struct jwt_sa){ .client_email = email,
		                .private_key = f[2].str,
		                .private_key_len = f[2].len,
		                .private_key_id = f[3].found ? f[3].str : NULL,
		                .token_uri = uri };
	return 0;
}

/* An encrypted key would make OpenSSL ask a terminal: say no instead. */
static int no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return 0;
}

int jwt_key_from_pem(const char *pem, size_t len, EVP_PKEY **ret, struct errmsg *e)
{
	BIO *bio;
	EVP_PKEY *k;

	if (len > JWT_SA_MAX_BYTES)
		return errmsg_set(e, -EINVAL, "the private key is too long");
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return errmsg_set(e, -ENOMEM, "out of memory");
	k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase_cb, NULL);
	BIO_free(bio);
	ERR_clear_error(); /* nothing of the key in OpenSSL's error queue */
	if (!k)
		return errmsg_set(e, -EINVAL,
		                  "the key file's \"private_key\" is not a PEM private key (an "
		                  "unencrypted \"-----BEGIN PRIVATE KEY-----\" block)");
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		return errmsg_set(e, -EINVAL,
		                  "the key file's \"private_key\" is not an RSA key (RS256 needs "
		                  "one)");
	}
	*ret = k;
	return 0;
}

/* ---- the assertion -------------------------------------------------------------------- */

long jwt_b64url(const void *in, size_t len, char *out, size_t cap)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = in;
	size_t n = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0), o = 0, i = 0;

	if (n + 1 > cap)
		return -E2BIG;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = tab[v >> 18];
		out[o++] = tab[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = tab[v >> 18];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
	}
	out[o] = '\0';
	return (long)o;
}

/* s as a JSON string (the claims are printable ASCII; escaped anyway). */
static void put_json_string(struct buf *b, const char *s)
{
	buf_puts(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			buf_printf(b, "\\u%04x", c);
		else
			buf_append(b, s, 1);
	}
	buf_puts(b, "\"");
}

/* Appends the base64url of b's bytes to out at *pos. */
static int put_b64(const struct buf *b, char *out, size_t cap, size_t *pos)
{
	long n = jwt_b64url(b->data, b->len, out + *pos, cap - *pos);

	if (n < 0)
		return (int)n;
	*pos += (size_t)n;
	return 0;
}

long jwt_sign(EVP_PKEY *key, const struct jwt_claims *c, char *out, size_t cap, struct errmsg *e)
{
	struct buf hdr = BUF_INIT, claims = BUF_INIT;
	unsigned char sig[1024];
	size_t pos = 0, siglen = sizeof(sig);
	EVP_MD_CTX *md = NULL;
	long r;

	buf_puts(&hdr, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
	if (c->kid) {
		buf_puts(&hdr, ",\"kid\":");
		put_json_string(&hdr, c->kid);
	}
	buf_puts(&hdr, "}");
	buf_puts(&claims, "{\"iss\":");
	put_json_string(&claims, c->iss);
	buf_puts(&claims, ",\"scope\":");
	put_json_string(&claims, c->scope);
	buf_puts(&claims, ",\"aud\":");
	put_json_string(&claims, c->aud);
	buf_printf(&claims, ",\"iat\":%" PRId64 ",\"exp\":%" PRId64 "}", c->iat, c->exp);
	if ((r = put_b64(&hdr, out, cap, &pos)) < 0 || pos + 2 > cap)
		goto too_big;
	out[pos++] = '.';
	if ((r = put_b64(&claims, out, cap, &pos)) < 0)
		goto too_big;
	if (EVP_PKEY_get_size(key) > (int)sizeof(sig) || !(md = EVP_MD_CTX_new()) ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out, pos) != 1) {
		ERR_clear_error();
		r = errmsg_set(e, -EINVAL, "cannot sign the assertion with the private key");
		goto out;
	}
	if (pos + 2 > cap)
		goto too_big;
	out[pos++] = '.';
	{
		long n = jwt_b64url(sig, siglen, out + pos, cap - pos);
		if (n < 0)
			goto too_big;
		pos += (size_t)n;
	}
	r = (long)pos;
	goto out;
too_big:
	r = errmsg_set(e, -E2BIG, "the assertion does not fit in %zu bytes", cap);
out:
	if (r < 0 && cap)
		explicit_bzero(out, cap);
	explicit_bzero(sig, sizeof(sig));
	EVP_MD_CTX_free(md);
	buf_free(&hdr);
	buf_free(&claims);
	return r;
}

/* ---- the token endpoint's answer ------------------------------------------------------- */

int jwt_token_parse(const char *json, size_t len, char *out, size_t cap, struct jwt_token *ret,
                    struct errmsg *e)
{
	struct field f[] = {
		{ .key = "access_token", .type = F_STR },
		{ .key = "expires_in", .type = F_INT },
		{ .key = "token_type", .type = F_STR },
		{ .key = "error", .type = F_STR },
		{ .key = "error_description", .type = F_STR },
	};
	int r = scan_object(json, len, "token answer", f, 5, out, cap, e);

	if (r < 0)
		return -EPROTO;
	memset(ret, 0, sizeof(*ret));
	if (f[3].found) {
		ret->error = f[3].str;
		ret->error_description = f[4].found ? f[4].str : NULL;
		return 0;
	}
	if (!f[0].found || !printable(f[0].str, f[0].len))
		return errmsg_set(e, -EPROTO, "token answer: no printable \"access_token\"");
	if (f[2].found && strcasecmp(f[2].str, "Bearer") != 0)
		return errmsg_set(e, -EPROTO, "token answer: token_type \"%.32s\" is not Bearer",
		                  f[2].str);
	if (!f[1].found || f[1].num <= 0 || f[1].num > 86400 * 366)
		return errmsg_set(e, -EPROTO, "token answer: no positive \"expires_in\"");
	ret->access_token = f[0].str;
	ret->access_token_len = f[0].len;
	ret->expires_in = f[1].num;
	return 0;
}
