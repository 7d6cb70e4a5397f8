/* verify.c - `snk verify`: are the two tables identical? Read-only.
 *
 * Each side computes a digest of an id range inside the database: the row count and the
 * exact (numeric) sum of a 64-bit hash of every (id, data). Equal whole-table digests
 * end it: two identical tables cost one query each, and no row crosses the network.
 * Otherwise one query per side returns the digests of the range's 256 sub-ranges (by the
 * next byte of the uuid); only differing sub-ranges are followed, and a sub-range is
 * compared row by row, as (id, md5(data)), once it holds at most LEAF_ROWS rows.
 * Differences found are looked up once more at the end: a row that was only in flight
 * (snk copying it right then) is not reported.
 */
#include "snk/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/db.h"
#include "snk/exitcodes.h"

#define LEAF_ROWS 2000

enum diff_kind { ONLY_A, ONLY_B, DIFFERENT };

struct verify {
	PGconn *conn[2];
	struct snk_table t;
	char **ids[3];     /* owned: differing ids of each kind */
	size_t n[3];
	size_t cap[3];
	long long queries;
	char err[1024];
};

static bool note(struct verify *v, enum diff_kind k, const char *id)
{
	if (v->n[k] == v->cap[k]) {
		size_t cap = v->cap[k] ? v->cap[k] * 2 : 64;
		char **p = realloc(v->ids[k], cap * sizeof(*p));

		if (!p)
			return false;
		v->ids[k] = p;
		v->cap[k] = cap;
	}
	v->ids[k][v->n[k]] = strdup(id);
	return v->ids[k][v->n[k]++] != NULL;
}

/* The uuid text of prefix[0..depth) followed by zero bytes. */
static void uuid_of(const unsigned char *prefix, int depth, char *out)
{
	unsigned char b[16] = { 0 };

	memcpy(b, prefix, (size_t)depth);
	db_uuid_text(b, out);
}

/* hi of the range with this prefix: the prefix plus one; false when it overflows. */
static bool upper_of(const unsigned char *prefix, int depth, char *out)
{
	unsigned char p[16] = { 0 };
	int i;

	memcpy(p, prefix, (size_t)depth);
	for (i = depth - 1; i >= 0 && p[i] == 0xff; i--)
		p[i] = 0;
	if (i < 0)
		return false;
	p[i]++;
	db_uuid_text(p, out);
	return true;
}

static bool compare_rows(struct verify *v, const char *lo, const char *hi)
{
	PGresult *r[2];
	int i = 0, j = 0, na, nb;
	bool ok = true;

	for (int s = 0; s < 2; s++) {
		r[s] = db_range_rows(v->conn[s], &v->t, lo, hi, v->err, sizeof(v->err));
		v->queries++;
		if (!r[s]) {
			if (s)
				PQclear(r[0]);
			return false;
		}
	}
	na = PQntuples(r[0]);
	nb = PQntuples(r[1]);
	while (ok && (i < na || j < nb)) {
		int c = i >= na ? 1 : j >= nb ? -1 : strcmp(PQgetvalue(r[0], i, 0), PQgetvalue(r[1], j, 0));

		if (c < 0)
			ok = note(v, ONLY_A, PQgetvalue(r[0], i++, 0));
		else if (c > 0)
			ok = note(v, ONLY_B, PQgetvalue(r[1], j++, 0));
		else {
			if (strcmp(PQgetvalue(r[0], i, 1), PQgetvalue(r[1], j, 1)) != 0)
				ok = note(v, DIFFERENT, PQgetvalue(r[0], i, 0));
			i++;
			j++;
		}
	}
	PQclear(r[0]);
	PQclear(r[1]);
	return ok;
}

