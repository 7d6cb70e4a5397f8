/* ctl.c - the unix control socket and the status report.
 *
 * Protocol: one request per line, either a JSON object {"command": "status"} or the bare
 * command word; one reply per line, always a JSON object with "ok" true or false. A
 * request longer than CTL_MAX_REQUEST bytes is refused and the client disconnected.
 * Output is buffered by libevent; a client that stops reading is dropped once its
 * unread output passes a bound, so no client can stall the loop or grow memory. The
 * socket is a listener.c listener: at most CTL_MAX_CLIENTS clients, the rest refused,
 * and a failed accept (no descriptor left) pauses it instead of spinning the loop.
 */
#include "snk/ctl.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "snk/clock.h"
#include "snk/listener.h"
#include "snk/log.h"
#include "snk/metrics.h"
#include "snk/sync.h"

#define CTL_MAX_OUTPUT (1024 * 1024)
#define CTL_MAX_CLIENTS 64

struct snk_ctl {
	struct snk_app *app;            /* borrowed */
	struct snk_listener *listener;  /* owned: the cap on clients, the accept back-off */
	char *path;                     /* owned */
};

struct ctl_client {
	struct snk_ctl *ctl;            /* borrowed */
	struct bufferevent *bev;        /* owned */
	size_t discarded;               /* bytes dropped after a refused request */
	bool discarding;                /* refused: drain input until EOF, then close */
};

#define CTL_MAX_DISCARD (1024 * 1024)

typedef cJSON *(*ctl_handler)(struct snk_app *app);

static cJSON *reply_ok(void)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "ok", 1);
	return o;
}

static cJSON *cmd_status(struct snk_app *app);

static cJSON *cmd_ping(struct snk_app *app)
{
	cJSON *o = reply_ok();

	cJSON_AddStringToObject(o, "pong", "snk " SNK_VERSION);
	return o;
}

static cJSON *cmd_pause(struct snk_app *app)
{
	sync_pause(app);
	log_info(NULL, "paused by snkctl: no new windows until resume");
	return reply_ok();
}

static cJSON *cmd_resume(struct snk_app *app)
{
	bool was = app->paused;

	sync_resume(app);
	if (was)
		log_info(NULL, "resumed by snkctl");
	return reply_ok();
}

static cJSON *cmd_reconcile(struct snk_app *app)
{
	cJSON *o = cJSON_CreateObject();
	char msg[256];
	bool ok = sync_reconcile_request(app, "requested by snkctl", msg, sizeof(msg));

	cJSON_AddBoolToObject(o, "ok", ok);
	cJSON_AddStringToObject(o, ok ? "message" : "error", msg);
	if (ok)
		log_info(NULL, "snkctl reconcile: %s", msg);
	return o;
}

/* A wall-clock time in ms as UTC ISO 8601 with milliseconds, or null for 0. */
static void add_stamp(cJSON *o, const char *name, int64_t ms)
{
	char stamp[40];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0) {
		cJSON_AddNullToObject(o, name);
		return;
	}
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp), ".%03dZ", (int)(ms % 1000));
	cJSON_AddStringToObject(o, name, stamp);
}

/* rows_repaired_into_<database>, for each database, from per_db[]. */
static void add_repaired(cJSON *r, const struct snk_app *app, const uint64_t *per_db)
{
	char key[SNK_DB_NAME_MAX + 24];

	for (int i = 0; i < app->ndb; i++) {
		snprintf(key, sizeof(key), "rows_repaired_into_%s", app->side[i].name);
		cJSON_AddNumberToObject(r, key, (double)per_db[i]);
	}
}

static void add_run(cJSON *r, const struct snk_app *app, const struct rc_stats *st, int64_t now)
{

	double secs = rc_seconds(st, now), eta = rc_eta_s(st, now);

	add_stamp(r, "started_at", st->started_ms);
	add_stamp(r, "finished_at", st->finished_ms);
	cJSON_AddNumberToObject(r, "seconds", secs);
	cJSON_AddNumberToObject(r, "keyspace_done_pct", st->keyspace_done * 100);
	cJSON_AddNumberToObject(r, "ranges_done", (double)st->ranges_done);
	cJSON_AddNumberToObject(r, "ranges_pending", (double)st->ranges_pending);
	add_repaired(r, app, st->repaired_db);
	cJSON_AddNumberToObject(r, "conflicts", (double)st->conflicts);
	cJSON_AddNumberToObject(r, "rows_left_to_tail", (double)st->left_to_tail);
	cJSON_AddNumberToObject(r, "queries", (double)st->queries);
	cJSON_AddNumberToObject(r, "bytes_received", (double)st->bytes_received);
	cJSON_AddNumberToObject(r, "ranges_per_s", secs > 0 ? (double)st->ranges_done / secs : 0);
	if (eta >= 0)
		cJSON_AddNumberToObject(r, "eta_s", eta);
	else
		cJSON_AddNullToObject(r, "eta_s");
	if (st->finished_ms)
		cJSON_AddStringToObject(r, "result", st->ok ? "complete" : st->error);
}

