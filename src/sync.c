/* sync.c - the keyset/snapshot cursor and the step machine of each direction.
 *
 * A pass of direction X -> Y:
 *   1. On X (one unit): BEGIN REPEATABLE READ READ ONLY; pg_current_snapshot() as
 *      `next`; DECLARE a cursor over the rows visible now but not in `prev`; FETCH.
 *   2. Each page becomes a batch: INSERT ... ON CONFLICT (id) DO NOTHING into Y, up to
 *      max_batches_in_flight pipelined, while the next page is fetched, spread over
 *      Y's write sessions (write_connections) so that several backends insert at once.
 *   3. The last batch carries the cursor: snk.cursor := next, in the same transaction.
 *      It is sent only once every earlier batch of the pass has committed, so the
 *      stored cursor never runs ahead of the rows it covers.
 * A failure anywhere drops the pass; the cursor is reloaded from Y and the window is
 * read again. Re-inserting rows already there is harmless (ON CONFLICT DO NOTHING),
 * so a crash or reconnect at any instant loses nothing and duplicates nothing.
 */
#include "snk/sync.h"

#include <event2/event.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "snk/exitcodes.h"
#include "snk/log.h"

#define STOP_GRACE_MS 30000
/* How long a starting snk waits for the writer lock: the sessions of a predecessor that
 * was killed hold it until their backends notice the dead socket. */
#define LOCK_WAIT_MS 15000
#define RETRY_MAX_MS 30000
/* How often a direction summarizes the source's BRIN index: at most one range's worth of
 * rows written in that time is read again by each window (docs/DESIGN.md). */
#define SUMMARIZE_EVERY_MS 200

static void dir_kick(struct snk_dir *d);
static void dir_progress(struct snk_dir *d);
static void dir_fail(struct snk_dir *d, const struct pgconn_error *err, const char *why);
static void dir_check_drained(struct snk_dir *d);
static void wake(struct snk_dir *d);
static void send_batch(struct snk_dir *d, struct slot *s, bool final);

int64_t sync_now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t sync_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sync_dir_lag_ms(const struct snk_dir *d, int64_t now_ms)
{
	if (d->state == DIR_IDLE && !d->wake_pending)
		return 0;
	if (d->state == DIR_PASS && d->pass_rows == 0 && !d->wake_pending && !d->cursor_done)
		return 0; /* a poll that has found nothing yet */
	return d->stats.prev_taken_ms ? now_ms - d->stats.prev_taken_ms : now_ms - d->app->started_ms;
}

uint64_t sync_dir_pending_rows(const struct snk_dir *d)
{
	if (d->state != DIR_PASS)
		return 0;
	return d->pass_rows - d->stats.pass_committed;
}

uint64_t sync_dir_echo_skipped(const struct snk_dir *d)
{
	const struct snk_dir *other = d == &d->app->dir[0] ? &d->app->dir[1] : &d->app->dir[0];

	return other->stats.rows_copied;
}

bool sync_healthy(const struct snk_app *app, int64_t max_lag_ms, char *why, size_t len)
{
	int64_t now = sync_now_ms();

	for (int i = 0; i < 2; i++) {
		if (!app->side[i].read_ok || !app->side[i].write_ok) {
			snprintf(why, len, "database %s is not connected", app->side[i].name);
			return false;
		}
	}
	for (int i = 0; i < 2; i++) {
		int64_t lag = sync_dir_lag_ms(&app->dir[i], now);

		if (lag > max_lag_ms) {
			snprintf(why, len, "%s lag %lld ms is over %lld ms", app->dir[i].name, (long long)lag,
				 (long long)max_lag_ms);
			return false;
		}
	}
	snprintf(why, len, "ok");
	return true;
}

static const char *side_error(const struct snk_side *s)
{
	const char *err = pgconn_last_error(s->read);

	for (int j = 0; !err[0] && j < s->nlanes; j++)
		err = pgconn_last_error(s->lane[j].conn);
	return err;
}

bool sync_degraded(const struct snk_app *app, char *why, size_t len)
{
	for (int i = 0; i < 2; i++) {
		const struct snk_side *s = &app->side[i];
		const char *err = side_error(s);

		if ((!s->read_ok || !s->write_ok) && err[0]) {
			const char *target = pgconn_target(s->read);

			/* The target is known once a session has connected; libpq's error names
			 * the host and port anyway. */
			if (target[0] == '(')
				snprintf(why, len, "database %s is down: %s", s->name, err);
			else
				snprintf(why, len, "database %s (%s) is down: %s", s->name, target, err);
			return true;
		}
	}
	for (int i = 0; i < 2; i++) {
		const struct snk_dir *d = &app->dir[i];

		if (d->state == DIR_FAILED || d->state == DIR_RETRY) {
			snprintf(why, len, "%s is %s: %s", d->role, sync_dir_state_name(d->state),
				 d->last_error[0] ? d->last_error : "(no error recorded)");
			return true;
		}
	}
	return false;
}

const char *sync_dir_state_name(enum dir_state s)
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

static void app_fatal(struct snk_app *app, int code, const char *role, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void app_fatal(struct snk_app *app, int code, const char *role, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error(role, "%s", msg);
	if (app->exit_code == 0)
		app->exit_code = code;
	event_base_loopbreak(app->base);
}

/* ---- slots ---- */

static struct slot *slot_get(struct snk_dir *d)
{
	for (int i = 0; i < d->nslots; i++) {
		if (!d->slots[i].busy) {
			struct slot *s = &d->slots[i];

			s->busy = true;
			s->final = false;
			s->inserted = 0;
			s->requested = 0;
			s->fetched = 0;
			s->on_conflict = false;
			s->pass_seq = d->pass_seq;
			if (!db_row_layout(&d->app->table, &s->batch)) {
				s->busy = false;
				log_error(d->role, "out of memory laying out a batch");
				return NULL;
			}
			return s;
		}
	}
	return NULL;
}

static void slot_put(struct slot *s)
{
	if (s) {
		s->busy = false;
		snapshot_clear(&s->cursor);
	}
}

static int fetch_size(const struct snk_dir *d)
{
	const struct snk_config *cfg = d->app->cfg;
	double avg = d->avg_row_bytes < 16 ? 16 : d->avg_row_bytes;
	double n = (double)cfg->batch_max_bytes / avg;

	if (n > cfg->batch_rows)
		n = cfg->batch_rows;
	return n < 1 ? 1 : (int)n;
}

/* Values up to this many bytes travel inside window pages; longer ones are fetched by
 * id in groups of at most batch_max_bytes, so a page never holds more than about
 * batch_rows * inline_max bytes whatever the rows hold. */
static int inline_max(const struct snk_dir *d)
{
	int v = d->app->cfg->batch_max_bytes / d->app->cfg->batch_rows;

	return v < 1024 ? 1024 : v;
}

/* The window is complete when its cursor is exhausted and every large row is fetched. */
static bool window_complete(const struct snk_dir *d)
{
	return d->cursor_done && d->large.n == 0 && !d->large_outstanding;
}

/* ---- source side: the window ---- */

static void page_arrived(struct snk_dir *d);

static void src_close_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;
	bool done;
	uint64_t next;

	if (stmt != 1 || !db_read_summarize(res, &done, &next))
		return;
	if (done && next != d->brin_next_block) {
		log_debug(d->role, "BRIN ranges of %s summarized up to block %llu", d->app->table.label,
			  (unsigned long long)next);
		d->brin_next_block = next;
	}
}

