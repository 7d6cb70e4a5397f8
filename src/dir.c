/* dir.c - the state machine of one direction (dir.h): waiting for its sessions, loading
 * the cursors of every table, idle, a pass, failures and their backoff.
 *
 * Loading reads, in one unit on the destination, its identity and every table's stored
 * cursor, and on the source its identity and current snapshot. A cursor is a snapshot of
 * the source's xids: if the source is now another database, or the same one restored or
 * promoted (xids reused, seen as a cursor ahead of the source's current xids), the cursor
 * would skip rows. It is then replaced by the source's current snapshot, and a reconcile
 * brings over every row before it (a crash cannot do that to a stored cursor: snk_durable).
 * If only the destination changed, the cursor is still exact for the source, but rows the
 * destination lost need a reconcile. Either way the debt is stored with the cursor before
 * any window, so that a crash cannot forget it. A table without a cursor starts its first
 * copy (window.c reads it by pages).
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/clock.h"
#include "snk/dir.h"
#include "snk/log.h"
#include "snk/sync.h"

#define RETRY_MAX_MS 30000

const char *dir_state_name(enum dir_state s)
{
	switch (s) {
	case DIR_WAIT:
		return "waiting";
	case DIR_LOADING:
		return "loading";
	case DIR_IDLE:
		return "idle";
	case DIR_PASS:
		return "copying";
	case DIR_FAILED:
		return "failed";
	case DIR_RETRY:
		return "retrying";
	}
	return "?";
}

/* The transitions a direction may take; anything else is a bug. */
static bool legal(enum dir_state from, enum dir_state to)
{
	switch (to) {
	case DIR_WAIT:
		return from != DIR_WAIT;
	case DIR_LOADING:
		return from == DIR_WAIT;
	case DIR_IDLE:
		return from == DIR_LOADING || from == DIR_PASS || from == DIR_IDLE;
	case DIR_PASS:
		return from == DIR_IDLE;
	case DIR_FAILED:
		return from != DIR_FAILED;
	case DIR_RETRY:
		return from == DIR_FAILED;
	}
	return false;
}

void dir_set_state(struct snk_dir *d, enum dir_state to, const char *why)
{
	if (d->state == to)
		return;
	if (!legal(d->state, to))
		log_error(d->role, "BUG: %s -> %s (%s)", dir_state_name(d->state), dir_state_name(to), why);
	log_noise(d->role, "%s -> %s: %s", dir_state_name(d->state), dir_state_name(to), why);
	d->state = to;
}

int dir_copying(const struct snk_dir *d)
{
	int n = 0;

	for (int t = 0; t < d->ntables; t++)
		n += d->tdirs[t].copy.active;
	return n;
}

/* Whether t has rows in the window whose cursors wait for their commits (w.pending). */
static bool pending_rows_of(const struct snk_dir *d, int t)
{
	const struct slot *p = d->w.pending;

	for (int i = 0; p && i < p->ncursors; i++) {
		if (p->cursors[i].table == t && p->cursors[i].rows > 0)
			return true;
	}
	return false;
}

int64_t dir_lag_ms(const struct snk_dir *d, int64_t now_ms)
{
	/* not caught up while a window's cursors wait for its rows' commits */
	bool quiet = !d->wake_pending && dir_copying(d) == 0 && !d->w.pending;

	if (quiet && (d->state == DIR_IDLE || (d->state == DIR_PASS && d->w.rows == 0)))
		return 0; /* nothing to read, or a poll that has found nothing yet */
	return d->stats.prev_taken_ms ? now_ms - d->stats.prev_taken_ms : now_ms - d->app->started_ms;
}

int64_t dir_table_lag_ms(const struct snk_dir *d, int t, int64_t now_ms)
{
	const struct snk_tdir *td = &d->tdirs[t];

	if (!td->wake && !td->copy.active && (!td->in_pass || d->state != DIR_PASS || td->pass_rows == 0) &&
	    !pending_rows_of(d, t))
		return 0;
	return td->committed_taken_ms ? now_ms - td->committed_taken_ms : now_ms - d->app->started_ms;
}

