/* dir.h - one direction (a -> b, b -> a, eu -> us, ...): its state machine (dir.c), the window of one
 * pass over every table (window.c), and each table's cursor in this direction. */
#ifndef SNK_DIR_H
#define SNK_DIR_H

#include <stdbool.h>
#include <stdint.h>

#include "snk/batch.h"
#include "snk/db.h"
#include "snk/pgconn.h"
#include "snk/side.h"
#include "snk/snapshot.h"
#include "snk/stats.h"

struct event;
struct snk_app;
struct snk_dir;

enum dir_state {
	DIR_WAIT,    /* a session is not ready or not yet checked */
	DIR_LOADING, /* reading the cursors from the destination */
	DIR_IDLE,    /* no pass running (the last one's final batch may still be committing) */
	DIR_PASS,    /* a window is being read and applied */
	DIR_FAILED,  /* a unit failed; waiting for the rest to drain */
	DIR_RETRY,   /* waiting out a backoff before reloading the cursors */
};

/* What a table's first copy has done, in this direction: pages of the source read so far
 * by TID range, out of the pages it had when the copy began. */
struct first_copy {
	bool active;             /* the table has no cursor yet: it is read by pages, not windows */
	uint64_t next_page;      /* the next page to read */
	uint64_t pages;          /* the table's pages at the first piece (0: not yet known) */
	struct snk_snapshot start; /* the first piece's snapshot: the tail starts there after */
	uint64_t start_lsn;      /* the source's WAL insert position read with start (snk_durable) */
	uint64_t rows;           /* rows read by the copy */
	int64_t started_ms;      /* wall clock of the first piece */
};

struct tdir_stats {
	uint64_t rows_read;
	uint64_t rows_copied;
	uint64_t rows_present;
	uint64_t conflicts;
	uint64_t rows_ahead;
};

/* One table in one direction. */
struct snk_tdir {
	struct snk_table *t;     /* borrowed */
	char *source_key;        /* owned: the cursor's key in the destination, "a:schema.table" */
	struct snk_snapshot prev;/* the table's next window starts here */
	struct snk_snapshot committed; /* every row of it visible here is in the destination */
	int64_t committed_taken_ms; /* wall clock when `committed` was taken */
	struct snk_cursor stored;/* as read from the destination; then its snapshot is what the
				  * cursor row holds (an older one than committed, until the
				  * source's WAL is flushed past the newer: snk_durable) */
	bool cursor_owed;        /* its first copy ended while no snapshot was safe to store: the
				  * row says "no cursor yet"; a pass writes it, rows or not
				  * (woken at every tick until then) */
	bool wake;               /* a pass should read it */
	int64_t notified_ms;     /* wall clock of its last NOTIFY (or of the cursor load) */
	bool in_pass;            /* the running pass reads it */
	bool has_rows;           /* the pass's probe found rows (or it is not probed) */
	bool skipped;            /* in the pass, but not read: a parent's first copy is not done */
	uint64_t pass_rows;      /* rows of it the running pass read */
	bool reconcile_pending;  /* a full reconcile of it is owed */
	struct first_copy copy;
	double avg_row_bytes;
	struct snk_ahead ahead;  /* rows ahead of the counter in the running pass */
	bool restamp_outstanding;/* snk.restamp_ahead is running on the source */
	bool restamp_off;        /* it failed (logged once): its windows stop looking for such rows */
	uint64_t restamp_max_xid;
	bool summarize_off;      /* summarizing failed on this connection (logged once) */
	int64_t summarized_ms;   /* monotonic time of the last summarize sent */
	uint64_t brin_next_block;/* the source's BRIN ranges before this block are summarized */
	struct tdir_stats stats;
};

