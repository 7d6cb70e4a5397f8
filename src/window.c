/* window.c - one pass of a direction X -> Y over every table that waits (dir.h).
 *
 *   1. On X, one unit: BEGIN REPEATABLE READ READ ONLY; pg_current_snapshot() as `next`,
 *      the snapshot of every table of the pass; with several tables, one probe per table:
 *      has it rows visible now but not in its `prev`? (one round trip for all of them)
 *   2. Table by table, parents before children (the destination's foreign keys): its new
 *      rows by one prepared SELECT of a page and a row; a window that holds more is read
 *      again by a cursor (as a first copy reads the next pages of its table by TID range),
 *      FETCHed by pages; each page becomes a batch, INSERTed into Y while the next page is
 *      read, up to max_batches_in_flight at once, spread over Y's write sessions.
 *   3. The last batch of the pass carries the cursors: snk.cursor := next (or the newest
 *      snapshot of X that X's WAL is flushed past: snk_durable) for every table that had
 *      rows, in the same transaction, sent once every earlier batch committed; then the
 *      read transaction on X ends.
 * The destination side (batches, conflicts, missing parents, the final batch) is apply.c.
 * A failure anywhere drops the pass, and the cursors are read again from Y (dir.c).
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/clock.h"
#include "snk/dir.h"
#include "snk/log.h"
#include "snk/sync.h"

/* How often a table's BRIN index on the source is summarized: at most one range's worth
 * of rows written in that time is read again by each window (docs/DESIGN.md). */
#define SUMMARIZE_EVERY_MS 200
/* At most this many tables are summarized by the unit that ends a read transaction. */
#define SUMMARIZE_PER_PASS 16
/* A first copy reads this many pages of its table per pass, so that the other tables'
 * passes never wait long behind it; a snk of one table reads it in one piece. */
#define COPY_PAGES_PER_PASS 2048
#define COPY_PAGES_ALL 4294967295ULL /* one past the last block number */

static bool self_ref(const struct snk_dir *d, int t)
{
	return d->dst->fk.self && d->dst->fk.self[t];
}

/* A table that references itself is copied in one piece too: a row of one piece could
 * reference a row of a later one, and the rest of the pass cannot bring it. */
static uint64_t copy_pages_per_pass(const struct snk_dir *d, int t)
{
	return d->ntables == 1 || self_ref(d, t) ? COPY_PAGES_ALL : COPY_PAGES_PER_PASS;
}

static void advance(struct snk_dir *d);

/* ---- slots ---- */

struct slot *window_slot_get(struct snk_dir *d, int table)
{
	for (int i = 0; i < d->nslots; i++) {
		struct slot *s = &d->slots[i];

		if (s->busy)
			continue;
		s->busy = true;
		s->final = s->on_conflict = s->deferred = s->resent = s->awaits_large = s->checking = false;
		s->inserted = 0;
		s->requested = s->fetched = 0;
		s->table = table;
		s->pass_seq = d->w.seq;
		s->ncursors = 0;
		if (!db_row_layout(d->tdirs[table].t, &s->batch)) {
			s->busy = false;
			log_error(d->role, "out of memory laying out a batch");
			return NULL;
		}
		return s;
	}
	return NULL;
}

void window_slot_put(struct slot *s)
{
	if (!s)
		return;
	s->busy = false;
	snapshot_clear(&s->cursor);
	for (int i = 0; i < s->ncursors; i++) {
		free(s->cursors[i].copy_start);
		free(s->cursors[i].stored);
		s->cursors[i].copy_start = s->cursors[i].stored = NULL;
	}
	s->ncursors = 0;
}

static int free_slots(const struct snk_dir *d)
{
	int n = 0;

	for (int i = 0; i < d->nslots; i++)
		n += !d->slots[i].busy;
	return n;
}

static int fetch_size(const struct snk_dir *d, const struct snk_tdir *td)
{
	const struct snk_config *cfg = d->app->cfg;
	double avg = td->avg_row_bytes < 16 ? 16 : td->avg_row_bytes;
	double n = (double)cfg->batch_max_bytes / avg;

	if (n > cfg->batch_rows)
		n = cfg->batch_rows;
	return n < 1 ? 1 : (int)n;
}

/* Values up to this many bytes travel inside window pages; longer ones are fetched by
 * key in groups of at most batch_max_bytes, so a page never holds more than about
 * batch_rows * inline_max bytes whatever the rows hold. */
