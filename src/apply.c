/* apply.c - the destination side of a pass (dir.h): batches INSERTed into Y on its write
 * sessions, the conflict check of what they skipped, batches that met a missing parent and
 * go again, and the final batch that commits the pass's cursors with its last rows.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/clock.h"
#include "snk/dir.h"
#include "snk/log.h"
#include "snk/sync.h"

/* Whether t references or is referenced by a synced table in the destination. */
/* ---- destination side: batches and the cursors ---- */

static void conflicts_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct slot *s = arg;
	struct snk_dir *d = s->dir;
	struct snk_tdir *td = &d->tdirs[s->table];
	int n = db_read_ntuples(res);

	for (int i = 0; i < n; i++) {
		char key[512];
		bool refused;

		db_key_label(td->t, db_read_conflict(res, i, &refused), key, sizeof(key));
		if (refused)
			log_warn(d->role, "conflict: %s%s%s is refused by %s: " SNK_REFUSED_WHY "; kept in %s only, left for"
				 " a person", d->ntables > 1 ? td->t->label : "", d->ntables > 1 ? " " : "", key, d->dst->name,
				 d->src->name);
		else
			log_warn(d->role, "conflict: %s%s%s has different data in %s and %s; both kept, left for a person",
				 d->ntables > 1 ? td->t->label : "", d->ntables > 1 ? " " : "", key, d->src->name, d->dst->name);
	}
	d->stats.conflicts += (uint64_t)n;
	td->stats.conflicts += (uint64_t)n;
	d->stats.rows_present += (uint64_t)s->batch.nrows - s->inserted - (uint64_t)n;
	td->stats.rows_present += (uint64_t)s->batch.nrows - s->inserted - (uint64_t)n;
}

static void unit_end(struct snk_dir *d, struct slot *s)
{
	d->units--;
	d->w.inflight--;
	s->lane->units--;
}

static void unit_begin(struct snk_dir *d, struct slot *s)
{
	d->units++;
	d->w.inflight++;
	s->lane->units++;
}

static void conflicts_done_cb(void *arg, const struct pgconn_error *err)
{
	struct slot *s = arg;
	struct snk_dir *d = s->dir;

	unit_end(d, s);
	window_slot_put(s);
	if (d->state == DIR_FAILED) {
		dir_check_drained(d);
		return;
	}
	if (err) {
		dir_fail(d, err, "checking skipped rows for conflicts");
		return;
	}
	apply_send_pending(d);
	if (d->state == DIR_PASS)
		window_progress(d);
}

static void batch_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct slot *s = arg;

	if (stmt == 0 && s->batch.nrows > 0)
		s->inserted = db_read_affected(res);
}

static void window_committed(struct snk_dir *d, struct slot *s);

static void batch_committed(struct snk_dir *d, struct slot *s)
{
	struct snk_tdir *td = &d->tdirs[s->table];
	int64_t now = clock_now_ms();

	d->stats.rows_copied += s->inserted;
	td->stats.rows_copied += s->inserted;
	if (s->pass_seq == d->w.seq)
		d->stats.pass_committed += (uint64_t)s->batch.nrows;
	d->stats.batches++;
	s->lane->batches++;
	d->stats.last_copy_ms = now;
	rate_add(&d->stats.copied_rate, now / 1000, s->inserted);
	hist_observe(&d->stats.apply, (double)(clock_mono_us() - s->sent_us) / 1e6);
}

