/* sync.c - the daemon's state (sync.h): the tables, every database's sessions (side.c)
 * and every direction between them (dir.c, window.c), wired through hooks; the poll and
 * stop timers; what status, metrics and health read.
 *
 * Direction X -> Y reads X's read session and writes into Y's write sessions. Every table
 * and every direction out of X shares X's read session (one pass on it at a time), and
 * every direction into Y shares Y's write sessions: connections per database grow neither
 * with the tables nor with the databases.
 */
#include "snk/sync.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/clock.h"
#include "snk/exitcodes.h"
#include "snk/log.h"

#define STOP_GRACE_MS 30000

uint64_t sync_dir_echo_skipped(const struct snk_dir *d)
{
	const struct snk_app *app = d->app;
	uint64_t n = 0;

	for (int i = 0; i < app->ndir; i++) {
		if (app->dir[i].dst == d->src)
			n += app->dir[i].stats.rows_copied;
	}
	return n;
}

double sync_table_copy_progress(const struct snk_dir *d, int t)
{
	const struct first_copy *c = &d->tdirs[t].copy;
	double p;

	if (!c->active)
		return 1.0;
	if (c->pages == 0)
		return 0.0;
	p = (double)c->next_page / (double)c->pages;
	return p > 1.0 ? 1.0 : p;
}

double sync_table_copy_eta_s(const struct snk_dir *d, int t, int64_t now_ms)
{
	const struct first_copy *c = &d->tdirs[t].copy;
	double p = sync_table_copy_progress(d, t);

	if (!c->active || p <= 0.0 || c->started_ms == 0)
		return -1;
	return (double)(now_ms - c->started_ms) / 1000.0 * (1.0 - p) / p;
}

/* Not active: its lock sessions, up to the first database whose lock it lacks, are up. */
static bool standby_healthy(const struct snk_app *app, char *why, size_t len)
{
	int upto = lease_first_missing(app);

	for (int i = 0; i <= upto && i < app->ndb; i++) {
		const struct snk_side *s = &app->side[i];

		if (!s->writer_checked) {
			/* as an active says it; degraded_reason has the error */
			snprintf(why, len, "database %s is not connected", s->name);
			return false;
		}
	}
	lease_describe(app, why, len);
	return true;
}

bool sync_healthy(const struct snk_app *app, int64_t max_lag_ms, char *why, size_t len)
{
	int64_t now = clock_now_ms();

	if (app->lease.role != ROLE_ACTIVE)
		return standby_healthy(app, why, len);

	for (int i = 0; i < app->ndb; i++) {
		if (!app->side[i].read_ok || !app->side[i].write_ok) {
			snprintf(why, len, "database %s is not connected", app->side[i].name);
			return false;
		}
	}
	for (int i = 0; i < app->ndir; i++) {
		int64_t lag = dir_lag_ms(&app->dir[i], now);

		if (lag > max_lag_ms) {
			snprintf(why, len, "%s lag %lld ms is over %lld ms", app->dir[i].name, (long long)lag,
				 (long long)max_lag_ms);
			return false;
		}
	}
	snprintf(why, len, "ok");
	return true;
}

/* A session of s failed and has not come back: "database b (host:port/db) is down: ...". */
static bool side_down(const struct snk_side *s, bool up, const char *err, char *why, size_t len)
{
	const char *target;

	if (up || !err[0])
		return false;
	target = pgconn_target(s->write);
	/* The target is known once a session has connected; libpq's error names the host
	 * and port anyway. */
	if (target[0] == '(')
		snprintf(why, len, "database %s is down: %s", s->name, err);
	else
		snprintf(why, len, "database %s (%s) is down: %s", s->name, target, err);
	return true;
}

bool sync_degraded(const struct snk_app *app, char *why, size_t len)
{
	if (app->lease.role != ROLE_ACTIVE) {
		/* only its lock sessions are meant to be up, up to the first lock it lacks */
		int upto = lease_first_missing(app);

		for (int i = 0; i <= upto && i < app->ndb; i++) {
			const struct snk_side *s = &app->side[i];

			if (!s->writer_checked && side_down(s, false, pgconn_last_error(s->write), why, len))
				return true;
		}
		/* Holding a's locks while b's stay taken keeps every other snk out too: after the
		 * lease, whoever holds b's is not a snk that died or froze. */
		if (upto > 0 && upto < app->ndb && app->lease.waiting == upto && app->lease.waiting_since_ms &&
		    clock_now_ms() - app->lease.waiting_since_ms > app->cfg->lease_timeout_ms) {
			char who[320];

			lease_describe(app, who, sizeof(who));
			snprintf(why, len, "holding the writer locks of %s%s for %lld s while those of %s stay taken (%s)",
				 app->side[0].name, upto > 1 ? " and the next" : "", (long long)(clock_now_ms() - app->lease.waiting_since_ms) / 1000,
				 app->side[upto].name, who);
			return true;
		}
		return false;
	}
	for (int i = 0; i < app->ndb; i++) {
		const struct snk_side *s = &app->side[i];

		if (side_down(s, s->read_ok && s->write_ok, side_error(s), why, len))
			return true;
	}
	for (int i = 0; i < app->ndir; i++) {
		const struct snk_dir *d = &app->dir[i];

		if (d->state == DIR_FAILED || d->state == DIR_RETRY) {
			snprintf(why, len, "%s is %s: %s", d->role, dir_state_name(d->state),
				 d->last_error[0] ? d->last_error : "(no error recorded)");
			return true;
		}
	}
	return false;
}