uint64_t dir_pending_rows(const struct snk_dir *d)
{
	uint64_t n = d->state == DIR_PASS ? d->w.rows - d->stats.pass_committed : 0;

	/* and the rows of earlier passes still committing (their cursors aside, w.pending) */
	for (int i = 0; d->w.pending && i < d->nslots; i++) {
		const struct slot *s = &d->slots[i];

		if (apply_before_pending(d, s) && !s->checking)
			n += (uint64_t)s->batch.nrows;
	}
	return n;
}

/* ---- failures ---- */

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_dir *d = arg;

	if (d->state == DIR_RETRY) {
		dir_set_state(d, DIR_WAIT, "backoff over");
		dir_kick(d);
	}
}

void dir_fail(struct snk_dir *d, const struct pgconn_error *err, const char *why)
{
	if (d->state == DIR_FAILED)
		return;
	d->stats.errors++;
	d->last_fail_conn = err && err->conn_lost;
	if (err)
		snprintf(d->last_error, sizeof(d->last_error), "%s: %s (SQLSTATE %s)", why, err->message, err->sqlstate);
	else
		snprintf(d->last_error, sizeof(d->last_error), "%s", why);
	if (d->last_fail_conn)
		log_warn(d->role, "pass interrupted by a lost connection; will resume from the stored cursors");
	else
		log_error(d->role, "%s; will retry from the stored cursors", d->last_error);
	dir_set_state(d, DIR_FAILED, why);
	window_drop(d);
	d->stats.pass_started_ms = 0;
	dir_check_drained(d);
}

void dir_check_drained(struct snk_dir *d)
{
	long delay;
	struct timeval tv;

	if (d->state != DIR_FAILED || d->units > 0)
		return;
	window_drained(d);
	if (d->last_fail_conn || d->app->stopping) {
		dir_set_state(d, DIR_WAIT, "drained");
		dir_kick(d);
		return;
	}
	/* A database error that is not a lost connection: back off, 1 s doubling to 30 s. */
	delay = 1000;
	for (int i = 0; i < d->failures && delay < RETRY_MAX_MS; i++)
		delay *= 2;
	if (delay > RETRY_MAX_MS)
		delay = RETRY_MAX_MS;
	d->failures++;
	dir_set_state(d, DIR_RETRY, "drained after a database error");
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(d->retry_timer, &tv);
}

/* ---- loading the cursors ---- */

/* The load unit on the destination: 0 its identity, then one cursor per table. */
static void load_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;
	bool ok;

	if (stmt == 0)
		ok = db_read_identity(res, d->dst_ident, sizeof(d->dst_ident), d->dst->sync_commit,
				      sizeof(d->dst->sync_commit));
	else if (stmt <= d->ntables)
		ok = db_read_cursor(res, &d->tdirs[stmt - 1].stored);
	else
		ok = false;
	if (!ok)
		d->load_bad = true;
}

/* The load unit on the source: 0 its identity, 1 its snapshot and WAL positions. */
static void src_identity_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;

	if (stmt == 0) {
		if (!db_read_identity(res, d->src_ident, sizeof(d->src_ident), NULL, 0))
			d->load_bad = true;
		return;
	}
	snapshot_clear(&d->src_now);
	if (stmt != 1 || !db_read_pass_snapshot(res, &d->src_now, &d->load_lsn, &d->load_flushed))
		d->load_bad = true;
	else if (d->src_now.xmax > d->read_hw)
		d->read_hw = d->src_now.xmax; /* a process before this one may have read up to here */
}

static void start_first_copy(struct snk_tdir *td)
{
	snapshot_clear(&td->copy.start);
	memset(&td->copy, 0, sizeof(td->copy));
	td->copy.active = true;
}

/* Sets t's prev from its stored cursor (false: out of memory); *mark: a new debt of a
 * reconcile must be stored before any window. */
