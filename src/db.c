/* db.c - the data-access layer: all SQL text, parameter passing and result decoding, in
 * five files: db.c (the catalog, session and cursor statements, a table's names), db_shape.c
 * (a table's shape and the row statements built from it), db_rows.c (a pass's statements
 * and rows), db_blocking.c (the tools' blocking sessions, migrate), db_compare.c (verify's
 * and the reconcile's digests). They share db_internal.h; everyone else sees snk/db.h.
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
#include "db_internal.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* The key: the primary key, or else the one unique index over NOT NULL columns, or the
 * unique index over exactly the config's "key" columns ($3, NULL when not set). Only a
 * valid, immediate, non-partial index on plain, written (not generated) columns can be ON
 * CONFLICT's arbiter and name rows alike in both databases. Each key column comes with
 * its index's equality operator (strategy 3 of the operator class), schema-qualified,
 * which is what "same key" means there. */
#define SQL_KEY_CTE \
	"rel AS (SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace" \
	"  WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p'))," \
	" cand AS (SELECT i.indexrelid, i.indisprimary," \
	"  ARRAY(SELECT a.attname::text FROM pg_catalog.generate_series(0, i.indnkeyatts - 1) g(n)" \
	"   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[g.n] ORDER BY g.n) AS cols," \
	"  ARRAY(SELECT pg_catalog.quote_ident(ns.nspname::text) || '.' || o.oprname::text" \
	"   FROM pg_catalog.generate_series(0, i.indnkeyatts - 1) g(n)" \
	"   JOIN pg_catalog.pg_opclass oc ON oc.oid = i.indclass[g.n]" \
	"   JOIN pg_catalog.pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amopstrategy = 3::int2" \
	"    AND ao.amoplefttype = oc.opcintype AND ao.amoprighttype = oc.opcintype" \
	"   JOIN pg_catalog.pg_operator o ON o.oid = ao.amopopr" \
	"   JOIN pg_catalog.pg_namespace ns ON ns.oid = o.oprnamespace ORDER BY g.n) AS eq" \
	"  FROM pg_catalog.pg_index i JOIN rel ON i.indrelid = rel.oid" \
	"  WHERE i.indisunique AND i.indisvalid AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL" \
	"  AND NOT EXISTS (SELECT 1 FROM pg_catalog.generate_series(0, i.indnkeyatts - 1) g(n)" \
	"   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[g.n]" \
	"   WHERE NOT a.attnotnull OR a.attgenerated <> ''))," \
	" chosen AS (SELECT cols, eq FROM cand WHERE CASE WHEN $3::text[] IS NULL" \
	"   THEN indisprimary OR (SELECT pg_catalog.count(*) FROM cand) = 1" \
	"   ELSE cols @> $3::text[] AND cols <@ $3::text[] END ORDER BY indisprimary DESC, indexrelid LIMIT 1)"

#define SQL_NAME_LIST(arr) \
	"(SELECT '(' || pg_catalog.string_agg(pg_catalog.quote_ident(x), ', ') || ')' FROM pg_catalog.unnest(" arr ") x)"

const char SQL_SCHEMA_CHECK[] =
	"WITH " SQL_KEY_CTE
	" SELECT EXISTS (SELECT 1 FROM rel),"
	" (SELECT " SQL_NAME_LIST("chosen.cols") " FROM chosen),"
	" (SELECT pg_catalog.count(*)::int4 FROM cand),"
	" (SELECT pg_catalog.string_agg(" SQL_NAME_LIST("cand.cols") ", ', ' ORDER BY cand.indexrelid) FROM cand),"
	" (SELECT CASE a.atttypid WHEN 'pg_catalog.int8'::pg_catalog.regtype THEN 'bigint'"
	"   WHEN 'pg_catalog.xid8'::pg_catalog.regtype THEN 'xid8' END FROM pg_catalog.pg_attribute a, rel"
	"   WHERE a.attrelid = rel.oid AND a.attname = 'snk_xid' AND NOT a.attisdropped),"
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
	"   WHERE g.tgname = '" SNK_XID_GUARD "'),"
	" (SELECT rel.oid::int8 FROM rel)";

/* What a user-defined type is, beyond its name (which two databases may give to two
 * different types): a domain's base type and constraints, an enum's labels, a composite's
 * attributes in order (its text form is positional), a range's subtype; for an array, its
 * element type's. Types nested inside those are compared by name. A generated column
 * adds its expression. */
