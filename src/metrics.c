/* metrics.c - GET /metrics in the Prometheus text format, and the health endpoints.
 *
 * Served on the same loop: rendering reads counters only, so a scrape never waits on a
 * database. Units follow Prometheus conventions (seconds, _total for counters). /healthz
 * answers 200 when both databases are connected and both directions' lag is under
 * healthz_max_lag_ms, 503 with the reason otherwise. Because a pause lets the lag grow,
 * /healthz is 503 while snk is paused on purpose, so it is neither a liveness nor a
 * readiness probe; those are split out: /livez answers 200 whenever it is answered at
 * all (the loop that serves it is the loop that syncs, so a stuck loop answers nothing),
 * and /readyz is /healthz's verdict with "not paused" added.
 *
 * The server is a small HTTP/1.0 responder on bufferevents, not evhttp: one request per
 * connection (GET or HEAD, headers up to 8 KiB, any body ignored), one reply with
 * Connection: close, and a connection lives at most 10 s whatever it does, so a slow or
 * idle client cannot hold a slot longer. Why not evhttp: libevent 2.1 gives it no cap on
 * connections and no hook at accept, and its close callback fires only while a
 * connection still has its socket and is in a connected state, so a count kept from it
 * can drift. Here clients come from listener.c (the cap, the accept back-off) and leave
 * through client_free, the one place that counts them.
 */
#include "snk/metrics.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "snk/batch.h"
#include "snk/clock.h"
#include "snk/listener.h"
#include "snk/log.h"
#include "snk/procstat.h"
#include "snk/sync.h"

#define METRICS_MAX_CLIENTS 64
#define METRICS_MAX_REQUEST 8192
#define METRICS_CLIENT_S 10
#define METRICS_LINE_EVERY_MS 10000

struct metrics_client;

struct snk_metrics {
	struct snk_app *app;              /* borrowed */
	struct snk_listener *listener;    /* owned */
	struct metrics_client *clients;   /* owned: every connection held, for metrics_free */
	struct log_limit limit;           /* lines about clients' mistakes */
};

struct metrics_client {
	struct snk_metrics *m;            /* borrowed */
	struct bufferevent *bev;          /* owned */
	struct event *deadline;           /* owned: ends it METRICS_CLIENT_S after accept */
	struct metrics_client *prev, *next;
	size_t seen;                      /* request bytes consumed so far */
	bool have_line;                   /* the request line is in */
	bool head;                        /* HEAD: headers only */
	enum metrics_route route;         /* what the request line asked for */
	bool replied;                     /* the reply is queued: close once it is out */
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

static void render_listener(struct snk_buf *b, const struct snk_metrics *m)
{
	struct listener_stats st;

	if (!m)
		return;
	listener_get_stats(m->listener, &st);
	family(b, "snk_metrics_connections", "gauge", "Connections to this endpoint held now.");
	put(b, "snk_metrics_connections %d\n", st.clients);
	family(b, "snk_metrics_connections_rejected_total", "counter",
	       "Connections to this endpoint closed at once: the cap of connections was reached.");
	put(b, "snk_metrics_connections_rejected_total %llu\n", (unsigned long long)st.refused);
	family(b, "snk_metrics_accept_failures_total", "counter",
	       "Failed accepts on this endpoint (no descriptor left); each pauses accepting.");
	put(b, "snk_metrics_accept_failures_total %llu\n", (unsigned long long)st.accept_failures);
}

/* The standard process_* series, as Prometheus' client libraries export them. */
static void render_process(struct snk_buf *b)
{
	struct proc_figures p;

	if (!procstat_read(&p))
		return;
	family(b, "process_cpu_seconds_total", "counter",
	       "Total user and system CPU time spent in seconds.");
	put(b, "process_cpu_seconds_total %.2f\n", p.cpu_seconds);
	family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	put(b, "process_resident_memory_bytes %llu\n", (unsigned long long)p.resident_bytes);
	family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
	put(b, "process_virtual_memory_bytes %llu\n", (unsigned long long)p.virtual_bytes);
	if (p.start_time_seconds > 0) {
		family(b, "process_start_time_seconds", "gauge",
		       "Start time of the process since unix epoch in seconds.");
		put(b, "process_start_time_seconds %.2f\n", p.start_time_seconds);
	}
	if (p.open_fds >= 0) {
		family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
		put(b, "process_open_fds %lld\n", (long long)p.open_fds);
	}
	if (p.max_fds >= 0) {
		family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
		put(b, "process_max_fds %lld\n", (long long)p.max_fds);
	}
}

/* A label value as Prometheus' text format wants it: backslash, quote and newline escaped. */
static void label_value(char *out, size_t len, const char *v)
{
	size_t n = 0;

	for (; *v && n + 3 < len; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			out[n++] = '\\';
			out[n++] = *v == '\n' ? 'n' : *v;
		} else {
			out[n++] = *v;
		}
	}
	out[n] = '\0';
}

