/* sync_reconcile.c - when the daemon reconciles, and what it tells the operator.
 *
 * A run is wanted when a direction owes one (a first start, a database replaced or
 * restored, a run that never finished: the debt is stored with the cursor), when
 * `snkctl reconcile` asks, and every reconcile_interval_s. It starts once both directions
 * have caught up since start (so that it does not redo the initial copy) and the tail is
 * not paused. The engine (reconcile.c) runs on connections of its own and yields to the
 * tail. When a run finishes with no new debt incurred meanwhile, the debts are cleared in
 * the cursors; a run that fails is retried after RETRY_MS.
 */
#include <stdio.h>
#include <string.h>

#include "snk/log.h"
#include "snk/reconcile.h"
#include "snk/sync.h"

#define RETRY_MS 30000
#define PROGRESS_EVERY_MS 5000
#define CONFLICTS_LOGGED 20

static void want(struct snk_app *app, const char *reason)
{
	if (!app->reconcile_wanted)
		snprintf(app->reconcile_reason, sizeof(app->reconcile_reason), "%s", reason);
	app->reconcile_wanted = true;
}

void sync_reconcile_owed(struct snk_dir *d, const char *reason)
{
	if (!d->reconcile_pending)
		d->app->reconcile_epoch++;
	d->reconcile_pending = true;
	want(d->app, reason);
}

/* ---- the engine's hooks ---- */

static bool hook_passed(void *arg, int src, uint64_t xid)
{
	struct snk_app *app = arg;

	return xid == 0 || snapshot_sees(&app->dir[src == SNK_DB_A ? 0 : 1].committed, xid);
}

static bool hook_busy(void *arg)
{
	struct snk_app *app = arg;

	return app->dir[0].state == DIR_PASS || app->dir[1].state == DIR_PASS;
}

static void hook_conflict(void *arg, const char *key, int refused_by)
{
	struct snk_app *app = arg;
	char label[512];

	uint64_t seen = app->reconcile_conflicts_logged++;

	if (seen == CONFLICTS_LOGGED)
		log_warn("reconcile", "more conflicts in this run; only their count is reported from now on");
	if (seen >= CONFLICTS_LOGGED)
		return;
	db_key_label(&app->table, key, label, sizeof(label));
	if (refused_by >= 0)
		log_warn("reconcile", "conflict: %s is refused by %s: " SNK_REFUSED_WHY "; left alone", label,
			 app->side[refused_by].name);
	else
		log_warn("reconcile", "conflict: %s has different data in a and b; left alone", label);
}

static void reconciled_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;

	d->units--;
	if (err)
		log_warn(d->role, "could not record the finished reconcile (%s); the next start reconciles again",
			 err->message);
	else if (d->app->reconcile_epoch == d->app->reconcile_run_epoch)
		d->reconcile_pending = false;
}

static void settle_debts(struct snk_app *app)
{
	for (int i = 0; i < 2; i++) {
		struct snk_dir *d = &app->dir[i];
		struct snk_pgconn *c = d->dst->write;

		if (!d->reconcile_pending || !d->dst->write_ok || !pgconn_begin(c, NULL, reconciled_done_cb, d))
			continue; /* stays owed: the next start reconciles again */
		d->units++;
		db_send_reconciled(c, d->source_key);
		pgconn_end(c);
	}
}

static void hook_finish(void *arg, const struct rc_stats *st)
{
	struct snk_app *app = arg;
	double secs = rc_seconds(st, st->finished_ms);

	app->reconcile_last = *st;
	app->reconcile_runs++;
	app->reconcile_repaired_total[0] += st->repaired[0];
	app->reconcile_repaired_total[1] += st->repaired[1];
	app->reconcile_conflicts_total += st->conflicts;
	if (!st->ok) {
		app->reconcile_failures++;
		if (app->stopping)
			return;
		log_warn("reconcile", "stopped after %.1f%% of the key space: %s; repaired %llu rows into a and %llu"
			 " into b; it starts over in %d s", st->keyspace_done * 100, st->error,
			 (unsigned long long)st->repaired[0], (unsigned long long)st->repaired[1], RETRY_MS / 1000);
		want(app, "the last run did not finish");
		app->reconcile_retry_ms = sync_now_ms() + RETRY_MS;
		return;
	}
	log_info("reconcile", "finished in %.1f s: a had %lld rows and b %lld when it began; %llu ranges compared by %llu queries"
		 " (%llu kB received); repaired %llu rows into a and %llu into b; %llu conflicts; %llu rows left to the tail",
		 secs, st->rows[0], st->rows[1], (unsigned long long)st->ranges_done, (unsigned long long)st->queries,
		 (unsigned long long)(st->bytes_received / 1024), (unsigned long long)st->repaired[0],
		 (unsigned long long)st->repaired[1], (unsigned long long)st->conflicts,
		 (unsigned long long)st->left_to_tail);
	if (app->reconcile_epoch == app->reconcile_run_epoch)
		settle_debts(app);
	else
		want(app, "a cursor changed during the last run");
	if (app->cfg->reconcile_interval_s > 0)
		app->reconcile_next_ms = sync_now_ms() + (int64_t)app->cfg->reconcile_interval_s * 1000;
}

