/* warmbody: prints the warm body warmd would send for a template, so that
 * tests outside C (tests/contract/validate.mjs) can check it against the
 * provider's published schema. It goes through template_load(), the same
 * path the daemon takes at load and reload.
 *
 *   warmbody --kind anthropic|openai|openai-compatible|bedrock|vertex|azure-openai|gemini
 *            [--endpoint auto|messages|chat|responses|invoke|converse]
 *            [--warm-mode minimal|prewarm] [--cache-key KEY] [--print-url]
 *            [--model MODEL] [--project ID] [--region REGION]
 *            [--deployment NAME] [--api-version VERSION] TEMPLATE.json
 *
 * Exit 0 with the body on stdout (preceded by the URL on its own line with
 * --print-url); exit 1 with the error or the reason the target is unwarmable
 * on stderr; exit 2 on a usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errmsg.h"
#include "template.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: warmbody --kind "
	           "anthropic|openai|openai-compatible|bedrock|vertex|azure-openai|gemini\n"
	           "                [--endpoint auto|messages|chat|responses|invoke|converse]\n"
	           "                [--warm-mode minimal|prewarm] [--cache-key KEY] [--print-url]\n"
	           "                [--model MODEL] [--project ID] [--region REGION]\n"
	           "                [--deployment NAME] [--api-version VERSION] TEMPLATE.json\n");
}

/* Index of s in the NULL-terminated names, or -1. */
static int lookup(const char *s, const char *const *names)
{
	for (int i = 0; names[i]; i++) {
		if (strcmp(s, names[i]) == 0)
			return i;
	}
	return -1;
}

int main(int argc, char **argv)
{
	/* In enum order (config.h). */
	static const char *const kinds[] = { "anthropic", "openai", "openai-compatible",
		                             "bedrock",   "vertex", "azure-openai",
		                             "gemini",    NULL };
	static const char *const endpoints[] = { "auto",   "messages", "chat", "responses",
		                                 "invoke", "converse", NULL };
	static const char *const modes[] = { "minimal", "prewarm", NULL };
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "warm-mode", required_argument, NULL, 'w' },
		{ "cache-key", required_argument, NULL, 'c' },
		{ "print-url", no_argument, NULL, 'u' },
		{ "model", required_argument, NULL, 'm' },
		{ "project", required_argument, NULL, 'P' },
		{ "region", required_argument, NULL, 'R' },
		{ "deployment", required_argument, NULL, 'd' },
		{ "api-version", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char prov_name[] = "p", tgt_name[] = "t";
	static char openai_url[] = "http://127.0.0.1:9/v1", anthropic_url[] = "http://127.0.0.1:9";
	static char gemini_url[] = "http://127.0.0.1:9/v1beta";
	struct cfg_provider p = { .name = prov_name };
	struct cfg_target t = { .name = tgt_name, .provider = prov_name, .ttl_s = 300 };
	struct tmpl *tm = NULL;
	struct errmsg e = { { 0 } };
	bool print_url = false;
	int kind = -1, c, v;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if ((kind = lookup(optarg, kinds)) < 0) {
				fprintf(stderr, "warmbody: unknown --kind %s\n", optarg);
				return 2;
			}
			break;
		case 'e':
			if ((v = lookup(optarg, endpoints)) < 0) {
				fprintf(stderr, "warmbody: unknown --endpoint %s\n", optarg);
				return 2;
			}
			t.endpoint = (enum endpoint)v;
			break;
		case 'w':
			if ((v = lookup(optarg, modes)) < 0) {
				fprintf(stderr, "warmbody: unknown --warm-mode %s\n", optarg);
				return 2;
			}
			t.warm_mode = (enum warm_mode)v;
			break;
		case 'c':
			t.cache_key = optarg;
			break;
		case 'm':
			t.model = optarg;
			break;
		case 'u':
			print_url = true;
			break;
		case 'P':
			p.project = optarg;
			break;
		case 'R':
			p.region = optarg;
			break;
		case 'd':
			t.deployment = optarg;
			break;
		case 'a':
			p.api_version = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (kind < 0 || optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	p.kind = (enum provider_kind)kind;
	p.base_url = p.kind == PROVIDER_ANTHROPIC || p.kind == PROVIDER_BEDROCK ||
	                             p.kind == PROVIDER_AZURE_OPENAI
	                     ? anthropic_url
	             : p.kind == PROVIDER_GEMINI ? gemini_url
	                                         : openai_url;
	t.provider_index = 0;
	t.request_file = argv[optind];

	if (template_load(&t, &p, &tm, &e) < 0) {
		fprintf(stderr, "warmbody: %s\n", e.text);
		return 1;
	}
	if (tm->unwarmable[0] || !tm->body) {
		fprintf(stderr, "warmbody: unwarmable: %s\n",
		        tm->unwarmable[0] ? tm->unwarmable : "no warm body");
		tmpl_unref(tm);
		return 1;
	}
	if (print_url)
		printf("%s\n", tm->url);
	fwrite(tm->body, 1, tm->body_len, stdout);
	putchar('\n');
	tmpl_unref(tm);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "warmbody: writing stdout: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