static void src_close_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;

	d->units--;
	/* The read transaction is read-only: how it ends changes nothing. A lost
	 * connection is noticed by the next unit sent on it. */
	if (err && d->summarize_sent && !err->conn_lost && !d->summarize_off) {
		d->summarize_off = true;
		log_warn(d->role, "cannot summarize the BRIN index on %s.snk_xid in database %s: %s; each read"
			 " now scans the table's unsummarized end until a VACUUM summarizes it (run 'snk migrate'"
			 " as the table's owner to fix)", d->app->table.label, d->src->name, err->message);
	} else if (err) {
		log_debug(d->role, "ending the read transaction: %s", err->message);
	}
	d->summarize_sent = false;
	dir_check_drained(d);
}

/* Ends the read transaction; every SUMMARIZE_EVERY_MS, also summarizes the BRIN ranges the
 * application has filled since (outside the transaction, never waiting for a lock). */
static void src_close(struct snk_dir *d, bool commit)
{
	struct snk_pgconn *c = d->src->read;
	const char *brin = d->src->check[0].info.brin_index;
	int64_t now = sync_mono_us() / 1000;

	if (!pgconn_begin(c, src_close_result_cb, src_close_done_cb, d))
		return;
	d->units++;
	d->src_tx_open = false;
	if (commit)
		db_send_window_close(c);
	else
		db_send_rollback(c);
	d->summarize_sent = commit && brin[0] && !d->summarize_off && now - d->summarized_ms >= SUMMARIZE_EVERY_MS;
	if (d->summarize_sent) {
		d->summarized_ms = now;
		db_send_summarize(c, brin, d->brin_next_block);
	}
	pgconn_end(c);
}

static void src_rows_result(struct snk_dir *d, const PGresult *res)
{
	if (!d->page || !db_read_window_rows(res, &d->app->table, d->pass_inline_max, &d->page->batch, &d->large,
					     &d->window_ahead))
		d->bad_result = true;
	else
		d->page->fetched = db_read_ntuples(res);
}

static void window_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;

	if (stmt == 1) {
		snapshot_clear(&d->next);
		if (!db_read_snapshot(res, &d->next))
			d->bad_result = true;
	} else if (stmt == 3) {
		src_rows_result(d, res);
	}
}

static void fetch_result_cb(void *arg, int stmt, const PGresult *res)
{
	if (stmt == 0)
		src_rows_result(arg, res);
}

static void fetch_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;

	d->units--;
	d->fetch_outstanding = false;
	if (d->state != DIR_PASS) {
		slot_put(d->page);
		d->page = NULL;
		dir_check_drained(d);
		return;
	}
	if (err || d->bad_result) {
		slot_put(d->page);
		d->page = NULL;
		dir_fail(d, err, err ? "reading the window" : "BUG: unexpected result shape from the source");
		return;
	}
	page_arrived(d);
}

static bool send_fetch(struct snk_dir *d)
{
	struct snk_pgconn *c = d->src->read;
	struct slot *s = slot_get(d);

	if (!s) {
		log_error(d->role, "BUG: no free batch slot for a fetch");
		return false;
	}
	s->requested = fetch_size(d);
	if (!pgconn_begin(c, fetch_result_cb, fetch_done_cb, d)) {
		slot_put(s);
		dir_fail(d, NULL, "source connection not ready");
		return false;
	}
	d->page = s;
	d->units++;
	d->fetch_outstanding = true;
	/* A failed send is reported through fetch_done_cb once the loss is handled. */
	db_send_window_fetch(c, s->requested);
	pgconn_end(c);
	return true;
}

static void pass_start(struct snk_dir *d)
{
	struct snk_pgconn *c = d->src->read;
	struct slot *s = slot_get(d);

	if (!s) {
		log_error(d->role, "BUG: no free batch slot at the start of a pass");
		return;
	}
	s->requested = fetch_size(d);
	if (!pgconn_begin(c, window_result_cb, fetch_done_cb, d)) {
		slot_put(s);
		d->state = DIR_WAIT;
		return;
	}
	d->state = DIR_PASS;
	d->wake_pending = false;
	d->cursor_done = false;
	d->optimistic = strcmp(d->app->cfg->insert_mode, "optimistic") == 0;
	d->large_outstanding = false;
	idqueue_clear(&d->large);
	d->final_sent = false;
	d->pass_seq++;
	d->bad_result = false;
	d->pass_rows = 0;
	memset(&d->window_ahead, 0, sizeof(d->window_ahead));
	d->stats.pass_committed = 0;
	d->stats.next_taken_ms = sync_now_ms();
	d->page = s;
	d->units++;
	d->fetch_outstanding = true;
	d->src_tx_open = true;
	d->stats.pass_started_ms = sync_now_ms();
	/* The window's own limit: a reload may change batch_rows or batch_max_bytes meanwhile,
	 * and its pages say which rows it left behind by this one. */
	d->pass_inline_max = inline_max(d);
	db_send_window_open(c, &d->app->table, d->src->check[0].info.xid_type, &d->prev, !d->restamp_off,
			    s->requested, d->pass_inline_max);
	pgconn_end(c);
}

/* ---- destination side: batches and the cursor ---- */

static void conflicts_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct slot *s = arg;
	struct snk_dir *d = s->dir;
	int n = db_read_ntuples(res);

	for (int i = 0; i < n; i++) {
		char key[512];
		bool refused;

		db_key_label(&d->app->table, db_read_conflict(res, i, &refused), key, sizeof(key));
		if (refused)
			log_warn(d->role, "conflict: %s is refused by %s: " SNK_REFUSED_WHY "; kept in %s only, left for a"
				 " person", key, d->dst->name, d->src->name);
		else
			log_warn(d->role, "conflict: %s has different data in %s and %s; both kept, left for a person",
				 key, d->src->name, d->dst->name);
	}
	d->stats.conflicts += (uint64_t)n;
	d->stats.rows_present += (uint64_t)s->batch.nrows - s->inserted - (uint64_t)n;
}

static void pass_complete(struct snk_dir *d);
static void window_handoff(struct snk_dir *d, struct slot *s);
static void window_committed(struct snk_dir *d, struct slot *s);

static void after_dst_unit(struct snk_dir *d)
{
	if (d->state == DIR_PASS)
		dir_progress(d);
}

