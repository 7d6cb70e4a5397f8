/* sync_reconcile.c - when the daemon reconciles, and what it tells the operator.
 *
 * A run is wanted when a table owes one (a first start, a database replaced or restored,
 * a run that never finished: the debt is stored with its cursor), when `snkctl reconcile`
 * asks, and every reconcile_interval_s. It starts once both directions have caught up
 * since start (so that it does not redo a first copy) and the tail is not paused. It
 * compares the tables one after another on the engine's own two sessions (reconcile.c),
 * yielding to the tail. When a table's comparison finishes with no new debt incurred
 * since the run began, that table's debts are cleared in its cursors; a run that fails is
 * retried after RETRY_MS.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/clock.h"
#include "snk/log.h"
#include "snk/reconcile.h"
#include "snk/sync.h"

#define RETRY_MS 30000
#define PROGRESS_EVERY_MS 5000
#define CONFLICTS_LOGGED 20

static void want(struct snk_app *app, const char *reason)
{
	struct snk_rc_schedule *r = &app->reconcile;

	if (!r->wanted)
		snprintf(r->reason, sizeof(r->reason), "%s", reason);
	r->wanted = true;
}

void dir_owes_reconcile(struct snk_dir *d, int t, const char *reason)
{
	bool fresh = false;

	for (int i = 0; i < d->ntables; i++) {
		if (t >= 0 && i != t)
			continue;
		fresh |= !d->tdirs[i].reconcile_pending;
		d->tdirs[i].reconcile_pending = true;
	}
	if (fresh)
		d->app->reconcile.epoch++;
	want(d->app, reason);
}

bool sync_reconcile_owed_in(const struct snk_dir *d)
{
	for (int t = 0; t < d->ntables; t++) {
		if (d->tdirs[t].reconcile_pending)
			return true;
	}
	return false;
}

/* ---- the engine's hooks ---- */

static bool hook_passed(void *arg, int src, uint64_t xid)
{
	struct snk_app *app = arg;
	const struct snk_dir *d = &app->dir[sync_dir_index(app->ndb, src, 1 - src)];

	return xid == 0 || snapshot_sees(&d->tdirs[app->reconcile.table].committed, xid);
}

static bool hook_busy(void *arg)
{
	struct snk_app *app = arg;

	for (int i = 0; i < app->ndir; i++) {
		if (app->dir[i].state == DIR_PASS)
			return true;
	}
	return false;
}

static void hook_conflict(void *arg, const char *key, int refused_by)
{
	struct snk_app *app = arg;
	const struct snk_table *t = &app->tables[app->reconcile.table];
	char label[512];
	uint64_t seen = app->reconcile.conflicts_logged++;

	if (seen == CONFLICTS_LOGGED)
		log_warn("reconcile", "more conflicts in this run; only their count is reported from now on");
	if (seen >= CONFLICTS_LOGGED)
		return;
	db_key_label(t, key, label, sizeof(label));
	if (refused_by >= 0)
		log_warn("reconcile", "conflict: %s%s%s is refused by %s: " SNK_REFUSED_WHY "; left alone",
			 app->ntables > 1 ? t->label : "", app->ntables > 1 ? " " : "", label, app->side[refused_by].name);
	else
		log_warn("reconcile", "conflict: %s%s%s has different data in a and b; left alone",
			 app->ntables > 1 ? t->label : "", app->ntables > 1 ? " " : "", label);
}

/* ---- debts ---- */

struct settle {
	struct snk_dir *d;
	int t;
	uint64_t epoch;
};

static void reconciled_done_cb(void *arg, const struct pgconn_error *err)
{
	struct settle *st = arg;
	struct snk_dir *d = st->d;

	d->units--;
	if (err)
		log_warn(d->role, "could not record the finished reconcile of %s (%s); the next start reconciles again",
			 d->tdirs[st->t].t->label, err->message);
	else if (d->app->reconcile.epoch == st->epoch)
		d->tdirs[st->t].reconcile_pending = false;
	free(st);
}

/* Table t has been compared in full since the run began with no debt incurred since:
 * its debts are cleared in its cursors. */
static void settle_debts(struct snk_app *app, int t)
{
	for (int i = 0; i < app->ndir; i++) {
		struct snk_dir *d = &app->dir[i];
		struct snk_pgconn *c = d->dst->write;
		struct settle *st;

		if (!d->tdirs[t].reconcile_pending || !d->dst->write_ok || d->dst->lock_epoch != d->dst_epoch ||
		    !(st = malloc(sizeof(*st))))
			continue; /* stays owed: the next start reconciles again */
		*st = (struct settle){ .d = d, .t = t, .epoch = app->reconcile.run_epoch };
		if (!pgconn_begin(c, NULL, reconciled_done_cb, st)) {
			free(st);
			continue;
		}
		d->units++;
		db_send_reconciled(c, d->tdirs[t].source_key);
		pgconn_end(c);
	}
}

/* ---- a run over every table ---- */