static int inline_max(const struct snk_dir *d)
{
	int v = d->app->cfg->batch_max_bytes / d->app->cfg->batch_rows;

	return v < 1024 ? 1024 : v;
}

static struct snk_tdir *current(struct snk_dir *d)
{
	return d->w.pos < d->w.ntables ? &d->tdirs[d->w.tables[d->w.pos]] : NULL;
}

/* Every table of the pass has been read, large rows included. */
static bool read_complete(const struct snk_dir *d)
{
	return d->w.probed && d->w.pos >= d->w.ntables && !d->w.fetch_outstanding && !d->w.large_outstanding;
}

static enum snk_xid_type xid_type(const struct snk_dir *d, int t)
{
	return d->src->read_check.info[t].xid_type;
}

/* ---- the read transaction ---- */

static void close_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;
	bool done;
	uint64_t next;

	if (stmt < 1 || stmt > d->w.nsummarized || !db_read_summarize(res, &done, &next))
		return;
	struct snk_tdir *td = &d->tdirs[d->w.summarized[stmt - 1]];

	if (done && next != td->brin_next_block) {
		log_debug(d->role, "BRIN ranges of %s summarized up to block %llu", td->t->label, (unsigned long long)next);
		td->brin_next_block = next;
	}
}

static void close_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;

	d->units--;
	/* The read transaction is read-only: how it ends changes nothing. A lost connection
	 * is noticed by the next unit sent on it. A failed summarize aborts the unit's
	 * later statements: every table it named stops summarizing (logged once each). */
	for (int i = 0; err && !err->conn_lost && i < d->w.nsummarized; i++) {
		struct snk_tdir *td = &d->tdirs[d->w.summarized[i]];

		if (td->summarize_off)
			continue;
		td->summarize_off = true;
		log_warn(d->role, "cannot summarize the BRIN index on %s.snk_xid in database %s: %s; each read now"
			 " scans the table's unsummarized end until a VACUUM summarizes it (run 'snk migrate' as the"
			 " table's owner to fix)", td->t->label, d->src->name, err->message);
	}
	if (err && (err->conn_lost || d->w.nsummarized == 0))
		log_debug(d->role, "ending the read transaction: %s", err->message);
	d->w.nsummarized = 0;
	dir_check_drained(d);
}

/* Ends the read transaction; also summarizes the BRIN ranges the application filled
 * since, of the pass's tables not summarized for SUMMARIZE_EVERY_MS (outside the
 * transaction, never waiting for a lock). */
static void src_close(struct snk_dir *d, bool commit)
{
	struct snk_pgconn *c = d->src->read;
	int64_t now = clock_mono_us() / 1000;

	if (!pgconn_begin(c, close_result_cb, close_done_cb, d))
		return;
	d->units++;
	d->w.src_tx_open = false;
	d->w.cursor_open = false;
	if (commit)
		db_send_window_close(c);
	else
		db_send_rollback(c);
	d->w.nsummarized = 0;
	for (int i = 0; commit && i < d->w.ntables && d->w.nsummarized < SUMMARIZE_PER_PASS; i++) {
		int t = d->w.tables[i];
		struct snk_tdir *td = &d->tdirs[t];
		const char *brin = d->src->read_check.info[t].brin_index;

		if (!brin[0] || td->summarize_off || now - td->summarized_ms < SUMMARIZE_EVERY_MS)
			continue;
		td->summarized_ms = now;
		d->w.summarized[d->w.nsummarized++] = t;
		db_send_summarize(c, brin, td->brin_next_block);
	}
	pgconn_end(c);
	dir_read_release(d); /* the next BEGIN on the session comes after this unit */
}

/* ---- reading ---- */

static void page_arrived(struct snk_dir *d);
static bool read_begin(struct snk_dir *d);
static bool send_open_table(struct snk_dir *d, int first, bool by_cursor);

