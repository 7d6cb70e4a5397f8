/* reconcile.c - the comparison of the two tables by id range, and its repairs.
 *
 * The walk. The key space of uuids is split by bytes: a range fixes the first `depth`
 * bytes of the id and bounds the next one. The first step asks each side for the digest
 * of the whole table (row count and the exact sum of a 64-bit hash of every (id, data)):
 * equal digests end the run, and two identical tables cost one query each. Otherwise a
 * range is split, in one query per side, into the digests of its 256 sub-ranges (GROUP BY
 * the next byte of the id); equal sub-ranges are done; a differing sub-range is split
 * again while it holds more than LEAF_ROWS rows, and differing neighbours small enough are
 * compared together, as the ids and hashes of their rows (never the data). What crosses
 * the network therefore grows with the difference, not with the table.
 *
 * The repair (RC_REPAIR). A row found on one side only is copied to the other with
 * INSERT ... ON CONFLICT DO NOTHING and snk_xid NULL (so the tail never echoes it), but only
 * when the tail copying that side has already passed the row (hooks.passed); a newer row is
 * in flight and is the tail's job. Data that differs is a conflict: counted, reported,
 * never overwritten. Missing rows are gathered across ranges and copied REPAIR_ROWS at a
 * time. Every repair is an idempotent insert of a row the other side holds, so any step
 * may be repeated: after a lost connection a comparison is sent again, and a cut repair
 * ends the run as failed, to be started over.
 *
 * The pace. One pair of queries is in flight at a time, on two connections of the
 * engine's own; while the tail has work (hooks.busy) each step is followed by a pause as
 * long as the step took, so the reconcile takes at most half of the databases' time.
 *
 * The verify (RC_VERIFY) changes nothing: it records the differing ids, then looks at
 * them once more, by id, and keeps only those still differing (rows that were in flight
 * when their range was read have arrived by then).
 */
#include "snk/reconcile.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/batch.h"
#include "snk/pgconn.h"
#include "snk/clock.h"

#define LEAF_ROWS 2000
#define CONFIRM_IDS 1000
#define REPAIR_ROWS 1000 /* missing rows gathered across ranges before they are copied */
#define PAUSE_MAX_US 1000000

enum item_kind { ITEM_DIGEST, ITEM_CHILDREN, ITEM_ROWS };

struct item {
	struct rc_range r;
	enum item_kind kind;
};

struct idlist {
	unsigned char *ids; /* owned: 16 bytes each */
	char **keys;        /* owned: each id's key as text, NULL when it is a uuid key's own */
	size_t n;
	size_t cap;
};

enum phase { PH_WALK, PH_CONFIRM };
enum step { STEP_NONE, STEP_ITEM, STEP_FETCH, STEP_INSERT, STEP_CONFIRM };

struct side_arg {
	struct snk_reconcile *rc;
	int side;
	struct snk_session_info session;
	bool session_ok;
	struct snk_schema_info info; /* RC_VERIFY: the table as this side's catalog has it */
	bool info_ok;
	struct snk_shape shape;      /* RC_VERIFY, owned: its columns */
	bool shape_ok;
};

struct snk_reconcile {
	struct event_base *base;       /* borrowed */
	struct snk_table *tables;      /* borrowed: [ntables]; RC_VERIFY gives them their shapes */
	int ntables;
	struct snk_table *t;           /* borrowed: the table of the run (tables[i]) */
	enum rc_mode mode;
	size_t batch_max_bytes;
	struct rc_hooks hooks;
	char db[2][SNK_DB_NAME_MAX + 1]; /* the two databases' names, for messages */
	struct snk_pgconn *conn[2];    /* owned */
	struct side_arg sarg[2];
	bool conns_started;
	bool setup_ok[2];
	struct event *step_timer;      /* owned */
	bool running;
	bool aborting;
	char abort_why[256];
	enum phase phase;
	struct item *stack;            /* owned: ranges still to compare */
	size_t nstack;
	size_t capstack;
	struct item cur;
	bool have_cur;
	enum step step;
	int pending;                   /* units of the step in flight */
	bool step_lost;
	bool step_bad;
	char step_error[512];
	struct snk_range_digest dig[2][256];
	struct snk_row_sum *sums[2];   /* owned */
	int nsums[2];
	struct snk_idqueue queue[2];   /* ids to copy into side i from the other */
	struct snk_batch kids;         /* owned: the uuid[] parameter of a fetch or a confirmation */
	struct snk_batch batch;        /* owned: rows being repaired */
	int repair_into;
	struct idlist diffs[3];        /* RC_VERIFY */
	struct idlist suspects;        /* RC_VERIFY: ids to look at again */
	size_t confirm_pos;
	int64_t step_started_us;
	int64_t last_step_us;
	struct rc_stats stats;
};

