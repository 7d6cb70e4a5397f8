/* stats.c - sliding-window rates and fixed-bucket histograms. No allocation. */
#include "snk/stats.h"

const double hist_bounds_s[HIST_BUCKETS] = { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
					     0.1,    0.2,   0.5,   1,     2,    5,    10 };

void rate_add(struct rate_window *w, int64_t now_s, uint64_t n)
{
	int i = (int)(now_s % RATE_SECONDS);

	if (w->sec[i] != now_s) {
		w->sec[i] = now_s;
		w->count[i] = 0;
	}
	w->count[i] += n;
}

double rate_per_s(const struct rate_window *w, int64_t now_s)
{
	uint64_t sum = 0;

	/* The current second is still filling: use the RATE_SECONDS full ones before it. */
	for (int i = 0; i < RATE_SECONDS; i++) {
		if (w->sec[i] < now_s && w->sec[i] >= now_s - RATE_SECONDS)
			sum += w->count[i];
	}
	return (double)sum / RATE_SECONDS;
}

void hist_observe(struct histogram *h, double seconds)
{
	int i = 0;

	while (i < HIST_BUCKETS && seconds > hist_bounds_s[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_s += seconds;
}
