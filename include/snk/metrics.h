/* metrics.h - the optional HTTP endpoint: GET /metrics (Prometheus text) and /healthz. */
#ifndef SNK_METRICS_H
#define SNK_METRICS_H

#include <stddef.h>

struct snk_app;
struct snk_metrics;

/* metrics_listen: serves on "host:port". NULL with err filled on failure. */
struct snk_metrics *metrics_listen(struct snk_app *app, const char *listen, char *err, size_t errlen);
void metrics_free(struct snk_metrics *m);

/* metrics_render: the Prometheus text exposition of app's counters (newly allocated). */
char *metrics_render(struct snk_app *app);

#endif