static void schedule(struct snk_reconcile *rc, int64_t delay_us);

/* ---- the key space ---- */

bool rc_range_bounds(const struct rc_range *r, char lo_text[37], char hi_text[37])
{
	unsigned char lo[16] = { 0 }, hi[16] = { 0 };
	int i;

	memcpy(lo, r->prefix, (size_t)r->depth);
	lo[r->depth] = (unsigned char)r->lo;
	db_uuid_text(lo, lo_text);
	memcpy(hi, r->prefix, (size_t)r->depth);
	if (r->hi < 255) {
		hi[r->depth] = (unsigned char)(r->hi + 1);
	} else {
		/* prefix + 1, carried: the first id after every id with this prefix */
		for (i = r->depth - 1; i >= 0 && hi[i] == 0xff; i--)
			hi[i] = 0;
		if (i < 0)
			return false;
		hi[i]++;
	}
	db_uuid_text(hi, hi_text);
	return true;
}

double rc_range_share(const struct rc_range *r)
{
	double share = (double)(r->hi - r->lo + 1) / 256.0;

	for (int i = 0; i < r->depth; i++)
		share /= 256.0;
	return share;
}

/* ---- small containers ---- */

static bool idlist_add(struct idlist *l, const unsigned char id[16], const char *key)
{
	char *k = key ? strdup(key) : NULL;

	if (key && !k)
		return false;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		unsigned char *p = realloc(l->ids, cap * 16);
		char **keys;

		if (!p) {
			free(k);
			return false;
		}
		l->ids = p;
		keys = realloc(l->keys, cap * sizeof(*keys));
		if (!keys) {
			free(k);
			return false;
		}
		l->keys = keys;
		l->cap = cap;
	}
	l->keys[l->n] = k;
	memcpy(l->ids + l->n++ * 16, id, 16);
	return true;
}

static void idlist_clear(struct idlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->keys[i]);
	l->n = 0;
}

static void idlist_free(struct idlist *l)
{
	idlist_clear(l);
	free(l->ids);
	free(l->keys);
	memset(l, 0, sizeof(*l));
}

static bool push(struct snk_reconcile *rc, const struct item *it)
{
	if (rc->nstack == rc->capstack) {
		size_t cap = rc->capstack ? rc->capstack * 2 : 256;
		struct item *p = realloc(rc->stack, cap * sizeof(*p));

		if (!p)
			return false;
		rc->stack = p;
		rc->capstack = cap;
	}
	rc->stack[rc->nstack++] = *it;
	rc->stats.ranges_pending = rc->nstack;
	return true;
}

static void free_sums(struct snk_reconcile *rc)
{
	for (int s = 0; s < 2; s++) {
		db_row_sums_free(rc->sums[s], rc->nsums[s]);
		rc->sums[s] = NULL;
		rc->nsums[s] = 0;
	}
}

/* ---- the end of a run ---- */

static void finish(struct snk_reconcile *rc, bool ok, const char *why)
{
	rc->running = false;
	rc->aborting = false;
	rc->stats.ok = ok;
	snprintf(rc->stats.error, sizeof(rc->stats.error), "%s", ok ? "" : why);
	rc->stats.finished_ms = clock_now_ms();
	rc->nstack = 0;
	rc->stats.ranges_pending = 0;
	rc->have_cur = false;
	free_sums(rc);
	for (int s = 0; s < 2; s++)
		idqueue_clear(&rc->queue[s]);
	idlist_free(&rc->suspects);
	if (rc->hooks.on_finish)
		rc->hooks.on_finish(rc->hooks.arg, &rc->stats);
}

