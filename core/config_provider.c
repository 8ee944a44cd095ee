/* config_provider: the providers = ( ... ) list: each provider's kind,
 * endpoint, credentials, limits and extra headers. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_keys.h"
#include "config_sections.h"
#include "url.h"
#include "xalloc.h"

static const char *const kind_names[] = { "anthropic", "openai", "openai-compatible",
	                                  "bedrock",   "vertex", "azure-openai",
	                                  "gemini",    NULL };

const char *provider_kind_name(enum provider_kind k)
{
	return kind_names[k];
}

/* Is the URL's host a loopback address? Plain http is allowed only there. */
static bool url_host_is_loopback(const char *url)
{
	const char *h = strstr(url, "://");
	struct in_addr a4;
	char host[256];
	size_t n, off, len;

	if (!h)
		return false;
	h += 3;
	if (url_userinfo(url, &off, &len))
		h = url + off + len + 1; /* the host is what follows the userinfo */
	if (*h == '[')
		return strncmp(h, "[::1]", 5) == 0 && (h[5] == '\0' || strchr(":/?#", h[5]));
	n = strcspn(h, ":/?#");
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcmp(host, "localhost") == 0)
		return true;
	/* a dotted-quad 127.0.0.0/8 address, not a name starting with "127." */
	return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

static int check_base_url(const struct loader *ld, config_setting_t *s, struct cfg_provider *p)
{
	size_t n;

	if (strncmp(p->base_url, "https://", 8) != 0 &&
	    !(strncmp(p->base_url, "http://", 7) == 0 && url_host_is_loopback(p->base_url))) {
		char *shown = url_redact(p->base_url); /* a password may be in it */
		err_at(ld, s,
		       "provider \"%s\": base_url \"%s\" must use https:// (plain http is only "
		       "allowed for loopback test endpoints)",
		       p->name, shown);
		free(shown);
		return -EINVAL;
	}
	for (const char *q = p->base_url; *q; q++) {
		if ((unsigned char)*q <= ' ' || *q == '"' || *q == '\\') {
			err_at(ld, s,
			       "provider \"%s\": base_url contains a space or control character",
			       p->name);
			return -EINVAL;
		}
	}
	n = strlen(p->base_url);
	while (n > 8 && p->base_url[n - 1] == '/')
		p->base_url[--n] = '\0';
	return 0;
}

static const char *kind_default_url(enum provider_kind k)
{
	switch (k) {
	case PROVIDER_ANTHROPIC:
		return "https://api.anthropic.com";
	case PROVIDER_OPENAI:
		return "https://api.openai.com/v1";
	case PROVIDER_OPENAI_COMPAT:
	case PROVIDER_BEDROCK:      /* from the region: default_base_url() */
	case PROVIDER_VERTEX:       /* from the region: default_base_url() */
	case PROVIDER_AZURE_OPENAI: /* the resource's own endpoint */
		return NULL;
	case PROVIDER_GEMINI:
		return "https://generativelanguage.googleapis.com/v1beta";
	}
	return NULL;
}

static const char *kind_default_env(enum provider_kind k)
{
	switch (k) {
	case PROVIDER_ANTHROPIC:
		return "ANTHROPIC_API_KEY";
	case PROVIDER_OPENAI:
		return "OPENAI_API_KEY";
	case PROVIDER_OPENAI_COMPAT:
	case PROVIDER_VERTEX: /* no API key: OAuth2 tokens of a service account */
		return NULL;
	case PROVIDER_BEDROCK: /* a Bedrock API key, sent as a bearer token */
		return "AWS_BEARER_TOKEN_BEDROCK";
	case PROVIDER_AZURE_OPENAI:
		return "AZURE_OPENAI_API_KEY";
	case PROVIDER_GEMINI:
		return "GEMINI_API_KEY";
	}
	return NULL;
}

/* Is header line h "Name: value", a token name and no line breaks? Else
 * reports where it goes wrong, never what the line holds (the value may be
 * a gateway's token, and a line without its colon may be nothing but one):
 * its position in the list, and its name only once the name is known to be
 * a token. */
