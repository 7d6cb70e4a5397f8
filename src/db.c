/* db.c - the data-access layer: all SQL text, parameter passing and result decoding.
 *
 * Identifiers from the config are always double-quoted here (db_quote_ident), values
 * always travel as parameters, never inside SQL text. Every session runs with search_path
 * pinned to pg_catalog, pg_temp (conninfo.c; checked by db_send_session_setup), and every
 * function named here is qualified with its schema, with literals cast to the exact
 * argument types: no function or operator that another role creates can run as snk. Rows move in binary format: a
 * FETCH returns uuid as 16 bytes and text as raw bytes, which batch.c packs into the
 * binary arrays of the INSERT.
 */
#include "snk/db.h"

#include "snk/conninfo.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_CLASS "1397639979::int4" /* 'SNK+' : first key of snk's advisory locks */
/* The trigger of migration 005: a row inserted with an snk_xid other than its
 * transaction's (but by snk's own sessions) gets its transaction's. */
#define SNK_XID_GUARD "snk_xid_stamp"

static const char SQL_SCHEMA_CHECK[] =
	"WITH rel AS (SELECT c.oid FROM pg_catalog.pg_class c"
	" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	" WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p'))"
	" SELECT EXISTS (SELECT 1 FROM rel),"
	" (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a, rel"
	"   WHERE a.attrelid = rel.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped),"
	" (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a, rel"
	"   WHERE a.attrelid = rel.oid AND a.attname = $4 AND a.attnum > 0 AND NOT a.attisdropped),"
	" (SELECT CASE a.atttypid WHEN 'pg_catalog.int8'::pg_catalog.regtype THEN 'bigint'"
	"   WHEN 'pg_catalog.xid8'::pg_catalog.regtype THEN 'xid8' END FROM pg_catalog.pg_attribute a, rel"
	"   WHERE a.attrelid = rel.oid AND a.attname = 'snk_xid' AND NOT a.attisdropped),"
	" EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN rel ON i.indrelid = rel.oid"
	"   JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid AND a.attnum = i.indkey[0]"
	"   WHERE i.indisunique AND i.indisvalid AND i.indnkeyatts = 1 AND i.indpred IS NULL"
	"   AND i.indexprs IS NULL AND a.attname = $3),"
	" EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN rel ON i.indrelid = rel.oid"
	"   JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid AND a.attnum = i.indkey[0]"
	"   WHERE i.indisvalid AND i.indpred IS NULL AND a.attname = 'snk_xid'),"
	" EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = pg_catalog.to_regclass('snk.cursor')"
	"   AND a.attname = 'reconcile_pending' AND NOT a.attisdropped)"
	"   AND pg_catalog.to_regprocedure('snk.summarize(oid,bigint)') IS NOT NULL"
	"   AND pg_catalog.to_regprocedure('snk.restamp_ahead(regclass)') IS NOT NULL,"
	" (SELECT i.indexrelid::text FROM pg_catalog.pg_index i JOIN rel ON i.indrelid = rel.oid"
	"   JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid JOIN pg_catalog.pg_am am ON am.oid = ic.relam"
	"   JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid AND a.attnum = i.indkey[0]"
	"   WHERE i.indisvalid AND i.indpred IS NULL AND am.amname = 'brin' AND a.attname = 'snk_xid'"
	"   ORDER BY i.indexrelid LIMIT 1),"
	" (SELECT g.tgenabled::text FROM pg_catalog.pg_trigger g JOIN rel ON g.tgrelid = rel.oid"
	"   WHERE g.tgname = '" SNK_XID_GUARD "')";

/* First statement of every session: the search_path that conninfo.c pinned (a pooler that
 * drops the options parameter shows here), and commits that wait for the WAL flush. An
 * asynchronous commit is visible before it is durable: after a crash its xid is used
 * again, and a cursor that saw it as finished skips the rows of the new transaction
 * (docs/DESIGN.md). So 'off' becomes 'local'; a stricter server setting is kept. */
static const char SQL_SESSION_SETUP[] =
	"SELECT pg_catalog.current_setting('search_path'::text),"
	" CASE WHEN pg_catalog.current_setting('synchronous_commit'::text) OPERATOR(pg_catalog.=) 'off'::text"
	" THEN pg_catalog.set_config('synchronous_commit'::text, 'local'::text, false)"
	" ELSE pg_catalog.current_setting('synchronous_commit'::text) END,"
	" pg_catalog.current_setting('snk.copy'::text, true)";

/* Which database this is: "system identifier/timeline/database oid". A restore from a
 * backup or a new cluster changes the first, a promotion or point-in-time recovery the
 * second, a dropped and re-created database the third. The timeline is the one WAL is
 * written on now (the first 8 hex digits of the current WAL file's name), not
 * pg_control_checkpoint()'s: that one moves only when the checkpoint after a promotion
 * ends, minutes later by default, and a cursor kept in that window skips the rows of
 * reused xids. In recovery there is no current WAL file; a standby is read only, so
 * pg_control's timeline serves. The timeline prints as a decimal integer, as
 * timeline_id::text did, so a primary's identity stays the same string across an upgrade. */
static const char SQL_IDENTITY[] =
	"SELECT pg_catalog.concat_ws('/'::text, s.system_identifier,"
	" CASE WHEN pg_catalog.pg_is_in_recovery()"
	" THEN (SELECT k.timeline_id::int8 FROM pg_catalog.pg_control_checkpoint() k)"
	" ELSE pg_catalog.concat('x'::text, pg_catalog.substr("
	"   pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1::int4, 8::int4))"
	"   ::bit(32)::int8 END, d.oid),"
	" pg_catalog.pg_current_snapshot()::text,"
	" pg_catalog.current_setting('synchronous_commit'::text)"
	" FROM pg_catalog.pg_control_system() s, pg_catalog.pg_database d"
	" WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()";

static const char SQL_CURSOR_LOAD[] =
	"SELECT snapshot::text, source_identity, target_identity, reconcile_pending"
	" FROM snk.cursor WHERE source = $1::text";

/* The cursor row exists from the cursor's first load (SQL_CURSOR_MARK), with its debt
 * written there; if it was deleted since, the new row owes a reconcile. */
static const char SQL_CURSOR_STORE[] =
	"INSERT INTO snk.cursor AS c (source, snapshot, rows_copied, updated_at, source_identity, target_identity,"
	" reconcile_pending)"
	" VALUES ($1::text, $2::pg_catalog.pg_snapshot, $3::int8, pg_catalog.now(), $4::text, $5::text, true)"
	" ON CONFLICT (source) DO UPDATE SET snapshot = EXCLUDED.snapshot,"
	" rows_copied = c.rows_copied + EXCLUDED.rows_copied, updated_at = EXCLUDED.updated_at,"
	" source_identity = EXCLUDED.source_identity, target_identity = EXCLUDED.target_identity";

static const char SQL_CURSOR_MARK[] =
	"INSERT INTO snk.cursor AS c (source, snapshot, source_identity, target_identity, reconcile_pending)"
	" VALUES ($1::text, $2::pg_catalog.pg_snapshot, $3::text, $4::text, true)"
	" ON CONFLICT (source) DO UPDATE SET snapshot = EXCLUDED.snapshot, source_identity = EXCLUDED.source_identity,"
	" target_identity = EXCLUDED.target_identity, reconcile_pending = true, updated_at = pg_catalog.now()";

