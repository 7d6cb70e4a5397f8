/* sync.h - the two directions (a -> b, b -> a), their connections, and the step machine
 * that moves windows of rows from a source to its peer. */
#ifndef SNK_SYNC_H
#define SNK_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "snk/batch.h"
#include "snk/config.h"
#include "snk/db.h"
#include "snk/pgconn.h"
#include "snk/reconcile.h"
#include "snk/snapshot.h"
#include "snk/stats.h"

struct event_base;
struct event;
struct snk_app;
struct snk_ctl;
struct snk_metrics;

enum dir_state {
	DIR_WAIT,    /* waiting for both connections to be ready and checked */
	DIR_LOADING, /* reading the cursor from the destination */
	DIR_IDLE,    /* caught up; a NOTIFY or the timer starts the next pass */
	DIR_PASS,    /* a window is being read and applied */
	DIR_FAILED,  /* a unit failed; waiting for the rest to drain */
	DIR_RETRY,   /* waiting out a backoff before reloading the cursor */
};

struct dir_stats {
	uint64_t rows_read;      /* rows fetched from the source */
	uint64_t rows_copied;    /* rows inserted into the destination */
	uint64_t rows_present;   /* rows already there with the same data */
	uint64_t insert_retries; /* plain INSERTs that met an existing id and were resent */
	uint64_t conflicts;      /* rows already there with different data (left alone) */
	uint64_t batches;
	uint64_t passes;
	uint64_t errors;
	int64_t last_copy_ms;    /* wall clock of the last commit that copied rows, 0: never */
	int64_t pass_started_ms; /* wall clock when the current pass began, 0: no pass */
	int64_t last_pass_us;    /* duration of the last pass with rows */
	int64_t prev_taken_ms;   /* wall clock when the snapshot `committed` was taken */
	int64_t next_taken_ms;   /* the same for the window being applied */
	uint64_t pass_committed; /* rows of the current pass committed in the destination */
	uint64_t rows_ahead;     /* rows whose snk_xid was ahead of the source's counter, restamped */
	struct rate_window copied_rate;
	struct histogram apply;  /* seconds from sending a batch to its commit */
};

struct write_lane;

struct slot {
	struct snk_dir *dir;     /* borrowed */
	struct write_lane *lane; /* borrowed: the session it was sent on */
	struct snk_batch batch;  /* owned buffers, reused */
	bool busy;
	bool final;              /* carries the cursor */
	bool on_conflict;        /* sent as INSERT ... ON CONFLICT DO NOTHING */
	uint64_t inserted;
	int requested;           /* rows asked of the FETCH that filled it */
	int fetched;             /* rows the FETCH returned, large ones included */
	int64_t sent_us;         /* monotonic time the batch was sent */
	uint64_t pass_seq;       /* the pass whose rows it carries */
	/* A final batch carries its window's cursor: the next window may already be running
	 * by the time it commits (see window_handoff in sync.c). */
	struct snk_snapshot cursor;
	uint64_t window_rows;
	int64_t taken_ms;        /* wall clock when `cursor` was taken */
	int64_t pass_started_ms;
};

/* The catalog check (and, for the writer, lock and prepare) run on every (re)connect. */
struct side_check {
	struct snk_side *side;   /* borrowed */
	struct write_lane *lane; /* borrowed: an extra write session, NULL for read and write */
	bool writer;
	struct snk_session_info session;
	bool session_ok;
	struct snk_schema_info info;
	bool info_ok;
	struct snk_shape shape;  /* owned: the table's columns as this session read them */
	bool shape_ok;
	bool locked;
	struct snk_notify_trigger trigger; /* read session, when there is a channel */
	bool trigger_ok;
};

/* The write sessions into one database (write_connections of them). Lane 0 is `write`:
 * it holds the writer lock and commits every cursor. A window's other batches go to the
 * lane with the fewest in flight, so the destination inserts on several backends at once. */
struct write_lane {
	struct snk_side *side;   /* borrowed */
	struct snk_pgconn *conn; /* owned */
	struct side_check check; /* lanes 1 and up; lane 0 uses side->check[1] */
	bool ok;                 /* lanes 1 and up: connected, checked and prepared */
	int units;               /* units in flight on this session */
	uint64_t batches;        /* batches with rows it committed */
	char name[16];           /* "b.write2" */
};

#define SNK_WRITE_LANES_MAX 8