static void read_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;
	struct snk_window *w = &d->w;
	const struct read_map map = w->map;

	if (stmt == map.snapshot) {
		uint64_t flushed;

		snapshot_clear(&w->next);
		if (!db_read_pass_snapshot(res, &w->next, &w->next_lsn, &flushed)) {
			w->bad_result = true;
			return;
		}
		if (!durable_note(&d->durable, w->next.text, w->next_lsn, flushed))
			log_warn(d->role, "out of memory: the stored cursors stay where they are until a later pass");
		if (w->next.xmax > d->read_hw)
			d->read_hw = w->next.xmax;
	} else if (map.probes >= 0 && stmt >= map.probes && stmt < map.probes + w->ntables) {
		struct snk_tdir *td = &d->tdirs[w->tables[stmt - map.probes]];
		bool has;

		if (!db_read_bool(res, &has))
			w->bad_result = true;
		else
			td->has_rows = has;
	} else if (stmt == map.nblocks) {
		struct snk_tdir *td = &d->tdirs[w->fetch_table];
		uint64_t pages;

		if (!db_read_u64(res, &pages)) {
			w->bad_result = true;
		} else if (td->copy.pages == 0) {
			td->copy.pages = pages ? pages : 1;
			td->copy.started_ms = clock_now_ms();
			td->copy.start_lsn = w->next_lsn;
			if (!snapshot_set(&td->copy.start, w->next.text))
				w->bad_result = true;
		}
	} else if (stmt == map.rows) {
		struct snk_tdir *td = &d->tdirs[w->fetch_table];

		if (w->first_page && w->page && db_read_ntuples(res) > w->page->requested)
			w->first_overflow = true; /* read again by a cursor: read_done_cb */
		else if (!w->page || !db_read_window_rows(res, td->t, w->inline_max, &w->page->batch, &w->large, &td->ahead))
			w->bad_result = true;
		else
			w->page->fetched = db_read_ntuples(res);
	}
}

static void read_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;
	struct snk_window *w = &d->w;

	d->units--;
	w->fetch_outstanding = false;
	if (d->state != DIR_PASS) {
		window_slot_put(w->page);
		w->page = NULL;
		dir_check_drained(d);
		return;
	}
	if (err || w->bad_result) {
		window_slot_put(w->page);
		w->page = NULL;
		dir_fail(d, err, err ? "reading the window" : "BUG: unexpected result shape from the source");
		return;
	}
	if (!w->probed) {
		w->probed = true; /* the open unit of a pass over several tables: only probes */
		advance(d);
		return;
	}
	if (w->first_overflow) {
		/* The window holds more than a page: it is read by a cursor, from its start (the
		 * transaction's snapshot is the same). One page is read twice, once per window
		 * of that size, against the planning of a cursor at every window. */
		log_debug(d->role, "the window of %s holds more than %d rows: reading it by a cursor",
			  d->tdirs[w->fetch_table].t->label, w->page->requested);
		w->first_overflow = w->first_page = false;
		window_slot_put(w->page);
		w->page = NULL;
		if (read_begin(d)) {
			(void)send_open_table(d, 0, true);
			pgconn_end(d->src->read);
		}
		return;
	}
	page_arrived(d);
}

/* Sends a read unit on the source: the statements already queued by the caller between
 * pgconn_begin and here are described by m. */
static bool read_begin(struct snk_dir *d)
{
	if (!pgconn_begin(d->src->read, read_result_cb, read_done_cb, d)) {
		dir_fail(d, NULL, "source connection not ready");
		return false;
	}
	d->units++;
	d->w.fetch_outstanding = true;
	d->w.map = (struct read_map){ .snapshot = -1, .probes = -1, .nblocks = -1, .rows = -1 };
	return true;
}

static bool ancestor_copying(const struct snk_dir *d, int t, int depth)
{
	const struct fk_graph *g = &d->dst->fk;

	for (int j = g->pstart ? g->pstart[t] : 0; g->pstart && j < g->pstart[t + 1] && depth < d->ntables; j++) {
		int p = g->parents[j];

		if (d->tdirs[p].copy.active || ancestor_copying(d, p, depth + 1))
			return true;
	}
	return false;
}

/* Reads tables[pos]'s first page, in a unit that may already hold other statements at
 * index first: by one SELECT of a page and a row (a window that fits reads nothing more),
 * or, with by_cursor or in a first copy, by a cursor and its first FETCH. False when
 * there is nothing to open there. */