static bool judge_cursor(struct snk_dir *d, int t, bool *mark)
{
	struct snk_tdir *td = &d->tdirs[t];
	struct snk_cursor *cur = &td->stored;

	*mark = false;
	snapshot_clear(&td->copy.start);
	memset(&td->copy, 0, sizeof(td->copy));
	if (!cur->found || strcmp(cur->snapshot.text, SNAPSHOT_INITIAL) == 0) {
		/* The cursor row is written now, with its debt: a reconcile that finishes before
		 * the first copy commits then has a row to settle (SQL_CURSOR_MARK). */
		log_info(d->role, "no cursor in %s yet: copying every row of %s from %s; a reconcile follows",
			 d->dst->name, td->t->label, d->src->name);
		*mark = !cur->found;
		start_first_copy(td);
		if (cur->found)
			dir_still_owes_reconcile(d, t, "first start"); /* stored by an earlier load */
		else
			dir_owes_reconcile(d, t, "first start");
		return snapshot_set(&td->prev, SNAPSHOT_INITIAL);
	}
	/* The source's counter is below the cursor's xmax: it hands out again xmax - 1, an xid
	 * the cursor saw end (pg_current_snapshot's xmax is one past the latest ended xid). A
	 * crash never does that to a stored cursor, whose every ended xid has its WAL on disk
	 * (snk_durable): the source was restored. */
	if ((cur->src_ident[0] && strcmp(cur->src_ident, d->src_ident) != 0) || cur->snapshot.xmax > d->src_now.xmax) {
		log_warn(d->role, "database %s is not the one the cursor %s of %s was taken in (then %s, now %s, with xids"
			 " below %llu): discarding the cursor, copying from now on, reconciling the rest", d->src->name,
			 cur->snapshot.text, td->t->label, cur->src_ident[0] ? cur->src_ident : "unknown", d->src_ident,
			 (unsigned long long)d->src_now.xmax);
		*mark = true;
		d->load_unflushed = true;
		dir_owes_reconcile(d, t, "a database was replaced or restored");
		return snapshot_set(&td->prev, d->src_now.text);
	}
	if (d->ntables == 1)
		log_info(d->role, "resuming from cursor %s", cur->snapshot.text); /* as one-table snk always said */
	else if (d->ntables <= 3)
		log_info(d->role, "resuming %s from cursor %s", td->t->label, cur->snapshot.text);
	/* a debt still owed may be a replacing cursor's whose wait was cut short (wait_flushed) */
	d->load_unflushed |= cur->reconcile_pending;
	if (cur->dst_ident[0] && strcmp(cur->dst_ident, d->dst_ident) != 0) {
		log_warn(d->role, "database %s is not the one the cursor of %s was stored in (then %s, now %s): a"
			 " reconcile brings back the rows it lost", d->dst->name, td->t->label, cur->dst_ident, d->dst_ident);
		*mark = true;
		dir_owes_reconcile(d, t, "a database was replaced or restored");
	} else if (cur->reconcile_pending) {
		dir_still_owes_reconcile(d, t, "a reconcile was owed and had not finished");
	}
	return snapshot_set(&td->prev, cur->snapshot.text);
}

static void cursors_loaded(struct snk_dir *d)
{
	struct snk_app *app = d->app;

	/* The loaded (or replacing) cursors are what the destination holds. */
	for (int t = 0; t < d->ntables; t++) {
		struct snk_tdir *td = &d->tdirs[t];

		if (!snapshot_set(&td->committed, td->prev.text) || !snapshot_set(&td->stored.snapshot, td->prev.text)) {
			dir_fail(d, NULL, "out of memory");
			return;
		}
		td->wake = true; /* catch up at once */
		td->cursor_owed = false; /* the row holds prev */
		td->committed_taken_ms = 0;
		td->notified_ms = clock_now_ms();
	}
	d->wake_pending = true;
	d->loaded = true;
	dir_set_state(d, DIR_IDLE, "cursors loaded");
	if (d->ntables > 3)
		log_info(d->role, "resuming %d tables from their cursors (%d in a first copy)", d->ntables, dir_copying(d));
	if (!app->ready) {
		bool all = true;

		/* every direction has loaded its cursors; with three databases or more, those
		 * of a database whose locks this snk lacks (it is down) are not waited for */
		for (int i = 0; i < app->ndir; i++) {
			const struct snk_dir *o = &app->dir[i];

			all = all && ((o->state != DIR_WAIT && o->state != DIR_LOADING) ||
				      (app->ndb >= 3 && (o->src->lock != SIDE_LOCK_HELD || o->dst->lock != SIDE_LOCK_HELD)));
		}
		app->ready = all;
		if (all && app->on_ready)
			app->on_ready(app);
	}
	dir_kick(d);
}