static const char SQL_RECONCILED[] = "UPDATE snk.cursor SET reconcile_pending = false WHERE source = $1::text";

static const char SQL_WRITER_LOCK[] =
	"SELECT pg_catalog.pg_try_advisory_lock(" LOCK_CLASS ", pg_catalog.hashtext($1::text))";

/* The NOTIFY trigger, found by what it does rather than by its name: an AFTER INSERT
 * trigger (row or statement) on the table whose function is snk_notify_insert and whose
 * first argument is the channel snk listens on (migrations/notify_trigger.sql). tgargs
 * holds each argument in the server's encoding followed by a zero byte. An enabled one
 * (O: fires, A: always) is preferred over a disabled one; R fires only for replicas. */
static const char SQL_NOTIFY_TRIGGER[] =
	"SELECT g.tgname::text, g.tgenabled::text FROM pg_catalog.pg_trigger g"
	" JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid"
	" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	" JOIN pg_catalog.pg_proc p ON p.oid = g.tgfoid"
	" WHERE n.nspname = $1 AND c.relname = $2 AND p.proname = 'snk_notify_insert' AND NOT g.tgisinternal"
	" AND (g.tgtype & 4::int2) <> 0::int2 AND (g.tgtype & 66::int2) = 0::int2 AND g.tgnargs >= 1::int2"
	" AND pg_catalog.substr(g.tgargs, 1::int4, pg_catalog.octet_length($3::text) + 1::int4)"
	"   = pg_catalog.convert_to($3::text, pg_catalog.getdatabaseencoding())"
	"     || pg_catalog.decode('00'::text, 'hex'::text)"
	" ORDER BY g.tgenabled IN ('O', 'A') DESC, g.tgname LIMIT 1";

/* What the connected role may do, by catalog lookups that need no privilege themselves
 * (to_regclass would raise an error in a schema the role may not use); NULL where the
 * object does not exist. */
static const char SQL_PRIVILEGES[] =
	"WITH rel AS (SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	"   WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')),"
	" cur AS (SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	"   WHERE n.nspname = 'snk' AND c.relname = 'cursor'),"
	" fn AS (SELECT p.oid FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
	"   WHERE n.nspname = 'snk' AND p.proname = 'summarize' AND p.proargtypes = '26 20'::pg_catalog.oidvector),"
	" fn2 AS (SELECT p.oid FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
	"   WHERE n.nspname = 'snk' AND p.proname = 'restamp_ahead' AND p.proargtypes = '2205'::pg_catalog.oidvector)"
	" SELECT current_user::text,"
	" (SELECT pg_catalog.has_table_privilege(oid, 'SELECT'::text) FROM rel),"
	" (SELECT pg_catalog.has_table_privilege(oid, 'INSERT'::text) FROM rel),"
	" (SELECT pg_catalog.has_schema_privilege(n.oid, 'USAGE'::text) FROM pg_catalog.pg_namespace n"
	"   WHERE n.nspname = $1),"
	" (SELECT pg_catalog.has_schema_privilege(n.oid, 'USAGE'::text) FROM pg_catalog.pg_namespace n"
	"   WHERE n.nspname = 'snk'),"
	" (SELECT pg_catalog.has_table_privilege(oid, 'SELECT'::text) FROM cur),"
	" (SELECT pg_catalog.has_table_privilege(oid, 'INSERT'::text) FROM cur),"
	" (SELECT pg_catalog.has_table_privilege(oid, 'UPDATE'::text) FROM cur),"
	" (SELECT pg_catalog.has_function_privilege(oid, 'EXECUTE'::text) FROM fn),"
	" (SELECT pg_catalog.has_function_privilege(oid, 'EXECUTE'::text) FROM fn2)";

/* Who holds the writer lock (SQL_WRITER_LOCK's keys: pg_locks shows the two int4 keys as
 * classid and objid, unsigned, with objsubid 2), read without taking it. Another role's
 * session shows its pid, user and application_name; its address and start only to
 * members of pg_read_all_stats. */
static const char SQL_WRITER_LOCK_HOLDER[] =
	"SELECT l.pid, coalesce(a.usename::text, ''::text), coalesce(a.application_name, ''::text),"
	" CASE WHEN a.client_port = -1 THEN 'local'::text"
	"   WHEN a.client_addr IS NOT NULL THEN pg_catalog.host(a.client_addr) || ':'::text || a.client_port::text"
	"   ELSE ''::text END,"
	" coalesce(pg_catalog.to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'::text), ''::text)"
	" FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
	" WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2::int2"
	" AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())"
	" AND l.classid = (" LOCK_CLASS ")::pg_catalog.oid AND l.objid = pg_catalog.hashtext($1::text)::pg_catalog.oid"
	" LIMIT 1";

static const char STMT_INSERT[] = "snk_insert";
static const char STMT_INSERT_PLAIN[] = "snk_insert_plain";

char *db_quote_ident(const char *name)
{
	size_t n = 3;
	char *out, *p;

	for (const char *s = name; *s; s++)
		n += *s == '"' ? 2 : 1;
	out = malloc(n);
	if (!out)
		return NULL;
	p = out;
	*p++ = '"';
	for (const char *s = name; *s; s++) {
		if (*s == '"')
			*p++ = '"';
		*p++ = *s;
	}
	*p++ = '"';
	*p = '\0';
	return out;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
	va_list ap;
	char *out = NULL;

	va_start(ap, f);
	if (vasprintf(&out, f, ap) < 0)
		out = NULL;
	va_end(ap);
	return out;
}

