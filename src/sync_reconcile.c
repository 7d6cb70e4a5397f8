/* sync_reconcile.c - when the daemon reconciles, and what it tells the operator.
 *
 * A run is wanted when a table owes one (a first start, a database replaced or restored,
 * a run that never finished: the debt is stored with its cursor), when `snkctl reconcile`
 * asks, and every reconcile_interval_s. It starts once the directions between two
 * databases have caught up since start (so that it does not redo a first copy), no
 * direction with its sessions up is loading its cursors (dir.c, wait_flushed), and the
 * tail is not paused. It compares every pair of databases in turn, each pair's tables one
 * after another, on that pair's engine (reconcile.c, two sessions of its own), yielding
 * to the tail. Every pair, not a spanning tree: a row whose origin is gone for good may
 * live in one other database only, and only the pairs with that database can bring it
 * to the rest. A pair with a database down is passed over; the run then ends incomplete
 * and runs again once every pair can. When a pair's table is compared in full with no
 * new debt incurred since the run began, the debts of the two directions between them
 * are cleared in their cursors; a run that fails is retried after RETRY_MS.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/cli.h"
#include "snk/clock.h"
#include "snk/log.h"
#include "snk/reconcile.h"
#include "snk/sync.h"

#define RETRY_MS 30000
#define IN_FLIGHT_RETRY_MS 5000
#define PROGRESS_EVERY_MS 5000
#define CONFLICTS_LOGGED 20

static void want(struct snk_app *app, const char *reason)
{
	struct snk_rc_schedule *r = &app->reconcile;

	if (!r->wanted)
		snprintf(r->reason, sizeof(r->reason), "%s", reason);
	r->wanted = true;
}

/* A new debt moves the epoch even when one was owed already: a run under way may have
 * compared, before it, ranges whose rows it concerns, and must not settle it. */
static void owes(struct snk_dir *d, int t, const char *reason, bool new_debt)
{
	bool fresh = new_debt;

	for (int i = 0; i < d->ntables; i++) {
		if (t >= 0 && i != t)
			continue;
		fresh |= !d->tdirs[i].reconcile_pending;
		d->tdirs[i].reconcile_pending = true;
	}
	if (fresh) {
		d->app->reconcile.epoch++;
		d->app->reconcile.wait_for_pairs = false; /* a new debt: the pairs that can run, now */
	}
	want(d->app, reason);
}

void dir_owes_reconcile(struct snk_dir *d, int t, const char *reason)
{
	owes(d, t, reason, true);
}