static void add_reconcile(cJSON *o, struct snk_app *app, int64_t now)
{
	cJSON *r = cJSON_AddObjectToObject(o, "reconcile");

	cJSON_AddStringToObject(r, "state", sync_reconcile_state(app));
	const struct snk_rc_schedule *sc = &app->reconcile;
	const struct rc_stats *running = sync_reconcile_running(app);

	if (sc->wanted || running)
		cJSON_AddStringToObject(r, "reason", sc->reason);
	else
		cJSON_AddNullToObject(r, "reason");
	for (int i = 0; i < app->ndir; i++) {
		char key[sizeof(app->dir[i].name) + 8];

		snprintf(key, sizeof(key), "owed_%s", app->dir[i].name);
		cJSON_AddBoolToObject(r, key, sync_reconcile_owed_in(&app->dir[i]));
	}
	cJSON_AddNumberToObject(r, "runs", (double)sc->runs);
	/* Since start, over every run: where nothing changes the tables behind snk's back, both
	 * stay 0 (the tail alone delivers every row). */
	add_repaired(r, app, sc->repaired_total);
	cJSON_AddNumberToObject(r, "interval_s", app->cfg->reconcile_interval_s);
	add_stamp(r, "next_at", sc->next_ms);
	if (running)
		add_run(cJSON_AddObjectToObject(r, "current"), app, running, now);
	else
		cJSON_AddNullToObject(r, "current");
	if (sc->runs)
		add_run(cJSON_AddObjectToObject(r, "last"), app, &sc->last, now);
	else
		cJSON_AddNullToObject(r, "last");
}

static const struct {
	const char *name;
	ctl_handler handler;
} commands[] = {
	{ "status", cmd_status },
	{ "ping", cmd_ping },
	{ "pause", cmd_pause },
	{ "resume", cmd_resume },
	{ "reconcile", cmd_reconcile },
};

static const char UNKNOWN_COMMAND[] = "unknown command; known: status, ping, pause, resume, reconcile";

