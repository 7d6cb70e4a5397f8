/* db_blocking.c - the data-access layer (db.c) for the tools: blocking connections, the
 * catalog and privilege reads of snk check, snk migrate, tst's inserts, the naive poller. */
#include "snk/db.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"
#include "snk/conninfo.h"

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

/* exec_batch: runs sql, or the statement prepared as name when name is set, with the
 * batch's columns as its binary parameters. */
static bool exec_batch(PGconn *conn, const char *name, const char *sql, const struct snk_batch *b, char *err,
		       size_t errlen)
{
	struct batch_params p = { 0 };
	PGresult *res;
	bool ok;

	if (!params_of(b, &p)) {
		params_free(&p);
		snprintf(err, errlen, "out of memory");
		return false;
	}
	res = name ? PQexecPrepared(conn, name, b->ncols, p.values, p.lengths, p.formats, 0)
		   : PQexecParams(conn, sql, b->ncols, NULL, p.values, p.lengths, p.formats, 0);
	params_free(&p);
	ok = check_result(res, PGRES_COMMAND_OK, err, errlen);
	PQclear(res);
	return ok;
}

bool db_app_insert(PGconn *conn, const struct snk_table *t, const struct snk_batch *b, char *err,
		   size_t errlen)
{
	return exec_batch(conn, NULL, t->sql_app_insert, b, err, errlen);
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
	char *labels = db_text_array((const char *const *)&t->label, 1, sizeof(*t));
	const char *params[1] = { labels };
	PGresult *res = labels ? PQexecParams(conn, SQL_WRITER_LOCK_HOLDER, 1, NULL, params, NULL, NULL, 0) : NULL;
	bool ok = labels ? check_result(res, PGRES_TUPLES_OK, err, errlen) : false;

	memset(out, 0, sizeof(*out));
	if (!labels)
		snprintf(err, errlen, "out of memory");
	else if (ok && !db_read_lock_holder(res, out)) {
		snprintf(err, errlen, "unexpected result of the writer lock check");
		ok = false;
	}
	PQclear(res);
	free(labels);
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

bool exec_ok(PGconn *conn, const char *sql, int n, const char *const *params, char *err,
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

static bool prepare(PGconn *conn, const char *name, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQprepare(conn, name, sql, 0, NULL);
	bool ok = check_result(res, PGRES_COMMAND_OK, err, errlen);

	PQclear(res);
	return ok;
}

bool db_naive_prepare(PGconn *conn, const struct snk_table *t, const char *channel, char *err, size_t errlen)
{
	char sql[512], *quoted;

	snprintf(sql, sizeof(sql), "SELECT %s, %s, naive_seq FROM %s WHERE naive_seq > $1 ORDER BY naive_seq LIMIT $2",
		 t->id, t->data, t->qualified);
	if (!prepare(conn, "snk_naive_page", sql, err, errlen))
		return false;
	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s (%s, %s, naive_seq) SELECT u.*, 0 FROM ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::text[])) u"
		 " ON CONFLICT (%s) DO NOTHING",
		 t->qualified, t->id, t->data, t->id);
	if (!prepare(conn, "snk_naive_copy", sql, err, errlen))
		return false;
	/* its copies wake nobody (migrations/notify_trigger.sql), as snk's do not */
	if (!exec_ok(conn, "SET snk.copy = on", 0, NULL, err, errlen, NULL))
		return false;
	if (!channel)
		return true;
	quoted = db_quote_ident(channel);
	if (!quoted) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	snprintf(sql, sizeof(sql), "LISTEN %s", quoted);
	free(quoted);
	return exec_ok(conn, sql, 0, NULL, err, errlen, NULL);
}

int db_naive_page(PGconn *conn, int64_t *after, int limit, struct snk_batch *b, char *err, size_t errlen)
{
	char after_s[24], limit_s[16];
	const char *values[2] = { after_s, limit_s };
	PGresult *res;
	int n;

	snprintf(after_s, sizeof(after_s), "%lld", (long long)*after);
	snprintf(limit_s, sizeof(limit_s), "%d", limit);
	res = PQexecPrepared(conn, "snk_naive_page", 2, values, NULL, NULL, 1);
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

bool db_naive_copy(PGconn *conn, const struct snk_batch *b, char *err, size_t errlen)
{
	return exec_batch(conn, "snk_naive_copy", NULL, b, err, errlen);
}
