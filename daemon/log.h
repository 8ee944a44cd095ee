/* log: one-line log records on stderr, with <N> syslog priority prefixes
 * when stderr is the journal (JOURNAL_STREAM) so journald keeps the level. */
#ifndef WARMD_LOG_H
#define WARMD_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Levels are syslog priorities: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG. */
void log_init(const char *ident);
void log_set_level(int level);
int log_get_level(void);
/* Parses "error|warning|notice|info|debug"; returns the level or -1. */
int log_level_parse(const char *s);
const char *log_level_name(int level);
bool log_enabled(int level);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