static bool check_header_line(const struct loader *ld, config_setting_t *s, const char *where,
                              size_t i, const char *h)
{
	const char *colon = strchr(h, ':');
	size_t n = colon ? (size_t)(colon - h) : 0;

	if (!colon) {
		err_at(ld, s,
		       "%s: headers[%zu] is not \"Name: value\": it has no ':' (the line is "
		       "not shown: it may hold a secret)",
		       where, i);
		return false;
	}
	if (n == 0) {
		err_at(ld, s,
		       "%s: headers[%zu] is not \"Name: value\": the name before ':' is empty",
		       where, i);
		return false;
	}
	for (size_t k = 0; k < n; k++)
		if (!(isalnum((unsigned char)h[k]) || h[k] == '-' || h[k] == '_')) {
			err_at(ld, s,
			       "%s: headers[%zu] is not \"Name: value\": character %zu of its name "
			       "is "
			       "not a letter, digit, '-' or '_'",
			       where, i, k + 1);
			return false;
		}
	if (strpbrk(colon, "\r\n")) {
		err_at(ld, s, "%s: headers[%zu] (%.*s): the value contains a line break", where, i,
		       (int)n, h);
		return false;
	}
	return true;
}

/* Each header line well formed, and not one warmd sets itself. */
static void check_headers(const struct loader *ld, config_setting_t *g, struct cfg_provider *p,
                          const char *where)
{
	static const char *const reserved[] = {
		"x-api-key", "authorization", "content-type", "anthropic-version", "content-length",
		"host",      "expect",        "api-key",      "x-goog-api-key"
	};
	config_setting_t *s = config_setting_get_member(g, "headers");

	for (size_t i = 0; p->headers && p->headers[i]; i++) {
		const char *h = p->headers[i];
		size_t n = strcspn(h, ":");
		if (!check_header_line(ld, s, where, i, h))
			continue;
		for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
			if (strlen(reserved[k]) == n && strncasecmp(h, reserved[k], n) == 0)
				err_at(ld, s, "%s: header %.*s is set by warmd itself", where,
				       (int)n, h);
	}
}

/* A Google Cloud region: it becomes part of a host name. */
static bool region_valid(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || n > 63 || r[0] == '-' || r[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)r[i]) || isdigit((unsigned char)r[i]) || r[i] == '-'))
			return false;
	return true;
}

static int bad_region(const struct loader *ld, config_setting_t *g, const struct cfg_provider *p,
                      const char *where)
{
	err_at(ld, config_setting_get_member(g, "region"),
	       "%s: region \"%.64s\" is not a Google Cloud region (lowercase letters, digits and "
	       "'-', such as \"us-east5\"), nor \"global\"",
	       where, p->region);
	return -EINVAL;
}

/* A provider named after its kind needs no "kind" (a kind that is given
 * but rejected is not guessed: the error stands for it). */
static void default_kind(const struct loader *ld, const config_setting_t *g, const void *base,
                         void *field)
{
	const struct cfg_provider *p = base;

	*(int *)field = (g && config_setting_get_member(g, "kind")) || !p->name
	                        ? -1
	                        : config_enum_lookup(kind_names, p->name);
}

/* The kind's public API; bedrock's in its region; none for
 * openai-compatible (it is required). */
static void default_base_url(const struct loader *ld, const config_setting_t *g, const void *base,
                             void *field)
{
	const struct cfg_provider *p = base;
	char **dst = field;

	if ((int)p->kind == PROVIDER_BEDROCK && p->region) {
		free(*dst);
		*dst = xmalloc(strlen(p->region) + 48);
		sprintf(*dst, "https://bedrock-runtime.%s.amazonaws.com", p->region);
	} else if ((int)p->kind >= 0 && kind_default_url(p->kind)) {
		free(*dst);
		*dst = xstrdup(kind_default_url(p->kind));
	} else if ((int)p->kind == PROVIDER_VERTEX && p->region && region_valid(p->region)) {
		free(*dst);
		*dst = strcmp(p->region, "global") == 0
		               ? xstrdup("https://aiplatform.googleapis.com")
		               : xasprintf("https://%s-aiplatform.googleapis.com", p->region);
	}
}

/* Vertex: Application Default Credentials' variable names the key file. */
static void default_sa_file(const struct loader *ld, const config_setting_t *g, const void *base,
                            void *field)
{
	const struct cfg_provider *p = base;
	const char *v = getenv("GOOGLE_APPLICATION_CREDENTIALS");
	char **dst = field;

	if ((int)p->kind == PROVIDER_VERTEX && v && *v) {
		free(*dst);
		*dst = xstrdup(v);
	}
}