void dir_still_owes_reconcile(struct snk_dir *d, int t, const char *reason)
{
	owes(d, t, reason, false);
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

static const struct snk_dir *dir_of(const struct snk_app *app, int src, int dst)
{
	return &app->dir[sync_dir_index(app->ndb, src, dst)];
}

/* Whether the direction may bring rows: its sessions are up (a pass that fails is
 * retried, so it may yet). */
static bool dir_running(const struct snk_dir *d)
{
	return d->src->read_ok && d->dst->write_ok;
}

/* An xmax that every row d may have put into its destination (table t), committed or
 * still in flight, is below: the highest it has read under (a failed pass's rows may have
 * committed; it is set at the cursor load too, for a process before this one). */
static uint64_t read_bound(const struct snk_dir *d, int t)
{
	uint64_t x = d->tdirs[t].prev.text ? d->tdirs[t].prev.xmax : 0;

	return d->read_hw > x ? d->read_hw : x;
}

/* Whether the tail has passed a row of database s (of the pair compared) that d lacks:
 * only then is its absence in d a loss to repair. A row s's application wrote (xid) is
 * passed once s -> d's cursor sees it. A row snk copied into s (xid 0) came from d, or
 * from a third database o, whose own direction o -> d may still be carrying it. It is
 * passed once o -> d has committed as far as o -> s had read when the row was found (o ->
 * d's committed xmin at or past the xmax of o -> s's last snapshot: every row o -> s
 * could have put into s, o -> d has put into d), or when o -> d is not running (o or a
 * session down: nothing else would bring it). A copy left to a third database's tail
 * makes the run come back soon (in_flight). */
static bool hook_passed(void *arg, int src, uint64_t xid)
{
	struct snk_app *app = arg;
	struct snk_rc_schedule *r = &app->reconcile;
	int s = r->pair_db[r->pair][src], d = r->pair_db[r->pair][1 - src], t = r->table;

	if (xid != 0)
		return snapshot_sees(&dir_of(app, s, d)->tdirs[t].committed, xid);
	for (int o = 0; o < app->ndb; o++) {
		const struct snk_dir *od, *os;

		if (o == s || o == d || !dir_running(od = dir_of(app, o, d)))
			continue;
		os = dir_of(app, o, s);
		if (!od->tdirs[t].committed.text || od->tdirs[t].committed.xmin < read_bound(os, t)) {
			r->in_flight++;
			return false;
		}
	}
	return true;
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
	const struct snk_rc_schedule *r = &app->reconcile;
	const struct snk_table *t = &app->tables[r->table];
	char label[512];
	uint64_t seen = app->reconcile.conflicts_logged++;

	if (seen == CONFLICTS_LOGGED)
		log_warn("reconcile", "more conflicts in this run; only their count is reported from now on");
	if (seen >= CONFLICTS_LOGGED)
		return;
	db_key_label(t, key, label, sizeof(label));
	if (refused_by >= 0)
		log_warn("reconcile", "conflict: %s%s%s is refused by %s: " SNK_REFUSED_WHY "; left alone",
			 app->ntables > 1 ? t->label : "", app->ntables > 1 ? " " : "", label,
			 app->side[r->pair_db[r->pair][refused_by]].name);
	else
		log_warn("reconcile", "conflict: %s%s%s has different data in %s and %s; left alone",
			 app->ntables > 1 ? t->label : "", app->ntables > 1 ? " " : "", label,
			 app->side[r->pair_db[r->pair][0]].name, app->side[r->pair_db[r->pair][1]].name);
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
	dir_check_drained(d); /* a failed direction may have waited for this unit */
}

/* Table t has been compared in full between the pair's databases since the run began,
 * with no debt incurred since: its debts in the two directions between them are cleared in
 * their cursors (of a direction whose cursors are loaded: dir.c, wait_flushed). */
static void settle_debts(struct snk_app *app, int t)
{
	const int *pair = app->reconcile.pair_db[app->reconcile.pair];

	for (int i = 0; i < 2; i++) {
		struct snk_dir *d = &app->dir[sync_dir_index(app->ndb, pair[i], pair[1 - i])];
		struct snk_pgconn *c = d->dst->write;
		struct settle *st;

		if (!d->tdirs[t].reconcile_pending || !d->loaded || !d->dst->write_ok || d->dst->lock_epoch != d->dst_epoch ||
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

/* Adds a pair's figures (st, of the engine: its sides 0 and 1 are the pair's databases). */
static void add_stats(struct rc_stats *sum, const struct rc_stats *st, const int pair[2], bool first_table)
{
	sum->ranges_done += st->ranges_done;
	sum->queries += st->queries;
	sum->bytes_received += st->bytes_received;
	sum->bytes_sent += st->bytes_sent;
	for (int i = 0; i < 2; i++) {
		sum->rows[i] += st->rows[i];
		sum->missing[i] += st->missing[i];
		sum->repaired[i] += st->repaired[i];
		sum->repaired_db[pair[i]] += st->repaired[i];
		if (first_table)
			sum->rows_db[pair[i]] = 0;
		sum->rows_db[pair[i]] += st->rows[i];
	}
	sum->conflicts += st->conflicts;
	sum->left_to_tail += st->left_to_tail;
}

/* After a run, from the loop: the engines' sessions close until the next run, so that
 * snk holds 1 + write_connections sessions per database between runs. */
static void close_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_app *app = arg;
	bool closed = false;

	/* between runs every engine; during one, those of the pairs done */
	for (int p = 0; p < app->reconcile.npairs; p++) {
		if (app->reconcile.table < 0 || p < app->reconcile.pair)
			closed |= rc_close(app->reconcile.engines[p]);
	}
	if (closed)
		log_debug("reconcile", "sessions closed until the next run");
}

/* "3 rows into a and 0 into b", or "0 rows into a, 2 into b and 0 into c". */
static const char *repaired_text(const struct snk_app *app, const struct rc_stats *st, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < app->ndb && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%llu %sinto %s", cli_list_sep(i, app->ndb),
				      (unsigned long long)st->repaired_db[i], i == 0 ? "rows " : "", app->side[i].name);
	return buf;
}

static void run_ended(struct snk_app *app, bool ok, const char *error)
{
	const struct timeval soon = { 0, 0 };

	(void)event_base_once(app->base, -1, EV_TIMEOUT, close_cb, app, &soon);
	struct snk_rc_schedule *r = &app->reconcile;
	struct rc_stats *st = &r->run;
	/* it went through every pair, passing some over only for a direction's load or
	 * catch-up (which ends by itself): again as soon as every pair can */
	bool starting_only = r->skipped > 0 && r->skipped_down == 0 && r->pair >= r->npairs;
	int64_t retry;
	char repaired[SNK_DB_MAX * 48], rows[SNK_DB_MAX * 48];
	size_t n = 0;
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
	r->in_flight_runs = r->in_flight_seen ? r->in_flight_runs + 1 : 0;
	for (int i = 0; i < app->ndb; i++)
		r->repaired_total[i] += st->repaired_db[i];
	r->conflicts_total += st->conflicts;
	repaired_text(app, st, repaired, sizeof(repaired));
	if (!ok) {
		r->failures++;
		if (app->stopping)
			return;
		log_warn("reconcile", "stopped after %.1f%% of the key space: %s; repaired %s; it starts over %s",
			 st->keyspace_done * 100, st->error, repaired,
			 starting_only ? "once every direction has loaded its cursors and caught up" :
			 r->skipped ? "once every database is up" :
			 RETRY_MS == 30000 ? "in 30 s" : "later");
		want(app, starting_only ? "a direction was starting during the last run" :
			  r->skipped ? "a database was down during the last run" : "the last run did not finish");
		r->wait_for_pairs = r->skipped > 0;
		retry = clock_now_ms() + (starting_only ? 0 : RETRY_MS);
		if (retry > r->retry_ms)
			r->retry_ms = retry; /* not sooner than a wait for rows in flight asked */
		return;
	}
	rows[0] = '\0';
	for (int i = 0; i < app->ndb && n < sizeof(rows); i++)
		n += (size_t)snprintf(rows + n, sizeof(rows) - n, "%s%s%s %lld%s", cli_list_sep(i, app->ndb),
				      app->side[i].name, i == 0 ? " had" : "", st->rows_db[i], i == 0 ? " rows" : "");
	log_info("reconcile", "finished in %.1f s: %s when it began; %llu ranges compared by %llu queries (%llu kB"
		 " received); repaired %s; %llu conflicts; %llu rows left to the tail", secs, rows,
		 (unsigned long long)st->ranges_done, (unsigned long long)st->queries,
		 (unsigned long long)(st->bytes_received / 1024), repaired, (unsigned long long)st->conflicts,
		 (unsigned long long)st->left_to_tail);
	if (r->epoch != r->run_epoch)
		want(app, "a cursor changed during the last run");
	if (app->cfg->reconcile_interval_s > 0)
		r->next_ms = clock_now_ms() + (int64_t)app->cfg->reconcile_interval_s * 1000;
}

/* The pair's databases are up and the directions between them have loaded their cursors
 * (dir.c, wait_flushed) and caught up since start; else why not, in why, and *loading
 * (unless NULL) says whether only that is in the way, which ends by itself. */
static bool pair_ready(const struct snk_app *app, int p, char *why, size_t len, bool *loading)
{
	const int *db = app->reconcile.pair_db[p];

	if (loading)
		*loading = false;
	for (int i = 0; i < 2; i++) {
		const struct snk_side *s = &app->side[db[i]];

		if (!s->read_ok || !s->write_ok) {
			snprintf(why, len, "database %s was down", s->name);
			return false;
		}
	}
	for (int i = 0; i < 2; i++) {
		const struct snk_dir *d = dir_of(app, db[i], db[1 - i]);

		if (!d->loaded) {
			snprintf(why, len, "%s was loading its cursors", d->role);
			if (loading)
				*loading = true;
			return false;
		}
		if (!d->caught_up) {
			snprintf(why, len, "%s had not caught up", d->role);
			if (loading)
				*loading = true;
			return false;
		}
	}
	return true;
}

/* Starts table r->table of the first pair from r->pair that can run (those that cannot
 * are passed over); false when none is left. */
static bool start_next(struct snk_app *app)
{
	struct snk_rc_schedule *r = &app->reconcile;
	char why[128];
	bool loading;

	for (; r->pair < r->npairs; r->pair++, r->table = 0) {
		if (r->table == 0 && !pair_ready(app, r->pair, why, sizeof(why), &loading)) {
			r->skipped_down += !loading;
			if (r->skipped++ == 0)
				snprintf(r->skip_reason, sizeof(r->skip_reason), "%s and %s not compared: %s",
					 app->side[r->pair_db[r->pair][0]].name, app->side[r->pair_db[r->pair][1]].name, why);
			continue;
		}
		r->rc = r->engines[r->pair];
		r->in_flight = 0;
		if (!rc_start(r->rc, r->table))
			run_ended(app, false, "the engine did not start");
		return true;
	}
	return false;
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
	if (!start_next(app))
		run_ended(app, r->skipped == 0, r->skip_reason);
}

static double run_share(const struct snk_app *app, double table_done)
{
	const struct snk_rc_schedule *r = &app->reconcile;

	return ((double)r->pair * app->ntables + r->table + table_done) / ((double)r->npairs * app->ntables);
}

static void hook_finish(void *arg, const struct rc_stats *st)
{
	struct snk_app *app = arg;
	struct snk_rc_schedule *r = &app->reconcile;
	const struct timeval now = { 0, 0 };

	add_stats(&r->run, st, r->pair_db[r->pair], r->table == 0);
	if (!st->ok) {
		r->run.keyspace_done = run_share(app, st->keyspace_done);
		run_ended(app, false, st->error);
		return;
	}
	if (r->in_flight > 0) {
		/* Copies a third database's tail is still bringing: looked at again soon, and
		 * later each time it happens again in a row (under steady load it may). */
		int shift = r->in_flight_runs < 4 ? r->in_flight_runs : 4;

		want(app, "rows were in flight from a third database");
		r->retry_ms = clock_now_ms() + ((int64_t)IN_FLIGHT_RETRY_MS << shift);
		r->in_flight_seen = true;
	} else if (r->epoch == r->run_epoch) {
		settle_debts(app, r->table);
	}
	r->run.keyspace_done = run_share(app, 1.0);
	if (++r->table >= app->ntables) {
		const struct timeval soon = { 0, 0 };

		r->table = 0;
		r->pair++;
		(void)event_base_once(app->base, -1, EV_TIMEOUT, close_cb, app, &soon); /* the pair's sessions */
	}
	if (r->pair >= r->npairs) {
		r->table = 0;
		run_ended(app, r->skipped == 0, r->skip_reason);
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
	for (int i = 0; i < app->ndb; i++) {
		for (int j = i + 1; j < app->ndb; j++) {
			char *conninfo[2] = { app->cfg->conninfo[i], app->cfg->conninfo[j] };
			const char *names[2] = { app->side[i].name, app->side[j].name };
			int p = r->npairs++;

			r->pair_db[p][0] = i;
			r->pair_db[p][1] = j;
			r->engines[p] = rc_new(app->base, app->tables, app->ntables, conninfo, names,
					       app->cfg->reconnect_max_ms, RC_REPAIR, (size_t)app->cfg->batch_max_bytes, &hooks);
			if (!r->engines[p])
				return false;
		}
	}
	r->rc = r->engines[0];
	sync_reconcile_interval(app, app->cfg->reconcile_interval_s);
	return true;
}

void sync_reconcile_free(struct snk_app *app)
{
	for (int p = 0; p < app->reconcile.npairs; p++)
		rc_free(app->reconcile.engines[p]);
	app->reconcile.npairs = 0;
	app->reconcile.rc = NULL;
}

void sync_reconcile_interval(struct snk_app *app, int interval_s)
{
	app->reconcile.next_ms = interval_s > 0 ? clock_now_ms() + (int64_t)interval_s * 1000 : 0;
}

bool sync_reconcile_set_conninfo(struct snk_app *app, char *const conninfo[SNK_DB_MAX])
{
	const struct snk_rc_schedule *r = &app->reconcile;
	bool ok = true;

	for (int p = 0; p < r->npairs; p++) {
		char *pair[2] = { conninfo[r->pair_db[p][0]], conninfo[r->pair_db[p][1]] };

		ok = rc_set_conninfo(r->engines[p], pair) && ok;
	}
	return ok;
}

void sync_reconcile_set_tables(struct snk_app *app)
{
	for (int p = 0; p < app->reconcile.npairs; p++)
		rc_set_tables(app->reconcile.engines[p], app->tables, app->ntables);
}

static bool run_active(const struct snk_app *app)
{
	return app->reconcile.table >= 0;
}

bool sync_reconcile_touches(const struct snk_app *app, int db)
{
	const struct snk_rc_schedule *r = &app->reconcile;

	return run_active(app) && r->pair < r->npairs && (r->pair_db[r->pair][0] == db || r->pair_db[r->pair][1] == db);
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
		add_stats(&view, cur, r->pair_db[r->pair], r->table == 0);
		view.keyspace_done = run_share(app, cur->keyspace_done);
		view.ranges_pending = cur->ranges_pending;
	}
	return &view;
}

/* ---- starting runs ---- */

static void log_progress(struct snk_app *app, int64_t now)
{
	const struct rc_stats *st = sync_reconcile_running(app);
	double eta = st ? rc_eta_s(st, now) : -1;
	char repaired[SNK_DB_MAX * 48];

	if (!st)
		return;
	log_info("reconcile", "%.1f%% of the key space in %.0f s (ETA %s%.0f s): %llu ranges compared, %llu to go;"
		 " repaired %s; %llu conflicts",
		 st->keyspace_done * 100, rc_seconds(st, now), eta < 0 ? "unknown, " : "", eta < 0 ? 0.0 : eta,
		 (unsigned long long)st->ranges_done, (unsigned long long)st->ranges_pending,
		 repaired_text(app, st, repaired, sizeof(repaired)), (unsigned long long)st->conflicts);
}

void sync_reconcile_tick(struct snk_app *app)
{
	struct snk_rc_schedule *r = &app->reconcile;
	int64_t now = clock_now_ms();
	int ready = 0;
	char why[128];

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
		r->wait_for_pairs = false;
		want(app, "reconcile_interval_s");
	}
	if (!r->wanted || app->paused || app->stopping || app->tables_pending || now < r->retry_ms ||
	    app->lease.role != ROLE_ACTIVE)
		return;
	/* a direction about to load or loading its cursors (its sessions up) is waited for,
	 * rather than its pair passed over; not one that waits on its source's WAL, which
	 * may take long (dir.c, wait_flushed): only its pair waits then */
	for (int i = 0; i < app->ndir; i++) {
		const struct snk_dir *d = &app->dir[i];

		if ((d->state == DIR_WAIT || (d->state == DIR_LOADING && d->flush_polls == 0)) && dir_running(d))
			return;
	}
	for (int p = 0; p < r->npairs; p++)
		ready += pair_ready(app, p, why, sizeof(why), NULL);
	/* A run that passed over a pair waits for all (or for snkctl reconcile): comparing the
	 * others again every RETRY_MS would only scan them again. */
	if (ready == 0 || (r->wait_for_pairs && ready < r->npairs))
		return;
	r->wanted = false;
	r->wait_for_pairs = false;
	r->run_epoch = r->epoch;
	r->conflicts_logged = 0;
	r->logged_ms = now;
	memset(&r->run, 0, sizeof(r->run));
	r->run.started_ms = now;
	r->table = 0;
	r->pair = 0;
	r->skipped = r->skipped_down = 0;
	r->skip_reason[0] = '\0';
	r->in_flight_seen = false;
	if (app->ndb == 2 && app->ntables == 1)
		log_info("reconcile", "starting (%s): comparing %s in %s and %s by id range", r->reason, app->tables[0].label,
			 app->side[0].name, app->side[1].name);
	else if (app->ndb == 2)
		log_info("reconcile", "starting (%s): comparing %d tables in %s and %s by key range, one after another",
			 r->reason, app->ntables, app->side[0].name, app->side[1].name);
	else
		log_info("reconcile", "starting (%s): comparing %d table%s in each of the %d pairs of databases by key"
			 " range, one after another", r->reason, app->ntables, app->ntables == 1 ? "" : "s", r->npairs);
	if (!start_next(app))
		run_ended(app, r->skipped == 0, r->skip_reason);
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
	app->reconcile.wait_for_pairs = false; /* asked for: the pairs that can run, now */
	snprintf(msg, len, "%s", app->paused ? "reconcile queued; it starts when snk is resumed"
			   : "reconcile queued; it starts once the directions have caught up");
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