struct dir_stats {
	uint64_t rows_read;      /* rows fetched from the source */
	uint64_t rows_copied;    /* rows inserted into the destination */
	uint64_t rows_present;   /* rows already there with the same data */
	uint64_t insert_retries; /* plain INSERTs that met an existing key and were resent */
	uint64_t fk_retries;     /* batches that met a missing parent and were sent again later */
	uint64_t conflicts;      /* rows already there with different data (left alone) */
	uint64_t batches;
	uint64_t batches_beside; /* windows' last pages sent beside a commit in flight (window.c) */
	uint64_t cursors_deferred; /* of those, windows whose cursors waited while the next began (apply.c) */
	uint64_t passes;
	uint64_t errors;
	int64_t last_copy_ms;    /* wall clock of the last commit that copied rows, 0: never */
	int64_t pass_started_ms; /* wall clock when the current pass began, 0: no pass */
	int64_t last_pass_us;    /* duration of the last pass with rows */
	int64_t prev_taken_ms;   /* wall clock when the last committed snapshot was taken */
	int64_t next_taken_ms;   /* the same for the window being applied */
	uint64_t pass_committed; /* rows of the current pass committed in the destination */
	uint64_t rows_ahead;     /* rows whose snk_xid was ahead of the source's counter, restamped */
	struct rate_window copied_rate;
	struct histogram apply;  /* seconds from sending a batch to its commit */
};

/* The cursor a final batch commits for one table of its pass. */
struct final_cursor {
	int table;
	bool store;              /* written to snk.cursor (rows moved, a first copy ended, or
				  * its row is owed), when a safe snapshot exists (stored) */
	char *copy_start;        /* owned: the first copy ends with it, and this is the cursor */
	char *stored;            /* owned: the snapshot the cursor row gets (NULL: not written) */
	bool owed;               /* it had to be written, and nothing safe was there: cursor_owed */
	uint64_t rows;
};

struct slot {
	struct snk_dir *dir;     /* borrowed */
	struct write_lane *lane; /* borrowed: the session it was sent on */
	struct snk_batch batch;  /* owned buffers, reused */
	int table;               /* the tdir whose rows it carries */
	bool busy;
	bool final;              /* carries the cursors */
	bool on_conflict;        /* sent as INSERT ... ON CONFLICT DO NOTHING */
	bool deferred;           /* met a missing parent: sent again once the rest committed */
	bool resent;             /* sent again after it was deferred */
	bool awaits_large;       /* a held page its table's large rows are to join */
	bool checking;           /* committed; its skipped rows are being checked for conflicts */
	uint64_t inserted;
	int requested;           /* rows asked of the FETCH that filled it */
	int fetched;             /* rows the FETCH returned, large ones included */
	int64_t sent_us;         /* monotonic time the batch was sent */
	uint64_t pass_seq;       /* the pass whose rows it carries */
	/* A final batch carries its pass's cursors: the next pass may already be running by
	 * the time it commits (window_handoff). */
	struct snk_snapshot cursor;
	struct final_cursor *cursors; /* owned: [ncursors] */
	int ncursors;
	uint64_t window_rows;
	int64_t taken_ms;        /* wall clock when `cursor` was taken */
	int64_t pass_started_ms;
};

/* Where the results of the read unit in flight are: statement numbers, -1 for none. */
struct read_map {
	int snapshot, probes, nblocks, rows;
};

/* The state of one pass: zeroed by window_reset at its start and when it is dropped;
 * the buffers it owns are kept. */
struct snk_window {
	uint64_t seq;            /* increments at each pass */
	struct snk_snapshot next;/* the pass's snapshot (all its tables) */
	uint64_t next_lsn;       /* the source's WAL insert position read right after it */
	int *tables;             /* owned: [ntables] tdir indexes of the pass, parents first */
	int ntables;
	int pos;                 /* tables[pos] is being read; ntables: every table read */
	bool probed;             /* the probes of a pass over several tables have answered */
	bool cursor_open;        /* a table's cursor is declared on the source */
	bool table_done;         /* tables[pos]'s cursor is exhausted */
	bool first_page;         /* the outstanding read is tables[pos]'s first page, by a SELECT */
	bool first_overflow;     /* and it held more than a page: read again by a cursor */
	bool fetch_outstanding;
	bool large_outstanding;  /* a fetch of large rows by key is in flight */
	bool final_sent;
	bool src_tx_open;
	bool bad_result;
	bool optimistic;         /* this window's batches go first as plain INSERTs */
	bool summarize_sent;
	int *summarized;         /* owned: [ntables] the tdirs the closing unit summarizes */
	int nsummarized;
	int fetch_table;         /* the tdir the outstanding fetch reads */
	struct read_map map;     /* of the outstanding read unit */
	struct slot *page;       /* borrowed: slot being filled by a FETCH */
	struct slot *large_page; /* borrowed: slot being filled by a fetch of large rows */
	struct slot *held;       /* borrowed: last page waiting to carry the cursors */
	struct slot *pending;    /* borrowed: an ended pass's cursors, sent once its batches have
				  * committed (apply_defer_final); outlives its pass */
	struct snk_idqueue large;/* owned: keys of the current table's large rows still to fetch */
	struct snk_batch large_keys; /* owned: the key parameters of the next large fetch */
	int inline_max;          /* the window's inline limit: rows over it left their values behind */
	uint64_t rows;
	int inflight;            /* destination units of this direction not finished */
	int deferred;            /* slots deferred for a missing parent */
	int resent_ok;           /* deferred slots that committed when sent again, this round */
	bool resending;          /* a round of sending them again is in flight */
	struct pgconn_error fk_error; /* the last missing parent's error */
};

