/* check_config: loading and validating warmd.conf (core/config*.c: the
 * key tables and their defaults, each section, what a reload cannot apply)
 * and the FILE:LINE diagnostics it reports (core/diag.c).
 *
 * Every config is written into a fresh temporary directory. Expected line
 * numbers are computed from the text the test wrote (line_of), never taken
 * from the code under test. */
#include <check.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "config_sections.h"
#include "diag.h"
#include "testutil.h"

struct cfx {
	char *dir;  /* as created */
	char *rdir; /* realpath of dir: what relative paths resolve against */
	char *path; /* the config file */
	char *text; /* what it holds */
	struct diags d;
	struct config *cfg;
	int rc;
};

static struct cfx X;

static void setup(void)
{
	memset(&X, 0, sizeof(X));
	unsetenv("RUNTIME_DIRECTORY");
	unsetenv("STATE_DIRECTORY");
	unsetenv("CREDENTIALS_DIRECTORY");
	X.dir = tu_tmpdir();
	ck_assert_ptr_nonnull(X.dir);
	X.rdir = realpath(X.dir, NULL);
	ck_assert_ptr_nonnull(X.rdir);
	/* a tiny request file, so the configs point at something real */
	free(tu_write(X.dir, "req.json",
	              "{\"model\":\"m\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\","
	              "\"content\":\"hi\"}]}\n"));
}

static void reset(void)
{
	config_free(X.cfg);
	X.cfg = NULL;
	diags_free(&X.d);
	free(X.path);
	X.path = NULL;
	free(X.text);
	X.text = NULL;
}

static void teardown(void)
{
	reset();
	tu_rmrf(X.dir);
	free(X.dir);
	free(X.rdir);
	unsetenv("RUNTIME_DIRECTORY");
	unsetenv("STATE_DIRECTORY");
	unsetenv("CREDENTIALS_DIRECTORY");
}

/* Writes text as warmd.conf and loads it; returns config_load's result. */
static int load(const char *text)
{
	reset();
	X.text = strdup(text);
	X.path = tu_write(X.dir, "warmd.conf", text);
	ck_assert_ptr_nonnull(X.path);
	X.rc = config_load(X.path, &X.d, &X.cfg);
	return X.rc;
}

/* 1-based line of the first occurrence of needle in the loaded text. */
static int line_of(const char *needle)
{
	const char *p = strstr(X.text, needle);
	int line = 1;

	ck_assert_msg(p != NULL, "test bug: \"%s\" not in the config", needle);
	for (const char *q = X.text; q < p; q++)
		line += *q == '\n';
	return line;
}

/* Same, for the n-th (1-based) occurrence. */
static int line_of_nth(const char *needle, int n)
{
	const char *p = X.text;
	int line = 1;

	for (int i = 0; i < n; i++) {
		const char *q = strstr(p, needle);
		ck_assert_msg(q != NULL, "test bug: \"%s\" #%d not in the config", needle, i + 1);
		for (; p < q; p++)
			line += *p == '\n';
		if (i + 1 < n)
			p = q + 1;
	}
	return line;
}

static void dump_diags(char *out, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < X.d.n && used + 2 < n; i++) {
		char one[1400];
		diag_format(&X.d.v[i], one, sizeof(one));
		used += (size_t)snprintf(out + used, n - used, "\n  %s", one);
	}
}

static const struct diag *find_diag(enum diag_severity sev, const char *sub)
{
	for (size_t i = 0; i < X.d.n; i++)
		if (X.d.v[i].sev == sev && strstr(X.d.v[i].text, sub))
			return &X.d.v[i];
	return NULL;
}

/* Asserts a diagnostic of sev whose text contains sub, at X.path:line. */
static void expect_diag(enum diag_severity sev, int line, const char *sub)
{
	const struct diag *g = find_diag(sev, sub);
	char all[4096];

	dump_diags(all, sizeof(all));
	ck_assert_msg(g != NULL, "no %s containing \"%s\"; got:%s",
	              sev == DIAG_ERROR ? "error" : "warning", sub, all);
	ck_assert_msg(strcmp(g->file, X.path) == 0, "file %s, want %s", g->file, X.path);
	ck_assert_msg(g->line == line, "\"%s\" reported at line %d, want %d", sub, g->line, line);
}

static void expect_error(int line, const char *sub)
{
	ck_assert_int_eq(X.rc, -EINVAL);
	ck_assert_ptr_null(X.cfg);
	expect_diag(DIAG_ERROR, line, sub);
}

static void expect_ok(void)
{
	char all[4096];

	dump_diags(all, sizeof(all));
	ck_assert_msg(X.rc == 0 && X.d.errors == 0, "rc %d, diagnostics:%s", X.rc, all);
	ck_assert_ptr_nonnull(X.cfg);
}

static char *in_dir(const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", X.rdir, name), 0);
	return p;
}

/* ------------------------------------------------------------- defaults */

START_TEST(test_minimal_defaults)
{
	const struct cfg_provider *p;
	const struct cfg_target *t;
	char *req = NULL;

	load("providers = (\n"
	     "  { name = \"anthropic\"; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"support-bot\"; request_file = \"req.json\"; }\n"
	     ");\n");
	expect_ok();
	ck_assert_uint_eq(X.d.n, 0);
	ck_assert_str_eq(X.cfg->file, X.path);
	ck_assert_str_eq(X.cfg->dir, X.rdir);
	ck_assert_int_eq(X.cfg->daemon.max_inflight, 64);
	ck_assert_int_eq(X.cfg->daemon.max_sessions, 1000);
	ck_assert_uint_eq(X.cfg->daemon.max_session_bytes, 256 * 1024 * 1024);
	ck_assert_int_eq(X.cfg->daemon.log_level, LOG_INFO);
	ck_assert_str_eq(X.cfg->daemon.control_socket, "/run/warmd/control.sock");
	ck_assert_str_eq(X.cfg->daemon.touch_socket, "/run/warmd/touch.sock");
	ck_assert_str_eq(X.cfg->daemon.state_file, "/var/lib/warmd/state.json");
	ck_assert_str_eq(X.cfg->daemon.control_group, "warmd");
	ck_assert(!X.cfg->daemon.control_group_set);
	req = in_dir("pricing.conf");
	ck_assert_str_eq(X.cfg->daemon.pricing_file, req);
	free(req);
	ck_assert_ptr_null(X.cfg->daemon.metrics_listen);
	ck_assert_ptr_null(X.cfg->daemon.metrics_textfile);
	ck_assert_double_eq(X.cfg->daemon.metrics_textfile_interval, 15);

	ck_assert_uint_eq(X.cfg->nproviders, 1);
	p = &X.cfg->providers[0];
	ck_assert_str_eq(p->name, "anthropic");
	ck_assert_int_eq(p->kind, PROVIDER_ANTHROPIC);
	ck_assert_str_eq(p->base_url, "https://api.anthropic.com");
	ck_assert_ptr_null(p->api_key_file);
	ck_assert_ptr_null(p->api_key);
	ck_assert_str_eq(p->api_key_env, "ANTHROPIC_API_KEY");
	ck_assert_int_eq(p->max_inflight, 8);
	ck_assert_int_eq(p->max_rpm, 0);
	ck_assert_int_eq(p->timeout_ms, 30000);
	ck_assert_int_eq(p->connect_timeout_ms, 10000);
	ck_assert_int_eq(p->low_speed_bps, 16);
	ck_assert_int_eq(p->low_speed_time_ms, 20000);
	ck_assert_uint_eq(p->max_response_bytes, 1024 * 1024);
	ck_assert_int_eq(p->line, line_of("{ name = \"anthropic\""));

	ck_assert_uint_eq(X.cfg->ntargets, 1);
	t = &X.cfg->targets[0];
	ck_assert_str_eq(t->name, "support-bot");
	ck_assert_str_eq(t->provider, "anthropic");
	ck_assert_uint_eq(t->provider_index, 0);
	req = in_dir("req.json");
	ck_assert_str_eq(t->request_file, req);
	ck_assert_double_eq(t->ttl_s, 300);
	ck_assert_int_eq(t->policy, POLICY_ALWAYS);
	ck_assert_int_eq(t->priority, 10);
	ck_assert_int_eq(t->endpoint, ENDPOINT_AUTO);
	ck_assert_ptr_null(t->cache_key);
	ck_assert_int_eq(t->warm_mode, WARM_MODE_MINIMAL);
	ck_assert_double_eq(t->idle_limit_s, 0);
	ck_assert_double_eq(t->overlap_s, CFG_VERSION_OVERLAP_S);
	ck_assert(!t->ttl_set);
	ck_assert_int_eq(t->line, line_of("{ name = \"support-bot\""));
	free(req);

	/* no cluster section: alone, as before */
	ck_assert(!X.cfg->cluster.enabled);
	ck_assert_ptr_null(X.cfg->cluster.redis);
	ck_assert_ptr_null(X.cfg->cluster.node);
	ck_assert_ptr_null(X.cfg->cluster.ns);
}
END_TEST

START_TEST(test_openai_defaults)
{
	const struct cfg_provider *p;

	load("providers = (\n"
	     "  { name = \"anthropic\"; max_rpm = 50; },\n"
	     "  { name = \"openai\"; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"a\"; provider = \"openai\"; request_file = \"req.json\";\n"
	     "    cache_key = \"support-v3\"; endpoint = \"chat\"; priority = 1; }\n"
	     ");\n");
	expect_ok();
	ck_assert_uint_eq(X.cfg->nproviders, 2);
	ck_assert_int_eq(X.cfg->providers[0].max_rpm, 50);
	p = &X.cfg->providers[1];
	ck_assert_int_eq(p->kind, PROVIDER_OPENAI);
	ck_assert_str_eq(p->base_url, "https://api.openai.com/v1");
	ck_assert_str_eq(p->api_key_env, "OPENAI_API_KEY");
	ck_assert_uint_eq(X.cfg->targets[0].provider_index, 1);
	ck_assert_str_eq(X.cfg->targets[0].cache_key, "support-v3");
	ck_assert_int_eq(X.cfg->targets[0].endpoint, ENDPOINT_CHAT);
	ck_assert_int_eq(X.cfg->targets[0].priority, 1);
}
END_TEST

