/* procstat.c - this process's figures from /proc/self, with the meanings Prometheus'
 * client libraries give the process_* series: CPU is user + system time, the start time
 * is the boot time plus the process's start in clock ticks, open descriptors are the
 * entries of /proc/self/fd. Read at each scrape (a few syscalls), never cached, so a
 * scrape sees the state of that moment. */
#include "snk/procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

bool procstat_parse_stat(const char *line, struct proc_stat_fields *out)
{
	const char *p = strrchr(line, ')');
	uint64_t v[52];
	int n = 0;
	char *end;

	if (!p)
		return false;
	p++;
	/* After the name: field 3 (state) is a letter, then numbers; fields are 1-based. */
	while (*p == ' ')
		p++;
	if (!*p)
		return false;
	p++;
	while (n < 52) {
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			break;
		v[n++] = strtoull(p, &end, 10);
		if (end == p)
			return false;
		p = end;
	}
	/* v[0] is field 4: utime is 14, stime 15, starttime 22, vsize 23, rss 24. */
	if (n < 21)
		return false;
	out->utime = v[10];
	out->stime = v[11];
	out->starttime = v[18];
	out->vsize = v[19];
	out->rss_pages = v[20];
	return true;
}

bool procstat_parse_btime(const char *text, uint64_t *btime)
{
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, "btime ", 6) == 0) {
			char *end;

			*btime = strtoull(p + 6, &end, 10);
			return end != p + 6;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

static bool read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n > 0;
}

/* Entries of /proc/self/fd, less the one the directory stream itself holds. */
static int64_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int64_t n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

bool procstat_read(struct proc_figures *out)
{
	char text[256];
	char line[1024];
	struct proc_stat_fields f;
	struct rlimit rl;
	uint64_t btime;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	FILE *s;
	bool have_btime = false;

	if (!read_small("/proc/self/stat", line, sizeof(line)) || !procstat_parse_stat(line, &f) ||
	    tck <= 0 || page <= 0)
		return false;
	/* /proc/stat grows with the CPUs (and interrupts): scan it line by line for btime;
	 * a longer line comes in pieces, none of which starts with "btime ". */
	s = fopen("/proc/stat", "re");
	if (s) {
		while (!have_btime && fgets(text, sizeof(text), s))
			have_btime = procstat_parse_btime(text, &btime);
		fclose(s);
	}
	out->cpu_seconds = (double)(f.utime + f.stime) / (double)tck;
	out->resident_bytes = f.rss_pages * (uint64_t)page;
	out->virtual_bytes = f.vsize;
	out->start_time_seconds = have_btime ? (double)btime + (double)f.starttime / (double)tck : 0;
	out->open_fds = count_fds();
	out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
			       ? (int64_t)rl.rlim_cur : -1;
	return true;
}