/* bedrock: the region an AWS endpoint given as base_url names
 * (https://bedrock-runtime[-fips].REGION.amazonaws.com[.cn]), else none. */
static void default_region(const struct loader *ld, const config_setting_t *g, const void *base,
                           void *field)
{
	const struct cfg_provider *p = base;
	const char *h = p->base_url ? strstr(p->base_url, "://") : NULL, *dot;
	char **dst = field;
	size_t n;

	if ((int)p->kind != PROVIDER_BEDROCK || !h)
		return;
	h += 3;
	if (strncmp(h, "bedrock-runtime.", 16) == 0)
		h += 16;
	else if (strncmp(h, "bedrock-runtime-fips.", 21) == 0)
		h += 21;
	else
		return;
	dot = strchr(h, '.');
	n = dot ? (size_t)(dot - h) : 0;
	if (n == 0 || n > 32 || strncmp(dot, ".amazonaws.com", 14) != 0)
		return;
	free(*dst);
	*dst = xmalloc(n + 1);
	memcpy(*dst, h, n);
	(*dst)[n] = '\0';
}

/* bedrock: the AWS SDKs' profile name. */
static void default_profile(const struct loader *ld, const config_setting_t *g, const void *base,
                            void *field)
{
	const struct cfg_provider *p = base;
	char **dst = field;

	if ((int)p->kind == PROVIDER_BEDROCK && !*dst)
		*dst = xstrdup("default");
}

/* The kind's usual variable, unless the key comes from a file or inline. */
static void default_key_env(const struct loader *ld, const config_setting_t *g, const void *base,
                            void *field)
{
	const struct cfg_provider *p = base;
	char **dst = field;

	if ((int)p->kind >= 0 && !p->api_key_file && !p->api_key && !p->aws_credentials_file &&
	    kind_default_env(p->kind)) {
		free(*dst);
		*dst = xstrdup(kind_default_env(p->kind));
	}
}

#define P(f) offsetof(struct cfg_provider, f)
/* One key per entry (clang-format would spread each over seven lines). */
/* clang-format off */
static const struct key_def provider_keys[] = {
	{ .name = "name", .type = K_STR, .off = P(name), .help = "a name" },
	{ .name = "kind", .type = K_ENUM, .off = P(kind), .enums = kind_names, .dfn = default_kind,
	  .help = "anthropic, openai, openai-compatible, bedrock, vertex, azure-openai or gemini" },
	{ .name = "project", .type = K_STR, .off = P(project),
	  .help = "a Google Cloud project id (vertex)" },
	{ .name = "region", .type = K_STR, .off = P(region), .dfn = default_region,
	  .help = "a cloud region such as \"us-east-1\" (bedrock), \"us-east5\" or \"global\" "
	          "(vertex)" },
	{ .name = "base_url", .type = K_STR, .off = P(base_url), .dfn = default_base_url,
	  .help = "a URL" },
	{ .name = "api_key_file", .type = K_STR, .off = P(api_key_file), .help = "a file name" },
	{ .name = "api_key_env", .type = K_STR, .off = P(api_key_env), .dfn = default_key_env,
	  .help = "an environment variable name" },
	{ .name = "api_key", .type = K_STR, .off = P(api_key), .help = "a key" },
	{ .name = "aws_credentials_file", .type = K_STR, .off = P(aws_credentials_file),
	  .help = "an AWS shared credentials file (bedrock)" },
	{ .name = "aws_profile", .type = K_STR, .off = P(aws_profile), .dfn = default_profile,
	  .help = "a profile of aws_credentials_file (bedrock)" },
	{ .name = "service_account_file", .type = K_STR, .off = P(service_account_file),
	  .dfn = default_sa_file, .help = "a Google service account key file (JSON)" },
	{ .name = "max_rpm", .type = K_INT, .off = P(max_rpm), .max = 1000000, .def.i = 0,
	  .help = "requests per minute (0 = no limit)" },
	{ .name = "max_inflight", .type = K_INT, .off = P(max_inflight), .min = 1, .max = 100000,
	  .def.i = 8, .help = "concurrent warms" },
	{ .name = "timeout_ms", .type = K_INT, .off = P(timeout_ms), .min = 100, .max = 600000,
	  .def.i = 30000, .help = "milliseconds" },
	{ .name = "connect_timeout_ms", .type = K_INT, .off = P(connect_timeout_ms), .min = 100,
	  .max = 120000, .def.i = 10000, .help = "milliseconds" },
	{ .name = "low_speed_bps", .type = K_INT, .off = P(low_speed_bps), .min = 1,
	  .max = 100000000, .def.i = 16, .help = "bytes per second" },
	{ .name = "low_speed_time_ms", .type = K_INT, .off = P(low_speed_time_ms), .max = 600000,
	  .def.i = 20000, .help = "milliseconds (0 disables the low-speed abort)" },
	{ .name = "max_response_bytes", .type = K_SIZE, .off = P(max_response_bytes), .min = 1024,
	  .max = 1073741824, .def.i = 1024 * 1024, .help = "bytes" },
	{ .name = "ca_file", .type = K_PATH, .off = P(ca_file),
	  .help = "a PEM file of CA certificates" },
	{ .name = "proxy", .type = K_STR, .off = P(proxy),
	  .help = "a proxy URL such as \"http://proxy:3128\"" },
	{ .name = "api_version", .type = K_STR, .off = P(api_version),
	  .help = "an Azure OpenAI api-version such as \"2024-10-21\"" },
	{ .name = "headers", .type = K_STRLIST, .off = P(headers),
	  .help = "a list of \"Name: value\" lines such as [\"anthropic-beta: ...\"]" },
	{ .name = NULL },
};
/* clang-format on */
_Static_assert(sizeof(provider_keys) / sizeof(provider_keys[0]) <= CONFIG_MAX_KEYS + 1,
               "more provider_keys than CONFIG_MAX_KEYS");
