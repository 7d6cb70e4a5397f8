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

static const char SQL_SCHEMA_CHECK[] =
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
static const char SQL_COLUMNS[] =
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
 * drops the options parameter shows here), and commits that wait for the WAL flush. An
 * asynchronous commit is visible before it is durable: after a crash its xid is used
 * again, and a cursor that saw it as finished skips the rows of the new transaction
 * (docs/DESIGN.md). So 'off' becomes 'local'; a stricter server setting is kept. */
static const char SQL_SESSION_SETUP[] =
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

/* sb_add: appends printf output to a growing string; false when out of memory. */
static bool sb_add(struct snk_buf *b, const char *f, ...) __attribute__((format(printf, 2, 3)));

static bool sb_add(struct snk_buf *b, const char *f, ...)
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

/* key_param: the config's "key" as a text[] literal ({"a","b"}), NULL when not set. */
static char *key_param(const struct snk_table_spec *spec)
{
	struct snk_buf b = { 0 };

	if (spec->nkey == 0)
		return NULL;
	if (!sb_add(&b, "{"))
		return NULL;
	for (int i = 0; i < spec->nkey; i++) {
		if (!sb_add(&b, "%s\"", i ? "," : ""))
			goto oom;
		for (const char *p = spec->key[i]; *p; p++) {
			if (!sb_add(&b, "%s%c", *p == '"' || *p == '\\' ? "\\" : "", *p))
				goto oom;
		}
		if (!sb_add(&b, "\""))
			goto oom;
	}
	if (sb_add(&b, "}"))
		return b.data;
oom:
	free(b.data);
	return NULL;
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

/* ---- the shape: which columns, and how each value travels ---- */

/* Built-in types whose binary format is exact and holds no oid (arrays and records hold
 * their element types' oids, which differ between databases for types a user created):
 * their values travel in binary. Every other type travels as its text (enums, domains,
 * composites, arrays, xml, reg* (oids in binary), extension types), printed and read back
 * under the settings every session pins. */
static const uint32_t binary_types[] = {
	16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 600, 601, 602, 603, 604, 628, 650, 700, 701, 718, 774, 790,
	829, 869, 1042, 1043, 1082, 1083, 1114, 1184, 1186, 1266, 1560, 1562, 1700, 2950, 3220, 3614, 3615,
	3802, 3904, 3906, 3908, 3910, 3912, 3926,
};
/* ... of which octet_length() reads the size of a value without detoasting it. */
static const uint32_t raw_size_types[] = { 17, 25, 1042, 1043 };

static bool oid_in(uint32_t oid, const uint32_t *set, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (set[i] == oid)
			return true;
	}
	return false;
}

static void column_clear(struct snk_column *c)
{
	free(c->name);
	free(c->quoted);
	free(c->type);
	free(c->cast);
	free(c->wire_type);
	free(c->eq_op);
	free(c->signature);
	memset(c, 0, sizeof(*c));
}

void db_shape_clear(struct snk_shape *s)
{
	for (int i = 0; i < s->ncols; i++)
		column_clear(&s->col[i]);
	free(s->col);
	memset(s, 0, sizeof(*s));
}

/* The key (in its index's order), the written columns by name, the generated by name:
 * bytewise, so that it depends on no collation. */
static int column_rank(const struct snk_column *c, int key_pos)
{
	return key_pos > 0 ? 0 : c->generated ? 2 : 1;
}

struct ranked {
	struct snk_column col;
	int key_pos;
};

static int ranked_cmp(const void *x, const void *y)
{
	const struct ranked *a = x, *b = y;
	int ra = column_rank(&a->col, a->key_pos), rb = column_rank(&b->col, b->key_pos);

	if (ra != rb)
		return ra - rb;
	if (ra == 0)
		return a->key_pos - b->key_pos;
	return strcmp(a->col.name, b->col.name);
}

static bool column_read(const PGresult *res, int r, struct snk_column *c, int *key_pos)
{
	uint32_t oid = (uint32_t)strtoul(PQgetvalue(res, r, 3), NULL, 10);

	memset(c, 0, sizeof(*c));
	*key_pos = PQgetisnull(res, r, 7) ? 0 : atoi(PQgetvalue(res, r, 7));
	c->name = strdup(PQgetvalue(res, r, 0));
	c->quoted = db_quote_ident(PQgetvalue(res, r, 0));
	c->type = strdup(PQgetvalue(res, r, 1));
	c->cast = strdup(PQgetvalue(res, r, 2));
	c->binary = oid_in(oid, binary_types, sizeof(binary_types) / sizeof(binary_types[0]));
	c->wire_oid = c->binary ? oid : SNK_TEXTOID;
	c->wire_type = c->binary ? fmt("pg_catalog.%s", PQgetvalue(res, r, 4)) : strdup("pg_catalog.text");
	c->varlena = atoi(PQgetvalue(res, r, 5)) < 0;
	c->raw_size = oid_in(oid, raw_size_types, sizeof(raw_size_types) / sizeof(raw_size_types[0]));
	c->generated = PQgetvalue(res, r, 6)[0] != '\0'; /* 's' stored (or 'v' virtual, PostgreSQL 18) */
	if (*key_pos > 0 && !PQgetisnull(res, r, 8))
		c->eq_op = strdup(PQgetvalue(res, r, 8));
	c->signature = strdup(PQgetvalue(res, r, 9));
	return c->name && c->quoted && c->type && c->cast && c->wire_type && c->signature &&
	       (*key_pos == 0 || c->eq_op) && *key_pos <= SNK_MAX_KEY;
}