struct snk_dir {
	struct snk_app *app;     /* borrowed */
	int index;               /* in app->dir (sync_dir_index) */
	char name[2 * SNK_DB_NAME_MAX + 5]; /* "a_to_b" */
	char role[2 * SNK_DB_NAME_MAX + 3]; /* "a->b", for logs */
	struct snk_side *src;    /* borrowed */
	struct snk_side *dst;    /* borrowed */
	uint64_t dst_epoch;      /* dst->lock_epoch when the cursors were read */
	struct snk_tdir *tdirs;  /* owned: [ntables], in the config's order */
	int ntables;
	enum dir_state state;
	struct snk_window w;
	bool wake_pending;       /* some tdir has wake set */
	int units;               /* all units of this direction not finished */
	struct slot *slots;      /* owned array */
	int nslots;
	int failures;
	bool last_fail_conn;
	/* loading the cursors */
	int load_pending;
	struct pgconn_error load_error;
	bool load_bad;
	bool load_unflushed;     /* a loaded cursor owes a reconcile and may not be durable */
	bool loaded;             /* the cursors have been loaded since the last load began */
	int flush_polls;         /* looks at load_flushed in this load */
	bool flush_elsewhere;    /* a look reached another server than the load's */
	struct snk_snapshot src_now; /* the source's snapshot when the cursors were loaded */
	uint64_t load_lsn;       /* the source's WAL insert position read right after src_now */
	uint64_t load_flushed;   /* and its flush position, read then and while waiting on it */
	struct event *flush_timer; /* owned: the next look at load_flushed */
	struct snk_durable durable; /* which of the passes' snapshots a cursor row may hold */
	uint64_t read_hw;        /* the highest xmax any pass (or load) of it has read under: every
				  * row it may have put into its destination, committed or not, is below */
	char src_ident[96];      /* identities of both ends, stored with every cursor */
	char dst_ident[96];
	bool caught_up;          /* a pass has completed since start, and no first copy runs */
	char last_error[512];
	struct event *retry_timer; /* owned */
	struct dir_stats stats;
};

/* dir.c */
/* dir_read_release: d's transaction on its source's read session has ended (or its load
 * was sent): another direction out of that database may start. */
void dir_read_release(struct snk_dir *d);
bool dir_init(struct snk_dir *d, struct snk_app *app, int src, int dst) __attribute__((warn_unused_result));
void dir_free(struct snk_dir *d);
/* dir_set_tables: the tables changed (reload), with the direction quiet: each table kept
 * (same name and key) keeps its cursors and figures; a new one loads its cursor (or starts
 * its first copy) at the next connect. False on out of memory. */
bool dir_set_tables(struct snk_dir *d, struct snk_table *tables, int ntables) __attribute__((warn_unused_result));
void dir_set_state(struct snk_dir *d, enum dir_state to, const char *why);
const char *dir_state_name(enum dir_state s);
/* dir_kick: moves the direction on when its sessions or a wake-up allow. */
void dir_kick(struct snk_dir *d);
/* dir_wake: table t (-1: every table) has new rows to read. */
void dir_wake(struct snk_dir *d, int t);
/* A table whose source has its NOTIFY trigger is polled at every SNK_POLL_NOTIFIED_EVERY-th
 * tick only (a safety net: rows written with triggers off), spread over the ticks; the
 * others at every tick. */