/* ---- the sessions' hooks ---- */

static void on_session(void *arg, struct snk_side *s, bool writer, bool ready)
{
	struct snk_app *app = arg;

	/* the read session serves the directions from s; the writer those into s */
	for (int i = 0; i < app->ndir; i++) {
		struct snk_dir *d = &app->dir[i];

		if ((writer ? d->dst : d->src) != s)
			continue;
		if (ready && !writer) {
			for (int t = 0; t < d->ntables; t++) {
				d->tdirs[t].summarize_off = false;
				d->tdirs[t].restamp_off = false;
				d->tdirs[t].brin_next_block = 0; /* re-walked once: summarized ranges cost little */
			}
		}
		dir_session(d, ready);
	}
	if (ready && writer)
		lease_on_writer_ready(app, s);
	else if (writer)
		lease_on_writer_lost(app, s);
}

static void on_lockable(void *arg, struct snk_side *s)
{
	lease_on_lockable(arg, s);
}

static void on_refused(void *arg, struct snk_side *s)
{
	lease_on_refused(arg, s);
}

static void on_notify(void *arg, struct snk_side *s, int table)
{
	struct snk_app *app = arg;

	for (int i = 0; i < app->ndir; i++) {
		if (app->dir[i].src == s)
			dir_wake(&app->dir[i], table);
	}
}

static void on_fatal(void *arg, int code, const char *role, const char *message)
{
	struct snk_app *app = arg;

	log_error(role, "%s", message);
	if (app->exit_code == 0)
		app->exit_code = code;
	event_base_loopbreak(app->base);
}

/* ---- a reload that changes the tables ---- */

static bool tables_init(struct snk_app *app, const struct snk_config *cfg);

/* Nothing of any direction is in flight, and no reconcile runs. */
static bool quiet(const struct snk_app *app)
{
	for (int i = 0; i < app->ndir; i++) {
		const struct snk_dir *d = &app->dir[i];

		if (d->units > 0 || d->state == DIR_PASS || d->state == DIR_LOADING || d->state == DIR_FAILED)
			return false;
	}
	return !rc_busy(app->reconcile.rc) && !rc_running(app->reconcile.rc) && app->reconcile.table < 0;
}

/* The new tables go in once everything is quiet: every session reconnects with them, and
 * the directions load every cursor again (a table that stays keeps its figures). */
static void tables_apply(struct snk_app *app)
{
	struct snk_table *old = app->tables;
	int nold = app->ntables;
	bool ok;

	if (!app->tables_pending || !quiet(app))
		return;
	app->tables = NULL;
	app->ntables = 0;
	ok = tables_init(app, app->cfg);
	for (int i = 0; ok && i < app->ndb; i++)
		ok = side_set_tables(&app->side[i], app->tables, app->ntables);
	for (int i = 0; ok && i < app->ndir; i++)
		ok = dir_set_tables(&app->dir[i], app->tables, app->ntables);
	if (!ok) {
		/* half switched: the sessions cannot be trusted to agree; start again cleanly */
		on_fatal(app, SNK_EXIT_OSERR, NULL, "out of memory switching to the reloaded tables; restart snk");
		return;
	}
	sync_reconcile_set_tables(app);
	for (int i = 0; i < nold; i++)
		db_table_clear(&old[i]);
	free(old);
	app->tables_pending = false;
	log_info(NULL, "SIGHUP: now syncing %d tables; every session reconnects and every cursor is read again",
		 app->ntables);
}

void sync_app_set_tables(struct snk_app *app)
{
	app->tables_pending = true;
	if (rc_running(app->reconcile.rc))
		rc_abort(app->reconcile.rc, "the tables changed");
	log_info(NULL, "SIGHUP: the tables changed; switching once the passes in flight have committed");
	tables_apply(app);
}