#define SQL_TYPE_SIGNATURE \
	"(SELECT CASE d.typtype" \
	"  WHEN 'd' THEN 'domain over ' || pg_catalog.format_type(d.typbasetype, d.typtypmod)" \
	"   || coalesce(' ' || (SELECT pg_catalog.string_agg(pg_catalog.pg_get_constraintdef(c.oid), ' ' ORDER BY c.conname)" \
	"   FROM pg_catalog.pg_constraint c WHERE c.contypid = d.oid), '') || CASE WHEN d.typnotnull THEN ' NOT NULL' ELSE '' END" \
	"  WHEN 'e' THEN 'enum (' || coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel::text), ', '" \
	"   ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = d.oid), '') || ')'" \
	"  WHEN 'c' THEN 'composite (' || coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(ca.attname::text) || ' '" \
	"   || pg_catalog.format_type(ca.atttypid, ca.atttypmod), ', ' ORDER BY ca.attnum) FROM pg_catalog.pg_attribute ca" \
	"   WHERE ca.attrelid = d.typrelid AND ca.attnum > 0 AND NOT ca.attisdropped), '') || ')'" \
	"  WHEN 'r' THEN 'range of ' || (SELECT pg_catalog.format_type(r.rngsubtype, NULL) FROM pg_catalog.pg_range r" \
	"   WHERE r.rngtypid = d.oid)" \
	"  ELSE '' END FROM pg_catalog.pg_type d" \
	"  WHERE d.oid = CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN t.typelem ELSE t.oid END)" \
	" || CASE WHEN a.attgenerated <> '' THEN ' generated as ' || (SELECT pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)" \
	"  FROM pg_catalog.pg_attrdef ad WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum) ELSE '' END"

/* The table's columns but snk_xid, each with what snk needs to move its values exactly:
 * its type as the catalog prints it (with modifier), the qualified type name (no
 * modifier) a text value is cast to, the type's oid, name and length, whether it is
 * generated, its place in the key with the key's equality operator, and what its type
 * is (SQL_TYPE_SIGNATURE). */
const char SQL_COLUMNS[] =
	"WITH " SQL_KEY_CTE
	" SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod),"
	" pg_catalog.quote_ident(tn.nspname::text) || '.' || pg_catalog.quote_ident(t.typname::text),"
	" a.atttypid::int8, pg_catalog.quote_ident(t.typname::text), t.typlen::int4, a.attgenerated::text,"
	" (SELECT k.n::int4 FROM chosen, pg_catalog.unnest(chosen.cols) WITH ORDINALITY k(name, n)"
	"   WHERE k.name = a.attname::text),"
	" (SELECT chosen.eq[k.n::int4] FROM chosen, pg_catalog.unnest(chosen.cols) WITH ORDINALITY k(name, n)"
	"   WHERE k.name = a.attname::text), coalesce(" SQL_TYPE_SIGNATURE ", ''),"
	" EXISTS (SELECT 1 FROM pg_catalog.pg_index di WHERE di.indrelid = rel.oid AND NOT di.indimmediate"
	"   AND (di.indisunique OR di.indisexclusion))"
	" FROM pg_catalog.pg_attribute a JOIN rel ON a.attrelid = rel.oid"
	" JOIN pg_catalog.pg_type t ON t.oid = a.atttypid JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace"
	" WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'snk_xid'";

/* Values that travel as text (every type but the built-in ones that travel in binary,
 * db_read_shape) and the row digests of verify and reconcile are the output of the
 * types' text functions, which depend on these settings: every session pins them, so
 * that two databases with other defaults (or a role's ALTER ROLE ... SET) still print a
 * value alike, and read back exactly what was printed (extra_float_digits 3: the
 * shortest text that reads back as the same float; array_nulls on: NULL in an array's
 * text is a NULL element, not the string "NULL"). */
#define SESSION_PIN(name, value) "pg_catalog.set_config('" name "'::text, '" value "'::text, false)"

/* First statement of every session: the search_path that conninfo.c pinned (a pooler that
 * drops the options parameter shows here), and commits that wait for the WAL flush unless
 * the config says otherwise (db_send_commit_async, on write sessions after this): a
 * default of 'off' that the server, database or role sets becomes 'local'; a stricter
 * server setting is kept. */
const char SQL_SESSION_SETUP[] =
	"SELECT pg_catalog.current_setting('search_path'::text),"
	" CASE WHEN pg_catalog.current_setting('synchronous_commit'::text) OPERATOR(pg_catalog.=) 'off'::text"
	" THEN pg_catalog.set_config('synchronous_commit'::text, 'local'::text, false)"
	" ELSE pg_catalog.current_setting('synchronous_commit'::text) END,"
	" pg_catalog.current_setting('snk.copy'::text, true),"
	" pg_catalog.concat(" SESSION_PIN("TimeZone", "UTC") ", " SESSION_PIN("DateStyle", "ISO, MDY") ","
	" " SESSION_PIN("IntervalStyle", "postgres") ", " SESSION_PIN("extra_float_digits", "3") ","
	" " SESSION_PIN("bytea_output", "hex") ", " SESSION_PIN("lc_monetary", "C") ","
	" " SESSION_PIN("xmloption", "content") ", " SESSION_PIN("array_nulls", "on") ")";

