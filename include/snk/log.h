/* log.h - one line per event on stderr, with a level and the role that speaks. */
#ifndef SNK_LOG_H
#define SNK_LOG_H

#include <stdbool.h>

enum log_level { LOG_NOISE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* log_set_level: lines below this level are dropped. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* log_parse_level: "noise", "debug", "info", "warn" or "error"; false when unknown. */
bool log_parse_level(const char *name, enum log_level *out) __attribute__((warn_unused_result));

/* log_msg: one line "LEVEL [role] message". role may be NULL. */
void log_msg(enum log_level level, const char *role, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_noise(role, ...) log_msg(LOG_NOISE, role, __VA_ARGS__)
#define log_debug(role, ...) log_msg(LOG_DEBUG, role, __VA_ARGS__)
#define log_info(role, ...) log_msg(LOG_INFO, role, __VA_ARGS__)
#define log_warn(role, ...) log_msg(LOG_WARN, role, __VA_ARGS__)
#define log_error(role, ...) log_msg(LOG_ERROR, role, __VA_ARGS__)

#endif