static void batch_done_cb(void *arg, const struct pgconn_error *err)
{
	struct slot *s = arg;
	struct snk_dir *d = s->dir;
	struct snk_pgconn *c = s->lane->conn;

	unit_end(d, s);
	/* A batch of an abandoned pass. A final batch can outlive its pass without it being
	 * abandoned: the next pass starts as soon as it is sent (window_handoff). */
	if (d->state == DIR_FAILED) {
		window_slot_put(s);
		dir_check_drained(d);
		return;
	}
	if (err && !err->conn_lost && !s->on_conflict &&
	    (strcmp(err->sqlstate, "23505") == 0 || strcmp(err->sqlstate, "23P01") == 0)) {
		/* The plain INSERT met a key that is already there (a window read again after a
		 * crash, rows written on both sides, a conflict). Its transaction rolled back
		 * whole, cursors included; send it again with ON CONFLICT DO NOTHING, and the
		 * rest of this pass too. */
		d->w.optimistic = false;
		d->stats.insert_retries++;
		log_debug(d->role, "a batch of %d rows met existing keys; resending with ON CONFLICT DO NOTHING",
			  s->batch.nrows);
		s->on_conflict = true;
		apply_send(d, s, s->final);
		return;
	}
	if (err && !err->conn_lost && !s->final && strcmp(err->sqlstate, "23503") == 0 &&
	    s->pass_seq == d->w.seq && d->state == DIR_PASS) {
		/* A missing parent: its batch may be committing on another session, or be read
		 * later in this pass (a row of the same table). Kept, and sent again once
		 * everything else has committed. */
		s->deferred = true;
		d->w.deferred++;
		d->w.fk_error = *err;
		d->stats.fk_retries++;
		log_debug(d->role, "a batch of %d rows of %s met a missing parent; sent again later: %s", s->batch.nrows,
			  d->tdirs[s->table].t->label, err->message);
		window_progress(d);
		return;
	}
	if (err) {
		window_slot_put(s);
		dir_fail(d, err, s->final ? "committing the last batch and the cursors" : "inserting a batch");
		return;
	}
	if (s->resent)
		d->w.resent_ok++;
	if (s->batch.nrows > 0)
		batch_committed(d, s);
	if (s->final)
		window_committed(d, s);
	if (s->inserted < (uint64_t)s->batch.nrows) {
		/* Some keys were already there: same data (a replay) or a conflict. Rows never
		 * change, so this check may run after the commit. */
		if (pgconn_begin(c, conflicts_result_cb, conflicts_done_cb, s)) {
			s->checking = true;
			unit_begin(d, s);
			db_send_conflicts(c, d->tdirs[s->table].t, &s->batch);
			pgconn_end(c);
			return;
		}
		window_slot_put(s);
		dir_fail(d, NULL, "destination connection not ready for the conflict check");
		return;
	}
	window_slot_put(s);
	apply_send_pending(d);
	if (d->state == DIR_PASS)
		window_progress(d);
}

void apply_send(struct snk_dir *d, struct slot *s, bool final)
{
	struct snk_pgconn *c;
	bool ok;

	if (final && (d->dst->lock != SIDE_LOCK_HELD || d->dst->lock_epoch != d->dst_epoch || !d->dst->write_ok)) {
		/* the cursors were read under locks this snk no longer holds: read them again */
		window_slot_put(s);
		dir_fail(d, NULL, "the writer locks changed hands since the cursors were read");
		return;
	}
	s->lane = side_pick_lane(d->dst, final || s->resent || fk_graph_linked(&d->dst->fk, s->table));
	c = s->lane->conn;
	s->final = final;
	if (!s->on_conflict)
		s->on_conflict = !d->w.optimistic;
	s->sent_us = clock_mono_us();
	if (!pgconn_begin(c, batch_result_cb, batch_done_cb, s)) {
		window_slot_put(s);
		dir_fail(d, NULL, "destination connection not ready");
		return;
	}
	unit_begin(d, s);
	ok = s->batch.nrows == 0 || db_send_insert(c, d->tdirs[s->table].t, &s->batch, s->on_conflict);
	for (int i = 0; ok && final && i < s->ncursors; i++) {
		const struct final_cursor *f = &s->cursors[i];

		if (f->store)
			ok = db_send_cursor_store(c, d->tdirs[f->table].source_key, f->stored, f->rows, d->src_ident,
						  d->dst_ident);
	}
	(void)ok; /* on failure the loss handler fails this unit */
	pgconn_end(c);
	/* Fault injection for the test suite (SNK_TEST_CRASH_AFTER_COMMITS): die the hard
	 * way with the commit of rows and cursor on the wire, its outcome unknown. */
	if (final && d->app->crash_after_commits > 0 && --d->app->crash_after_commits == 0)
		raise(SIGKILL);
}

/* The batches that met a missing parent, sent again in the order of their tables, on the
 * first write session (in order: each commits before the next starts). A round in which
 * none commits, with nothing left to read, is a parent that is not coming: the pass fails
 * with the server's message, which names the table and the constraint. */