static char *error_reply(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *out;

	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", msg);
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

static void add_u64(cJSON *o, const char *name, uint64_t v)
{
	cJSON_AddNumberToObject(o, name, (double)v);
}

/* A listener's clients and what it turned away; null when it is off. */
/* The role among several snk (lease.c) and, on a standby, who the active is. */
static void add_lease(cJSON *o, const struct snk_app *app)
{
	const struct snk_lease *l = &app->lease;
	cJSON *j = cJSON_AddObjectToObject(o, "lease"), *held;

	cJSON_AddStringToObject(o, "role", lease_role_name(l->role));
	if (!j)
		return;
	cJSON_AddNumberToObject(j, "timeout_ms", app->cfg->lease_timeout_ms);
	held = cJSON_AddArrayToObject(j, "held");
	for (int i = 0; held && i < app->ndb; i++) {
		if (app->side[i].lock == SIDE_LOCK_HELD)
			cJSON_AddItemToArray(held, cJSON_CreateString(app->side[i].name));
	}
	if (l->role != ROLE_ACTIVE && lease_first_missing(app) < app->ndb)
		cJSON_AddStringToObject(j, "waiting_for", app->side[lease_first_missing(app)].name);
	else
		cJSON_AddNullToObject(j, "waiting_for");
	add_stamp(j, "since", l->since_ms);
	add_u64(j, "takeovers", l->takeovers);
	add_u64(j, "step_downs", l->step_downs);
	if (l->role == ROLE_STANDBY && l->active_side >= 0 && l->active.held) {
		cJSON *a = cJSON_AddObjectToObject(o, "active");

		if (!a)
			return;
		cJSON_AddStringToObject(a, "database", app->side[l->active_side].name);
		cJSON_AddNumberToObject(a, "backend_pid", l->active.pid);
		cJSON_AddStringToObject(a, "user", l->active.user);
		cJSON_AddStringToObject(a, "application_name", l->active.application);
		cJSON_AddStringToObject(a, "client", l->active.client);
		cJSON_AddStringToObject(a, "backend_start", l->active.since);
	} else {
		cJSON_AddNullToObject(o, "active");
	}
}

static void add_listener(cJSON *o, const char *name, const struct snk_listener *l)
{
	struct listener_stats st;
	cJSON *j;

	if (!l) {
		cJSON_AddNullToObject(o, name);
		return;
	}
	listener_get_stats(l, &st);
	j = cJSON_AddObjectToObject(o, name);
	cJSON_AddNumberToObject(j, "connections", st.clients);
	cJSON_AddNumberToObject(j, "max_connections", st.max_clients);
	add_u64(j, "connections_rejected", st.refused);
	add_u64(j, "accept_failures", st.accept_failures);
}

/* The last SIGHUP's outcome; at start, the initial load (successful, at the start time). */
static void add_config_reload(cJSON *o, const struct snk_app *app)
{
	cJSON *r = cJSON_AddObjectToObject(o, "config_reload");

	cJSON_AddBoolToObject(r, "successful", app->reload.successful);
	add_stamp(r, "at", app->reload.at_ms);
	add_stamp(r, "last_success_at", app->reload.success_at_ms);
	if (app->reload.error[0])
		cJSON_AddStringToObject(r, "error", app->reload.error);
	else
		cJSON_AddNullToObject(r, "error");
}

/* One table in one direction: what it copied, its lag, its first copy. */
static void add_table_dir(cJSON *o, const struct snk_dir *d, int t, int64_t now)
{
	const struct snk_tdir *td = &d->tdirs[t];
	cJSON *j = cJSON_AddObjectToObject(o, d->name);
	cJSON *c;

	if (!j)
		return;
	add_u64(j, "rows_read", td->stats.rows_read);
	add_u64(j, "rows_copied", td->stats.rows_copied);
	add_u64(j, "conflicts", td->stats.conflicts);
	cJSON_AddNumberToObject(j, "lag_ms", (double)dir_table_lag_ms(d, t, now));
	if (td->committed.text)
		cJSON_AddStringToObject(j, "cursor", td->committed.text);
	else
		cJSON_AddNullToObject(j, "cursor");
	if (!td->copy.active) {
		cJSON_AddNullToObject(j, "initial_copy");
		return;
	}
	c = cJSON_AddObjectToObject(j, "initial_copy");
	if (!c)
		return;
	double progress = sync_table_copy_progress(d, t);

	add_u64(c, "rows_copied", td->copy.rows);
	add_u64(c, "rows_estimate", progress > 0 ? (uint64_t)((double)td->copy.rows / progress) : 0);
	cJSON_AddNumberToObject(c, "progress", progress);
	cJSON_AddNumberToObject(c, "eta_s", sync_table_copy_eta_s(d, t, now));
	add_u64(c, "pages_read", td->copy.next_page < td->copy.pages ? td->copy.next_page : td->copy.pages);
	add_u64(c, "pages", td->copy.pages);
}

static void add_tables(cJSON *o, struct snk_app *app, int64_t now)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "tables");

	for (int t = 0; arr && t < app->ntables; t++) {
		cJSON *e = cJSON_CreateObject();

		if (!e)
			return;
		cJSON_AddStringToObject(e, "table", app->tables[t].label);
		for (int i = 0; i < app->ndir; i++)
			add_table_dir(e, &app->dir[i], t, now);
		cJSON_AddItemToArray(arr, e);
	}
}