bool db_table_init(struct snk_table *t, const struct snk_config *cfg)
{
	memset(t, 0, sizeof(*t));
	t->schema_raw = strdup(cfg->schema);
	t->table_raw = strdup(cfg->table);
	t->id_raw = strdup(cfg->id_column);
	t->data_raw = strdup(cfg->data_column);
	t->label = fmt("%s.%s", cfg->schema, cfg->table);
	t->config_path = strdup(cfg->path ? cfg->path : "CONFIG");
	char *s = db_quote_ident(cfg->schema), *n = db_quote_ident(cfg->table);
	if (s && n)
		t->qualified = fmt("%s.%s", s, n);
	free(s);
	free(n);
	t->id = db_quote_ident(cfg->id_column);
	t->data = db_quote_ident(cfg->data_column);
	/* BRIN's range size: docs/DESIGN.md weighs a window's re-read tail against the index's length. */
	t->index_spec = strcmp(cfg->xid_index, "btree") == 0 ? "(snk_xid)" : "USING brin (snk_xid) WITH (pages_per_range = 32)";
	if (cfg->notify_channel[0]) {
		t->channel = db_quote_ident(cfg->notify_channel);
		t->channel_raw = strdup(cfg->notify_channel);
		if (t->channel && t->channel_raw)
			t->sql_listen = fmt("LISTEN %s", t->channel);
	}
	if (!t->schema_raw || !t->table_raw || !t->id_raw || !t->data_raw || !t->label || !t->config_path ||
	    !t->qualified || !t->id || !t->data ||
	    (cfg->notify_channel[0] && !t->sql_listen)) {
		db_table_clear(t);
		return false;
	}
	/* The window: rows visible in this transaction's snapshot but not in the previous
	 * one, i.e. xid >= xmax(prev) or xid among prev's in-progress xids that have ended
	 * since (one still running has no visible rows yet, and need not be looked up: with
	 * BRIN each lookup reads every range the xid falls within). Rows snk copied carry a
	 * NULL xid (0 in tables of an older snk) and are never in a window: that is the echo
	 * suppression.
	 * A row whose xid is at or above this snapshot's xmax cannot have been inserted by a
	 * transaction this snapshot sees: it came with its xid (a dump of a busier cluster
	 * restored with triggers off). Such rows are "ahead": the first arm leaves them out, the
	 * second (when $4) finds them, and the fourth column marks them, so that the window
	 * skips them and snk gives them current xids (snk.restamp_ahead): the next window
	 * copies them once, like any row. One text per type of snk_xid, so that both use its
	 * index. */
	for (int k = 0; k < 2; k++) {
		const char *type = k == SNK_XID_INT8 ? "int8" : "xid8";
		/* A scalar subquery, so that it is evaluated once per window (an InitPlan), not
		 * for every row the BRIN recheck and the select list see: measured on a window
		 * of 1,000,000 rows, 300 ms against 530 ms. */
		const char *now = k == SNK_XID_INT8 ?
			"(SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::int8)" :
			"(SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()))";

		t->sql_window[k] = fmt("DECLARE snk_window NO SCROLL CURSOR FOR SELECT %s,"
				       " CASE WHEN pg_catalog.octet_length(%s) > $3::int4 THEN NULL ELSE %s END,"
				       " pg_catalog.octet_length(%s)::int8,"
				       " CASE WHEN snk_xid >= %s THEN snk_xid::text::int8 END"
				       " FROM %s WHERE (snk_xid >= $1::%s AND snk_xid < %s)"
				       " OR (snk_xid >= %s AND $4::bool)"
				       " OR snk_xid = ANY (ARRAY(SELECT x::text::%s"
				       " FROM pg_catalog.unnest($2::pg_catalog.xid8[]) AS x"
				       " WHERE pg_catalog.pg_visible_in_snapshot(x, pg_catalog.pg_current_snapshot())))",
				       t->id, t->data, t->data, t->data, now, t->qualified, type, now, now, type);
		if (!t->sql_window[k]) {
			db_table_clear(t);
			return false;
		}
	}
	t->sql_fetch_large = fmt("SELECT %s, %s FROM %s WHERE %s = ANY ($1::uuid[])", t->id, t->data,
				 t->qualified, t->id);
	t->sql_insert = fmt("INSERT INTO %s (%s, %s, snk_xid)"
			    " SELECT u.id, u.data, NULL FROM ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::text[])) AS u(id, data)"
			    " ON CONFLICT (%s) DO NOTHING",
			    t->qualified, t->id, t->data, t->id);
	t->sql_insert_plain = fmt("INSERT INTO %s (%s, %s, snk_xid)"
				  " SELECT u.id, u.data, NULL FROM ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::text[])) AS u(id, data)",
				  t->qualified, t->id, t->data);
	t->sql_conflicts = fmt("SELECT u.id::text FROM ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::text[])) AS u(id, data)"
			       " JOIN %s AS t ON t.%s = u.id WHERE t.%s::text IS DISTINCT FROM u.data",
			       t->qualified, t->id, t->data);
	t->sql_app_insert = fmt("INSERT INTO %s (%s, %s) SELECT * FROM ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::text[]))",
				t->qualified, t->id, t->data);
	if (!t->sql_fetch_large || !t->sql_insert || !t->sql_insert_plain || !t->sql_conflicts ||
	    !t->sql_app_insert) {
		db_table_clear(t);
		return false;
	}
	return true;
}

void db_table_clear(struct snk_table *t)
{
	char **fields[] = { &t->label, &t->qualified, &t->id, &t->data, &t->channel, &t->channel_raw, &t->schema_raw,
			    &t->table_raw, &t->config_path, &t->id_raw, &t->data_raw, &t->sql_window[0],
			    &t->sql_window[1], &t->sql_fetch_large,
			    &t->sql_insert, &t->sql_insert_plain, &t->sql_conflicts, &t->sql_listen, &t->sql_app_insert };

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
}

const char *db_table_problem(const struct snk_schema_info *info, const struct snk_table *t, char *buf,
			     size_t len)
{
	if (!info->table_exists)
		snprintf(buf, len, "table %s does not exist; run 'snk -c %s migrate' to create it", t->label,
			 t->config_path);
	else if (!info->id_type[0])
		snprintf(buf, len, "table %s has no column %s; set id_column in the config", t->label,
			 t->id_raw);
	else if (strcmp(info->id_type, "uuid") != 0)
		snprintf(buf, len, "column %s.%s is %s; snk needs uuid", t->label, t->id_raw, info->id_type);
	else if (!info->data_type[0])
		snprintf(buf, len, "table %s has no column %s; set data_column in the config", t->label,
			 t->data_raw);
	else if (strcmp(info->data_type, "text") != 0 && strncmp(info->data_type, "character varying", 17) != 0)
		snprintf(buf, len, "column %s.%s is %s; snk needs text or varchar", t->label, t->data_raw,
			 info->data_type);
	else
		return NULL;
	return buf;
}

const char *db_schema_problem(const struct snk_schema_info *info, const struct snk_table *t,
			      bool need_cursor, char *buf, size_t len)
{
	if (db_table_problem(info, t, buf, len))
		return buf;
	if (!info->has_unique_id)
		snprintf(buf, len, "table %s has no unique index on %s alone; add a primary key or unique index on it",
			 t->label, t->id_raw);
	else if (!info->has_xid_column || !info->has_xid_index || !info->has_xid_guard ||
		 (need_cursor && !info->has_snk_schema))
		snprintf(buf, len, "table %s is not migrated for snk (missing %s); run 'snk -c %s migrate'",
			 t->label,
			 !info->has_xid_column ? "column snk_xid" :
			 !info->has_xid_index  ? "index on snk_xid" :
			 !info->has_xid_guard  ? "trigger " SNK_XID_GUARD : "schema snk or its newest objects",
			 t->config_path);
	else if (!info->xid_guard_enabled)
		snprintf(buf, len, "trigger " SNK_XID_GUARD " on %s is disabled: rows inserted with an snk_xid"
			 " of their own would not be copied; ALTER TABLE %s ENABLE TRIGGER " SNK_XID_GUARD,
			 t->label, t->qualified);
	else
		return NULL;
	return buf;
}