static void wait_flushed(struct snk_dir *d);
static bool read_free(const struct snk_dir *d);

/* A session that went away, or was not ready, said as a lost connection. */
static void set_not_ready(struct pgconn_error *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->sqlstate, sizeof(e->sqlstate), "08006");
	snprintf(e->message, sizeof(e->message), "connection not ready");
	e->conn_lost = true;
}

static void fail_lost(struct snk_dir *d, const char *why)
{
	struct pgconn_error lost;

	set_not_ready(&lost);
	dir_fail(d, &lost, why);
}

/* The answer of a load's unit: false when the load is over (it ended meanwhile, or this
 * unit failed: then it fails, saying why). */
static bool load_unit_ok(struct snk_dir *d, const struct pgconn_error *err, const char *why)
{
	d->units--;
	if (d->state != DIR_LOADING) {
		dir_check_drained(d);
		return false;
	}
	if (err) {
		dir_fail(d, err, why);
		return false;
	}
	return true;
}

static void flushed_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;
	char ident[sizeof(d->src_ident)];

	(void)stmt;
	if (!db_read_wal_flushed(res, &d->load_flushed, ident, sizeof(ident)))
		d->load_bad = true;
	else if (strcmp(ident, d->src_ident) != 0)
		d->flush_elsewhere = true;
}

static void flushed_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;

	if (!load_unit_ok(d, err, "reading how far the source's WAL is on disk"))
		return;
	if (d->load_bad) {
		dir_fail(d, NULL, "the source's WAL flush position is not a number");
		return;
	}
	if (d->flush_elsewhere) {
		fail_lost(d, "a session of the source's reached another server while its WAL was awaited");
		return;
	}
	wait_flushed(d);
}

static void flush_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_dir *d = arg;
	struct snk_pgconn *c;

	(void)fd;
	(void)what;
	if (d->state != DIR_LOADING)
		return;
	/* A statement of its own, on a write session of the source's (which needs no turn),
	 * else on its read session outside any other direction's pass (whose transaction may
	 * have failed): the flush position is the server's, whatever the snapshot. */
	if (d->src->write_ok) {
		c = side_spare_write(d->src);
	} else if (read_free(d)) {
		c = d->src->read;
	} else {
		wait_flushed(d);
		return;
	}
	if (!pgconn_begin(c, flushed_result_cb, flushed_done_cb, d)) {
		fail_lost(d, "reading how far the source's WAL is on disk");
		return;
	}
	d->units++;
	db_send_wal_flushed(c);
	pgconn_end(c);
}

/* A cursor replaced by src_now is stored unlike the passes' (snk_durable): nothing said
 * yet that the source's WAL is on disk past the ends of the xids src_now sees end. Were a
 * reconcile to settle the replacement's debt before the source flushed, a crash of the
 * source would hand those xids out again, to rows the cursor skips with no debt left to
 * bring them. Neither a window nor a reconcile of the pair (d->loaded) comes before the
 * source's WAL is flushed up to load_lsn: at the WAL writer's next round after an
 * asynchronous commit (wal_writer_delay), longer when only an open transaction wrote
 * since (docs/DESIGN.md). Looked at every 10 ms, then less often, up to every 100 ms. A
 * load that finds a debt still owed waits the same way, for a replacing cursor whose wait
 * a crash of snk or a lost session cut short. A stop or a change of the tables ends the
 * wait (the debt is stored, and the next load waits again); a session lost meanwhile
 * fails it, as a lost connection (dir_session): the next server's WAL positions are not
 * comparable with these. */
