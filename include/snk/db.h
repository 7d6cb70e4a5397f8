/* db.h - the data-access layer: every SQL statement snk, tst and the migrations use,
 * and the mapping of their results to C structs. Nothing else builds SQL text. */
#ifndef SNK_DB_H
#define SNK_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snk/batch.h"
#include "snk/config.h"
#include "snk/pgconn.h"
#include "snk/snapshot.h"

/* One column of the synced table, as one database's catalog describes it. */
struct snk_column {
	char *name;          /* owned: as in the catalog */
	char *quoted;        /* owned: "name" */
	char *type;          /* owned: format_type() with its modifier: for messages and comparisons */
	char *cast;          /* owned: schema.typname, no modifier: what a value sent as text is cast to */
	char *wire_type;     /* owned: element type of its parameter array (pg_catalog.x) */
	uint32_t wire_oid;   /* the same as an oid: the column's built-in type, or text */
	bool binary;         /* travels in its type's binary format (a built-in type whose binary form holds no oid) */
	bool varlena;        /* variable length: counted in a row's size */
	bool raw_size;       /* octet_length gives its size without detoasting (text, varchar, bpchar, bytea) */
	bool generated;      /* GENERATED ALWAYS AS (...) STORED: never written, the peer computes it */
	char *eq_op;         /* owned, key columns only: the key index's equality operator, schema.op */
	char *signature;     /* owned: what its user-defined type is (SQL_TYPE_SIGNATURE), "" for others */
};

/* The columns of the table in a canonical order that does not depend on their order in
 * either database: the key (in its index's order), the other written columns by name,
 * then the generated ones by name. Rows travel in this order. */
struct snk_shape {
	int ncols;
	int nkey;
	int nsync;                 /* the first nsync columns are written */
	struct snk_column *col;    /* owned: [ncols] */
	bool uuid_key;             /* the key is one uuid column */
	bool deferrable;           /* a DEFERRABLE unique or exclusion constraint: inserts name the key as arbiter */
};

/* The synced table and the statements about it: names from the config (db_table_init), the
 * statements that name its columns from the first shape a session reads (db_table_shape). */
struct snk_table {
	int index;          /* its place in the config's tables: names its prepared statements */
	char stmt_insert[24];       /* "snk_insert_3" */
	char stmt_insert_plain[24];
	char stmt_probe[24];        /* "snk_probe_3", on read sessions */
	char stmt_window[24];       /* "snk_window_3", its DECLARE, on read sessions */
	char stmt_window_ordered[28];
	char stmt_first[24];        /* "snk_first_3", its first page as a SELECT */
	char stmt_first_ordered[28];
	char *label;        /* owned: schema.table, unquoted, for messages and the cursor key */
	char *config_path;  /* owned: the config's path, for advice ("run 'snk -c PATH migrate'") */
	char *qualified;    /* owned: "schema"."table" */
	char *id;           /* owned: quoted id_column (the default table, tst, bench) */
	char *data;         /* owned: quoted data_column (the same) */
	char *channel;      /* owned: quoted notify channel, or NULL when timer only */
	char *channel_raw;  /* owned: the channel as configured, NULL when timer only */
	char *schema_raw;   /* owned: unquoted schema name */
	char *table_raw;    /* owned: unquoted table name */
	char *id_raw;       /* owned */
	char *data_raw;     /* owned */
	char *key_param;    /* owned: the config's "key" as a text[] literal, NULL when not set */
	const char *index_spec; /* static: what `snk migrate` indexes snk_xid with (config xid_index) */
	char *sql_listen;   /* owned, NULL when timer only */
	char *sql_app_insert;/* owned: tst's insert into the default table, as an application would write */
	/* From the shape: */
	bool shaped;
	struct snk_shape shape;  /* owned */
	char shape_db[SNK_DB_NAME_MAX + 1]; /* the database it was read from, for messages */
	uint32_t *wire_oids;     /* owned: [shape.nsync] the batch layout of a row */
	char *sql_window[2];/* owned: [enum snk_xid_type] */
	char *sql_window_ordered[2]; /* owned: the same in the order rows were written */
	char *sql_first[2]; /* owned: the window's first page, a SELECT of at most $5 rows */
	char *sql_first_ordered[2];
	char *sql_probe[2]; /* owned: whether the window has rows */
	char *sql_chunk[2]; /* owned: a range of pages of the first copy */
	char *sql_fetch_large; /* owned: rows by key (a batch of the key columns) */
	char *sql_fetch_kid;/* owned: rows by key hash (uuid[]) */
	char *sql_insert;   /* owned: ON CONFLICT (key) DO NOTHING */
	char *sql_insert_plain; /* owned: without ON CONFLICT */
	char *sql_conflicts;/* owned */
	char *kid;          /* owned: SQL: the 128-bit key space position of a row, as uuid */
	char *row_text;     /* owned: SQL: the text of a row's written columns */
	char *row_size;     /* owned: SQL: the bytes of a row's variable-length values */
	char *key_text;     /* owned: SQL: the key as text */
};

