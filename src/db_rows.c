/* db_rows.c - the data-access layer (db.c): a pass's statements on the source (probes,
 * cursors, pages, large rows) and on the destination (batches as binary arrays, the
 * cursors), and the decoding of rows into batches. */
#include "snk/db.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

/* A pass's first two statements, prepared once per read session: parsed at every pass,
 * they took 0.13 ms of the server's time per idle row (bench/idle_breakdown.sh). */
#define STMT_PASS_BEGIN "snk_pass_begin"
#define STMT_POSITION "snk_position"

bool db_send_prepare_pass(struct snk_pgconn *c, bool all_brin)
{
	/* Where every table's xid index is BRIN, the prepared windows and probes keep one
	 * generic plan: a bitmap scan of that index is the only plan there is besides the
	 * sequential scan the session rules out, so the plan is the one a custom plan would
	 * be, without planning the statement again at every pass (0.2 ms of a window of one
	 * row). The default mode plans the first five anew, then takes the generic plan when
	 * its estimate (a third of the table) is not much dearer. With a btree, that generic
	 * plan is a full scan of the index with the window as a filter (measured: 130 ms per
	 * probe on 1,000,000 rows, 83 for an ordered first page), so such a session plans
	 * every execution with its values, as a DECLARE does. The mode reaches the session's
	 * other statements with parameters too (large rows by key, the catalog checks), whose
	 * plans are index lookups either way. */
	const char *params[1] = { all_brin ? "force_generic_plan" : "force_custom_plan" };

	/* The WAL positions (STMT_POSITION) are read after the snapshot, taken as the statement
	 * starts: every commit or abort record of a transaction it sees as ended is before the
	 * first. */
	return pgconn_query(c, "SELECT pg_catalog.set_config('plan_cache_mode'::text, $1::text, false)", 1, params, NULL,
			    NULL, 0) &&
	       pgconn_prepare(c, STMT_PASS_BEGIN, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0) &&
	       pgconn_prepare(c, STMT_POSITION,
			      "SELECT pg_catalog.pg_current_snapshot()::text,"
			      " pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), '0/0'::pg_catalog.pg_lsn)::int8,"
			      " pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_flush_lsn(), '0/0'::pg_catalog.pg_lsn)::int8,"
			      " pg_catalog.current_setting('wal_block_size'::text)::int8,"
			      " pg_catalog.pg_size_bytes(pg_catalog.current_setting('wal_segment_size'::text))",
			      0);
}

bool db_send_pass_begin(struct snk_pgconn *c)
{
	return pgconn_query_prepared(c, STMT_PASS_BEGIN, 0, NULL, NULL, NULL, 0) && db_send_source_position(c);
}

bool db_send_source_position(struct snk_pgconn *c)
{
	return pgconn_query_prepared(c, STMT_POSITION, 0, NULL, NULL, NULL, 0);
}

bool db_send_prepare_read(struct snk_pgconn *c, const struct snk_table *t, enum snk_xid_type xid_type)
{
	/* the window's DECLARE too: parsed once per session, not at every pass (its query is
	 * still planned when the cursor opens) */
	return t->shaped && pgconn_prepare(c, t->stmt_probe, t->sql_probe[xid_type], 3) &&
	       pgconn_prepare(c, t->stmt_window, t->sql_window[xid_type], 4) &&
	       pgconn_prepare(c, t->stmt_window_ordered, t->sql_window_ordered[xid_type], 4) &&
	       pgconn_prepare(c, t->stmt_first, t->sql_first[xid_type], 5) &&
	       pgconn_prepare(c, t->stmt_first_ordered, t->sql_first_ordered[xid_type], 5);
}

bool db_send_probe(struct snk_pgconn *c, const struct snk_table *t, const struct snk_snapshot *prev,
		   bool find_ahead)
{
	char xmax[24];
	const char *params[3] = { xmax, prev->xip_array, find_ahead ? "true" : "false" };

	snapshot_xmax_text(prev, xmax, sizeof(xmax));
	return pgconn_query_prepared(c, t->stmt_probe, 3, params, NULL, NULL, 0);
}

static bool send_close_cursor(struct snk_pgconn *c, bool close_first)
{
	return !close_first || pgconn_query(c, "CLOSE snk_window", 0, NULL, NULL, NULL, 0);
}

/* The parameters of a window's statements (build_window): $1 xmax and $2 xip of prev, $3
 * the inline limit, $4 whether to find rows ahead of the counter, $5 a first page's rows. */
struct window_params {
	char xmax[24], inline_limit[16], rows[16];
	const char *v[5];
};