static cJSON *cmd_status(struct snk_app *app)
{
	cJSON *o = reply_ok();
	cJSON *dbs = cJSON_AddObjectToObject(o, "databases");
	int64_t now = clock_now_ms();
	bool degraded = false;

	cJSON_AddStringToObject(o, "version", SNK_VERSION);
	cJSON_AddNumberToObject(o, "pid", (double)getpid());
	cJSON_AddNumberToObject(o, "uptime_s", (double)((now - app->started_ms) / 1000));
	cJSON_AddStringToObject(o, "table", app->tables[0].label);
	cJSON_AddNumberToObject(o, "table_count", app->ntables);
	cJSON_AddStringToObject(o, "wake", app->tables[0].channel ? "notify+timer" : "timer");
	cJSON_AddNumberToObject(o, "poll_interval_ms", app->cfg->poll_interval_ms);
	cJSON_AddNumberToObject(o, "batch_rows", app->cfg->batch_rows);
	cJSON_AddStringToObject(o, "log_level", app->cfg->log_level_name);
	/* the names of the direction objects below, in order: tools need not guess them */
	{
		cJSON *names = cJSON_AddArrayToObject(o, "directions");

		for (int i = 0; names && i < app->ndir; i++)
			cJSON_AddItemToArray(names, cJSON_CreateString(app->dir[i].name));
	}
	for (int i = 0; i < app->ndb; i++) {
		const struct snk_side *s = &app->side[i];
		cJSON *db = cJSON_AddObjectToObject(dbs, s->name);
		const char *err = side_error(s);
		uint64_t reconnects = side_reconnects(s);
		cJSON *per_lane;

		cJSON_AddBoolToObject(db, "connected", s->read_ok && s->write_ok);
		cJSON_AddStringToObject(db, "target", pgconn_target(s->read));
		cJSON_AddStringToObject(db, "read_state", pgconn_state_name(pgconn_state(s->read)));
		cJSON_AddStringToObject(db, "write_state", pgconn_state_name(pgconn_state(s->write)));
		cJSON_AddNumberToObject(db, "write_sessions", s->nlanes);
		cJSON_AddNumberToObject(db, "write_sessions_ready", side_lanes_ready(s));
		per_lane = cJSON_AddArrayToObject(db, "batches_by_write_session");
		for (int j = 0; per_lane && j < s->nlanes; j++)
			cJSON_AddItemToArray(per_lane, cJSON_CreateNumber((double)s->lane[j].batches));
		if (err[0])
			cJSON_AddStringToObject(db, "last_error", err);
		else
			cJSON_AddNullToObject(db, "last_error");
		add_u64(db, "reconnects", reconnects);
		/* As the server reports it for the session that commits rows and cursors. */
		cJSON_AddStringToObject(db, "synchronous_commit", s->sync_commit[0] ? s->sync_commit : "unknown");
		cJSON_AddStringToObject(db, "search_path", s->lane[0].check.session_ok ? s->lane[0].check.session.search_path :
					"unknown");
		/* null until the read session has checked, and when timer only */
		if (s->notify_trigger < 0)
			cJSON_AddNullToObject(db, "notify_trigger");
		else
			cJSON_AddBoolToObject(db, "notify_trigger", s->notify_trigger == 1);
		add_u64(db, "notifies", s->notifies);
		add_u64(db, "own_notifies_ignored", s->own_notifies);
		if (!(s->read_ok && s->write_ok))
			degraded = true;
	}
	for (int i = 0; i < app->ndir; i++) {
		const struct snk_dir *d = &app->dir[i];
		cJSON *j = cJSON_AddObjectToObject(o, d->name);

		cJSON_AddStringToObject(j, "source", d->src->name);
		cJSON_AddStringToObject(j, "destination", d->dst->name);
		cJSON_AddStringToObject(j, "state", dir_state_name(d->state));
		add_u64(j, "rows_read", d->stats.rows_read);
		add_u64(j, "rows_copied", d->stats.rows_copied);
		cJSON_AddNumberToObject(j, "rows_per_s", rate_per_s(&d->stats.copied_rate, now / 1000));
		cJSON_AddNumberToObject(j, "lag_ms", (double)dir_lag_ms(d, now));
		add_u64(j, "pending_rows", dir_pending_rows(d));
		add_u64(j, "rows_already_present", d->stats.rows_present);
		add_u64(j, "insert_retries", d->stats.insert_retries);
		add_u64(j, "conflicts", d->stats.conflicts);
		add_u64(j, "rows_ahead_of_xid_counter", d->stats.rows_ahead);
		add_u64(j, "echo_rows_skipped", sync_dir_echo_skipped(d));
		add_u64(j, "batches", d->stats.batches);
		add_u64(j, "batches_in_flight", (uint64_t)d->w.inflight);
		add_u64(j, "batches_beside_commit", d->stats.batches_beside);
		add_u64(j, "cursors_deferred", d->stats.cursors_deferred);
		add_u64(j, "fk_retries", d->stats.fk_retries);
		add_u64(j, "passes", d->stats.passes);
		add_u64(j, "errors", d->stats.errors);
		cJSON_AddNumberToObject(j, "window_age_ms",
					d->stats.pass_started_ms ? (double)(now - d->stats.pass_started_ms) : 0);
		cJSON_AddNumberToObject(j, "last_window_ms", (double)(d->stats.last_pass_us / 1000));
		add_stamp(j, "last_commit_at", d->stats.last_copy_ms);
		/* What the first table's xid index is on the source, and how far snk has
		 * summarized it when BRIN; its cursor (every table's is under "tables"). */
		bool brin = d->src->read_check.info && d->src->read_check.info[0].brin_index[0] != '\0';
		bool failed = false;

		for (int t = 0; t < d->ntables; t++)
			failed |= d->tdirs[t].summarize_off;
		cJSON_AddStringToObject(j, "source_xid_index", brin ? "brin" : "btree");
		if (brin)
			add_u64(j, "brin_summarized_to_block", d->tdirs[0].brin_next_block);
		else
			cJSON_AddNullToObject(j, "brin_summarized_to_block");
		cJSON_AddBoolToObject(j, "brin_summarize_failed", failed);
		add_u64(j, "tables_in_first_copy", (uint64_t)dir_copying(d));
		if (d->tdirs[0].committed.text)
			cJSON_AddStringToObject(j, "cursor", d->tdirs[0].committed.text);
		else
			cJSON_AddNullToObject(j, "cursor");
		if (d->last_error[0])
			cJSON_AddStringToObject(j, "last_error", d->last_error);
		else
			cJSON_AddNullToObject(j, "last_error");
		if (d->state == DIR_FAILED || d->state == DIR_RETRY || d->state == DIR_WAIT)
			degraded = true;
	}
	add_tables(o, app, now);
	add_reconcile(o, app, now);
	add_config_reload(o, app);
	add_listener(o, "metrics", metrics_listener(app->metrics));
	add_listener(o, "control_socket", app->ctl ? app->ctl->listener : NULL);
	add_lease(o, app);
	/* a standby's sessions are closed on purpose: it is not degraded */
	if (app->lease.role == ROLE_STANDBY && !app->stopping)
		cJSON_AddStringToObject(o, "state", "standby");
	else
		cJSON_AddStringToObject(o, "state", app->stopping ? "stopping" : app->paused ? "paused" :
						    degraded ? "degraded" : "running");
	{
		char why[700];

		/* Why, when a database is down or a direction failing (the summary says the same). */
		if (sync_degraded(app, why, sizeof(why)))
			cJSON_AddStringToObject(o, "degraded_reason", why);
		else
			cJSON_AddNullToObject(o, "degraded_reason");
	}
	return o;
}