bool apply_resend_deferred(struct snk_dir *d, bool read_complete)
{
	struct snk_window *w = &d->w;

	if (w->deferred == 0) {
		w->resending = false;
		return false;
	}
	if (w->inflight > 0)
		return false;
	if (w->resending) {
		/* a round has come back, and some of it is still waiting */
		w->resending = false;
		if (w->resent_ok == 0 && (read_complete || w->deferred >= SNK_DEFER_MAX)) {
			dir_fail(d, &w->fk_error, "inserting a batch whose parent row is not in the destination");
			return true;
		}
		if (w->resent_ok == 0)
			return false; /* its parent may still be read */
	} else if (!read_complete && w->deferred < SNK_DEFER_MAX) {
		return false;
	}
	if (w->held) {
		/* The last batch may hold the parents the others wait for: it goes with them,
		 * and an empty final batch carries the cursors. */
		w->held->deferred = true;
		w->deferred++;
		w->held = NULL;
	}
	w->resending = true;
	w->resent_ok = 0;
	for (int r = 0; r < d->ntables; r++) {
		for (int i = 0; i < d->nslots; i++) {
			struct slot *s = &d->slots[i];

			if (!s->busy || !s->deferred || d->dst->fk.rank[s->table] != r)
				continue;
			s->deferred = false;
			s->resent = true;
			w->deferred--;
			apply_send(d, s, false);
			if (d->state != DIR_PASS)
				return true;
		}
	}
	return true;
}

/* The snapshot td's cursor row may hold once this pass commits (NULL: none yet). Any
 * snapshot up to the one the rows were read under (the pass's, or the first copy's first
 * when it ends: the tail has read nothing after that) covers only rows the destination
 * then has; only one that the source's WAL is flushed past is safe to keep across a crash
 * of the source (snapshot.h). So: that one when it is safe, else the newest safe one of
 * the direction's passes (older, as its WAL position is lower), else what the row holds,
 * unless it holds "no cursor yet", which would copy the table again. */
static char *stored_snapshot(const struct snk_dir *d, const struct snk_tdir *td)
{
	const char *snap = d->durable.confirmed.text;

	if (td->copy.active && durable_safe(&d->durable, td->copy.start_lsn))
		snap = td->copy.start.text;
	else if (!snap && td->stored.snapshot.text && strcmp(td->stored.snapshot.text, SNAPSHOT_INITIAL) != 0)
		snap = td->stored.snapshot.text;
	return snap ? strdup(snap) : NULL;
}

/* The cursors the final batch commits: every table of the pass that is not in a first
 * copy, and the tables whose first copy ended with this pass. */
static bool final_cursors(struct snk_dir *d, struct slot *s)
{
	s->ncursors = 0;
	if (!s->cursors)
		s->cursors = calloc((size_t)d->ntables, sizeof(*s->cursors));
	if (!s->cursors)
		return false;
	for (int i = 0; i < d->w.ntables; i++) {
		int t = d->w.tables[i];
		struct snk_tdir *td = &d->tdirs[t];
		struct final_cursor *f = &s->cursors[s->ncursors];

		if (td->skipped || (td->copy.active && (td->copy.pages == 0 || td->copy.next_page < td->copy.pages)))
			continue;
		f->table = t;
		f->rows = td->pass_rows;
		f->copy_start = td->copy.active ? strdup(td->copy.start.text) : NULL;
		f->store = td->pass_rows > 0 || td->copy.active || td->cursor_owed;
		if (td->copy.active && !f->copy_start)
			return false;
		f->stored = f->store ? stored_snapshot(d, td) : NULL;
		/* Nothing safe to write: a first copy that ended before any snapshot was safe.
		 * An older safe snapshot is not owed: the window after a restart reads the
		 * difference again, and a table that keeps moving writes a newer one anyway. */
		f->owed = f->store && !f->stored;
		f->store = f->stored != NULL;
		s->ncursors++;
	}
	return true;
}

/* A table of the pass whose row still says "no cursor yet" after its first copy ended: a
 * pass without rows writes it, once a safe snapshot exists. */
static bool pass_owes_cursor(const struct snk_dir *d)
{
	for (int i = 0; d->durable.confirmed.text && i < d->w.ntables; i++) {
		const struct snk_tdir *td = &d->tdirs[d->w.tables[i]];

		if (td->cursor_owed && !td->skipped && !td->copy.active)
			return true;
	}
	return false;
}

