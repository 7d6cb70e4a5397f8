/* log.c - owns the log level and the format of every log line.
 *
 * Lines go to stderr, where journald (or the terminal) picks them up. Each line is
 * "2026-11-22T10:00:00.123Z snk[4711] info [a->b] text". Newlines inside a message
 * are replaced so that one event is always one line. Lines that others can cause at any
 * rate (a flood of clients, libevent's messages) go through a log_limit, so that no
 * outsider can turn the log into a disk filler or the loop into a log writer.
 */
#include "snk/log.h"

#include <event2/event.h>
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

static void log_vmsg(enum log_level level, const char *role, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void log_vmsg(enum log_level level, const char *role, const char *fmt, va_list ap)
{
	char text[2048];
	char stamp[32];
	struct timeval tv;
	struct tm tm;

	vsnprintf(text, sizeof(text), fmt, ap);
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

void log_msg(enum log_level level, const char *role, const char *fmt, ...)
{
	va_list ap;

	if (level < current_level)
		return;
	va_start(ap, fmt);
	log_vmsg(level, role, fmt, ap);
	va_end(ap);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ends the current period once it has run its length, telling what it dropped. */
static void limit_roll(struct log_limit *lim, int64_t now)
{
	if (now - lim->start_ms < lim->period_ms)
		return;
	if (lim->suppressed)
		log_msg(lim->worst, lim->role, "%llu %s suppressed",
			(unsigned long long)lim->suppressed, lim->what);
	lim->start_ms = now;
	lim->lines = 0;
	lim->suppressed = 0;
	lim->worst = LOG_NOISE;
}

void log_limited(struct log_limit *lim, enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level < current_level)
		return;
	limit_roll(lim, mono_ms());
	if (lim->lines >= lim->max) {
		lim->suppressed++;
		if (level > lim->worst)
			lim->worst = level;
		return;
	}
	lim->lines++;
	va_start(ap, fmt);
	log_vmsg(level, lim->role, fmt, ap);
	va_end(ap);
}

void log_limit_flush(struct log_limit *lim)
{
	if (lim->suppressed)
		limit_roll(lim, mono_ms());
}

static struct log_limit libevent_limit = LOG_LIMIT_INIT("libevent", "libevent messages", 5, 1000);

/* Called by libevent, which must not be called back from here (log_msg does not). */
static void libevent_log_cb(int severity, const char *msg)
{
	enum log_level level = severity <= EVENT_LOG_DEBUG ? LOG_DEBUG :
			       severity == EVENT_LOG_MSG  ? LOG_INFO :
			       severity == EVENT_LOG_WARN ? LOG_WARN : LOG_ERROR;

	log_limited(&libevent_limit, level, "%s", msg);
}

void log_route_libevent(void)
{
	event_set_log_callback(libevent_log_cb);
}

void log_libevent_flush(void)
{
	log_limit_flush(&libevent_limit);
}