/* Which database this is: "system identifier/timeline/database oid". A restore from a
 * backup or a new cluster changes the first, a promotion or point-in-time recovery the
 * second, a dropped and re-created database the third. The timeline is the one WAL is
 * written on now (the first 8 hex digits of the current WAL file's name), not
 * pg_control_checkpoint()'s: that one moves only when the checkpoint after a promotion
 * ends, minutes later by default, and a cursor kept in that window skips the rows of
 * reused xids. In recovery there is no current WAL file; a standby is read only, so
 * pg_control's timeline serves. The timeline prints as a decimal integer, as
 * timeline_id::text did, so a primary's identity stays the same string across an upgrade. */
#define IDENTITY_COLUMN \
	"pg_catalog.concat_ws('/'::text, s.system_identifier," \
	" CASE WHEN pg_catalog.pg_is_in_recovery()" \
	" THEN (SELECT k.timeline_id::int8 FROM pg_catalog.pg_control_checkpoint() k)" \
	" ELSE pg_catalog.concat('x'::text, pg_catalog.substr(" \
	"   pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1::int4, 8::int4))" \
	"   ::bit(32)::int8 END, d.oid)"
#define IDENTITY_FROM \
	" FROM pg_catalog.pg_control_system() s, pg_catalog.pg_database d" \
	" WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()"
const char SQL_IDENTITY[] =
	"SELECT " IDENTITY_COLUMN ", pg_catalog.current_setting('synchronous_commit'::text)" IDENTITY_FROM;

/* How far the WAL is on disk (bytes), and which database says so: a session that
 * reconnected may have reached another server, whose positions compare with nothing. */
const char SQL_WAL_FLUSHED[] =
	"SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_flush_lsn(), '0/0'::pg_catalog.pg_lsn)::int8, "
	IDENTITY_COLUMN IDENTITY_FROM;

static const char SQL_CURSOR_LOAD[] =
	"SELECT snapshot::text, source_identity, target_identity, reconcile_pending"
	" FROM snk.cursor WHERE source = $1::text";

/* The cursor row exists from the cursor's first load (SQL_CURSOR_MARK), with its debt
 * written there; if it was deleted since, the new row owes a reconcile. */
const char SQL_CURSOR_STORE[] =
	"INSERT INTO snk.cursor AS c (source, snapshot, rows_copied, updated_at, source_identity, target_identity,"
	" reconcile_pending)"
	" VALUES ($1::text, $2::pg_catalog.pg_snapshot, $3::int8, pg_catalog.now(), $4::text, $5::text, true)"
	" ON CONFLICT (source) DO UPDATE SET snapshot = EXCLUDED.snapshot,"
	" rows_copied = c.rows_copied + EXCLUDED.rows_copied, updated_at = EXCLUDED.updated_at,"
	" source_identity = EXCLUDED.source_identity, target_identity = EXCLUDED.target_identity";

const char SQL_CURSOR_MARK[] =
	"INSERT INTO snk.cursor AS c (source, snapshot, source_identity, target_identity, reconcile_pending)"
	" VALUES ($1::text, $2::pg_catalog.pg_snapshot, $3::text, $4::text, true)"
	" ON CONFLICT (source) DO UPDATE SET snapshot = EXCLUDED.snapshot, source_identity = EXCLUDED.source_identity,"
	" target_identity = EXCLUDED.target_identity, reconcile_pending = true, updated_at = pg_catalog.now()";

const char SQL_RECONCILED[] = "UPDATE snk.cursor SET reconcile_pending = false WHERE source = $1::text";

/* The NOTIFY trigger, found by what it does rather than by its name: an AFTER INSERT
 * trigger (row or statement) on the table whose function is snk_notify_insert and whose
 * first argument is the channel snk listens on (migrations/notify_trigger.sql). tgargs
 * holds each argument in the server's encoding followed by a zero byte. An enabled one
 * (O: fires, A: always) is preferred over a disabled one; R fires only for replicas. */
const char SQL_NOTIFY_TRIGGER[] =
	"SELECT g.tgname::text, g.tgenabled::text,"
	" pg_catalog.strpos(p.prosrc, 'snk.copy'::text) OPERATOR(pg_catalog.>) 0 FROM pg_catalog.pg_trigger g"
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
const char SQL_PRIVILEGES[] =
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