static void wait_flushed(struct snk_dir *d)
{
	struct timeval poll = { 0, 0 };
	long ms = 10L << (d->flush_polls < 4 ? d->flush_polls : 4);

	if (d->app->stopping || d->app->tables_pending) {
		dir_set_state(d, DIR_WAIT, d->app->stopping ? "stopping" : "the tables change");
		return;
	}
	if (d->dst->lock != SIDE_LOCK_HELD || d->dst->lock_epoch != d->dst_epoch) {
		dir_fail(d, NULL, "the destination's writer locks changed while the source's WAL was awaited");
		return;
	}
	if (d->load_flushed >= d->load_lsn) {
		cursors_loaded(d);
		return;
	}
	d->flush_polls++;
	poll.tv_usec = (ms < 100 ? ms : 100) * 1000;
	evtimer_add(d->flush_timer, &poll);
}

static void loaded_when_flushed(struct snk_dir *d)
{
	if (!d->load_unflushed) {
		cursors_loaded(d);
		return;
	}
	if (d->load_flushed < d->load_lsn)
		log_info(d->role, "waiting for %s to write its WAL to disk up to the cursor that owes a reconcile (%llu bytes"
			 " to go; its WAL writer flushes every wal_writer_delay)", d->src->name,
			 (unsigned long long)(d->load_lsn - d->load_flushed));
	wait_flushed(d);
}

static void mark_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;

	if (load_unit_ok(d, err, "recording that a cursor owes a reconcile"))
		loaded_when_flushed(d);
}

/* Stores the debts the load found, before any window: one unit for every table's. */
static bool store_marks(struct snk_dir *d, const bool *mark)
{
	struct snk_pgconn *c = d->dst->write;

	if (!pgconn_begin(c, NULL, mark_done_cb, d)) {
		dir_fail(d, NULL, "destination connection not ready");
		return false;
	}
	d->units++;
	/* A debt found here may be found no more at the next load (the source's counter has
	 * passed a restored cursor by then): it is durable before any window, whatever the
	 * config says of snk's other commits. */
	if (strcmp(d->app->cfg->synchronous_commit, "off") == 0)
		db_send_commit_durable_here(c);
	for (int t = 0; t < d->ntables; t++) {
		if (mark[t])
			db_send_cursor_mark(c, d->tdirs[t].source_key, d->tdirs[t].prev.text, d->src_ident, d->dst_ident);
	}
	pgconn_end(c);
	return true;
}

static void load_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;
	bool *mark, any = false;

	d->units--;
	if (err && !d->load_error.sqlstate[0])
		d->load_error = *err;
	if (--d->load_pending > 0)
		return;
	if (d->state != DIR_LOADING) {
		dir_check_drained(d);
		return;
	}
	if (d->load_error.sqlstate[0] || d->load_bad) {
		dir_fail(d, d->load_error.sqlstate[0] ? &d->load_error : NULL,
			 d->load_error.sqlstate[0] ? "loading the cursors" : "a stored cursor is not a valid snapshot");
		return;
	}
	/* The cursors were read under a grant of the destination's locks that has ended since
	 * (the source's answer came last): another snk may have moved them meanwhile, and a
	 * mark written now would set them back. */
	if (d->dst->lock != SIDE_LOCK_HELD || d->dst->lock_epoch != d->dst_epoch) {
		dir_fail(d, NULL, "the destination's writer locks changed while the cursors were read");
		return;
	}
	mark = calloc((size_t)d->ntables + 1, sizeof(bool));
	for (int t = 0; mark && t < d->ntables; t++) {
		if (!judge_cursor(d, t, &mark[t])) {
			free(mark);
			mark = NULL;
		} else {
			any |= mark[t];
		}
	}
	if (!mark) {
		dir_fail(d, NULL, "out of memory loading the cursors");
		return;
	}
	if (!any)
		loaded_when_flushed(d);
	else
		(void)store_marks(d, mark);
	free(mark);
}

