/* config_daemon: the daemon = { ... } section: sockets, state and metrics
 * files, limits and the log level. */
#include "config.h"

#include <grp.h>
#include <libconfig.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config_keys.h"
#include "config_sections.h"
#include "xalloc.h"

/* $ENV_DIR/file (systemd may pass several directories separated by ':'; the
 * first one), else fallback/file. */
static void default_dir_path(char **dst, const char *env, const char *fallback, const char *file)
{
	const char *dir = getenv(env);
	size_t n;
	char *p;

	if (!dir || !*dir)
		dir = fallback;
	n = strcspn(dir, ":");
	p = xmalloc(n + strlen(file) + 2);
	sprintf(p, "%.*s/%s", (int)n, dir, file);
	free(*dst);
	*dst = p;
}

static void default_control_socket(const struct loader *ld, const config_setting_t *g,
                                   const void *base, void *field)
{
	default_dir_path(field, "RUNTIME_DIRECTORY", "/run/warmd", "control.sock");
}

static void default_state_file(const struct loader *ld, const config_setting_t *g, const void *base,
                               void *field)
{
	default_dir_path(field, "STATE_DIRECTORY", "/var/lib/warmd", "state.json");
}

/* Beside the control socket, wherever that is; none when touch_socket is
 * given (a rejected value is not replaced: the error stands for it). */
static void default_touch_socket(const struct loader *ld, const config_setting_t *g,
                                 const void *base, void *field)
{
	const char *cs = ((const struct cfg_daemon *)base)->control_socket, *slash;
	char **dst = field;
	size_t dl;

	if ((g && config_setting_get_member(g, "touch_socket")) || !cs)
		return;
	slash = strrchr(cs, '/');
	dl = slash ? (size_t)(slash - cs) : 0;
	free(*dst);
	*dst = xmalloc(dl + sizeof("/touch.sock"));
	sprintf(*dst, "%.*s/touch.sock", (int)dl, cs);
}

#define D(f) offsetof(struct cfg_daemon, f)
/* One key per entry (clang-format would spread each over seven lines). */
/* clang-format off */
static const struct key_def daemon_keys[] = {
	{ .name = "control_socket", .type = K_PATH, .off = D(control_socket),
	  .dfn = default_control_socket, .restart = true, .help = "a socket path" },
	{ .name = "control_group", .type = K_STR, .off = D(control_group), .def.s = "warmd",
	  .restart = true, .help = "a group name" },
	{ .name = "touch_socket", .type = K_OPTPATH, .off = D(touch_socket),
	  .dfn = default_touch_socket, .restart = true,
	  .help = "a socket path (\"\" disables touches)" },
	{ .name = "pricing_file", .type = K_OPTPATH, .off = D(pricing_file),
	  .def.s = "pricing.conf", .help = "a price table (\"\" disables prices)" },
	{ .name = "state_file", .type = K_OPTPATH, .off = D(state_file), .dfn = default_state_file,
	  .restart = true, .help = "a file path (\"\" disables state)" },
	{ .name = "max_inflight", .type = K_INT, .off = D(max_inflight), .min = 1, .max = 100000,
	  .def.i = 64, .help = "concurrent warms" },
	{ .name = "max_sessions", .type = K_INT, .off = D(max_sessions), .max = 1000000,
	  .def.i = CFG_MAX_SESSIONS, .help = "sessions at once (0 refuses every warmctl keep)" },
	{ .name = "max_session_bytes", .type = K_SIZE, .off = D(max_session_bytes), .max = 1L << 40,
	  .def.i = CFG_MAX_SESSION_BYTES, .help = "bytes of session request bodies together" },
	{ .name = "metrics_listen", .type = K_STR, .off = D(metrics_listen), .restart = true,
	  .help = "an address such as \"127.0.0.1:9477\"" },
	{ .name = "metrics_textfile", .type = K_OPTPATH, .off = D(metrics_textfile), .restart = true,
	  .help = "a file path ending in .prom" },
	{ .name = "metrics_textfile_interval", .type = K_DURATION,
	  .off = D(metrics_textfile_interval), .def.d = 15, .restart = true,
	  .help = "a duration such as \"15s\"" },
	{ .name = "log_level", .type = K_LOGLEVEL, .off = D(log_level), .def.i = LOG_INFO,
	  .help = "one of error, warning, notice, info, debug" },
	{ .name = NULL },
};
/* clang-format on */
_Static_assert(sizeof(daemon_keys) / sizeof(daemon_keys[0]) <= CONFIG_MAX_KEYS + 1,
               "more daemon_keys than CONFIG_MAX_KEYS");
#undef D

void config_load_daemon(const struct loader *ld, config_t *cf, struct config *c)
{
	config_setting_t *g = config_lookup(cf, "daemon");

	if (g && config_setting_is_group(g))
		c->daemon.line = config_line_of(g);
	config_read_group(ld, g, daemon_keys, &c->daemon, "daemon");
	c->daemon.touch_socket_set = g && config_setting_get_member(g, "touch_socket");
	c->daemon.control_group_set = g && config_setting_get_member(g, "control_group");
	c->daemon.pricing_file_set = g && config_setting_get_member(g, "pricing_file");
	if (c->daemon.control_group_set && !getgrnam(c->daemon.control_group))
		err_at(ld, config_setting_get_member(g, "control_group"),
		       "daemon: control_group \"%s\" does not exist", c->daemon.control_group);
	if (c->daemon.metrics_textfile && c->daemon.metrics_textfile_interval < 1)
		err_at(ld, config_setting_get_member(g, "metrics_textfile_interval"),
		       "daemon: metrics_textfile_interval must be at least 1s");
	if (g && !config_setting_is_group(g))
		err_at(ld, g, "\"daemon\" must be a group: daemon = { ... };");
}

int config_daemon_restart_changes(const struct config *old, const struct config *next,
                                  config_change_cb cb, void *ctx)
{
	int n = 0;

	for (const struct key_def *k = daemon_keys; k->name; k++) {
		char text[64];
		if (!k->restart || config_key_equal(k, &old->daemon, &next->daemon))
			continue;
		cb(k->name, config_key_text(k, &next->daemon, text, sizeof(text)), ctx);
		n++;
	}
	return n;
}