static void add_stats(struct rc_stats *sum, const struct rc_stats *st)
{
	sum->ranges_done += st->ranges_done;
	sum->queries += st->queries;
	sum->bytes_received += st->bytes_received;
	sum->bytes_sent += st->bytes_sent;
	for (int i = 0; i < 2; i++) {
		sum->rows[i] += st->rows[i];
		sum->missing[i] += st->missing[i];
		sum->repaired[i] += st->repaired[i];
	}
	sum->conflicts += st->conflicts;
	sum->left_to_tail += st->left_to_tail;
}

/* After a run, from the loop: the engine's sessions close until the next run, so that
 * snk holds 1 + write_connections sessions per database between runs. */
static void close_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_app *app = arg;

	if (app->reconcile.table < 0 && rc_close(app->reconcile.rc))
		log_debug("reconcile", "sessions closed until the next run");
}

static void run_ended(struct snk_app *app, bool ok, const char *error)
{
	const struct timeval soon = { 0, 0 };

	(void)event_base_once(app->base, -1, EV_TIMEOUT, close_cb, app, &soon);
	struct snk_rc_schedule *r = &app->reconcile;
	struct rc_stats *st = &r->run;
	double secs;

	st->ok = ok;
	st->finished_ms = clock_now_ms();
	st->keyspace_done = ok ? 1.0 : st->keyspace_done;
	st->ranges_pending = 0;
	snprintf(st->error, sizeof(st->error), "%s", ok ? "" : error);
	secs = rc_seconds(st, st->finished_ms);
	r->last = *st;
	r->table = -1;
	r->runs++;
	r->repaired_total[0] += st->repaired[0];
	r->repaired_total[1] += st->repaired[1];
	r->conflicts_total += st->conflicts;
	if (!ok) {
		r->failures++;
		if (app->stopping)
			return;
		log_warn("reconcile", "stopped after %.1f%% of the key space: %s; repaired %llu rows into %s and %llu"
			 " into %s; it starts over in %d s", st->keyspace_done * 100, st->error,
			 (unsigned long long)st->repaired[0], app->side[0].name, (unsigned long long)st->repaired[1],
			 app->side[1].name, RETRY_MS / 1000);
		want(app, "the last run did not finish");
		r->retry_ms = clock_now_ms() + RETRY_MS;
		return;
	}
	log_info("reconcile", "finished in %.1f s: %s had %lld rows and %s %lld when it began; %llu ranges compared by %llu"
		 " queries (%llu kB received); repaired %llu rows into %s and %llu into %s; %llu conflicts; %llu rows left"
		 " to the tail", secs, app->side[0].name, st->rows[0], app->side[1].name, st->rows[1],
		 (unsigned long long)st->ranges_done, (unsigned long long)st->queries,
		 (unsigned long long)(st->bytes_received / 1024), (unsigned long long)st->repaired[0], app->side[0].name,
		 (unsigned long long)st->repaired[1], app->side[1].name, (unsigned long long)st->conflicts,
		 (unsigned long long)st->left_to_tail);
	if (r->epoch != r->run_epoch)
		want(app, "a cursor changed during the last run");
	if (app->cfg->reconcile_interval_s > 0)
		r->next_ms = clock_now_ms() + (int64_t)app->cfg->reconcile_interval_s * 1000;
}

static void next_table_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_app *app = arg;
	struct snk_rc_schedule *r = &app->reconcile;

	if (r->table < 0 || rc_running(r->rc))
		return;
	if (app->stopping || app->paused || app->tables_pending) {
		run_ended(app, false, app->stopping ? "snk is stopping" : app->paused ? "snk was paused" : "the tables changed");
		return;
	}
	if (!rc_start(r->rc, r->table))
		run_ended(app, false, "the engine did not start");
}

static void hook_finish(void *arg, const struct rc_stats *st)
{
	struct snk_app *app = arg;
	struct snk_rc_schedule *r = &app->reconcile;
	const struct timeval now = { 0, 0 };

	add_stats(&r->run, st);
	if (!st->ok) {
		r->run.keyspace_done = ((double)r->table + st->keyspace_done) / app->ntables;
		run_ended(app, false, st->error);
		return;
	}
	if (r->epoch == r->run_epoch)
		settle_debts(app, r->table);
	r->run.keyspace_done = (double)(r->table + 1) / app->ntables;
	if (++r->table >= app->ntables) {
		run_ended(app, true, NULL);
		return;
	}
	/* the next table from the loop, not from inside the engine's callback */
	if (event_base_once(app->base, -1, EV_TIMEOUT, next_table_cb, app, &now) != 0)
		run_ended(app, false, "out of memory");
}