/* The type of snk_xid: bigint (with BRIN, since snk 0.x) or xid8 (btree, tables migrated
 * by an older snk). Indexes struct snk_table's sql_window. */
enum snk_xid_type { SNK_XID_XID8 = 0, SNK_XID_INT8 = 1 };

/* What the catalog says about the table on one side. */
struct snk_schema_info {
	bool table_exists;
	bool has_key;         /* a primary key or unique index snk can use as the key */
	char key[192];        /* its columns, "(a, b)" */
	int key_candidates;   /* unique indexes over NOT NULL columns */
	char candidates[192]; /* theirs, "(a), (b, c)" */
	bool has_xid_column;
	bool has_xid_index;
	bool has_snk_schema;  /* snk.cursor exists, with the newest columns, and snk.summarize */
	enum snk_xid_type xid_type;
	char brin_index[16];  /* oid of a BRIN index on snk_xid, "" when none */
	bool has_xid_guard;   /* the trigger that gives a row carrying a foreign snk_xid its own (005) */
	bool xid_guard_enabled;
	uint32_t relid;       /* the table's oid in this database (a NOTIFY's payload names it) */
};

/* The NOTIFY trigger on one side: an enabled AFTER INSERT trigger on the table whose
 * function is snk_notify_insert with the configured channel as its first argument
 * (migrations/notify_trigger.sql installs one, named snk_notify). */
struct snk_notify_trigger {
	bool found;           /* such a trigger exists (enabled or not) */
	bool enabled;
	bool skips_copies;    /* its function leaves snk's own sessions out (tests snk.copy) */
	char name[64];
};

/* What the connected role may do that snk needs (db_privileges_blocking). Each is true
 * when the object is missing: the schema check says that, this says what to grant. */
struct snk_privileges {
	char role[64];
	bool table_select, table_insert, table_schema_usage;
	bool snk_usage;
	bool cursor_select, cursor_insert, cursor_update;
	bool summarize_execute;
	bool restamp_execute;
};

/* The session holding snk's writer lock on the table in one database (db_writer_lock_blocking). */
struct snk_lock_holder {
	bool held;
	int pid;                 /* the holder's backend pid */
	char user[64];
	char application[64];    /* "" when not visible to this role */
	char client[80];         /* address:port, "local" for a unix socket, "" when not visible */
	char since[40];          /* backend start, "" when not visible */
};

/* What a session runs with (db_send_session_setup). */
struct snk_session_info {
	char search_path[128];
	char synchronous_commit[16];
	bool copies;          /* snk.copy is on: the stamp trigger leaves this session's copies alone */
};

/* Rows of a window whose snk_xid is at or above the source's xid counter ("ahead"). */
struct snk_ahead {
	uint64_t rows;
	uint64_t max_xid;
};

/* A stored cursor (snk.cursor) and what it was taken between. */
struct snk_cursor {
	bool found;
	struct snk_snapshot snapshot;
	char src_ident[96];      /* "" when unknown (written by an older snk) */
	char dst_ident[96];
	bool reconcile_pending;  /* a full reconcile has not finished since a first start or a change */
};

/* The rows of one id range, as counted and hashed inside the database. */
struct snk_range_digest {
	long long count;
	char sum[64];   /* sum of 64-bit row hashes, exact (numeric), as text */
};

/* One row as compared by verify and reconcile: never its data, only a hash of it. */
struct snk_row_sum {
	unsigned char id[16]; /* its place in the key space (the uuid key, or the md5 of the key's text) */
	uint64_t hash;   /* 64-bit hash of the text of its written columns, over its UTF-8 bytes */
	uint64_t xid;    /* snk_xid: 0 for rows snk copied in (NULL in the table) */
	uint64_t bytes;  /* the row's size (db.c's row_size) */
	char *key;       /* owned: the key as text (verify's confirmation), else NULL */
};