/* Per table and direction: labels direction and table. */
static void render_tables(struct snk_buf *b, const struct snk_app *app, int64_t now)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "snk_table_rows_read_total", "counter", "Rows of the table read from the source." },
		{ "snk_table_rows_copied_total", "counter", "Rows of the table inserted into the peer." },
		{ "snk_table_conflicts_total", "counter", "Rows of the table the peer had with different data." },
		{ "snk_table_lag_seconds", "gauge", "Upper bound on the age of the table's oldest row not yet in the peer." },
		{ "snk_table_initial_copy_progress", "gauge", "Share of the table's first copy done; 1 once it is over." },
	};

	for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		family(b, fam[k].name, fam[k].type, fam[k].help);
		for (int t = 0; t < app->ntables; t++) {
			char label[512];

			label_value(label, sizeof(label), app->tables[t].label);
			for (int i = 0; i < app->ndir; i++) {
				const struct snk_dir *d = &app->dir[i];
				const struct tdir_stats *st = &d->tdirs[t].stats;
				double v = k == 0 ? (double)st->rows_read : k == 1 ? (double)st->rows_copied :
					   k == 2 ? (double)st->conflicts : k == 3 ? (double)dir_table_lag_ms(d, t, now) / 1000 :
					   sync_table_copy_progress(d, t);

				put(b, "%s{direction=\"%s\",table=\"%s\"} %.*f\n", fam[k].name, d->name, label, k < 3 ? 0 : 6, v);
			}
		}
	}
}