const char *db_notify_trigger_problem(const struct snk_notify_trigger *trg, const struct snk_table *t,
				      char *buf, size_t len)
{
	bool public_schema = strcmp(t->schema_raw, "public") == 0;

	if (!t->channel_raw || (trg->found && trg->enabled))
		return NULL;
	if (trg->found)
		snprintf(buf, len, "the NOTIFY trigger %s on %s is disabled, so snk wakes on its timer only;"
			 " ALTER TABLE %s ENABLE TRIGGER %s, or set notify_channel to \"\" for timer only",
			 trg->name, t->label, t->qualified, trg->name);
	else /* notify_trigger.sql names the table unqualified: the schema comes from the search_path */
		snprintf(buf, len, "no NOTIFY trigger for channel %s on %s, so snk wakes on its timer only;"
			 " run %s%s%spsql -d DBNAME -v table=%s -v channel=%s -f migrations/notify_trigger.sql,"
			 " or set notify_channel to \"\" for timer only", t->channel_raw, t->label,
			 public_schema ? "" : "PGOPTIONS='-c search_path=", public_schema ? "" : t->schema_raw,
			 public_schema ? "" : "' ", t->table_raw, t->channel_raw);
	return buf;
}

bool db_send_schema_check(struct snk_pgconn *c, const struct snk_table *t)
{
	const char *params[4] = { t->schema_raw, t->table_raw, t->id_raw, t->data_raw };

	return pgconn_query(c, SQL_SCHEMA_CHECK, 4, params, NULL, NULL, 0);
}

bool db_send_session_setup(struct snk_pgconn *c)
{
	return pgconn_query(c, SQL_SESSION_SETUP, 0, NULL, NULL, NULL, 0);
}

bool db_read_session(const PGresult *res, struct snk_session_info *out)
{
	memset(out, 0, sizeof(*out));
	if (PQntuples(res) != 1 || PQnfields(res) != 3 || PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1))
		return false;
	snprintf(out->search_path, sizeof(out->search_path), "%s", PQgetvalue(res, 0, 0));
	snprintf(out->synchronous_commit, sizeof(out->synchronous_commit), "%s", PQgetvalue(res, 0, 1));
	out->copies = !PQgetisnull(res, 0, 2) && strcmp(PQgetvalue(res, 0, 2), "on") == 0;
	return true;
}

const char *db_session_problem(const struct snk_session_info *info, bool copies, char *buf, size_t len)
{
	if (strcmp(info->search_path, SNK_SESSION_SEARCH_PATH) != 0)
		snprintf(buf, len, "the session runs with search_path '%s', not the '%s' snk sets at connect"
			 " (does a connection pooler drop the options parameter?); connect snk to PostgreSQL"
			 " directly or through a pooler that passes options on", info->search_path,
			 SNK_SESSION_SEARCH_PATH);
	else if (strcmp(info->synchronous_commit, "off") == 0)
		snprintf(buf, len, "the session cannot turn synchronous_commit on; snk never commits asynchronously");
	else if (copies && !info->copies)
		snprintf(buf, len, "the session runs without snk.copy = on, which snk sets at connect (does a"
			 " connection pooler drop the options parameter?); its copies would be read back as new rows");
	else
		return NULL;
	return buf;
}

bool db_send_read_session_setup(struct snk_pgconn *c)
{
	/* The window is always "snk_xid >= x OR snk_xid = ANY(...)", which the xid index
	 * serves. Stale or missing statistics for snk_xid make the planner guess a third of
	 * the table, and a cursor's fast-start costing then picks a sequential scan of the
	 * whole table on every poll (measured: 4-9 ms per poll on 61k rows, growing with the
	 * table). A full first copy still streams linearly through a bitmap heap scan. */
	return pgconn_query(c, "SELECT pg_catalog.set_config('enable_seqscan'::text, 'off'::text, false)", 0, NULL,
			    NULL, NULL, 0);
}

bool db_send_listen(struct snk_pgconn *c, const struct snk_table *t)
{
	return t->sql_listen ? pgconn_query(c, t->sql_listen, 0, NULL, NULL, NULL, 0) : true;
}

bool db_send_writer_lock(struct snk_pgconn *c, const struct snk_table *t)
{
	const char *params[1] = { t->label };

	return pgconn_query(c, SQL_WRITER_LOCK, 1, params, NULL, NULL, 0);
}

bool db_send_notify_trigger(struct snk_pgconn *c, const struct snk_table *t)
{
	const char *params[3] = { t->schema_raw, t->table_raw, t->channel_raw };

	return t->channel_raw ? pgconn_query(c, SQL_NOTIFY_TRIGGER, 3, params, NULL, NULL, 0) : true;
}

bool db_send_prepare_insert(struct snk_pgconn *c, const struct snk_table *t)
{
	return pgconn_prepare(c, STMT_INSERT, t->sql_insert, 2) &&
	       pgconn_prepare(c, STMT_INSERT_PLAIN, t->sql_insert_plain, 2);
}

bool db_send_cursor_load(struct snk_pgconn *c, const char *source_key)
{
	const char *params[1] = { source_key };

	return pgconn_query(c, SQL_CURSOR_LOAD, 1, params, NULL, NULL, 0);
}

bool db_send_window_open(struct snk_pgconn *c, const struct snk_table *t, enum snk_xid_type xid_type,
			 const struct snk_snapshot *prev, bool find_ahead, int fetch_rows, int inline_max)
{
	char xmax[24], limit[16];
	const char *params[4] = { xmax, prev->xip_array, limit, find_ahead ? "true" : "false" };

	snapshot_xmax_text(prev, xmax, sizeof(xmax));
	snprintf(limit, sizeof(limit), "%d", inline_max);
	return pgconn_query(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, NULL, NULL, 0) &&
	       pgconn_query(c, "SELECT pg_catalog.pg_current_snapshot()::text", 0, NULL, NULL, NULL, 0) &&
	       pgconn_query(c, t->sql_window[xid_type], 4, params, NULL, NULL, 0) &&
	       db_send_window_fetch(c, fetch_rows);
}