#undef P

/* The name is required, valid and not taken by an earlier provider.
 * Returns the number of errors (a missing name: -1, nothing else to check). */
static int check_name(const struct loader *ld, config_setting_t *g, const struct config *c,
                      const struct cfg_provider *p, const char *where)
{
	int errors = 0;

	if (!config_name_valid(p->name)) {
		err_at(ld, config_setting_get_member(g, "name"),
		       "%s: names may only use letters, digits, '-', '_' and '.' (at most 64)",
		       where);
		errors++;
	}
	for (const struct cfg_provider *q = c->providers; q < p; q++) {
		if (q->name && strcmp(q->name, p->name) == 0) {
			err_at(ld, g, "%s: defined twice (first at line %d)", where, q->line);
			errors++;
		}
	}
	return errors;
}

/* A kind, and a base_url (the kind's, or a valid one of the file's).
 * Returns 0, or -EINVAL when the provider cannot be checked further. */
static int check_endpoint(const struct loader *ld, config_setting_t *g, struct cfg_provider *p,
                          const char *where, int errors)
{
	config_setting_t *s = config_setting_get_member(g, "base_url");

	if ((int)p->kind < 0) {
		if (!config_setting_get_member(g, "kind"))
			err_at(ld, g,
			       "%s: \"kind\" is required (anthropic, openai, openai-compatible, "
			       "bedrock, vertex, azure-openai or gemini)",
			       where);
		return -EINVAL;
	}
	if (!p->base_url && (int)p->kind == PROVIDER_BEDROCK) {
		err_at(ld, g,
		       "%s: \"region\" is required for kind bedrock (its endpoint is "
		       "https://bedrock-runtime.REGION.amazonaws.com), or a base_url",
		       where);
		return -EINVAL;
	}
	if (!p->base_url && (int)p->kind == PROVIDER_VERTEX && !p->region) {
		err_at(ld, g,
		       "%s: kind vertex needs \"region\" (such as \"us-east5\", or \"global\"), "
		       "from which base_url follows",
		       where);
		return -EINVAL;
	}
	if (!p->base_url && (int)p->kind == PROVIDER_VERTEX)
		return bad_region(ld, g, p, where); /* else its URL would have followed */
	if (!p->base_url) {
		err_at(ld, g, "%s: \"base_url\" is required for kind %s", where,
		       provider_kind_name(p->kind));
		return -EINVAL;
	}
	if (!errors)
		check_base_url(ld, s ? s : g, p);
	return 0;
}