bool sync_reconcile_init(struct snk_app *app)
{
	struct rc_hooks hooks = { .arg = app,
				  .passed = hook_passed,
				  .busy = hook_busy,
				  .on_conflict = hook_conflict,
				  .on_finish = hook_finish }; /* no on_conn_error: pgconn logs and reconnects */
	struct snk_rc_schedule *r = &app->reconcile;

	r->table = -1;
	r->rc = rc_new(app->base, app->tables, app->ntables, app->cfg->conninfo, (const char *const *)app->cfg->db_name,
		       app->cfg->reconnect_max_ms, RC_REPAIR, (size_t)app->cfg->batch_max_bytes, &hooks);
	sync_reconcile_interval(app, app->cfg->reconcile_interval_s);
	return r->rc != NULL;
}

void sync_reconcile_free(struct snk_app *app)
{
	rc_free(app->reconcile.rc);
	app->reconcile.rc = NULL;
}

void sync_reconcile_interval(struct snk_app *app, int interval_s)
{
	app->reconcile.next_ms = interval_s > 0 ? clock_now_ms() + (int64_t)interval_s * 1000 : 0;
}

bool sync_reconcile_set_conninfo(struct snk_app *app, char *const conninfo[SNK_DB_MAX])
{
	return rc_set_conninfo(app->reconcile.rc, conninfo);
}

static bool run_active(const struct snk_app *app)
{
	return app->reconcile.table >= 0;
}

const struct rc_stats *sync_reconcile_running(const struct snk_app *app)
{
	static struct rc_stats view;
	const struct snk_rc_schedule *r = &app->reconcile;
	const struct rc_stats *cur;

	if (!run_active(app))
		return NULL;
	view = r->run;
	cur = rc_stats(r->rc);
	if (rc_running(r->rc)) {
		add_stats(&view, cur);
		view.keyspace_done = ((double)r->table + cur->keyspace_done) / app->ntables;
		view.ranges_pending = cur->ranges_pending;
	}
	return &view;
}

/* ---- starting runs ---- */

static void log_progress(struct snk_app *app, int64_t now)
{
	const struct rc_stats *st = sync_reconcile_running(app);
	double eta = st ? rc_eta_s(st, now) : -1;

	if (!st)
		return;
	log_info("reconcile", "%.1f%% of the key space in %.0f s (ETA %s%.0f s): %llu ranges compared, %llu to go;"
		 " repaired %llu rows into %s, %llu into %s; %llu conflicts",
		 st->keyspace_done * 100, rc_seconds(st, now), eta < 0 ? "unknown, " : "", eta < 0 ? 0.0 : eta,
		 (unsigned long long)st->ranges_done, (unsigned long long)st->ranges_pending,
		 (unsigned long long)st->repaired[0], app->side[0].name, (unsigned long long)st->repaired[1], app->side[1].name,
		 (unsigned long long)st->conflicts);
}

void sync_reconcile_tick(struct snk_app *app)
{
	struct snk_rc_schedule *r = &app->reconcile;
	int64_t now = clock_now_ms();

	if (run_active(app)) {
		if (app->paused && rc_running(r->rc)) {
			rc_abort(r->rc, "snk was paused");
			want(app, "interrupted by a pause");
		} else if (now - r->logged_ms >= PROGRESS_EVERY_MS) {
			r->logged_ms = now;
			log_progress(app, now);
		}
		return;
	}
	if (r->next_ms && now >= r->next_ms) {
		r->next_ms = 0;
		want(app, "reconcile_interval_s");
	}
	if (!r->wanted || app->paused || app->stopping || app->tables_pending || !app->ready || now < r->retry_ms ||
	    app->lease.role != ROLE_ACTIVE)
		return;
	for (int i = 0; i < app->ndir; i++) {
		if (!app->dir[i].caught_up)
			return;
	}
	r->wanted = false;
	r->run_epoch = r->epoch;
	r->conflicts_logged = 0;
	r->logged_ms = now;
	memset(&r->run, 0, sizeof(r->run));
	r->run.started_ms = now;
	r->table = 0;
	if (app->ntables == 1)
		log_info("reconcile", "starting (%s): comparing %s in a and b by id range", r->reason, app->tables[0].label);
	else
		log_info("reconcile", "starting (%s): comparing %d tables in a and b by key range, one after another",
			 r->reason, app->ntables);
	if (!rc_start(r->rc, 0))
		run_ended(app, false, "the engine did not start");
}

bool sync_reconcile_request(struct snk_app *app, const char *reason, char *msg, size_t len)
{
	if (app->stopping) {
		snprintf(msg, len, "snk is stopping");
		return false;
	}
	if (run_active(app)) {
		snprintf(msg, len, "a reconcile is already running (%.1f%% of the key space done)",
			 sync_reconcile_running(app)->keyspace_done * 100);
		return false;
	}
	want(app, reason);
	app->reconcile.retry_ms = 0;
	snprintf(msg, len, "%s", app->paused ? "reconcile queued; it starts when snk is resumed"
			   : "reconcile queued; it starts once both directions have caught up");
	sync_reconcile_tick(app);
	if (run_active(app))
		snprintf(msg, len, "reconcile started");
	return true;
}

const char *sync_reconcile_state(const struct snk_app *app)
{
	if (run_active(app))
		return "running";
	return app->reconcile.wanted ? "waiting" : "idle";
}