static void load_cursors(struct snk_dir *d)
{
	window_drop_pending(d); /* the cursors loaded now must not be overwritten by older ones */
	d->load_bad = false;
	d->load_unflushed = false;
	d->loaded = false;
	d->flush_polls = 0;
	d->flush_elsewhere = false;
	evtimer_del(d->flush_timer);
	d->dst_epoch = d->dst->lock_epoch;
	/* what was flushed on the source is known again from the next pass: the source may be
	 * another server now (a promoted standby), whose WAL positions are not comparable */
	durable_clear(&d->durable);
	memset(&d->load_error, 0, sizeof(d->load_error));
	d->load_pending = 0;
	if (pgconn_begin(d->dst->write, load_result_cb, load_done_cb, d)) {
		d->units++;
		d->load_pending++;
		db_send_identity(d->dst->write);
		for (int t = 0; t < d->ntables; t++)
			db_send_cursor_load(d->dst->write, d->tdirs[t].source_key);
		pgconn_end(d->dst->write);
	}
	if (pgconn_begin(d->src->read, src_identity_cb, load_done_cb, d)) {
		d->units++;
		d->load_pending++;
		db_send_identity(d->src->read);
		db_send_source_position(d->src->read);
		pgconn_end(d->src->read);
	}
	if (d->load_pending < 2) {
		/* A connection went away just now: its state callback brings the direction back
		 * to WAIT; an answer still coming is ignored. */
		set_not_ready(&d->load_error);
		if (d->load_pending == 0)
			return;
	}
	dir_set_state(d, DIR_LOADING, "sessions ready");
}

/* ---- moving on ---- */

/* The source's read session holds one transaction at a time: a pass (or a load of the
 * cursors, whose identity query must not run inside another direction's pass) of one
 * direction out of the source, the others waiting their turn. */
static bool read_free(const struct snk_dir *d)
{
	return !d->src->read_owner || d->src->read_owner == d;
}

void dir_read_release(struct snk_dir *d)
{
	struct snk_app *app = d->app;

	if (d->src->read_owner != d)
		return;
	d->src->read_owner = NULL;
	/* the other directions out of this database, in turn after d, until one takes it */
	for (int k = 1; k < app->ndir && !d->src->read_owner; k++) {
		struct snk_dir *o = &app->dir[(d->index + k) % app->ndir];

		if (o->src == d->src)
			dir_kick(o);
	}
}

void dir_kick(struct snk_dir *d)
{
	struct snk_app *app = d->app;

	switch (d->state) {
	case DIR_WAIT:
		if (app->stopping || app->tables_pending || !d->src->read_ok || !d->dst->write_ok || !read_free(d))
			return;
		load_cursors(d);
		return;
	case DIR_IDLE:
		if (!d->src->read_ok || !d->dst->write_ok) {
			dir_set_state(d, DIR_WAIT, "a session went away");
			return;
		}
		if ((d->wake_pending || dir_copying(d) > 0) && !app->paused && !app->stopping && !app->tables_pending &&
		    read_free(d))
			window_start(d);
		return;
	default:
		return;
	}
}

void dir_pass_over(struct snk_dir *d)
{
	dir_set_state(d, DIR_IDLE, "pass over");
	dir_kick(d);
}

void dir_wake(struct snk_dir *d, int t)
{
	if (t >= 0) {
		d->tdirs[t].wake = true;
		d->tdirs[t].notified_ms = clock_now_ms();
		d->src->notified[t] = true; /* its trigger fires, whatever the last check said */
	}
	for (int i = 0; t < 0 && i < d->ntables; i++)
		d->tdirs[i].wake = true;
	d->wake_pending = true;
	if (d->state == DIR_IDLE)
		dir_kick(d);
}

void dir_wake_poll(struct snk_dir *d, uint64_t tick)
{
	bool any = false;

	for (int t = 0; t < d->ntables; t++) {
		if (d->src->notified[t] && (tick + (uint64_t)t) % SNK_POLL_NOTIFIED_EVERY != 0 &&
		    !d->tdirs[t].cursor_owed)
			continue;
		d->tdirs[t].wake = true;
		any = true;
	}
	if (!any)
		return;
	d->wake_pending = true;
	if (d->state == DIR_IDLE)
		dir_kick(d);
}

void dir_session(struct snk_dir *d, bool ready)
{
	if (ready) {
		dir_kick(d);
		return;
	}
	/* a pass may still end on the old cursors; the next read may be another server's */
	durable_clear(&d->durable);
	/* cursors put aside were made from what that server had flushed: never sent (the
	 * stored ones are older, and what they leave is read again) */
	window_drop_pending(d);
	if (d->state == DIR_IDLE) {
		dir_set_state(d, DIR_WAIT, "a session went away");
	} else if (d->state == DIR_LOADING && d->flush_polls > 0) {
		/* waiting for the source's WAL, whose looks go to another session: its answer
		 * (flushed_done_cb) finds the direction failed */
		evtimer_del(d->flush_timer);
		fail_lost(d, "a session went away while the source's WAL was awaited");
	}
}