/* The setting the key comes from (file, variable or inline), or NULL. */
static config_setting_t *key_setting(config_setting_t *g)
{
	config_setting_t *ks = config_setting_get_member(g, "api_key_file");

	if (!ks)
		ks = config_setting_get_member(g, "api_key_env");
	if (!ks)
		ks = config_setting_get_member(g, "api_key");
	return ks;
}

/* One source for the key; a key file is looked up among systemd's
 * credentials first. Returns 0, or -EINVAL (reported). */
static int check_key_source(const struct loader *ld, config_setting_t *g, struct cfg_provider *p,
                            const char *where)
{
	config_setting_t *ks = key_setting(g);

	p->key_line = config_line_of(ks ? ks : g);
	if (!!p->api_key_file + !!p->api_key_env + !!p->api_key > 1) {
		err_at(ld, ks, "%s: use only one of api_key_file, api_key_env and api_key", where);
		return -EINVAL;
	}
	if (p->api_key_file) {
		char *r = config_resolve_credential(ld, p->api_key_file);
		free(p->api_key_file);
		p->api_key_file = r;
	}
	if (p->aws_credentials_file) {
		char *r = config_resolve_credential(ld, p->aws_credentials_file);
		free(p->aws_credentials_file);
		p->aws_credentials_file = r;
	}
	return 0;
}

/* The keys of one kind only: region (bedrock, vertex) and the AWS
 * credentials (bedrock). A Bedrock provider takes either a Bedrock API key
 * or AWS credentials. */
static void check_kind_keys(const struct loader *ld, config_setting_t *g, struct cfg_provider *p,
                            const char *where)
{
	static const char *const aws_keys[] = { "aws_credentials_file", "aws_profile" };
	config_setting_t *s;

	if (p->kind != PROVIDER_BEDROCK) {
		for (size_t i = 0; i < sizeof(aws_keys) / sizeof(aws_keys[0]); i++)
			if ((s = config_setting_get_member(g, aws_keys[i])))
				err_at(ld, s, "%s: %s is only for kind bedrock", where,
				       aws_keys[i]);
		if (p->kind != PROVIDER_VERTEX && (s = config_setting_get_member(g, "region")))
			err_at(ld, s, "%s: region does not apply to kind %s", where,
			       provider_kind_name(p->kind));
		return;
	}
	for (size_t i = 0; p->headers && p->headers[i]; i++)
		if (strncasecmp(p->headers[i], "x-amz-", 6) == 0)
			err_at(ld, config_setting_get_member(g, "headers"),
			       "%s: headers[%zu]: x-amz-* headers are set by warmd itself (AWS "
			       "SigV4)",
			       where, i);
	if (p->region) {
		bool ok = *p->region && strlen(p->region) <= 32;
		for (const char *c = p->region; ok && *c; c++)
			ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-';
		if (!ok)
			err_at(ld, config_setting_get_member(g, "region"),
			       "%s: region \"%s\" is not an AWS region name such as \"us-east-1\"",
			       where, p->region);
	}
	if (p->aws_credentials_file && (config_setting_get_member(g, "api_key_file") ||
	                                config_setting_get_member(g, "api_key_env") ||
	                                config_setting_get_member(g, "api_key")))
		err_at(ld, config_setting_get_member(g, "aws_credentials_file"),
		       "%s: use either a Bedrock API key (api_key_file, api_key_env, api_key) or "
		       "AWS credentials (aws_credentials_file), not both",
		       where);
	if ((s = config_setting_get_member(g, "aws_profile")) && !p->aws_credentials_file)
		warn_at(ld, s,
		        "%s: aws_profile names a profile of aws_credentials_file, which is not "
		        "set; ignored",
		        where);
}

/* Google Cloud's keys: a vertex provider needs its project, its region and
 * a service account; other kinds take none of them (region: check_kind_keys). The key file is looked
 * up among systemd's credentials first, like api_key_file. Returns 0, or
 * -EINVAL (reported). */