/* Who holds the writer lock of any of the tables $1 (text[] of labels; pg_locks shows the
 * two int4 keys as classid and objid, unsigned, with objsubid 2), other than this session,
 * read without taking it. Another role's session shows its pid, user and application_name;
 * its address and start only to members of pg_read_all_stats. */
const char SQL_WRITER_LOCK_HOLDER[] =
	"SELECT l.pid, coalesce(a.usename::text, ''::text), coalesce(a.application_name, ''::text),"
	" CASE WHEN a.client_port = -1 THEN 'local'::text"
	"   WHEN a.client_addr IS NOT NULL THEN pg_catalog.host(a.client_addr) || ':'::text || a.client_port::text"
	"   ELSE ''::text END,"
	" coalesce(pg_catalog.to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'::text), ''::text)"
	" FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
	" WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2::int2"
	" AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()"
	" AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())"
	" AND l.classid = (" LOCK_CLASS ")::pg_catalog.oid"
	" AND l.objid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.hashtext(x)::pg_catalog.oid"
	"   FROM pg_catalog.unnest($1::text[]) AS x))"
	" ORDER BY a.backend_start NULLS LAST LIMIT 1";


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

char *fmt(const char *f, ...)
{
	va_list ap;
	char *out = NULL;

	va_start(ap, f);
	if (vasprintf(&out, f, ap) < 0)
		out = NULL;
	va_end(ap);
	return out;
}

/* sb_add: appends printf output to a growing string; false when out of memory. */
bool sb_add(struct snk_buf *b, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(NULL, 0, f, ap);
	va_end(ap);
	if (n < 0 || !buf_reserve(b, (size_t)n + 1))
		return false;
	va_start(ap, f);
	vsnprintf(b->data + b->len, (size_t)n + 1, f, ap);
	va_end(ap);
	b->len += (size_t)n;
	return true;
}

/* A text[] literal of the strings ({"a","b"}), NULL on out of memory. */
char *db_text_array(const char *const *items, int n, size_t stride)
{
	struct snk_buf b = { 0 };
	bool ok = sb_add(&b, "{");

	for (int i = 0; ok && i < n; i++) {
		const char *item = *(const char *const *)((const char *)items + (size_t)i * stride);

		ok = sb_add(&b, "%s\"", i ? "," : "");
		for (const char *p = item; ok && *p; p++)
			ok = sb_add(&b, "%s%c", *p == '"' || *p == '\\' ? "\\" : "", *p);
		ok = ok && sb_add(&b, "\"");
	}
	return sb_done(&b, ok && sb_add(&b, "}"));
}

/* key_param: the config's "key" as a text[] literal ({"a","b"}), NULL when not set. */
static char *key_param(const struct snk_table_spec *spec)
{
	return spec->nkey ? db_text_array((const char *const *)spec->key, spec->nkey, sizeof(*spec->key)) : NULL;
}

bool db_table_init(struct snk_table *t, const struct snk_config *cfg)
{
	return db_table_init_spec(t, cfg, &cfg->tables[0], 0);
}

bool db_table_init_spec(struct snk_table *t, const struct snk_config *cfg, const struct snk_table_spec *spec,
			int index)
{
	memset(t, 0, sizeof(*t));
	t->index = index;
	snprintf(t->stmt_insert, sizeof(t->stmt_insert), "snk_insert_%d", index);
	snprintf(t->stmt_insert_plain, sizeof(t->stmt_insert_plain), "snk_insert_plain_%d", index);
	snprintf(t->stmt_probe, sizeof(t->stmt_probe), "snk_probe_%d", index);
	snprintf(t->stmt_window, sizeof(t->stmt_window), "snk_window_%d", index);
	snprintf(t->stmt_window_ordered, sizeof(t->stmt_window_ordered), "snk_window_ordered_%d", index);
	snprintf(t->stmt_first, sizeof(t->stmt_first), "snk_first_%d", index);
	snprintf(t->stmt_first_ordered, sizeof(t->stmt_first_ordered), "snk_first_ordered_%d", index);
	t->schema_raw = strdup(spec->schema);
	t->table_raw = strdup(spec->table);
	t->id_raw = strdup(cfg->id_column);
	t->data_raw = strdup(cfg->data_column);
	t->label = fmt("%s.%s", spec->schema, spec->table);
	t->config_path = strdup(cfg->path ? cfg->path : "CONFIG");
	char *s = db_quote_ident(spec->schema), *n = db_quote_ident(spec->table);
	if (s && n)
		t->qualified = fmt("%s.%s", s, n);
	free(s);
	free(n);
	t->id = db_quote_ident(cfg->id_column);
	t->data = db_quote_ident(cfg->data_column);
	t->key_param = key_param(spec);
	/* BRIN's range size: docs/DESIGN.md weighs a window's re-read tail against the index's length. */
	t->index_spec = strcmp(cfg->xid_index, "btree") == 0 ? "(snk_xid)" : "USING brin (snk_xid) WITH (pages_per_range = 32)";
	if (cfg->notify_channel[0]) {
		t->channel = db_quote_ident(cfg->notify_channel);
		t->channel_raw = strdup(cfg->notify_channel);
		if (t->channel && t->channel_raw)
			t->sql_listen = fmt("LISTEN %s", t->channel);
	}
	if (t->qualified && t->id && t->data)
		t->sql_app_insert = fmt("INSERT INTO %s (%s, %s) SELECT * FROM ROWS FROM (pg_catalog.unnest($1::uuid[]),"
					" pg_catalog.unnest($2::text[]))", t->qualified, t->id, t->data);
	if (!t->schema_raw || !t->table_raw || !t->id_raw || !t->data_raw || !t->label || !t->config_path ||
	    !t->qualified || !t->id || !t->data || !t->sql_app_insert || (spec->nkey && !t->key_param) ||
	    (cfg->notify_channel[0] && !t->sql_listen)) {
		db_table_clear(t);
		return false;
	}
	return true;
}

