/* metrics.h - the optional HTTP endpoint: GET /metrics (Prometheus text), /healthz, /livez
 * and /readyz. */
#ifndef SNK_METRICS_H
#define SNK_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snk_app;
struct snk_listener;
struct snk_metrics;

/* metrics_listen: serves on "host:port". NULL with err filled on failure. */
struct snk_metrics *metrics_listen(struct snk_app *app, const char *listen, char *err, size_t errlen);
void metrics_free(struct snk_metrics *m);
/* metrics_listener: its connections and their counters, for the status (NULL-safe). */
const struct snk_listener *metrics_listener(const struct snk_metrics *m);

enum metrics_route {
	METRICS_METRICS,
	METRICS_HEALTHZ,
	METRICS_LIVEZ,          /* the loop runs: whoever answers is alive */
	METRICS_READYZ,         /* connected, not paused, lag under the bound */
	METRICS_NOT_FOUND,      /* 404 */
	METRICS_BAD_METHOD,     /* 405: not GET or HEAD */
	METRICS_BAD_REQUEST,    /* 400: not "METHOD TARGET HTTP/x" */
};
/* metrics_route: what a request line ("GET /metrics HTTP/1.1", without its line end)
 * asks for; *head is set for HEAD, which gets the headers only. */
enum metrics_route metrics_route(const char *line, size_t len, bool *head);

/* metrics_render: the Prometheus text exposition of app's counters (newly allocated). */
char *metrics_render(struct snk_app *app);

/* metrics_ready: /readyz's verdict: both databases connected, not paused, both lags
 * under max_lag_ms; else false with the first reason that holds, in why. */
bool metrics_ready(const struct snk_app *app, int64_t max_lag_ms, char *why, size_t len);

#endif