static void conflicts_done_cb(void *arg, const struct pgconn_error *err)
{
	struct slot *s = arg;
	struct snk_dir *d = s->dir;

	d->units--;
	d->inflight--;
	s->lane->units--;
	slot_put(s);
	if (d->state == DIR_FAILED) {
		dir_check_drained(d);
		return;
	}
	if (err) {
		dir_fail(d, err, "checking skipped rows for conflicts");
		return;
	}
	after_dst_unit(d);
}

static void batch_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct slot *s = arg;

	if (stmt == 0 && s->batch.nrows > 0)
		s->inserted = db_read_affected(res);
}

static void batch_done_cb(void *arg, const struct pgconn_error *err)
{
	struct slot *s = arg;
	struct snk_dir *d = s->dir;
	struct snk_pgconn *c = s->lane->conn;

	d->units--;
	d->inflight--;
	s->lane->units--;
	/* A batch of an abandoned pass. A final batch can outlive its pass without it being
	 * abandoned: the next window starts as soon as it is sent (window_handoff). */
	if (d->state == DIR_FAILED) {
		slot_put(s);
		dir_check_drained(d);
		return;
	}
	if (err && !err->conn_lost && !s->on_conflict &&
	    (strcmp(err->sqlstate, "23505") == 0 || strcmp(err->sqlstate, "23P01") == 0)) {
		/* The plain INSERT met an id that is already there (a window read again after
		 * a crash, rows written on both sides, a conflict). Its transaction rolled back
		 * whole, cursor included; send it again with ON CONFLICT DO NOTHING, and the rest
		 * of this window too. */
		d->optimistic = false;
		d->stats.insert_retries++;
		log_debug(d->role, "a batch of %d rows met existing ids; resending with ON CONFLICT DO NOTHING",
			  s->batch.nrows);
		s->on_conflict = true;
		send_batch(d, s, s->final);
		return;
	}
	if (err) {
		slot_put(s);
		dir_fail(d, err, s->final ? "committing the last batch and the cursor" : "inserting a batch");
		return;
	}
	if (s->batch.nrows > 0) {
		int64_t now = sync_now_ms();

		d->stats.rows_copied += s->inserted;
		if (s->pass_seq == d->pass_seq)
			d->stats.pass_committed += (uint64_t)s->batch.nrows;
		d->stats.batches++;
		s->lane->batches++;
		d->stats.last_copy_ms = now;
		rate_add(&d->stats.copied_rate, now / 1000, s->inserted);
		hist_observe(&d->stats.apply, (double)(sync_mono_us() - s->sent_us) / 1e6);
	}
	if (s->final)
		window_committed(d, s);
	if (s->inserted < (uint64_t)s->batch.nrows) {
		/* Some ids were already there: same data (a replay) or a conflict. Rows never
		 * change, so this check may run after the commit. */
		if (pgconn_begin(c, conflicts_result_cb, conflicts_done_cb, s)) {
			d->units++;
			d->inflight++;
			s->lane->units++;
			db_send_conflicts(c, &d->app->table, &s->batch);
			pgconn_end(c);
			return;
		}
		slot_put(s);
		dir_fail(d, NULL, "destination connection not ready for the conflict check");
		return;
	}
	slot_put(s);
	after_dst_unit(d);
}

/* The write session for a batch: lane 0 for the last batch of a window, whose cursor only
 * the lock holder commits; else the ready lane with the fewest units in flight. */
static struct write_lane *pick_lane(struct snk_side *side, bool final)
{
	struct write_lane *best = &side->lane[0];

	for (int i = 1; !final && i < side->nlanes; i++) {
		struct write_lane *l = &side->lane[i];

		if (l->ok && l->units < best->units)
			best = l;
	}
	return best;
}

static void send_batch(struct snk_dir *d, struct slot *s, bool final)
{
	struct snk_pgconn *c;
	bool ok;

	s->lane = pick_lane(d->dst, final);
	c = s->lane->conn;
	s->final = final;
	if (!s->on_conflict)
		s->on_conflict = !d->optimistic;
	s->sent_us = sync_mono_us();
	if (!pgconn_begin(c, batch_result_cb, batch_done_cb, s)) {
		slot_put(s);
		dir_fail(d, NULL, "destination connection not ready");
		return;
	}
	d->units++;
	d->inflight++;
	s->lane->units++;
	ok = s->batch.nrows == 0 || db_send_insert(c, &s->batch, s->on_conflict);
	if (ok && final)
		ok = db_send_cursor_store(c, d->source_key, s->cursor.text, s->window_rows, d->src_ident,
					  d->dst_ident);
	(void)ok; /* on failure the loss handler fails this unit */
	pgconn_end(c);
	/* Fault injection for the test suite (SNK_TEST_CRASH_AFTER_COMMITS): die the hard
	 * way with the commit of rows and cursor on the wire, its outcome unknown. */
	if (final && d->app->crash_after_commits > 0 && --d->app->crash_after_commits == 0)
		raise(SIGKILL);
}

/* A batch of the window has been read: send it on, or hold it when it is the last one,
 * to carry the cursor. Ends the read transaction once nothing more is to be read. */
static void batch_arrived(struct snk_dir *d, struct slot *s)
{
	int n = s->batch.nrows;

	d->stats.rows_read += (uint64_t)n;
	d->pass_rows += (uint64_t)n;
	if (window_complete(d) && d->src_tx_open)
		src_close(d, true);
	if (n == 0)
		slot_put(s);
	else if (!window_complete(d))
		send_batch(d, s, false);
	else
		d->held = s; /* the last batch: sent by dir_progress, with the cursor */
	if (d->state == DIR_PASS)
		dir_progress(d);
}

static void page_arrived(struct snk_dir *d)
{
	struct slot *s = d->page;

	d->page = NULL;
	if (s->fetched < s->requested)
		d->cursor_done = true;
	/* Page sizing learns from pages only: large values never travel in one. */
	if (s->batch.nrows > 0) {
		double page_avg = (double)s->batch.data_bytes / s->batch.nrows + 40;

		d->avg_row_bytes = d->avg_row_bytes * 0.5 + page_avg * 0.5;
	}
	batch_arrived(d, s);
}

static void large_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;

	if (stmt == 0 && (!d->large_page || !db_read_rows(res, &d->app->table, &d->large_page->batch)))
		d->bad_result = true;
}

static void large_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;
	struct slot *s = d->large_page;

	d->units--;
	d->large_outstanding = false;
	d->large_page = NULL;
	if (d->state != DIR_PASS) {
		slot_put(s);
		dir_check_drained(d);
		return;
	}
	if (err || d->bad_result || s->batch.nrows != s->requested) {
		slot_put(s);
		dir_fail(d, err, err ? "reading large rows by id" : "BUG: large rows missing from the window's snapshot");
		return;
	}
	batch_arrived(d, s);
}