static bool pass_had_copy_end(const struct snk_dir *d)
{
	for (int i = 0; i < d->w.ntables; i++) {
		const struct snk_tdir *td = &d->tdirs[d->w.tables[i]];

		if (td->copy.active && td->copy.pages > 0 && td->copy.next_page >= td->copy.pages)
			return true;
	}
	return false;
}

/* Every table the final batch names moves its prev: to the pass's snapshot, or, when its
 * first copy ended, to the copy's first snapshot (the tail reads everything after it). */
static bool move_prevs(struct snk_dir *d, const struct slot *s)
{
	for (int i = 0; i < s->ncursors; i++) {
		struct snk_tdir *td = &d->tdirs[s->cursors[i].table];

		if (!snapshot_set(&td->prev, s->cursors[i].copy_start ? s->cursors[i].copy_start : s->cursor.text))
			return false;
		if (td->copy.active) {
			td->copy.active = false;
			log_info(d->role, "first copy of %s done: %llu rows read from %s in %.1f s; the tail follows it from"
				 " here", td->t->label, (unsigned long long)td->copy.rows, d->src->name,
				 (double)(clock_now_ms() - td->copy.started_ms) / 1000);
		}
	}
	return true;
}

/* The window's last batch, with its cursors, is on its way: the next pass may start now,
 * while the batch commits. This saves a destination round trip and a commit per window.
 * It is safe for the same reasons as pipelining batches is: the next pass's final batch
 * waits until this one has committed (inflight), a failure anywhere reloads the stored
 * cursors, and ON CONFLICT absorbs what is read again. */
static void window_handoff(struct snk_dir *d, struct slot *s)
{
	if (!move_prevs(d, s)) {
		dir_fail(d, NULL, "out of memory");
		return;
	}
	d->stats.pass_started_ms = 0;
	dir_pass_over(d);
}

/* The final batch and its cursors have committed: every row they cover is in the
 * destination. */
static void window_committed(struct snk_dir *d, struct slot *s)
{
	for (int i = 0; i < s->ncursors; i++) {
		struct snk_tdir *td = &d->tdirs[s->cursors[i].table];
		const char *snap = s->cursors[i].copy_start ? s->cursors[i].copy_start : s->cursor.text;

		if (s->cursors[i].stored && !snapshot_set(&td->stored.snapshot, s->cursors[i].stored))
			snapshot_clear(&td->stored.snapshot); /* out of memory: only the newest safe one is written next */
		/* A cursor left unwritten leaves the debt as it is: a final put aside was made
		 * before the one ahead of it committed (apply_defer_final), which may have set it. */
		if (s->cursors[i].stored || s->cursors[i].owed)
			td->cursor_owed = s->cursors[i].owed;
		if (!snapshot_set(&td->committed, snap))
			continue; /* out of memory: the lag reads high until the next commit */
		td->committed_taken_ms = s->taken_ms;
	}
	d->stats.prev_taken_ms = s->taken_ms;
	d->stats.passes++;
	d->failures = 0;
	d->stats.last_pass_us = (clock_now_ms() - s->pass_started_ms) * 1000;
	if (dir_copying(d) == 0)
		d->caught_up = true;
	log_debug(d->role, "copied a window of %llu rows in %lld ms, cursor %s", (unsigned long long)s->window_rows,
		  (long long)(d->stats.last_pass_us / 1000), s->cursor.text);
}

/* A pass without rows: nothing to commit. Its snapshot is exact for the destination
 * once nothing of an earlier window is still committing. */
static void pass_complete(struct snk_dir *d)
{
	window_read_over(d); /* before the next pass's BEGIN, on the same session */
	for (int i = 0; i < d->w.ntables; i++) {
		struct snk_tdir *td = &d->tdirs[d->w.tables[i]];

		if (td->copy.active || td->skipped)
			continue;
		if (!snapshot_set(&td->prev, d->w.next.text) ||
		    (d->w.inflight == 0 && !snapshot_set(&td->committed, d->w.next.text))) {
			dir_fail(d, NULL, "out of memory");
			return;
		}
		if (d->w.inflight == 0)
			td->committed_taken_ms = d->stats.next_taken_ms;
	}
	if (d->w.inflight == 0) {
		d->stats.prev_taken_ms = d->stats.next_taken_ms;
		if (dir_copying(d) == 0)
			d->caught_up = true;
	}
	d->stats.passes++;
	d->failures = 0;
	d->stats.pass_started_ms = 0;
	dir_pass_over(d);
}