struct snk_side {
	struct snk_app *app;     /* borrowed */
	int index;               /* SNK_DB_A or SNK_DB_B */
	const char *name;        /* "a" or "b" */
	struct snk_pgconn *read; /* owned: windows and LISTEN */
	struct snk_pgconn *write;/* borrowed: lane[0].conn, the lock, the cursor and batches */
	struct write_lane lane[SNK_WRITE_LANES_MAX];
	int nlanes;
	bool read_ok;            /* connected and schema checked */
	bool write_ok;           /* connected, checked, locked and prepared */
	bool ever_locked;
	int64_t lock_wait_since_ms; /* first refusal of the writer lock at start-up, 0: none */
	struct side_check check[2]; /* [0] read, [1] write connection: one check at a time each */
	uint64_t notifies;
	uint64_t own_notifies;   /* notifications caused by snk's own inserts (ignored) */
	char sync_commit[16];    /* synchronous_commit as the first write session reported it
				  * when the cursor was last loaded: a later transaction than the
				  * one that set it, so a setting that did not last shows */
	/* The NOTIFY trigger as the read session found it at its last connect: -1 not known
	 * (not yet checked, or no notify_channel), 0 missing or disabled, 1 present. */
	int notify_trigger;
};

struct snk_dir {
	struct snk_app *app;     /* borrowed */
	const char *name;        /* "a_to_b" */
	const char *role;        /* "a->b", for logs */
	struct snk_side *src;    /* borrowed */
	struct snk_side *dst;    /* borrowed */
	char *source_key;        /* owned: cursor key in the destination */
	enum dir_state state;
	struct snk_snapshot prev;/* the next window starts here: the last window read, whose
				  * final batch may still be committing */
	struct snk_snapshot committed; /* every source row visible here is in the destination */
	struct snk_snapshot next;/* snapshot of the window being applied */
	struct snk_ahead window_ahead; /* rows ahead of the counter in the window being read */
	bool restamp_outstanding;/* snk.restamp_ahead is running on the source's write session */
	bool restamp_off;        /* it failed (logged once): windows stop looking for such rows */
	uint64_t restamp_max_xid;/* the highest such xid the window saw, for the log */
	bool wake_pending;
	bool cursor_done;        /* the window's cursor is exhausted */
	bool fetch_outstanding;
	bool large_outstanding;  /* a fetch of large rows by id is in flight */
	bool final_sent;
	uint64_t pass_seq;       /* increments at each pass_start */
	bool src_tx_open;
	bool bad_result;
	bool optimistic;         /* this window's batches go first as plain INSERTs */
	bool summarize_sent;     /* the unit ending the read transaction also summarizes */
	bool summarize_off;      /* summarizing failed on this connection (logged once) */
	int64_t summarized_ms;   /* monotonic time of the last summarize sent */
	uint64_t brin_next_block;/* the source's BRIN ranges before this block are summarized */
	int inflight;            /* destination units of this pass not finished */
	int units;               /* all units of this direction not finished */
	struct slot *slots;      /* owned array */
	int nslots;
	struct slot *page;       /* borrowed: slot being filled by a FETCH */
	struct slot *large_page; /* borrowed: slot being filled by a fetch of large rows */
	struct snk_idqueue large;/* keys of large rows of this window still to fetch */
	int pass_inline_max;     /* the window's inline limit: rows over it left their values behind */
	struct snk_batch large_keys;/* owned: the key parameters of the next large fetch */
	struct slot *held;       /* borrowed: last page waiting to carry the cursor */
	uint64_t pass_rows;
	double avg_row_bytes;
	int failures;
	bool last_fail_conn;
	/* loading the cursor */
	int load_pending;        /* units of the load not finished */
	struct pgconn_error load_error;
	struct snk_cursor stored;/* as read from the destination */
	struct snk_snapshot src_now; /* the source's snapshot when the cursor was loaded */
	char src_ident[96];      /* identities of both ends, stored with every cursor */
	char dst_ident[96];
	bool reconcile_pending;  /* this direction owes a full reconcile */
	bool caught_up;          /* a pass has completed since start */
	char last_error[512];
	struct event *retry_timer; /* owned */
	struct dir_stats stats;
};

/* The last reload's outcome, for status and metrics; the start counts as a successful one. */
struct snk_reload_result {
	bool successful;
	int64_t at_ms;          /* wall clock of the last verdict */
	int64_t success_at_ms;  /* wall clock of the last successful load */
	char error[800];        /* why the last one failed, "" when it did not; never a conninfo */
};