static void window_params(struct window_params *p, const struct snk_snapshot *prev, bool find_ahead,
			  int inline_max, int rows)
{
	snapshot_xmax_text(prev, p->xmax, sizeof(p->xmax));
	snprintf(p->inline_limit, sizeof(p->inline_limit), "%d", inline_max);
	snprintf(p->rows, sizeof(p->rows), "%d", rows);
	p->v[0] = p->xmax;
	p->v[1] = prev->xip_array;
	p->v[2] = p->inline_limit;
	p->v[3] = find_ahead ? "true" : "false";
	p->v[4] = p->rows;
}

bool db_send_window_table(struct snk_pgconn *c, const struct snk_table *t, const struct snk_snapshot *prev,
			  bool find_ahead, int fetch_rows, int inline_max, bool close_first, bool ordered)
{
	struct window_params p;

	window_params(&p, prev, find_ahead, inline_max, 0);
	return send_close_cursor(c, close_first) &&
	       pgconn_query_prepared(c, ordered ? t->stmt_window_ordered : t->stmt_window, 4, p.v, NULL, NULL, 0) &&
	       db_send_window_fetch(c, fetch_rows);
}

bool db_send_window_first(struct snk_pgconn *c, const struct snk_table *t, const struct snk_snapshot *prev,
			  bool find_ahead, int limit, int inline_max, bool ordered)
{
	struct window_params p;

	window_params(&p, prev, find_ahead, inline_max, limit);
	return pgconn_query_prepared(c, ordered ? t->stmt_first_ordered : t->stmt_first, 5, p.v, NULL, NULL, 1);
}

bool db_send_chunk_table(struct snk_pgconn *c, const struct snk_table *t, enum snk_xid_type xid_type,
			 uint64_t from_page, uint64_t to_page, int fetch_rows, int inline_max, bool close_first)
{
	char from[32], to[32], limit[16];
	const char *size_params[1] = { t->qualified };
	const char *params[3] = { from, to, limit };

	snprintf(from, sizeof(from), "(%llu,0)", (unsigned long long)from_page);
	snprintf(to, sizeof(to), "(%llu,0)", (unsigned long long)to_page);
	snprintf(limit, sizeof(limit), "%d", inline_max);
	return send_close_cursor(c, close_first) &&
	       pgconn_query(c, "SELECT (pg_catalog.pg_relation_size($1::pg_catalog.regclass)"
			       " / pg_catalog.current_setting('block_size'::text)::int8)::int8", 1, size_params, NULL, NULL, 0) &&
	       pgconn_query(c, t->sql_chunk[xid_type], 3, params, NULL, NULL, 0) && db_send_window_fetch(c, fetch_rows);
}


bool params_of(const struct snk_batch *b, struct batch_params *p)
{
	int n = b->ncols ? b->ncols : 1;

	if (n <= PARAMS_ON_STACK) {
		p->values = p->stack_values;
		p->lengths = p->stack_lengths;
		p->formats = p->stack_formats;
	} else {
		p->values = malloc(sizeof(*p->values) * (size_t)n);
		p->lengths = malloc(sizeof(*p->lengths) * (size_t)n);
		p->formats = malloc(sizeof(*p->formats) * (size_t)n);
	}
	if (!p->values || !p->lengths || !p->formats)
		return false;
	for (int i = 0; i < b->ncols; i++) {
		p->values[i] = b->col[i].data;
		p->lengths[i] = (int)b->col[i].len;
		p->formats[i] = 1;
	}
	return true;
}

void params_free(struct batch_params *p)
{
	if (p->values == p->stack_values)
		return;
	free(p->values);
	free(p->lengths);
	free(p->formats);
}

bool send_batch(struct snk_pgconn *c, const char *sql, const char *stmt, const struct snk_batch *b,
		       int result_format)
{
	struct batch_params p = { 0 };
	bool ok = params_of(b, &p);

	if (ok && stmt)
		ok = pgconn_query_prepared(c, stmt, b->ncols, p.values, p.lengths, p.formats, result_format);
	else if (ok)
		ok = pgconn_query(c, sql, b->ncols, p.values, p.lengths, p.formats, result_format);
	params_free(&p);
	return ok;
}

bool db_send_fetch_large(struct snk_pgconn *c, const struct snk_table *t, const struct snk_batch *keys)
{
	return keys->ncols == t->shape.nkey && send_batch(c, t->sql_fetch_large, NULL, keys, 1);
}

bool db_send_fetch_kid(struct snk_pgconn *c, const struct snk_table *t, const struct snk_batch *kids)
{
	return kids->ncols == 1 && send_batch(c, t->sql_fetch_kid, NULL, kids, 1);
}

