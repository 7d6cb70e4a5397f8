/* sync.h - the daemon's state: the synced tables, the sessions of both databases (side.h),
 * the two directions (dir.h), the reconcile's schedule, and what status and metrics read. */
#ifndef SNK_SYNC_H
#define SNK_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "snk/config.h"
#include "snk/db.h"
#include "snk/dir.h"
#include "snk/lease.h"
#include "snk/reconcile.h"
#include "snk/side.h"

struct event_base;
struct event;
struct snk_ctl;

#define SNK_DIR_MAX (SNK_DB_MAX * (SNK_DB_MAX - 1))

/* sync_dir_index: where direction src -> dst is in app->dir, for ndb databases: src's
 * outgoing directions in the order of their destinations (with two: 0 a -> b, 1 b -> a). */
static inline int sync_dir_index(int ndb, int src, int dst)
{
	return src * (ndb - 1) + (dst < src ? dst : dst - 1);
}
struct snk_metrics;

/* The last reload's outcome, for status and metrics; the start counts as a successful one. */
struct snk_reload_result {
	bool successful;
	int64_t at_ms;          /* wall clock of the last verdict */
	int64_t success_at_ms;  /* wall clock of the last successful load */
	char error[800];        /* why the last one failed, "" when it did not; never a conninfo */
};

#define SNK_PAIR_MAX (SNK_DB_MAX * (SNK_DB_MAX - 1) / 2)

/* When the daemon reconciles, and what its runs did (sync_reconcile.c owns it). A run
 * compares every pair of databases, each pair's tables one after another, on the engine
 * of that pair (two sessions of its own, open only while it runs). */
struct snk_rc_schedule {
	struct snk_reconcile *rc;       /* borrowed: engines[pair], of the pair running (or the last) */
	struct snk_reconcile *engines[SNK_PAIR_MAX]; /* owned: [npairs] */
	int pair_db[SNK_PAIR_MAX][2];   /* the two databases of each pair */
	int npairs;
	int pair;                       /* the pair being compared */
	int skipped;                    /* pairs the running run passed over: a database down, or a
					 * direction between them loading or catching up */
	int skipped_down;               /* of those, for more than a direction's load or catch-up */
	char skip_reason[160];
	bool wait_for_pairs;            /* the last run skipped pairs: the next waits until all can run */
	uint64_t in_flight;             /* copies of the running pair's table left to a third database's tail */
	bool in_flight_seen;            /* some in the running run */
	int in_flight_runs;             /* runs in a row that saw some: each waits longer for the next */
	bool wanted;
	char reason[128];
	uint64_t epoch;                 /* bumped whenever a table starts owing a reconcile */
	uint64_t run_epoch;             /* the epoch when the running run began */
	int table;                      /* the table being compared, -1 between runs */
	int64_t next_ms;                /* reconcile_interval_s: when the next run is due, 0: none */
	int64_t retry_ms;               /* after a failed run: not before this */
	int64_t logged_ms;
	uint64_t runs;
	uint64_t failures;
	uint64_t conflicts_logged;      /* in the current run */
	uint64_t repaired_total[SNK_DB_MAX]; /* rows the reconcile inserted into each database */
	uint64_t conflicts_total;
	struct rc_stats run;            /* the running run's figures over the tables done so far */
	struct rc_stats last;           /* of the last finished run */
};

struct snk_app {
	struct event_base *base;        /* borrowed */
	const struct snk_config *cfg;   /* borrowed; swapped on reload */
	struct snk_table *tables;       /* owned: [ntables], the config's tables in its order */
	int ntables;
	struct snk_side side[SNK_DB_MAX]; /* [ndb], sorted by name (config.c) */
	int ndb;
	struct snk_dir dir[SNK_DIR_MAX]; /* [ndir]: every ordered pair, sync_dir_index */
	int ndir;
	struct event *poll_timer;       /* owned */
	uint64_t poll_ticks;
	struct event *stop_timer;       /* owned */
	bool paused;
	bool stopping;
	bool tables_pending;            /* a reload changed the tables: no pass starts until they are in */
	int exit_code;
	int64_t started_ms;
	int64_t stop_deadline_ms;
	bool ready;                     /* every direction has loaded its cursors once */
	long crash_after_commits;       /* test hook: SIGKILL self after this many cursor commits are sent */
	struct snk_rc_schedule reconcile;
	struct snk_lease lease;         /* this snk's role among several (lease.c) */
	void (*on_ready)(struct snk_app *app); /* called once, when ready becomes true */
	void (*on_role)(struct snk_app *app);  /* called at every change of lease.role */
	struct snk_reload_result reload;       /* written by main's SIGHUP handling */
	/* Set by main once listening, for the status report; NULL when off. */
	struct snk_ctl *ctl;            /* borrowed */
	struct snk_metrics *metrics;    /* borrowed */
};