bool db_read_shape(const PGresult *res, struct snk_shape *out)
{
	int n = PQntuples(res);
	struct ranked *v;
	bool ok = true;

	memset(out, 0, sizeof(*out));
	if (PQnfields(res) != 11)
		return false;
	v = calloc((size_t)(n ? n : 1), sizeof(*v));
	out->col = calloc((size_t)(n ? n : 1), sizeof(*out->col));
	if (!v || !out->col) {
		free(v);
		free(out->col);
		out->col = NULL;
		return false;
	}
	for (int r = 0; r < n; r++)
		ok &= column_read(res, r, &v[r].col, &v[r].key_pos);
	qsort(v, (size_t)n, sizeof(*v), ranked_cmp);
	for (int i = 0; i < n; i++) {
		out->col[i] = v[i].col;
		out->nkey += v[i].key_pos > 0;
		out->nsync += !v[i].col.generated;
	}
	out->ncols = n;
	out->uuid_key = out->nkey == 1 && out->col[0].wire_oid == SNK_UUIDOID;
	out->deferrable = n > 0 && PQgetvalue(res, 0, 10)[0] == 't';
	free(v);
	if (!ok)
		db_shape_clear(out);
	return ok;
}

static const struct snk_column *shape_find(const struct snk_shape *s, const char *name)
{
	for (int i = 0; i < s->ncols; i++) {
		if (strcmp(s->col[i].name, name) == 0)
			return &s->col[i];
	}
	return NULL;
}

static void key_list(const struct snk_shape *s, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < s->nkey && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "(", s->col[i].name);
	if (used < len)
		snprintf(buf + used, len - used, "%s", s->nkey ? ")" : "()");
}

/* The first column of `have` (database have_db) that `got` (database got_db) lacks or
 * types otherwise, as a message; NULL when it has them all alike. */
static const char *shape_lacks(const struct snk_table *t, const struct snk_shape *have, const char *have_db,
			       const struct snk_shape *got, const char *got_db, char *buf, size_t len)
{
	for (int i = 0; i < have->ncols; i++) {
		const struct snk_column *h = &have->col[i], *g = shape_find(got, h->name);

		if (!g)
			snprintf(buf, len, "column %s of %s exists in database %s (%s) but not in database %s;"
				 " add it to %s or drop it from %s: snk syncs every column", h->quoted, t->label,
				 have_db, h->type, got_db, got_db, have_db);
		else if (strcmp(h->type, g->type) != 0)
			snprintf(buf, len, "column %s of %s is %s in database %s and %s in database %s;"
				 " give it the same type in both", h->quoted, t->label, h->type, have_db, g->type,
				 got_db);
		else if (strcmp(h->signature, g->signature) != 0)
			snprintf(buf, len, "column %s of %s is of type %s in both databases, but not the same type: %s in"
				 " database %s, %s in database %s; make them the same", h->quoted, t->label, h->type,
				 h->signature[0] ? h->signature : "a plain column", have_db,
				 g->signature[0] ? g->signature : "a plain column", got_db);
		else if (h->generated != g->generated)
			snprintf(buf, len, "column %s of %s is %sgenerated in database %s and %sgenerated in"
				 " database %s; make it the same in both", h->quoted, t->label,
				 h->generated ? "" : "not ", have_db, g->generated ? "" : "not ", got_db);
		else
			continue;
		return buf;
	}
	return NULL;
}

const char *db_shape_problem(const struct snk_table *t, const struct snk_shape *got, const char *got_db,
			     char *buf, size_t len)
{
	char k1[192], k2[192];

	if (!t->shaped)
		return NULL;
	if (shape_lacks(t, &t->shape, t->shape_db, got, got_db, buf, len) ||
	    shape_lacks(t, got, got_db, &t->shape, t->shape_db, buf, len))
		return buf;
	key_list(&t->shape, k1, sizeof(k1));
	key_list(got, k2, sizeof(k2));
	if (strcmp(k1, k2) == 0 && t->shape.deferrable == got->deferrable)
		return NULL;
	if (strcmp(k1, k2) == 0) {
		snprintf(buf, len, "%s has a DEFERRABLE unique or exclusion constraint in database %s and none in"
			 " database %s; make its constraints the same in both", t->label,
			 t->shape.deferrable ? t->shape_db : got_db, t->shape.deferrable ? got_db : t->shape_db);
		return buf;
	}
	snprintf(buf, len, "the key of %s is %s in database %s and %s in database %s; give both the same"
		 " primary key (or unique index, chosen with \"key\" in the config)", t->label, k1, t->shape_db, k2,
		 got_db);
	return buf;
}

/* --- building the row statements from the shape --- */

/* How column c is selected for transfer: binary-format types as they are, the others as
 * their text. */
static bool add_select(struct snk_buf *b, const struct snk_column *c)
{
	return c->binary ? sb_add(b, "t.%s", c->quoted) : sb_add(b, "t.%s::pg_catalog.text", c->quoted);
}

/* How parameter column i (u.cI) becomes a value of column c. */
static bool add_value(struct snk_buf *b, const struct snk_column *c, int i)
{
	return c->binary ? sb_add(b, "u.c%d", i) : sb_add(b, "u.c%d::%s", i, c->cast);
}

/* ROWS FROM (unnest($1::type[]), ...) AS u(c0, ...) over the first n columns. */
static bool add_unnest(struct snk_buf *b, const struct snk_shape *s, int n)
{
	bool ok = sb_add(b, "ROWS FROM (");

	for (int i = 0; ok && i < n; i++)
		ok = sb_add(b, "%spg_catalog.unnest($%d::%s[])", i ? ", " : "", i + 1, s->col[i].wire_type);
	ok = ok && sb_add(b, ") AS u(");
	for (int i = 0; ok && i < n; i++)
		ok = sb_add(b, "%sc%d", i ? ", " : "", i);
	return ok && sb_add(b, ")");
}