START_TEST(test_full_settings)
{
	const struct cfg_provider *p;
	char *sock;

	load("daemon = {\n"
	     "  control_socket = \"ctl.sock\";\n"
	     "  max_inflight = 5; max_sessions = 0; max_session_bytes = 4096;\n"
	     "  log_level = \"debug\";\n"
	     "};\n"
	     "providers = (\n"
	     "  { name = \"main\"; kind = \"anthropic\";\n"
	     "    base_url = \"https://gateway.example.com/anthropic///\";\n"
	     "    api_key_env = \"MY_KEY\"; max_rpm = 120; max_inflight = 3;\n"
	     "    timeout_ms = 15000; connect_timeout_ms = 2000; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"t.1\"; request_file = \"/abs/req.json\"; policy = \"manual\";\n"
	     "    endpoint = \"messages\"; }\n"
	     ");\n");
	expect_ok();
	sock = in_dir("ctl.sock");
	ck_assert_str_eq(X.cfg->daemon.control_socket, sock);
	ck_assert_int_eq(X.cfg->daemon.max_inflight, 5);
	ck_assert_int_eq(X.cfg->daemon.max_sessions, 0); /* 0: sessions refused */
	ck_assert_uint_eq(X.cfg->daemon.max_session_bytes, 4096);
	ck_assert_int_eq(X.cfg->daemon.log_level, LOG_DEBUG);
	p = &X.cfg->providers[0];
	ck_assert_str_eq(p->base_url, "https://gateway.example.com/anthropic");
	ck_assert_str_eq(p->api_key_env, "MY_KEY");
	ck_assert_int_eq(p->max_rpm, 120);
	ck_assert_int_eq(p->max_inflight, 3);
	ck_assert_int_eq(p->timeout_ms, 15000);
	ck_assert_int_eq(p->connect_timeout_ms, 2000);
	/* the only provider is the default */
	ck_assert_str_eq(X.cfg->targets[0].provider, "main");
	ck_assert_str_eq(X.cfg->targets[0].request_file, "/abs/req.json");
	ck_assert_int_eq(X.cfg->targets[0].policy, POLICY_MANUAL);
	ck_assert_int_eq(X.cfg->targets[0].endpoint, ENDPOINT_MESSAGES);
	free(sock);
}
END_TEST

START_TEST(test_runtime_directory)
{
	static const char cfg[] = "providers = ( { name = \"anthropic\"; } );\n";

	setenv("RUNTIME_DIRECTORY", "/run/warmd-test", 1);
	load(cfg);
	expect_ok();
	ck_assert_str_eq(X.cfg->daemon.control_socket, "/run/warmd-test/control.sock");
	/* systemd passes several directories separated by ':': the first one */
	setenv("RUNTIME_DIRECTORY", "/run/first:/run/second", 1);
	load(cfg);
	expect_ok();
	ck_assert_str_eq(X.cfg->daemon.control_socket, "/run/first/control.sock");
	ck_assert_str_eq(X.cfg->daemon.touch_socket, "/run/first/touch.sock");
	setenv("RUNTIME_DIRECTORY", "", 1);
	load(cfg);
	expect_ok();
	ck_assert_str_eq(X.cfg->daemon.control_socket, "/run/warmd/control.sock");
	/* a setting wins over the environment */
	setenv("RUNTIME_DIRECTORY", "/run/warmd-test", 1);
	load("daemon = { control_socket = \"/srv/c.sock\"; };\n"
	     "providers = ( { name = \"anthropic\"; } );\n");
	expect_ok();
	ck_assert_str_eq(X.cfg->daemon.control_socket, "/srv/c.sock");
	/* the touch socket follows the control socket unless it is set */
	ck_assert_str_eq(X.cfg->daemon.touch_socket, "/srv/touch.sock");
	ck_assert(!X.cfg->daemon.touch_socket_set);
	/* no targets at all: a warning, not an error */
	ck_assert_uint_eq(X.d.warnings, 1);
	ck_assert_ptr_nonnull(find_diag(DIAG_WARNING, "no \"targets\" list"));
}
END_TEST

START_TEST(test_touch_socket_settings)
{
	load("daemon = { touch_socket = \"t.sock\"; };\n"
	     "providers = ( { name = \"anthropic\"; } );\n");
	expect_ok();
	ck_assert(X.cfg->daemon.touch_socket_set);
	ck_assert(strstr(X.cfg->daemon.touch_socket, "/t.sock") != NULL);
	ck_assert(X.cfg->daemon.touch_socket[0] == '/');
	load("daemon = { touch_socket = \"\"; };\n"
	     "providers = ( { name = \"anthropic\"; } );\n");
	expect_ok();
	ck_assert_ptr_null(X.cfg->daemon.touch_socket);
	load("daemon = { touch_socket = 5; };\n"
	     "providers = ( { name = \"anthropic\"; } );\n");
	ck_assert_int_eq(X.rc, -EINVAL);
}
END_TEST

/* ---------------------------------------------------- restart-only keys */

struct changes {
	char text[1024];
	int n;
};

static void change_cb(const char *key, const char *value, void *ctx)
{
	struct changes *ch = ctx;
	size_t used = strlen(ch->text);

	snprintf(ch->text + used, sizeof(ch->text) - used, "%s=%s;", key, value ? value : "(none)");
	ch->n++;
}

/* Loads text and hands the config over to the caller. */
static struct config *load_owned(const char *text)
{
	struct config *c;

	load(text);
	expect_ok();
	c = X.cfg;
	X.cfg = NULL;
	return c;
}

/* A reload reports what it cannot apply, from the key table's restart
 * flags; the reloadable keys (max_inflight, log_level, pricing_file) are
 * not reported. */
START_TEST(test_restart_only_changes)
{
	struct changes ch = { .n = 0 };
	struct config *old, *same;
	char want[1024];
	int n;

	old = load_owned("daemon = { control_socket = \"a.sock\"; metrics_textfile = \"m.prom\";\n"
	                 "  max_inflight = 4; log_level = \"info\"; };\n"
	                 "providers = ( { name = \"anthropic\"; } );\n");
	same = load_owned("daemon = { control_socket = \"a.sock\"; metrics_textfile = \"m.prom\";\n"
	                  "  max_inflight = 4; log_level = \"info\"; };\n"
	                  "providers = ( { name = \"anthropic\"; } );\n");
	ck_assert_int_eq(config_restart_only_changes(old, same, change_cb, &ch), 0);
	ck_assert_int_eq(ch.n, 0);

	/* the touch socket follows the control socket: same directory, no change */
	load("daemon = { control_socket = \"b.sock\"; metrics_textfile = \"\";\n"
	     "  metrics_textfile_interval = \"30s\"; max_inflight = 8; log_level = \"debug\";\n"
	     "  pricing_file = \"\"; };\n"
	     "providers = ( { name = \"anthropic\"; } );\n");
	expect_ok();
	n = config_restart_only_changes(old, X.cfg, change_cb, &ch);
	snprintf(
	        want, sizeof(want),
	        "control_socket=%s/b.sock;metrics_textfile=(none);metrics_textfile_interval=30.0s;",
	        X.rdir);
	ck_assert_str_eq(ch.text, want);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(ch.n, 3);

	/* every restart-only key, in the table's order (daemon.c's hand list
	 * forgot metrics_textfile_interval) */
	memset(&ch, 0, sizeof(ch));
	load("daemon = { control_socket = \"/srv/c.sock\"; control_group = \"root\";\n"
	     "  touch_socket = \"/srv/t.sock\"; state_file = \"/srv/s.json\";\n"
	     "  metrics_listen = \"127.0.0.1:9999\"; metrics_textfile = \"/srv/m2.prom\";\n"
	     "  metrics_textfile_interval = \"20s\"; };\n"
	     "providers = ( { name = \"anthropic\"; } );\n");
	expect_ok();
	ck_assert_int_eq(config_restart_only_changes(old, X.cfg, change_cb, &ch), 7);
	ck_assert_str_eq(ch.text, "control_socket=/srv/c.sock;control_group=root;"
	                          "touch_socket=/srv/t.sock;state_file=/srv/s.json;"
	                          "metrics_listen=127.0.0.1:9999;metrics_textfile=/srv/m2.prom;"
	                          "metrics_textfile_interval=20.0s;");
	config_free(old);
	config_free(same);
}
END_TEST

START_TEST(test_ttl_forms)
{
	static const double want[] = { 300, 5400, 45, 2.5, 90, 3, 86400, 2 };

	load("providers = ( { name = \"anthropic\"; } );\n"
	     "targets = (\n"
	     "  { name = \"a\"; request_file = \"req.json\"; ttl = \"5m\"; },\n"
	     "  { name = \"b\"; request_file = \"req.json\"; ttl = \"1h30m\"; },\n"
	     "  { name = \"c\"; request_file = \"req.json\"; ttl = 45; },\n"
	     "  { name = \"d\"; request_file = \"req.json\"; ttl = 2.5; },\n"
	     "  { name = \"e\"; request_file = \"req.json\"; ttl = \"90\"; },\n"
	     "  { name = \"f\"; request_file = \"req.json\"; ttl = \"1s2000ms\"; },\n"
	     "  { name = \"g\"; request_file = \"req.json\"; ttl = \"24h\"; },\n"
	     "  { name = \"h\"; request_file = \"req.json\"; ttl = 2; }\n"
	     ");\n");
	expect_ok();
	ck_assert_uint_eq(X.cfg->ntargets, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < X.cfg->ntargets; i++)
		ck_assert_msg(X.cfg->targets[i].ttl_s == want[i], "%s: ttl %g, want %g",
		              X.cfg->targets[i].name, X.cfg->targets[i].ttl_s, want[i]);
}
END_TEST

START_TEST(test_request_file_relative)
{
	char *want;

	load("providers = ( { name = \"anthropic\"; } );\n"
	     "targets = (\n"
	     "  { name = \"a\"; request_file = \"targets/support-bot.json\"; }\n"
	     ");\n");
	expect_ok();
	want = in_dir("targets/support-bot.json");
	ck_assert_str_eq(X.cfg->targets[0].request_file, want);
	free(want);
}
END_TEST

START_TEST(test_api_key_file_lookup)
{
	char *creds, *want_cred = NULL, *want_dir = NULL;

	creds = tu_tmpdir();
	ck_assert_ptr_nonnull(creds);
	free(tu_write(creds, "anthropic.key", "test-key-123\n"));
	free(tu_write(X.dir, "anthropic.key", "test-key-456\n"));
	free(tu_write(X.dir, "other.key", "test-key-789\n"));
	ck_assert_int_ge(asprintf(&want_cred, "%s/anthropic.key", creds), 0);
	want_dir = in_dir("other.key");

	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	load("providers = (\n"
	     "  { name = \"anthropic\"; api_key_file = \"anthropic.key\"; },\n"
	     "  { name = \"b\"; kind = \"openai\"; api_key_file = \"other.key\"; },\n"
	     "  { name = \"c\"; kind = \"openai\"; api_key_file = \"/etc/keys/c.key\"; }\n"
	     ");\n");
	expect_ok();
	/* $CREDENTIALS_DIRECTORY first, then the config's directory */
	ck_assert_str_eq(X.cfg->providers[0].api_key_file, want_cred);
	ck_assert_str_eq(X.cfg->providers[1].api_key_file, want_dir);
	ck_assert_str_eq(X.cfg->providers[2].api_key_file, "/etc/keys/c.key");
	/* a key file replaces the default environment variable */
	ck_assert_ptr_null(X.cfg->providers[0].api_key_env);
	ck_assert_ptr_null(X.cfg->providers[1].api_key_env);
	ck_assert_int_eq(X.cfg->providers[0].key_line, line_of("api_key_file = \"anthropic.key\""));

	/* without $CREDENTIALS_DIRECTORY: the config's directory */
	unsetenv("CREDENTIALS_DIRECTORY");
	free(want_dir);
	want_dir = in_dir("anthropic.key");
	load("providers = ( { name = \"anthropic\"; api_key_file = \"anthropic.key\"; } );\n");
	expect_ok();
	ck_assert_str_eq(X.cfg->providers[0].api_key_file, want_dir);

	tu_rmrf(creds);
	free(creds);
	free(want_cred);
	free(want_dir);
}
END_TEST