static bool send_open_table(struct snk_dir *d, int first, bool by_cursor)
{
	struct snk_window *w = &d->w;
	struct snk_tdir *td = current(d);
	int t = w->tables[w->pos];
	struct snk_pgconn *c = d->src->read;
	struct slot *s = window_slot_get(d, t);
	int n = first;

	if (!s) {
		dir_fail(d, NULL, "BUG: no free batch slot at the start of a table");
		return false;
	}
	s->requested = fetch_size(d, td);
	w->page = s;
	w->fetch_table = t;
	w->table_done = false;
	if (!td->copy.active && !by_cursor) {
		w->map.rows = n;
		w->first_page = true;
		db_send_window_first(c, td->t, &td->prev, !td->restamp_off, s->requested + 1, w->inline_max,
				     self_ref(d, t));
		return true;
	}
	if (w->cursor_open)
		n++; /* CLOSE */
	if (td->copy.active) {
		uint64_t from = td->copy.next_page;

		w->map.nblocks = n;
		w->map.rows = n + 2;
		db_send_chunk_table(c, td->t, xid_type(d, t), from, from + copy_pages_per_pass(d, t), s->requested, w->inline_max,
				    w->cursor_open);
	} else {
		w->map.rows = n + 1;
		db_send_window_table(c, td->t, &td->prev, !td->restamp_off, s->requested, w->inline_max,
				     w->cursor_open, self_ref(d, t));
	}
	w->cursor_open = true;
	return true;
}

/* The next table of the pass that has rows to read, or the end of reading. */
static void advance(struct snk_dir *d)
{
	struct snk_window *w = &d->w;

	for (; w->pos < w->ntables; w->pos++) {
		int t = w->tables[w->pos];
		struct snk_tdir *td = &d->tdirs[t];

		if (ancestor_copying(d, t, 0)) {
			/* A parent's first copy is not done: this table's rows could reference rows
			 * it has not copied yet. It waits, and keeps its prev (window_committed,
			 * pass_complete leave a skipped table alone). */
			td->skipped = true;
			td->wake = true;
			d->wake_pending = true;
			continue;
		}
		if (td->has_rows || td->copy.active)
			break;
	}
	if (w->pos >= w->ntables) {
		uint64_t seq = w->seq;

		/* The final batch goes first when it can (apply_finish ends the read before the
		 * next pass), so that the source's commit is not in the path of the pass's rows. */
		window_progress(d);
		if (w->seq == seq)
			window_read_over(d);
		return;
	}
	if (read_begin(d)) {
		(void)send_open_table(d, 0, false);
		pgconn_end(d->src->read);
	}
}

static void send_fetch(struct snk_dir *d)
{
	struct slot *s = window_slot_get(d, d->w.tables[d->w.pos]);

	if (!s) {
		dir_fail(d, NULL, "BUG: no free batch slot for a fetch");
		return;
	}
	s->requested = fetch_size(d, current(d));
	if (!read_begin(d)) {
		window_slot_put(s);
		return;
	}
	d->w.page = s;
	d->w.map.rows = 0;
	/* A failed send is reported through read_done_cb once the loss is handled. */
	db_send_window_fetch(d->src->read, s->requested);
	pgconn_end(d->src->read);
}

/* Whether a later table of the pass may have rows. */
static bool later_rows(const struct snk_dir *d)
{
	const struct snk_window *w = &d->w;

	for (int i = w->pos + 1; i < w->ntables; i++) {
		const struct snk_tdir *td = &d->tdirs[w->tables[i]];

		if ((td->has_rows || td->copy.active) && !ancestor_copying(d, w->tables[i], 0))
			return true;
	}
	return false;
}

/* Whether rows may follow the page just read: more pages or large rows of the current
 * table, or a later table of the pass with rows. */
static bool more_follows(const struct snk_dir *d)
{
	const struct snk_window *w = &d->w;

	return !w->table_done || w->large.n > 0 || w->large_outstanding || later_rows(d);
}

/* Whether the page just read is the pass's last but for its own table's large rows, and
 * they fit in one batch with it: it is then held and they join it, so that the window
 * commits once instead of once per batch. Under a steady load a window is often one page
 * and a few large values; each commit waits for the destination's WAL flush, and the
 * final batch waits for every earlier one to commit. */
static bool joins_large(const struct snk_dir *d, const struct slot *s)
{
	const struct snk_window *w = &d->w;
	const struct snk_config *cfg = d->app->cfg;

	if (w->held || !w->table_done || w->large.n == 0 || w->large_outstanding || later_rows(d))
		return false;
	return (uint64_t)s->batch.nrows + w->large.n <= (uint64_t)cfg->batch_rows &&
	       s->batch.data_bytes + idqueue_row_bytes(&w->large) <= (uint64_t)cfg->batch_max_bytes;
}

/* A batch of the pass has been read (`large`: rows fetched by key): send it on, or hold
 * it when it is the pass's last, to carry the cursors. */