/* t.k0 OPERATOR(s.=) <u.c0> AND ...: the key's own equality, which its index serves. */
static bool add_key_join(struct snk_buf *b, const struct snk_shape *s)
{
	bool ok = true;

	for (int i = 0; ok && i < s->nkey; i++) {
		ok = sb_add(b, "%st.%s OPERATOR(%s) ", i ? " AND " : "", s->col[i].quoted, s->col[i].eq_op) &&
		     add_value(b, &s->col[i], i);
	}
	return ok;
}

/* ROW(t.c0, ...) or ROW(<u.c0>, ...) over the written columns, as text. */
static bool add_row_text(struct snk_buf *b, const struct snk_shape *s, bool from_u)
{
	bool ok = sb_add(b, "ROW(");

	for (int i = 0; ok && i < s->nsync; i++) {
		ok = sb_add(b, "%s", i ? ", " : "") &&
		     (from_u ? add_value(b, &s->col[i], i) : sb_add(b, "t.%s", s->col[i].quoted));
	}
	return ok && sb_add(b, ")::pg_catalog.text");
}

/* "c0, c1" or "t.c0, t.c1" (prefix) over the first n columns. */
static bool add_columns(struct snk_buf *b, const struct snk_shape *s, int n, const char *prefix)
{
	bool ok = true;

	for (int i = 0; ok && i < n; i++)
		ok = sb_add(b, "%s%s%s", i ? ", " : "", prefix, s->col[i].quoted);
	return ok;
}

static char *sb_done(struct snk_buf *b, bool ok)
{
	if (ok)
		return b->data;
	free(b->data);
	return NULL;
}

/* The key as text: its value, or ROW(...)::text of a composite key: "(7,1042)". */
static char *build_key_text(const struct snk_shape *s)
{
	struct snk_buf b = { 0 };

	if (s->nkey == 1)
		return sb_done(&b, sb_add(&b, "t.%s::pg_catalog.text", s->col[0].quoted));
	return sb_done(&b, sb_add(&b, "ROW(") && add_columns(&b, s, s->nkey, "t.") &&
				   sb_add(&b, ")::pg_catalog.text"));
}

/* The bytes a row's variable-length values hold: their size without detoasting where
 * octet_length knows it, else as stored (pg_column_size: a compressed value counts its
 * compressed size; docs/DESIGN.md, "Large values"). */
static char *build_row_size(const struct snk_shape *s)
{
	struct snk_buf b = { 0 };
	bool ok = sb_add(&b, "(");
	int n = 0, varlena = 0;

	for (int i = 0; i < s->nsync; i++)
		varlena += s->col[i].varlena;
	/* One such column (the default table): its size alone, NULL for a NULL (read as 0). */
	for (int i = 0; ok && i < s->nsync; i++) {
		if (s->col[i].varlena)
			ok = sb_add(&b, "%s%spg_catalog.%s(t.%s)%s::int8", n++ ? " OPERATOR(pg_catalog.+) " : "",
				    varlena > 1 ? "coalesce(" : "", s->col[i].raw_size ? "octet_length" : "pg_column_size",
				    s->col[i].quoted, varlena > 1 ? ", 0)" : "");
	}
	return sb_done(&b, ok && sb_add(&b, "%s)", n ? "" : "0::int8"));
}

/* The row's place in the reconcile's 128-bit key space: a uuid key itself (its index
 * serves the range walk), else the md5 of the key's text in UTF-8, alike in any two
 * databases whatever their encodings. */
static char *build_kid(const struct snk_shape *s, const char *key_text)
{
	if (s->uuid_key)
		return fmt("t.%s", s->col[0].quoted);
	return fmt("pg_catalog.md5(pg_catalog.convert_to(%s, 'UTF8'::name))::pg_catalog.uuid", key_text);
}

/* Whether a window's page can leave the value of column i behind: a variable-length
 * column outside the key (a fixed-size value is never large); and whether it can leave any. */
static bool left_behind(const struct snk_shape *s, int i)
{
	return i >= s->nkey && i < s->nsync && s->col[i].varlena;
}

static bool has_left_behind(const struct snk_shape *s)
{
	for (int i = s->nkey; i < s->nsync; i++) {
		if (left_behind(s, i))
			return true;
	}
	return false;
}

/* SELECT list of a row for transfer; large: the variable-length values of non-key columns
 * are left out (NULL) of rows whose size is over $3 (the window's pages). */
static bool add_select_list(struct snk_buf *b, const struct snk_table *t, bool large)
{
	const struct snk_shape *s = &t->shape;
	bool ok = true;

	for (int i = 0; ok && i < s->nsync; i++) {
		ok = sb_add(b, "%s", i ? ", " : "");
		if (ok && large && left_behind(s, i))
			ok = sb_add(b, "CASE WHEN %s > $3::int8 THEN NULL ELSE ", t->row_size) &&
			     add_select(b, &s->col[i]) && sb_add(b, " END");
		else if (ok)
			ok = add_select(b, &s->col[i]);
	}
	return ok;
}


/* The window: rows visible in this transaction's snapshot but not in the previous one,
 * i.e. xid >= xmax(prev) or xid among prev's in-progress xids that have ended since (one
 * still running has no visible rows yet, and need not be looked up: with BRIN each lookup
 * reads every range the xid falls within). Rows snk copied carry a NULL xid (0 in tables
 * of an older snk) and are never in a window: that is the echo suppression.
 * A row whose xid is at or above this snapshot's xmax cannot have been inserted by a
 * transaction this snapshot sees: it came with its xid (a dump of a busier cluster
 * restored with triggers off). Such rows are "ahead": the first arm leaves them out, the
 * second (when $4) finds them, and the last column marks them, so that the window skips
 * them and snk gives them current xids (snk.restamp_ahead): the next window copies them
 * once, like any row. One text per type of snk_xid, so that both use its index.
 * Columns: the written values, the row's size, the ahead mark. */