/* ------------------------------------------------------------- errors */

START_TEST(test_syntax_error)
{
	struct config *untouched = (struct config *)&X;

	X.cfg = NULL;
	reset();
	X.text = strdup("daemon = {\n"
	                "  max_inflight = 4;\n"
	                "  log_level = = \"info\";\n"
	                "};\n");
	X.path = tu_write(X.dir, "warmd.conf", X.text);
	X.rc = config_load(X.path, &X.d, &untouched);
	ck_assert_int_eq(X.rc, -EINVAL);
	ck_assert_ptr_eq(untouched, (struct config *)&X); /* *ret untouched on failure */
	ck_assert_uint_eq(X.d.errors, 1);
	expect_diag(DIAG_ERROR, line_of("log_level = ="), "syntax error");
}
END_TEST

START_TEST(test_unknown_key_hint)
{
	load("daemon = {\n"
	     "  max_inflght = 4;\n"
	     "};\n"
	     "providers = (\n"
	     "  { name = \"anthropic\";\n"
	     "    max_rmp = 50; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"a\"; request_file = \"req.json\";\n"
	     "    polcy = \"always\";\n"
	     "    frobnicate = 1; }\n"
	     ");\n");
	expect_error(line_of("max_inflght"),
	             "daemon: unknown key \"max_inflght\" (did you mean \"max_inflight\"?)");
	expect_error(line_of("max_rmp"), "unknown key \"max_rmp\" (did you mean \"max_rpm\"?)");
	expect_error(line_of("polcy"), "unknown key \"polcy\" (did you mean \"policy\"?)");
	expect_error(line_of("frobnicate"), "unknown key \"frobnicate\"");
	ck_assert_ptr_null(find_diag(DIAG_ERROR, "\"frobnicate\" (did you mean"));
	ck_assert_uint_eq(X.d.errors, 4);
}
END_TEST

START_TEST(test_unknown_section)
{
	load("deamon = {\n"
	     "  max_inflight = 4;\n"
	     "};\n"
	     "providers = ( { name = \"anthropic\"; } );\n"
	     "stuff = 1;\n");
	expect_error(1, "unknown section \"deamon\" (did you mean \"daemon\"?)");
	expect_error(line_of("stuff"),
	             "unknown section \"stuff\" (expected daemon, providers, targets, pricing, "
	             "cluster)");
	ck_assert_uint_eq(X.d.errors, 2);
}
END_TEST

START_TEST(test_wrong_type)
{
	load("daemon = {\n"
	     "  max_inflight = \"8\";\n"
	     "};\n"
	     "providers = (\n"
	     "  { name = \"anthropic\";\n"
	     "    timeout_ms = 1.5; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"a\"; request_file = \"req.json\";\n"
	     "    ttl = true;\n"
	     "    policy = 1; }\n"
	     ");\n");
	expect_error(line_of("max_inflight = \"8\""), "\"max_inflight\" must be an integer");
	expect_error(line_of("timeout_ms = 1.5"), "\"timeout_ms\" must be an integer");
	expect_error(line_of("ttl = true"), "\"ttl\" must be a duration");
	expect_error(line_of("policy = 1"), "\"policy\" must be a string");
	ck_assert_uint_eq(X.d.errors, 4);

	load("daemon = \"on\";\n"
	     "providers = ( { name = \"anthropic\"; } );\n");
	expect_error(1, "\"daemon\" must be a group");
	load("providers = { name = \"anthropic\"; };\n");
	expect_error(1, "\"providers\" must be a list");
}
END_TEST

START_TEST(test_out_of_range)
{
	load("daemon = {\n"
	     "  max_inflight = 0;\n"
	     "};\n"
	     "providers = (\n"
	     "  { name = \"anthropic\";\n"
	     "    timeout_ms = 50;\n"
	     "    max_rpm = 5000000000L; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"a\"; request_file = \"req.json\";\n"
	     "    priority = -1;\n"
	     "    ttl = -5; }\n"
	     ");\n");
	expect_error(line_of("max_inflight = 0"),
	             "\"max_inflight\" = 0 is out of range [1, 100000]");
	expect_error(line_of("timeout_ms = 50"),
	             "\"timeout_ms\" = 50 is out of range [100, 600000]");
	expect_error(line_of("max_rpm"), "\"max_rpm\" = 5000000000 is out of range");
	expect_error(line_of("priority = -1"), "\"priority\" = -1 is out of range");
	expect_error(line_of("ttl = -5"), "\"ttl\" must not be negative");
	ck_assert_uint_eq(X.d.errors, 5);
}
END_TEST

/* A number is held to the same year as the text form ("365d"): ttl = 1e300
 * loaded, and the scheduler turned it into timer milliseconds (fuzz_config). */
START_TEST(test_duration_too_long)
{
	load("daemon = { metrics_textfile_interval = 1e300; };\n"
	     "providers = ( { name = \"anthropic\"; } );\n"
	     "targets = (\n"
	     "  { name = \"a\"; request_file = \"req.json\";\n"
	     "    ttl = 1e300;\n"
	     "    idle_limit = 9223372036854775807L;\n"
	     "    version_overlap = 31536001; },\n"
	     "  { name = \"b\"; request_file = \"req.json\"; ttl = 31536000; }\n"
	     ");\n");
	expect_error(line_of("metrics_textfile_interval"),
	             "\"metrics_textfile_interval\" must be at most a year");
	expect_error(line_of("ttl = 1e300"), "\"ttl\" must be at most a year");
	expect_error(line_of("idle_limit"), "\"idle_limit\" must be at most a year");
	expect_error(line_of("version_overlap"), "\"version_overlap\" must be at most a year");
	ck_assert_uint_eq(X.d.errors, 4);
}
END_TEST

START_TEST(test_unknown_enum)
{
	load("daemon = {\n"
	     "  log_level = \"verbose\";\n"
	     "};\n"
	     "providers = (\n"
	     "  { name = \"anthropic\"; },\n"
	     "  { name = \"x\"; kind = \"mistral\"; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"a\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    policy = \"sometimes\";\n"
	     "    endpoint = \"grpc\"; }\n"
	     ");\n");
	expect_error(line_of("verbose"), "log_level \"verbose\" is not one of error, warning");
	expect_error(line_of("mistral"),
	             "unknown kind \"mistral\" (use one of: anthropic, openai, openai-compatible, "
	             "bedrock, vertex, azure-openai, gemini");
	expect_error(line_of("sometimes"),
	             "unknown policy \"sometimes\" (use one of: always, manual, schedule, "
	             "adaptive)");
	expect_error(line_of("grpc"), "unknown endpoint \"grpc\"");
	ck_assert_uint_eq(X.d.errors, 4);
}
END_TEST

START_TEST(test_future_features)
{
	load("providers = ( { name = \"anthropic\"; }, { name = \"openai\"; } );\n"
	     "targets = (\n"
	     "  { name = \"a\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    policy = \"adaptive\"; },\n"
	     "  { name = \"b\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    policy = \"schedule\"; },\n"
	     "  { name = \"c\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    endpoint = \"responses\"; },\n"
	     "  { name = \"d\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    policy = \"schedule\";\n"
	     "    schedule = [ \"Mon-Fri 07:30-19:00 Europe/Berlin\",\n"
	     "                 \"Funday 07:30-19:00\",\n"
	     "                 \"Sat 25:00-26:00\",\n"
	     "                 \"Sun 10:00-12:00 Mars/Olympus\" ]; },\n"
	     "  { name = \"e\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    schedule = [ \"Daily 00:00-24:00\" ]; }\n"
	     ");\n");
	/* adaptive is a policy now; schedule needs its windows, and they must parse */
	expect_error(line_of("policy = \"schedule\"; },"), "policy \"schedule\" needs schedule");
	expect_error(line_of("\"responses\""),
	             "endpoint \"responses\" does not match provider \"anthropic\"");
	expect_error(line_of("Funday"), "\"Funday\" is not a day");
	expect_error(line_of("25:00"), "is not a time range");
	expect_error(line_of("Mars/Olympus"), "unknown time zone \"Mars/Olympus\"");
	ck_assert_uint_eq(X.d.errors, 5);
	/* windows on another policy are ignored, with a warning */
	ck_assert_ptr_nonnull(find_diag(DIAG_WARNING, "only used with policy"));
}
END_TEST

/* A gateway token in a header line that is not "Name: value". */
#define SECRET "gw-0123456789abcdefghij0123456789"

START_TEST(test_fidelity_keys)
{
	load("providers = ( { name = \"anthropic\";\n"
	     "    headers = [ \"anthropic-beta: extended-cache-ttl-2025-04-11\" ]; },\n"
	     "  { name = \"openai\"; } );\n"
	     "targets = (\n"
	     "  { name = \"a\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    allow_edit = [ \"thinking\", \"tool_choice\" ]; },\n"
	     "  { name = \"b\"; provider = \"openai\"; request_file = \"req.json\";\n"
	     "    endpoint = \"responses\"; warm_mode = \"prewarm\"; }\n"
	     ");\n");
	expect_ok();
	ck_assert_uint_eq(X.cfg->targets[0].allow_edit,
	                  ALLOW_EDIT_THINKING | ALLOW_EDIT_TOOL_CHOICE);
	ck_assert(!X.cfg->targets[0].ttl_set);
	ck_assert_int_eq(X.cfg->targets[1].warm_mode, WARM_MODE_PREWARM);
	ck_assert_str_eq(X.cfg->providers[0].headers[0],
	                 "anthropic-beta: extended-cache-ttl-2025-04-11");
	load("providers = ( { name = \"anthropic\";\n"
	     "    headers = [ \"x-api-key: mine\", \"Bearer " SECRET "\",\n"
	     "      \"Gateway token " SECRET ": x\", \": " SECRET "\",\n"
	     "      \"x-gw-token: " SECRET "\\r\\nx: y\" ]; } );\n"
	     "targets = (\n"
	     "  { name = \"a\"; request_file = \"req.json\"; allow_edit = [ \"system\" ];\n"
	     "    ttl = 300; },\n"
	     "  { name = \"b\"; request_file = \"req.json\"; endpoint = \"messages\";\n"
	     "    warm_mode = \"prewarm\"; }\n"
	     ");\n");
	ck_assert_int_eq(X.rc, -EINVAL);
	ck_assert_ptr_nonnull(find_diag(DIAG_ERROR, "header x-api-key is set by warmd itself"));
	/* where a line goes wrong, never what it holds (a gateway's token) */
	ck_assert_ptr_nonnull(
	        find_diag(DIAG_ERROR, "headers[1] is not \"Name: value\": it has no ':'"));
	ck_assert_ptr_nonnull(
	        find_diag(DIAG_ERROR, "headers[2] is not \"Name: value\": character 8 of"));
	ck_assert_ptr_nonnull(
	        find_diag(DIAG_ERROR, "headers[3] is not \"Name: value\": the name before"));
	ck_assert_ptr_nonnull(
	        find_diag(DIAG_ERROR, "headers[4] (x-gw-token): the value contains a"));
	for (size_t i = 0; i < X.d.n; i++)
		ck_assert_msg(!strstr(X.d.v[i].text, "0123456789"), "%s", X.d.v[i].text);
	ck_assert_ptr_nonnull(find_diag(DIAG_ERROR, "allow_edit \"system\" is not an edit"));
	ck_assert_ptr_nonnull(find_diag(DIAG_ERROR, "prewarm\" needs the responses endpoint"));
}
END_TEST