char *ctl_status_json(struct snk_app *app)
{
	cJSON *o = cmd_status(app);
	char *out = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	return out;
}

char *ctl_handle_line(struct snk_app *app, const char *line, size_t len)
{
	char word[64];
	const char *name = NULL;
	cJSON *req = NULL;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	if (len == 0)
		return error_reply("empty request; send {\"command\":\"status\"} or a command word");
	if (memchr(line, '\0', len))
		return error_reply("request contains a NUL byte");
	if (line[0] == '{') {
		const cJSON *cmd;

		req = cJSON_ParseWithLength(line, len);
		if (!req || !cJSON_IsObject(req))
			goto bad_json;
		cmd = cJSON_GetObjectItemCaseSensitive(req, "command");
		if (!cJSON_IsString(cmd))
			goto bad_json;
		name = cmd->valuestring;
	} else {
		if (len >= sizeof(word))
			return error_reply(UNKNOWN_COMMAND);
		memcpy(word, line, len);
		word[len] = '\0';
		name = word;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i].name) == 0) {
			cJSON *o = commands[i].handler(app);
			char *out = cJSON_PrintUnformatted(o);

			cJSON_Delete(o);
			cJSON_Delete(req);
			return out;
		}
	}
	cJSON_Delete(req);
	return error_reply(UNKNOWN_COMMAND);
bad_json:
	cJSON_Delete(req);
	return error_reply("malformed request; send {\"command\":\"<name>\"} followed by a newline");
}

