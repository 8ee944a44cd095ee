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

#include "config_internal.h"
#include "xalloc.h"

#define D(f) offsetof(struct cfg_daemon, f)
/* clang-format off: one key per entry */
static const struct key_def daemon_keys[] = {
	{ .name = "control_socket",
	  .type = K_PATH,
	  .off = D(control_socket),
	  .help = "a socket path" },
	{ .name = "control_group", .type = K_STR, .off = D(control_group), .help = "a group name" },
	{ .name = "touch_socket",
	  .type = K_OPTPATH,
	  .off = D(touch_socket),
	  .help = "a socket path (\"\" disables touches)" },
	{ .name = "pricing_file",
	  .type = K_OPTPATH,
	  .off = D(pricing_file),
	  .help = "a price table (\"\" disables prices)" },
	{ .name = "state_file",
	  .type = K_OPTPATH,
	  .off = D(state_file),
	  .help = "a file path (\"\" disables state)" },
	{ .name = "max_inflight",
	  .type = K_INT,
	  .off = D(max_inflight),
	  .min = 1,
	  .max = 100000,
	  .help = "concurrent warms" },
	{ .name = "metrics_listen",
	  .type = K_STR,
	  .off = D(metrics_listen),
	  .help = "an address such as \"127.0.0.1:9477\"" },
	{ .name = "metrics_textfile",
	  .type = K_OPTPATH,
	  .off = D(metrics_textfile),
	  .help = "a file path ending in .prom" },
	{ .name = "metrics_textfile_interval",
	  .type = K_DURATION,
	  .off = D(metrics_textfile_interval),
	  .help = "a duration such as \"15s\"" },
	{ .name = "log_level",
	  .type = K_LOGLEVEL,
	  .off = D(log_level),
	  .help = "one of error, warning, notice, info, debug" },
	{ .name = NULL },
};
/* clang-format on */
#undef D

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

static void default_runtime_path(char **dst, const char *file)
{
	default_dir_path(dst, "RUNTIME_DIRECTORY", "/run/warmd", file);
}

void config_load_daemon(const struct loader *ld, config_t *cf, struct config *c)
{
	config_setting_t *g = config_lookup(cf, "daemon");

	c->daemon.max_inflight = 64;
	c->daemon.metrics_textfile_interval = 15;
	c->daemon.log_level = LOG_INFO;
	default_runtime_path(&c->daemon.control_socket, "control.sock");
	default_dir_path(&c->daemon.state_file, "STATE_DIRECTORY", "/var/lib/warmd", "state.json");
	if (g && config_setting_is_group(g)) {
		c->daemon.line = config_line_of(g);
		config_read_group(ld, g, daemon_keys, &c->daemon, "daemon");
		c->daemon.touch_socket_set = config_setting_get_member(g, "touch_socket") != NULL;
		c->daemon.control_group_set = config_setting_get_member(g, "control_group") != NULL;
		c->daemon.pricing_file_set = config_setting_get_member(g, "pricing_file") != NULL;
	}
	if (!c->daemon.control_group)
		c->daemon.control_group = xstrdup("warmd");
	if (!c->daemon.pricing_file_set)
		c->daemon.pricing_file =
		        config_resolve_path(ld, "pricing.conf"); /* beside warmd.conf */
	if (c->daemon.control_group_set && !getgrnam(c->daemon.control_group))
		err_at(ld, config_setting_get_member(g, "control_group"),
		       "daemon: control_group \"%s\" does not exist", c->daemon.control_group);
	if (c->daemon.metrics_textfile && c->daemon.metrics_textfile_interval < 1)
		err_at(ld, config_setting_get_member(g, "metrics_textfile_interval"),
		       "daemon: metrics_textfile_interval must be at least 1s");
	if (!c->daemon.touch_socket_set) {
		/* Beside the control socket, wherever that is. */
		const char *cs = c->daemon.control_socket, *slash = strrchr(cs, '/');
		size_t dl = slash ? (size_t)(slash - cs) : 0;
		char *p = xmalloc(dl + sizeof("/touch.sock"));
		sprintf(p, "%.*s/touch.sock", (int)dl, cs);
		c->daemon.touch_socket = p;
	}
	if (!g)
		return;
	if (!config_setting_is_group(g)) {
		err_at(ld, g, "\"daemon\" must be a group: daemon = { ... };");
		return;
	}
}