START_TEST(test_unknown_provider)
{
	load("providers = ( { name = \"anthropic\"; } );\n"
	     "targets = (\n"
	     "  { name = \"a\";\n"
	     "    provider = \"anthropic-eu\";\n"
	     "    request_file = \"req.json\"; }\n"
	     ");\n");
	expect_error(line_of("anthropic-eu"), "target \"a\": unknown provider \"anthropic-eu\"");
	ck_assert_uint_eq(X.d.errors, 1);

	/* with several providers, "provider" is needed */
	load("providers = ( { name = \"anthropic\"; }, { name = \"openai\"; } );\n"
	     "targets = (\n"
	     "  { name = \"a\"; request_file = \"req.json\"; }\n"
	     ");\n");
	expect_error(line_of("{ name = \"a\""), "\"provider\" is required");
}
END_TEST

START_TEST(test_missing_request_file)
{
	load("providers = ( { name = \"anthropic\"; } );\n"
	     "targets = (\n"
	     "  { name = \"ok\"; request_file = \"req.json\"; },\n"
	     "  {\n"
	     "    name = \"nofile\";\n"
	     "    ttl = \"5m\";\n"
	     "  }\n"
	     ");\n");
	expect_error(line_of("  {\n"), "target \"nofile\": \"request_file\" is required");
	ck_assert_uint_eq(X.d.errors, 1);
}
END_TEST

START_TEST(test_missing_names)
{
	load("providers = (\n"
	     "  { kind = \"anthropic\"; }\n"
	     ");\n");
	expect_error(2, "providers[0]: \"name\" is required");
	load("providers = ( { name = \"mine\"; } );\n");
	expect_error(1, "provider \"mine\": \"kind\" is required");
	load("providers = ( { name = \"bad name\"; kind = \"openai\"; } );\n");
	expect_error(1, "names may only use letters");
	load("providers = ( { name = \"anthropic\"; } );\n"
	     "targets = (\n"
	     "  { request_file = \"req.json\"; }\n"
	     ");\n");
	expect_error(3, "targets[0]: \"name\" is required");
	load("providers = ( { name = \"anthropic\"; } );\n");
	expect_ok();
	/* No provider and no target: the idle configuration warmd ships. */
	load("providers = ( );\ntargets = ( );\n");
	expect_ok();
	ck_assert_uint_eq(X.d.n, 0);
	/* Providers and no target: a daemon for sessions only (warmctl keep),
	 * without a warning when the empty list says it is meant. */
	load("providers = ( { name = \"anthropic\"; } );\ntargets = ( );\n");
	expect_ok();
	ck_assert_uint_eq(X.d.n, 0);
	ck_assert_uint_eq(X.cfg->nproviders, 1);
	ck_assert_uint_eq(X.cfg->ntargets, 0);
	load("providers = ( { name = \"anthropic\"; } );\n");
	expect_ok();
	ck_assert_uint_eq(X.d.warnings, 1);
	ck_assert_ptr_nonnull(strstr(X.d.v[0].text, "warm only sessions"));
	load("daemon = {\n  max_sessions = -1;\n  max_session_bytes = \"1G\";\n};\n");
	expect_error(2, "\"max_sessions\" = -1 is out of range");
	expect_error(3, "\"max_session_bytes\" must be an integer");
	load("targets = ( );\n");
	expect_ok();
	ck_assert_uint_eq(X.cfg->nproviders, 0);
	ck_assert_uint_eq(X.cfg->ntargets, 0);
	/* ...but a target needs one */
	load("providers = ( );\n"
	     "targets = (\n"
	     "  { name = \"t\"; request_file = \"req.json\"; }\n"
	     ");\n");
	expect_error(3, "target \"t\": no provider is configured");
	load("targets = (\n"
	     "  { name = \"t\"; provider = \"anthropic\"; request_file = \"req.json\"; }\n"
	     ");\n");
	expect_error(2, "target \"t\": unknown provider \"anthropic\"");
}
END_TEST

START_TEST(test_duplicates)
{
	load("providers = (\n"
	     "  { name = \"anthropic\"; },\n"
	     "  { name = \"anthropic\"; max_rpm = 5; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"t\"; provider = \"anthropic\"; request_file = \"req.json\"; },\n"
	     "  { name = \"u\"; provider = \"anthropic\"; request_file = \"req.json\"; },\n"
	     "  { name = \"t\"; provider = \"anthropic\"; request_file = \"req.json\"; }\n"
	     ");\n");
	{
		char want[128];
		snprintf(want, sizeof(want),
		         "provider \"anthropic\": defined twice (first at line %d)",
		         line_of_nth("{ name = \"anthropic\"", 1));
		expect_error(line_of_nth("{ name = \"anthropic\"", 2), want);
		snprintf(want, sizeof(want), "target \"t\": defined twice (first at line %d)",
		         line_of_nth("{ name = \"t\"", 1));
		expect_error(line_of_nth("{ name = \"t\"", 2), want);
	}
	ck_assert_uint_eq(X.d.errors, 2);
}
END_TEST

/* A name taken by a group of versions, and a group taking a name: the
 * second is the duplicate, named with the first's line (the group's first
 * version stands for it). */
START_TEST(test_duplicates_with_versions)
{
	load("providers = ( { name = \"anthropic\"; } );\n"
	     "targets = (\n"
	     "  { name = \"g\";\n"
	     "    versions = ( { name = \"blue\"; request_file = \"req.json\"; weight = 100; },\n"
	     "                 { name = \"green\"; request_file = \"req.json\"; weight = 0; } ); "
	     "},\n"
	     "  { name = \"g\"; request_file = \"req.json\"; },\n"
	     "  { name = \"p\"; request_file = \"req.json\"; },\n"
	     "  { name = \"p\";\n"
	     "    versions = ( { name = \"blue\"; request_file = \"req.json\"; weight = 100; } ); "
	     "}\n"
	     ");\n");
	{
		char want[128];
		snprintf(want, sizeof(want), "target \"g\": defined twice (first at line %d)",
		         line_of_nth("{ name = \"blue\"", 1));
		expect_error(line_of_nth("{ name = \"g\"", 2), want);
		snprintf(want, sizeof(want), "target \"p\": defined twice (first at line %d)",
		         line_of_nth("{ name = \"p\"", 1));
		expect_error(line_of_nth("{ name = \"p\"", 2), want);
	}
	ck_assert_uint_eq(X.d.errors, 2);
}
END_TEST

START_TEST(test_ttl_too_short)
{
	load("providers = ( { name = \"anthropic\"; } );\n"
	     "targets = (\n"
	     "  { name = \"a\"; request_file = \"req.json\";\n"
	     "    ttl = 1; },\n"
	     "  { name = \"b\"; request_file = \"req.json\";\n"
	     "    ttl = \"1500ms\"; },\n"
	     "  { name = \"c\"; request_file = \"req.json\";\n"
	     "    ttl = 0; }\n"
	     ");\n");
	expect_error(line_of("ttl = 1;"), "target \"a\": ttl 1s is too short");
	expect_error(line_of("ttl = \"1500ms\""), "target \"b\": ttl 1.5s is too short");
	expect_error(line_of("ttl = 0;"), "target \"c\": ttl 0s is too short");
	ck_assert_uint_eq(X.d.errors, 3);
	ck_assert_ptr_null(find_diag(DIAG_ERROR, "target \"d\""));

	load("providers = ( { name = \"anthropic\"; } );\n"
	     "targets = ( { name = \"d\"; request_file = \"req.json\"; ttl = \"5\"; } );\n");
	expect_ok();
	ck_assert_double_eq(X.cfg->targets[0].ttl_s, 5);

	load("providers = ( { name = \"anthropic\"; } );\n"
	     "targets = ( { name = \"e\"; request_file = \"req.json\";\n"
	     "  ttl = \"5 minutes\"; } );\n");
	expect_error(3, "\"ttl\" = \"5 minutes\" is not a duration");
}
END_TEST

START_TEST(test_openai_compatible)
{
	load("providers = (\n"
	     "  { name = \"local\"; kind = \"openai-compatible\"; }\n"
	     ");\n");
	expect_error(2, "provider \"local\": \"base_url\" is required for kind openai-compatible");

	load("providers = (\n"
	     "  { name = \"local\"; kind = \"openai-compatible\";\n"
	     "    base_url = \"http://127.0.0.1:8000/v1\"; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"vllm\"; request_file = \"req.json\"; },\n"
	     "  { name = \"ok\"; request_file = \"req.json\"; ttl = \"10m\"; }\n"
	     ");\n");
	expect_error(line_of("{ name = \"vllm\""),
	             "target \"vllm\": \"ttl\" is required for openai-compatible providers");
	ck_assert_uint_eq(X.d.errors, 1);

	/* no key needed: no default environment variable either */
	load("providers = (\n"
	     "  { name = \"local\"; kind = \"openai-compatible\";\n"
	     "    base_url = \"http://localhost:8000/v1/\"; }\n"
	     ");\n"
	     "targets = ( { name = \"ok\"; request_file = \"req.json\"; ttl = 600; } );\n");
	expect_ok();
	ck_assert_ptr_null(X.cfg->providers[0].api_key_env);
	ck_assert_ptr_null(X.cfg->providers[0].api_key_file);
	ck_assert_str_eq(X.cfg->providers[0].base_url, "http://localhost:8000/v1");
	ck_assert_double_eq(X.cfg->targets[0].ttl_s, 600);
}
END_TEST

START_TEST(test_http_only_loopback)
{
	static const char *const ok[] = { "http://127.0.0.1:8080", "http://127.0.0.1",
		                          "http://localhost:8080/v1", "http://localhost",
		                          "http://[::1]:8080", "https://api.example.com/v1",
		                          /* a loopback gateway that asks for basic auth */
		                          "http://user:pw@127.0.0.1:8080",
		                          "http://token@localhost/v1" };

	load("providers = (\n"
	     "  { name = \"p\"; kind = \"openai\";\n"
	     "    base_url = \"http://api.example.com/v1\"; }\n"
	     ");\n");
	expect_error(line_of("base_url"),
	             "provider \"p\": base_url \"http://api.example.com/v1\" must use https://");
	/* a password in the URL is not shown */
	load("providers = (\n"
	     "  { name = \"p\"; kind = \"openai\";\n"
	     "    base_url = \"http://user:s3cret-pw@api.example.com/v1\"; }\n"
	     ");\n");
	expect_error(3, "base_url \"http://***@api.example.com/v1\" must use https://");
	ck_assert_ptr_null(strstr(X.d.v[0].text, "s3cret"));
	load("providers = (\n"
	     "  { name = \"p\"; kind = \"openai\";\n"
	     "    base_url = \"ftp://127.0.0.1/\"; }\n"
	     ");\n");
	expect_error(3, "must use https://");
	load("providers = (\n"
	     "  { name = \"p\"; kind = \"openai\";\n"
	     "    base_url = \"https://api.example.com/a b\"; }\n"
	     ");\n");
	expect_error(3, "base_url contains a space or control character");

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text),
		         "providers = ( { name = \"p\"; kind = \"openai\"; base_url = \"%s/\"; } "
		         ");\n",
		         ok[i]);
		load(text);
		expect_ok();
		ck_assert_str_eq(X.cfg->providers[0].base_url, ok[i]);
	}
}
END_TEST