bool sync_reconcile_init(struct snk_app *app)
{
	struct rc_hooks hooks = { .arg = app,
				  .passed = hook_passed,
				  .busy = hook_busy,
				  .on_conflict = hook_conflict,
				  .on_finish = hook_finish }; /* no on_conn_error: pgconn logs and reconnects */

	app->rc = rc_new(app->base, &app->table, app->cfg->conninfo, app->cfg->reconnect_max_ms, RC_REPAIR,
			 (size_t)app->cfg->batch_max_bytes, &hooks);
	if (app->cfg->reconcile_interval_s > 0)
		app->reconcile_next_ms = sync_now_ms() + (int64_t)app->cfg->reconcile_interval_s * 1000;
	return app->rc != NULL;
}

/* ---- starting runs ---- */

static void log_progress(struct snk_app *app, int64_t now)
{
	const struct rc_stats *st = rc_stats(app->rc);
	double eta = rc_eta_s(st, now);

	log_info("reconcile", "%.1f%% of the key space in %.0f s (ETA %s%.0f s): %llu ranges compared, %llu to go;"
		 " repaired %llu rows into a, %llu into b; %llu conflicts",
		 st->keyspace_done * 100, rc_seconds(st, now), eta < 0 ? "unknown, " : "", eta < 0 ? 0.0 : eta,
		 (unsigned long long)st->ranges_done, (unsigned long long)st->ranges_pending,
		 (unsigned long long)st->repaired[0], (unsigned long long)st->repaired[1],
		 (unsigned long long)st->conflicts);
}

void sync_reconcile_tick(struct snk_app *app)
{
	int64_t now = sync_now_ms();

	if (rc_running(app->rc)) {
		if (app->paused) {
			rc_abort(app->rc, "snk was paused");
			want(app, "interrupted by a pause");
		} else if (now - app->reconcile_logged_ms >= PROGRESS_EVERY_MS) {
			app->reconcile_logged_ms = now;
			log_progress(app, now);
		}
		return;
	}
	if (app->reconcile_next_ms && now >= app->reconcile_next_ms) {
		app->reconcile_next_ms = 0;
		want(app, "reconcile_interval_s");
	}
	if (!app->reconcile_wanted || app->paused || app->stopping || !app->ready || now < app->reconcile_retry_ms)
		return;
	if (!app->dir[0].caught_up || !app->dir[1].caught_up)
		return;
	app->reconcile_wanted = false;
	app->reconcile_run_epoch = app->reconcile_epoch;
	app->reconcile_conflicts_logged = 0;
	app->reconcile_logged_ms = now;
	log_info("reconcile", "starting (%s): comparing %s in a and b by id range", app->reconcile_reason,
		 app->table.label);
	(void)rc_start(app->rc);
}

bool sync_reconcile_request(struct snk_app *app, const char *reason, char *msg, size_t len)
{
	if (app->stopping) {
		snprintf(msg, len, "snk is stopping");
		return false;
	}
	if (rc_running(app->rc)) {
		snprintf(msg, len, "a reconcile is already running (%.1f%% of the key space done)",
			 rc_stats(app->rc)->keyspace_done * 100);
		return false;
	}
	want(app, reason);
	app->reconcile_retry_ms = 0;
	snprintf(msg, len, "%s", app->paused ? "reconcile queued; it starts when snk is resumed"
			   : "reconcile queued; it starts once both directions have caught up");
	sync_reconcile_tick(app);
	if (rc_running(app->rc))
		snprintf(msg, len, "reconcile started");
	return true;
}

const char *sync_reconcile_state(const struct snk_app *app)
{
	if (rc_running(app->rc))
		return "running";
	return app->reconcile_wanted ? "waiting" : "idle";
}
