/* pgconn.c - the only place that drives libpq I/O.
 *
 * States: IDLE (not started), CONNECTING (PQconnectPoll with one-shot events, the
 * socket fetched again on every wait), READY (pipeline mode, a persistent read event
 * and a write event while output is pending), BACKOFF (a jittered, bounded delay
 * before the next attempt). A loss fails every queued unit with conn_lost set; the
 * failures are delivered from the event loop, never from inside the caller's send.
 */
#include "snk/pgconn.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/conninfo.h"
#include "snk/log.h"

#define MAX_UNITS 256
#define CONNECT_TIMEOUT_S 10
#define BACKOFF_MIN_MS 100

struct unit {
	pgconn_result_cb on_result;
	pgconn_done_cb on_done;
	void *arg;
	int stmt;                 /* statements finished so far */
	bool failed;
	struct pgconn_error err;
};

struct snk_pgconn {
	char *name;               /* owned */
	char *conninfo;           /* owned */
	struct event_base *base;  /* borrowed */
	PGconn *conn;             /* owned */
	struct event *io;         /* owned: one-shot while connecting, persistent read when ready */
	struct event *wr;         /* owned: write readiness while output is pending */
	struct event *timer;      /* owned: connect timeout and backoff */
	struct event *lost_ev;    /* owned: deferred loss handling */
	enum pgconn_state state;
	pgconn_state_cb on_state;
	pgconn_notify_cb on_notify;
	void *arg;                /* borrowed */
	struct unit units[MAX_UNITS];
	int head;                 /* oldest unit */
	int nunits;               /* queued, including one being built */
	bool building;            /* between begin and end */
	bool broken;              /* loss noticed, handling deferred */
	bool one_shot;            /* a failure ends it (IDLE) instead of a reconnect */
	bool stop;                /* pgconn_stop: the loss being handled ends it (IDLE) */
	int attempts;
	int reconnect_max_ms;
	int backend_pid;
	char last_error[512];
	char target[256];
	struct pgconn_stats stats;
};

static void on_connect_io(evutil_socket_t fd, short what, void *arg);
static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_lost_ev(evutil_socket_t fd, short what, void *arg);
static void connect_begin(struct snk_pgconn *c);