/* BUG (reported): the loopback test for plain http matches the host by the
 * prefix "127." and ignores userinfo, so these non-loopback hosts get plain
 * http (and the API key in clear text). */
START_TEST(test_http_loopback_lookalikes)
{
	static const char *const bad[] = { "http://127.0.0.1.attacker.example/v1",
		                           "http://127.0.0.1@attacker.example/v1",
		                           "http://127.attacker.example" };

	char accepted[512] = "";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text),
		         "providers = ( { name = \"p\"; kind = \"openai\";\n"
		         "  base_url = \"%s\"; } );\n",
		         bad[i]);
		load(text);
		if (X.rc == 0) {
			strcat(accepted, " ");
			strcat(accepted, bad[i]);
			continue;
		}
		expect_error(2, "must use https://");
	}
	ck_assert_msg(accepted[0] == '\0', "plain http accepted for:%s", accepted);
}
END_TEST

/* libconfig's own copies of the providers' strings (an inline key, a
 * header's token, a URL's password) are wiped before it frees them; the
 * other sections' are left alone. */
START_TEST(test_libconfig_copies_wiped)
{
	config_setting_t *h;
	const char *v;
	config_t cf;

	config_init(&cf);
	ck_assert_int_eq(
	        config_read_string(&cf,
	                           "providers = ( { name = \"p\"; api_key = \"sk-in-0123456789\";\n"
	                           "  headers = [ \"x-gw-token: tok-0123456789\" ];\n"
	                           "  proxy = \"http://u:pw-0123456789@proxy:3128\"; } );\n"
	                           "targets = ( { name = \"t\"; request_file = \"r.json\"; } );\n"),
	        CONFIG_TRUE);
	config_wipe_providers(&cf);
	ck_assert(config_lookup_string(&cf, "providers.[0].api_key", &v));
	ck_assert_str_eq(v, "");
	ck_assert(config_lookup_string(&cf, "providers.[0].proxy", &v));
	ck_assert_str_eq(v, "");
	h = config_lookup(&cf, "providers.[0].headers");
	ck_assert_ptr_nonnull(h);
	ck_assert_str_eq(config_setting_get_string_elem(h, 0), "");
	ck_assert(config_lookup_string(&cf, "targets.[0].request_file", &v));
	ck_assert_str_eq(v, "r.json");
	config_destroy(&cf);
}
END_TEST

START_TEST(test_key_sources)
{
	load("providers = (\n"
	     "  { name = \"anthropic\";\n"
	     "    api_key_file = \"anthropic.key\";\n"
	     "    api_key_env = \"ANTHROPIC_API_KEY\"; }\n"
	     ");\n");
	expect_error(line_of("api_key_file"),
	             "provider \"anthropic\": use only one of api_key_file, api_key_env and "
	             "api_key");
	ck_assert_uint_eq(X.d.errors, 1);

	load("providers = (\n"
	     "  { name = \"anthropic\";\n"
	     "    api_key_env = \"ANTHROPIC_API_KEY\";\n"
	     "    api_key = \"test-key-123\"; }\n"
	     ");\n");
	expect_error(line_of("api_key_env"), "use only one of");

	/* an inline key works, with a warning that never repeats the key */
	load("providers = (\n"
	     "  { name = \"anthropic\";\n"
	     "    api_key = \"test-key-123\"; }\n"
	     ");\n"
	     "targets = ( );\n");
	expect_ok();
	ck_assert_uint_eq(X.d.n, 1);
	ck_assert_uint_eq(X.d.warnings, 1);
	expect_diag(DIAG_WARNING, line_of("api_key ="),
	            "provider \"anthropic\": the API key is written inline in the config");
	ck_assert_ptr_null(strstr(X.d.v[0].text, "test-key-123"));
	ck_assert_str_eq(X.cfg->providers[0].api_key, "test-key-123");
	ck_assert_ptr_null(X.cfg->providers[0].api_key_env);
}
END_TEST

START_TEST(test_cache_key_and_endpoint)
{
	load("providers = ( { name = \"anthropic\"; }, { name = \"openai\"; } );\n"
	     "targets = (\n"
	     "  { name = \"a\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    cache_key = \"support-v3\"; },\n"
	     "  { name = \"b\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    endpoint = \"chat\"; },\n"
	     "  { name = \"c\"; provider = \"openai\"; request_file = \"req.json\";\n"
	     "    endpoint = \"messages\"; },\n"
	     "  { name = \"d\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    endpoint = \"messages\"; },\n"
	     "  { name = \"e\"; provider = \"openai\"; request_file = \"req.json\";\n"
	     "    endpoint = \"chat\"; cache_key = \"k\"; }\n"
	     ");\n");
	expect_error(line_of("cache_key = \"support-v3\""),
	             "target \"a\": cache_key (OpenAI prompt_cache_key) does not apply to "
	             "provider \"anthropic\" of kind anthropic");
	expect_error(
	        line_of("endpoint = \"chat\""),
	        "target \"b\": endpoint \"chat\" does not match provider \"anthropic\" of kind "
	        "anthropic");
	expect_error(line_of("endpoint = \"messages\""),
	             "target \"c\": endpoint \"messages\" does not match provider \"openai\" of "
	             "kind openai");
	ck_assert_uint_eq(X.d.errors, 3);
}
END_TEST

/* bedrock: its endpoint from the region, or the region from its endpoint;
 * a target's model; the key sources; the keys of other kinds. */
START_TEST(test_bedrock_settings)
{
	const struct cfg_provider *p;

	load("providers = (\n"
	     "  { name = \"aws\"; kind = \"bedrock\"; region = \"eu-west-3\"; },\n"
	     "  { name = \"vpc\"; kind = \"bedrock\";\n"
	     "    base_url = \"https://bedrock-runtime.us-west-2.amazonaws.com\";\n"
	     "    aws_credentials_file = \"aws/credentials\"; aws_profile = \"warm\"; },\n"
	     "  { name = \"local\"; kind = \"bedrock\"; base_url = \"http://127.0.0.1:8080/\"; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"i\"; provider = \"aws\"; request_file = \"req.json\";\n"
	     "    model = \"anthropic.claude-sonnet-4-5-20250929-v1:0\"; endpoint = \"invoke\"; "
	     "},\n"
	     "  { name = \"c\"; provider = \"local\"; request_file = \"req.json\";\n"
	     "    model = \"us.anthropic.claude-haiku-4-5-20251001-v1:0\"; endpoint = "
	     "\"converse\"; }\n"
	     ");\n");
	expect_ok();
	p = &X.cfg->providers[0];
	ck_assert_int_eq(p->kind, PROVIDER_BEDROCK);
	ck_assert_str_eq(p->region, "eu-west-3");
	ck_assert_str_eq(p->base_url, "https://bedrock-runtime.eu-west-3.amazonaws.com");
	ck_assert_str_eq(p->api_key_env, "AWS_BEARER_TOKEN_BEDROCK");
	ck_assert_str_eq(p->aws_profile, "default");
	ck_assert_ptr_null(p->aws_credentials_file);
	p = &X.cfg->providers[1];
	ck_assert_str_eq(p->region, "us-west-2");
	ck_assert_str_eq(p->aws_profile, "warm");
	ck_assert(strstr(p->aws_credentials_file, "/aws/credentials") != NULL);
	ck_assert_ptr_null(p->api_key_env); /* AWS credentials: no bearer token by default */
	p = &X.cfg->providers[2];
	ck_assert_ptr_null(p->region);
	ck_assert_str_eq(p->base_url, "http://127.0.0.1:8080");
	ck_assert_str_eq(X.cfg->targets[0].model, "anthropic.claude-sonnet-4-5-20250929-v1:0");
	ck_assert_int_eq(X.cfg->targets[0].endpoint, ENDPOINT_INVOKE);
	ck_assert_int_eq(X.cfg->targets[1].endpoint, ENDPOINT_CONVERSE);
	ck_assert_str_eq(provider_kind_name(PROVIDER_BEDROCK), "bedrock");
	ck_assert_str_eq(endpoint_name(ENDPOINT_CONVERSE), "converse");
}
END_TEST

START_TEST(test_bedrock_errors)
{
	load("providers = (\n"
	     "  { name = \"noregion\"; kind = \"bedrock\"; },\n"
	     "  { name = \"aws\"; kind = \"bedrock\"; region = \"us-east-1/../x\";\n"
	     "    api_key_file = \"k\"; aws_credentials_file = \"c\"; },\n"
	     "  { name = \"anthropic\"; region = \"us-east-1\"; aws_profile = \"p\"; },\n"
	     "  { name = \"ok\"; kind = \"bedrock\"; region = \"us-east-1\"; aws_profile = \"x\";\n"
	     "    headers = [\"X-Amz-Date: 20260101T000000Z\"]; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"nomodel\"; provider = \"ok\"; request_file = \"req.json\"; },\n"
	     "  { name = \"m\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    model = \"claude-x\"; endpoint = \"converse\"; },\n"
	     "  { name = \"e\"; provider = \"ok\"; request_file = \"req.json\";\n"
	     "    model = \"a b\"; endpoint = \"messages\"; cache_key = \"k\"; }\n"
	     ");\n");
	expect_error(line_of("{ name = \"noregion\""),
	             "provider \"noregion\": \"region\" is required for kind bedrock");
	expect_error(line_of("us-east-1/../x"),
	             "provider \"aws\": region \"us-east-1/../x\" is not an AWS region name");
	expect_error(line_of("aws_credentials_file = \"c\""),
	             "provider \"aws\": use either a Bedrock API key (api_key_file, api_key_env, "
	             "api_key) or AWS credentials (aws_credentials_file), not both");
	expect_error(line_of("region = \"us-east-1\"; aws_profile = \"p\""),
	             "provider \"anthropic\": aws_profile is only for kind bedrock");
	expect_error(line_of("region = \"us-east-1\"; aws_profile = \"p\""),
	             "provider \"anthropic\": region does not apply to kind anthropic");
	expect_diag(DIAG_WARNING, line_of("aws_profile = \"x\""),
	            "provider \"ok\": aws_profile names a profile of aws_credentials_file");
	expect_error(line_of("{ name = \"nomodel\""),
	             "target \"nomodel\": a target of bedrock provider \"ok\" needs model = ");
	expect_error(line_of("model = \"claude-x\""),
	             "target \"m\": model does not apply to provider \"anthropic\" of kind "
	             "anthropic (the request body names its model)");
	expect_error(line_of("endpoint = \"converse\""),
	             "target \"m\": endpoint \"converse\" does not match provider \"anthropic\"");
	expect_error(line_of("model = \"a b\""),
	             "target \"e\": model contains a space, control or non-ASCII character");
	expect_error(line_of("model = \"a b\""),
	             "target \"e\": endpoint \"messages\" does not match provider \"ok\" of kind "
	             "bedrock");
	expect_error(line_of("model = \"a b\""),
	             "target \"e\": cache_key (OpenAI prompt_cache_key) does not apply to provider "
	             "\"ok\" of kind bedrock");
	expect_error(line_of("X-Amz-Date"),
	             "provider \"ok\": headers[0]: x-amz-* headers are set by warmd itself");
	ck_assert_uint_eq(X.d.errors, 12);
}
END_TEST