static void send_fetch_large(struct snk_dir *d)
{
	struct snk_pgconn *c = d->src->read;
	struct slot *s = slot_get(d);

	if (!s) {
		dir_fail(d, NULL, "BUG: no free batch slot for large rows");
		return;
	}
	s->requested = db_key_layout(&d->app->table, &d->large_keys) ?
		idqueue_take(&d->large, (uint64_t)d->app->cfg->batch_max_bytes, &d->large_keys) : 0;
	if (s->requested == 0) {
		slot_put(s);
		dir_fail(d, NULL, "out of memory queueing large rows");
		return;
	}
	if (!pgconn_begin(c, large_result_cb, large_done_cb, d)) {
		slot_put(s);
		dir_fail(d, NULL, "source connection not ready");
		return;
	}
	d->large_page = s;
	d->large_outstanding = true;
	d->units++;
	db_send_fetch_large(c, &d->app->table, &d->large_keys);
	pgconn_end(c);
}

/* ---- rows ahead of the source's xid counter ----
 *
 * A window skips the rows whose snk_xid is at or above its snapshot's xmax (no transaction
 * it sees inserted them: they came with their xid, from a dump of a busier cluster restored
 * with triggers off) and snk gives them the xid of a transaction of its own on the source
 * (snk.restamp_ahead). That xid is above the window's snapshot, so the next window copies
 * them, once, like any row, and none is read again by every window until the counter
 * catches up. It runs on an extra write session of the source when there is one, so that
 * a large update does not hold up the cursor commits of the other direction. */

static void restamp_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;
	uint64_t n;

	if (stmt == 0 && db_read_u64(res, &n)) {
		d->stats.rows_ahead += n;
		log_warn(d->role, "%llu rows of %s in database %s carried an snk_xid ahead of its transaction counter"
			 " (up to %llu; restored from a dump of another cluster with triggers off?): given current"
			 " xids, the next window copies them", (unsigned long long)n, d->app->table.label,
			 d->src->name, (unsigned long long)d->restamp_max_xid);
	}
}

static void restamp_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;

	d->units--;
	d->restamp_outstanding = false;
	if (err && !err->conn_lost && !d->restamp_off) {
		/* Without it, such rows would be read by every window: stop looking for them, and
		 * leave them to a reconcile, which treats them as no window's work. */
		d->restamp_off = true;
		log_error(d->role, "cannot give the rows of %s in database %s whose snk_xid is ahead of its"
			  " transaction counter current xids: %s; the tail leaves them to a reconcile (run 'snk"
			  " migrate' as the table's owner, or GRANT EXECUTE ON FUNCTION snk.restamp_ahead(regclass)"
			  " to snk's role)", d->app->table.label, d->src->name, err->message);
		sync_reconcile_owed(d, "rows ahead of the xid counter could not be given current xids");
	}
	if (d->state == DIR_FAILED) {
		dir_check_drained(d);
		return;
	}
	if (!err)
		wake(d);
}

static void restamp_ahead(struct snk_dir *d)
{
	struct snk_side *src = d->src;
	struct snk_pgconn *c = src->write;

	if (d->window_ahead.rows == 0 || d->restamp_outstanding || d->restamp_off || !src->write_ok)
		return; /* the next window finds them again */
	for (int i = src->nlanes - 1; i > 0; i--) {
		if (src->lane[i].ok) {
			c = src->lane[i].conn;
			break;
		}
	}
	if (!pgconn_begin(c, restamp_result_cb, restamp_done_cb, d))
		return;
	d->units++;
	d->restamp_outstanding = true;
	d->restamp_max_xid = d->window_ahead.max_xid;
	db_send_restamp_ahead(c, &d->app->table);
	pgconn_end(c);
}

/* Whether a batch of about `bytes` more may be read now: the batches held in slots stay
 * within max_batches_in_flight * batch_max_bytes, so that rows of many megabytes (each of
 * which travels alone) are not read max_batches_in_flight at a time. With nothing held,
 * any one may be read. */
static bool room_for(const struct snk_dir *d, uint64_t bytes)
{
	uint64_t held = 0, budget = (uint64_t)d->app->cfg->max_batches_in_flight * (uint64_t)d->app->cfg->batch_max_bytes;

	for (int i = 0; i < d->nslots; i++) {
		if (d->slots[i].busy)
			held += d->slots[i].batch.data_bytes;
	}
	return held == 0 || held + bytes <= budget;
}

static void dir_progress(struct snk_dir *d)
{
	if (d->state != DIR_PASS)
		return;
	if (!window_complete(d)) {
		int max = d->app->cfg->max_batches_in_flight;

		if (d->app->stopping) {
			/* Abandon the window; the stored cursor still covers what committed. */
			if (!d->fetch_outstanding && !d->large_outstanding && d->inflight == 0) {
				if (d->src_tx_open)
					src_close(d, false);
				d->src_tx_open = false;
				slot_put(d->held);
				d->held = NULL;
				idqueue_clear(&d->large);
				snapshot_clear(&d->next);
				d->stats.pass_started_ms = 0;
				d->state = DIR_IDLE;
			}
			return;
		}
		if (d->large.n > 0 && !d->large_outstanding && d->inflight < max &&
		    room_for(d, d->large.lens[d->large.head]))
			send_fetch_large(d);
		/* More pages only while few large rows wait, so the key queue stays small. */
		if (d->state == DIR_PASS && !d->cursor_done && !d->fetch_outstanding && d->inflight < max &&
		    d->large.n < (size_t)d->app->cfg->batch_rows && room_for(d, (uint64_t)d->app->cfg->batch_max_bytes))
			(void)send_fetch(d);
		return;
	}
	/* The final batch goes once every earlier one has committed, the previous window's
	 * final batch included, so that no cursor commits ahead of the rows it covers. */
	if (d->inflight > 0 || d->final_sent)
		return;
	restamp_ahead(d);
	if (d->held || d->pass_rows > 0) {
		struct slot *s = d->held ? d->held : slot_get(d);

		d->held = NULL;
		if (!s) {
			dir_fail(d, NULL, "BUG: no free slot for the cursor");
			return;
		}
		snapshot_move(&s->cursor, &d->next);
		s->window_rows = d->pass_rows;
		s->taken_ms = d->stats.next_taken_ms;
		s->pass_started_ms = d->stats.pass_started_ms;
		d->final_sent = true;
		send_batch(d, s, true);
		if (d->state == DIR_PASS)
			window_handoff(d, s);
	} else {
		pass_complete(d); /* nothing new: the stored cursor stays, still exact */
	}
}

/* The window's last batch, with its cursor, is on its way: the next window may start now,
 * from that cursor, while the batch commits. This saves a destination round trip and a
 * commit per window. It is safe for the same reasons as pipelining batches is: the next
 * window's final batch waits until this one has committed (inflight), a failure anywhere
 * reloads the stored cursor, and ON CONFLICT absorbs what is read again. */
static void window_handoff(struct snk_dir *d, struct slot *s)
{
	if (!snapshot_set(&d->prev, s->cursor.text)) {
		dir_fail(d, NULL, "BUG: unparsable window snapshot");
		return;
	}
	d->state = DIR_IDLE;
	d->stats.pass_started_ms = 0;
	dir_kick(d);
}

/* The window's last batch and its cursor have committed: every row the cursor covers is
 * in the destination. */
