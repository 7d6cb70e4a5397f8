/* log.c - owns the log level and the format of every log line.
 *
 * Lines go to stderr, where journald (or the terminal) picks them up. Each line is
 * "2026-11-22T10:00:00.123Z snk[4711] info [a->b] text". Newlines inside a message
 * are replaced so that one event is always one line.
 */
#include "snk/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_INFO;

static const char *const level_names[] = { "noise", "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

bool log_parse_level(const char *name, enum log_level *out)
{
	for (int i = LOG_NOISE; i <= LOG_ERROR; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

void log_msg(enum log_level level, const char *role, const char *fmt, ...)
{
	char text[2048];
	char stamp[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;

	if (level < current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (char *p = text; *p; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	/* libpq messages end in a newline; drop the trailing blank it became. */
	for (size_t n = strlen(text); n > 0 && text[n - 1] == ' '; n--)
		text[n - 1] = '\0';

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	if (role)
		fprintf(stderr, "%s.%03dZ snk[%d] %s [%s] %s\n", stamp, (int)(tv.tv_usec / 1000),
			(int)getpid(), level_names[level], role, text);
	else
		fprintf(stderr, "%s.%03dZ snk[%d] %s %s\n", stamp, (int)(tv.tv_usec / 1000),
			(int)getpid(), level_names[level], text);
}