static void fail_oom(struct snk_reconcile *rc)
{
	rc_abort(rc, "out of memory");
}

/* ---- what a comparison finds ---- */

static void found_only(struct snk_reconcile *rc, int has, const struct snk_row_sum *row)
{
	if (rc->mode == RC_VERIFY) {
		if (!idlist_add(&rc->diffs[has == SNK_DB_A ? RC_ONLY_A : RC_ONLY_B], row->id, row->key))
			fail_oom(rc);
		return;
	}
	if (!rc->hooks.passed(rc->hooks.arg, has, row->xid)) {
		rc->stats.left_to_tail++;
		return;
	}
	rc->stats.missing[1 - has]++;
	if (!idqueue_push_id(&rc->queue[1 - has], row->id, row->bytes))
		fail_oom(rc);
}

static void found_different(struct snk_reconcile *rc, const struct snk_row_sum *row)
{
	char text[37];

	if (rc->mode == RC_VERIFY) {
		if (!idlist_add(&rc->diffs[RC_DIFFERENT], row->id, row->key))
			fail_oom(rc);
		return;
	}
	rc->stats.conflicts++;
	db_uuid_text(row->id, text);
	if (rc->hooks.on_conflict)
		rc->hooks.on_conflict(rc->hooks.arg, row->key ? row->key : text, -1);
}

/* Both sides' rows of the same ids or range, each ordered by id. */
static void merge(struct snk_reconcile *rc)
{
	const struct snk_row_sum *a = rc->sums[0], *b = rc->sums[1];
	int na = rc->nsums[0], nb = rc->nsums[1], i = 0, j = 0;

	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : memcmp(a[i].id, b[j].id, 16);

		if (c < 0) {
			found_only(rc, SNK_DB_A, &a[i++]);
		} else if (c > 0) {
			found_only(rc, SNK_DB_B, &b[j++]);
		} else {
			if (a[i].hash != b[j].hash)
				found_different(rc, &a[i]);
			i++;
			j++;
		}
	}
	free_sums(rc);
}

static bool same(const struct snk_range_digest *x, const struct snk_range_digest *y)
{
	return x->count == y->count && strcmp(x->sum, y->sum) == 0;
}

static long long biggest(const struct snk_range_digest *x, const struct snk_range_digest *y)
{
	return x->count > y->count ? x->count : y->count;
}

/* The sub-ranges of cur, after a children query. Equal ones are done. A differing one
 * with more than LEAF_ROWS rows is split again. Small differing ones are compared row by
 * row, adjacent ones together while they stay within LEAF_ROWS rows. (Taking in the equal
 * sub-ranges between them too was measured slower: with 1% of 1M rows differing it cut
 * the queries tenfold but hashed every row, 8.4 s instead of 6.8 s.) */
static bool child_differs(const struct snk_reconcile *rc, int b)
{
	return !same(&rc->dig[0][b], &rc->dig[1][b]);
}

static long long child_rows(const struct snk_reconcile *rc, int b)
{
	return biggest(&rc->dig[0][b], &rc->dig[1][b]);
}

static void expand_children(struct snk_reconcile *rc)
{
	const struct rc_range *r = &rc->cur.r;
	bool deepest = r->depth + 1 >= 16;
	int b = r->lo;

	while (b <= r->hi) {
		struct item it = { .r = *r };
		long long total;
		int end = b;

		if (!child_differs(rc, b)) {
			it.r.lo = it.r.hi = b++;
			rc->stats.keyspace_done += rc_range_share(&it.r);
			continue;
		}
		if (child_rows(rc, b) > LEAF_ROWS && !deepest) {
			it.kind = ITEM_CHILDREN;
			it.r.prefix[r->depth] = (unsigned char)b++;
			it.r.depth = r->depth + 1;
			it.r.lo = 0;
			it.r.hi = 255;
			if (!push(rc, &it))
				fail_oom(rc);
			continue;
		}
		total = child_rows(rc, b);
		for (int e = b + 1; e <= r->hi && child_differs(rc, e); e++) {
			total += child_rows(rc, e);
			if (total > LEAF_ROWS || (child_rows(rc, e) > LEAF_ROWS && !deepest))
				break;
			end = e;
		}
		it.kind = ITEM_ROWS;
		it.r.lo = b;
		it.r.hi = end;
		if (!push(rc, &it))
			fail_oom(rc);
		b = end + 1;
	}
}