static void window_committed(struct snk_dir *d, struct slot *s)
{
	snapshot_move(&d->committed, &s->cursor);
	d->stats.prev_taken_ms = s->taken_ms;
	d->caught_up = true;
	d->stats.passes++;
	d->failures = 0;
	d->stats.last_pass_us = (sync_now_ms() - s->pass_started_ms) * 1000;
	log_debug(d->role, "copied a window of %llu rows in %lld ms, cursor %s", (unsigned long long)s->window_rows,
		  (long long)(d->stats.last_pass_us / 1000), d->committed.text);
}

/* A window without rows: nothing to commit. Its snapshot is exact for the destination
 * once nothing of an earlier window is still committing. */
static void pass_complete(struct snk_dir *d)
{
	snapshot_move(&d->prev, &d->next);
	if (d->inflight == 0) {
		if (!snapshot_set(&d->committed, d->prev.text)) {
			dir_fail(d, NULL, "BUG: unparsable window snapshot");
			return;
		}
		d->stats.prev_taken_ms = d->stats.next_taken_ms;
		d->caught_up = true;
	}
	d->state = DIR_IDLE;
	d->stats.passes++;
	d->failures = 0;
	d->stats.pass_started_ms = 0;
	dir_kick(d);
}

/* ---- failures ---- */

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_dir *d = arg;

	if (d->state == DIR_RETRY) {
		d->state = DIR_WAIT;
		dir_kick(d);
	}
}

static void dir_fail(struct snk_dir *d, const struct pgconn_error *err, const char *why)
{
	if (d->state == DIR_FAILED)
		return;
	d->stats.errors++;
	d->last_fail_conn = err && err->conn_lost;
	if (err)
		snprintf(d->last_error, sizeof(d->last_error), "%s: %s (SQLSTATE %s)", why, err->message,
			 err->sqlstate);
	else
		snprintf(d->last_error, sizeof(d->last_error), "%s", why);
	if (d->last_fail_conn)
		log_warn(d->role, "pass interrupted by a lost connection; will resume from the stored cursor");
	else
		log_error(d->role, "%s; will retry from the stored cursor", d->last_error);
	d->state = DIR_FAILED;
	snapshot_clear(&d->next);
	slot_put(d->held);
	d->held = NULL;
	d->stats.pass_started_ms = 0;
	if (d->src_tx_open) {
		d->src_tx_open = false;
		src_close(d, false);
	}
	dir_check_drained(d);
}

static void dir_check_drained(struct snk_dir *d)
{
	long delay;
	struct timeval tv;

	if (d->state != DIR_FAILED || d->units > 0)
		return;
	for (int i = 0; i < d->nslots; i++)
		slot_put(&d->slots[i]);
	d->page = NULL;
	d->large_page = NULL;
	d->held = NULL;
	d->inflight = 0;
	d->fetch_outstanding = false;
	d->large_outstanding = false;
	idqueue_clear(&d->large);
	if (d->last_fail_conn || d->app->stopping) {
		d->state = DIR_WAIT;
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
	d->state = DIR_RETRY;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(d->retry_timer, &tv);
}

/* ---- cursor load and the direction's idle states ----
 *
 * Loading reads, in parallel, the stored cursor (with the destination's identity) and the
 * source's identity and current snapshot, taken after every earlier commit of this
 * direction. A cursor is a snapshot of the source's xids: if the source is now another
 * database, or the same one restored or promoted (xids reused, seen as a cursor ahead of
 * the source's current xids), the cursor would skip rows. It is then replaced by the
 * source's current snapshot, and a reconcile brings over every row before it. If only the
 * destination changed, the cursor is still exact for the source, but rows the destination
 * lost need a reconcile. Either way the debt is stored with the cursor before any window,
 * so that a crash cannot forget it. */

static void load_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;
	bool ok;

	if (stmt == 0)
		ok = db_read_identity(res, d->dst_ident, sizeof(d->dst_ident), NULL, d->dst->sync_commit,
				      sizeof(d->dst->sync_commit));
	else
		ok = db_read_cursor(res, &d->stored);
	if (!ok)
		d->bad_result = true;
}

static void src_identity_cb(void *arg, int stmt, const PGresult *res)
{
	struct snk_dir *d = arg;

	if (!db_read_identity(res, d->src_ident, sizeof(d->src_ident), &d->src_now, NULL, 0))
		d->bad_result = true;
}

/* Sets prev from the stored cursor (false: out of memory); *mark: a new debt of a
 * reconcile must be stored before any window. */
static bool judge_cursor(struct snk_dir *d, bool *mark)
{
	struct snk_cursor *cur = &d->stored;

	*mark = false;
	if (!cur->found) {
		/* The cursor row is written now, with its debt: a reconcile that finishes before
		 * the first window commits then has a row to settle (SQL_CURSOR_MARK). */
		log_info(d->role, "no cursor in %s yet: copying every row of %s from %s; a reconcile follows",
			 d->dst->name, d->app->table.label, d->src->name);
		*mark = true;
		sync_reconcile_owed(d, "first start");
		return snapshot_set(&d->prev, SNAPSHOT_INITIAL);
	}
	if ((cur->src_ident[0] && strcmp(cur->src_ident, d->src_ident) != 0) ||
	    cur->snapshot.xmax > d->src_now.xmax) {
		log_warn(d->role, "database %s is not the one the cursor %s was taken in (then %s, now %s, with xids"
			 " below %llu): discarding the cursor, copying from now on, reconciling the rest",
			 d->src->name, cur->snapshot.text, cur->src_ident[0] ? cur->src_ident : "unknown", d->src_ident,
			 (unsigned long long)d->src_now.xmax);
		*mark = true;
		sync_reconcile_owed(d, "a database was replaced or restored");
		return snapshot_set(&d->prev, d->src_now.text);
	}
	log_info(d->role, "resuming from cursor %s", cur->snapshot.text);
	if (cur->dst_ident[0] && strcmp(cur->dst_ident, d->dst_ident) != 0) {
		log_warn(d->role, "database %s is not the one the cursor was stored in (then %s, now %s):"
			 " a reconcile brings back the rows it lost", d->dst->name, cur->dst_ident, d->dst_ident);
		*mark = true;
		sync_reconcile_owed(d, "a database was replaced or restored");
	} else if (cur->reconcile_pending) {
		sync_reconcile_owed(d, "a reconcile was owed and had not finished");
	}
	snapshot_move(&d->prev, &cur->snapshot);
	return true;
}

static void cursor_loaded(struct snk_dir *d)
{
	/* The loaded (or replacing) cursor is what the destination holds. */
	if (!snapshot_set(&d->committed, d->prev.text)) {
		dir_fail(d, NULL, "BUG: unparsable cursor");
		return;
	}
	d->state = DIR_IDLE;
	d->wake_pending = true; /* catch up at once */
	if (!d->app->ready && d->app->dir[0].state != DIR_WAIT && d->app->dir[0].state != DIR_LOADING &&
	    d->app->dir[1].state != DIR_WAIT && d->app->dir[1].state != DIR_LOADING) {
		d->app->ready = true;
		if (d->app->on_ready)
			d->app->on_ready(d->app);
	}
	dir_kick(d);
}

