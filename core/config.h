/* config: reads warmd.conf (libconfig) into an immutable snapshot.
 *
 * Every key has a default; unknown keys, wrong types, out-of-range values,
 * unknown provider names, missing files and a TTL the scheduler cannot beat
 * are errors reported as FILE:LINE through struct diags. Nothing here touches
 * the network, keys or templates: daemon.c builds those from the snapshot. */
#ifndef WARMD_CONFIG_H
#define WARMD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "adapter.h"
#include "config_name.h"
#include "diag.h"
#include "policy.h"
#include "redis_url.h"

#define CONFIG_DEFAULT_FILE "/etc/warmd/warmd.conf"

/* enum provider_kind, enum endpoint, enum warm_mode and ALLOW_EDIT_* are
 * the adapters' (adapter.h). */
enum policy { POLICY_ALWAYS, POLICY_MANUAL, POLICY_SCHEDULE, POLICY_ADAPTIVE };

struct cfg_daemon {
	char *control_socket;
	char *touch_socket;     /* NULL: disabled (touch_socket = "") */
	bool touch_socket_set;  /* given in the file (else derived: next to control_socket) */
	char *state_file;       /* NULL: disabled (state_file = "") */
	char *control_group;    /* group of the sockets (mutating peers' group) */
	bool control_group_set; /* given in the file: it must exist */
	char *pricing_file;     /* the price table, or NULL: no prices ("") */
	bool pricing_file_set;  /* given in the file: it must exist */
	char *metrics_listen;   /* "HOST:PORT" for HTTP /metrics, or NULL */
	char *metrics_textfile; /* node_exporter textfile, or NULL */
	double metrics_textfile_interval;
	int max_inflight;
	int max_sessions;         /* sessions (warmctl keep) at once; 0: none accepted */
	size_t max_session_bytes; /* their request bodies together */
	int log_level;            /* syslog priority */
	int line;
};

struct cfg_provider {
	char *name;
	enum provider_kind kind;
	char *base_url;     /* without trailing slash */
	char *api_key_file; /* resolved path, or NULL */
	char *api_key_env;  /* or NULL */
	char *api_key;      /* inline key, or NULL; zeroed when the config is freed */
	char **headers;     /* extra "Name: value" lines (anthropic-beta...), or NULL */
	int max_rpm;        /* 0 = no limit */
	int max_inflight;
	int timeout_ms;
	int connect_timeout_ms;
	int low_speed_bps;         /* abort a transfer slower than this... */
	int low_speed_time_ms;     /* ...for this long (0 disables) */
	size_t max_response_bytes; /* answers larger than this are cut off */
	char *ca_file;             /* private CA bundle, or NULL for the system's */
	char *proxy;               /* proxy URL, or NULL: none (environment ignored) */
	/* The cloud's region (bedrock, vertex), or NULL. */
	char *region;
	/* bedrock: its AWS shared credentials file (resolved, or NULL) and the
	 * profile there ("default"). */
	char *aws_credentials_file;
	char *aws_profile;
	/* vertex: the Google Cloud project, and the service account key file
	 * its OAuth2 tokens come from (resolved path), or NULL. */
	char *project;
	char *service_account_file;
	/* azure-openai: the deployments path's api-version, or NULL. */
	char *api_version;
	char *file;
	int line;
	int key_line; /* line of the key setting, for diagnostics */
};