static void item_done(struct snk_reconcile *rc, double share)
{
	rc->stats.keyspace_done += share;
	rc->stats.ranges_done++;
	rc->have_cur = false;
}

/* A step's results are all in: act on them. */
static void process_item(struct snk_reconcile *rc)
{
	struct item *it = &rc->cur;

	switch (it->kind) {
	case ITEM_DIGEST:
		rc->stats.rows[0] = rc->dig[0][0].count;
		rc->stats.rows[1] = rc->dig[1][0].count;
		if (same(&rc->dig[0][0], &rc->dig[1][0])) {
			item_done(rc, rc_range_share(&it->r));
		} else {
			it->kind = biggest(&rc->dig[0][0], &rc->dig[1][0]) <= LEAF_ROWS ? ITEM_ROWS : ITEM_CHILDREN;
			if (!push(rc, it))
				fail_oom(rc);
			item_done(rc, 0);
		}
		return;
	case ITEM_CHILDREN:
		expand_children(rc);
		item_done(rc, 0);
		return;
	case ITEM_ROWS:
		merge(rc);
		item_done(rc, rc_range_share(&it->r));
		return;
	}
}

/* ---- sending steps ---- */

static void result_cb(void *arg, int stmt, const PGresult *res)
{
	struct side_arg *sa = arg;
	struct snk_reconcile *rc = sa->rc;
	int side = sa->side;
	bool ok = true;

	for (int i = 0; i < PQntuples(res); i++)
		for (int f = 0; f < PQnfields(res); f++)
			rc->stats.bytes_received += (uint64_t)PQgetlength(res, i, f);
	switch (rc->step) {
	case STEP_ITEM:
		if (rc->cur.kind == ITEM_ROWS)
			ok = db_read_row_sums(res, &rc->sums[side], &rc->nsums[side]);
		else
			ok = db_read_range_digests(res, rc->dig[side]);
		break;
	case STEP_CONFIRM:
		ok = db_read_row_sums(res, &rc->sums[side], &rc->nsums[side]);
		break;
	case STEP_FETCH:
		ok = db_read_rows(res, rc->t, &rc->batch);
		break;
	case STEP_INSERT:
		if (stmt == 0) {
			rc->stats.repaired[rc->repair_into] += db_read_affected(res);
		} else {
			for (int i = 0; i < db_read_ntuples(res); i++) {
				bool refused;
				const char *key = db_read_conflict(res, i, &refused);

				rc->stats.conflicts++;
				if (rc->hooks.on_conflict)
					rc->hooks.on_conflict(rc->hooks.arg, key, refused ? rc->repair_into : -1);
			}
		}
		break;
	case STEP_NONE:
		break;
	}
	if (!ok)
		rc->step_bad = true;
}

static void step_complete(struct snk_reconcile *rc);

static void done_cb(void *arg, const struct pgconn_error *err)
{
	struct side_arg *sa = arg;
	struct snk_reconcile *rc = sa->rc;

	if (err) {
		if (err->conn_lost)
			rc->step_lost = true;
		else if (!rc->step_error[0])
			snprintf(rc->step_error, sizeof(rc->step_error), "database %s: %s", rc->db[sa->side],
				 err->message);
	}
	if (--rc->pending == 0)
		step_complete(rc);
}

static bool begin(struct snk_reconcile *rc, int side)
{
	if (!pgconn_begin(rc->conn[side], result_cb, done_cb, &rc->sarg[side])) {
		rc->step_lost = true;
		return false;
	}
	rc->pending++;
	rc->stats.queries++;
	return true;
}

static void start_step(struct snk_reconcile *rc, enum step step)
{
	rc->step = step;
	rc->pending = 0;
	rc->step_lost = rc->step_bad = false;
	rc->step_error[0] = '\0';
	rc->step_started_us = clock_mono_us();
}