static void mark_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;

	d->units--;
	if (d->state != DIR_LOADING) {
		dir_check_drained(d);
		return;
	}
	if (err) {
		dir_fail(d, err, "recording that the cursor owes a reconcile");
		return;
	}
	cursor_loaded(d);
}

static void load_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_dir *d = arg;
	struct snk_pgconn *c = d->dst->write;
	bool mark;

	d->units--;
	if (err && !d->load_error.sqlstate[0])
		d->load_error = *err;
	if (--d->load_pending > 0)
		return;
	if (d->state != DIR_LOADING) {
		dir_check_drained(d);
		return;
	}
	if (d->load_error.sqlstate[0] || d->bad_result) {
		dir_fail(d, d->load_error.sqlstate[0] ? &d->load_error : NULL,
			 d->load_error.sqlstate[0] ? "loading the cursor" : "the stored cursor is not a valid snapshot");
		return;
	}
	if (!judge_cursor(d, &mark)) {
		dir_fail(d, NULL, "out of memory loading the cursor");
		return;
	}
	if (!mark) {
		cursor_loaded(d);
		return;
	}
	if (!pgconn_begin(c, NULL, mark_done_cb, d)) {
		dir_fail(d, NULL, "destination connection not ready");
		return;
	}
	d->units++;
	db_send_cursor_mark(c, d->source_key, d->prev.text, d->src_ident, d->dst_ident);
	pgconn_end(c);
}

static void load_cursor(struct snk_dir *d)
{
	d->bad_result = false;
	memset(&d->load_error, 0, sizeof(d->load_error));
	d->load_pending = 0;
	if (pgconn_begin(d->dst->write, load_result_cb, load_done_cb, d)) {
		d->units++;
		d->load_pending++;
		db_send_identity(d->dst->write);
		db_send_cursor_load(d->dst->write, d->source_key);
		pgconn_end(d->dst->write);
	}
	if (pgconn_begin(d->src->read, src_identity_cb, load_done_cb, d)) {
		d->units++;
		d->load_pending++;
		db_send_identity(d->src->read);
		pgconn_end(d->src->read);
	}
	if (d->load_pending < 2) {
		/* A connection went away just now: its state callback brings the direction
		 * back to WAIT; an answer still coming is ignored. */
		snprintf(d->load_error.sqlstate, sizeof(d->load_error.sqlstate), "08006");
		snprintf(d->load_error.message, sizeof(d->load_error.message), "connection not ready");
		d->load_error.conn_lost = true;
		if (d->load_pending == 0)
			return;
	}
	d->state = DIR_LOADING;
}

static void dir_kick(struct snk_dir *d)
{
	struct snk_app *app = d->app;

	switch (d->state) {
	case DIR_WAIT:
		if (app->stopping || !d->src->read_ok || !d->dst->write_ok)
			return;
		load_cursor(d);
		return;
	case DIR_IDLE:
		if (!d->src->read_ok || !d->dst->write_ok) {
			d->state = DIR_WAIT;
			return;
		}
		if (d->wake_pending && !app->paused && !app->stopping)
			pass_start(d);
		return;
	default:
		return;
	}
}

static void wake(struct snk_dir *d)
{
	d->wake_pending = true;
	if (d->state == DIR_IDLE)
		dir_kick(d);
}

/* ---- connections ---- */

static struct snk_dir *dir_from(struct snk_app *app, const struct snk_side *src)
{
	return &app->dir[src->index == SNK_DB_A ? 0 : 1];
}

static struct snk_dir *dir_into(struct snk_app *app, const struct snk_side *dst)
{
	return &app->dir[dst->index == SNK_DB_B ? 0 : 1];
}

/* The read session's check unit: 0 session, 1 schema, 2 columns, 3 read settings, 4 LISTEN
 * and 5 the NOTIFY trigger (both only with a channel). The write session's: 0, 1, 2, 3
 * lock; its inserts are prepared in a unit of their own once the columns are known. */
#define READ_CHECK_TRIGGER 5

static void check_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct side_check *cc = arg;

	if (stmt == 0) {
		cc->session_ok = db_read_session(res, &cc->session);
	} else if (stmt == 1) {
		cc->info_ok = db_read_schema(res, &cc->info);
	} else if (stmt == 2) {
		db_shape_clear(&cc->shape);
		cc->shape_ok = db_read_shape(res, &cc->shape);
	} else if (stmt == 3 && cc->writer && !db_read_bool(res, &cc->locked)) {
		cc->locked = false;
	}
	if (stmt == READ_CHECK_TRIGGER && !cc->writer && !cc->lane)
		cc->trigger_ok = db_read_notify_trigger(res, &cc->trigger);
}

/* The columns this session read against the table's shape: the first session to read
 * them gives the shape every statement about rows is built from; every later one, in
 * either database, must read the same (docs/DESIGN.md, "Any table"). */
static bool judge_shape(struct snk_side *side, struct side_check *cc, struct snk_pgconn *c)
{
	struct snk_app *app = side->app;
	char buf[768];
	const char *problem = db_shape_problem(&app->table, &cc->shape, side->name, buf, sizeof(buf));

	if (problem) {
		app_fatal(app, SNK_EXIT_SCHEMA, pgconn_name(c), "%s", problem);
		return false;
	}
	if (app->table.shaped)
		return true;
	if (!db_table_shape(&app->table, &cc->shape, side->name)) {
		app_fatal(app, SNK_EXIT_SOFTWARE, pgconn_name(c), "out of memory building the statements of %s",
			  app->table.label);
		return false;
	}
	log_info(pgconn_name(c), "%s: %d columns (%d written), key %s; %s", app->table.label,
		 app->table.shape.ncols, app->table.shape.nsync, cc->info.key, db_shape_wire_summary(&app->table));
	return true;
}

static void prepared_done_cb(void *arg, const struct pgconn_error *err)
{
	struct side_check *cc = arg;
	struct snk_side *side = cc->side;
	struct snk_pgconn *c = cc->lane ? cc->lane->conn : side->write;

	if (err) {
		if (!err->conn_lost)
			pgconn_drop(c, err->message);
		return;
	}
	if (cc->lane) {
		cc->lane->ok = true; /* batches find it from the next one on */
		return;
	}
	side->ever_locked = true;
	side->write_ok = true;
	dir_kick(dir_into(side->app, side));
}

/* A write session, checked (and holding the lock, for lane 0): its inserts are prepared. */
static void send_prepare(struct side_check *cc, struct snk_pgconn *c)
{
	if (!pgconn_begin(c, NULL, prepared_done_cb, cc)) /* PREPARE returns nothing to read */
		return;
	(void)db_send_prepare_insert(c, &cc->side->app->table);
	pgconn_end(c);
}