/* db_quote_ident: "name" with embedded quotes doubled, into a new string. */
char *db_quote_ident(const char *name);

#define SNK_MAX_KEY 32 /* PostgreSQL's INDEX_MAX_KEYS */

/* db_table_init: builds *t from cfg. False on out of memory. */
bool db_table_init(struct snk_table *t, const struct snk_config *cfg) __attribute__((warn_unused_result));
/* db_table_init_spec: the same for one entry of the config's tables, the index-th. */
bool db_table_init_spec(struct snk_table *t, const struct snk_config *cfg, const struct snk_table_spec *spec,
			int index) __attribute__((warn_unused_result));
void db_table_clear(struct snk_table *t);

/* db_table_shape: builds t's row statements from shape, read in database db (taken
 * over: *shape is emptied). False on out of memory. */
bool db_table_shape(struct snk_table *t, struct snk_shape *shape, const char *db)
	__attribute__((warn_unused_result));
/* db_shape_problem: NULL when got, the shape database got_db has, is t's (or t has none
 * yet), else one line naming the first column or key that differs and both databases. */
const char *db_shape_problem(const struct snk_table *t, const struct snk_shape *got, const char *got_db,
			     char *buf, size_t len);
/* db_key_label: a row's key for messages, from its text (the conflicts query's column):
 * "id 5f0c...", or "(tenant_id, order_no)=(7,1042)" for a key of several columns. */
void db_key_label(const struct snk_table *t, const char *text, char *buf, size_t len);
/* db_shape_wire_summary: "N travel in binary, M as text" (a static buffer). */
const char *db_shape_wire_summary(const struct snk_table *t);
/* db_read_shape: the columns query's result, in canonical order (struct snk_shape). */
bool db_read_shape(const PGresult *res, struct snk_shape *out);
void db_shape_clear(struct snk_shape *s);
/* db_row_layout / db_key_layout: lays b out as a row of t / as t's key (batch_layout). */
bool db_row_layout(const struct snk_table *t, struct snk_batch *b) __attribute__((warn_unused_result));
bool db_key_layout(const struct snk_table *t, struct snk_batch *b) __attribute__((warn_unused_result));

/* db_table_problem: NULL when the table exists with a key snk can use (all that verify
 * needs), else a one-line message saying what to do. */
const char *db_table_problem(const struct snk_schema_info *info, const struct snk_table *t, char *buf,
			     size_t len);
/* db_schema_problem: NULL when info shows a table snk can sync (need_cursor: the snk
 * schema must exist too), else a one-line message saying what to do. */
const char *db_schema_problem(const struct snk_schema_info *info, const struct snk_table *t,
			      bool need_cursor, char *buf, size_t len);

/* db_notify_trigger_problem: NULL when the table is woken by NOTIFY on its channel (or
 * has no channel: timer only), else one line saying what is wrong and the command that
 * installs or enables the trigger. */
const char *db_notify_trigger_problem(const struct snk_notify_trigger *trg, const struct snk_table *t,
				      char *buf, size_t len);
/* db_notify_trigger_advice: NULL unless the trigger works but is of an older
 * notify_trigger.sql, which notifies for snk's own copies too; then one line saying what
 * that costs and the command that replaces it. */
const char *db_notify_trigger_advice(const struct snk_notify_trigger *trg, const struct snk_table *t,
				     char *buf, size_t len);

/* --- Statements sent inside a pgconn unit (pgconn_begin ... pgconn_end). --- */

/* One statement, the first of every session: checks the pinned search_path and makes
 * commits synchronous. Decode with db_read_session, judge with db_session_problem. */
bool db_send_session_setup(struct snk_pgconn *c);
bool db_read_session(const PGresult *res, struct snk_session_info *out);
/* NULL when the session runs as snk needs (copies: one of the daemon's, which must run with
 * snk.copy = on), else a one-line message saying what to do. */
const char *db_session_problem(const struct snk_session_info *info, bool copies, char *buf, size_t len);

/* Two statements: the schema check (decode with db_read_schema) and the columns (decode
 * with db_read_shape). */
bool db_send_schema_check(struct snk_pgconn *c, const struct snk_table *t);
/* One statement: session settings of a read connection (the window query must use the
 * xid index whatever the statistics say). */