static void send_item(struct snk_reconcile *rc)
{
	char lo[37], hi[37];
	bool bounded = rc_range_bounds(&rc->cur.r, lo, hi);

	start_step(rc, STEP_ITEM);
	for (int s = 0; s < 2; s++) {
		if (!begin(rc, s))
			continue;
		switch (rc->cur.kind) {
		case ITEM_DIGEST:
			db_send_range_digest(rc->conn[s], rc->t, lo, bounded ? hi : NULL);
			break;
		case ITEM_CHILDREN:
			db_send_range_children(rc->conn[s], rc->t, lo, bounded ? hi : NULL, rc->cur.r.depth);
			break;
		case ITEM_ROWS:
			db_send_range_rows(rc->conn[s], rc->t, lo, bounded ? hi : NULL, rc->mode == RC_REPAIR);
			break;
		}
		pgconn_end(rc->conn[s]);
	}
	if (rc->pending == 0)
		step_complete(rc);
}

/* The next repair: rows missing in side `into`, fetched by id from the other side. */
static bool kids_layout(struct snk_reconcile *rc)
{
	static const uint32_t uuid[1] = { SNK_UUIDOID };

	return batch_layout(&rc->kids, 1, uuid);
}

static void send_fetch(struct snk_reconcile *rc, int into)
{
	int from = 1 - into;

	if (!kids_layout(rc) || idqueue_take(&rc->queue[into], rc->batch_max_bytes, &rc->kids) == 0 ||
	    !db_row_layout(rc->t, &rc->batch)) {
		fail_oom(rc);
		return;
	}
	start_step(rc, STEP_FETCH);
	rc->repair_into = into;
	if (begin(rc, from)) {
		db_send_fetch_kid(rc->conn[from], rc->t, &rc->kids);
		pgconn_end(rc->conn[from]);
	}
	if (rc->pending == 0)
		step_complete(rc);
}

static void send_insert(struct snk_reconcile *rc)
{
	int into = rc->repair_into;

	start_step(rc, STEP_INSERT);
	rc->repair_into = into;
	for (int i = 0; i < rc->batch.ncols; i++)
		rc->stats.bytes_sent += rc->batch.col[i].len;
	if (begin(rc, into)) {
		db_send_insert(rc->conn[into], rc->t, &rc->batch, true);
		db_send_conflicts(rc->conn[into], rc->t, &rc->batch);
		pgconn_end(rc->conn[into]);
	}
	if (rc->pending == 0)
		step_complete(rc);
}

static void send_confirm(struct snk_reconcile *rc)
{
	struct snk_idqueue q = { 0 };
	size_t n = rc->suspects.n - rc->confirm_pos;

	bool ok = true;

	if (n > CONFIRM_IDS)
		n = CONFIRM_IDS;
	for (size_t i = 0; ok && i < n; i++)
		ok = idqueue_push_id(&q, rc->suspects.ids + (rc->confirm_pos + i) * 16, 0);
	ok = ok && kids_layout(rc) && idqueue_take(&q, UINT64_MAX, &rc->kids) == (int)n;
	idqueue_free(&q);
	if (!ok) {
		fail_oom(rc);
		return;
	}
	start_step(rc, STEP_CONFIRM);
	for (int s = 0; s < 2; s++) {
		if (!begin(rc, s))
			continue;
		db_send_rows_by_id(rc->conn[s], rc->t, &rc->kids, rc->mode == RC_REPAIR);
		pgconn_end(rc->conn[s]);
	}
	if (rc->pending == 0)
		step_complete(rc);
}