char *metrics_render(struct snk_app *app)
{
	struct snk_buf b = { 0 };
	int64_t now = clock_now_ms();
	const struct snk_rc_schedule *sc = &app->reconcile;
	const struct rc_stats *running = sync_reconcile_running(app);
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
		{ "snk_rows_ahead_of_xid_counter_total", "Rows copied whose snk_xid was ahead of the source's xid counter.",
		  offsetof(struct dir_stats, rows_ahead) },
		{ "snk_batches_total", "INSERT batches committed in the peer.", offsetof(struct dir_stats, batches) },
		{ "snk_passes_total", "Windows read from the source.", offsetof(struct dir_stats, passes) },
		{ "snk_batches_beside_commit_total",
		  "Windows whose last rows went on another write session beside a commit in flight.",
		  offsetof(struct dir_stats, batches_beside) },
		{ "snk_cursors_deferred_total",
		  "Windows whose cursors waited for their rows' commits while the next window was read.",
		  offsetof(struct dir_stats, cursors_deferred) },
		{ "snk_insert_retries_total", "Plain INSERT batches that met an existing id and were resent with ON CONFLICT.",
		  offsetof(struct dir_stats, insert_retries) },
		{ "snk_errors_total", "Failed passes (each is retried from the stored cursor).",
		  offsetof(struct dir_stats, errors) },
	};

	family(&b, "snk_info", "gauge", "Version of the running snk.");
	put(&b, "snk_info{version=\"%s\"} 1\n", SNK_VERSION);
	family(&b, "snk_uptime_seconds", "gauge", "Seconds since snk started.");
	put(&b, "snk_uptime_seconds %.3f\n", (double)(now - app->started_ms) / 1000);
	family(&b, "snk_config_last_reload_successful", "gauge",
	       "1 when the last config reload (SIGHUP) was put in force, 0 when it was refused.");
	put(&b, "snk_config_last_reload_successful %d\n", app->reload.successful ? 1 : 0);
	family(&b, "snk_config_last_reload_success_timestamp_seconds", "gauge",
	       "Unix time of the last successful config load (the start counts as one).");
	put(&b, "snk_config_last_reload_success_timestamp_seconds %.3f\n",
	    (double)app->reload.success_at_ms / 1000);
	family(&b, "snk_paused", "gauge", "1 when paused by snkctl.");
	put(&b, "snk_paused %d\n", app->paused ? 1 : 0);
	family(&b, "snk_role", "gauge", "1 for this snk's role among several with the same tables.");
	for (enum snk_role r = ROLE_STARTING; r <= ROLE_ACTIVE; r++)
		put(&b, "snk_role{role=\"%s\"} %d\n", lease_role_name(r), app->lease.role == r ? 1 : 0);
	family(&b, "snk_lease_held", "gauge", "1 while this snk holds the database's writer locks.");
	for (int i = 0; i < app->ndb; i++)
		put(&b, "snk_lease_held{database=\"%s\"} %d\n", app->side[i].name,
		    app->side[i].lock == SIDE_LOCK_HELD ? 1 : 0);
	family(&b, "snk_lease_takeovers_total", "counter", "Times this snk went from standby to active.");
	put(&b, "snk_lease_takeovers_total %llu\n", (unsigned long long)app->lease.takeovers);
	family(&b, "snk_lease_step_downs_total", "counter", "Times this snk went from active to standby.");
	put(&b, "snk_lease_step_downs_total %llu\n", (unsigned long long)app->lease.step_downs);
	for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		family(&b, counters[k].name, "counter", counters[k].help);
		for (int i = 0; i < app->ndir; i++) {
			const struct snk_dir *d = &app->dir[i];
			uint64_t v = *(const uint64_t *)((const char *)&d->stats + counters[k].offset);

			put(&b, "%s{direction=\"%s\"} %llu\n", counters[k].name, d->name, (unsigned long long)v);
		}
	}
	family(&b, "snk_lag_seconds", "gauge",
	       "Upper bound on the age of the oldest source row not yet in the peer; 0 when caught up.");
	for (int i = 0; i < app->ndir; i++)
		put(&b, "snk_lag_seconds{direction=\"%s\"} %.3f\n", app->dir[i].name,
		    (double)dir_lag_ms(&app->dir[i], now) / 1000);
	family(&b, "snk_last_commit_timestamp_seconds", "gauge",
	       "Unix time of the last commit that copied rows into the peer; 0 before the first.");
	for (int i = 0; i < app->ndir; i++)
		put(&b, "snk_last_commit_timestamp_seconds{direction=\"%s\"} %.3f\n", app->dir[i].name,
		    (double)app->dir[i].stats.last_copy_ms / 1000);
	family(&b, "snk_pending_rows", "gauge", "Rows read from the source and not yet committed in the peer.");
	for (int i = 0; i < app->ndir; i++)
		put(&b, "snk_pending_rows{direction=\"%s\"} %llu\n", app->dir[i].name,
		    (unsigned long long)dir_pending_rows(&app->dir[i]));
	family(&b, "snk_batches_in_flight", "gauge", "INSERT batches sent and not yet committed.");
	for (int i = 0; i < app->ndir; i++)
		put(&b, "snk_batches_in_flight{direction=\"%s\"} %d\n", app->dir[i].name, app->dir[i].w.inflight);
	family(&b, "snk_batch_apply_seconds", "histogram", "Time from sending a batch to its commit in the peer.");
	for (int i = 0; i < app->ndir; i++) {
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
	for (int i = 0; i < app->ndb; i++)
		put(&b, "snk_database_connected{database=\"%s\"} %d\n", app->side[i].name,
		    app->side[i].read_ok && app->side[i].write_ok ? 1 : 0);
	family(&b, "snk_write_sessions_ready", "gauge",
	       "Write sessions to the database that can take batches (of write_connections).");
	for (int i = 0; i < app->ndb; i++)
		put(&b, "snk_write_sessions_ready{database=\"%s\"} %d\n", app->side[i].name,
		    side_lanes_ready(&app->side[i]));
	family(&b, "snk_reconnects_total", "counter", "Sessions re-established after the first.");
	for (int i = 0; i < app->ndb; i++)
		put(&b, "snk_reconnects_total{database=\"%s\"} %llu\n", app->side[i].name,
		    (unsigned long long)side_reconnects(&app->side[i]));
	family(&b, "snk_notifications_total", "counter", "NOTIFY wake-ups received (snk's own are not counted).");
	for (int i = 0; i < app->ndb; i++)
		put(&b, "snk_notifications_total{database=\"%s\"} %llu\n", app->side[i].name,
		    (unsigned long long)app->side[i].notifies);
	family(&b, "snk_reconcile_running", "gauge", "1 while a reconcile run compares the tables.");
	put(&b, "snk_reconcile_running %d\n", running ? 1 : 0);
	family(&b, "snk_reconcile_keyspace_done_ratio", "gauge",
	       "Share of the id key space compared by the running (else the last) reconcile run.");
	put(&b, "snk_reconcile_keyspace_done_ratio %.6f\n", running ? running->keyspace_done : sc->last.keyspace_done);
	family(&b, "snk_reconcile_runs_total", "counter", "Reconcile runs ended, complete or not.");
	put(&b, "snk_reconcile_runs_total %llu\n", (unsigned long long)sc->runs);
	family(&b, "snk_reconcile_failures_total", "counter", "Reconcile runs that did not finish.");
	put(&b, "snk_reconcile_failures_total %llu\n", (unsigned long long)sc->failures);
	family(&b, "snk_reconcile_rows_repaired_total", "counter",
	       "Rows a reconcile inserted into a database that lacked them (ended runs).");
	for (int i = 0; i < app->ndb; i++)
		put(&b, "snk_reconcile_rows_repaired_total{database=\"%s\"} %llu\n", app->side[i].name,
		    (unsigned long long)sc->repaired_total[i]);
	family(&b, "snk_reconcile_conflicts_total", "counter",
	       "Ids a reconcile found with different data on the two sides (ended runs; left alone).");
	put(&b, "snk_reconcile_conflicts_total %llu\n", (unsigned long long)sc->conflicts_total);
	render_tables(&b, app, now);
	render_listener(&b, app->metrics);
	render_process(&b);
	if (!buf_reserve(&b, 1)) {
		free(b.data);
		return NULL;
	}
	b.data[b.len] = '\0';
	return b.data;
}

