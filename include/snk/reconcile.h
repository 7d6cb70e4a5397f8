/* reconcile.h - compare the two tables by id range, inside the databases, and (in
 * repair mode) insert on each side the rows only the other side has.
 *
 * One engine serves `snk verify` (RC_VERIFY: changes nothing, lists the differences)
 * and the daemon's reconcile (RC_REPAIR). It runs in a libevent loop on two connections
 * of its own, one pair of queries at a time, so that it never holds up the realtime tail.
 */
#ifndef SNK_RECONCILE_H
#define SNK_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snk/db.h"

struct event_base;
struct snk_reconcile;

enum rc_mode { RC_VERIFY, RC_REPAIR };
enum rc_diff { RC_ONLY_A, RC_ONLY_B, RC_DIFFERENT };

struct rc_stats {
	int64_t started_ms;       /* wall clock; 0: never started */
	int64_t finished_ms;      /* 0 while running */
	double keyspace_done;     /* fraction of the uuid key space compared, 0..1 */
	uint64_t ranges_done;     /* ranges compared */
	uint64_t ranges_pending;  /* ranges known to differ, still to compare */
	uint64_t queries;
	uint64_t bytes_received;  /* result payload from both databases */
	uint64_t bytes_sent;      /* rows sent to a database by repairs */
	long long rows[2];        /* rows in a and b when the run began */
	uint64_t missing[2];      /* rows found missing in a, in b */
	uint64_t repaired[2];     /* rows inserted into a, into b */
	uint64_t conflicts;       /* ids whose data differs between a and b (left alone) */
	uint64_t left_to_tail;    /* rows on one side only, not yet passed by the tail: its job */
	/* Filled by the daemon over the pairs of a run (the engine leaves them 0): rows
	 * inserted into each database of the config, and its rows at its last pair. */
	uint64_t repaired_db[SNK_DB_MAX];
	long long rows_db[SNK_DB_MAX];
	bool ok;                  /* the last finished run compared everything */
	char error[512];          /* why the last run failed */
};

struct rc_hooks {
	void *arg;
	/* RC_REPAIR: whether the tail copying side src to the other has passed a row of src
	 * with this snk_xid (0 for rows snk copied in: NULL, or 0 in an older snk's table):
	 * only then is its absence on the other side a loss to repair, not a row in flight. */
	bool (*passed)(void *arg, int src, uint64_t xid);
	/* Whether the tail has work now: the next step then waits as long as the last took. */
	bool (*busy)(void *arg);
	/* A row whose data differs between the two sides (its key as text); refused_by: -1, or
	 * the side whose other unique index or exclusion constraint refused the row. */
	void (*on_conflict)(void *arg, const char *key, int refused_by);
	/* A connection failed or was lost (side 0 = a); the engine reconnects by itself. */
	void (*on_conn_error)(void *arg, int side, const char *message);
	/* The run ended: stats->ok says whether it compared everything. */
	void (*on_finish)(void *arg, const struct rc_stats *stats);
};

/* rc_new: an engine for the tables between the two conninfos; connects on the first run.
 * RC_VERIFY (one table) reads the table's columns in both databases, compares them and
 * gives it its shape; RC_REPAIR runs only on tables the daemon's sessions have shaped. */
struct snk_reconcile *rc_new(struct event_base *base, struct snk_table *tables, int ntables, char *const conninfo[2],
			     const char *const names[2], int reconnect_max_ms, enum rc_mode mode,
			     size_t batch_max_bytes, const struct rc_hooks *hooks);
void rc_free(struct snk_reconcile *rc);

/* rc_start: begins a run over table (an index into the engine's tables) from the whole key
 * space; false when one is running. */
bool rc_start(struct snk_reconcile *rc, int table);
/* rc_abort: ends the run after its current step, as failed (stats->error = why). */
void rc_abort(struct snk_reconcile *rc, const char *why);
bool rc_running(const struct snk_reconcile *rc);
/* rc_busy: a query of the engine is in flight. */
bool rc_busy(const struct snk_reconcile *rc);
const struct rc_stats *rc_stats(const struct snk_reconcile *rc);
/* rc_seconds: how long the run took, or has taken by now_ms while it runs. */
double rc_seconds(const struct rc_stats *st, int64_t now_ms);
/* rc_eta_s: seconds left for a running run, from its share of the key space done so far;
 * -1 when unknown (nothing done yet, or not running). */
double rc_eta_s(const struct rc_stats *st, int64_t now_ms);
/* rc_set_conninfo: used from the next connection on; the current ones are dropped. */
bool rc_set_conninfo(struct snk_reconcile *rc, char *const conninfo[2]) __attribute__((warn_unused_result));

/* rc_close: between runs, ends the engine's sessions (the next rc_start opens them
 * again); false when a run or a query is on. Not from inside the engine's hooks. */
bool rc_close(struct snk_reconcile *rc);
/* rc_set_tables: the daemon's tables changed (not while a run is on): its sessions reconnect
 * and prepare the new tables' inserts. */
void rc_set_tables(struct snk_reconcile *rc, struct snk_table *tables, int ntables);

/* RC_VERIFY: the differences of the last run, confirmed by a second look at each. */
size_t rc_diff_count(const struct snk_reconcile *rc, enum rc_diff kind);
const unsigned char *rc_diff_id(const struct snk_reconcile *rc, enum rc_diff kind, size_t i);
/* rc_diff_key: the i-th difference's key as text: the uuid, or the key's own text (ROW(...)
 * for a key of several columns) when the key is not one uuid column. */
void rc_diff_key(const struct snk_reconcile *rc, enum rc_diff kind, size_t i, char *buf, size_t len);

/* Pure helpers of the key-space walk, exposed for unit tests. A range is every id whose
 * first `depth` bytes are prefix[0..depth) and whose byte `depth` is in [lo, hi]. */
struct rc_range {
	unsigned char prefix[16];
	int depth;
	int lo, hi;
};
/* rc_range_bounds: the range as [lo_text, hi_text); false when it has no upper bound. */
bool rc_range_bounds(const struct rc_range *r, char lo_text[37], char hi_text[37]);
/* rc_range_share: the fraction of the whole key space the range covers. */
double rc_range_share(const struct rc_range *r);

#endif
