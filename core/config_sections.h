/* config_sections: the readers of warmd.conf's sections, which config_load()
 * calls in this order, each after the ones it may depend on:
 * config_daemon.c, config_provider.c, config_target.c. Each reads its
 * section of cf into c through the key tables (config_keys.h) and reports
 * problems to ld's diagnostics. Not an API: config.c calls them.
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

/* Wipes the text of every string in cf's providers section (inline keys,
 * header lines with tokens, URLs with passwords), which the sections have
 * copied where they need it: libconfig frees its own copies unwiped. Called
 * before config_destroy(), whatever the load came to. */
void config_wipe_providers(config_t *cf);

#endif
