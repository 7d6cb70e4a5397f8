/* metrics.c - GET /metrics in the Prometheus text format, and GET /healthz.
 *
 * Served by libevent's evhttp on the same loop: rendering reads counters only, so a
 * scrape never waits on a database. Units follow Prometheus conventions (seconds,
 * _total for counters). /healthz answers 200 when both databases are connected and
 * both directions' lag is under healthz_max_lag_ms, 503 with the reason otherwise.
 */
#include "snk/metrics.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/batch.h"
#include "snk/sync.h"

struct snk_metrics {
	struct snk_app *app;   /* borrowed */
	struct evhttp *http;   /* owned */
};

static void put(struct snk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct snk_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void family(struct snk_buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_render(struct snk_app *app)
{
	struct snk_buf b = { 0 };
	int64_t now = sync_now_ms();
	struct {
		const char *name, *help;
		size_t offset;
	} counters[] = {
		{ "snk_rows_read_total", "Rows read from the source.", offsetof(struct dir_stats, rows_read) },
		{ "snk_rows_copied_total", "Rows inserted into the peer.", offsetof(struct dir_stats, rows_copied) },
		{ "snk_rows_already_present_total", "Rows the peer already had with the same data.",
		  offsetof(struct dir_stats, rows_present) },
		{ "snk_conflicts_total", "Rows the peer had with different data (left alone).",
		  offsetof(struct dir_stats, conflicts) },
		{ "snk_batches_total", "INSERT batches committed in the peer.", offsetof(struct dir_stats, batches) },
		{ "snk_passes_total", "Windows read from the source.", offsetof(struct dir_stats, passes) },
		{ "snk_insert_retries_total", "Plain INSERT batches that met an existing id and were resent with ON CONFLICT.",
		  offsetof(struct dir_stats, insert_retries) },
		{ "snk_errors_total", "Failed passes (each is retried from the stored cursor).",
		  offsetof(struct dir_stats, errors) },
	};

	family(&b, "snk_info", "gauge", "Version of the running snk.");
	put(&b, "snk_info{version=\"%s\"} 1\n", SNK_VERSION);
	family(&b, "snk_uptime_seconds", "gauge", "Seconds since snk started.");
	put(&b, "snk_uptime_seconds %.3f\n", (double)(now - app->started_ms) / 1000);
	family(&b, "snk_paused", "gauge", "1 when paused by snkctl.");
	put(&b, "snk_paused %d\n", app->paused ? 1 : 0);
	for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		family(&b, counters[k].name, "counter", counters[k].help);
		for (int i = 0; i < 2; i++) {
			const struct snk_dir *d = &app->dir[i];
			uint64_t v = *(const uint64_t *)((const char *)&d->stats + counters[k].offset);

			put(&b, "%s{direction=\"%s\"} %llu\n", counters[k].name, d->name, (unsigned long long)v);
		}
	}
	family(&b, "snk_lag_seconds", "gauge",
	       "Upper bound on the age of the oldest source row not yet in the peer; 0 when caught up.");
	for (int i = 0; i < 2; i++)
		put(&b, "snk_lag_seconds{direction=\"%s\"} %.3f\n", app->dir[i].name,
		    (double)sync_dir_lag_ms(&app->dir[i], now) / 1000);
	family(&b, "snk_pending_rows", "gauge", "Rows read from the source and not yet committed in the peer.");
	for (int i = 0; i < 2; i++)
		put(&b, "snk_pending_rows{direction=\"%s\"} %llu\n", app->dir[i].name,
		    (unsigned long long)sync_dir_pending_rows(&app->dir[i]));
	family(&b, "snk_batches_in_flight", "gauge", "INSERT batches sent and not yet committed.");
	for (int i = 0; i < 2; i++)
		put(&b, "snk_batches_in_flight{direction=\"%s\"} %d\n", app->dir[i].name, app->dir[i].inflight);
	family(&b, "snk_batch_apply_seconds", "histogram", "Time from sending a batch to its commit in the peer.");
	for (int i = 0; i < 2; i++) {
		const struct histogram *h = &app->dir[i].stats.apply;
		uint64_t cum = 0;

		for (int j = 0; j < HIST_BUCKETS; j++) {
			cum += h->bucket[j];
			put(&b, "snk_batch_apply_seconds_bucket{direction=\"%s\",le=\"%g\"} %llu\n", app->dir[i].name,
			    hist_bounds_s[j], (unsigned long long)cum);
		}
		put(&b, "snk_batch_apply_seconds_bucket{direction=\"%s\",le=\"+Inf\"} %llu\n", app->dir[i].name,
		    (unsigned long long)h->count);
		put(&b, "snk_batch_apply_seconds_sum{direction=\"%s\"} %.6f\n", app->dir[i].name, h->sum_s);
		put(&b, "snk_batch_apply_seconds_count{direction=\"%s\"} %llu\n", app->dir[i].name,
		    (unsigned long long)h->count);
	}
	family(&b, "snk_database_connected", "gauge",
	       "1 when snk's reading session and its first write session (the lock holder) to the database are ready.");
	for (int i = 0; i < 2; i++)
		put(&b, "snk_database_connected{database=\"%s\"} %d\n", app->side[i].name,
		    app->side[i].read_ok && app->side[i].write_ok ? 1 : 0);
	family(&b, "snk_write_sessions_ready", "gauge",
	       "Write sessions to the database that can take batches (of write_connections).");
	for (int i = 0; i < 2; i++)
		put(&b, "snk_write_sessions_ready{database=\"%s\"} %d\n", app->side[i].name,
		    sync_side_lanes_ready(&app->side[i]));
	family(&b, "snk_reconnects_total", "counter", "Sessions re-established after the first.");
	for (int i = 0; i < 2; i++)
		put(&b, "snk_reconnects_total{database=\"%s\"} %llu\n", app->side[i].name,
		    (unsigned long long)sync_side_reconnects(&app->side[i]));
	family(&b, "snk_notifications_total", "counter", "NOTIFY wake-ups received (snk's own are not counted).");
	for (int i = 0; i < 2; i++)
		put(&b, "snk_notifications_total{database=\"%s\"} %llu\n", app->side[i].name,
		    (unsigned long long)app->side[i].notifies);
	family(&b, "snk_reconcile_running", "gauge", "1 while a reconcile run compares the tables.");
	put(&b, "snk_reconcile_running %d\n", rc_running(app->rc) ? 1 : 0);
	family(&b, "snk_reconcile_keyspace_done_ratio", "gauge",
	       "Share of the id key space compared by the running (else the last) reconcile run.");
	put(&b, "snk_reconcile_keyspace_done_ratio %.6f\n",
	    rc_running(app->rc) ? rc_stats(app->rc)->keyspace_done : app->reconcile_last.keyspace_done);
	family(&b, "snk_reconcile_runs_total", "counter", "Reconcile runs ended, complete or not.");
	put(&b, "snk_reconcile_runs_total %llu\n", (unsigned long long)app->reconcile_runs);
	family(&b, "snk_reconcile_failures_total", "counter", "Reconcile runs that did not finish.");
	put(&b, "snk_reconcile_failures_total %llu\n", (unsigned long long)app->reconcile_failures);
	family(&b, "snk_reconcile_rows_repaired_total", "counter",
	       "Rows a reconcile inserted into a database that lacked them (ended runs).");
	for (int i = 0; i < 2; i++)
		put(&b, "snk_reconcile_rows_repaired_total{database=\"%s\"} %llu\n", app->side[i].name,
		    (unsigned long long)app->reconcile_repaired_total[i]);
	family(&b, "snk_reconcile_conflicts_total", "counter",
	       "Ids a reconcile found with different data on the two sides (ended runs; left alone).");
	put(&b, "snk_reconcile_conflicts_total %llu\n", (unsigned long long)app->reconcile_conflicts_total);
	if (!buf_reserve(&b, 1)) {
		free(b.data);
		return NULL;
	}
	b.data[b.len] = '\0';
	return b.data;
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type, const char *body)
{
	struct evbuffer *out = evbuffer_new();

	if (!out) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evbuffer_add(out, body, strlen(body));
	evhttp_send_reply(req, code, reason, out);
	evbuffer_free(out);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct snk_metrics *m = arg;
	char *text;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "use GET");
		return;
	}
	text = metrics_render(m->app);
	if (!text) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text);
	free(text);
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
	struct snk_metrics *m = arg;
	char why[256], body[300];
	bool ok = sync_healthy(m->app, m->app->cfg->healthz_max_lag_ms, why, sizeof(why));

	snprintf(body, sizeof(body), "%s\n", why);
	reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "text/plain; charset=utf-8", body);
}

static void on_other(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, 404, "try /metrics or /healthz");
}

struct snk_metrics *metrics_listen(struct snk_app *app, const char *listen, char *err, size_t errlen)
{
	struct snk_metrics *m;
	char host[256];
	const char *colon = strrchr(listen, ':');
	char *end;
	long port;

	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host)) {
		snprintf(err, errlen, "metrics_listen: must be host:port, e.g. 127.0.0.1:9187");
		return NULL;
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535) {
		snprintf(err, errlen, "metrics_listen: port must be 1..65535");
		return NULL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	/* [::1]:9187 */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->http = evhttp_new(app->base))) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->app = app;
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(m->http, 8192);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_cb(m->http, "/metrics", on_metrics, m);
	evhttp_set_cb(m->http, "/healthz", on_healthz, m);
	evhttp_set_gencb(m->http, on_other, m);
	if (!evhttp_bind_socket_with_handle(m->http, host, (unsigned short)port)) {
		snprintf(err, errlen, "metrics_listen %s: cannot listen (address in use or not local?)", listen);
		metrics_free(m);
		return NULL;
	}
	return m;
}

void metrics_free(struct snk_metrics *m)
{
	if (!m)
		return;
	evhttp_free(m->http);
	free(m);
}