bool db_send_read_session_setup(struct snk_pgconn *c);
/* One statement: LISTEN on the table's channel (only when it has one). */
bool db_send_listen(struct snk_pgconn *c, const struct snk_table *t);
/* One statement (only when t has a channel): the NOTIFY trigger. Decode with
 * db_read_notify_trigger. */
bool db_send_notify_trigger(struct snk_pgconn *c, const struct snk_table *t);
/* One statement: the writer locks of n tables, all or none (db_read_bool: true when all
 * were taken; a refusal releases those it took). */
bool db_send_writer_locks(struct snk_pgconn *c, const struct snk_table *t, int n);
/* One statement: who else holds the writer lock of any of n tables (db_read_lock_holder). */
bool db_send_lock_holder(struct snk_pgconn *c, const struct snk_table *t, int n);
bool db_read_lock_holder(const PGresult *res, struct snk_lock_holder *out);
/* One statement: the server ends this session after timeout_ms of silence from snk
 * (idle, idle in a transaction, or its socket gone), releasing its locks. */
bool db_send_lease_settings(struct snk_pgconn *c, int timeout_ms);
/* One statement that does nothing: a lock session's proof of life. */
bool db_send_heartbeat(struct snk_pgconn *c);
/* A foreign key between two synced tables, in one database: child references parent. */
struct snk_fkey {
	int child, parent;    /* indexes into the tables given */
	char name[64];        /* the constraint */
	bool deferrable;
};
/* One statement: the foreign keys among the n tables (db_read_foreign_keys). */
bool db_send_foreign_keys(struct snk_pgconn *c, const struct snk_table *t, int n);
/* db_read_foreign_keys: *out (owned by the caller, free()) and *nout; false on a bad result. */
bool db_read_foreign_keys(const PGresult *res, int ntables, struct snk_fkey **out, int *nout);
/* db_list_tables_blocking: the tables of schema that snk could sync (a primary key, or one
 * unique index over NOT NULL columns), by name; *skipped: those without such a key
 * (several candidates, or none). Both owned by the caller (free each, then the array). */
