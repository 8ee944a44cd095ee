/* config_sections: the readers of warmd.conf's sections, which config_load()
 * calls in this order, each after the ones it may depend on:
 * config_daemon.c, config_provider.c, config_target.c, config_cluster.c.
 * Each reads its section of cf into c through the key tables
 * (config_keys.h) and reports problems to ld's diagnostics. Not an API: config.c calls them.
 *
 * Kept apart from config.h, which the sections include for the types they
 * fill: config.c includes this header, not the sections' files, so no file
 * of the loader includes one that includes it back. */
#ifndef WARMD_CONFIG_SECTIONS_H
#define WARMD_CONFIG_SECTIONS_H

#include <libconfig.h>

struct config;
struct loader;

void config_load_daemon(const struct loader *ld, config_t *cf, struct config *c);
void config_load_providers(const struct loader *ld, config_t *cf, struct config *c);
void config_load_targets(const struct loader *ld, config_t *cf, struct config *c);
/* After the targets: it warns about TTLs a takeover could let lapse. */
void config_load_cluster(const struct loader *ld, config_t *cf, struct config *c);

/* The restart-only changes of one section, for config_restart_only_changes()
 * (config.h), which calls them in this order; cb is a config_change_cb. */
int config_daemon_restart_changes(const struct config *old, const struct config *next,
                                  void (*cb)(const char *key, const char *value, void *ctx),
                                  void *ctx);
int config_cluster_restart_changes(const struct config *old, const struct config *next,
                                   void (*cb)(const char *key, const char *value, void *ctx),
                                   void *ctx);

/* Wipes the text of every string in cf's providers section (inline keys,
 * header lines with tokens, URLs with passwords), which the sections have
 * copied where they need it: libconfig frees its own copies unwiped. Called
 * before config_destroy(), whatever the load came to. */
void config_wipe_providers(config_t *cf);
/* The same for the cluster section's redis (a refused URL may hold a
 * password). */
void config_wipe_cluster(config_t *cf);

#endif