#define SNK_POLL_NOTIFIED_EVERY 10
/* dir_wake_poll: the poll timer's tick-th tick. */
void dir_wake_poll(struct snk_dir *d, uint64_t tick);
void dir_fail(struct snk_dir *d, const struct pgconn_error *err, const char *why);
/* dir_check_drained: a failed direction with nothing left in flight backs off or reloads. */
void dir_check_drained(struct snk_dir *d);
/* dir_session: a session of its source (read) or destination (write) came or went. */
void dir_session(struct snk_dir *d, bool ready);
/* dir_pass_over: the pass left PASS (its final batch may still commit); starts the next
 * one when tables are waiting. */
void dir_pass_over(struct snk_dir *d);
/* dir_owes_reconcile: table t (-1: every table) owes a new reconcile (sync_reconcile.c);
 * dir_still_owes_reconcile: its cursor says it still owes the one it owed. */
void dir_owes_reconcile(struct snk_dir *d, int t, const char *reason);
void dir_still_owes_reconcile(struct snk_dir *d, int t, const char *reason);
/* dir_lag_ms: an upper bound on the age of the oldest source row not yet in the peer: 0
 * when caught up, else the time since the last fully applied snapshot was taken. */
int64_t dir_lag_ms(const struct snk_dir *d, int64_t now_ms);
/* dir_table_lag_ms: the same for table t. */
int64_t dir_table_lag_ms(const struct snk_dir *d, int t, int64_t now_ms);
/* dir_pending_rows: rows read from the source and not yet committed in the peer (more may
 * be waiting in the source; this counts what snk holds). */
uint64_t dir_pending_rows(const struct snk_dir *d);
/* dir_copying: tables of this direction still in their first copy. */
int dir_copying(const struct snk_dir *d);

/* window.c */
/* window_start: begins a pass over the tables that wait (and their parents). */
void window_start(struct snk_dir *d);
/* window_progress: sends what the pass can send now (fetches, large rows, the final batch). */
void window_progress(struct snk_dir *d);
/* window_read_over: every row of the pass is read: its read transaction ends (once). */
void window_read_over(struct snk_dir *d);
/* window_restamp_ahead: at the end of a pass, gives the rows its probes found with an
 * snk_xid ahead of the source's xid counter current xids (snk.restamp_ahead). */
void window_restamp_ahead(struct snk_dir *d);
/* window_drop_pending: lets w.pending go unsent: the direction reloads its cursors, which
 * the load must see as the last word (dir.c). */
void window_drop_pending(struct snk_dir *d);
/* window_drop: the pass failed: its read transaction ends, what it holds is let go. */
void window_drop(struct snk_dir *d);
/* window_drained: nothing of this direction is in flight any more: every slot is free. */
void window_drained(struct snk_dir *d);
void window_free(struct snk_dir *d);
bool window_init(struct snk_dir *d) __attribute__((warn_unused_result));
/* window_slot_get: a free slot laid out for table's rows, NULL when none is free. */
struct slot *window_slot_get(struct snk_dir *d, int table);
void window_slot_put(struct slot *s);

/* apply.c */
/* Slots a pass may hold for batches that wait for a parent. */
#define SNK_DEFER_MAX 8
/* apply_send: sends slot s as a batch into the destination (final: with the cursors). */
void apply_send(struct snk_dir *d, struct slot *s, bool final);
/* apply_resend_deferred: when nothing else is in flight, sends the batches that met a
 * missing parent again (or fails the pass when none can come); true when it acted. */
bool apply_resend_deferred(struct snk_dir *d, bool read_complete);
/* apply_finish: every table read and every batch committed: the final batch, or the end
 * of a pass that moved nothing. */
void apply_finish(struct snk_dir *d);
/* apply_defer_final: every row of the pass is sent, not all committed: the pass ends now,
 * its cursors wait in w.pending; false when the pass must wait for its commits instead. */
bool apply_defer_final(struct snk_dir *d);
/* apply_before_pending: whether s is a batch of w.pending's pass or an earlier one, not
 * yet let go (in flight, or checking its skipped rows after its commit). */
bool apply_before_pending(const struct snk_dir *d, const struct slot *s);
/* apply_send_pending: sends w.pending once nothing of its pass or an earlier one is in
 * flight; called wherever such a batch is let go. */
void apply_send_pending(struct snk_dir *d);

#endif