/* ---- lifecycle ---- */

bool dir_init(struct snk_dir *d, struct snk_app *app, int src, int dst)
{
	memset(d, 0, sizeof(*d));
	d->app = app;
	d->index = sync_dir_index(app->ndb, src, dst);
	d->src = &app->side[src];
	d->dst = &app->side[dst];
	snprintf(d->name, sizeof(d->name), "%s_to_%s", d->src->name, d->dst->name);
	snprintf(d->role, sizeof(d->role), "%s->%s", d->src->name, d->dst->name);
	d->ntables = app->ntables;
	d->tdirs = calloc((size_t)d->ntables + 1, sizeof(*d->tdirs));
	d->retry_timer = evtimer_new(app->base, retry_cb, d);
	d->flush_timer = evtimer_new(app->base, flush_timer_cb, d);
	if (!d->tdirs || !d->retry_timer || !d->flush_timer)
		return false;
	for (int t = 0; t < d->ntables; t++) {
		struct snk_tdir *td = &d->tdirs[t];

		td->t = &app->tables[t];
		td->avg_row_bytes = 256;
		if (asprintf(&td->source_key, "%s:%s", d->src->name, td->t->label) < 0) {
			td->source_key = NULL;
			return false;
		}
	}
	return window_init(d);
}

static void tdir_clear(struct snk_tdir *td)
{
	free(td->source_key);
	snapshot_clear(&td->prev);
	snapshot_clear(&td->committed);
	snapshot_clear(&td->stored.snapshot);
	snapshot_clear(&td->copy.start);
}

static bool same_table(const struct snk_table *a, const struct snk_table *b)
{
	return strcmp(a->label, b->label) == 0 &&
	       (a->key_param == b->key_param || (a->key_param && b->key_param && strcmp(a->key_param, b->key_param) == 0));
}

bool dir_set_tables(struct snk_dir *d, struct snk_table *tables, int ntables)
{
	struct snk_tdir *fresh = calloc((size_t)ntables + 1, sizeof(*fresh));

	if (!fresh)
		return false;
	for (int t = 0; t < ntables; t++) {
		struct snk_tdir *td = &fresh[t];

		for (int o = 0; o < d->ntables && !td->t; o++) {
			if (d->tdirs[o].t && same_table(d->tdirs[o].t, &tables[t])) {
				*td = d->tdirs[o]; /* moved: its figures and cursors go on */
				memset(&d->tdirs[o], 0, sizeof(d->tdirs[o]));
			}
		}
		if (!td->t) {
			td->avg_row_bytes = 256;
			if (asprintf(&td->source_key, "%s:%s", d->src->name, tables[t].label) < 0)
				td->source_key = NULL;
		}
		td->t = &tables[t];
		if (!td->source_key) {
			for (int k = 0; k <= t; k++)
				tdir_clear(&fresh[k]);
			free(fresh);
			return false;
		}
	}
	for (int o = 0; o < d->ntables; o++)
		tdir_clear(&d->tdirs[o]); /* the tables no longer synced */
	free(d->tdirs);
	d->tdirs = fresh;
	d->ntables = ntables;
	window_free(d);
	memset(&d->w, 0, sizeof(d->w));
	d->caught_up = false;
	if (!window_init(d))
		return false;
	if (d->state != DIR_WAIT)
		dir_set_state(d, DIR_WAIT, "the tables changed");
	return true;
}

void dir_free(struct snk_dir *d)
{
	window_free(d);
	for (int t = 0; d->tdirs && t < d->ntables; t++)
		tdir_clear(&d->tdirs[t]);
	free(d->tdirs);
	if (d->retry_timer)
		event_free(d->retry_timer);
	if (d->flush_timer)
		event_free(d->flush_timer);
	snapshot_clear(&d->src_now);
	durable_clear(&d->durable);
	memset(d, 0, sizeof(*d));
}
