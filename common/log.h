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

/* The current level: read through log_enabled(), set with log_set_level(). */
extern int log_max_level;
static inline bool log_enabled(int level)
{
	return level <= log_max_level;
}

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Collapses a stream of identical messages: the first is logged, repeats
 * are counted, and at most one summary per window says how many there were
 * ("... (x57 more in 60 s)"). One per source (a target's warm errors, say). */
struct log_repeat {
	char last[256];
	unsigned suppressed;
	double since; /* start of the current window */
};

#define LOG_REPEAT_WINDOW_S 60.0

/* Logs msg at level with prefix ("support-bot: ") unless it repeats the
 * previous message within the window. A different message first flushes the
 * count of the previous one. now is the caller's clock. */
void log_repeat(struct log_repeat *r, int level, double now, const char *prefix, const char *msg);
/* Flushes a pending count (the stream of errors ended, e.g. by a success). */
void log_repeat_end(struct log_repeat *r, int level, double now, const char *prefix);

/* The level is tested before the arguments are evaluated: a filtered-out
 * line costs a comparison, not a call (log_debug sits on the warm path). */
#define log_at(level, ...)                                                                         \
	do {                                                                                       \
		if (log_enabled(level))                                                            \
			log_msg(level, __VA_ARGS__);                                               \
	} while (0)
#define log_error(...)   log_at(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_at(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_at(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_at(LOG_DEBUG, __VA_ARGS__)

#endif