bool db_key_layout(const struct snk_table *t, struct snk_batch *b)
{
	return batch_layout(b, t->shape.nkey, t->wire_oids);
}

bool db_row_layout(const struct snk_table *t, struct snk_batch *b)
{
	return batch_layout(b, t->shape.nsync, t->wire_oids);
}

bool db_send_window_fetch(struct snk_pgconn *c, int fetch_rows)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "FETCH FORWARD %d FROM snk_window", fetch_rows);
	return pgconn_query(c, sql, 0, NULL, NULL, NULL, 1);
}

bool db_send_window_close(struct snk_pgconn *c)
{
	return pgconn_query(c, "COMMIT", 0, NULL, NULL, NULL, 0);
}

bool db_send_summarize(struct snk_pgconn *c, const char *index_oid, uint64_t from_block)
{
	char from[24];
	const char *params[2] = { index_oid, from };

	snprintf(from, sizeof(from), "%llu", (unsigned long long)from_block);
	return pgconn_query(c, "SELECT snk.summarize($1::pg_catalog.oid, $2::int8)", 2, params, NULL, NULL, 0);
}

bool db_send_restamp_ahead(struct snk_pgconn *c, const struct snk_table *t)
{
	const char *params[1] = { t->qualified };

	return pgconn_query(c, "SELECT snk.restamp_ahead($1::pg_catalog.regclass)", 1, params, NULL, NULL, 0);
}

bool db_read_summarize(const PGresult *res, bool *done, uint64_t *next_block)
{
	if (PQntuples(res) != 1 || PQnfields(res) != 1)
		return false;
	*done = !PQgetisnull(res, 0, 0);
	if (*done)
		*next_block = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	return true;
}

bool db_send_rollback(struct snk_pgconn *c)
{
	return pgconn_query(c, "ROLLBACK", 0, NULL, NULL, NULL, 0);
}

bool db_send_insert(struct snk_pgconn *c, const struct snk_table *t, const struct snk_batch *b, bool on_conflict)
{
	return send_batch(c, NULL, on_conflict ? t->stmt_insert : t->stmt_insert_plain, b, 0);
}

bool db_send_cursor_store(struct snk_pgconn *c, const char *source_key, const char *snap, uint64_t rows,
			  const char *src_ident, const char *dst_ident)
{
	char nrows[24];
	const char *params[5] = { source_key, snap, nrows, src_ident, dst_ident };

	snprintf(nrows, sizeof(nrows), "%llu", (unsigned long long)rows);
	return pgconn_query_prepared(c, STMT_CURSOR_STORE, 5, params, NULL, NULL, 0);
}

bool db_send_cursor_mark(struct snk_pgconn *c, const char *source_key, const char *snap, const char *src_ident,
			 const char *dst_ident)
{
	const char *params[4] = { source_key, snap, src_ident, dst_ident };

	return pgconn_query(c, SQL_CURSOR_MARK, 4, params, NULL, NULL, 0);
}

bool db_send_reconciled(struct snk_pgconn *c, const char *source_key)
{
	const char *params[1] = { source_key };

	return pgconn_query(c, SQL_RECONCILED, 1, params, NULL, NULL, 0);
}

bool db_send_identity(struct snk_pgconn *c)
{
	return pgconn_query(c, SQL_IDENTITY, 0, NULL, NULL, NULL, 0);
}

bool db_send_wal_flushed(struct snk_pgconn *c)
{
	return pgconn_query(c, SQL_WAL_FLUSHED, 0, NULL, NULL, NULL, 0);
}

bool db_send_conflicts(struct snk_pgconn *c, const struct snk_table *t, const struct snk_batch *b)
{
	return send_batch(c, t->sql_conflicts, NULL, b, 0);
}


bool db_read_snapshot(const PGresult *res, struct snk_snapshot *out)
{
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		return false;
	return snapshot_parse(PQgetvalue(res, 0, 0), out);
}

static bool read_u64_at(const PGresult *res, int col, uint64_t *out)
{
	char *end;

	if (PQgetisnull(res, 0, col))
		return false;
	*out = strtoull(PQgetvalue(res, 0, col), &end, 10);
	return *end == '\0';
}

bool db_read_wal_flushed(const PGresult *res, uint64_t *flush_lsn, char *ident, size_t len)
{
	if (PQntuples(res) != 1 || PQnfields(res) != 2 || !read_u64_at(res, 0, flush_lsn) || PQgetisnull(res, 0, 1))
		return false;
	snprintf(ident, len, "%s", PQgetvalue(res, 0, 1));
	return true;
}

