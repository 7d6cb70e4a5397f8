/* procstat.h - this process's CPU, memory, descriptors and start time, from /proc/self,
 * for the standard process_* metrics. */
#ifndef SNK_PROCSTAT_H
#define SNK_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>

struct proc_figures {
	double cpu_seconds;        /* user + system time */
	uint64_t resident_bytes;
	uint64_t virtual_bytes;
	double start_time_seconds; /* since the Unix epoch */
	int64_t open_fds;          /* -1: unknown */
	int64_t max_fds;           /* the soft limit; -1: unknown or unlimited */
};

/* procstat_parse_stat: fields of a /proc/PID/stat line (the command name may hold
 * spaces and parentheses, so fields are counted from its last ')'). Times are in clock
 * ticks, rss in pages. False when the line is cut short. */
struct proc_stat_fields {
	uint64_t utime, stime, starttime, vsize, rss_pages;
};
bool procstat_parse_stat(const char *line, struct proc_stat_fields *out)
	__attribute__((warn_unused_result));

/* procstat_parse_btime: the "btime N" line of /proc/stat (boot time, Unix seconds). */
bool procstat_parse_btime(const char *text, uint64_t *btime) __attribute__((warn_unused_result));

/* procstat_read: the figures of this process now; false when /proc is not mounted. */
bool procstat_read(struct proc_figures *out) __attribute__((warn_unused_result));

#endif