/* The cloud kinds' keys: where each applies, and what a kind needs. */
START_TEST(test_azure_gemini_keys)
{
	load("providers = (\n"
	     "  { name = \"az\"; kind = \"azure-openai\"; }\n"
	     ");\n");
	expect_error(2, "provider \"az\": \"base_url\" is required for kind azure-openai");

	load("providers = (\n"
	     "  { name = \"az\"; kind = \"azure-openai\";\n"
	     "    base_url = \"https://res.openai.azure.com/\"; },\n"
	     "  { name = \"az2\"; kind = \"azure-openai\";\n"
	     "    base_url = \"https://res2.openai.azure.com\"; api_version = \"2024-10-21\"; },\n"
	     "  { name = \"gemini\"; },\n"
	     "  { name = \"openai\"; api_version = \"2024-10-21\"; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"a\"; provider = \"az\"; request_file = \"req.json\";\n"
	     "    deployment = \"prod-4o\"; },\n"
	     "  { name = \"b\"; provider = \"az2\"; request_file = \"req.json\";\n"
	     "    deployment = \"prod-4o\"; },\n"
	     "  { name = \"c\"; provider = \"az\"; request_file = \"req.json\"; },\n"
	     "  { name = \"g\"; provider = \"gemini\"; request_file = \"req.json\";\n"
	     "    model = \"gemini-2.5-flash\"; },\n"
	     "  { name = \"h\"; provider = \"gemini\"; request_file = \"req.json\";\n"
	     "    deployment = \"x\"; cache_key = \"k\"; },\n"
	     "  { name = \"o\"; provider = \"openai\"; request_file = \"req.json\";\n"
	     "    model = \"gpt-4o\"; },\n"
	     "  { name = \"sp\"; provider = \"az2\"; request_file = \"req.json\";\n"
	     "    deployment = \"prod 4o\"; }\n"
	     ");\n");
	expect_error(line_of("{ name = \"openai\"; api_version"),
	             "provider \"openai\": \"api_version\" applies only to azure-openai providers");
	expect_error(line_of("deployment = \"prod-4o\"; },"),
	             "target \"a\": the deployments path needs api_version = \"...\" on provider "
	             "\"az\"");
	expect_error(line_of("deployment = \"x\""),
	             "target \"h\": \"deployment\" applies only to azure-openai providers");
	expect_error(line_of("deployment = \"x\""),
	             "target \"h\": cache_key (OpenAI prompt_cache_key) does not apply to provider "
	             "\"gemini\" of kind gemini");
	expect_error(line_of("model = \"gpt-4o\""),
	             "target \"o\": model does not apply to provider \"openai\" of kind openai");
	expect_error(line_of("prod 4o"),
	             "target \"sp\": deployment contains a space, control or non-ASCII character");
	ck_assert_uint_eq(X.d.errors, 6);

	load("providers = (\n"
	     "  { name = \"az\"; kind = \"azure-openai\";\n"
	     "    base_url = \"https://res.openai.azure.com/\"; api_version = \"2024-10-21\"; },\n"
	     "  { name = \"gemini\"; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"a\"; provider = \"az\"; request_file = \"req.json\";\n"
	     "    deployment = \"prod-4o\"; },\n"
	     "  { name = \"g\"; provider = \"gemini\"; request_file = \"req.json\";\n"
	     "    model = \"gemini-2.5-flash\"; }\n"
	     ");\n");
	expect_ok();
	ck_assert_int_eq(X.cfg->providers[0].kind, PROVIDER_AZURE_OPENAI);
	ck_assert_str_eq(X.cfg->providers[0].base_url, "https://res.openai.azure.com");
	ck_assert_str_eq(X.cfg->providers[0].api_key_env, "AZURE_OPENAI_API_KEY");
	ck_assert_str_eq(X.cfg->providers[0].api_version, "2024-10-21");
	ck_assert_int_eq(X.cfg->providers[1].kind, PROVIDER_GEMINI);
	ck_assert_str_eq(X.cfg->providers[1].base_url,
	                 "https://generativelanguage.googleapis.com/v1beta");
	ck_assert_str_eq(X.cfg->providers[1].api_key_env, "GEMINI_API_KEY");
	ck_assert_str_eq(X.cfg->targets[0].deployment, "prod-4o");
	ck_assert_str_eq(X.cfg->targets[1].model, "gemini-2.5-flash");
}
END_TEST

START_TEST(test_missing_config_file)
{
	char *path = in_dir("nope.conf");
	struct config *untouched = (struct config *)&X;
	int rc = config_load(path, &X.d, &untouched);

	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_eq(untouched, (struct config *)&X);
	ck_assert_uint_eq(X.d.n, 1);
	ck_assert_uint_eq(X.d.errors, 1);
	ck_assert_str_eq(X.d.v[0].file, path);
	ck_assert_int_eq(X.d.v[0].line, 0);
	ck_assert_str_eq(X.d.v[0].text, "cannot read config file: No such file or directory");
	free(path);
}
END_TEST

START_TEST(test_many_errors_reported)
{
	load("daemon = {\n"                                   /* 1 */
	     "  max_inflight = 0;\n"                          /* 2 */
	     "  colour = \"blue\";\n"                         /* 3 */
	     "};\n"                                           /* 4 */
	     "providers = (\n"                                /* 5 */
	     "  { name = \"anthropic\"; timeout_ms = 1; },\n" /* 6 */
	     "  { name = \"o\"; kind = \"openai\";\n"         /* 7 */
	     "    base_url = \"http://10.0.0.1/v1\"; }\n"     /* 8 */
	     ");\n"                                           /* 9 */
	     "targets = (\n"                                  /* 10 */
	     "  { name = \"a\"; provider = \"nobody\";\n"     /* 11 */
	     "    request_file = \"req.json\"; },\n"          /* 12 */
	     "  { name = \"b\"; provider = \"o\";\n"          /* 13 */
	     "    request_file = \"req.json\";\n"             /* 14 */
	     "    ttl = 1; policy = \"sometimes\"; }\n"       /* 15 */
	     ");\n");                                         /* 16 */
	expect_error(2, "\"max_inflight\" = 0 is out of range");
	expect_error(3, "unknown key \"colour\"");
	expect_error(6, "\"timeout_ms\" = 1 is out of range");
	expect_error(8, "must use https://");
	expect_error(11, "unknown provider \"nobody\"");
	expect_error(15, "ttl 1s is too short");
	expect_error(15, "unknown policy \"sometimes\"");
	ck_assert_uint_eq(X.d.errors, 7);
	ck_assert_uint_eq(X.d.n, 7);
}
END_TEST

START_TEST(test_include_reports_its_file)
{
	char *inc = tu_write(X.dir, "providers.conf",
	                     "providers = (\n"
	                     "  { name = \"anthropic\";\n"
	                     "    max_inflight = 0; }\n"
	                     ");\n");
	const struct diag *g;

	load("@include \"providers.conf\"\n");
	ck_assert_int_eq(X.rc, -EINVAL);
	g = find_diag(DIAG_ERROR, "\"max_inflight\" = 0 is out of range");
	ck_assert_ptr_nonnull(g);
	ck_assert_msg(strstr(g->file, "providers.conf") != NULL, "file %s", g->file);
	ck_assert_int_eq(g->line, 3);
	free(inc);
}
END_TEST

/* ----------------------------------------------------------------- diag */

START_TEST(test_diag_format)
{
	char out[1400], want[1400];

	load("providers = (\n"
	     "  { name = \"anthropic\";\n"
	     "    max_inflight = 0; }\n"
	     ");\n"
	     "targets = ( );\n");
	ck_assert_uint_eq(X.d.n, 1);
	diag_format(&X.d.v[0], out, sizeof(out));
	/* keys are read before the name is known: the element is named by index */
	snprintf(want, sizeof(want),
	         "%s:3: error: providers[0]: \"max_inflight\" = 0 is out of range [1, 100000]",
	         X.path);
	ck_assert_str_eq(out, want);
	diags_first_error(&X.d, out, sizeof(out));
	ck_assert_str_eq(out, want);
	diags_free(&X.d);

	diags_add(&X.d, DIAG_WARNING, "/etc/warmd/warmd.conf", 12, "inline key %s", "here");
	diags_add(&X.d, DIAG_ERROR, "/etc/warmd/warmd.conf", 0, "no %s list", "providers");
	diags_add(&X.d, DIAG_ERROR, NULL, 4, "x");
	ck_assert_uint_eq(X.d.errors, 2);
	ck_assert_uint_eq(X.d.warnings, 1);
	diag_format(&X.d.v[0], out, sizeof(out));
	ck_assert_str_eq(out, "/etc/warmd/warmd.conf:12: warning: inline key here");
	diag_format(&X.d.v[1], out, sizeof(out));
	ck_assert_str_eq(out, "/etc/warmd/warmd.conf: error: no providers list");
	diag_format(&X.d.v[2], out, sizeof(out));
	ck_assert_str_eq(out, "?:4: error: x");
	/* the first *error*, skipping the warning */
	diags_first_error(&X.d, out, sizeof(out));
	ck_assert_str_eq(out, "/etc/warmd/warmd.conf: error: no providers list");
	/* truncation stays NUL-terminated */
	diag_format(&X.d.v[0], out, 10);
	ck_assert_str_eq(out, "/etc/warm");
	diags_free(&X.d);
	ck_assert_uint_eq(X.d.n, 0);
	ck_assert_uint_eq(X.d.errors, 0);
	diags_first_error(&X.d, out, sizeof(out));
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_name_syntax)
{
	char long_name[80];

	ck_assert(config_name_valid("support-bot_v2.1"));
	ck_assert(!config_name_valid(""));
	ck_assert(!config_name_valid("a b"));
	ck_assert(!config_name_valid("a/b"));
	ck_assert(!config_name_valid("a\"b"));
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	ck_assert(config_name_valid(long_name));
	long_name[64] = 'a';
	long_name[65] = '\0';
	ck_assert(!config_name_valid(long_name));
	ck_assert_str_eq(provider_kind_name(PROVIDER_OPENAI_COMPAT), "openai-compatible");
	ck_assert_str_eq(policy_name(POLICY_MANUAL), "manual");
	ck_assert_str_eq(endpoint_name(ENDPOINT_CHAT), "chat");
}
END_TEST

/* ------------------------------------------------------------- vertex */