bool db_read_pass_snapshot(const PGresult *res, struct snk_snapshot *out, uint64_t *insert_lsn, uint64_t *flush_lsn)
{
	uint64_t block, segment;

	if (PQntuples(res) != 1 || PQnfields(res) != 5 || !read_u64_at(res, 1, insert_lsn) ||
	    !read_u64_at(res, 2, flush_lsn) || !read_u64_at(res, 3, &block) || !read_u64_at(res, 4, &segment))
		return false;
	*insert_lsn = wal_record_end(*insert_lsn, block, segment);
	return db_read_snapshot(res, out);
}

static bool all_binary(const PGresult *res)
{
	for (int k = 0; k < PQnfields(res); k++) {
		if (PQfformat(res, k) != 1)
			return false;
	}
	return true;
}

/* Appends row i's first n values to b, as they came (binary, or text for the types that
 * travel as text). */
static bool add_values(struct snk_batch *b, const PGresult *res, int i, int n)
{
	for (int k = 0; k < n; k++) {
		int len = PQgetlength(res, i, k); /* 0 for a NULL: only then is it asked */
		const char *v = len == 0 && PQgetisnull(res, i, k) ? NULL : PQgetvalue(res, i, k);

		if (!batch_value(b, k, v, (size_t)len))
			return false;
	}
	batch_row_done(b);
	return true;
}

bool db_read_rows(const PGresult *res, const struct snk_table *t, struct snk_batch *b)
{
	int n = PQntuples(res);

	if (PQnfields(res) != t->shape.nsync || b->ncols != t->shape.nsync || !all_binary(res))
		return false;
	for (int i = 0; i < n; i++) {
		if (!add_values(b, res, i, t->shape.nsync))
			return false;
	}
	batch_finish(b);
	return true;
}

uint64_t be64(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char)p[i];
	return v;
}

/* Columns of a window page: the nsync values, the row's size, the ahead mark. */
bool db_read_window_rows(const PGresult *res, const struct snk_table *t, int inline_max, struct snk_batch *b,
			 struct snk_idqueue *large, struct snk_ahead *ahead)
{
	int n = PQntuples(res), nsync = t->shape.nsync, nkey = t->shape.nkey;

	if (PQnfields(res) != nsync + 2 || b->ncols != nsync || !all_binary(res))
		return false;
	for (int i = 0; i < n; i++) {
		uint64_t size;

		switch (PQgetlength(res, i, nsync)) { /* 0: NULL, the size of one NULL value */
		case 8:
			size = be64(PQgetvalue(res, i, nsync));
			break;
		case 0:
			size = 0;
			break;
		default:
			return false;
		}
		if (!PQgetisnull(res, i, nsync + 1)) {
			uint64_t xid;

			if (PQgetlength(res, i, nsync + 1) != 8)
				return false;
			xid = be64(PQgetvalue(res, i, nsync + 1));
			ahead->rows++;
			if (xid > ahead->max_xid)
				ahead->max_xid = xid;
			continue; /* not copied now: restamped, then copied by the next window */
		}
		if (size > (uint64_t)inline_max) {
			/* left behind by the window: too large to travel in a page; fetched by key */
			const char *vals[SNK_MAX_KEY];
			int lens[SNK_MAX_KEY];

			for (int k = 0; k < nkey; k++) {
				vals[k] = PQgetvalue(res, i, k);
				lens[k] = PQgetlength(res, i, k);
			}
			if (!idqueue_push(large, nkey, vals, lens, size))
				return false;
		} else if (!add_values(b, res, i, nsync)) {
			return false;
		}
	}
	batch_finish(b);
	return true;
}

bool db_read_u64(const PGresult *res, uint64_t *out)
{
	return PQntuples(res) == 1 && PQnfields(res) >= 1 && read_u64_at(res, 0, out);
}

uint64_t db_read_affected(const PGresult *res)
{
	return strtoull(PQcmdTuples((PGresult *)res), NULL, 10);
}

int db_read_ntuples(const PGresult *res)
{
	return PQntuples(res);
}

static const char *db_read_text(const PGresult *res, int row)
{
	return PQgetisnull(res, row, 0) ? NULL : PQgetvalue(res, row, 0);
}

const char *db_read_conflict(const PGresult *res, int row, bool *refused)
{
	*refused = PQnfields(res) > 1 && !PQgetisnull(res, row, 1) && PQgetvalue(res, row, 1)[0] == 't';
	return db_read_text(res, row);
}