/* At every connect of the read session: is the table woken by NOTIFY? A missing trigger
 * is otherwise invisible: snk syncs on its timer, notifies stay 0 (README, snk check). */
static void judge_notify_trigger(struct snk_side *side, const struct side_check *cc)
{
	const struct snk_table *t = &side->app->table;
	char buf[768];
	const char *problem;

	if (!t->channel_raw || !cc->trigger_ok) {
		side->notify_trigger = -1;
		return;
	}
	problem = db_notify_trigger_problem(&cc->trigger, t, buf, sizeof(buf));
	side->notify_trigger = problem ? 0 : 1;
	if (problem)
		log_warn(pgconn_name(side->read), "database %s: %s", side->name, problem);
}

static void check_done_cb(void *arg, const struct pgconn_error *err)
{
	struct side_check *cc = arg;
	struct snk_side *side = cc->side;
	struct snk_app *app = side->app;
	struct snk_pgconn *c = cc->lane ? cc->lane->conn : cc->writer ? side->write : side->read;
	char buf[512];
	const char *problem;

	if (err && err->conn_lost)
		return;
	problem = cc->session_ok ? db_session_problem(&cc->session, true, buf, sizeof(buf)) : NULL;
	if (problem) {
		app_fatal(app, SNK_EXIT_CONFIG, pgconn_name(c), "database %s: %s", side->name, problem);
		return;
	}
	/* The catalog check runs next: its advice beats the raw error of a later statement
	 * (preparing the insert fails on a table that was never migrated). */
	problem = cc->info_ok ? db_schema_problem(&cc->info, &app->table, true, buf, sizeof(buf)) : NULL;
	if (problem) {
		app_fatal(app, 65, pgconn_name(c), "database %s: %s", side->name, problem);
		return;
	}
	if (err) {
		if (err->sqlstate[0] == '4' && err->sqlstate[1] == '2')
			app_fatal(app, 65, pgconn_name(c), "checking %s in %s: %s", app->table.label, side->name,
				  err->message);
		else
			pgconn_drop(c, err->message);
		return;
	}
	if (!cc->info_ok || !cc->session_ok || !cc->shape_ok) {
		app_fatal(app, 70, pgconn_name(c), "BUG: unexpected result of the session or schema check");
		return;
	}
	if (!judge_shape(side, cc, c))
		return;
	if (cc->lane) {
		send_prepare(cc, c);
		return;
	}
	if (!cc->writer) {
		struct snk_dir *d = dir_from(app, side);

		side->read_ok = true;
		judge_notify_trigger(side, cc);
		d->summarize_off = false;
		d->restamp_off = false;
		d->brin_next_block = 0; /* re-walked once: already summarized ranges cost little */
		dir_kick(d);
		return;
	}
	if (!cc->locked) {
		int64_t now = sync_now_ms();

		if (!side->ever_locked && side->lock_wait_since_ms == 0) {
			side->lock_wait_since_ms = now;
			log_warn(pgconn_name(c), "the writer lock of %s is held by another session; waiting up to %d s"
				 " in case it is a snk that just died", app->table.label, LOCK_WAIT_MS / 1000);
		} else if (!side->ever_locked && now - side->lock_wait_since_ms > LOCK_WAIT_MS) {
			app_fatal(app, 75, pgconn_name(c),
				  "another snk is already writing %s in database %s (advisory lock held for %d s); stop it first",
				  app->table.label, side->name, LOCK_WAIT_MS / 1000);
			return;
		}
		pgconn_drop(c, "the writer lock is held by another session");
		return;
	}
	send_prepare(cc, c);
}

static void conn_state_cb(struct snk_pgconn *c, void *arg)
{
	struct snk_side *side = arg;
	struct snk_app *app = side->app;
	bool writer = c == side->write;
	struct side_check *cc = &side->check[writer];
	struct snk_dir *d = writer ? dir_into(app, side) : dir_from(app, side);

	if (!pgconn_ready(c)) {
		if (writer)
			side->write_ok = false;
		else
			side->read_ok = false;
		if (d->state == DIR_IDLE)
			d->state = DIR_WAIT;
		return;
	}
	db_shape_clear(&cc->shape);
	memset(cc, 0, sizeof(*cc));
	cc->side = side;
	cc->writer = writer;
	if (!pgconn_begin(c, check_result_cb, check_done_cb, cc))
		return;
	if (!db_send_session_setup(c) || !db_send_schema_check(c, &app->table))
		goto end;
	if (writer) {
		if (!db_send_writer_lock(c, &app->table))
			goto end;
	} else if (!db_send_read_session_setup(c) || !db_send_listen(c, &app->table) ||
		   !db_send_notify_trigger(c, &app->table)) {
		goto end;
	}
end:
	pgconn_end(c);
}

/* An extra write session: checked and prepared, without the lock. */
static void lane_state_cb(struct snk_pgconn *c, void *arg)
{
	struct write_lane *l = arg;
	struct side_check *cc = &l->check;

	l->ok = false;
	if (!pgconn_ready(c))
		return; /* its units, if any, fail with the loss and fail their pass */
	db_shape_clear(&cc->shape);
	memset(cc, 0, sizeof(*cc));
	cc->side = l->side;
	cc->lane = l;
	if (!pgconn_begin(c, check_result_cb, check_done_cb, cc))
		return;
	if (db_send_session_setup(c))
		(void)db_send_schema_check(c, &l->side->app->table);
	pgconn_end(c);
}

static void conn_notify_cb(struct snk_pgconn *c, void *arg, int be_pid)
{
	struct snk_side *side = arg;

	/* snk's own inserts fire the trigger too; they never need a pass. */
	for (int i = 0; i < side->nlanes; i++) {
		if (be_pid == pgconn_backend_pid(side->lane[i].conn)) {
			side->own_notifies++;
			return;
		}
	}
	side->notifies++;
	wake(dir_from(side->app, side));
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_app *app = arg;

	wake(&app->dir[0]);
	wake(&app->dir[1]);
	sync_reconcile_tick(app);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_app *app = arg;
	bool quiet = !rc_busy(app->rc);

	for (int i = 0; i < 2; i++) {
		struct snk_dir *d = &app->dir[i];

		if (d->units > 0 || d->state == DIR_PASS || d->state == DIR_LOADING)
			quiet = false;
	}
	if (quiet) {
		log_info(NULL, "in-flight work finished; stopping");
		event_base_loopbreak(app->base);
	} else if (sync_now_ms() > app->stop_deadline_ms) {
		log_warn(NULL, "in-flight work did not finish within %d s; stopping anyway (nothing is lost:"
			 " uncommitted windows are read again at the next start)", STOP_GRACE_MS / 1000);
		event_base_loopbreak(app->base);
	}
}

int sync_side_lanes_ready(const struct snk_side *s)
{
	int n = s->write_ok ? 1 : 0;

	for (int i = 1; i < s->nlanes; i++)
		n += s->lane[i].ok ? 1 : 0;
	return n;
}