/* s becomes the pass's final batch: its cursors, its snapshot and the pass's figures.
 * False when out of memory: s is let go and the direction has failed. */
static bool make_final(struct snk_dir *d, struct slot *s)
{
	if (!final_cursors(d, s) || !snapshot_set(&s->cursor, d->w.next.text)) {
		window_slot_put(s);
		dir_fail(d, NULL, "out of memory");
		return false;
	}
	s->window_rows = d->w.rows;
	s->taken_ms = d->stats.next_taken_ms;
	s->pass_started_ms = d->stats.pass_started_ms;
	d->w.final_sent = true;
	return true;
}

static void send_final(struct snk_dir *d)
{
	struct slot *s = d->w.held ? d->w.held : window_slot_get(d, d->w.ntables ? d->w.tables[0] : 0);

	d->w.held = NULL;
	if (!s) {
		dir_fail(d, NULL, "BUG: no free slot for the cursor");
		return;
	}
	if (!make_final(d, s))
		return;
	apply_send(d, s, true);
	window_read_over(d);
	if (d->state == DIR_PASS)
		window_handoff(d, s);
}


/* Whether the pass's cursors may be made before the finals ahead of them have committed.
 * Not when a table of the pass is linked by a foreign key (its batches may meet a missing
 * parent and go again, which only their own pass does) or in its first copy, nor before
 * a snapshot of the direction is known to be safe: the cursor rows would then be made
 * from what the finals in flight are about to change (stored_snapshot's fallbacks). */
static bool may_defer_final(const struct snk_dir *d)
{
	if (d->w.pending || !d->durable.confirmed.text)
		return false;
	for (int i = 0; i < d->w.ntables; i++) {
		int t = d->w.tables[i];

		if (fk_graph_linked(&d->dst->fk, t) || d->tdirs[t].copy.active)
			return false;
	}
	return true;
}

/* The pass is read and its last page went beside a commit in flight (send_held_beside),
 * so all its rows are sent but not all committed. Its cursors are made now and put aside,
 * and the next pass starts at once instead of after those commits: a row that arrives
 * meanwhile is read while they commit, and its page can go beside them in turn. The
 * cursors are sent once every batch of this pass and of the passes before it has
 * committed (apply_send_pending), as send_final would send them, so that no cursor
 * commits ahead of the rows it covers; the next pass's own final waits for them
 * (window_progress). One pass's cursors at a time wait so, and only where
 * may_defer_final allows; a direction that leaves its passes drops them unsent
 * (window_drop_pending): the stored cursors are older, and what they leave is read again. */
bool apply_defer_final(struct snk_dir *d)
{
	struct slot *s;

	if (!may_defer_final(d))
		return false;
	s = window_slot_get(d, d->w.ntables ? d->w.tables[0] : 0);
	if (!s)
		return false;
	if (!make_final(d, s))
		return true;
	d->w.pending = s;
	d->stats.cursors_deferred++;
	window_restamp_ahead(d);
	window_handoff(d, s);
	return true;
}

bool apply_before_pending(const struct snk_dir *d, const struct slot *s)
{
	const struct slot *p = d->w.pending;

	return p && s->busy && s != p && s->pass_seq <= p->pass_seq;
}

void apply_send_pending(struct snk_dir *d)
{
	struct slot *p = d->w.pending;

	if (!p || d->state == DIR_FAILED)
		return;
	for (int i = 0; i < d->nslots; i++) {
		if (apply_before_pending(d, &d->slots[i]))
			return; /* a batch of its pass or an earlier one is still in flight */
	}
	d->w.pending = NULL;
	apply_send(d, p, true);
}

/* Every table of the pass has been read and every batch has committed: the final batch
 * with the cursors, or, when nothing moved, the pass ends without a commit. */
void apply_finish(struct snk_dir *d)
{
	if (d->w.held || d->w.rows > 0 || pass_had_copy_end(d) || pass_owes_cursor(d))
		send_final(d);
	else
		pass_complete(d); /* nothing new: the stored cursors stay, still exact */
}