static void batch_arrived(struct snk_dir *d, struct slot *s, bool large)
{
	struct snk_tdir *td = &d->tdirs[s->table];
	struct slot *held = d->w.held;
	int n = s->batch.nrows;

	d->stats.rows_read += (uint64_t)n;
	td->stats.rows_read += (uint64_t)n;
	td->pass_rows += (uint64_t)n;
	if (td->copy.active)
		td->copy.rows += (uint64_t)n;
	d->w.rows += (uint64_t)n;
	if (n == 0) {
		window_slot_put(s);
	} else if (large && held && held->awaits_large && held->table == s->table) {
		bool joined = batch_append(&held->batch, &s->batch);

		held->awaits_large = false;
		window_slot_put(s);
		if (!joined) {
			dir_fail(d, NULL, "out of memory joining large rows to their page");
			return;
		}
	} else if (!large && joins_large(d, s)) {
		s->awaits_large = true;
		d->w.held = s;
	} else if (more_follows(d) || held) {
		apply_send(d, s, false);
	} else {
		d->w.held = s; /* the last batch: sent by window_progress, with the cursors */
	}
	if (d->state == DIR_PASS)
		window_progress(d);
}

/* The current table's cursor is exhausted and its large rows fetched: on to the next. */
/* Rows of a table whose trigger was found at connect, read by the timer's safety net while
 * no NOTIFY came for twice its period: the trigger no longer fires (dropped, disabled, or
 * its rows written with triggers off). The table is polled at every tick from then on,
 * until a NOTIFY for it comes again. */
static void notice_silent_trigger(struct snk_dir *d, int t)
{
	struct snk_tdir *td = &d->tdirs[t];
	int64_t quiet = clock_now_ms() - td->notified_ms;
	int64_t bound = 2 * SNK_POLL_NOTIFIED_EVERY * (int64_t)d->app->cfg->poll_interval_ms;

	if (td->pass_rows == 0 || !d->src->notified[t] || quiet <= bound)
		return;
	d->src->notified[t] = false;
	log_warn(d->role, "rows of %s arrived in database %s without a NOTIFY for %lld ms: polling it every %d ms"
		 " (is its trigger dropped or disabled? see snk check)", td->t->label, d->src->name, (long long)quiet,
		 d->app->cfg->poll_interval_ms);
}

static void table_finished(struct snk_dir *d)
{
	struct snk_tdir *td = current(d);

	notice_silent_trigger(d, d->w.tables[d->w.pos]);

	if (td->copy.active) {
		td->copy.next_page += copy_pages_per_pass(d, d->w.tables[d->w.pos]);
	}
	d->w.pos++;
	advance(d);
}

static void page_arrived(struct snk_dir *d)
{
	struct slot *s = d->w.page;
	struct snk_tdir *td = &d->tdirs[s->table];

	d->w.page = NULL;
	if (s->fetched < s->requested || d->w.first_page)
		d->w.table_done = true; /* a first page has every row of its window */
	d->w.first_page = false;
	/* Page sizing learns from pages only: large values never travel in one. */
	if (s->batch.nrows > 0) {
		double page_avg = (double)s->batch.data_bytes / s->batch.nrows + 40;

		td->avg_row_bytes = td->avg_row_bytes * 0.5 + page_avg * 0.5;
	}
	batch_arrived(d, s, false);
}

static void large_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;
	struct slot *s = d->w.large_page;

	if (stmt == 0 && (!s || !db_read_rows(res, d->tdirs[s->table].t, &s->batch)))
		d->w.bad_result = true;
}

static void large_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;
	struct slot *s = d->w.large_page;

	d->units--;
	d->w.large_outstanding = false;
	d->w.large_page = NULL;
	if (d->state != DIR_PASS) {
		window_slot_put(s);
		dir_check_drained(d);
		return;
	}
	if (err || d->w.bad_result || s->batch.nrows != s->requested) {
		window_slot_put(s);
		dir_fail(d, err, err ? "reading large rows by key" : "BUG: large rows missing from the window's snapshot");
		return;
	}
	batch_arrived(d, s, true);
}