static uint64_t reconnects_of(const struct snk_pgconn *c)
{
	const struct pgconn_stats *st = pgconn_stats(c);

	return st->connects > 0 ? st->connects - 1 : 0;
}

uint64_t sync_side_reconnects(const struct snk_side *s)
{
	uint64_t n = reconnects_of(s->read);

	for (int i = 0; i < s->nlanes; i++)
		n += reconnects_of(s->lane[i].conn);
	return n;
}

bool sync_side_set_conninfo(struct snk_side *s, const char *conninfo)
{
	if (!pgconn_set_conninfo(s->read, conninfo))
		return false;
	for (int i = 0; i < s->nlanes; i++) {
		if (!pgconn_set_conninfo(s->lane[i].conn, conninfo))
			return false;
	}
	pgconn_drop(s->read, "reconnecting with the reloaded config");
	for (int i = 0; i < s->nlanes; i++)
		pgconn_drop(s->lane[i].conn, "reconnecting with the reloaded config");
	return true;
}

void sync_side_set_reconnect_max(struct snk_side *s, int ms)
{
	pgconn_set_reconnect_max(s->read, ms);
	for (int i = 0; i < s->nlanes; i++)
		pgconn_set_reconnect_max(s->lane[i].conn, ms);
}

/* ---- lifecycle ---- */

bool sync_app_init(struct snk_app *app, struct event_base *base, const struct snk_config *cfg)
{
	static const char *const side_names[2] = { "a", "b" };
	static const char *const conn_names[2][2] = { { "a.read", "a.write" }, { "b.read", "b.write" } };
	static const char *const dir_names[2] = { "a_to_b", "b_to_a" };
	static const char *const dir_roles[2] = { "a->b", "b->a" };

	memset(app, 0, sizeof(*app));
	app->base = base;
	app->cfg = cfg;
	app->started_ms = sync_now_ms();
	app->reload.successful = true;
	app->reload.at_ms = app->reload.success_at_ms = app->started_ms;
	if (getenv("SNK_TEST_CRASH_AFTER_COMMITS"))
		app->crash_after_commits = strtol(getenv("SNK_TEST_CRASH_AFTER_COMMITS"), NULL, 10);
	if (!db_table_init(&app->table, cfg))
		return false;
	for (int i = 0; i < 2; i++) {
		struct snk_side *s = &app->side[i];

		s->app = app;
		s->index = i;
		s->name = side_names[i];
		s->notify_trigger = -1;
		s->read = pgconn_new(base, conn_names[i][0], cfg->conninfo[i], cfg->reconnect_max_ms,
				     conn_state_cb, conn_notify_cb, s);
		if (!s->read || cfg->write_connections < 1 || cfg->write_connections > SNK_WRITE_LANES_MAX)
			return false;
		s->nlanes = cfg->write_connections;
		for (int j = 0; j < s->nlanes; j++) {
			struct write_lane *l = &s->lane[j];

			l->side = s;
			if (j == 0)
				snprintf(l->name, sizeof(l->name), "%s", conn_names[i][1]);
			else
				snprintf(l->name, sizeof(l->name), "%s%d", conn_names[i][1], j + 1);
			l->conn = pgconn_new(base, l->name, cfg->conninfo[i], cfg->reconnect_max_ms,
					     j == 0 ? conn_state_cb : lane_state_cb, NULL, j == 0 ? (void *)s : (void *)l);
			if (!l->conn)
				return false;
		}
		s->write = s->lane[0].conn;
	}
	for (int i = 0; i < 2; i++) {
		struct snk_dir *d = &app->dir[i];

		d->app = app;
		d->name = dir_names[i];
		d->role = dir_roles[i];
		d->src = &app->side[i];
		d->dst = &app->side[1 - i];
		d->avg_row_bytes = 256;
		if (asprintf(&d->source_key, "%s:%s", d->src->name, app->table.label) < 0) {
			d->source_key = NULL;
			return false;
		}
		d->nslots = cfg->max_batches_in_flight + 2;
		d->slots = calloc((size_t)d->nslots, sizeof(*d->slots));
		d->retry_timer = evtimer_new(base, retry_cb, d);
		if (!d->slots || !d->retry_timer)
			return false;
		for (int j = 0; j < d->nslots; j++)
			d->slots[j].dir = d;
	}
	app->poll_timer = event_new(base, -1, EV_PERSIST, poll_cb, app);
	app->stop_timer = event_new(base, -1, EV_PERSIST, stop_cb, app);
	return app->poll_timer && app->stop_timer && sync_reconcile_init(app);
}

void sync_app_start(struct snk_app *app)
{
	struct timeval tv = { app->cfg->poll_interval_ms / 1000, (app->cfg->poll_interval_ms % 1000) * 1000 };

	for (int i = 0; i < 2; i++) {
		pgconn_start(app->side[i].read);
		for (int j = 0; j < app->side[i].nlanes; j++)
			pgconn_start(app->side[i].lane[j].conn);
	}
	event_add(app->poll_timer, &tv);
}

void sync_app_stop(struct snk_app *app)
{
	struct timeval tv = { 0, 20000 };

	if (app->stopping)
		return;
	app->stopping = true;
	app->stop_deadline_ms = sync_now_ms() + STOP_GRACE_MS;
	rc_abort(app->rc, "snk is stopping");
	for (int i = 0; i < 2; i++)
		dir_progress(&app->dir[i]);
	event_add(app->stop_timer, &tv);
}

void sync_pause(struct snk_app *app)
{
	app->paused = true;
}

void sync_resume(struct snk_app *app)
{
	app->paused = false;
	wake(&app->dir[0]);
	wake(&app->dir[1]);
}

void sync_app_free(struct snk_app *app)
{
	for (int i = 0; i < 2; i++) {
		struct snk_dir *d = &app->dir[i];

		for (int j = 0; d->slots && j < d->nslots; j++) {
			batch_free(&d->slots[j].batch);
			snapshot_clear(&d->slots[j].cursor);
		}
		free(d->slots);
		free(d->source_key);
		if (d->retry_timer)
			event_free(d->retry_timer);
		snapshot_clear(&d->prev);
		snapshot_clear(&d->committed);
		snapshot_clear(&d->next);
		snapshot_clear(&d->stored.snapshot);
		snapshot_clear(&d->src_now);
		idqueue_free(&d->large);
		batch_free(&d->large_keys);
	}
	rc_free(app->rc);
	for (int i = 0; i < 2; i++) {
		pgconn_free(app->side[i].read);
		for (int j = 0; j < app->side[i].nlanes; j++) {
			pgconn_free(app->side[i].lane[j].conn);
			db_shape_clear(&app->side[i].lane[j].check.shape);
		}
		db_shape_clear(&app->side[i].check[0].shape);
		db_shape_clear(&app->side[i].check[1].shape);
	}
	if (app->poll_timer)
		event_free(app->poll_timer);
	if (app->stop_timer)
		event_free(app->stop_timer);
	db_table_clear(&app->table);
	memset(app, 0, sizeof(*app));
}