const char *db_table_problem(const struct snk_schema_info *info, const struct snk_table *t, char *buf,
			     size_t len)
{
	if (!info->table_exists)
		snprintf(buf, len, "table %s does not exist; run 'snk -c %s migrate' to create it", t->label,
			 t->config_path);
	else if (!info->has_key && t->key_param)
		snprintf(buf, len, "table %s has no primary key or unique index over exactly the NOT NULL columns"
			 " \"key\" names in the config%s%s%s; create one or change \"key\"", t->label,
			 info->key_candidates ? " (it has " : "", info->key_candidates ? info->candidates : "",
			 info->key_candidates ? ")" : "");
	else if (!info->has_key && info->key_candidates > 1)
		snprintf(buf, len, "table %s has no primary key and %d unique indexes that could be its key (%s);"
			 " choose one with \"key\" in the config", t->label, info->key_candidates, info->candidates);
	else if (!info->has_key)
		snprintf(buf, len, "table %s has no primary key and no unique index over NOT NULL columns; add a"
			 " primary key: snk needs a key to copy each row once", t->label);
	else
		return NULL;
	return buf;
}

const char *db_schema_problem(const struct snk_schema_info *info, const struct snk_table *t,
			      bool need_cursor, char *buf, size_t len)
{
	if (db_table_problem(info, t, buf, len))
		return buf;
	if (!info->has_xid_column || !info->has_xid_index || !info->has_xid_guard ||
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

/* The command that installs notify_trigger.sql on t. The file names the table unqualified:
 * outside public, the search_path says where. */
static void trigger_install_command(const struct snk_table *t, char *buf, size_t len)
{
	bool public_schema = strcmp(t->schema_raw, "public") == 0;

	snprintf(buf, len, "%s%s%spsql -d DBNAME -v table=%s -v channel=%s -f migrations/notify_trigger.sql",
		 public_schema ? "" : "PGOPTIONS='-c search_path=", public_schema ? "" : t->schema_raw,
		 public_schema ? "" : "' ", t->table_raw, t->channel_raw);
}

const char *db_notify_trigger_problem(const struct snk_notify_trigger *trg, const struct snk_table *t,
				      char *buf, size_t len)
{
	char cmd[512];

	if (!t->channel_raw || (trg->found && trg->enabled))
		return NULL;
	if (trg->found) {
		snprintf(buf, len, "the NOTIFY trigger %s on %s is disabled, so snk wakes on its timer only;"
			 " ALTER TABLE %s ENABLE TRIGGER %s, or set notify_channel to \"\" for timer only",
			 trg->name, t->label, t->qualified, trg->name);
		return buf;
	}
	trigger_install_command(t, cmd, sizeof(cmd));
	snprintf(buf, len, "no NOTIFY trigger for channel %s on %s, so snk wakes on its timer only;"
		 " run %s, or set notify_channel to \"\" for timer only", t->channel_raw, t->label, cmd);
	return buf;
}

const char *db_notify_trigger_advice(const struct snk_notify_trigger *trg, const struct snk_table *t,
				     char *buf, size_t len)
{
	char cmd[512];

	if (!t->channel_raw || !trg->found || !trg->enabled || trg->skips_copies)
		return NULL;
	trigger_install_command(t, cmd, sizeof(cmd));
	snprintf(buf, len, "the NOTIFY trigger %s on %s is of an older notify_trigger.sql: it notifies for snk's"
		 " own copies too, and each of snk's commits there then waits for the server's NOTIFY lock"
		 " behind the application's; run %s again to replace it", trg->name, t->label, cmd);
	return buf;
}

bool db_send_schema_check(struct snk_pgconn *c, const struct snk_table *t)
{
	const char *params[3] = { t->schema_raw, t->table_raw, t->key_param };

	return pgconn_query(c, SQL_SCHEMA_CHECK, 3, params, NULL, NULL, 0) &&
	       pgconn_query(c, SQL_COLUMNS, 3, params, NULL, NULL, 0);
}

bool db_send_session_setup(struct snk_pgconn *c)
{
	return pgconn_query(c, SQL_SESSION_SETUP, 0, NULL, NULL, NULL, 0);
}

bool db_read_session(const PGresult *res, struct snk_session_info *out)
{
	memset(out, 0, sizeof(*out));
	if (PQntuples(res) != 1 || PQnfields(res) != 4 || PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1))
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
		snprintf(buf, len, "the session cannot turn synchronous_commit on; snk commits asynchronously"
			 " only where its config says \"synchronous_commit\": \"off\"");
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
	 * table). A full first copy still streams linearly through a bitmap heap scan.
	 * The same guess puts a big table's window over jit_above_cost, and the server then
	 * compiles it at every pass: 11-13 ms of JIT for a window of one row on 2.5 M rows
	 * (EXPLAIN ANALYZE), most of an idle row's latency there. A window reads few rows;
	 * JIT never pays for itself in it. (plan_cache_mode: db_send_prepare_pass.) */
	return pgconn_query(c,
			    "SELECT pg_catalog.set_config('enable_seqscan'::text, 'off'::text, false),"
			    " pg_catalog.set_config('jit'::text, 'off'::text, false)",
			    0, NULL, NULL, NULL, 0);
}