static bool compare_range(struct verify *v, unsigned char *prefix, int depth, const char *lo, const char *hi,
			  long long biggest)
{
	struct snk_range_digest *d[2];
	bool ok = true;

	if (biggest <= LEAF_ROWS || depth >= 16)
		return compare_rows(v, lo, hi);
	d[0] = malloc(sizeof(struct snk_range_digest) * 256);
	d[1] = malloc(sizeof(struct snk_range_digest) * 256);
	if (!d[0] || !d[1]) {
		free(d[0]);
		free(d[1]);
		snprintf(v->err, sizeof(v->err), "out of memory");
		return false;
	}
	for (int s = 0; s < 2 && ok; s++) {
		ok = db_range_children(v->conn[s], &v->t, lo, hi, depth, d[s], v->err, sizeof(v->err));
		v->queries++;
	}
	for (int b = 0; ok && b < 256; b++) {
		char clo[40], chi[40];
		bool bounded;

		if (d[0][b].count == d[1][b].count && strcmp(d[0][b].sum, d[1][b].sum) == 0)
			continue;
		prefix[depth] = (unsigned char)b;
		uuid_of(prefix, depth + 1, clo);
		bounded = upper_of(prefix, depth + 1, chi);
		ok = compare_range(v, prefix, depth + 1, clo, bounded ? chi : NULL,
				   d[0][b].count > d[1][b].count ? d[0][b].count : d[1][b].count);
	}
	free(d[0]);
	free(d[1]);
	return ok;
}

/* Drops the differences that were only rows in flight when their range was read. */
static bool confirm(struct verify *v)
{
	for (int k = 0; k < 3; k++) {
		size_t kept = 0;

		for (size_t i = 0; i < v->n[k]; i++) {
			bool found[2];
			char md5[2][33];

			for (int s = 0; s < 2; s++) {
				if (!db_row_md5(v->conn[s], &v->t, v->ids[k][i], &found[s], md5[s], v->err, sizeof(v->err)))
					return false;
			}
			if (found[0] && found[1] && strcmp(md5[0], md5[1]) == 0) {
				free(v->ids[k][i]);
				continue;
			}
			v->ids[k][kept++] = v->ids[k][i];
		}
		v->n[k] = kept;
	}
	return true;
}

int verify_run(const struct snk_config *cfg, int list)
{
	static const char *const kinds[3] = { "only in a", "only in b", "different data" };
	struct verify v = { 0 };
	struct snk_range_digest whole[2];
	unsigned char prefix[16] = { 0 };
	int rc = SNK_EXIT_OK;

	if (!db_table_init(&v.t, cfg)) {
		fprintf(stderr, "snk: verify: out of memory\n");
		return SNK_EXIT_OSERR;
	}
	for (int s = 0; s < 2; s++) {
		v.conn[s] = db_connect_blocking(cfg->conninfo[s], "snk verify", v.err, sizeof(v.err));
		if (!v.conn[s]) {
			fprintf(stderr, "snk: verify: cannot connect to database %s: %s\n", s ? "b" : "a", v.err);
			rc = SNK_EXIT_UNAVAILABLE;
			goto out;
		}
	}
	for (int s = 0; s < 2; s++) {
		if (!db_range_digest(v.conn[s], &v.t, "00000000-0000-0000-0000-000000000000", NULL, &whole[s], v.err,
				     sizeof(v.err))) {
			fprintf(stderr, "snk: verify: database %s: %s\n", s ? "b" : "a", v.err);
			rc = SNK_EXIT_SCHEMA;
			goto out;
		}
		v.queries++;
	}
	if (whole[0].count != whole[1].count || strcmp(whole[0].sum, whole[1].sum) != 0) {
		long long biggest = whole[0].count > whole[1].count ? whole[0].count : whole[1].count;

		if (!compare_range(&v, prefix, 0, "00000000-0000-0000-0000-000000000000", NULL, biggest) ||
		    !confirm(&v)) {
			fprintf(stderr, "snk: verify: %s\n", v.err);
			rc = SNK_EXIT_SOFTWARE;
			goto out;
		}
	}
	printf("a: %lld rows\nb: %lld rows\n", whole[0].count, whole[1].count);
	for (int k = 0; k < 3; k++) {
		printf("%s: %zu\n", kinds[k], v.n[k]);
		for (size_t i = 0; i < v.n[k] && (int)i < list; i++)
			printf("  %s\n", v.ids[k][i]);
		if (v.n[k] > (size_t)list && list > 0)
			printf("  ... and %zu more\n", v.n[k] - (size_t)list);
	}
	rc = v.n[0] || v.n[1] || v.n[2] ? SNK_EXIT_DIFFER : SNK_EXIT_OK;
	printf("%s (%lld queries)\n", rc ? "DIFFERENT" : "IDENTICAL", v.queries);
out:
	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; i < v.n[k]; i++)
			free(v.ids[k][i]);
		free(v.ids[k]);
	}
	for (int s = 0; s < 2; s++)
		PQfinish(v.conn[s]);
	db_table_clear(&v.t);
	return rc;
}