/* ---- timers ---- */

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_app *app = arg;

	tables_apply(app);
	app->poll_ticks++;
	for (int i = 0; i < app->ndir; i++)
		dir_wake_poll(&app->dir[i], app->poll_ticks);
	sync_reconcile_tick(app);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_app *app = arg;
	bool quiet = !rc_busy(app->reconcile.rc);

	for (int i = 0; i < app->ndir; i++) {
		struct snk_dir *d = &app->dir[i];

		if (d->units > 0 || d->state == DIR_PASS || d->state == DIR_LOADING)
			quiet = false;
	}
	if (quiet) {
		log_info(NULL, "in-flight work finished; stopping");
		event_base_loopbreak(app->base);
	} else if (clock_now_ms() > app->stop_deadline_ms) {
		log_warn(NULL, "in-flight work did not finish within %d s; stopping anyway (nothing is lost:"
			 " uncommitted windows are read again at the next start)", STOP_GRACE_MS / 1000);
		event_base_loopbreak(app->base);
	}
}

/* ---- lifecycle ---- */

static bool tables_init(struct snk_app *app, const struct snk_config *cfg)
{
	app->tables = calloc((size_t)cfg->ntables, sizeof(*app->tables));
	if (!app->tables)
		return false;
	for (int i = 0; i < cfg->ntables; i++) {
		if (cfg->tables[i].wildcard) {
			log_error(NULL, "BUG: the table list %s.* was not resolved", cfg->tables[i].schema);
			return false;
		}
		if (!db_table_init_spec(&app->tables[i], cfg, &cfg->tables[i], i))
			return false;
		app->ntables++;
	}
	return true;
}

bool sync_app_init(struct snk_app *app, struct event_base *base, const struct snk_config *cfg)
{
	const struct side_hooks hooks = { .arg = app, .on_session = on_session, .on_notify = on_notify,
					  .on_lockable = on_lockable, .on_refused = on_refused, .on_fatal = on_fatal };

	memset(app, 0, sizeof(*app));
	app->base = base;
	app->cfg = cfg;
	app->started_ms = clock_now_ms();
	app->reload.successful = true;
	app->reload.at_ms = app->reload.success_at_ms = app->started_ms;
	if (getenv("SNK_TEST_CRASH_AFTER_COMMITS"))
		app->crash_after_commits = strtol(getenv("SNK_TEST_CRASH_AFTER_COMMITS"), NULL, 10);
	if (!tables_init(app, cfg))
		return false;
	app->ndb = cfg->ndb;
	app->ndir = cfg->ndb * (cfg->ndb - 1);
	for (int i = 0; i < app->ndb; i++) {
		if (!side_init(&app->side[i], base, i, cfg, app->tables, app->ntables, &hooks))
			return false;
	}
	for (int src = 0; src < app->ndb; src++) {
		for (int dst = 0; dst < app->ndb; dst++) {
			if (dst != src && !dir_init(&app->dir[sync_dir_index(app->ndb, src, dst)], app, src, dst))
				return false;
		}
	}
	app->poll_timer = event_new(base, -1, EV_PERSIST, poll_cb, app);
	app->stop_timer = event_new(base, -1, EV_PERSIST, stop_cb, app);
	return app->poll_timer && app->stop_timer && lease_init(app) && sync_reconcile_init(app);
}

void sync_app_set_config(struct snk_app *app, const struct snk_config *cfg)
{
	app->cfg = cfg;
	for (int i = 0; i < app->ndb; i++)
		app->side[i].cfg = cfg;
}

void sync_app_start(struct snk_app *app)
{
	struct timeval tv = { app->cfg->poll_interval_ms / 1000, (app->cfg->poll_interval_ms % 1000) * 1000 };

	lease_start(app);
	event_add(app->poll_timer, &tv);
}

void sync_app_stop(struct snk_app *app)
{
	struct timeval tv = { 0, 20000 };

	if (app->stopping)
		return;
	app->stopping = true;
	app->stop_deadline_ms = clock_now_ms() + STOP_GRACE_MS;
	rc_abort(app->reconcile.rc, "snk is stopping");
	for (int i = 0; i < app->ndir; i++)
		window_progress(&app->dir[i]);
	event_add(app->stop_timer, &tv);
}

void sync_pause(struct snk_app *app)
{
	app->paused = true;
}

void sync_resume(struct snk_app *app)
{
	app->paused = false;
	for (int i = 0; i < app->ndir; i++)
		dir_wake(&app->dir[i], -1);
}

void sync_app_free(struct snk_app *app)
{
	for (int i = 0; i < app->ndir; i++)
		dir_free(&app->dir[i]);
	sync_reconcile_free(app);
	lease_free(app);
	for (int i = 0; i < app->ndb; i++)
		side_free(&app->side[i]);
	if (app->poll_timer)
		event_free(app->poll_timer);
	if (app->stop_timer)
		event_free(app->stop_timer);
	for (int i = 0; app->tables && i < app->ntables; i++)
		db_table_clear(&app->tables[i]);
	free(app->tables);
	memset(app, 0, sizeof(*app));
}