/* sync_app_init: builds tables, sessions and directions for cfg (its tables resolved);
 * nothing is started. */
bool sync_app_init(struct snk_app *app, struct event_base *base, const struct snk_config *cfg)
	__attribute__((warn_unused_result));
/* sync_app_start: takes the lease (lease.c), then connects and begins syncing. */
void sync_app_start(struct snk_app *app);
/* sync_app_stop: no new windows; the loop exits once in-flight commits have finished. */
void sync_app_stop(struct snk_app *app);
void sync_app_free(struct snk_app *app);
/* sync_app_set_config: a reloaded config (same tables) is in force from now on. */
void sync_app_set_config(struct snk_app *app, const struct snk_config *cfg);

/* sync_app_set_tables: the config in force (sync_app_set_config) lists other tables: they
 * go in once the passes in flight have committed. */
void sync_app_set_tables(struct snk_app *app);

void sync_pause(struct snk_app *app);
void sync_resume(struct snk_app *app);

/* sync_dir_echo_skipped: rows the other directions wrote into this one's source; they
 * carry snk_xid NULL, so no window of this direction ever reads them back. */
uint64_t sync_dir_echo_skipped(const struct snk_dir *d);
/* sync_table_copy_progress: 0..1 of table t's first copy in d; 1 when it has none. */
double sync_table_copy_progress(const struct snk_dir *d, int t);
/* sync_table_copy_eta_s: seconds left of t's first copy in d, -1 when unknown or none. */
double sync_table_copy_eta_s(const struct snk_dir *d, int t, int64_t now_ms);

/* --- the reconcile, in the daemon (sync_reconcile.c) --- */

/* sync_reconcile_init: the engine, on sessions of its own (not yet connected). */
bool sync_reconcile_init(struct snk_app *app) __attribute__((warn_unused_result));
void sync_reconcile_free(struct snk_app *app);
/* sync_reconcile_request: asks for a run as soon as the tail allows; false with msg when
 * one is running already or snk is stopping. */
bool sync_reconcile_request(struct snk_app *app, const char *reason, char *msg, size_t len);
/* sync_reconcile_tick: from the poll timer: starts a run that is due, logs progress. */
void sync_reconcile_tick(struct snk_app *app);
/* sync_reconcile_state: "idle", "waiting" (wanted, tail catching up), "running". */
const char *sync_reconcile_state(const struct snk_app *app);
/* sync_reconcile_running: the figures of the run in progress, NULL when none runs. */
const struct rc_stats *sync_reconcile_running(const struct snk_app *app);
/* sync_reconcile_owed_in: whether some table of direction d owes a reconcile. */
bool sync_reconcile_owed_in(const struct snk_dir *d);
/* sync_reconcile_interval: a reloaded reconcile_interval_s from now on. */
void sync_reconcile_interval(struct snk_app *app, int interval_s);
/* sync_reconcile_set_conninfo: the engines' sessions reconnect to these (SIGHUP). */
bool sync_reconcile_set_conninfo(struct snk_app *app, char *const conninfo[SNK_DB_MAX]) __attribute__((warn_unused_result));
/* sync_reconcile_set_tables: the engines take the reloaded tables (not while a run is on). */
void sync_reconcile_set_tables(struct snk_app *app);
/* sync_reconcile_touches: a run is comparing a pair that includes database db. */
bool sync_reconcile_touches(const struct snk_app *app, int db);

/* sync_healthy: every database connected and every lag under max_lag_ms; else why not. */
bool sync_healthy(const struct snk_app *app, int64_t max_lag_ms, char *why, size_t len);

/* sync_degraded: a database is down (a session failed and has not come back) or a
 * direction is failing; why names which, with its last error (libpq's or the server's
 * text, which never holds the conninfo). False while merely connecting or healthy. */
bool sync_degraded(const struct snk_app *app, char *why, size_t len);

#endif
