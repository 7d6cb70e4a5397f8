/* log.h - one line per event on stderr, with a level and the role that speaks. */
#ifndef SNK_LOG_H
#define SNK_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

enum log_level { LOG_NOISE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Longest line written, newline included: room for a 2 KiB message whose every byte JSON
 * escapes as \u00XX; a longer line is cut (a JSON one replaced by a note, so it parses). */
#define LOG_LINE_MAX 16384

/* One event, as log_format_line renders it. */
struct log_line {
	enum log_format format;
	bool journal;          /* prefix the sd-daemon priority "<N>" */
	struct timeval tv;     /* wall clock of the event */
	int pid;
	enum log_level level;
	const char *role;      /* borrowed, may be NULL */
	const char *text;      /* borrowed: one line, no newline */
};

/* log_set_level: lines below this level are dropped. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* log_parse_level: "noise", "debug", "info", "warn" or "error"; false when unknown. */
bool log_parse_level(const char *name, enum log_level *out) __attribute__((warn_unused_result));

/* log_set_format: "text" (the default) or "json" from now on. */
void log_set_format(enum log_format format);
/* log_parse_format: "text" or "json"; false when unknown. */
bool log_parse_format(const char *name, enum log_format *out) __attribute__((warn_unused_result));
/* log_priority: the syslog priority of level (3 err, 4 warning, 6 info, 7 debug). */
int log_priority(enum log_level level);
/* log_journal_stream_matches: env ($JOURNAL_STREAM, "dev:ino") names the file dev:ino. */
bool log_journal_stream_matches(const char *env, unsigned long long dev, unsigned long long ino);
/* log_format_line: renders line into buf (always terminated when len > 0), without a
 * newline; returns the length it needed, which is >= len when it was cut. */
size_t log_format_line(char *buf, size_t len, const struct log_line *line);

/* log_msg: one line "LEVEL [role] message". role may be NULL. */
void log_msg(enum log_level level, const char *role, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A limiter for lines that a client or a library can cause at any rate: at most max lines
 * per period; the rest are counted and summed up in one line "N <what> suppressed". */
struct log_limit {
	const char *role;           /* borrowed: who speaks, also in the summary */
	const char *what;           /* borrowed: what is counted, e.g. "libevent messages" */
	int max;                    /* lines per period */
	int period_ms;
	int64_t start_ms;           /* monotonic start of the current period */
	int lines;                  /* written in the current period */
	uint64_t suppressed;        /* dropped in the current period */
	enum log_level worst;       /* the highest level dropped in it, for the summary */
};
#define LOG_LIMIT_INIT(role, what, max, period_ms) \
	{ (role), (what), (max), (period_ms), 0, 0, 0, LOG_NOISE }

/* log_limited: log_msg as lim's role, unless lim already wrote max lines in this period.
 * The first line of a later period is preceded by the summary of the drops. */
void log_limited(struct log_limit *lim, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* log_limit_flush: writes the summary now if a period with drops has ended, so that the
 * end of a burst is told without waiting for the next line. */
void log_limit_flush(struct log_limit *lim);

/* log_route_libevent: libevent's own messages become "[libevent]" lines, at most 5 a
 * second; log_libevent_flush (once a second) tells how many were dropped. */
void log_route_libevent(void);
void log_libevent_flush(void);

#define log_noise(role, ...) log_msg(LOG_NOISE, role, __VA_ARGS__)
#define log_debug(role, ...) log_msg(LOG_DEBUG, role, __VA_ARGS__)
#define log_info(role, ...) log_msg(LOG_INFO, role, __VA_ARGS__)
#define log_warn(role, ...) log_msg(LOG_WARN, role, __VA_ARGS__)
#define log_error(role, ...) log_msg(LOG_ERROR, role, __VA_ARGS__)

#endif