bool db_send_fetch_large(struct snk_pgconn *c, const struct snk_table *t, const struct snk_buf *ids)
{
	const char *values[1] = { ids->data };
	const int lengths[1] = { (int)ids->len };
	static const int formats[1] = { 1 };

	return pgconn_query(c, t->sql_fetch_large, 1, values, lengths, formats, 1);
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

static void batch_params(const struct snk_batch *b, const char *values[2], int lengths[2])
{
	values[0] = b->ids.data;
	values[1] = b->datas.data;
	lengths[0] = (int)b->ids.len;
	lengths[1] = (int)b->datas.len;
}

bool db_send_insert(struct snk_pgconn *c, const struct snk_batch *b, bool on_conflict)
{
	const char *values[2];
	int lengths[2];
	static const int formats[2] = { 1, 1 };

	batch_params(b, values, lengths);
	return pgconn_query_prepared(c, on_conflict ? STMT_INSERT : STMT_INSERT_PLAIN, 2, values, lengths,
				     formats, 0);
}

bool db_send_cursor_store(struct snk_pgconn *c, const char *source_key, const char *snap, uint64_t rows,
			  const char *src_ident, const char *dst_ident)
{
	char nrows[24];
	const char *params[5] = { source_key, snap, nrows, src_ident, dst_ident };

	snprintf(nrows, sizeof(nrows), "%llu", (unsigned long long)rows);
	return pgconn_query(c, SQL_CURSOR_STORE, 5, params, NULL, NULL, 0);
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

bool db_send_conflicts(struct snk_pgconn *c, const struct snk_table *t, const struct snk_batch *b)
{
	const char *values[2];
	int lengths[2];
	static const int formats[2] = { 1, 1 };

	batch_params(b, values, lengths);
	return pgconn_query(c, t->sql_conflicts, 2, values, lengths, formats, 0);
}

static bool text_bool(const PGresult *res, int col)
{
	return !PQgetisnull(res, 0, col) && PQgetvalue(res, 0, col)[0] == 't';
}

bool db_read_schema(const PGresult *res, struct snk_schema_info *out)
{
	memset(out, 0, sizeof(*out));
	if (PQntuples(res) != 1 || PQnfields(res) != 9)
		return false;
	out->table_exists = text_bool(res, 0);
	if (!PQgetisnull(res, 0, 1))
		snprintf(out->id_type, sizeof(out->id_type), "%s", PQgetvalue(res, 0, 1));
	if (!PQgetisnull(res, 0, 2))
		snprintf(out->data_type, sizeof(out->data_type), "%s", PQgetvalue(res, 0, 2));
	/* snk_xid's type: bigint, xid8 (an older snk's table), or NULL (absent, or another type). */
	out->has_xid_column = !PQgetisnull(res, 0, 3);
	out->xid_type = strcmp(PQgetvalue(res, 0, 3), "bigint") == 0 ? SNK_XID_INT8 : SNK_XID_XID8;
	out->has_unique_id = text_bool(res, 4);
	out->has_xid_index = text_bool(res, 5);
	out->has_snk_schema = text_bool(res, 6);
	if (!PQgetisnull(res, 0, 7))
		snprintf(out->brin_index, sizeof(out->brin_index), "%s", PQgetvalue(res, 0, 7));
	/* tgenabled: O fires (origin and local), A always, R only as a replica, D never */
	out->has_xid_guard = !PQgetisnull(res, 0, 8);
	out->xid_guard_enabled = out->has_xid_guard && strchr("OA", PQgetvalue(res, 0, 8)[0]) != NULL;
	return true;
}

bool db_read_bool(const PGresult *res, bool *out)
{
	if (PQntuples(res) != 1 || PQnfields(res) < 1)
		return false;
	*out = text_bool(res, 0);
	return true;
}

bool db_read_notify_trigger(const PGresult *res, struct snk_notify_trigger *out)
{
	memset(out, 0, sizeof(*out));
	if (PQnfields(res) != 2 || PQntuples(res) > 1)
		return false;
	if (PQntuples(res) == 0)
		return true;
	out->found = true;
	snprintf(out->name, sizeof(out->name), "%s", PQgetvalue(res, 0, 0));
	out->enabled = strchr("OA", PQgetvalue(res, 0, 1)[0]) != NULL;
	return true;
}

bool db_read_cursor(const PGresult *res, struct snk_cursor *out)
{
	snapshot_clear(&out->snapshot);
	memset(out, 0, sizeof(*out));
	if (PQntuples(res) == 0)
		return true;
	if (PQntuples(res) != 1 || PQnfields(res) != 4 || PQgetisnull(res, 0, 0))
		return false;
	out->found = true;
	if (!PQgetisnull(res, 0, 1))
		snprintf(out->src_ident, sizeof(out->src_ident), "%s", PQgetvalue(res, 0, 1));
	if (!PQgetisnull(res, 0, 2))
		snprintf(out->dst_ident, sizeof(out->dst_ident), "%s", PQgetvalue(res, 0, 2));
	out->reconcile_pending = text_bool(res, 3);
	return snapshot_parse(PQgetvalue(res, 0, 0), &out->snapshot);
}

bool db_read_identity(const PGresult *res, char *ident, size_t len, struct snk_snapshot *now,
		      char *sync_commit, size_t sync_len)
{
	if (PQntuples(res) != 1 || PQnfields(res) != 3 || PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1))
		return false;
	snprintf(ident, len, "%s", PQgetvalue(res, 0, 0));
	if (sync_commit)
		snprintf(sync_commit, sync_len, "%s", PQgetisnull(res, 0, 2) ? "" : PQgetvalue(res, 0, 2));
	if (!now)
		return true;
	return snapshot_set(now, PQgetvalue(res, 0, 1));
}

bool db_read_snapshot(const PGresult *res, struct snk_snapshot *out)
{
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		return false;
	return snapshot_parse(PQgetvalue(res, 0, 0), out);
}

bool db_read_rows(const PGresult *res, struct snk_batch *b)
{
	int n = PQntuples(res);

	if (PQnfields(res) != 2 || PQfformat(res, 0) != 1 || PQfformat(res, 1) != 1)
		return false;
	for (int i = 0; i < n; i++) {
		const char *data = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);

		if (PQgetisnull(res, i, 0) || PQgetlength(res, i, 0) != 16)
			return false;
		if (!batch_add(b, (const unsigned char *)PQgetvalue(res, i, 0), data,
			       (size_t)PQgetlength(res, i, 1)))
			return false;
	}
	batch_finish(b);
	return true;
}

static uint64_t be64(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char)p[i];
	return v;
}

bool db_read_window_rows(const PGresult *res, struct snk_batch *b, struct snk_idqueue *large,
			 struct snk_ahead *ahead)
{
	int n = PQntuples(res);

	if (PQnfields(res) != 4 || PQfformat(res, 0) != 1 || PQfformat(res, 1) != 1 || PQfformat(res, 2) != 1 ||
	    PQfformat(res, 3) != 1)
		return false;
	for (int i = 0; i < n; i++) {
		const unsigned char *id = (const unsigned char *)PQgetvalue(res, i, 0);
		bool has_len = !PQgetisnull(res, i, 2) && PQgetlength(res, i, 2) == 8;

		if (PQgetisnull(res, i, 0) || PQgetlength(res, i, 0) != 16)
			return false;
		if (!PQgetisnull(res, i, 3)) {
			uint64_t xid;

			if (PQgetlength(res, i, 3) != 8)
				return false;
			xid = be64(PQgetvalue(res, i, 3));
			ahead->rows++;
			if (xid > ahead->max_xid)
				ahead->max_xid = xid;
			continue; /* not copied now: restamped, then copied by the next window */
		}
		if (PQgetisnull(res, i, 1) && has_len) {
			/* left behind by the window: too large to travel in a page */
			if (!idqueue_push(large, id, be64(PQgetvalue(res, i, 2))))
				return false;
		} else if (!batch_add(b, id, PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1),
				      (size_t)PQgetlength(res, i, 1))) {
			return false;
		}
	}
	batch_finish(b);
	return true;
}

bool db_read_u64(const PGresult *res, uint64_t *out)
{
	char *end;

	if (PQntuples(res) != 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0))
		return false;
	*out = strtoull(PQgetvalue(res, 0, 0), &end, 10);
	return *end == '\0';
}

uint64_t db_read_affected(const PGresult *res)
{
	return strtoull(PQcmdTuples((PGresult *)res), NULL, 10);
}

int db_read_ntuples(const PGresult *res)
{
	return PQntuples(res);
}

const char *db_read_text(const PGresult *res, int row)
{
	return PQgetisnull(res, row, 0) ? NULL : PQgetvalue(res, row, 0);
}