static void send_fetch_large(struct snk_dir *d)
{
	struct snk_pgconn *c = d->src->read;
	int t = d->w.tables[d->w.pos];
	struct slot *s = window_slot_get(d, t);

	if (!s) {
		dir_fail(d, NULL, "BUG: no free batch slot for large rows");
		return;
	}
	s->requested = db_key_layout(d->tdirs[t].t, &d->w.large_keys) ?
		idqueue_take(&d->w.large, (uint64_t)d->app->cfg->batch_max_bytes, &d->w.large_keys) : 0;
	if (s->requested == 0) {
		window_slot_put(s);
		dir_fail(d, NULL, "out of memory queueing large rows");
		return;
	}
	if (!pgconn_begin(c, large_result_cb, large_done_cb, d)) {
		window_slot_put(s);
		dir_fail(d, NULL, "source connection not ready");
		return;
	}
	d->w.large_page = s;
	d->w.large_outstanding = true;
	d->units++;
	db_send_fetch_large(c, d->tdirs[t].t, &d->w.large_keys);
	pgconn_end(c);
}

/* ---- rows ahead of the source's xid counter ----
 *
 * A window skips the rows whose snk_xid is at or above its snapshot's xmax (no transaction
 * it sees inserted them: they came with their xid, from a dump of a busier cluster restored
 * with triggers off) and snk gives them the xid of a transaction of its own on the source
 * (snk.restamp_ahead). That xid is above the window's snapshot, so the next window copies
 * them, once, like any row. It runs on an extra write session of the source when there is
 * one, so that a large update does not hold up the cursor commits of the other direction. */

static void restamp_done(struct snk_dir *d, struct snk_tdir *td, const struct pgconn_error *err, uint64_t n)
{
	td->restamp_outstanding = false;
	if (!err && n > 0) {
		td->stats.rows_ahead += n;
		d->stats.rows_ahead += n;
		log_warn(d->role, "%llu rows of %s in database %s carried an snk_xid ahead of its transaction counter"
			 " (up to %llu; restored from a dump of another cluster with triggers off?): given current"
			 " xids, the next window copies them", (unsigned long long)n, td->t->label, d->src->name,
			 (unsigned long long)td->restamp_max_xid);
	}
	if (err && !err->conn_lost && !td->restamp_off) {
		/* Without it, such rows would be read by every window: stop looking for them, and
		 * leave them to a reconcile, which treats them as no window's work. */
		td->restamp_off = true;
		log_error(d->role, "cannot give the rows of %s in database %s whose snk_xid is ahead of its transaction"
			  " counter current xids: %s; the tail leaves them to a reconcile (run 'snk migrate' as the"
			  " table's owner, or GRANT EXECUTE ON FUNCTION snk.restamp_ahead(regclass) to snk's role)",
			  td->t->label, d->src->name, err->message);
		dir_owes_reconcile(d, (int)(td - d->tdirs), "rows ahead of the xid counter could not be given current xids");
	}
}

/* The restamp of one table: its own unit, so that its result says which table. */
struct restamp_unit {
	struct snk_dir *d;
	int t;
	uint64_t n;
};

static void restamp_unit_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct restamp_unit *u = arg;

	if (stmt == 0 && !db_read_u64(res, &u->n))
		u->n = 0;
}

static void restamp_unit_done_cb(void *arg, const struct pgconn_error *err)
{
	struct restamp_unit *u = arg;
	struct snk_dir *d = u->d;
	int t = u->t;

	d->units--;
	restamp_done(d, &d->tdirs[t], err, u->n);
	free(u);
	if (d->state == DIR_FAILED) {
		dir_check_drained(d);
		return;
	}
	if (!err)
		dir_wake(d, t);
}

void window_restamp_ahead(struct snk_dir *d)
{
	struct snk_pgconn *c = side_spare_write(d->src);

	for (int i = 0; i < d->w.ntables && d->src->write_ok; i++) {
		struct snk_tdir *td = &d->tdirs[d->w.tables[i]];
		struct restamp_unit *u;

		if (td->ahead.rows == 0 || td->restamp_outstanding || td->restamp_off)
			continue; /* the next window finds them again */
		u = calloc(1, sizeof(*u));
		if (!u || !pgconn_begin(c, restamp_unit_result_cb, restamp_unit_done_cb, u)) {
			free(u);
			return;
		}
		u->d = d;
		u->t = d->w.tables[i];
		d->units++;
		td->restamp_outstanding = true;
		td->restamp_max_xid = td->ahead.max_xid;
		db_send_restamp_ahead(c, td->t);
		pgconn_end(c);
	}
}

