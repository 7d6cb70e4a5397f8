/* db_compare.c - the data-access layer (db.c) of verify and reconcile: range digests and
 * row sums computed inside each database. */
#include "snk/db.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

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