bool db_send_listen(struct snk_pgconn *c, const struct snk_table *t)
{
	return t->sql_listen ? pgconn_query(c, t->sql_listen, 0, NULL, NULL, NULL, 0) : true;
}

/* All of the tables' writer locks or none: a refusal of any releases those this statement
 * took (the session holds no other advisory lock), so that two snks that each got some
 * never wait on each other. pg_advisory_unlock_all runs only in the ELSE branch: the
 * subquery is an initplan, evaluated when first needed. */
static const char SQL_WRITER_LOCKS[] =
	"SELECT CASE WHEN pg_catalog.bool_and(l.got) THEN true"
	" ELSE (SELECT false FROM pg_catalog.pg_advisory_unlock_all()) END"
	" FROM (SELECT pg_catalog.pg_try_advisory_lock(" LOCK_CLASS ", pg_catalog.hashtext(x)) AS got"
	"   FROM pg_catalog.unnest($1::text[]) AS x) AS l";

static bool send_labels(struct snk_pgconn *c, const char *sql, const struct snk_table *t, int n)
{
	char *labels = db_text_array((const char *const *)&t[0].label, n, sizeof(*t));
	const char *params[1] = { labels };
	bool ok = labels && pgconn_query(c, sql, 1, params, NULL, NULL, 0);

	free(labels);
	return ok;
}

bool db_send_writer_locks(struct snk_pgconn *c, const struct snk_table *t, int n)
{
	return send_labels(c, SQL_WRITER_LOCKS, t, n);
}

bool db_send_lock_holder(struct snk_pgconn *c, const struct snk_table *t, int n)
{
	return send_labels(c, SQL_WRITER_LOCK_HOLDER, t, n);
}

bool db_read_lock_holder(const PGresult *res, struct snk_lock_holder *out)
{
	char *fields[4] = { out->user, out->application, out->client, out->since };
	size_t sizes[4] = { sizeof(out->user), sizeof(out->application), sizeof(out->client), sizeof(out->since) };

	memset(out, 0, sizeof(*out));
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 5)
		return false;
	if (PQntuples(res) == 1) {
		out->held = true;
		out->pid = atoi(PQgetvalue(res, 0, 0));
		for (int i = 0; i < 4; i++)
			snprintf(fields[i], sizes[i], "%s", PQgetvalue(res, 0, i + 1));
	}
	return true;
}

/* The settings of a session that holds writer locks: a silent client (frozen, or its host
 * gone) loses its session, and with it the locks, after timeout_ms, so that a standby can
 * take over (docs/DESIGN.md, "Standby"). The server ends a session idle that long, or idle
 * in a transaction; it checks the client's socket every second during a query, and gives
 * up on unacknowledged data after the timeout. The names a server does not know (before
 * 14 the idle and check ones) are skipped. */