PGconn *db_connect_blocking(const char *conninfo, const char *app, char *err, size_t errlen)
{
	struct snk_conn_params params;
	PGconn *conn;

	if (!conninfo_check(conninfo, err, errlen))
		return NULL;
	if (!conninfo_params(&params, conninfo, app, 10, false)) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	conn = PQconnectdbParams(params.keys, params.vals, 0);
	conninfo_params_free(&params);
	if (!conn) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pgconn_route_notices(conn, app);
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(conn));
		err[strcspn(err, "\n")] = '\0';
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

static bool check_result(PGresult *res, ExecStatusType want, char *err, size_t errlen)
{
	if (PQresultStatus(res) == want)
		return true;
	snprintf(err, errlen, "%s", PQresultErrorMessage(res));
	err[strcspn(err, "\n")] = '\0';
	return false;
}

/* exec_batch: runs sql with the batch as its two binary parameters, $1 uuid[] and $2 text[]. */
static bool exec_batch(PGconn *conn, const char *sql, const struct snk_batch *b, char *err, size_t errlen)
{
	const char *values[2];
	int lengths[2];
	static const int formats[2] = { 1, 1 };
	PGresult *res;
	bool ok;

	batch_params(b, values, lengths);
	res = PQexecParams(conn, sql, 2, NULL, values, lengths, formats, 0);
	ok = check_result(res, PGRES_COMMAND_OK, err, errlen);
	PQclear(res);
	return ok;
}

bool db_app_insert(PGconn *conn, const struct snk_table *t, const struct snk_batch *b, char *err,
		   size_t errlen)
{
	return exec_batch(conn, t->sql_app_insert, b, err, errlen);
}

bool db_schema_blocking(PGconn *conn, const struct snk_table *t, struct snk_schema_info *out,
			char *err, size_t errlen)
{
	const char *params[4] = { t->schema_raw, t->table_raw, t->id_raw, t->data_raw };
	PGresult *res = PQexecParams(conn, SQL_SCHEMA_CHECK, 4, NULL, params, NULL, NULL, 0);
	bool ok = check_result(res, PGRES_TUPLES_OK, err, errlen) && db_read_schema(res, out);

	PQclear(res);
	return ok;
}

bool db_session_blocking(PGconn *conn, struct snk_session_info *out, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, SQL_SESSION_SETUP);
	bool ok = check_result(res, PGRES_TUPLES_OK, err, errlen) && db_read_session(res, out);

	PQclear(res);
	return ok;
}

bool db_notify_trigger_blocking(PGconn *conn, const struct snk_table *t, struct snk_notify_trigger *out,
				char *err, size_t errlen)
{
	const char *params[3] = { t->schema_raw, t->table_raw, t->channel_raw };
	PGresult *res;
	bool ok;

	memset(out, 0, sizeof(*out));
	if (!t->channel_raw)
		return true;
	res = PQexecParams(conn, SQL_NOTIFY_TRIGGER, 3, NULL, params, NULL, NULL, 0);
	ok = check_result(res, PGRES_TUPLES_OK, err, errlen) && db_read_notify_trigger(res, out);
	PQclear(res);
	return ok;
}

bool db_privileges_blocking(PGconn *conn, const struct snk_table *t, struct snk_privileges *out, char *err,
			    size_t errlen)
{
	const char *params[2] = { t->schema_raw, t->table_raw };
	PGresult *res = PQexecParams(conn, SQL_PRIVILEGES, 2, NULL, params, NULL, NULL, 0);
	bool ran = check_result(res, PGRES_TUPLES_OK, err, errlen);
	bool ok = ran && PQntuples(res) == 1 && PQnfields(res) == 10;
	bool *flags[9] = { &out->table_select, &out->table_insert, &out->table_schema_usage, &out->snk_usage,
			   &out->cursor_select, &out->cursor_insert, &out->cursor_update, &out->summarize_execute,
			   &out->restamp_execute };

	memset(out, 0, sizeof(*out));
	if (ok) {
		snprintf(out->role, sizeof(out->role), "%s", PQgetvalue(res, 0, 0));
		for (int i = 0; i < 9; i++) /* a missing object is the schema check's to report */
			*flags[i] = PQgetisnull(res, 0, i + 1) || text_bool(res, i + 1);
	} else if (ran) {
		snprintf(err, errlen, "unexpected result of the privilege check");
	}
	PQclear(res);
	return ok;
}

bool db_writer_lock_blocking(PGconn *conn, const struct snk_table *t, struct snk_lock_holder *out, char *err,
			     size_t errlen)
{
	const char *params[1] = { t->label };
	PGresult *res = PQexecParams(conn, SQL_WRITER_LOCK_HOLDER, 1, NULL, params, NULL, NULL, 0);
	bool ok = check_result(res, PGRES_TUPLES_OK, err, errlen);
	char *fields[4] = { out->user, out->application, out->client, out->since };
	size_t sizes[4] = { sizeof(out->user), sizeof(out->application), sizeof(out->client), sizeof(out->since) };

	memset(out, 0, sizeof(*out));
	if (ok && PQnfields(res) != 5) {
		snprintf(err, errlen, "unexpected result of the writer lock check");
		ok = false;
	}
	if (ok && PQntuples(res) == 1) {
		out->held = true;
		out->pid = atoi(PQgetvalue(res, 0, 0));
		for (int i = 0; i < 4; i++)
			snprintf(fields[i], sizes[i], "%s", PQgetvalue(res, 0, i + 1));
	}
	PQclear(res);
	return ok;
}

void db_uuid_text(const unsigned char id[16], char *buf)
{
	static const char hex[] = "0123456789abcdef";
	char *p = buf;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[id[i] >> 4];
		*p++ = hex[id[i] & 15];
	}
	*p = '\0';
}

/* --- migrate --- */

#include "snk/migrate.h"

static const char SQL_MIGRATE_BOOTSTRAP[] =
	"CREATE SCHEMA IF NOT EXISTS snk;"
	"CREATE TABLE IF NOT EXISTS snk.migrations ("
	" name text NOT NULL, target text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),"
	" PRIMARY KEY (name, target))";

/* Replaces each placeholder of sql by the matching quoted identifier; @TABLE_LIT@ is the
 * quoted table name as a string literal (E'' form, so that neither a quote nor a
 * backslash in a name can end it, whatever standard_conforming_strings says). */
static char *expand(const char *sql, const struct snk_table *t, const char *schema_q, const char *table_lit,
		    const char *id_lit)
{
	const char *names[] = { "@SCHEMA@", "@TABLE_LIT@", "@TABLE@", "@ID_LIT@", "@ID@", "@DATA@", "@XID_INDEX@" };
	const char *values[] = { schema_q, table_lit, t->qualified, id_lit, t->id, t->data, t->index_spec };
	struct snk_buf out = { 0 };
	const char *p = sql;

	while (*p) {
		size_t i, n = 1;
		const char *v = NULL;

		for (i = 0; *p == '@' && i < sizeof(names) / sizeof(names[0]); i++) {
			if (strncmp(p, names[i], strlen(names[i])) == 0) {
				v = values[i];
				n = strlen(names[i]);
				break;
			}
		}
		if (!buf_reserve(&out, (v ? strlen(v) : 1) + 1)) {
			free(out.data);
			return NULL;
		}
		if (v) {
			memcpy(out.data + out.len, v, strlen(v));
			out.len += strlen(v);
		} else {
			out.data[out.len++] = *p;
		}
		p += n;
	}
	if (!buf_reserve(&out, 1)) {
		free(out.data);
		return NULL;
	}
	out.data[out.len] = '\0';
	return out.data;
}