/* Whether a batch of about `bytes` more may be read now: the batches held in slots stay
 * within max_batches_in_flight * batch_max_bytes, so that rows of many megabytes (each of
 * which travels alone) are not read max_batches_in_flight at a time. With nothing held,
 * any one may be read. */
static bool room_for(const struct snk_dir *d, uint64_t bytes)
{
	uint64_t held = 0, budget = (uint64_t)d->app->cfg->max_batches_in_flight * (uint64_t)d->app->cfg->batch_max_bytes;

	for (int i = 0; i < d->nslots; i++) {
		if (d->slots[i].busy && !d->slots[i].deferred)
			held += d->slots[i].batch.data_bytes;
	}
	return held == 0 || held + bytes <= budget;
}

/* The pass is read and its last page is held to carry the cursors, but an earlier batch
 * (under a steady load, the previous pass's final one) is still committing on the first
 * write session. The page goes now on another session, and the cursors follow alone once
 * both have committed: its rows commit beside the batch in flight instead of after it.
 * Otherwise a row under load waits for the previous window's commit, then for its own.
 * The cost is one commit more per such window, of the cursor rows alone. Batches that
 * must go in order (tables linked by foreign keys, rows sent again) stay on the first
 * session, where going early gains nothing. */
static void send_held_beside(struct snk_dir *d)
{
	struct slot *s = d->w.held;

	if (!s || s->awaits_large || d->w.deferred > 0 || d->w.resending ||
	    fk_graph_linked(&d->dst->fk, s->table) || !side_lane_beside_first(d->dst))
		return;
	d->w.held = NULL;
	apply_send(d, s, false);
	if (d->state != DIR_PASS)
		return; /* the send failed the pass */
	d->stats.batches_beside++;
	window_read_over(d); /* every row of the pass is read */
	(void)apply_defer_final(d); /* the pass may be over now, and the next begun */
}

/* Stopping: the pass is abandoned once nothing of it is in flight; the stored cursors
 * still cover what committed. */
static void abandon(struct snk_dir *d)
{
	if (d->w.fetch_outstanding || d->w.large_outstanding || d->w.inflight > 0 || d->w.pending)
		return;
	window_drop(d);
	d->stats.pass_started_ms = 0;
	dir_set_state(d, DIR_IDLE, "stopping");
}

void window_progress(struct snk_dir *d)
{
	struct snk_window *w = &d->w;
	int max = d->app->cfg->max_batches_in_flight;

	if (d->state != DIR_PASS)
		return;
	if (d->app->stopping) {
		abandon(d);
		return;
	}
	if (apply_resend_deferred(d, read_complete(d)))
		return;
	if (!read_complete(d)) {
		struct snk_tdir *td = current(d);

		if (!w->probed || !td || w->fetch_outstanding || w->large_outstanding || free_slots(d) < 2)
			return;
		if (w->large.n > 0 && w->inflight < max && room_for(d, w->large.lens[w->large.head])) {
			send_fetch_large(d);
			return;
		}
		if (w->table_done && w->large.n == 0) {
			table_finished(d);
			return;
		}
		/* More pages only while few large rows wait, so the key queue stays small. */
		if (!w->table_done && w->inflight < max && w->large.n < (size_t)d->app->cfg->batch_rows &&
		    room_for(d, (uint64_t)d->app->cfg->batch_max_bytes))
			send_fetch(d);
		return;
	}
	/* The final batch goes once every earlier one has committed, the previous pass's final
	 * batch included (sent or still put aside), so that no cursor commits ahead of the rows
	 * it covers. */
	if (w->final_sent)
		return;
	if (w->inflight > 0 || w->deferred > 0 || w->pending) {
		send_held_beside(d);
		return;
	}
	window_restamp_ahead(d);
	apply_finish(d);
}

/* ---- a pass ---- */

/* The tables of the next pass: those woken and those in a first copy, with every table
 * they reference (a parent's new rows must be in the destination first), parents first. */
static int choose_tables(struct snk_dir *d)
{
	const struct fk_graph *g = &d->dst->fk;
	bool *mark = calloc((size_t)d->ntables, sizeof(bool));
	int n = 0;

	if (!mark)
		return -1;
	for (int t = 0; t < d->ntables; t++) {
		if (d->tdirs[t].wake || d->tdirs[t].copy.active)
			fk_graph_ancestors(g, t, mark);
	}
	for (int r = 0; r < d->ntables; r++) {
		int t = g->order[r];
		struct snk_tdir *td = &d->tdirs[t];

		td->in_pass = mark[t];
		td->skipped = false;
		td->pass_rows = 0;
		td->has_rows = true;
		memset(&td->ahead, 0, sizeof(td->ahead));
		if (!mark[t])
			continue;
		td->wake = false;
		d->w.tables[n++] = t;
	}
	free(mark);
	d->wake_pending = false;
	return n;
}