static int check_google(const struct loader *ld, config_setting_t *g, struct cfg_provider *p,
                        const char *where)
{
	static const char *const keys[] = { "project", "service_account_file" };
	config_setting_t *s;
	int errors = 0;

	if ((int)p->kind != PROVIDER_VERTEX) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if ((s = config_setting_get_member(g, keys[i])))
				err_at(ld, s, "%s: \"%s\" is only for kind vertex", where, keys[i]);
		return 0;
	}
	if ((s = key_setting(g))) {
		err_at(ld, s,
		       "%s: kind vertex takes no API key: it signs in with service_account_file",
		       where);
		errors++;
	}
	if (!p->project) {
		err_at(ld, g, "%s: kind vertex needs \"project\" (the Google Cloud project id)",
		       where);
		errors++;
	} else if (!*p->project || strlen(p->project) > 100 ||
	           strspn(p->project, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                              "0123456789-.:_") != strlen(p->project)) {
		err_at(ld, config_setting_get_member(g, "project"),
		       "%s: project \"%.100s\" is not a Google Cloud project id", where,
		       p->project);
		errors++;
	}
	if (!p->region) {
		err_at(ld, g, "%s: kind vertex needs \"region\" (the URL's path names it)", where);
		errors++;
	} else if (!region_valid(p->region)) {
		errors += bad_region(ld, g, p, where) < 0;
	}
	if (!p->service_account_file) {
		err_at(ld, g,
		       "%s: kind vertex needs service_account_file (a service account's JSON key), "
		       "or GOOGLE_APPLICATION_CREDENTIALS in warmd's environment",
		       where);
		errors++;
	} else {
		char *r = config_resolve_credential(ld, p->service_account_file);
		free(p->service_account_file);
		p->service_account_file = r;
		if ((s = config_setting_get_member(g, "service_account_file")))
			p->key_line = config_line_of(s);
	}
	return errors ? -EINVAL : 0;
}

/* providers[i], the group g, into the next slot of c->providers. */
static void load_provider(const struct loader *ld, config_setting_t *g, int i, struct config *c)
{
	struct cfg_provider *p = &c->providers[c->nproviders++];
	char where[96];
	int errors;

	p->file = xstrdup(config_file_of(ld, g));
	p->line = config_line_of(g);
	snprintf(where, sizeof(where), "providers[%d]", i);
	errors = config_read_group(ld, g, provider_keys, p, where);
	if (!p->name) {
		err_at(ld, g, "%s: \"name\" is required", where);
		return;
	}
	snprintf(where, sizeof(where), "provider \"%s\"", p->name);
	errors += check_name(ld, g, c, p, where);
	if (check_endpoint(ld, g, p, where, errors) < 0 || check_key_source(ld, g, p, where) < 0 ||
	    check_google(ld, g, p, where) < 0)
		return;
	check_headers(ld, g, p, where);
	check_kind_keys(ld, g, p, where);
	if (p->api_version && p->kind != PROVIDER_AZURE_OPENAI)
		err_at(ld, config_setting_get_member(g, "api_version"),
		       "%s: \"api_version\" applies only to azure-openai providers", where);
	if (p->api_key)
		warn_at(ld, key_setting(g),
		        "%s: the API key is written inline in the config; prefer api_key_file "
		        "(systemd LoadCredential=) or api_key_env",
		        where);
}

void config_load_providers(const struct loader *ld, config_t *cf, struct config *c)
{
	config_setting_t *list = config_lookup(cf, "providers");
	int n;

	/* None at all is fine while no target needs one: the shipped config
	 * starts warmd idle. A target without a provider is the error. */
	if (!list)
		return;
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		err_at(ld, list, "\"providers\" must be a list: providers = ( { ... } );");
		return;
	}
	n = config_setting_length(list);
	if (n == 0)
		return;
	c->providers = xcalloc((size_t)n, sizeof(*c->providers));
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		if (config_setting_is_group(g))
			load_provider(ld, g, i, c);
		else
			err_at(ld, g, "providers[%d] must be a group { ... }", i);
	}
}

/* s's strings, and those of the settings it holds. */
static void wipe_strings(config_setting_t *s)
{
	int n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		/* libconfig's own copy, malloc'd: writable, only typed const */
		char *v = (char *)config_setting_get_string(s);
		if (v)
			explicit_bzero(v, strlen(v));
		return;
	}
	n = config_setting_is_aggregate(s) ? config_setting_length(s) : 0;
	for (int i = 0; i < n; i++)
		wipe_strings(config_setting_get_elem(s, (unsigned)i));
}

void config_wipe_providers(config_t *cf)
{
	config_setting_t *list = config_lookup(cf, "providers");

	if (list)
		wipe_strings(list);
}