bool db_list_tables_blocking(PGconn *conn, const char *schema, char ***names, int *n, char ***skipped,
			     int *nskipped, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Two statements: prepare both inserts of db_send_insert. */
bool db_send_prepare_insert(struct snk_pgconn *c, const struct snk_table *t);
/* One statement: the session's commits no longer wait for the WAL flush (config
 * synchronous_commit off; docs/DESIGN.md says why that loses nothing). */
bool db_send_commit_async(struct snk_pgconn *c);
/* One statement: this unit's transaction commits durably, on a session that otherwise
 * does not (db_send_commit_async). */
bool db_send_commit_durable_here(struct snk_pgconn *c);
/* One statement: prepare db_send_cursor_store's, on a write session before its first. */
bool db_send_prepare_cursor_store(struct snk_pgconn *c);
/* One statement: the cursor for source_key. Decode with db_read_cursor. */
bool db_send_cursor_load(struct snk_pgconn *c, const char *source_key);
/* One statement: which database this is. Decode with db_read_identity. */
bool db_send_identity(struct snk_pgconn *c);

/* Two statements (0 BEGIN, 1 snapshot): opens a pass's REPEATABLE READ read-only
 * transaction; decode the snapshot, with the WAL positions read right after it, with
 * db_read_pass_snapshot. */
bool db_send_pass_begin(struct snk_pgconn *c);
/* One statement: the source's current snapshot and WAL positions, as db_send_pass_begin's
 * second. Decode with db_read_pass_snapshot. */
bool db_send_source_position(struct snk_pgconn *c);
/* One statement: how far the source's WAL is on disk (bytes), and its identity (as
 * db_send_identity's). Decode with db_read_wal_flushed. */
bool db_send_wal_flushed(struct snk_pgconn *c);
/* Three statements on a read session: its plan_cache_mode (generic plans where every
 * table's snk_xid index is BRIN, all_brin; custom ones otherwise), and prepares a pass's
 * BEGIN and its snapshot (db_send_pass_begin, db_send_source_position). */
bool db_send_prepare_pass(struct snk_pgconn *c, bool all_brin);
/* Five statements per table: prepares t's probe (db_send_probe), its two windows' DECLARE
 * (db_send_window_table) and first pages (db_send_window_first) on a read session, for the
 * type of snk_xid there. */
bool db_send_prepare_read(struct snk_pgconn *c, const struct snk_table *t, enum snk_xid_type xid_type);
/* One statement, in a pass: whether t has rows visible now but not in prev (db_read_bool),
 * by the statement db_send_prepare_read prepared. */
bool db_send_probe(struct snk_pgconn *c, const struct snk_table *t, const struct snk_snapshot *prev,
		   bool find_ahead);
/* In a pass: [CLOSE the previous table's cursor,] DECLARE a cursor over t's rows visible now
 * but not in prev (the statement db_send_prepare_read prepared), FETCH (ordered: by
 * transaction, then heap place). Values longer than inline_max bytes stay behind: the page
 * holds their key and length only. Decode pages with db_read_window_rows. */
bool db_send_window_table(struct snk_pgconn *c, const struct snk_table *t, const struct snk_snapshot *prev,
			  bool find_ahead, int fetch_rows, int inline_max, bool close_first, bool ordered);
/* In a pass: the first page of t's rows visible now but not in prev, at most limit rows,
 * as one SELECT (the statement db_send_prepare_read prepared; ordered as above). Decode it
 * with db_read_window_rows; a page of limit rows may not be all: read the window by
 * db_send_window_table then. */
bool db_send_window_first(struct snk_pgconn *c, const struct snk_table *t, const struct snk_snapshot *prev,
			  bool find_ahead, int limit, int inline_max, bool ordered);
/* In a pass, a piece of t's first copy: [CLOSE,] the table's size in pages now
 * (db_read_u64), DECLARE a cursor over the rows of pages [from_page, to_page), FETCH. */
bool db_send_chunk_table(struct snk_pgconn *c, const struct snk_table *t, enum snk_xid_type xid_type,
			 uint64_t from_page, uint64_t to_page, int fetch_rows, int inline_max, bool close_first);
/* One statement: the rows whose keys are in keys (laid out by db_key_layout): a window's
 * large rows. Decode with db_read_rows. */
bool db_send_fetch_large(struct snk_pgconn *c, const struct snk_table *t, const struct snk_batch *keys);
/* One statement: the rows whose key hashes (kid) are in kids (one uuid column): the rows
 * a reconcile repairs. Decode with db_read_rows. */
bool db_send_fetch_kid(struct snk_pgconn *c, const struct snk_table *t, const struct snk_batch *kids);
/* One statement: the next page of the window cursor. */
bool db_send_window_fetch(struct snk_pgconn *c, int fetch_rows);
/* One statement: ends the read transaction. */
bool db_send_window_close(struct snk_pgconn *c);

/* One statement: INSERT of the batch, rows marked as copied by snk; with on_conflict,
 * ON CONFLICT DO NOTHING (a row whose key, or a value under another unique index, is
 * already there is skipped), else a plain INSERT that fails whole (23505) when any is.
 * Decode with db_read_affected. */
bool db_send_insert(struct snk_pgconn *c, const struct snk_table *t, const struct snk_batch *b, bool on_conflict);
/* One statement: moves the cursor of source_key to snap, between these two databases. */
bool db_send_cursor_store(struct snk_pgconn *c, const char *source_key, const char *snap, uint64_t rows,
			  const char *src_ident, const char *dst_ident);
/* One statement, on a write session of the source: gives the rows whose snk_xid is ahead
 * of its xid counter the xid of this transaction (snk.restamp_ahead, migration 005), so
 * that the next window copies them. Decode with db_read_u64. */
bool db_send_restamp_ahead(struct snk_pgconn *c, const struct snk_table *t);
/* One statement: sets the cursor of source_key to snap and marks it as owing a reconcile. */
bool db_send_cursor_mark(struct snk_pgconn *c, const char *source_key, const char *snap, const char *src_ident,
			 const char *dst_ident);
/* One statement: a full reconcile has finished; the cursor of source_key owes none. */
bool db_send_reconciled(struct snk_pgconn *c, const char *source_key);

/* Comparing the tables by id range [lo, hi) (hi NULL: no upper bound); ids as uuid text.
 * One statement each: the digest of the range (decode with db_read_range_digests, into
 * out[0]); the digests of its 256 sub-ranges by byte `depth` of the id (which the range
 * fixes before that byte); the row sums of the range, ordered by id (db_read_row_sums);
 * the row sums of the ids of a binary uuid[] (the same). with_xid: the table has snk_xid. */
bool db_send_range_digest(struct snk_pgconn *c, const struct snk_table *t, const char *lo, const char *hi);
bool db_send_range_children(struct snk_pgconn *c, const struct snk_table *t, const char *lo, const char *hi,
			    int depth);
bool db_send_range_rows(struct snk_pgconn *c, const struct snk_table *t, const char *lo, const char *hi,
			bool with_xid);
bool db_send_rows_by_id(struct snk_pgconn *c, const struct snk_table *t, const struct snk_batch *kids, bool with_xid);
/* One statement: the keys of the batch's rows not here as they are: present with other
 * values, or refused by another unique index. Decode with db_read_conflict. */
bool db_send_conflicts(struct snk_pgconn *c, const struct snk_table *t, const struct snk_batch *b);
/* One statement: ROLLBACK (after a failed unit inside a transaction). */
bool db_send_rollback(struct snk_pgconn *c);
/* One statement, outside any transaction: snk.summarize of the BRIN index index_oid from
 * from_block on. Decode with db_read_summarize. */
bool db_send_summarize(struct snk_pgconn *c, const char *index_oid, uint64_t from_block);

/* --- Decoding results into structs. --- */
bool db_read_schema(const PGresult *res, struct snk_schema_info *out);
/* done: false when the table's maintenance lock was busy (try later); else next_block is
 * the from_block of the next call. */
bool db_read_summarize(const PGresult *res, bool *done, uint64_t *next_block);
bool db_read_bool(const PGresult *res, bool *out);
bool db_read_notify_trigger(const PGresult *res, struct snk_notify_trigger *out);
/* db_read_cursor: out->found false when there is no cursor yet. *out must be zeroed or
 * hold an earlier cursor (its snapshot is cleared). */
bool db_read_cursor(const PGresult *res, struct snk_cursor *out);
/* db_read_identity: "system identifier/timeline/database oid" into ident, and the
 * session's synchronous_commit into sync_commit unless it is NULL. */
bool db_read_identity(const PGresult *res, char *ident, size_t len, char *sync_commit, size_t sync_len);
bool db_read_wal_flushed(const PGresult *res, uint64_t *flush_lsn, char *ident, size_t len);
/* db_read_range_digests: out[b] for each sub-range b in the result, count 0 elsewhere. */
bool db_read_range_digests(const PGresult *res, struct snk_range_digest out[256]);
/* db_read_row_sums: a new array (*out, free()) of *n rows. False on a malformed result. */
bool db_read_row_sums(const PGresult *res, struct snk_row_sum **out, int *n);
void db_row_sums_free(struct snk_row_sum *v, int n);
bool db_read_snapshot(const PGresult *res, struct snk_snapshot *out);
/* db_read_pass_snapshot: the snapshot of db_send_pass_begin, and the source's WAL insert
 * and flush positions (bytes) read after it (struct snk_durable). */
bool db_read_pass_snapshot(const PGresult *res, struct snk_snapshot *out, uint64_t *insert_lsn, uint64_t *flush_lsn);
/* db_read_rows: appends the rows of a result to b (laid out by db_row_layout) and finishes it. */
bool db_read_rows(const PGresult *res, const struct snk_table *t, struct snk_batch *b);
/* db_read_window_rows: a window page: small rows into b (finished), the ids of large
 * ones into large; rows ahead of the source's xid counter are left out, and counted
 * into ahead. */
bool db_read_window_rows(const PGresult *res, const struct snk_table *t, int inline_max, struct snk_batch *b,
			 struct snk_idqueue *large, struct snk_ahead *ahead);
uint64_t db_read_affected(const PGresult *res);
/* db_read_u64: the first column of a one-row result as a number; false when it is not one. */
bool db_read_u64(const PGresult *res, uint64_t *out);
int db_read_ntuples(const PGresult *res);
/* Why a refused row (db_read_conflict) is not copied, for the conflict lines of the tail
 * and of the reconcile. */
#define SNK_REFUSED_WHY \
	"another row there holds one of its values under a unique index or exclusion constraint other than the key"
/* db_read_conflict: row `row` of the conflict check: its key's text, and (*refused) whether
 * the row is absent, refused by another unique index or an exclusion constraint, rather
 * than present with other values. */
const char *db_read_conflict(const PGresult *res, int row, bool *refused);

/* --- Blocking calls, for the tools and for migrate. --- */

/* db_connect_blocking: a connection for tools, or NULL with err filled. The server's notices
 * become log lines of role app (borrowed: a string that outlives the connection). */
PGconn *db_connect_blocking(const char *conninfo, const char *app, char *err, size_t errlen);
/* db_app_insert: inserts the batch the way an application would (tst). */
bool db_app_insert(PGconn *conn, const struct snk_table *t, const struct snk_batch *b, char *err,
		   size_t errlen) __attribute__((warn_unused_result));
/* db_schema_blocking: runs the schema check on conn. */
bool db_schema_blocking(PGconn *conn, const struct snk_table *t, struct snk_schema_info *out,
			char *err, size_t errlen) __attribute__((warn_unused_result));
/* db_shape_blocking: reads the table's columns on conn (db_read_shape). */
bool db_shape_blocking(PGconn *conn, const struct snk_table *t, struct snk_shape *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The checks of `snk check` (src/check.c), on a blocking connection; none takes a lock.
 * db_session_blocking: the first statement of every session (db_send_session_setup). */
bool db_session_blocking(PGconn *conn, struct snk_session_info *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
bool db_notify_trigger_blocking(PGconn *conn, const struct snk_table *t, struct snk_notify_trigger *out,
				char *err, size_t errlen) __attribute__((warn_unused_result));
bool db_privileges_blocking(PGconn *conn, const struct snk_table *t, struct snk_privileges *out, char *err,
			    size_t errlen) __attribute__((warn_unused_result));
/* db_writer_lock_blocking: who holds the writer lock, read from pg_locks (never taken). */
bool db_writer_lock_blocking(PGconn *conn, const struct snk_table *t, struct snk_lock_holder *out, char *err,
			     size_t errlen) __attribute__((warn_unused_result));

/* db_uuid_text: 16 bytes as the canonical 36-character text (buf >= 37). */
void db_uuid_text(const unsigned char id[16], char *buf);

enum db_migrate_status { MIGRATE_OK, MIGRATE_SCHEMA, MIGRATE_ERROR };
/* `snk migrate` on one database, in one transaction that the caller ends (so that two
 * databases are migrated both or neither): db_migrate_begin opens it and takes the
 * migration lock; db_migrate_read reads a table (info, shape: zero columns when it does not
 * exist);
 * db_migrate_apply applies the embedded migrations not yet applied, the stamp trigger
 * keyed on key's key (NULL: the default table's id); db_migrate_finish commits or rolls
 * back. */
enum db_migrate_status db_migrate_begin(PGconn *conn, char *err, size_t errlen) __attribute__((warn_unused_result));
enum db_migrate_status db_migrate_read(PGconn *conn, const struct snk_table *t, struct snk_schema_info *info,
				       struct snk_shape *shape, char *err, size_t errlen) __attribute__((warn_unused_result));
enum db_migrate_status db_migrate_apply(PGconn *conn, const struct snk_table *t, const struct snk_shape *key,
					int *applied, char *err, size_t errlen) __attribute__((warn_unused_result));
bool db_migrate_finish(PGconn *conn, bool commit);
/* db_shape_is_default: the table is the default (id uuid key, data text) of the config. */
bool db_shape_is_default(const struct snk_table *t, const struct snk_shape *s);

/* db_app_has_id: whether id is in the table (tst, to learn if a batch whose commit
 * reply was lost did commit). -1 on error. */
int db_app_has_id(PGconn *conn, const struct snk_table *t, const unsigned char id[16]);

/* --- The naive poller (bench/naive.c): the design snk is compared with, not used by snk. ---
 * The table gains a bigserial column naive_seq (bench/naive.sh adds it). A page is the rows
 * with naive_seq > after, in naive_seq order; copies are written with naive_seq = 0, so
 * they are never read back. */

/* db_naive_prepare: prepares the page and the copy on conn (once per connection, before
 * either), sets snk.copy = on (its copies notify nobody) and, with channel set, LISTENs on
 * it. */
bool db_naive_prepare(PGconn *conn, const struct snk_table *t, const char *channel, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* db_naive_page: reads up to limit rows after *after into b (reset first) and moves *after
 * to the last row's naive_seq. -1 on error (err filled), else the number of rows. */
int db_naive_page(PGconn *conn, int64_t *after, int limit, struct snk_batch *b, char *err, size_t errlen);
/* db_naive_copy: inserts b with naive_seq = 0, ON CONFLICT DO NOTHING. */
bool db_naive_copy(PGconn *conn, const struct snk_batch *b, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