static const char *xid_type_name(int k)
{
	return k == SNK_XID_INT8 ? "int8" : "xid8";
}

/* The window's condition on t.snk_xid ($1 xmax and $2 xip of the previous snapshot, $ahead
 * whether to find rows ahead of the counter), and the expression of this snapshot's xmax. */
static bool add_window_cond(struct snk_buf *b, int k, const char *now, int ahead)
{
	const char *type = xid_type_name(k);

	return sb_add(b, "((t.snk_xid >= $1::%s AND t.snk_xid < %s)"
		      " OR (t.snk_xid >= %s AND $%d::bool)"
		      " OR t.snk_xid = ANY (ARRAY(SELECT x::text::%s"
		      " FROM pg_catalog.unnest($2::pg_catalog.xid8[]) AS x"
		      " WHERE pg_catalog.pg_visible_in_snapshot(x, pg_catalog.pg_current_snapshot()))))",
		      type, now, now, ahead, type);
}

/* A scalar subquery, so that it is evaluated once per window (an InitPlan), not for every
 * row the BRIN recheck and the select list see: measured on a window of 1,000,000 rows,
 * 300 ms against 530 ms. */
static const char *xmax_now(int k)
{
	return k == SNK_XID_INT8 ? "(SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::int8)" :
				   "(SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()))";
}

static char *build_window(const struct snk_table *t, int k)
{
	const char *now = xmax_now(k);
	struct snk_buf b = { 0 };
	bool ok = sb_add(&b, "DECLARE snk_window NO SCROLL CURSOR FOR SELECT ") && add_select_list(&b, t, true) &&
		  sb_add(&b, ", %s, CASE WHEN t.snk_xid >= %s THEN t.snk_xid::text::int8 END FROM %s AS t WHERE ",
			 t->row_size, now, t->qualified) &&
		  add_window_cond(&b, k, now, 4);

	/* The inline limit $3 must appear even where no value can be left behind (no
	 * variable-length column outside the key), or PostgreSQL cannot type it. */
	if (ok && !has_left_behind(&t->shape))
		ok = sb_add(&b, " AND $3::int8 IS NOT NULL");
	return sb_done(&b, ok);
}

/* Whether the window of t has rows, without reading them: a pass over many tables asks
 * every table at once, in one round trip, and opens a window only where there are rows. */
static char *build_probe(const struct snk_table *t, int k)
{
	struct snk_buf b = { 0 };

	return sb_done(&b, sb_add(&b, "SELECT EXISTS (SELECT 1 FROM %s AS t WHERE ", t->qualified) &&
				   add_window_cond(&b, k, xmax_now(k), 3) && sb_add(&b, ")"));
}

/* A piece of a table's first copy: the rows in pages [$1, $2) that an application wrote
 * (snk's copies carry NULL, or 0), read by a TID range scan, in the window's columns (no
 * row is ahead: the tail reads everything after the copy's first snapshot again). */
static char *build_chunk(const struct snk_table *t, int k)
{
	struct snk_buf b = { 0 };
	bool ok = sb_add(&b, "DECLARE snk_window NO SCROLL CURSOR FOR SELECT ") && add_select_list(&b, t, true) &&
		  sb_add(&b, ", %s, NULL::int8 FROM %s AS t WHERE t.ctid >= $1::pg_catalog.tid AND t.ctid < $2::pg_catalog.tid"
			 " AND t.snk_xid >= '1'::%s", t->row_size, t->qualified, xid_type_name(k));

	if (ok && !has_left_behind(&t->shape))
		ok = sb_add(&b, " AND $3::int8 IS NOT NULL");
	return sb_done(&b, ok);
}

/* Rows by key, the key as a batch of its columns (a window's large rows). */
static char *build_fetch_large(const struct snk_table *t)
{
	struct snk_buf b = { 0 };

	return sb_done(&b, sb_add(&b, "SELECT ") && add_select_list(&b, t, false) && sb_add(&b, " FROM ") &&
				   add_unnest(&b, &t->shape, t->shape.nkey) && sb_add(&b, " JOIN %s AS t ON ", t->qualified) &&
				   add_key_join(&b, &t->shape));
}

/* INSERT of a batch, as copies (snk_xid NULL); identity values are the source's. */
static char *build_insert(const struct snk_table *t, bool on_conflict)
{
	const struct snk_shape *s = &t->shape;
	struct snk_buf b = { 0 };
	bool ok = sb_add(&b, "INSERT INTO %s AS t (", t->qualified) && add_columns(&b, s, s->nsync, "") &&
		  sb_add(&b, ", snk_xid) OVERRIDING SYSTEM VALUE SELECT ");

	for (int i = 0; ok && i < s->nsync; i++)
		ok = sb_add(&b, "%s", i ? ", " : "") && add_value(&b, &s->col[i], i);
	ok = ok && sb_add(&b, ", NULL FROM ") && add_unnest(&b, s, s->nsync);
	/* No arbiter named: a row that another unique index or an exclusion constraint refuses
	 * is skipped too (and reported by the conflict check), instead of failing the batch for
	 * good on every retry. PostgreSQL refuses that when the table has a deferrable one:
	 * then the key is the arbiter, and a row such a constraint refuses fails its batch. */
	if (on_conflict && s->deferrable)
		ok = ok && sb_add(&b, " ON CONFLICT (") && add_columns(&b, s, s->nkey, "") && sb_add(&b, ") DO NOTHING");
	else if (on_conflict)
		ok = ok && sb_add(&b, " ON CONFLICT DO NOTHING");
	return sb_done(&b, ok);
}

