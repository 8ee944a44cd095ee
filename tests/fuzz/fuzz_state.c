/* fuzz_state: the state file loader (runtime/state.c state_restore) and the
 * restart after it.
 *
 * state_restore() applies the file to a running daemon's targets, so each
 * input gets a fresh minimal daemon (a config of four targets on two
 * providers, one adaptive, one with blue/green versions), set up the way
 * main.c does it but without sockets, and torn down after. The input is
 * written as the state file and restored; warmctl status must then get
 * JSON (the restored numbers are printed); then the daemon writes its state
 * (state_flush) and restores that again, and a restart must keep every
 * target: whatever warmd accepted, it must be able to read back.
 *
 * The files live in a private directory under FUZZ_SCRATCH, else /dev/shm
 * when there is one (state_flush fsyncs), else /tmp. A seed as warmd writes
 * it, for the corpus (then scripts/fuzz.sh --seed fuzz_state names it by
 * its hash):
 *   WARMD_FUZZ_STATE_SEED=tests/fuzz/corpus/fuzz_state/seed.json build-fuzz/tests/fuzz/fuzz_state */
#include <dirent.h>
#include <uv.h>

#include "daemon.h"
#include "fuzz.h"
#include "jsonx.h"
#include "log.h"
#include "state.h"
#include "status.h"

static uv_loop_t loop;
static char dir[128], conf[192], statefile[192];

static const char *const files[][2] = {
	{ "a.json", "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":16,\"system\":[{\"type\":"
	            "\"text\",\"text\":\"You answer support questions.\",\"cache_control\":"
	            "{\"type\":\"ephemeral\"}}],\"messages\":[{\"role\":\"user\",\"content\":"
	            "\"hi\"}]}" },
	{ "b.json", "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":16,\"system\":[{\"type\":"
	            "\"text\",\"text\":\"You answer billing questions.\",\"cache_control\":"
	            "{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}],\"messages\":[{\"role\":\"user\","
	            "\"content\":\"hi\"}]}" },
	{ "o.json", "{\"model\":\"gpt-4.1\",\"messages\":[{\"role\":\"system\",\"content\":"
	            "\"You write release notes.\"},{\"role\":\"user\",\"content\":\"hi\"}]}" },
};

static void write_text(const char *name, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fuzz_write_file(path, (const uint8_t *)text, strlen(text));
}

static void make_config(void)
{
	char text[2048];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		write_text(files[i][0], files[i][1]);
	snprintf(text, sizeof(text),
	         "daemon = { control_socket = \"%s/control.sock\"; touch_socket = \"\";\n"
	         "  state_file = \"%s\"; pricing_file = \"\"; log_level = \"debug\"; };\n"
	         "providers = (\n"
	         "  { name = \"anthropic\"; base_url = \"http://127.0.0.1:9\"; },\n"
	         "  { name = \"openai\"; base_url = \"http://127.0.0.1:9/v1\"; }\n"
	         ");\n"
	         "targets = (\n"
	         "  { name = \"support-bot\"; provider = \"anthropic\"; request_file = \"a.json\"; "
	         "},\n"
	         "  { name = \"notes\"; provider = \"openai\"; request_file = \"o.json\";\n"
	         "    policy = \"adaptive\"; },\n"
	         "  { name = \"billing\"; provider = \"anthropic\"; ttl = \"1h\";\n"
	         "    versions = ( { name = \"blue\"; request_file = \"a.json\"; weight = 90; },\n"
	         "                 { name = \"green\"; request_file = \"b.json\"; weight = 10; } "
	         "); }\n"
	         ");\n",
	         dir, statefile);
	snprintf(conf, sizeof(conf), "%s/warmd.conf", dir);
	fuzz_write_file(conf, (const uint8_t *)text, strlen(text));
}

/* A daemon as main.c starts one, minus sockets, and its state file. */
struct up {
	struct daemon d;
	struct state *state;
};

/* Starts u with its state opened at path. */
static void daemon_up(struct up *u, const char *path)
{
	struct diags diags = { 0 };
	struct staging *st = NULL;

	if (daemon_init(&u->d, &loop, conf, NULL, NULL) < 0 ||
	    daemon_stage_offline(conf, &diags, &st) < 0)
		abort();
	diags_free(&diags);
	daemon_apply(&u->d, st, NULL);
	u->state = state_open(&loop, &u->d.set, path);
}