static const char SQL_LEASE_SETTINGS[] =
	"SELECT pg_catalog.count(pg_catalog.set_config(v.name, v.value, false))"
	" FROM (VALUES ('idle_session_timeout'::text, $1::text), ('idle_in_transaction_session_timeout'::text, $1::text),"
	"   ('client_connection_check_interval'::text, '1000'::text), ('tcp_user_timeout'::text, $1::text),"
	"   ('tcp_keepalives_idle'::text, '5'::text), ('tcp_keepalives_interval'::text, '2'::text),"
	"   ('tcp_keepalives_count'::text, '3'::text)) AS v(name, value)"
	" WHERE v.name OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT s.name FROM pg_catalog.pg_settings s))";

bool db_send_lease_settings(struct snk_pgconn *c, int timeout_ms)
{
	char ms[16];
	const char *params[1] = { ms };

	snprintf(ms, sizeof(ms), "%d", timeout_ms);
	return pgconn_query(c, SQL_LEASE_SETTINGS, 1, params, NULL, NULL, 0);
}

bool db_send_heartbeat(struct snk_pgconn *c)
{
	return pgconn_query(c, "SELECT", 0, NULL, NULL, NULL, 0);
}

/* The foreign keys among the given tables ($1 schemas, $2 names, in the same order). */
static const char SQL_FOREIGN_KEYS[] =
	"WITH t AS (SELECT u.i, c.oid FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[]))"
	"   WITH ORDINALITY AS u(s, n, i)"
	"   JOIN pg_catalog.pg_namespace ns ON ns.nspname = u.s"
	"   JOIN pg_catalog.pg_class c ON c.relnamespace = ns.oid AND c.relname = u.n)"
	" SELECT (ch.i - 1)::int4, (pa.i - 1)::int4, k.conname::text, k.condeferrable"
	" FROM pg_catalog.pg_constraint k JOIN t ch ON ch.oid = k.conrelid JOIN t pa ON pa.oid = k.confrelid"
	" WHERE k.contype = 'f' ORDER BY 1, 2, 3";

bool db_send_foreign_keys(struct snk_pgconn *c, const struct snk_table *t, int n)
{
	char *schemas = db_text_array((const char *const *)&t[0].schema_raw, n, sizeof(*t));
	char *names = db_text_array((const char *const *)&t[0].table_raw, n, sizeof(*t));
	const char *params[2] = { schemas, names };
	bool ok = schemas && names && pgconn_query(c, SQL_FOREIGN_KEYS, 2, params, NULL, NULL, 0);

	free(schemas);
	free(names);
	return ok;
}

bool db_read_foreign_keys(const PGresult *res, int ntables, struct snk_fkey **out, int *nout)
{
	int n = PQntuples(res);

	*out = NULL;
	*nout = 0;
	if (PQnfields(res) != 4)
		return false;
	*out = calloc((size_t)(n ? n : 1), sizeof(**out));
	if (!*out)
		return false;
	for (int i = 0; i < n; i++) {
		struct snk_fkey *k = &(*out)[i];

		k->child = atoi(PQgetvalue(res, i, 0));
		k->parent = atoi(PQgetvalue(res, i, 1));
		snprintf(k->name, sizeof(k->name), "%s", PQgetvalue(res, i, 2));
		k->deferrable = PQgetvalue(res, i, 3)[0] == 't';
		if (k->child < 0 || k->child >= ntables || k->parent < 0 || k->parent >= ntables) {
			free(*out);
			*out = NULL;
			return false;
		}
	}
	*nout = n;
	return true;
}

/* The tables of a schema, each with whether it has a key snk can use: its primary key, or
 * else its only unique index that is valid, immediate, not partial, on plain NOT NULL
 * columns (the rules of SQL_KEY_CTE, which decides at connect). */
static const char SQL_LIST_TABLES[] =
	"SELECT c.relname::text, EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)"
	"   OR (SELECT pg_catalog.count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisunique"
	"     AND i.indisvalid AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL"
	"     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid"
	"       AND a.attnum = ANY (i.indkey::int2[]) AND (NOT a.attnotnull OR a.attgenerated <> ''))) = 1"
	" FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	" WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
	" ORDER BY c.relname COLLATE \"C\"";

static bool push_name(char ***list, int *n, const char *name)
{
	char **grown = realloc(*list, sizeof(**list) * (size_t)(*n + 1));

	if (!grown)
		return false;
	*list = grown;
	grown[*n] = strdup(name);
	return grown[(*n)++] != NULL;
}