/* The keys of the batch's rows that the insert skipped and that are not here as they
 * are: present with another row (the texts of the two rows' values differ, compared as
 * text, so that 1.0 and 1.00, or -0 and 0, differ), or absent (refused by another unique
 * index or an exclusion constraint: another row holds one of its values). Columns: the
 * key's text, and whether the row is absent. */
static char *build_conflicts(const struct snk_table *t)
{
	const struct snk_shape *s = &t->shape;
	struct snk_buf b = { 0 };
	bool ok = sb_add(&b, "SELECT ");

	for (int i = 0; ok && i < s->nkey; i++) /* the key from the batch: t's is NULL for an absent row */
		ok = sb_add(&b, "%s", i ? ", " : s->nkey > 1 ? "ROW(" : "") && add_value(&b, &s->col[i], i);
	ok = ok && sb_add(&b, "%s::pg_catalog.text, t.ctid IS NULL FROM ", s->nkey > 1 ? ")" : "") &&
	     add_unnest(&b, s, s->nsync) && sb_add(&b, " LEFT JOIN %s AS t ON ", t->qualified) && add_key_join(&b, s) &&
	     sb_add(&b, " WHERE t.ctid IS NULL OR ") && add_row_text(&b, s, false) &&
	     sb_add(&b, " IS DISTINCT FROM ") && add_row_text(&b, s, true);
	return sb_done(&b, ok);
}

bool db_table_shape(struct snk_table *t, struct snk_shape *shape, const char *db)
{
	struct snk_buf b = { 0 };

	t->shape = *shape;
	memset(shape, 0, sizeof(*shape));
	t->shaped = true;
	snprintf(t->shape_db, sizeof(t->shape_db), "%s", db);
	t->wire_oids = malloc(sizeof(*t->wire_oids) * (size_t)(t->shape.nsync ? t->shape.nsync : 1));
	if (t->wire_oids) {
		for (int i = 0; i < t->shape.nsync; i++)
			t->wire_oids[i] = t->shape.col[i].wire_oid;
	}
	t->key_text = build_key_text(&t->shape);
	t->row_size = build_row_size(&t->shape);
	t->row_text = sb_done(&b, add_row_text(&b, &t->shape, false));
	t->kid = t->key_text ? build_kid(&t->shape, t->key_text) : NULL;
	if (!t->wire_oids || !t->key_text || !t->row_size || !t->row_text || !t->kid)
		return false;
	for (int k = 0; k < 2; k++) {
		t->sql_window[k] = build_window(t, k);
		t->sql_probe[k] = build_probe(t, k);
		t->sql_chunk[k] = build_chunk(t, k);
		if (!t->sql_window[k] || !t->sql_probe[k] || !t->sql_chunk[k])
			return false;
	}
	t->sql_fetch_large = build_fetch_large(t);
	b = (struct snk_buf){ 0 };
	t->sql_fetch_kid = sb_done(&b, sb_add(&b, "SELECT ") && add_select_list(&b, t, false) &&
					       sb_add(&b, " FROM %s AS t WHERE %s = ANY ($1::pg_catalog.uuid[])",
						      t->qualified, t->kid));
	t->sql_insert = build_insert(t, true);
	t->sql_insert_plain = build_insert(t, false);
	t->sql_conflicts = build_conflicts(t);
	return t->sql_fetch_large && t->sql_fetch_kid && t->sql_insert && t->sql_insert_plain && t->sql_conflicts;
}

static void table_unshape(struct snk_table *t)
{
	char **fields[] = { &t->sql_window[0], &t->sql_window[1], &t->sql_probe[0], &t->sql_probe[1],
			    &t->sql_chunk[0], &t->sql_chunk[1], &t->sql_fetch_large, &t->sql_fetch_kid,
			    &t->sql_insert, &t->sql_insert_plain, &t->sql_conflicts, &t->kid, &t->row_text,
			    &t->row_size, &t->key_text };

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
	free(t->wire_oids);
	t->wire_oids = NULL;
	db_shape_clear(&t->shape);
	t->shaped = false;
}

void db_table_clear(struct snk_table *t)
{
	char **fields[] = { &t->label, &t->qualified, &t->id, &t->data, &t->channel, &t->channel_raw, &t->schema_raw,
			    &t->table_raw, &t->config_path, &t->id_raw, &t->data_raw, &t->key_param, &t->sql_listen,
			    &t->sql_app_insert };

	table_unshape(t);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
}

void db_key_label(const struct snk_table *t, const char *text, char *buf, size_t len)
{
	char names[192];

	if (!text)
		text = "?";
	if (t->shape.nkey == 1) {
		snprintf(buf, len, "%s %s", t->shape.col[0].name, text);
		return;
	}
	key_list(&t->shape, names, sizeof(names));
	snprintf(buf, len, "%s=%s", names, text);
}