static void client_free(struct ctl_client *cl)
{
	listener_client_closed(cl->ctl->listener);
	bufferevent_free(cl->bev);
	free(cl);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;

	/* A client that asked to be closed is closed once its reply is out. */
	if (bufferevent_get_enabled(bev) == EV_WRITE)
		client_free(cl);
}

static void client_send(struct ctl_client *cl, char *reply)
{
	struct evbuffer *out = bufferevent_get_output(cl->bev);

	if (reply) {
		evbuffer_add(out, reply, strlen(reply));
		evbuffer_add(out, "\n", 1);
		free(reply);
	}
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (cl->discarding) {
		/* Closing while the client still sends would reset the connection before it
		 * reads our error; drain a bounded amount first. */
		cl->discarded += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (cl->discarded > CTL_MAX_DISCARD)
			client_free(cl);
		return;
	}
	for (;;) {
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);

		if (!line)
			break;
		if (len > CTL_MAX_REQUEST) {
			free(line);
			goto too_long;
		}
		client_send(cl, ctl_handle_line(cl->ctl->app, line, len));
		free(line);
	}
	if (evbuffer_get_length(in) > CTL_MAX_REQUEST)
		goto too_long;
	if (evbuffer_get_length(bufferevent_get_output(bev)) > CTL_MAX_OUTPUT) {
		log_warn("ctl", "client does not read its replies; disconnecting it");
		client_free(cl);
	}
	return;
too_long:
	client_send(cl, error_reply("request too long; the limit is 4096 bytes"));
	evbuffer_drain(in, evbuffer_get_length(in));
	cl->discarding = true;
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);

	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		client_free(cl);
		return;
	}
	if (!(what & BEV_EVENT_EOF))
		return;
	/* A last request without its newline still gets its answer. */
	if (len > 0 && len <= CTL_MAX_REQUEST && !cl->discarding) {
		char *line = malloc(len + 1);

		if (line) {
			evbuffer_remove(in, line, len);
			line[len] = '\0';
			client_send(cl, ctl_handle_line(cl->ctl->app, line, len));
			free(line);
		}
	}
	/* The peer is done sending; close once every reply is out (client_write_cb). */
	bufferevent_disable(bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_free(cl);
}

/* Clients over CTL_MAX_CLIENTS are refused by the listener, and counted there. */
static void on_client(evutil_socket_t fd, void *arg)
{
	struct snk_ctl *ctl = arg;
	struct ctl_client *cl = calloc(1, sizeof(*cl));
	struct timeval idle = { 60, 0 };

	if (!cl || !(cl->bev = bufferevent_socket_new(ctl->app->base, fd, BEV_OPT_CLOSE_ON_FREE))) {
		close(fd);
		free(cl);
		listener_client_closed(ctl->listener);
		return;
	}
	cl->ctl = ctl;
	bufferevent_setcb(cl->bev, client_read_cb, client_write_cb, client_event_cb, cl);
	bufferevent_set_timeouts(cl->bev, &idle, &idle);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
}

/* A socket file that nobody answers on is stale (a crashed snk) and may be replaced. */
static bool socket_in_use(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	bool used;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	used = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return used;
}

struct snk_ctl *ctl_listen(struct snk_app *app, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct snk_ctl *ctl;
	struct stat st;
	mode_t old;
	char why[256];

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control_socket %s: path too long", path);
		return NULL;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control_socket %s: exists and is not a socket; remove it or choose another path",
				 path);
			return NULL;
		}
		if (socket_in_use(path)) {
			snprintf(err, errlen, "control_socket %s: another snk is answering on it; stop it or choose another path",
				 path);
			return NULL;
		}
		unlink(path);
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl || !(ctl->path = strdup(path))) {
		free(ctl);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ctl->app = app;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	old = umask(0117); /* srw-rw----: owner and group only, from the first instant */
	ctl->listener = listener_new(app->base, "ctl", (struct sockaddr *)&sa, (int)sizeof(sa),
				     CTL_MAX_CLIENTS, on_client, ctl, why, sizeof(why));
	umask(old);
	if (!ctl->listener) {
		snprintf(err, errlen, "control_socket %s: cannot listen: %s", path, why);
		free(ctl->path);
		free(ctl);
		return NULL;
	}
	return ctl;
}

void ctl_free(struct snk_ctl *ctl)
{
	if (!ctl)
		return;
	listener_free(ctl->listener);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