static const char *reason_of(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

enum metrics_route metrics_route(const char *line, size_t len, bool *head)
{
	const char *sp1, *sp2, *end = line + len, *q;
	size_t mlen, plen;

	*head = false;
	sp1 = memchr(line, ' ', len);
	if (!sp1 || memchr(line, '\0', len))
		return METRICS_BAD_REQUEST;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return METRICS_BAD_REQUEST;
	if ((size_t)(end - sp2 - 1) < 5 || memcmp(sp2 + 1, "HTTP/", 5) != 0)
		return METRICS_BAD_REQUEST;
	mlen = (size_t)(sp1 - line);
	*head = mlen == 4 && memcmp(line, "HEAD", 4) == 0;
	if (!*head && !(mlen == 3 && memcmp(line, "GET", 3) == 0))
		return METRICS_BAD_METHOD;
	/* The query string, if any, asks for nothing here. */
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	plen = (size_t)((q ? q : sp2) - sp1 - 1);
	if (plen == 8 && memcmp(sp1 + 1, "/metrics", 8) == 0)
		return METRICS_METRICS;
	if (plen == 8 && memcmp(sp1 + 1, "/healthz", 8) == 0)
		return METRICS_HEALTHZ;
	if (plen == 6 && memcmp(sp1 + 1, "/livez", 6) == 0)
		return METRICS_LIVEZ;
	if (plen == 7 && memcmp(sp1 + 1, "/readyz", 7) == 0)
		return METRICS_READYZ;
	return METRICS_NOT_FOUND;
}

static void client_free(struct metrics_client *c)
{
	struct snk_metrics *m = c->m;

	if (c->prev)
		c->prev->next = c->next;
	else
		m->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	event_free(c->deadline);
	free(c);
	listener_client_closed(m->listener);
}

/* Queues the one reply of this connection; client_write_cb closes once it is out. */
static void client_reply(struct metrics_client *c, int code, const char *type, const char *body)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t len = strlen(body);

	evbuffer_add_printf(out, "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			    "Connection: close\r\n\r\n", code, reason_of(code), type, len,
			    code == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!c->head)
		evbuffer_add(out, body, len);
	c->replied = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
}