bool db_list_tables_blocking(PGconn *conn, const char *schema, char ***names, int *n, char ***skipped,
			     int *nskipped, char *err, size_t errlen)
{
	const char *params[1] = { schema };
	PGresult *res = PQexecParams(conn, SQL_LIST_TABLES, 1, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQnfields(res) == 2;

	*names = *skipped = NULL;
	*n = *nskipped = 0;
	if (!ok)
		snprintf(err, errlen, "listing the tables of schema %s: %s", schema, PQerrorMessage(conn));
	for (int i = 0; ok && i < PQntuples(res); i++) {
		if (PQgetvalue(res, i, 1)[0] == 't')
			ok = push_name(names, n, PQgetvalue(res, i, 0));
		else
			ok = push_name(skipped, nskipped, PQgetvalue(res, i, 0));
		if (!ok)
			snprintf(err, errlen, "out of memory");
	}
	if (!ok)
		err[strcspn(err, "\n")] = '\0';
	PQclear(res);
	return ok;
}

bool db_send_notify_trigger(struct snk_pgconn *c, const struct snk_table *t)
{
	const char *params[3] = { t->schema_raw, t->table_raw, t->channel_raw };

	return t->channel_raw ? pgconn_query(c, SQL_NOTIFY_TRIGGER, 3, params, NULL, NULL, 0) : true;
}

bool db_send_prepare_insert(struct snk_pgconn *c, const struct snk_table *t)
{
	return t->shaped && pgconn_prepare(c, t->stmt_insert, t->sql_insert, t->shape.nsync) &&
	       pgconn_prepare(c, t->stmt_insert_plain, t->sql_insert_plain, t->shape.nsync);
}

bool db_send_commit_async(struct snk_pgconn *c)
{
	return pgconn_query(c, "SET synchronous_commit TO off", 0, NULL, NULL, NULL, 0);
}

bool db_send_commit_durable_here(struct snk_pgconn *c)
{
	return pgconn_query(c, "SELECT pg_catalog.set_config('synchronous_commit'::text, 'on'::text, true)", 0, NULL,
			    NULL, NULL, 0);
}

bool db_send_prepare_cursor_store(struct snk_pgconn *c)
{
	return pgconn_prepare(c, STMT_CURSOR_STORE, SQL_CURSOR_STORE, 5);
}

bool db_send_cursor_load(struct snk_pgconn *c, const char *source_key)
{
	const char *params[1] = { source_key };

	return pgconn_query(c, SQL_CURSOR_LOAD, 1, params, NULL, NULL, 0);
}

bool text_bool(const PGresult *res, int col)
{
	return !PQgetisnull(res, 0, col) && PQgetvalue(res, 0, col)[0] == 't';
}

bool db_read_schema(const PGresult *res, struct snk_schema_info *out)
{
	memset(out, 0, sizeof(*out));
	if (PQntuples(res) != 1 || PQnfields(res) != 10)
		return false;
	out->table_exists = text_bool(res, 0);
	out->relid = PQgetisnull(res, 0, 9) ? 0 : (uint32_t)strtoul(PQgetvalue(res, 0, 9), NULL, 10);
	out->has_key = !PQgetisnull(res, 0, 1);
	if (out->has_key)
		snprintf(out->key, sizeof(out->key), "%s", PQgetvalue(res, 0, 1));
	out->key_candidates = atoi(PQgetvalue(res, 0, 2));
	if (!PQgetisnull(res, 0, 3))
		snprintf(out->candidates, sizeof(out->candidates), "%s", PQgetvalue(res, 0, 3));
	/* snk_xid's type: bigint, xid8 (an older snk's table), or NULL (absent, or another type). */
	out->has_xid_column = !PQgetisnull(res, 0, 4);
	out->xid_type = strcmp(PQgetvalue(res, 0, 4), "bigint") == 0 ? SNK_XID_INT8 : SNK_XID_XID8;
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
	if (PQnfields(res) != 3 || PQntuples(res) > 1)
		return false;
	if (PQntuples(res) == 0)
		return true;
	out->found = true;
	snprintf(out->name, sizeof(out->name), "%s", PQgetvalue(res, 0, 0));
	out->enabled = strchr("OA", PQgetvalue(res, 0, 1)[0]) != NULL;
	out->skips_copies = PQgetvalue(res, 0, 2)[0] == 't';
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

bool db_read_identity(const PGresult *res, char *ident, size_t len, char *sync_commit, size_t sync_len)
{
	if (PQntuples(res) != 1 || PQnfields(res) != 2 || PQgetisnull(res, 0, 0))
		return false;
	snprintf(ident, len, "%s", PQgetvalue(res, 0, 0));
	if (sync_commit)
		snprintf(sync_commit, sync_len, "%s", PQgetisnull(res, 0, 1) ? "" : PQgetvalue(res, 0, 1));
	return true;
}