static bool exec_ok(PGconn *conn, const char *sql, int n, const char *const *params, char *err,
		    size_t errlen, PGresult **keep)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(res));
		err[strcspn(err, "\n")] = '\0';
	}
	if (ok && keep)
		*keep = res;
	else
		PQclear(res);
	return ok;
}

static char *string_literal(const char *s)
{
	char *out = malloc(strlen(s) * 2 + 4), *p = out;

	if (!out)
		return NULL;
	*p++ = 'E';
	*p++ = '\'';
	for (; *s; s++) {
		if (*s == '\'' || *s == '\\')
			*p++ = *s;
		*p++ = *s;
	}
	*p++ = '\'';
	*p = '\0';
	return out;
}

enum db_migrate_status db_migrate(PGconn *conn, const struct snk_table *t, int *applied, char *err,
				  size_t errlen)
{
	struct snk_schema_info info;
	char problem[512];
	char *schema_q = db_quote_ident(t->schema_raw), *table_lit = string_literal(t->qualified);
	char *id_lit = string_literal(t->id_raw);
	enum db_migrate_status status = MIGRATE_ERROR;
	PGresult *res;

	*applied = 0;
	if (!schema_q || !table_lit || !id_lit) {
		snprintf(err, errlen, "out of memory");
		return MIGRATE_ERROR;
	}
	if (!exec_ok(conn, "SET client_min_messages = warning", 0, NULL, err, errlen, NULL) ||
	    !exec_ok(conn, "BEGIN", 0, NULL, err, errlen, NULL) ||
	    !exec_ok(conn, "SELECT pg_catalog.pg_advisory_xact_lock(" LOCK_CLASS ", 0::int4)", 0, NULL, err, errlen,
		     NULL))
		goto out;
	if (!db_schema_blocking(conn, t, &info, err, errlen))
		goto out;
	/* An existing table must already be one snk can sync: snk never rewrites user data
	 * or adds constraints that could fail half-way. */
	if (info.table_exists) {
		info.has_xid_column = info.has_xid_index = info.has_snk_schema = true;
		info.has_xid_guard = info.xid_guard_enabled = true;
		if (db_schema_problem(&info, t, false, problem, sizeof(problem))) {
			snprintf(err, errlen, "%s", problem);
			status = MIGRATE_SCHEMA;
			goto out;
		}
	}
	res = PQexec(conn, SQL_MIGRATE_BOOTSTRAP);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(res));
		err[strcspn(err, "\n")] = '\0';
		PQclear(res);
		goto out;
	}
	PQclear(res);
	for (const struct snk_migration *m = snk_migrations; m->name; m++) {
		const char *params[2] = { m->name, t->label };
		char *sql;
		bool done;

		if (!exec_ok(conn, "SELECT 1 FROM snk.migrations WHERE name = $1 AND target = $2", 2,
			     params, err, errlen, &res))
			goto out;
		done = PQntuples(res) > 0;
		PQclear(res);
		if (done)
			continue;
		sql = expand(m->sql, t, schema_q, table_lit, id_lit);
		if (!sql) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		res = PQexec(conn, sql);
		free(sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			snprintf(err, errlen, "%s: %s", m->name, PQresultErrorMessage(res));
			err[strcspn(err, "\n")] = '\0';
			PQclear(res);
			goto out;
		}
		PQclear(res);
		if (!exec_ok(conn, "INSERT INTO snk.migrations (name, target) VALUES ($1, $2)", 2, params,
			     err, errlen, NULL))
			goto out;
		(*applied)++;
	}
	if (!exec_ok(conn, "COMMIT", 0, NULL, err, errlen, NULL))
		goto out;
	status = MIGRATE_OK;
out:
	if (status != MIGRATE_OK) {
		res = PQexec(conn, "ROLLBACK");
		PQclear(res);
		*applied = 0;
	}
	free(schema_q);
	free(table_lit);
	free(id_lit);
	return status;
}

int db_app_has_id(PGconn *conn, const struct snk_table *t, const unsigned char id[16])
{
	char sql[512];
	const char *values[1] = { (const char *)id };
	static const int lengths[1] = { 16 }, formats[1] = { 1 };
	PGresult *res;
	int found;

	snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE %s = $1::uuid", t->qualified, t->id);
	res = PQexecParams(conn, sql, 1, NULL, values, lengths, formats, 0);
	found = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) > 0 : -1;
	PQclear(res);
	return found;
}

/* --- the naive poller (bench/naive.c) --- */

int db_naive_page(PGconn *conn, const struct snk_table *t, int64_t *after, int limit, struct snk_batch *b,
		  char *err, size_t errlen)
{
	char sql[512], after_s[24], limit_s[16];
	const char *values[2] = { after_s, limit_s };
	PGresult *res;
	int n;

	snprintf(sql, sizeof(sql), "SELECT %s, %s, naive_seq FROM %s WHERE naive_seq > $1 ORDER BY naive_seq LIMIT $2",
		 t->id, t->data, t->qualified);
	snprintf(after_s, sizeof(after_s), "%lld", (long long)*after);
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	res = PQexecParams(conn, sql, 2, NULL, values, NULL, NULL, 1);
	batch_reset(b);
	if (!check_result(res, PGRES_TUPLES_OK, err, errlen)) {
		PQclear(res);
		return -1;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		const char *data = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);

		if (PQgetlength(res, i, 0) != 16 || PQgetlength(res, i, 2) != 8 ||
		    !batch_add(b, (const unsigned char *)PQgetvalue(res, i, 0), data, (size_t)PQgetlength(res, i, 1))) {
			snprintf(err, errlen, "unexpected row or out of memory");
			PQclear(res);
			return -1;
		}
		*after = (int64_t)be64(PQgetvalue(res, i, 2));
	}
	batch_finish(b);
	PQclear(res);
	return n;
}

bool db_naive_copy(PGconn *conn, const struct snk_table *t, const struct snk_batch *b, char *err, size_t errlen)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s (%s, %s, naive_seq) SELECT u.*, 0 FROM ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::text[])) u"
		 " ON CONFLICT (%s) DO NOTHING",
		 t->qualified, t->id, t->data, t->id);
	return exec_batch(conn, sql, b, err, errlen);
}

/* --- comparing the two tables: range digests and row sums (verify, reconcile) --- */

/* The hash of one row, over the bytes of its text in UTF-8 whatever the server's
 * encoding, so that equal rows hash alike in a UTF8 and a LATIN1 database. In UTF8 and
 * SQL_ASCII databases (snk writes UTF-8 into both) that is the text as stored. In a
 * single-byte encoding every byte sequence is valid text, so convert_from(..., itself)
 * makes a text value holding the UTF-8 bytes unchanged. Other multibyte encodings (EUC_*,
 * MULE_INTERNAL) hash their own bytes: see Known limits in docs/DESIGN.md. */
