/* stats.h - rates over a sliding window and latency histograms, for status and metrics. */
#ifndef SNK_STATS_H
#define SNK_STATS_H

#include <stdint.h>

#define RATE_SECONDS 10

/* Counts per wall-clock second over the last RATE_SECONDS seconds. */
struct rate_window {
	int64_t sec[RATE_SECONDS];
	uint64_t count[RATE_SECONDS];
};

/* rate_add: counts n events at second now_s. */
void rate_add(struct rate_window *w, int64_t now_s, uint64_t n);
/* rate_per_s: events per second over the RATE_SECONDS seconds before now_s. */
double rate_per_s(const struct rate_window *w, int64_t now_s);

#define HIST_BUCKETS 14
/* Upper bounds in seconds, Prometheus style; the last bucket (+Inf) is implicit. */
extern const double hist_bounds_s[HIST_BUCKETS];

struct histogram {
	uint64_t bucket[HIST_BUCKETS + 1]; /* not cumulative; [HIST_BUCKETS] is +Inf */
	uint64_t count;
	double sum_s;
};

void hist_observe(struct histogram *h, double seconds);

#endif