/* Restores the state file as main.c does; returns the targets restored. */
static int restore(struct up *u)
{
	bool paused_all;
	int n = state_restore(u->state, &paused_all);

	if (paused_all)
		daemon_pause_all(&u->d, true);
	return n;
}

static void daemon_down(struct up *u)
{
	state_close(u->state);
	u->state = NULL;
	daemon_fini(&u->d);
	while (uv_run(&loop, UV_RUN_NOWAIT))
		;
}

/* What state_restore moved aside goes, so runs do not fill the directory. */
static void clean_dir(void)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	char path[512];

	if (!dp)
		abort();
	while ((de = readdir(dp))) {
		if (strncmp(de->d_name, "state.json", 10) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(dp);
}

static void remove_dir(void)
{
	static const char *const extra[] = { "warmd.conf", "a.json", "b.json", "o.json" };
	char path[256];

	clean_dir();
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, extra[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* What warmctl status gets after the restore: JSON, whatever was restored. */
static void check_status(const struct target_set *set)
{
	struct buf b = BUF_INIT;
	json_object *o = NULL;
	struct errmsg e;

	if (status_write(set, set->targets, set->ntargets, &b) < 0 ||
	    jsonx_parse(b.data, b.len, 0, &o, &e) < 0)
		abort();
	json_object_put(o);
	buf_free(&b);
}

/* With FUZZ_VERBOSE: what warmd wrote, to see why it does not read back. */
static void show_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char buf[4096];
	size_t n;

	if (!f)
		return;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

/* A state worth restoring: counters, touches, learned gaps, a shift. */
static void write_seed(const char *path)
{
	struct up u;
	double now;

	daemon_up(&u, path);
	now = clock_now(u.d.set.clk);
	for (size_t i = 0; i < u.d.set.ntargets; i++) {
		struct target *t = u.d.set.targets[i];
		t->warms = 40 + i;
		t->hits = 30;
		t->writes = 9;
		t->nones = 1;
		t->errors = 2;
		t->touches = 12;
		t->touch_hits = 10;
		t->touch_misses = 2;
		t->cost_pico = 1234567;
		t->saved_pico = 7654321;
		t->last_refresh = now - 60;
		t->expires_at = now + 240;
		t->last_traffic = now - 30;
		snprintf(t->last_error, sizeof(t->last_error), "HTTP 529 overloaded_error");
		for (int k = 0; k < 5; k++)
			target_touch_record(t, now - 600 + 100 * k);
		if (t->gaps)
			for (int k = 0; k < 20; k++)
				policy_gap_observe(t->gaps, now - 86400 + 3000 * k, 60 * k,
				                   t->ttl_s);
		if (t->vname && strcmp(t->vname, "green") == 0) {
			t->prev_weight = t->weight;
			t->weight = 50;
		}
	}
	if (state_flush(u.state) < 0)
		abort();
	daemon_down(&u);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* fuzz.sh hands over a directory it removes, even after a crash. */
	const char *base = getenv("FUZZ_SCRATCH")          ? getenv("FUZZ_SCRATCH")
	                   : access("/dev/shm", W_OK) == 0 ? "/dev/shm"
	                                                   : "/tmp";
	const char *seed = getenv("WARMD_FUZZ_STATE_SEED");

	unsetenv("NOTIFY_SOCKET");
	unsetenv("RUNTIME_DIRECTORY");
	unsetenv("STATE_DIRECTORY");
	snprintf(dir, sizeof(dir), "%s/warmd-fuzz-state-XXXXXX", base);
	if (!mkdtemp(dir) || uv_loop_init(&loop) < 0)
		abort();
	snprintf(statefile, sizeof(statefile), "%s/state.json", dir);
	make_config();
	atexit(remove_dir);
	/* Logs at debug level still format every message (ASan sees them). */
	fuzz_quiet_stderr();
	if (seed) {
		write_seed(seed);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct up u;
	int restored;

	daemon_up(&u, statefile);
	fuzz_write_file(statefile, data, size);
	restored = restore(&u);
	if (restored < 0 || (size_t)restored > u.d.set.ntargets)
		abort();
	check_status(&u.d.set);
	/* Shut down (state_flush writes what warmd now holds), start again. */
	if (state_flush(u.state) < 0)
		abort();
	daemon_down(&u);
	if (getenv("FUZZ_VERBOSE"))
		show_file(statefile);
	daemon_up(&u, statefile);
	if ((size_t)restore(&u) != u.d.set.ntargets)
		abort(); /* warmd wrote a state file it cannot read back */
	daemon_down(&u);
	clean_dir();
	return 0;
}