static void client_error(struct metrics_client *c, int code, const char *body)
{
	log_limited(&c->m->limit, LOG_INFO, "answered %d %s to a client: %s", code, reason_of(code),
		    body);
	client_reply(c, code, "text/plain; charset=utf-8", body);
}

bool metrics_ready(const struct snk_app *app, int64_t max_lag_ms, char *why, size_t len)
{
	bool connected = true;

	if (app->lease.role != ROLE_ACTIVE) {
		/* a standby syncs nothing: it is never ready, healthy or not */
		char more[300];

		lease_describe(app, more, sizeof(more));
		if (!sync_healthy(app, max_lag_ms, why, len))
			return false;
		snprintf(why, len, "%s", more);
		return false;
	}
	for (int i = 0; i < app->ndb; i++)
		connected = connected && app->side[i].read_ok && app->side[i].write_ok;
	/* A lost database is the first thing to say; sync_healthy names it. */
	if (connected && app->stopping) {
		snprintf(why, len, "stopping");
		return false;
	}
	if (connected && app->paused) {
		snprintf(why, len, "paused by snkctl; 'snkctl resume' starts copying again");
		return false;
	}
	return sync_healthy(app, max_lag_ms, why, len);
}

static void client_health(struct metrics_client *c, bool ok, const char *why)
{
	char body[300];

	snprintf(body, sizeof(body), "%s\n", why);
	client_reply(c, ok ? 200 : 503, "text/plain; charset=utf-8", body);
}

static void client_answer(struct metrics_client *c)
{
	struct snk_app *app = c->m->app;
	char why[256];
	char *text;
	bool ok;

	switch (c->route) {
	case METRICS_METRICS:
		text = metrics_render(app);
		if (!text) {
			client_error(c, 500, "out of memory\n");
			return;
		}
		client_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", text);
		free(text);
		return;
	case METRICS_HEALTHZ:
		ok = sync_healthy(app, app->cfg->healthz_max_lag_ms, why, sizeof(why));
		client_health(c, ok, why);
		return;
	case METRICS_LIVEZ:
		client_health(c, true, "ok");
		return;
	case METRICS_READYZ:
		ok = metrics_ready(app, app->cfg->healthz_max_lag_ms, why, sizeof(why));
		client_health(c, ok, why);
		return;
	case METRICS_NOT_FOUND:
		client_error(c, 404, "try /metrics, /healthz, /livez or /readyz\n");
		return;
	case METRICS_BAD_METHOD:
		client_error(c, 405, "use GET or HEAD\n");
		return;
	case METRICS_BAD_REQUEST:
	default:
		client_error(c, 400, "bad request line; send GET /metrics HTTP/1.0\n");
		return;
	}
}

