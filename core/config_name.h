/* config_name: the syntax of provider and target names, shared by the
 * sections that read them and by what takes names from outside (touch
 * datagrams; they also become metric labels). Included by config.h. */
#ifndef WARMD_CONFIG_NAME_H
#define WARMD_CONFIG_NAME_H

#include <stdbool.h>

/* 1 to 64 characters of [A-Za-z0-9._-]. */
bool config_name_valid(const char *s);
/* A name or a version lane of one: NAME or NAME@VERSION. */
bool config_lane_name_valid(const char *s);
/* A session's name (warmctl keep): 1 to 64 characters of [A-Za-z0-9._:-],
 * so that "support:42" names conversation 42 of the support agent. */
bool config_session_name_valid(const char *s);

#endif