struct cfg_target {
	char *name;
	char *provider;
	size_t provider_index; /* into config.providers */
	char *request_file;    /* resolved path */
	double ttl_s;
	enum policy policy;
	int priority;
	char *cache_key;  /* OpenAI prompt_cache_key, or NULL */
	char *model;      /* the model the URL names (bedrock, vertex, gemini), or NULL */
	char *deployment; /* azure-openai: the deployment the URL names, or NULL */
	enum endpoint endpoint;
	enum warm_mode warm_mode;
	unsigned allow_edit;    /* ALLOW_EDIT_* */
	char **allow_edit_list; /* as written, for errors */
	bool ttl_set;           /* given in the file (else it may come from the template) */
	double idle_limit_s;    /* 0: never idle */
	char **schedule;        /* NULL-terminated windows, for policy = schedule */
	struct window *windows; /* the same, parsed */
	size_t nwindows;
	char *file;
	int line;
	int request_file_line;
	/* Blue/green: a target listing versions becomes one cfg_target per
	 * version, named GROUP@VERSION; plain targets have group NULL. */
	char *group;      /* the target's own name, or NULL */
	char *vname;      /* the version's name */
	int weight;       /* its share of traffic, 0-100 */
	double overlap_s; /* keep a replaced version warm this long (version_overlap) */
};

/* cluster = { ... }: several warmd nodes sharing the targets through a
 * Redis (docs/cluster.md). Absent: enabled is false and the rest is NULL
 * or 0; warmd runs alone. */
struct cfg_cluster {
	bool enabled;           /* the section is present */
	char *redis;            /* as written */
	struct redis_addr addr; /* parsed (core/redis_url.h) */
	/* resolved path ($CREDENTIALS_DIRECTORY first, like api_key_file), or NULL */
	char *password_file;
	char *username; /* or NULL; a USER@ in the URL sets it too (both, differing: an error) */
	char *node;     /* default: gethostname() up to its first '.' */
	char *ns;       /* `namespace`, default "warmd" */
	double lease_s; /* `lease`, default 10 s, 1 s .. 300 s */
	char *file;
	int line;
};

#define CFG_CLUSTER_LEASE_S     10.0 /* cluster.lease default */
#define CFG_CLUSTER_LEASE_MIN_S 1.0  /* and its bounds */
#define CFG_CLUSTER_LEASE_MAX_S 300.0

#define CFG_VERSION_OVERLAP_S 600.0                /* version_overlap default */
#define CFG_MAX_SESSIONS      1000                 /* daemon.max_sessions default */
#define CFG_MAX_SESSION_BYTES (256L * 1024 * 1024) /* daemon.max_session_bytes default */
#define CFG_MAX_VERSIONS      8                    /* named versions per target */

struct pricing;

struct config {
	char *file;                      /* as given */
	struct pricing *price_overrides; /* warmd.conf's own pricing = ( ... ), or NULL */
	char *dir;                       /* directory relative paths resolve against */
	struct cfg_daemon daemon;
	struct cfg_provider *providers;
	size_t nproviders;
	struct cfg_target *targets;
	size_t ntargets;
	struct cfg_cluster cluster;
};

/* Loads and validates path. Problems go to d (errors and warnings). Returns
 * 0 and a new config in *ret when there is no error, -EINVAL otherwise
 * (*ret untouched). */
int config_load(const char *path, struct diags *d, struct config **ret);
void config_free(struct config *c);

/* What a reload cannot apply: the daemon keys the key table marks
 * restart-only (control_socket, control_group, touch_socket, state_file,
 * metrics_listen, metrics_textfile, metrics_textfile_interval), then the
 * cluster section: "cluster" when it is added or removed (the value: next's
 * redis, or NULL), else each of its keys that differs (all restart-only,
 * named cluster.redis, cluster.password_file, cluster.username,
 * cluster.node, cluster.namespace, cluster.lease). For each one whose value
 * differs between old and next, in the tables' order, calls cb with the
 * key's name and next's value as warmd.conf writes it (a path, "30.0s"),
 * or NULL when next leaves it unset or disabled. The value lives for the
 * call only. Returns the number of calls. */
typedef void (*config_change_cb)(const char *key, const char *value, void *ctx);
int config_restart_only_changes(const struct config *old, const struct config *next,
                                config_change_cb cb, void *ctx);

const char *provider_kind_name(enum provider_kind k);
const char *policy_name(enum policy p);
const char *endpoint_name(enum endpoint e);

#endif