static void step_complete(struct snk_reconcile *rc)
{
	enum step step = rc->step;
	int64_t pause = 0;

	rc->step = STEP_NONE;
	rc->last_step_us = clock_mono_us() - rc->step_started_us;
	if (rc->step_lost || rc->step_error[0] || rc->step_bad) {
		free_sums(rc);
		if (rc->step_error[0] || rc->step_bad) {
			finish(rc, false, rc->step_error[0] ? rc->step_error : "unexpected result from the database");
			return;
		}
		/* Lost: a comparison is sent again once both connections are back. Repairs gather
		 * rows of ranges already compared: an interrupted one ends the run, which then
		 * starts over (every repair is idempotent). */
		if (step == STEP_FETCH || step == STEP_INSERT) {
			finish(rc, false, "a connection was lost during a repair");
			return;
		}
		schedule(rc, 0);
		return;
	}
	switch (step) {
	case STEP_ITEM:
		process_item(rc);
		break;
	case STEP_FETCH:
		send_insert(rc);
		return;
	case STEP_CONFIRM:
		merge(rc);
		rc->confirm_pos += CONFIRM_IDS;
		break;
	case STEP_INSERT:
	case STEP_NONE:
		break;
	}
	if (rc->hooks.busy && rc->hooks.busy(rc->hooks.arg))
		pause = rc->last_step_us < PAUSE_MAX_US ? rc->last_step_us : PAUSE_MAX_US;
	schedule(rc, pause);
}

/* ---- the step loop ---- */

static void start_confirm(struct snk_reconcile *rc)
{
	rc->phase = PH_CONFIRM;
	rc->confirm_pos = 0;
	idlist_free(&rc->suspects);
	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; i < rc->diffs[k].n; i++) {
			if (!idlist_add(&rc->suspects, rc->diffs[k].ids + i * 16, NULL)) {
				fail_oom(rc);
				return;
			}
		}
		idlist_clear(&rc->diffs[k]);
	}
}

static void next_step(struct snk_reconcile *rc)
{
	if (!rc->running || rc->step != STEP_NONE)
		return;
	if (rc->aborting) {
		finish(rc, false, rc->abort_why);
		return;
	}
	if (!rc->setup_ok[0] || !rc->setup_ok[1])
		return; /* resumed by conn_state_cb */
	if (rc->phase == PH_CONFIRM) {
		if (rc->confirm_pos < rc->suspects.n)
			send_confirm(rc);
		else
			finish(rc, true, NULL);
		return;
	}
	/* Missing rows are copied in groups, gathered across ranges, and at the end. */
	for (int into = SNK_DB_B; into >= SNK_DB_A; into--) {
		size_t n = rc->queue[into].n;

		if (n >= REPAIR_ROWS || (n > 0 && !rc->have_cur && rc->nstack == 0)) {
			send_fetch(rc, into);
			return;
		}
	}
	if (!rc->have_cur) {
		if (rc->nstack == 0) {
			if (rc->mode == RC_VERIFY) {
				start_confirm(rc);
				schedule(rc, 0);
			} else {
				finish(rc, true, NULL);
			}
			return;
		}
		rc->cur = rc->stack[--rc->nstack];
		rc->stats.ranges_pending = rc->nstack;
		rc->have_cur = true;
	}
	send_item(rc);
}

static void step_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	next_step(arg);
}

static void schedule(struct snk_reconcile *rc, int64_t delay_us)
{
	struct timeval tv = { (time_t)(delay_us / 1000000), (suseconds_t)(delay_us % 1000000) };

	evtimer_add(rc->step_timer, &tv);
}

/* ---- connections ---- */

static void setup_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct side_arg *sa = arg;

	if (stmt == 0)
		sa->session_ok = db_read_session(res, &sa->session);
	else if (stmt == 1 && sa->rc->mode == RC_VERIFY)
		sa->info_ok = db_read_schema(res, &sa->info);
	else if (stmt == 2 && sa->rc->mode == RC_VERIFY)
		sa->shape_ok = db_read_shape(res, &sa->shape);
}

/* verify checks the table first, so that a missing one is reported with the daemon's
 * advice, not as the raw error of the first digest query. */
static bool verify_table_ok(struct side_arg *sa)
{
	struct snk_reconcile *rc = sa->rc;
	char buf[512], why[600];
	const char *problem;

	if (rc->mode != RC_VERIFY || !sa->info_ok)
		return true;
	problem = db_table_problem(&sa->info, rc->t, buf, sizeof(buf));
	if (problem) {
		snprintf(why, sizeof(why), "database %s: %s", rc->db[sa->side], problem);
	} else if (!sa->shape_ok) {
		snprintf(why, sizeof(why), "database %s: unexpected result of the column check", rc->db[sa->side]);
	} else if ((problem = db_shape_problem(rc->t, &sa->shape, rc->db[sa->side], buf, sizeof(buf)))) {
		snprintf(why, sizeof(why), "%s", problem);
	} else if (!rc->t->shaped && !db_table_shape(rc->t, &sa->shape, rc->db[sa->side])) {
		snprintf(why, sizeof(why), "out of memory");
	} else {
		return true;
	}
	if (rc->running)
		finish(rc, false, why);
	return false;
}

