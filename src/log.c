/* log.c - owns the log level and the format of every log line.
 *
 * Lines go to stderr, where journald (or the terminal) picks them up. Each line is
 * "2026-11-22T10:00:00.123Z snk[4711] info [a->b] text", or with "log_format": "json"
 * one object {"time","level","pid","role","direction"|"database","session","message"}.
 * When stderr is the journal's stream (JOURNAL_STREAM), every line starts with the
 * sd-daemon priority "<N>", which journald strips and files as the entry's priority.
 * Newlines inside a message are replaced so that one event is always one line. Lines
 * that others can cause at any rate (a flood of clients, libevent's messages) go through a log_limit, so that no
 * outsider can turn the log into a disk filler or the loop into a log writer.
 */
#include "snk/log.h"
#include "snk/config.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;

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

void log_set_format(enum log_format format)
{
	current_format = format;
}

bool log_parse_format(const char *name, enum log_format *out)
{
	if (strcmp(name, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(name, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return false;
	return true;
}

int log_priority(enum log_level level)
{
	switch (level) {
	case LOG_ERROR:
		return 3;
	case LOG_WARN:
		return 4;
	case LOG_INFO:
		return 6;
	case LOG_DEBUG:
	case LOG_NOISE:
		break;
	}
	return 7;
}

bool log_journal_stream_matches(const char *env, unsigned long long dev, unsigned long long ino)
{
	unsigned long long d, i;
	int used = 0;

	if (!env || sscanf(env, "%llu:%llu%n", &d, &i, &used) != 2 || env[used] != '\0')
		return false;
	return d == dev && i == ino;
}

/* systemd sets JOURNAL_STREAM for a service whose stderr is the journal; a child that
 * redirected stderr inherits the variable but not the stream, hence the inode check. */
static bool stderr_is_journal(void)
{
	static int cached = -1;
	struct stat st;

	if (cached < 0)
		cached = fstat(STDERR_FILENO, &st) == 0 &&
			 log_journal_stream_matches(getenv("JOURNAL_STREAM"),
						    (unsigned long long)st.st_dev,
						    (unsigned long long)st.st_ino);
	return cached == 1;
}

/* Appends to buf at *at, never past len - 1; *at keeps counting so truncation shows. */
static void put(char *buf, size_t len, size_t *at, const char *s, size_t n)
{
	for (size_t k = 0; k < n; k++, (*at)++) {
		if (*at + 1 < len)
			buf[*at] = s[k];
	}
}

static size_t utf8_length(const unsigned char *p)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 :
		   p[0] >= 0xe0 && p[0] < 0xf0 ? 3 :
		   p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;

	for (size_t k = 1; k < n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

/* A JSON string: quotes, backslashes and control bytes escaped; a byte that does not start
 * valid UTF-8 (a server message in LATIN1, say) becomes U+FFFD, so every line parses. */
static void put_json_string(char *buf, size_t len, size_t *at, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];

	put(buf, len, at, "\"", 1);
	while (*p) {
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p++;
			put(buf, len, at, esc, 2);
		} else if (*p < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p++);
			put(buf, len, at, esc, 6);
		} else if (*p < 0x80) {
			put(buf, len, at, (const char *)p++, 1);
		} else {
			size_t n = utf8_length(p);

			if (n == 0) {
				put(buf, len, at, "\\ufffd", 6);
				p++;
			} else {
				put(buf, len, at, (const char *)p, n);
				p += n;
			}
		}
	}
	put(buf, len, at, "\"", 1);
}

static void put_json_field(char *buf, size_t len, size_t *at, const char *key, const char *value)
{
	put(buf, len, at, ",", 1);
	put_json_string(buf, len, at, key);
	put(buf, len, at, ":", 1);
	put_json_string(buf, len, at, value);
}

/* The event's fields that the role names: "a->b" is a direction, "a.read" a session of a
 * database; other roles ("ctl", "reconcile") carry no more than themselves. */
static void put_role_fields(char *buf, size_t len, size_t *at, const char *role)
{
	const char *arrow = strstr(role, "->"), *dot = strchr(role, '.');

	if (arrow && config_db_name_ok(role, (size_t)(arrow - role)) && config_db_name_ok(arrow + 2, strlen(arrow + 2))) {
		char dir[2 * SNK_DB_NAME_MAX + 5];

		snprintf(dir, sizeof(dir), "%.*s_to_%s", (int)(arrow - role), role, arrow + 2);
		put_json_field(buf, len, at, "direction", dir);
	} else if (dot && config_db_name_ok(role, (size_t)(dot - role))) {
		char db[SNK_DB_NAME_MAX + 1];

		snprintf(db, sizeof(db), "%.*s", (int)(dot - role), role);
		put_json_field(buf, len, at, "database", db);
		put_json_field(buf, len, at, "session", role);
	}
}

size_t log_format_line(char *buf, size_t len, const struct log_line *line)
{
	char stamp[40], num[32];
	size_t at = 0;
	struct tm tm;
	int n;

	gmtime_r(&line->tv.tv_sec, &tm);
	n = (int)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - (size_t)n, ".%03dZ", (int)(line->tv.tv_usec / 1000));
	if (line->journal) {
		snprintf(num, sizeof(num), "<%d>", log_priority(line->level));
		put(buf, len, &at, num, strlen(num));
	}
	if (line->format == LOG_FORMAT_JSON) {
		put(buf, len, &at, "{\"time\":", 8);
		put_json_string(buf, len, &at, stamp);
		put_json_field(buf, len, &at, "level", level_names[line->level]);
		snprintf(num, sizeof(num), ",\"pid\":%d", line->pid);
		put(buf, len, &at, num, strlen(num));
		if (line->role) {
			put_json_field(buf, len, &at, "role", line->role);
			put_role_fields(buf, len, &at, line->role);
		}
		put_json_field(buf, len, &at, "message", line->text);
		put(buf, len, &at, "}", 1);
	} else {
		n = snprintf(num, sizeof(num), " snk[%d] ", line->pid);
		put(buf, len, &at, stamp, strlen(stamp));
		put(buf, len, &at, num, (size_t)n);
		put(buf, len, &at, level_names[line->level], strlen(level_names[line->level]));
		if (line->role) {
			put(buf, len, &at, " [", 2);
			put(buf, len, &at, line->role, strlen(line->role));
			put(buf, len, &at, "]", 1);
		}
		put(buf, len, &at, " ", 1);
		put(buf, len, &at, line->text, strlen(line->text));
	}
	if (len > 0)
		buf[at < len ? at : len - 1] = '\0';
	return at;
}

static void log_vmsg(enum log_level level, const char *role, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void log_vmsg(enum log_level level, const char *role, const char *fmt, va_list ap)
{
	char text[2048];
	char out[LOG_LINE_MAX];
	struct log_line line = { .format = current_format, .journal = stderr_is_journal(),
				 .pid = (int)getpid(), .level = level, .role = role, .text = text };
	size_t n;

	vsnprintf(text, sizeof(text), fmt, ap);
	for (char *p = text; *p; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	/* libpq messages end in a newline; drop the trailing blank it became. */
	for (n = strlen(text); n > 0 && text[n - 1] == ' '; n--)
		text[n - 1] = '\0';

	gettimeofday(&line.tv, NULL);
	n = log_format_line(out, sizeof(out) - 1, &line);
	if (n >= sizeof(out) - 1) {
		n = sizeof(out) - 2;
		/* A cut JSON line would not parse: close it as a string that says so. */
		if (line.format == LOG_FORMAT_JSON) {
			line.text = "(message too long to log)";
			n = log_format_line(out, sizeof(out) - 1, &line);
		}
	}
	out[n] = '\n';
	fwrite(out, 1, n + 1, stderr);
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