void window_start(struct snk_dir *d)
{
	struct snk_window *w = &d->w;
	struct snk_pgconn *c = d->src->read;
	int n;

	window_drop(d);
	n = choose_tables(d);
	if (n <= 0) {
		if (n < 0)
			log_error(d->role, "out of memory choosing the tables of a pass");
		return;
	}
	w->ntables = n;
	w->seq++;
	w->optimistic = strcmp(d->app->cfg->insert_mode, "optimistic") == 0;
	w->inline_max = inline_max(d);
	d->stats.pass_committed = 0;
	d->stats.next_taken_ms = d->stats.pass_started_ms = clock_now_ms();
	dir_set_state(d, DIR_PASS, "tables to read");
	if (!read_begin(d))
		return;
	d->src->read_owner = d;
	w->src_tx_open = true;
	db_send_pass_begin(c);
	w->map.snapshot = 1;
	if (n == 1 && !d->tdirs[w->tables[0]].copy.active) {
		/* one table: its window opens in the same round trip */
		w->probed = true;
		(void)send_open_table(d, 2, false);
	} else {
		w->map.probes = 2;
		for (int i = 0; i < n; i++) {
			int t = w->tables[i];
			struct snk_tdir *td = &d->tdirs[t];

			/* a table in its first copy is read by pages whatever its probe says */
			db_send_probe(c, td->t, &td->prev, !td->restamp_off);
		}
	}
	pgconn_end(c);
}

void window_read_over(struct snk_dir *d)
{
	if (d->w.src_tx_open)
		src_close(d, true);
}

void window_drop(struct snk_dir *d)
{
	struct snk_window *w = &d->w;

	if (w->src_tx_open)
		src_close(d, false);
	window_slot_put(w->held);
	w->held = NULL;
	idqueue_clear(&w->large);
	snapshot_clear(&w->next);
	w->ntables = w->pos = 0;
	w->probed = w->cursor_open = w->table_done = w->first_page = w->first_overflow = false;
	w->final_sent = w->bad_result = w->resending = false;
	w->rows = 0;
	w->resent_ok = 0;
	memset(&w->fk_error, 0, sizeof(w->fk_error));
}

void window_drop_pending(struct snk_dir *d)
{
	window_slot_put(d->w.pending);
	d->w.pending = NULL;
}

void window_drained(struct snk_dir *d)
{
	for (int i = 0; i < d->nslots; i++) {
		d->slots[i].deferred = false;
		window_slot_put(&d->slots[i]);
	}
	d->w.page = d->w.large_page = d->w.held = d->w.pending = NULL;
	d->w.inflight = 0;
	d->w.deferred = 0;
	d->w.resending = false;
	d->w.fetch_outstanding = d->w.large_outstanding = false;
	d->w.src_tx_open = false;
	idqueue_clear(&d->w.large);
	dir_read_release(d);
}

bool window_init(struct snk_dir *d)
{
	d->nslots = d->app->cfg->max_batches_in_flight + 3 + SNK_DEFER_MAX; /* + the page, the held, the pending */
	d->slots = calloc((size_t)d->nslots, sizeof(*d->slots));
	d->w.tables = calloc((size_t)d->ntables + 1, sizeof(int));
	d->w.summarized = calloc((size_t)d->ntables + 1, sizeof(int));
	if (!d->slots || !d->w.tables || !d->w.summarized)
		return false;
	for (int j = 0; j < d->nslots; j++)
		d->slots[j].dir = d;
	return true;
}

void window_free(struct snk_dir *d)
{
	for (int j = 0; d->slots && j < d->nslots; j++) {
		window_slot_put(&d->slots[j]);
		batch_free(&d->slots[j].batch);
		free(d->slots[j].cursors);
	}
	free(d->slots);
	d->slots = NULL;
	free(d->w.tables);
	free(d->w.summarized);
	snapshot_clear(&d->w.next);
	idqueue_free(&d->w.large);
	batch_free(&d->w.large_keys);
}