static void setup_done_cb(void *arg, const struct pgconn_error *err)
{
	struct side_arg *sa = arg;
	char buf[512];
	const char *problem = sa->session_ok ? db_session_problem(&sa->session, true, buf, sizeof(buf)) : NULL;

	if (!err && !sa->session_ok)
		problem = "BUG: unexpected result of the session setup";
	if (err || problem) {
		/* A session that does not run as snk needs is never used; it is retried. */
		if (!err || !err->conn_lost)
			pgconn_drop(sa->rc->conn[sa->side], err ? err->message : problem);
		return;
	}
	if (!verify_table_ok(sa))
		return;
	sa->rc->setup_ok[sa->side] = true;
	schedule(sa->rc, 0);
}

static void conn_state_cb(struct snk_pgconn *c, void *arg)
{
	struct side_arg *sa = arg;
	struct snk_reconcile *rc = sa->rc;

	rc->setup_ok[sa->side] = false;
	sa->session_ok = false;
	sa->info_ok = false;
	sa->shape_ok = false;
	db_shape_clear(&sa->shape);
	if (!pgconn_ready(c)) {
		if (rc->hooks.on_conn_error)
			rc->hooks.on_conn_error(rc->hooks.arg, sa->side, pgconn_last_error(c));
		return;
	}
	if (!pgconn_begin(c, setup_result_cb, setup_done_cb, sa))
		return;
	if (db_send_session_setup(c)) {
		/* the daemon's tables are shaped before any run: every insert is prepared once */
		for (int i = 0; rc->mode == RC_REPAIR && i < rc->ntables; i++)
			(void)db_send_prepare_insert(c, &rc->tables[i]);
		if (rc->mode == RC_VERIFY)
			(void)db_send_schema_check(c, rc->t);
	}
	pgconn_end(c);
}

/* ---- the interface ---- */

struct snk_reconcile *rc_new(struct event_base *base, struct snk_table *tables, int ntables, char *const conninfo[2],
			     const char *const names[2], int reconnect_max_ms, enum rc_mode mode,
			     size_t batch_max_bytes, const struct rc_hooks *hooks)
{
	struct snk_reconcile *rc = calloc(1, sizeof(*rc));
	char name[SNK_DB_NAME_MAX + 16];

	if (!rc)
		return NULL;
	rc->base = base;
	rc->tables = tables;
	rc->ntables = ntables;
	rc->t = &tables[0];
	rc->mode = mode;
	rc->batch_max_bytes = batch_max_bytes;
	rc->hooks = *hooks;
	rc->step_timer = evtimer_new(base, step_timer_cb, rc);
	for (int s = 0; s < 2; s++) {
		rc->sarg[s].rc = rc;
		rc->sarg[s].side = s;
		snprintf(rc->db[s], sizeof(rc->db[s]), "%s", names[s]);
		snprintf(name, sizeof(name), "%s.%s", names[s], mode == RC_VERIFY ? "verify" : "reconcile");
		rc->conn[s] = pgconn_new(base, name, conninfo[s], reconnect_max_ms,
					 conn_state_cb, NULL, &rc->sarg[s]);
	}
	if (!rc->step_timer || !rc->conn[0] || !rc->conn[1]) {
		rc_free(rc);
		return NULL;
	}
	return rc;
}

void rc_free(struct snk_reconcile *rc)
{
	if (!rc)
		return;
	for (int s = 0; s < 2; s++) {
		pgconn_free(rc->conn[s]);
		idqueue_free(&rc->queue[s]);
		db_shape_clear(&rc->sarg[s].shape);
	}
	if (rc->step_timer)
		event_free(rc->step_timer);
	free_sums(rc);
	free(rc->stack);
	batch_free(&rc->kids);
	batch_free(&rc->batch);
	for (int k = 0; k < 3; k++)
		idlist_free(&rc->diffs[k]);
	idlist_free(&rc->suspects);
	free(rc);
}