static const char *utf8_bytes_of(const struct snk_pgconn *c, char *buf, size_t len, const char *expr)
{
	const char *enc = pgconn_server_encoding(c);
	static const char *const single_byte[] = { "LATIN", "ISO_8859_", "WIN", "KOI8" };
	bool convert = false;

	for (size_t i = 0; i < sizeof(single_byte) / sizeof(single_byte[0]); i++)
		convert |= strncmp(enc, single_byte[i], strlen(single_byte[i])) == 0;
	if (!convert)
		return expr;
	snprintf(buf, len, "pg_catalog.convert_from(pg_catalog.convert_to(%s, 'UTF8'::name), '%s'::name)", expr, enc);
	return buf;
}

static void row_hash(char *buf, size_t len, const struct snk_pgconn *c, const struct snk_table *t)
{
	char row[512], conv[768];

	snprintf(row, sizeof(row), "%s::text OPERATOR(pg_catalog.||) ':'::text OPERATOR(pg_catalog.||)"
		 " coalesce(%s::text, ''::text)", t->id, t->data);
	snprintf(buf, len, "pg_catalog.hashtextextended(%s, 0::int8)", utf8_bytes_of(c, conv, sizeof(conv), row));
}

/* "lo <= id < hi" with lo as parameter $first (hi as the next one, when there is a hi). */
static void range_cond(char *buf, size_t len, const struct snk_table *t, int first, bool has_hi)
{
	if (has_hi)
		snprintf(buf, len, "%s >= $%d::uuid AND %s < $%d::uuid", t->id, first, t->id, first + 1);
	else
		snprintf(buf, len, "%s >= $%d::uuid", t->id, first);
}

bool db_send_range_digest(struct snk_pgconn *c, const struct snk_table *t, const char *lo, const char *hi)
{
	char sql[2048], cond[256], hash[1024];
	const char *params[2] = { lo, hi };

	range_cond(cond, sizeof(cond), t, 1, hi != NULL);
	row_hash(hash, sizeof(hash), c, t);
	snprintf(sql, sizeof(sql), "SELECT 0, pg_catalog.count(*), coalesce(pg_catalog.sum(%s), 0)::text FROM %s WHERE %s",
		 hash, t->qualified, cond);
	return pgconn_query(c, sql, hi ? 2 : 1, params, NULL, NULL, 0);
}

bool db_send_range_children(struct snk_pgconn *c, const struct snk_table *t, const char *lo, const char *hi,
			    int depth)
{
	char sql[2048], cond[256], byte[8], hash[1024];
	const char *params[3] = { byte, lo, hi };

	snprintf(byte, sizeof(byte), "%d", depth);
	range_cond(cond, sizeof(cond), t, 2, hi != NULL);
	row_hash(hash, sizeof(hash), c, t);
	snprintf(sql, sizeof(sql),
		 "SELECT pg_catalog.get_byte(pg_catalog.uuid_send(%s), $1::int4), pg_catalog.count(*),"
		 " coalesce(pg_catalog.sum(%s), 0)::text FROM %s WHERE %s GROUP BY 1",
		 t->id, hash, t->qualified, cond);
	return pgconn_query(c, sql, hi ? 3 : 2, params, NULL, NULL, 0);
}

bool db_read_range_digests(const PGresult *res, struct snk_range_digest out[256])
{
	for (int i = 0; i < 256; i++) {
		out[i].count = 0;
		snprintf(out[i].sum, sizeof(out[i].sum), "0");
	}
	if (PQnfields(res) != 3)
		return false;
	for (int r = 0; r < PQntuples(res); r++) {
		int b = atoi(PQgetvalue(res, r, 0));

		if (b < 0 || b > 255 || PQgetlength(res, r, 2) >= (int)sizeof(out[b].sum))
			return false;
		out[b].count = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		memcpy(out[b].sum, PQgetvalue(res, r, 2), (size_t)PQgetlength(res, r, 2) + 1);
	}
	return true;
}

/* Row sums: id, hash, snk_xid (0 when the table has none, for verify), data length in
 * UTF-8 bytes. A row whose snk_xid is ahead of the source's counter is no tail's work in
 * flight (docs/DESIGN.md, "Rows ahead of the counter"): it reads as 0, like a copy, so
 * that a reconcile repairs it. */
#define ROW_XID "CASE WHEN snk_xid::text::int8 >= pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::int8" \
		" THEN 0::int8 ELSE coalesce(snk_xid::text::int8, 0::int8) END"
static void row_sums_sql(char *sql, size_t len, const struct snk_pgconn *c, const struct snk_table *t,
			 bool with_xid, const char *where)
{
	char hash[1024];

	row_hash(hash, sizeof(hash), c, t);
	snprintf(sql, len, "SELECT %s, %s, %s, pg_catalog.octet_length(pg_catalog.convert_to(%s, 'UTF8'::name))::int8"
		 " FROM %s WHERE %s ORDER BY %s", t->id, hash,
		 with_xid ? ROW_XID : "0::int8", t->data, t->qualified, where, t->id);
}

bool db_send_range_rows(struct snk_pgconn *c, const struct snk_table *t, const char *lo, const char *hi,
			bool with_xid)
{
	char sql[2048], cond[256];
	const char *params[2] = { lo, hi };

	range_cond(cond, sizeof(cond), t, 1, hi != NULL);
	row_sums_sql(sql, sizeof(sql), c, t, with_xid, cond);
	return pgconn_query(c, sql, hi ? 2 : 1, params, NULL, NULL, 1);
}

bool db_send_rows_by_id(struct snk_pgconn *c, const struct snk_table *t, const struct snk_buf *ids, bool with_xid)
{
	char sql[2048], cond[256];
	const char *values[1] = { ids->data };
	const int lengths[1] = { (int)ids->len };
	static const int formats[1] = { 1 };

	snprintf(cond, sizeof(cond), "%s = ANY ($1::uuid[])", t->id);
	row_sums_sql(sql, sizeof(sql), c, t, with_xid, cond);
	return pgconn_query(c, sql, 1, values, lengths, formats, 1);
}

bool db_read_row_sums(const PGresult *res, struct snk_row_sum **out, int *n)
{
	int rows = PQntuples(res);
	struct snk_row_sum *v;

	*out = NULL;
	*n = 0;
	if (PQnfields(res) != 4)
		return false;
	v = rows ? malloc(sizeof(*v) * (size_t)rows) : NULL;
	if (rows && !v)
		return false;
	for (int i = 0; i < rows; i++) {
		if (PQgetlength(res, i, 0) != 16 || PQgetlength(res, i, 1) != 8 || PQgetlength(res, i, 2) != 8) {
			free(v);
			return false;
		}
		memcpy(v[i].id, PQgetvalue(res, i, 0), 16);
		v[i].hash = be64(PQgetvalue(res, i, 1));
		v[i].xid = be64(PQgetvalue(res, i, 2));
		v[i].bytes = PQgetisnull(res, i, 3) ? 0 : be64(PQgetvalue(res, i, 3));
	}
	*out = v;
	*n = rows;
	return true;
}
