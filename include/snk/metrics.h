/* metrics.h - the optional HTTP endpoint: GET /metrics (Prometheus text) and /healthz. */
#ifndef SNK_METRICS_H
#define SNK_METRICS_H

#include <stdbool.h>
#include <stddef.h>

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
	METRICS_NOT_FOUND,      /* 404 */
	METRICS_BAD_METHOD,     /* 405: not GET or HEAD */
	METRICS_BAD_REQUEST,    /* 400: not "METHOD TARGET HTTP/x" */
};
/* metrics_route: what a request line ("GET /metrics HTTP/1.1", without its line end)
 * asks for; *head is set for HEAD, which gets the headers only. */
enum metrics_route metrics_route(const char *line, size_t len, bool *head);

/* metrics_render: the Prometheus text exposition of app's counters (newly allocated). */
char *metrics_render(struct snk_app *app);

#endif