/* Reads the request line, then header lines up to the empty one, which are ignored. */
static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct metrics_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->replied) {
		size_t before = evbuffer_get_length(in), len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);

		if (!line)
			break;
		c->seen += before - evbuffer_get_length(in);
		if (c->seen > METRICS_MAX_REQUEST) {
			free(line);
			break;
		}
		if (!c->have_line) {
			c->have_line = true;
			c->route = metrics_route(line, len, &c->head);
		} else if (len == 0) {
			client_answer(c);
		}
		free(line);
	}
	if (!c->replied && c->seen + evbuffer_get_length(in) > METRICS_MAX_REQUEST)
		client_error(c, 431, "request too large; the limit is 8192 bytes\n");
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct metrics_client *c = arg;

	if (c->replied)
		client_free(c);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct metrics_client *c = arg;

	/* A client may shut its side once it has sent its request: the reply still goes out. */
	if ((what & BEV_EVENT_EOF) && c->replied && !(what & BEV_EVENT_ERROR))
		return;
	client_free(c);
}

static void client_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_client *c = arg;

	log_limited(&c->m->limit, LOG_INFO, "closed a connection that was not done within %d s",
		    METRICS_CLIENT_S);
	client_free(c);
}

static void on_client(evutil_socket_t fd, void *arg)
{
	struct snk_metrics *m = arg;
	struct event_base *base = m->app->base;
	struct metrics_client *c = calloc(1, sizeof(*c));
	struct timeval life = { METRICS_CLIENT_S, 0 };

	if (!c || !(c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE))) {
		evutil_closesocket(fd);
		free(c);
		listener_client_closed(m->listener);
		return;
	}
	c->m = m;
	c->deadline = evtimer_new(base, client_deadline_cb, c);
	if (!c->deadline) {
		bufferevent_free(c->bev);
		free(c);
		listener_client_closed(m->listener);
		return;
	}
	c->next = m->clients;
	if (m->clients)
		m->clients->prev = c;
	m->clients = c;
	evtimer_add(c->deadline, &life);
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
	bufferevent_enable(c->bev, EV_READ);
}

/* "host:port" or "[v6]:port" into an address to bind. */
static bool parse_listen(const char *listen, struct sockaddr_storage *sa, int *salen, char *err,
			 size_t errlen)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char *end;
	long port;
	int rc;

	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host)) {
		snprintf(err, errlen, "metrics_listen: must be host:port, e.g. 127.0.0.1:9187");
		return false;
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535) {
		snprintf(err, errlen, "metrics_listen: port must be 1..65535");
		return false;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	/* [::1]:9187 */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "metrics_listen %s: %s", listen, gai_strerror(rc));
		return false;
	}
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	*salen = (int)ai->ai_addrlen;
	freeaddrinfo(ai);
	return true;
}

struct snk_metrics *metrics_listen(struct snk_app *app, const char *listen, char *err, size_t errlen)
{
	struct snk_metrics *m;
	struct sockaddr_storage sa;
	int salen;
	char why[256];

	if (!parse_listen(listen, &sa, &salen, err, errlen))
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->app = app;
	m->limit = (struct log_limit)LOG_LIMIT_INIT("metrics", "lines about clients' requests", 1,
						    METRICS_LINE_EVERY_MS);
	m->listener = listener_new(app->base, "metrics", (struct sockaddr *)&sa, salen,
				   METRICS_MAX_CLIENTS, on_client, m, why, sizeof(why));
	if (!m->listener) {
		snprintf(err, errlen, "metrics_listen %s: cannot listen: %s", listen, why);
		free(m);
		return NULL;
	}
	return m;
}

const struct snk_listener *metrics_listener(const struct snk_metrics *m)
{
	return m ? m->listener : NULL;
}

void metrics_free(struct snk_metrics *m)
{
	if (!m)
		return;
	while (m->clients)
		client_free(m->clients);
	listener_free(m->listener);
	free(m);
}