static void copy_error(char *dst, size_t len, const char *msg)
{
	snprintf(dst, len, "%s", msg ? msg : "unknown error");
	for (char *p = dst; *p; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	for (size_t n = strlen(dst); n > 0 && dst[n - 1] == ' '; n--)
		dst[n - 1] = '\0';
}

static enum log_level notice_level(const char *severity)
{
	if (!severity)
		return LOG_WARN;
	if (strcmp(severity, "ERROR") == 0 || strcmp(severity, "FATAL") == 0 ||
	    strcmp(severity, "PANIC") == 0)
		return LOG_ERROR;
	if (strcmp(severity, "WARNING") == 0)
		return LOG_WARN;
	if (strcmp(severity, "NOTICE") == 0 || strcmp(severity, "INFO") == 0)
		return LOG_INFO;
	return LOG_DEBUG; /* LOG, DEBUG1..5 */
}

/* libpq's default receiver prints notices raw on stderr. Besides the server's NOTICE and
 * WARNING, that is where a FATAL lands that the server sends on an idle session before it
 * closes it (pg_terminate_backend, a shutdown): libpq has no query to fail with it. */
static void notice_cb(void *arg, const PGresult *res)
{
	const char *role = arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *shown = PQresultErrorField(res, PG_DIAG_SEVERITY);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

	if (!primary) {
		char text[512];

		copy_error(text, sizeof(text), PQresultErrorMessage(res));
		log_msg(notice_level(severity), role, "server says: %s", text);
		return;
	}
	log_msg(notice_level(severity ? severity : shown), role, "server %s%s%s: %s%s%s",
		shown ? shown : "NOTICE", state ? " " : "", state ? state : "", primary,
		detail ? "; " : "", detail ? detail : "");
}

void pgconn_route_notices(PGconn *conn, const char *role)
{
	PQsetNoticeReceiver(conn, notice_cb, (void *)role);
}

struct snk_pgconn *pgconn_new(struct event_base *base, const char *name, const char *conninfo,
			      int reconnect_max_ms, pgconn_state_cb on_state,
			      pgconn_notify_cb on_notify, void *arg)
{
	struct snk_pgconn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->name = strdup(name);
	c->conninfo = strdup(conninfo);
	c->base = base;
	c->on_state = on_state;
	c->on_notify = on_notify;
	c->arg = arg;
	c->reconnect_max_ms = reconnect_max_ms;
	c->timer = evtimer_new(base, on_timer, c);
	c->lost_ev = event_new(base, -1, 0, on_lost_ev, c);
	if (!c->name || !c->conninfo || !c->timer || !c->lost_ev) {
		pgconn_free(c);
		return NULL;
	}
	snprintf(c->target, sizeof(c->target), "(not connected)");
	return c;
}

static void close_session(struct snk_pgconn *c)
{
	if (c->io) {
		event_free(c->io);
		c->io = NULL;
	}
	if (c->wr) {
		event_free(c->wr);
		c->wr = NULL;
	}
	if (c->conn) {
		PQfinish(c->conn);
		c->conn = NULL;
	}
	c->backend_pid = 0;
}

void pgconn_free(struct snk_pgconn *c)
{
	if (!c)
		return;
	close_session(c);
	if (c->timer)
		event_free(c->timer);
	if (c->lost_ev)
		event_free(c->lost_ev);
	free(c->name);
	free(c->conninfo);
	free(c);
}

bool pgconn_set_conninfo(struct snk_pgconn *c, const char *conninfo)
{
	char *copy = strdup(conninfo);

	if (!copy)
		return false;
	free(c->conninfo);
	c->conninfo = copy;
	return true;
}

void pgconn_set_one_shot(struct snk_pgconn *c)
{
	c->one_shot = true;
}

void pgconn_set_reconnect_max(struct snk_pgconn *c, int ms)
{
	c->reconnect_max_ms = ms;
}

static void schedule_reconnect(struct snk_pgconn *c)
{
	long delay = BACKOFF_MIN_MS;
	struct timeval tv;

	if (c->one_shot) {
		/* The owner hears of it from the loop: the failure may have come from inside
		 * pgconn_start. on_timer sees IDLE and calls on_state. */
		struct timeval now = { 0, 0 };

		c->state = PGCONN_IDLE;
		evtimer_add(c->timer, &now);
		return;
	}
	for (int i = 0; i < c->attempts && delay < c->reconnect_max_ms; i++)
		delay *= 2;
	if (delay > c->reconnect_max_ms)
		delay = c->reconnect_max_ms;
	/* Full jitter in the upper half, so that restarts of many daemons spread out. */
	delay = delay / 2 + (long)(random() % (delay / 2 + 1));
	c->attempts++;
	c->state = PGCONN_BACKOFF;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	if (c->attempts == 1 || c->attempts % 10 == 0)
		log_warn(c->name, "will reconnect in %ld ms (attempt %d): %s", delay, c->attempts,
			 c->last_error);
	else
		log_debug(c->name, "will reconnect in %ld ms (attempt %d)", delay, c->attempts);
	if (c->on_state)
		c->on_state(c, c->arg);
}

/* Fails every queued unit; the owner learns of the loss through on_state. */
static void handle_loss(struct snk_pgconn *c)
{
	bool was_ready = c->state == PGCONN_READY;

	c->broken = false;
	if (c->state == PGCONN_IDLE)
		return;
	if (c->conn && c->last_error[0] == '\0')
		copy_error(c->last_error, sizeof(c->last_error), PQerrorMessage(c->conn));
	close_session(c);
	if (was_ready && c->stop) {
		log_info(c->name, "closed: %s", c->last_error);
	} else if (was_ready) {
		c->stats.losses++;
		log_error(c->name, "connection lost: %s", c->last_error);
	}
	c->state = PGCONN_BACKOFF;
	while (c->nunits > 0) {
		struct unit u = c->units[c->head];

		c->head = (c->head + 1) % MAX_UNITS;
		c->nunits--;
		if (!u.failed) {
			memset(&u.err, 0, sizeof(u.err));
			snprintf(u.err.sqlstate, sizeof(u.err.sqlstate), "08006");
			copy_error(u.err.message, sizeof(u.err.message), c->last_error);
		}
		u.err.conn_lost = true;
		if (u.on_done)
			u.on_done(u.arg, &u.err);
	}
	c->building = false;
	if (c->stop) {
		c->stop = false;
		c->attempts = 0;
		c->last_error[0] = '\0'; /* closed on purpose: no error to show */
		c->state = PGCONN_IDLE;
		if (c->on_state)
			c->on_state(c, c->arg);
		return;
	}
	schedule_reconnect(c);
}

static void mark_broken(struct snk_pgconn *c, const char *why)
{
	if (c->broken)
		return;
	c->broken = true;
	if (why)
		copy_error(c->last_error, sizeof(c->last_error), why);
	else if (c->conn)
		copy_error(c->last_error, sizeof(c->last_error), PQerrorMessage(c->conn));
	event_active(c->lost_ev, 0, 0);
}

static void on_lost_ev(evutil_socket_t fd, short what, void *arg)
{
	handle_loss(arg);
}

bool pgconn_close(struct snk_pgconn *c)
{
	if (c->nunits > 0 || c->building)
		return false;
	close_session(c);
	if (c->timer)
		evtimer_del(c->timer);
	c->broken = false;
	c->state = PGCONN_IDLE;
	return true;
}

void pgconn_stop(struct snk_pgconn *c, const char *why)
{
	if (c->state == PGCONN_READY || c->state == PGCONN_CONNECTING) {
		c->stop = true;
		mark_broken(c, why);
	} else if (c->state == PGCONN_BACKOFF) {
		/* also from a unit's callback inside handle_loss, which then ends IDLE */
		c->stop = true;
		evtimer_del(c->timer);
		c->attempts = 0;
		c->state = PGCONN_IDLE;
	}
}

void pgconn_drop(struct snk_pgconn *c, const char *why)
{
	if (c->state == PGCONN_READY || c->state == PGCONN_CONNECTING)
		mark_broken(c, why);
}

static void wait_connect(struct snk_pgconn *c, short what)
{
	int fd = PQsocket(c->conn);

	if (c->io) {
		event_free(c->io);
		c->io = NULL;
	}
	if (fd < 0) {
		mark_broken(c, "no socket while connecting");
		return;
	}
	c->io = event_new(c->base, fd, what, on_connect_io, c);
	if (!c->io || event_add(c->io, NULL) != 0)
		mark_broken(c, "cannot watch the connection's socket");
}

static void set_target(struct snk_pgconn *c)
{
	const char *host = PQhost(c->conn);
	const char *port = PQport(c->conn);
	const char *db = PQdb(c->conn);

	snprintf(c->target, sizeof(c->target), "%s:%s/%s", host && *host ? host : "local",
		 port && *port ? port : "5432", db ? db : "?");
}

static void connected(struct snk_pgconn *c)
{
	int fd = PQsocket(c->conn);

	evtimer_del(c->timer);
	if (c->io) {
		event_free(c->io);
		c->io = NULL;
	}
	if (PQsetnonblocking(c->conn, 1) != 0 || PQenterPipelineMode(c->conn) != 1) {
		mark_broken(c, "cannot enter nonblocking pipeline mode");
		return;
	}
	c->io = event_new(c->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wr = event_new(c->base, fd, EV_WRITE, on_write, c);
	if (!c->io || !c->wr || event_add(c->io, NULL) != 0) {
		mark_broken(c, "cannot watch the connection's socket");
		return;
	}
	c->state = PGCONN_READY;
	c->backend_pid = PQbackendPID(c->conn);
	c->attempts = 0;
	c->last_error[0] = '\0';
	c->stats.connects++;
	set_target(c);
	log_info(c->name, "connected to %s (backend pid %d, server %d)", c->target, c->backend_pid,
		 PQserverVersion(c->conn));
	if (c->on_state)
		c->on_state(c, c->arg);
}

static void poll_connect(struct snk_pgconn *c)
{
	switch (PQconnectPoll(c->conn)) {
	case PGRES_POLLING_READING:
		wait_connect(c, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		wait_connect(c, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		connected(c);
		break;
	default:
		copy_error(c->last_error, sizeof(c->last_error), PQerrorMessage(c->conn));
		close_session(c);
		schedule_reconnect(c);
		break;
	}
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg)
{
	poll_connect(arg);
}

static void connect_begin(struct snk_pgconn *c)
{
	struct snk_conn_params params;
	struct timeval tv = { CONNECT_TIMEOUT_S, 0 };
	char app[64]; /* NAMEDATALEN: the server truncates longer names */

	c->state = PGCONN_CONNECTING;
	/* The last error stays until connected() or a new one: status and degraded_reason
	 * must not say "no error" for the instant a retry is under way. */
	/* "snk a.read", "snk b.write2": pg_stat_activity tells the sessions apart. A fallback,
	 * so an application_name in the user's conninfo still wins. */
	snprintf(app, sizeof(app), "snk %s", c->name);
	/* The conninfo was checked when the config was loaded: failing here is memory. */
	if (!conninfo_params(&params, c->conninfo, app, 0, true)) {
		snprintf(c->last_error, sizeof(c->last_error), "out of memory");
		schedule_reconnect(c);
		return;
	}
	c->conn = PQconnectStartParams(params.keys, params.vals, 0);
	conninfo_params_free(&params);
	if (!c->conn) {
		snprintf(c->last_error, sizeof(c->last_error), "out of memory");
		schedule_reconnect(c);
		return;
	}
	pgconn_route_notices(c->conn, c->name);
	if (PQstatus(c->conn) == CONNECTION_BAD) {
		copy_error(c->last_error, sizeof(c->last_error), PQerrorMessage(c->conn));
		close_session(c);
		schedule_reconnect(c);
		return;
	}
	evtimer_add(c->timer, &tv);
	poll_connect(c);
}

void pgconn_start(struct snk_pgconn *c)
{
	c->stop = false; /* a stop whose loss is not handled yet becomes a reconnect */
	if (c->state == PGCONN_IDLE)
		connect_begin(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct snk_pgconn *c = arg;

	if (c->state == PGCONN_CONNECTING) {
		snprintf(c->last_error, sizeof(c->last_error), "connection attempt timed out after %d s",
			 CONNECT_TIMEOUT_S);
		close_session(c);
		schedule_reconnect(c);
	} else if (c->state == PGCONN_BACKOFF) {
		connect_begin(c);
	} else if (c->state == PGCONN_IDLE && c->one_shot && c->on_state) {
		c->on_state(c, c->arg);
	}
}

static void flush(struct snk_pgconn *c)
{
	int r = PQflush(c->conn);

	if (r < 0)
		mark_broken(c, NULL);
	else if (r > 0)
		event_add(c->wr, NULL);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct snk_pgconn *c = arg;

	if (c->state == PGCONN_READY && !c->broken)
		flush(c);
}

static void record_error(struct unit *u, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (u->failed)
		return;
	u->failed = true;
	snprintf(u->err.sqlstate, sizeof(u->err.sqlstate), "%s", state ? state : "XX000");
	copy_error(u->err.message, sizeof(u->err.message), PQresultErrorMessage(res));
}

static void process_results(struct snk_pgconn *c)
{
	int nulls = 0;

	while (c->nunits > (c->building ? 1 : 0) && !c->broken && c->state == PGCONN_READY) {
		struct unit *u = &c->units[c->head];
		PGresult *res;

		if (PQisBusy(c->conn))
			break;
		res = PQgetResult(c->conn);
		if (!res) {
			/* End of one statement's results. Two in a row: nothing more is ready. */
			if (++nulls > 1)
				break;
			u->stmt++;
			continue;
		}
		nulls = 0;
		switch (PQresultStatus(res)) {
		case PGRES_PIPELINE_SYNC: {
			struct unit done = *u;

			PQclear(res);
			c->head = (c->head + 1) % MAX_UNITS;
			c->nunits--;
			c->stats.units++;
			if (done.on_done)
				done.on_done(done.arg, done.failed ? &done.err : NULL);
			continue;
		}
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
			if (!u->failed && u->on_result)
				u->on_result(u->arg, u->stmt, res);
			break;
		case PGRES_PIPELINE_ABORTED:
			break;
		case PGRES_FATAL_ERROR:
			record_error(u, res);
			break;
		default:
			record_error(u, res);
			if (!u->err.message[0])
				snprintf(u->err.message, sizeof(u->err.message), "unexpected result %s",
					 PQresStatus(PQresultStatus(res)));
			break;
		}
		PQclear(res);
	}
}

static void drain_notifies(struct snk_pgconn *c)
{
	PGnotify *n;

	while (c->conn && (n = PQnotifies(c->conn)) != NULL) {
		if (c->on_notify)
			c->on_notify(c, c->arg, n->be_pid, n->extra);
		PQfreemem(n);
	}
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct snk_pgconn *c = arg;

	if (c->state != PGCONN_READY || c->broken)
		return;
	if (!PQconsumeInput(c->conn)) {
		mark_broken(c, NULL);
		return;
	}
	drain_notifies(c);
	process_results(c);
	if (c->state == PGCONN_READY && !c->broken) {
		if (PQstatus(c->conn) == CONNECTION_BAD) {
			mark_broken(c, NULL);
			return;
		}
		drain_notifies(c);
		/* Reading may have unblocked output that was waiting on the server. */
		if (PQisnonblocking(c->conn))
			flush(c);
	}
}

bool pgconn_begin(struct snk_pgconn *c, pgconn_result_cb on_result, pgconn_done_cb on_done, void *arg)
{
	struct unit *u;

	if (c->state != PGCONN_READY || c->broken)
		return false;
	if (c->building || c->nunits >= MAX_UNITS) {
		log_error(c->name, "BUG: unit queue misuse (building=%d, queued=%d)", c->building,
			  c->nunits);
		return false;
	}
	u = &c->units[(c->head + c->nunits) % MAX_UNITS];
	memset(u, 0, sizeof(*u));
	u->on_result = on_result;
	u->on_done = on_done;
	u->arg = arg;
	c->nunits++;
	c->building = true;
	return true;
}

static bool check_send(struct snk_pgconn *c, int ok)
{
	if (!ok) {
		mark_broken(c, NULL);
		return false;
	}
	return true;
}

bool pgconn_query(struct snk_pgconn *c, const char *sql, int nparams, const char *const *values,
		  const int *lengths, const int *formats, int result_format)
{
	if (!c->building || c->broken)
		return false;
	return check_send(c, PQsendQueryParams(c->conn, sql, nparams, NULL, values, lengths, formats,
					       result_format));
}

bool pgconn_query_prepared(struct snk_pgconn *c, const char *stmt, int nparams,
			   const char *const *values, const int *lengths, const int *formats,
			   int result_format)
{
	if (!c->building || c->broken)
		return false;
	return check_send(c, PQsendQueryPrepared(c->conn, stmt, nparams, values, lengths, formats,
						 result_format));
}

bool pgconn_prepare(struct snk_pgconn *c, const char *stmt, const char *sql, int nparams)
{
	if (!c->building || c->broken)
		return false;
	return check_send(c, PQsendPrepare(c->conn, stmt, sql, nparams, NULL));
}

bool pgconn_end(struct snk_pgconn *c)
{
	if (!c->building)
		return false;
	c->building = false;
	if (c->broken)
		return false;
	if (!check_send(c, PQpipelineSync(c->conn)))
		return false;
	flush(c);
	return !c->broken;
}

enum pgconn_state pgconn_state(const struct snk_pgconn *c)
{
	return c->state;
}

bool pgconn_ready(const struct snk_pgconn *c)
{
	return c->state == PGCONN_READY && !c->broken;
}

const char *pgconn_name(const struct snk_pgconn *c)
{
	return c->name;
}

int pgconn_backend_pid(const struct snk_pgconn *c)
{
	return c->backend_pid;
}

const char *pgconn_last_error(const struct snk_pgconn *c)
{
	return c->last_error;
}

const char *pgconn_server_encoding(const struct snk_pgconn *c)
{
	const char *enc = c->conn ? PQparameterStatus(c->conn, "server_encoding") : NULL;

	return enc ? enc : "";
}

const char *pgconn_target(const struct snk_pgconn *c)
{
	return c->target;
}

const struct pgconn_stats *pgconn_stats(const struct snk_pgconn *c)
{
	return &c->stats;
}

const char *pgconn_state_name(enum pgconn_state s)
{
	switch (s) {
	case PGCONN_IDLE:
		return "idle";
	case PGCONN_CONNECTING:
		return "connecting";
	case PGCONN_READY:
		return "ready";
	case PGCONN_BACKOFF:
		return "backoff";
	}
	return "?";
}