START_TEST(test_vertex)
{
	char *creds = tu_tmpdir(), *want = NULL;

	ck_assert_ptr_nonnull(creds);
	free(tu_write(creds, "sa.json", "{}\n"));
	ck_assert_int_ge(asprintf(&want, "%s/sa.json", creds), 0);
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	load("providers = (\n"
	     "  { name = \"vertex\"; project = \"example-project\"; region = \"us-east5\";\n"
	     "    service_account_file = \"sa.json\"; },\n"
	     "  { name = \"g\"; kind = \"vertex\"; project = \"p-1\"; region = \"global\";\n"
	     "    service_account_file = \"/etc/warmd/g.json\"; },\n"
	     "  { name = \"t\"; kind = \"vertex\"; project = \"p-2\"; region = \"europe-west1\";\n"
	     "    base_url = \"http://127.0.0.1:8080/\"; service_account_file = \"t.json\"; }\n"
	     ");\n"
	     "targets = ( { name = \"a\"; provider = \"vertex\"; request_file = \"req.json\";\n"
	     "              model = \"claude-sonnet-4-5@20250929\"; } );\n");
	expect_ok();
	ck_assert_int_eq(X.cfg->providers[0].kind, PROVIDER_VERTEX);
	ck_assert_str_eq(X.cfg->providers[0].base_url,
	                 "https://us-east5-aiplatform.googleapis.com");
	ck_assert_str_eq(X.cfg->providers[0].project, "example-project");
	ck_assert_str_eq(X.cfg->providers[0].region, "us-east5");
	/* $CREDENTIALS_DIRECTORY first, like api_key_file */
	ck_assert_str_eq(X.cfg->providers[0].service_account_file, want);
	ck_assert_int_eq(X.cfg->providers[0].key_line, line_of("service_account_file = \"sa"));
	ck_assert_ptr_null(X.cfg->providers[0].api_key_env);
	ck_assert_str_eq(X.cfg->providers[1].base_url, "https://aiplatform.googleapis.com");
	ck_assert_str_eq(X.cfg->providers[2].base_url, "http://127.0.0.1:8080");
	free(want);
	want = in_dir("t.json");
	ck_assert_str_eq(X.cfg->providers[2].service_account_file, want);
	ck_assert_str_eq(X.cfg->targets[0].model, "claude-sonnet-4-5@20250929");
	ck_assert_str_eq(provider_kind_name(PROVIDER_VERTEX), "vertex");

	/* Application Default Credentials' variable is the default key file. */
	unsetenv("CREDENTIALS_DIRECTORY");
	setenv("GOOGLE_APPLICATION_CREDENTIALS", "/var/lib/warmd/adc.json", 1);
	load("providers = ( { name = \"vertex\"; project = \"p\"; region = \"us-east5\"; } );\n"
	     "targets = ( { name = \"a\"; request_file = \"req.json\"; model = \"m@1\"; } );\n");
	expect_ok();
	ck_assert_str_eq(X.cfg->providers[0].service_account_file, "/var/lib/warmd/adc.json");
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	tu_rmrf(creds);
	free(creds);
	free(want);
}
END_TEST

START_TEST(test_vertex_errors)
{
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	load("providers = (\n"
	     "  { name = \"a\"; kind = \"vertex\"; },\n"
	     "  { name = \"b\"; kind = \"vertex\"; region = \"US East\"; },\n"
	     "  { name = \"c\"; kind = \"vertex\"; region = \"us-east5\"; project = \"a/b\";\n"
	     "    api_key_env = \"GOOGLE_KEY\"; },\n"
	     "  { name = \"d\"; kind = \"vertex\"; base_url = \"http://127.0.0.1:1\"; project = "
	     "\"p\";\n"
	     "    service_account_file = \"d.json\"; },\n"
	     "  { name = \"anthropic\"; project = \"p\"; region = \"us-east5\";\n"
	     "    service_account_file = \"x.json\"; }\n"
	     ");\n"
	     "targets = (\n"
	     "  { name = \"t1\"; provider = \"d\"; request_file = \"req.json\"; },\n"
	     "  { name = \"t2\"; provider = \"anthropic\"; request_file = \"req.json\";\n"
	     "    model = \"claude-sonnet-4-5\"; },\n"
	     "  { name = \"t3\"; provider = \"d\"; request_file = \"req.json\"; model = \"a b\";\n"
	     "    cache_key = \"k\"; }\n"
	     ");\n");
	expect_error(line_of("name = \"a\""), "provider \"a\": kind vertex needs \"region\"");
	expect_error(line_of("US East"), "region \"US East\" is not a Google Cloud region");
	expect_error(line_of("project = \"a/b\""),
	             "project \"a/b\" is not a Google Cloud project id");
	expect_error(line_of("GOOGLE_KEY"), "kind vertex takes no API key");
	expect_error(line_of("name = \"c\""),
	             "provider \"c\": kind vertex needs service_account_file (a service account's "
	             "JSON key), or GOOGLE_APPLICATION_CREDENTIALS");
	expect_error(line_of("name = \"d\""), "provider \"d\": kind vertex needs \"region\" (the "
	                                      "URL's path names it)");
	expect_error(line_of("project = \"p\"; region = \"us-east5\";\n    service"),
	             "provider \"anthropic\": \"project\" is only for kind vertex");
	expect_diag(DIAG_ERROR, line_of("service_account_file = \"x.json\""),
	            "\"service_account_file\" is only for kind vertex");
	expect_error(line_of("name = \"t1\""),
	             "target \"t1\": a target of vertex provider \"d\" needs model = \"...\" (a "
	             "Vertex AI model such as");
	expect_error(line_of("model = \"claude-sonnet-4-5\""),
	             "target \"t2\": model does not apply to provider \"anthropic\" of kind "
	             "anthropic");
	expect_error(line_of("model = \"a b\""),
	             "target \"t3\": model contains a space, control or non-ASCII character");
	expect_error(line_of("cache_key = \"k\""), "cache_key (OpenAI prompt_cache_key) does not "
	                                           "apply to provider \"d\" of kind vertex");
}
END_TEST

/* ------------------------------------------------------------- cluster */

#define ONE_TARGET                                                                                 \
	"providers = ( { name = \"anthropic\"; } );\n"                                             \
	"targets = ( { name = \"t\"; request_file = \"req.json\"; } );\n"

/* This host's name up to its first '.', as the node's default. */
static void short_hostname(char *out, size_t n)
{
	ck_assert_int_eq(gethostname(out, n - 1), 0);
	out[n - 1] = '\0';
	out[strcspn(out, ".")] = '\0';
}

START_TEST(test_cluster_defaults)
{
	const struct cfg_cluster *cl;
	char host[256];

	load(ONE_TARGET "cluster = {\n"
	                "  redis = \"redis://10.0.0.5:6379/0\";\n"
	                "};\n");
	expect_ok();
	ck_assert_uint_eq(X.d.n, 0);
	cl = &X.cfg->cluster;
	ck_assert(cl->enabled);
	ck_assert_str_eq(cl->redis, "redis://10.0.0.5:6379/0");
	ck_assert(!cl->addr.unix_socket);
	ck_assert_str_eq(cl->addr.host, "10.0.0.5");
	ck_assert_int_eq(cl->addr.port, 6379);
	ck_assert_int_eq(cl->addr.db, 0);
	ck_assert_ptr_null(cl->password_file);
	ck_assert_ptr_null(cl->username);
	short_hostname(host, sizeof(host));
	ck_assert_str_eq(cl->node, host);
	ck_assert_str_eq(cl->ns, "warmd");
	ck_assert_double_eq(cl->lease_s, 10);
	ck_assert_str_eq(cl->file, X.path);
	ck_assert_int_eq(cl->line, line_of("cluster = {"));
}
END_TEST

START_TEST(test_cluster_settings)
{
	const struct cfg_cluster *cl;
	char *creds, *want;

	load(ONE_TARGET "cluster = {\n"
	                "  redis = \"unix:///run/redis/redis.sock?db=2\";\n"
	                "  password_file = \"redis.pass\";\n"
	                "  username = \"warmd\";\n"
	                "  node = \"host-a.1_B\";\n"
	                "  namespace = \"prod.warmd-2\";\n"
	                "  lease = \"3s\";\n"
	                "};\n");
	expect_ok();
	cl = &X.cfg->cluster;
	ck_assert(cl->addr.unix_socket);
	ck_assert_str_eq(cl->addr.host, "/run/redis/redis.sock");
	ck_assert_int_eq(cl->addr.db, 2);
	want = in_dir("redis.pass");
	ck_assert_str_eq(cl->password_file, want);
	free(want);
	ck_assert_str_eq(cl->username, "warmd");
	ck_assert_str_eq(cl->node, "host-a.1_B");
	ck_assert_str_eq(cl->ns, "prod.warmd-2");
	ck_assert_double_eq(cl->lease_s, 3);

	/* password_file: $CREDENTIALS_DIRECTORY first, like api_key_file; a
	 * USER@ in the URL is the username (given twice alike: fine) */
	creds = tu_tmpdir();
	ck_assert_ptr_nonnull(creds);
	free(tu_write(creds, "redis.pass", "not-a-real-password\n"));
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	load(ONE_TARGET "cluster = { redis = \"redis://warmd@[::1]:6380/1\";\n"
	                "  password_file = \"redis.pass\"; lease = 300; };\n");
	expect_ok();
	cl = &X.cfg->cluster;
	ck_assert_int_ge(asprintf(&want, "%s/redis.pass", creds), 0);
	ck_assert_str_eq(cl->password_file, want);
	free(want);
	ck_assert_str_eq(cl->username, "warmd");
	ck_assert_str_eq(cl->addr.host, "::1");
	ck_assert_int_eq(cl->addr.port, 6380);
	ck_assert_double_eq(cl->lease_s, 300);
	load(ONE_TARGET "cluster = { redis = \"redis://warmd@h\"; username = \"warmd\";\n"
	                "  password_file = \"/etc/warmd/redis.pass\"; lease = \"1s\"; };\n");
	expect_ok();
	ck_assert_str_eq(X.cfg->cluster.password_file, "/etc/warmd/redis.pass");
	ck_assert_double_eq(X.cfg->cluster.lease_s, 1);
	unsetenv("CREDENTIALS_DIRECTORY");
	tu_rmrf(creds);
	free(creds);
}
END_TEST

/* Asserts that no diagnostic holds secret. */
static void expect_no_secret(const char *secret)
{
	char all[4096];

	dump_diags(all, sizeof(all));
	ck_assert_msg(strstr(all, secret) == NULL, "diagnostics show %s:%s", secret, all);
}