const char *db_shape_wire_summary(const struct snk_table *t)
{
	static char buf[96];
	int binary = 0, text = 0;

	for (int i = 0; i < t->shape.nsync; i++) {
		binary += t->shape.col[i].binary;
		text += !t->shape.col[i].binary;
	}
	snprintf(buf, sizeof(buf), "%d travel in binary, %d as text", binary, text);
	return buf;
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

/* A text[] literal of the strings ({"a","b"}), NULL on out of memory. */
static char *text_array(const char *const *items, int n, size_t stride)
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

bool db_send_writer_locks(struct snk_pgconn *c, const struct snk_table *t, int n)
{
	char *labels = text_array((const char *const *)&t[0].label, n, sizeof(*t));
	const char *params[1] = { labels };
	bool ok = labels && pgconn_query(c, "SELECT pg_catalog.bool_and(pg_catalog.pg_try_advisory_lock(" LOCK_CLASS ","
					  " pg_catalog.hashtext(x))) FROM pg_catalog.unnest($1::text[]) AS x", 1, params,
					  NULL, NULL, 0);

	free(labels);
	return ok;
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
	char *schemas = text_array((const char *const *)&t[0].schema_raw, n, sizeof(*t));
	char *names = text_array((const char *const *)&t[0].table_raw, n, sizeof(*t));
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

bool db_send_cursor_load(struct snk_pgconn *c, const char *source_key)
{
	const char *params[1] = { source_key };

	return pgconn_query(c, SQL_CURSOR_LOAD, 1, params, NULL, NULL, 0);
}

bool db_send_pass_begin(struct snk_pgconn *c)
{
	return pgconn_query(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, NULL, NULL, 0) &&
	       pgconn_query(c, "SELECT pg_catalog.pg_current_snapshot()::text", 0, NULL, NULL, NULL, 0);
}

bool db_send_probe(struct snk_pgconn *c, const struct snk_table *t, enum snk_xid_type xid_type,
		   const struct snk_snapshot *prev, bool find_ahead)
{
	char xmax[24];
	const char *params[3] = { xmax, prev->xip_array, find_ahead ? "true" : "false" };

	snapshot_xmax_text(prev, xmax, sizeof(xmax));
	return pgconn_query(c, t->sql_probe[xid_type], 3, params, NULL, NULL, 0);
}

static bool send_close_cursor(struct snk_pgconn *c, bool close_first)
{
	return !close_first || pgconn_query(c, "CLOSE snk_window", 0, NULL, NULL, NULL, 0);
}

bool db_send_window_table(struct snk_pgconn *c, const struct snk_table *t, enum snk_xid_type xid_type,
			  const struct snk_snapshot *prev, bool find_ahead, int fetch_rows, int inline_max,
			  bool close_first)
{
	char xmax[24], limit[16];
	const char *params[4] = { xmax, prev->xip_array, limit, find_ahead ? "true" : "false" };

	snapshot_xmax_text(prev, xmax, sizeof(xmax));
	snprintf(limit, sizeof(limit), "%d", inline_max);
	return send_close_cursor(c, close_first) && pgconn_query(c, t->sql_window[xid_type], 4, params, NULL, NULL, 0) &&
	       db_send_window_fetch(c, fetch_rows);
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

/* The batch's columns as binary parameters: arrays freed by params_free (libpq copies
 * the values out at the send). */
#define PARAMS_ON_STACK 16
struct batch_params {
	const char **values;
	int *lengths;
	int *formats;
	const char *stack_values[PARAMS_ON_STACK]; /* a table of up to 16 columns needs no malloc */
	int stack_lengths[PARAMS_ON_STACK];
	int stack_formats[PARAMS_ON_STACK];
};

static bool params_of(const struct snk_batch *b, struct batch_params *p)
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

static void params_free(struct batch_params *p)
{
	if (p->values == p->stack_values)
		return;
	free(p->values);
	free(p->lengths);
	free(p->formats);
}

static bool send_batch(struct snk_pgconn *c, const char *sql, const char *stmt, const struct snk_batch *b,
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
	return send_batch(c, t->sql_conflicts, NULL, b, 0);
}

static bool text_bool(const PGresult *res, int col)
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

static uint64_t be64(const char *p)
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

static const char *db_read_text(const PGresult *res, int row)
{
	return PQgetisnull(res, row, 0) ? NULL : PQgetvalue(res, row, 0);
}

const char *db_read_conflict(const PGresult *res, int row, bool *refused)
{
	*refused = PQnfields(res) > 1 && !PQgetisnull(res, row, 1) && PQgetvalue(res, row, 1)[0] == 't';
	return db_read_text(res, row);
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

/* exec_batch: runs sql with the batch's columns as its binary parameters. */
static bool exec_batch(PGconn *conn, const char *sql, const struct snk_batch *b, char *err, size_t errlen)
{
	struct batch_params p = { 0 };
	PGresult *res;
	bool ok;

	if (!params_of(b, &p)) {
		params_free(&p);
		snprintf(err, errlen, "out of memory");
		return false;
	}
	res = PQexecParams(conn, sql, b->ncols, NULL, p.values, p.lengths, p.formats, 0);
	params_free(&p);
	ok = check_result(res, PGRES_COMMAND_OK, err, errlen);
	PQclear(res);
	return ok;
}

bool db_app_insert(PGconn *conn, const struct snk_table *t, const struct snk_batch *b, char *err,
		   size_t errlen)
{
	return exec_batch(conn, t->sql_app_insert, b, err, errlen);
}

/* One of the table's catalog queries (sql: $1 schema, $2 table, $3 the config's key) on a
 * blocking connection, its result decoded by read into out. */
static bool catalog_blocking(PGconn *conn, const struct snk_table *t, const char *sql,
			     bool (*read)(const PGresult *, void *), void *out, const char *what, char *err,
			     size_t errlen)
{
	const char *params[3] = { t->schema_raw, t->table_raw, t->key_param };
	PGresult *res = PQexecParams(conn, sql, 3, NULL, params, NULL, NULL, 0);
	bool ok = check_result(res, PGRES_TUPLES_OK, err, errlen);

	if (ok && !read(res, out)) {
		snprintf(err, errlen, "unexpected result of the %s, or out of memory", what);
		ok = false;
	}
	PQclear(res);
	return ok;
}

static bool read_schema_cb(const PGresult *res, void *out)
{
	return db_read_schema(res, out);
}

static bool read_shape_cb(const PGresult *res, void *out)
{
	return db_read_shape(res, out);
}

bool db_schema_blocking(PGconn *conn, const struct snk_table *t, struct snk_schema_info *out,
			char *err, size_t errlen)
{
	return catalog_blocking(conn, t, SQL_SCHEMA_CHECK, read_schema_cb, out, "schema check", err, errlen);
}

bool db_shape_blocking(PGconn *conn, const struct snk_table *t, struct snk_shape *out, char *err, size_t errlen)
{
	return catalog_blocking(conn, t, SQL_COLUMNS, read_shape_cb, out, "column check", err, errlen);
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
		    const char *key_args_lit)
{
	const char *names[] = { "@SCHEMA@", "@TABLE_LIT@", "@TABLE@", "@KEY_ARGS@", "@ID@", "@DATA@", "@XID_INDEX@" };
	const char *values[] = { schema_q, table_lit, t->qualified, key_args_lit, t->id, t->data, t->index_spec };
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

/* The stamp trigger's arguments (migrations 005, 006): column name and quoted operator
 * schema of each key column, as SQL literals, the whole list as one literal (format's %s
 * puts it in the CREATE TRIGGER). Without a shape, the default table's id. */
static char *key_args(const struct snk_table *t, const struct snk_shape *shape)
{
	struct snk_buf b = { 0 };
	int n = shape ? shape->nkey : 1;
	char *out;

	for (int i = 0; i < n; i++) {
		char *col = string_literal(shape ? shape->col[i].name : t->id_raw);
		char *ns = string_literal(shape ? shape->col[i].eq_op : "pg_catalog.=");
		bool ok = col && ns && sb_add(&b, "%s%s, %s", i ? ", " : "", col, ns);

		free(col);
		free(ns);
		if (!ok) {
			free(b.data);
			return NULL;
		}
	}
	out = b.data ? string_literal(b.data) : NULL;
	free(b.data);
	return out;
}

enum db_migrate_status db_migrate_begin(PGconn *conn, char *err, size_t errlen)
{
	if (!exec_ok(conn, "SET client_min_messages = warning", 0, NULL, err, errlen, NULL) ||
	    !exec_ok(conn, "BEGIN", 0, NULL, err, errlen, NULL) ||
	    !exec_ok(conn, "SELECT pg_catalog.pg_advisory_xact_lock(" LOCK_CLASS ", 0::int4)", 0, NULL, err, errlen,
		     NULL)) {
		db_migrate_finish(conn, false);
		return MIGRATE_ERROR;
	}
	return MIGRATE_OK;
}

enum db_migrate_status db_migrate_read(PGconn *conn, const struct snk_table *t, struct snk_schema_info *info,
				       struct snk_shape *shape, char *err, size_t errlen)
{
	memset(shape, 0, sizeof(*shape));
	return db_schema_blocking(conn, t, info, err, errlen) && db_shape_blocking(conn, t, shape, err, errlen) ?
		       MIGRATE_OK : MIGRATE_ERROR;
}

bool db_shape_is_default(const struct snk_table *t, const struct snk_shape *s)
{
	/* exactly what migration 002 creates, so that the two tables are the same */
	return s->ncols == 2 && s->nkey == 1 && s->uuid_key && strcmp(s->col[0].name, t->id_raw) == 0 &&
	       strcmp(s->col[1].name, t->data_raw) == 0 && strcmp(s->col[1].type, "text") == 0;
}

enum db_migrate_status db_migrate_apply(PGconn *conn, const struct snk_table *t, const struct snk_shape *key,
					int *applied, char *err, size_t errlen)
{
	char *schema_q = db_quote_ident(t->schema_raw), *table_lit = string_literal(t->qualified);
	char *args = key_args(t, key);
	enum db_migrate_status status = MIGRATE_ERROR;
	PGresult *res;

	*applied = 0;
	if (!schema_q || !table_lit || !args) {
		snprintf(err, errlen, "out of memory");
		goto out;
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
		sql = expand(m->sql, t, schema_q, table_lit, args);
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
	status = MIGRATE_OK;
out:
	free(schema_q);
	free(table_lit);
	free(args);
	return status;
}

bool db_migrate_finish(PGconn *conn, bool commit)
{
	PGresult *res = PQexec(conn, commit ? "COMMIT" : "ROLLBACK");
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	PQclear(res);
	return ok;
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

/* The hash of one row: of the text of its written columns (ROW(...)::text, printed under
 * the settings every session pins), over the bytes of that text in UTF-8 whatever the server's
 * encoding, so that equal rows hash alike in a UTF8 and a LATIN1 database. In UTF8 and
 * SQL_ASCII databases (snk writes UTF-8 into both) that is the text as stored. In a
 * single-byte encoding every byte sequence is valid text, so convert_from(..., itself)
 * makes a text value holding the UTF-8 bytes unchanged. Other multibyte encodings (EUC_*,
 * MULE_INTERNAL) hash their own bytes: see Known limits in docs/DESIGN.md. */
static char *row_hash(const struct snk_pgconn *c, const struct snk_table *t)
{
	char *conv = NULL, *out;
	const char *enc = pgconn_server_encoding(c);
	static const char *const single_byte[] = { "LATIN", "ISO_8859_", "WIN", "KOI8" };
	bool convert = false;

	for (size_t i = 0; i < sizeof(single_byte) / sizeof(single_byte[0]); i++)
		convert |= strncmp(enc, single_byte[i], strlen(single_byte[i])) == 0;
	if (convert) {
		conv = fmt("pg_catalog.convert_from(pg_catalog.convert_to(%s, 'UTF8'::name), '%s'::name)", t->row_text,
			   enc);
		if (!conv)
			return NULL;
	}
	out = fmt("pg_catalog.hashtextextended(%s, 0::int8)", conv ? conv : t->row_text);
	free(conv);
	return out;
}

/* "lo <= kid < hi" with lo as parameter $first (hi as the next one, when there is a hi). */
static char *range_cond(const struct snk_table *t, int first, bool has_hi)
{
	if (has_hi)
		return fmt("%s >= $%d::pg_catalog.uuid AND %s < $%d::pg_catalog.uuid", t->kid, first, t->kid, first + 1);
	return fmt("%s >= $%d::pg_catalog.uuid", t->kid, first);
}

/* Sends sql (freed) with text parameters; false when it could not be built or sent. */
static bool send_built(struct snk_pgconn *c, char *sql, int n, const char *const *params, int result_format)
{
	bool ok = sql && pgconn_query(c, sql, n, params, NULL, NULL, result_format);

	free(sql);
	return ok;
}

bool db_send_range_digest(struct snk_pgconn *c, const struct snk_table *t, const char *lo, const char *hi)
{
	const char *params[2] = { lo, hi };
	char *cond = range_cond(t, 1, hi != NULL), *hash = row_hash(c, t), *sql = NULL;

	if (cond && hash)
		sql = fmt("SELECT 0, pg_catalog.count(*), coalesce(pg_catalog.sum(%s), 0)::text FROM %s AS t WHERE %s",
			  hash, t->qualified, cond);
	free(cond);
	free(hash);
	return send_built(c, sql, hi ? 2 : 1, params, 0);
}

bool db_send_range_children(struct snk_pgconn *c, const struct snk_table *t, const char *lo, const char *hi,
			    int depth)
{
	char byte[8];
	const char *params[3] = { byte, lo, hi };
	char *cond = range_cond(t, 2, hi != NULL), *hash = row_hash(c, t), *sql = NULL;

	snprintf(byte, sizeof(byte), "%d", depth);
	if (cond && hash)
		sql = fmt("SELECT pg_catalog.get_byte(pg_catalog.uuid_send(%s), $1::int4), pg_catalog.count(*),"
			  " coalesce(pg_catalog.sum(%s), 0)::text FROM %s AS t WHERE %s GROUP BY 1",
			  t->kid, hash, t->qualified, cond);
	free(cond);
	free(hash);
	return send_built(c, sql, hi ? 3 : 2, params, 0);
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

/* Row sums: kid, hash, snk_xid (0 when the table has none, for verify), the row's size,
 * and (with_key) its key as text, for verify's list. A row whose snk_xid is ahead of the
 * source's counter is no tail's work in flight (docs/DESIGN.md, "Rows ahead of the
 * counter"): it reads as 0, like a copy, so that a reconcile repairs it. */
#define ROW_XID "CASE WHEN t.snk_xid::text::int8 >= pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::int8" \
		" THEN 0::int8 ELSE coalesce(t.snk_xid::text::int8, 0::int8) END"
static char *row_sums_sql(const struct snk_pgconn *c, const struct snk_table *t, bool with_xid, bool with_key,
			  const char *where)
{
	char *hash = row_hash(c, t), *sql = NULL;

	if (hash && where)
		sql = fmt("SELECT %s, %s, %s, %s, %s FROM %s AS t WHERE %s ORDER BY 1", t->kid, hash,
			  with_xid ? ROW_XID : "0::int8", t->row_size, with_key ? t->key_text : "NULL::pg_catalog.text",
			  t->qualified, where);
	free(hash);
	return sql;
}

bool db_send_range_rows(struct snk_pgconn *c, const struct snk_table *t, const char *lo, const char *hi,
			bool with_xid)
{
	const char *params[2] = { lo, hi };
	char *cond = range_cond(t, 1, hi != NULL), *sql = row_sums_sql(c, t, with_xid, !t->shape.uuid_key, cond);

	free(cond);
	return send_built(c, sql, hi ? 2 : 1, params, 1);
}

bool db_send_rows_by_id(struct snk_pgconn *c, const struct snk_table *t, const struct snk_batch *kids, bool with_xid)
{
	char *cond = fmt("%s = ANY ($1::pg_catalog.uuid[])", t->kid);
	char *sql = row_sums_sql(c, t, with_xid, !t->shape.uuid_key, cond);
	bool ok = sql && kids->ncols == 1 && send_batch(c, sql, NULL, kids, 1);

	free(cond);
	free(sql);
	return ok;
}

void db_row_sums_free(struct snk_row_sum *v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i].key);
	free(v);
}

bool db_read_row_sums(const PGresult *res, struct snk_row_sum **out, int *n)
{
	int rows = PQntuples(res);
	struct snk_row_sum *v;

	*out = NULL;
	*n = 0;
	if (PQnfields(res) != 5)
		return false;
	v = rows ? calloc((size_t)rows, sizeof(*v)) : NULL;
	if (rows && !v)
		return false;
	for (int i = 0; i < rows; i++) {
		if (PQgetlength(res, i, 0) != 16 || PQgetlength(res, i, 1) != 8 || PQgetlength(res, i, 2) != 8 ||
		    (!PQgetisnull(res, i, 4) && !(v[i].key = strndup(PQgetvalue(res, i, 4), (size_t)PQgetlength(res, i, 4))))) {
			db_row_sums_free(v, rows);
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