bool rc_start(struct snk_reconcile *rc, int table)
{
	struct item root = { .r = { .depth = 0, .lo = 0, .hi = 255 }, .kind = ITEM_DIGEST };

	if (rc->running || table < 0 || table >= rc->ntables)
		return false;
	rc->t = &rc->tables[table];
	memset(&rc->stats, 0, sizeof(rc->stats));
	rc->stats.started_ms = clock_now_ms();
	for (int k = 0; k < 3; k++)
		idlist_clear(&rc->diffs[k]);
	rc->phase = PH_WALK;
	rc->nstack = 0;
	rc->have_cur = false;
	rc->aborting = false;
	rc->running = true;
	if (!push(rc, &root)) {
		finish(rc, false, "out of memory");
		return true;
	}
	if (!rc->conns_started) {
		rc->conns_started = true;
		pgconn_start(rc->conn[0]);
		pgconn_start(rc->conn[1]);
	}
	schedule(rc, 0);
	return true;
}

void rc_abort(struct snk_reconcile *rc, const char *why)
{
	if (!rc->running || rc->aborting)
		return;
	rc->aborting = true;
	snprintf(rc->abort_why, sizeof(rc->abort_why), "%s", why);
	schedule(rc, 0);
}

bool rc_running(const struct snk_reconcile *rc)
{
	return rc->running;
}

bool rc_busy(const struct snk_reconcile *rc)
{
	return rc->step != STEP_NONE;
}

const struct rc_stats *rc_stats(const struct snk_reconcile *rc)
{
	return &rc->stats;
}

double rc_seconds(const struct rc_stats *st, int64_t now_ms)
{
	return (double)((st->finished_ms ? st->finished_ms : now_ms) - st->started_ms) / 1000.0;
}

double rc_eta_s(const struct rc_stats *st, int64_t now_ms)
{
	if (st->finished_ms || st->keyspace_done <= 0)
		return -1;
	return rc_seconds(st, now_ms) * (1 - st->keyspace_done) / st->keyspace_done;
}

bool rc_set_conninfo(struct snk_reconcile *rc, char *const conninfo[2])
{
	for (int s = 0; s < 2; s++) {
		if (!pgconn_set_conninfo(rc->conn[s], conninfo[s]))
			return false;
		if (rc->conns_started)
			pgconn_drop(rc->conn[s], "reconnecting with the reloaded config");
	}
	return true;
}

bool rc_close(struct snk_reconcile *rc)
{
	if (rc->running || !rc->conns_started || !pgconn_close(rc->conn[0]) || !pgconn_close(rc->conn[1]))
		return false;
	rc->conns_started = false;
	rc->setup_ok[0] = rc->setup_ok[1] = false;
	return true;
}

void rc_set_tables(struct snk_reconcile *rc, struct snk_table *tables, int ntables)
{
	rc->tables = tables;
	rc->ntables = ntables;
	rc->t = &tables[0];
	/* the inserts its sessions prepared are of the old tables */
	for (int s = 0; s < 2 && rc->conns_started; s++)
		pgconn_drop(rc->conn[s], "the tables changed");
}

size_t rc_diff_count(const struct snk_reconcile *rc, enum rc_diff kind)
{
	return rc->diffs[kind].n;
}

const unsigned char *rc_diff_id(const struct snk_reconcile *rc, enum rc_diff kind, size_t i)
{
	return i < rc->diffs[kind].n ? rc->diffs[kind].ids + i * 16 : NULL;
}

void rc_diff_key(const struct snk_reconcile *rc, enum rc_diff kind, size_t i, char *buf, size_t len)
{
	const char *key = i < rc->diffs[kind].n ? rc->diffs[kind].keys[i] : NULL;
	char text[37];

	if (!key && i < rc->diffs[kind].n) {
		db_uuid_text(rc->diffs[kind].ids + i * 16, text);
		key = text;
	}
	snprintf(buf, len, "%s", key ? key : "");
}
