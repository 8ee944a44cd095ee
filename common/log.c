/* log: one-line log records on stderr, with <N> syslog priority prefixes
 * when stderr is the journal (JOURNAL_STREAM) so journald keeps the level. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int log_max_level = LOG_INFO;
static bool log_journal;
static const char *log_ident = "warmd";

static const char *const level_names[] = {
	[LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* JOURNAL_STREAM is "DEV:INO" of the journal's stream; only trust it when it
 * still names our stderr (it is inherited by children that redirect). */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *ident)
{
	log_ident = ident;
	log_journal = stderr_is_journal();
}

void log_set_level(int level)
{
	log_max_level = level;
}

int log_get_level(void)
{
	return log_max_level;
}

int log_level_parse(const char *s)
{
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (level_names[i] && strcmp(level_names[i], s) == 0)
			return i;
	return -1;
}

const char *log_level_name(int level)
{
	return level >= LOG_ERR && level <= LOG_DEBUG ? level_names[level] : "?";
}

void log_msg(int level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Never let a message spill onto a second record. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", level, msg);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s[%ld]: %s: %s\n", when, ts.tv_nsec / 1000000,
		        log_ident, (long)getpid(), log_level_name(level), msg);
	}
	fflush(stderr);
}

static void repeat_summary(struct log_repeat *r, int level, double now, const char *prefix)
{
	if (r->suppressed)
		log_msg(level, "%s%s (x%u more in %.0f s)", prefix, r->last, r->suppressed,
		        now - r->since);
	r->suppressed = 0;
	r->since = now;
}

void log_repeat(struct log_repeat *r, int level, double now, const char *prefix, const char *msg)
{
	if (r->last[0] && strncmp(r->last, msg, sizeof(r->last) - 1) == 0) {
		r->suppressed++;
		if (now - r->since >= LOG_REPEAT_WINDOW_S)
			repeat_summary(r, level, now, prefix);
		return;
	}
	repeat_summary(r, level, now, prefix);
	snprintf(r->last, sizeof(r->last), "%s", msg);
	log_msg(level, "%s%s", prefix, msg);
}

void log_repeat_end(struct log_repeat *r, int level, double now, const char *prefix)
{
	repeat_summary(r, level, now, prefix);
	r->last[0] = '\0';
}