START_TEST(test_cluster_errors)
{
	char n65[66], text[512];

	load(ONE_TARGET "cluster = {\n"
	                "  node = \"a\";\n"
	                "};\n");
	expect_error(line_of("cluster = {"), "cluster: \"redis\" is required");

	load(ONE_TARGET "cluster = { redis = \"redis://:hunter2-not-real@10.0.0.5\"; };\n");
	expect_error(line_of("redis ="),
	             "cluster.redis: put the password in password_file, not in the URL");
	expect_no_secret("hunter2");
	load(ONE_TARGET "cluster = { redis = \"redis://warmd:hunter2-not-real@h\";\n"
	                "  password_file = \"p\"; };\n");
	expect_error(line_of("redis ="), "cluster.redis: put the password in password_file");
	expect_no_secret("hunter2");

	load(ONE_TARGET "cluster = { redis = \"rediss://h:6380\"; };\n");
	expect_error(line_of("redis ="), "cluster.redis: rediss:// (TLS) is not supported");
	load(ONE_TARGET "cluster = { redis = \"unix://run/redis.sock\"; };\n");
	expect_error(line_of("redis ="), "cluster.redis: the socket path must be absolute");
	load(ONE_TARGET "cluster = { redis = \"redis://h:99999\"; };\n");
	expect_error(line_of("redis ="), "cluster.redis: the port is not a number from 1 to 65535");
	load(ONE_TARGET "cluster = { redis = 6379; };\n");
	expect_error(line_of("redis ="), "cluster: \"redis\" must be a string");
	load(ONE_TARGET "cluster = { redis = \"\"; };\n");
	expect_error(line_of("redis ="), "cluster: \"redis\" must not be empty");

	/* logging in */
	load(ONE_TARGET "cluster = { redis = \"redis://h\";\n"
	                "  username = \"warmd\"; };\n");
	expect_error(line_of("username ="), "cluster: a username (username) needs password_file");
	load(ONE_TARGET "cluster = { redis = \"redis://warmd@h\"; };\n");
	expect_error(line_of("redis ="),
	             "cluster: a username (USER@ in redis) needs password_file");
	load(ONE_TARGET "cluster = { redis = \"redis://warmd@h\"; password_file = \"p\";\n"
	                "  username = \"other\"; };\n");
	expect_error(line_of("username ="), "cluster: username \"other\" differs from the user in "
	                                    "redis (\"warmd\"): give it once");
	load(ONE_TARGET "cluster = { redis = \"redis://h\"; password_file = \"p\";\n"
	                "  username = \"a b\"; };\n");
	expect_error(line_of("username ="),
	             "cluster: username must be 1 to 64 characters of [A-Za-z0-9._-]");

	/* names */
	load(ONE_TARGET "cluster = { redis = \"redis://h\";\n"
	                "  node = \"host a\"; };\n");
	expect_error(line_of("node ="),
	             "cluster: \"node\" must be 1 to 64 characters of [A-Za-z0-9._-]");
	memset(n65, 'n', 65);
	n65[65] = '\0';
	snprintf(text, sizeof(text),
	         ONE_TARGET "cluster = { redis = \"redis://h\";\n"
	                    "  namespace = \"%s\"; };\n",
	         n65);
	load(text);
	expect_error(line_of("namespace ="),
	             "cluster: \"namespace\" must be 1 to 64 characters of [A-Za-z0-9._-]");
	load(ONE_TARGET "cluster = { redis = \"redis://h\";\n"
	                "  namespace = \"a:b\"; };\n");
	expect_error(line_of("namespace ="), "cluster: \"namespace\" must be 1 to 64 characters");

	/* the lease */
	load(ONE_TARGET "cluster = { redis = \"redis://h\";\n"
	                "  lease = \"500ms\"; };\n");
	expect_error(line_of("lease ="), "cluster: \"lease\" must be from 1s to 5m");
	load(ONE_TARGET "cluster = { redis = \"redis://h\";\n"
	                "  lease = \"5m1s\"; };\n");
	expect_error(line_of("lease ="), "cluster: \"lease\" must be from 1s to 5m");
	load(ONE_TARGET "cluster = { redis = \"redis://h\";\n"
	                "  lease = \"soon\"; };\n");
	expect_error(line_of("lease ="), "cluster: \"lease\" = \"soon\" is not a duration");

	/* unknown keys, the section's shape */
	load(ONE_TARGET "cluster = { redis = \"redis://h\";\n"
	                "  lese = \"3s\"; };\n");
	expect_error(line_of("lese ="), "cluster: unknown key \"lese\" (did you mean \"lease\"?)");
	load(ONE_TARGET "cluster = { redis = \"redis://h\";\n"
	                "  sentinel = \"x\"; };\n");
	expect_error(line_of("sentinel ="), "cluster: unknown key \"sentinel\"");
	load(ONE_TARGET "cluster = \"redis://h\";\n");
	expect_error(line_of("cluster ="), "\"cluster\" must be a group: cluster = {");
	ck_assert_uint_eq(X.d.errors, 1);
}
END_TEST

/* A takeover may take a lease before the new owner warms: TTLs under 4
 * leases get a warning at their target (once for a target with versions),
 * and the config still loads. */
START_TEST(test_cluster_short_ttl_warning)
{
	load("providers = ( { name = \"anthropic\"; } );\n"
	     "targets = (\n"
	     "  { name = \"short\"; request_file = \"req.json\"; ttl = \"39s\"; },\n"
	     "  { name = \"enough\"; request_file = \"req.json\"; ttl = \"40s\"; },\n"
	     "  { name = \"g\"; ttl = \"30s\";\n"
	     "    versions = ( { name = \"blue\"; request_file = \"req.json\"; weight = 100; },\n"
	     "                 { name = \"green\"; request_file = \"req.json\"; weight = 0; } ); "
	     "}\n"
	     ");\n"
	     "cluster = { redis = \"redis://h\"; lease = \"10s\"; };\n");
	expect_ok();
	expect_diag(
	        DIAG_WARNING, line_of("{ name = \"short\""),
	        "target \"short\": ttl 39.0s is under 4 x the cluster lease (10.0s): a takeover "
	        "may let it lapse");
	expect_diag(DIAG_WARNING, line_of("{ name = \"blue\""), "target \"g\": ttl 30.0s");
	ck_assert_ptr_null(find_diag(DIAG_WARNING, "\"enough\""));
	ck_assert_uint_eq(X.d.n, 2);

	/* alone, the same TTLs are fine */
	load("providers = ( { name = \"anthropic\"; } );\n"
	     "targets = ( { name = \"short\"; request_file = \"req.json\"; ttl = \"39s\"; } );\n");
	expect_ok();
	ck_assert_uint_eq(X.d.n, 0);
}
END_TEST

/* Every cluster key needs a restart: adding or removing the section is
 * one change, "cluster"; else each key that differs, named cluster.KEY. */
START_TEST(test_cluster_restart_only_changes)
{
	struct changes ch = { .n = 0 };
	struct config *alone, *old;
	char want[1024];
	int n;

	alone = load_owned(ONE_TARGET);
	old = load_owned(ONE_TARGET "cluster = { redis = \"redis://h\"; node = \"a\"; };\n");
	ck_assert_int_eq(config_restart_only_changes(alone, old, change_cb, &ch), 1);
	ck_assert_str_eq(ch.text, "cluster=redis://h;");
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(config_restart_only_changes(old, alone, change_cb, &ch), 1);
	ck_assert_str_eq(ch.text, "cluster=(none);");
	memset(&ch, 0, sizeof(ch));
	ck_assert_int_eq(config_restart_only_changes(alone, alone, change_cb, &ch), 0);

	load(ONE_TARGET "cluster = { redis = \"redis://h\"; node = \"a\"; };\n");
	expect_ok();
	ck_assert_int_eq(config_restart_only_changes(old, X.cfg, change_cb, &ch), 0);
	ck_assert_int_eq(ch.n, 0);

	load(ONE_TARGET
	     "cluster = { redis = \"unix:///r.sock\"; password_file = \"p\";\n"
	     "  username = \"u\"; node = \"b\"; namespace = \"ns\"; lease = \"3s\"; };\n");
	expect_ok();
	n = config_restart_only_changes(old, X.cfg, change_cb, &ch);
	snprintf(want, sizeof(want),
	         "cluster.redis=unix:///r.sock;cluster.password_file=%s/p;cluster.username=u;"
	         "cluster.node=b;cluster.namespace=ns;cluster.lease=3.0s;",
	         X.rdir);
	ck_assert_str_eq(ch.text, want);
	ck_assert_int_eq(n, 6);
	ck_assert_int_eq(ch.n, 6);
	config_free(alone);
	config_free(old);
}
END_TEST

/* libconfig's copy of cluster.redis is wiped like the providers' strings:
 * a refused URL may hold a password. */
START_TEST(test_cluster_libconfig_copy_wiped)
{
	const char *v;
	config_t cf;

	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, "cluster = { redis = \"redis://:pw-0123@h\";\n"
	                                         "  node = \"a\"; };\n"),
	                 CONFIG_TRUE);
	config_wipe_cluster(&cf);
	ck_assert(config_lookup_string(&cf, "cluster.redis", &v));
	ck_assert_str_eq(v, "");
	ck_assert(config_lookup_string(&cf, "cluster.node", &v));
	ck_assert_str_eq(v, "a");
	config_destroy(&cf);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("valid");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_minimal_defaults);
	tcase_add_test(tc, test_openai_defaults);
	tcase_add_test(tc, test_full_settings);
	tcase_add_test(tc, test_runtime_directory);
	tcase_add_test(tc, test_touch_socket_settings);
	tcase_add_test(tc, test_restart_only_changes);
	tcase_add_test(tc, test_ttl_forms);
	tcase_add_test(tc, test_request_file_relative);
	tcase_add_test(tc, test_api_key_file_lookup);
	tcase_add_test(tc, test_name_syntax);
	tcase_add_test(tc, test_bedrock_settings);
	tcase_add_test(tc, test_vertex);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_syntax_error);
	tcase_add_test(tc, test_unknown_key_hint);
	tcase_add_test(tc, test_unknown_section);
	tcase_add_test(tc, test_wrong_type);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_duration_too_long);
	tcase_add_test(tc, test_unknown_enum);
	tcase_add_test(tc, test_future_features);
	tcase_add_test(tc, test_fidelity_keys);
	tcase_add_test(tc, test_unknown_provider);
	tcase_add_test(tc, test_missing_request_file);
	tcase_add_test(tc, test_missing_names);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_duplicates_with_versions);
	tcase_add_test(tc, test_ttl_too_short);
	tcase_add_test(tc, test_openai_compatible);
	tcase_add_test(tc, test_http_only_loopback);
	tcase_add_test(tc, test_http_loopback_lookalikes);
	tcase_add_test(tc, test_key_sources);
	tcase_add_test(tc, test_libconfig_copies_wiped);
	tcase_add_test(tc, test_cache_key_and_endpoint);
	tcase_add_test(tc, test_bedrock_errors);
	tcase_add_test(tc, test_missing_config_file);
	tcase_add_test(tc, test_azure_gemini_keys);
	tcase_add_test(tc, test_many_errors_reported);
	tcase_add_test(tc, test_include_reports_its_file);
	tcase_add_test(tc, test_vertex_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("cluster");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cluster_defaults);
	tcase_add_test(tc, test_cluster_settings);
	tcase_add_test(tc, test_cluster_errors);
	tcase_add_test(tc, test_cluster_short_ttl_warning);
	tcase_add_test(tc, test_cluster_restart_only_changes);
	tcase_add_test(tc, test_cluster_libconfig_copy_wiped);
	suite_add_tcase(s, tc);

	tc = tcase_create("diag");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_diag_format);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