struct snk_app {
	struct event_base *base;        /* borrowed */
	const struct snk_config *cfg;   /* borrowed; swapped on reload */
	struct snk_table table;
	struct snk_side side[2];
	struct snk_dir dir[2];          /* [0] a -> b, [1] b -> a */
	struct event *poll_timer;       /* owned */
	struct event *stop_timer;       /* owned */
	bool paused;
	bool stopping;
	int exit_code;
	int64_t started_ms;
	int64_t stop_deadline_ms;
	bool ready;                     /* both directions have loaded their cursors once */
	long crash_after_commits;       /* test hook: SIGKILL self after this many cursor commits are sent */
	/* the reconcile (sync_reconcile.c) */
	struct snk_reconcile *rc;       /* owned */
	bool reconcile_wanted;
	char reconcile_reason[128];
	uint64_t reconcile_epoch;       /* bumped whenever a direction starts owing a reconcile */
	uint64_t reconcile_run_epoch;   /* the epoch when the running reconcile began */
	int64_t reconcile_next_ms;      /* reconcile_interval_s: when the next run is due, 0: none */
	int64_t reconcile_retry_ms;     /* after a failed run: not before this */
	int64_t reconcile_logged_ms;
	uint64_t reconcile_runs;
	uint64_t reconcile_failures;
	uint64_t reconcile_conflicts_logged; /* in the current run */
	uint64_t reconcile_repaired_total[2];
	uint64_t reconcile_conflicts_total;
	struct rc_stats reconcile_last; /* of the last finished run */
	void (*on_ready)(struct snk_app *app); /* called once, when ready becomes true */
	struct snk_reload_result reload;       /* written by main's SIGHUP handling */
	/* Set by main once listening, for the status report; NULL when off. */
	struct snk_ctl *ctl;            /* borrowed */
	struct snk_metrics *metrics;    /* borrowed */
};

/* sync_app_init: builds connections and directions for cfg; nothing is started. */
bool sync_app_init(struct snk_app *app, struct event_base *base, const struct snk_config *cfg)
	__attribute__((warn_unused_result));
/* sync_app_start: connects and begins syncing. */
void sync_app_start(struct snk_app *app);
/* sync_app_stop: no new windows; the loop exits once in-flight commits have finished. */
void sync_app_stop(struct snk_app *app);
void sync_app_free(struct snk_app *app);

void sync_pause(struct snk_app *app);
void sync_resume(struct snk_app *app);

const char *sync_dir_state_name(enum dir_state s);
int64_t sync_now_ms(void);
int64_t sync_mono_us(void);

/* sync_dir_lag_ms: an upper bound on the age of the oldest source row not yet in the
 * peer: 0 when caught up, else the time since the last fully applied snapshot was taken. */
int64_t sync_dir_lag_ms(const struct snk_dir *d, int64_t now_ms);
/* sync_dir_pending_rows: rows read from the source and not yet committed in the peer
 * (more may be waiting in the source; this counts what snk holds). */
uint64_t sync_dir_pending_rows(const struct snk_dir *d);
/* sync_dir_echo_skipped: rows the opposite direction wrote into this one's source; they
 * carry snk_xid NULL, so no window of this direction ever reads them back. */
uint64_t sync_dir_echo_skipped(const struct snk_dir *d);
/* sync_side_lanes_ready: the write sessions of side that can take batches now. */
int sync_side_lanes_ready(const struct snk_side *s);
/* sync_side_reconnects: sessions to side re-established after their first, all of them. */
uint64_t sync_side_reconnects(const struct snk_side *s);
/* sync_side_set_conninfo: every session of side reconnects, to conninfo (SIGHUP). */
bool sync_side_set_conninfo(struct snk_side *s, const char *conninfo) __attribute__((warn_unused_result));
void sync_side_set_reconnect_max(struct snk_side *s, int ms);
/* --- the reconcile, in the daemon (sync_reconcile.c) --- */

/* sync_reconcile_init: the engine, on connections of its own (not yet connected). */
bool sync_reconcile_init(struct snk_app *app) __attribute__((warn_unused_result));
/* sync_reconcile_owed: direction d owes a full reconcile (stored with its cursor). */
void sync_reconcile_owed(struct snk_dir *d, const char *reason);
/* sync_reconcile_request: asks for a run as soon as the tail allows; false with msg when
 * one is running already or snk is stopping. */
bool sync_reconcile_request(struct snk_app *app, const char *reason, char *msg, size_t len);
/* sync_reconcile_tick: from the poll timer: starts a run that is due, logs progress. */
void sync_reconcile_tick(struct snk_app *app);
/* sync_reconcile_state: "idle", "waiting" (wanted, tail catching up), "running". */
const char *sync_reconcile_state(const struct snk_app *app);

/* sync_healthy: both databases connected and both lags under max_lag_ms; else why not. */
bool sync_healthy(const struct snk_app *app, int64_t max_lag_ms, char *why, size_t len);

/* sync_degraded: a database is down (a session failed and has not come back) or a
 * direction is failing; why names which, with its last error (libpq's or the server's
 * text, which never holds the conninfo). False while merely connecting or healthy. */
bool sync_degraded(const struct snk_app *app, char *why, size_t len);

#endif
