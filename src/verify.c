/* verify.c - `snk verify`: are the tables identical in every database? Read-only.
 *
 * Every pair of databases is compared (with more than two, each pair in turn, and the
 * report says which pair differs), table by table.
 *
 * The reconcile engine in RC_VERIFY mode, in an event loop of its own: range digests
 * computed inside each database, split only where they differ, and the differences looked
 * at once more before they are reported (see reconcile.c). Two identical tables cost one
 * digest query each; no row crosses the network.
 */
#include "snk/verify.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/db.h"
#include "snk/exitcodes.h"
#include "snk/log.h"
#include "snk/reconcile.h"

struct verify {
	struct event_base *base;
	int conn_failed;        /* side + 1 of the connection that failed, 0: none */
	char conn_error[512];
	bool finished;
};

static void on_conn_error(void *arg, int side, const char *message)
{
	struct verify *v = arg;

	if (v->conn_failed)
		return;
	v->conn_failed = side + 1;
	snprintf(v->conn_error, sizeof(v->conn_error), "%s", message);
	event_base_loopbreak(v->base);
}

static void on_finish(void *arg, const struct rc_stats *stats)
{
	struct verify *v = arg;

	v->finished = true;
	event_base_loopbreak(v->base);
}

/* "only in a", "only in b", "different data"; "only_in_a", ... with as_key. */
static const char *kind_name(const char *const names[2], int k, bool as_key, char *buf, size_t len)
{
	if (k == RC_DIFFERENT)
		snprintf(buf, len, "%s", as_key ? "different_data" : "different data");
	else
		snprintf(buf, len, "%s%s", as_key ? "only_in_" : "only in ", names[k == RC_ONLY_A ? 0 : 1]);
	return buf;
}

static void print_report(const char *const names[2], const struct snk_reconcile *rc, int list)
{
	const struct rc_stats *st = rc_stats(rc);
	char kind[64];

	printf("%s: %lld rows\n%s: %lld rows\n", names[0], st->rows[0], names[1], st->rows[1]);
	for (int k = 0; k < 3; k++) {
		size_t n = rc_diff_count(rc, (enum rc_diff)k);

		printf("%s: %zu\n", kind_name(names, k, false, kind, sizeof(kind)), n);
		for (size_t i = 0; i < n && (int)i < list; i++) {
			char text[1024];

			rc_diff_key(rc, (enum rc_diff)k, i, text, sizeof(text));
			printf("  %s\n", text);
		}
		if (n > (size_t)list && list > 0)
			printf("  ... and %zu more\n", n - (size_t)list);
	}
}

/* The report as one JSON object: what print_report and the result line say, for scripts. */
static cJSON *json_report(const char *const names[2], const struct snk_reconcile *rc, int list, int code)
{
	const struct rc_stats *st = rc_stats(rc);
	cJSON *o = cJSON_CreateObject();
	cJSON *rows, *diffs;
	char key[64];

	cJSON_AddStringToObject(o, "result", code == SNK_EXIT_OK ? "identical" : "different");
	rows = cJSON_AddObjectToObject(o, "rows");
	diffs = cJSON_AddObjectToObject(o, "differences");
	cJSON_AddNumberToObject(rows, names[0], (double)st->rows[0]);
	cJSON_AddNumberToObject(rows, names[1], (double)st->rows[1]);
	for (int k = 0; k < 3; k++) {
		size_t n = rc_diff_count(rc, (enum rc_diff)k);
		cJSON *kind = cJSON_AddObjectToObject(diffs, kind_name(names, k, true, key, sizeof(key)));
		cJSON *ids = cJSON_AddArrayToObject(kind, "ids");

		cJSON_AddNumberToObject(kind, "count", (double)n);
		for (size_t i = 0; ids && i < n && (int)i < list; i++) {
			char text[1024];

			rc_diff_key(rc, (enum rc_diff)k, i, text, sizeof(text));
			cJSON_AddItemToArray(ids, cJSON_CreateString(text));
		}
		cJSON_AddBoolToObject(kind, "ids_complete", n <= (size_t)list);
	}
	cJSON_AddNumberToObject(o, "queries", (double)st->queries);
	cJSON_AddNumberToObject(o, "bytes_received", (double)st->bytes_received);
	return o;
}

/* print_json: one object on stdout, the report or {"result": "error", "error": why}, so that
 * a script reads stdout alone. NULL o: out of memory, said on stderr. */
static void print_json(cJSON *o)
{
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;

	if (text)
		printf("%s\n", text);
	else
		fprintf(stderr, "snk: verify: out of memory\n");
	free(text);
	cJSON_Delete(o);
}

static void print_error_json(const char *why, int code)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "result", "error");
		cJSON_AddStringToObject(o, "error", why);
		cJSON_AddNumberToObject(o, "exit_code", code);
	}
	print_json(o);
}

/* One table between databases db[0] and db[1]: its report (text) or object (json, into
 * *obj); the exit code it earns. */
static int verify_table(const struct snk_config *cfg, const int db[2], int index, int list, bool json, bool several,
			cJSON **obj)
{
	char *conninfo[2] = { cfg->conninfo[db[0]], cfg->conninfo[db[1]] };
	const char *names[2] = { cfg->db_name[db[0]], cfg->db_name[db[1]] };
	struct verify v = { 0 };
	struct snk_table t;
	struct rc_hooks hooks = { .arg = &v, .on_conn_error = on_conn_error, .on_finish = on_finish };
	struct snk_reconcile *rc = NULL;
	const struct rc_stats *st;
	int code = SNK_EXIT_OK;

	*obj = NULL;
	if (!db_table_init_spec(&t, cfg, &cfg->tables[index], index)) {
		fprintf(stderr, "snk: verify: out of memory\n");
		return SNK_EXIT_OSERR;
	}
	v.base = event_base_new();
	if (v.base)
		rc = rc_new(v.base, &t, 1, conninfo, names, cfg->reconnect_max_ms, RC_VERIFY, (size_t)cfg->batch_max_bytes,
			    &hooks);
	if (!rc) {
		fprintf(stderr, "snk: verify: out of memory\n");
		code = SNK_EXIT_OSERR;
		goto out;
	}
	if (several && !json)
		printf("table %s\n", t.label);
	(void)rc_start(rc, 0);
	/* A connection can fail inside rc_start already; a loopbreak before the loop runs
	 * would be forgotten by it. */
	if (!v.conn_failed && !v.finished)
		event_base_dispatch(v.base);
	st = rc_stats(rc);
	if (v.conn_failed || !v.finished || !st->ok) {
		char why[700];

		/* Unreachable; or the table or a column is missing, or not readable: the message
		 * says which. */
		if (v.conn_failed)
			snprintf(why, sizeof(why), "cannot use database %s: %s", names[v.conn_failed - 1],
				 v.conn_error);
		else
			snprintf(why, sizeof(why), "%s", v.finished ? st->error : "stopped before the end");
		code = v.conn_failed ? SNK_EXIT_UNAVAILABLE : SNK_EXIT_SCHEMA;
		fprintf(stderr, "snk: verify: %s\n", why);
		if (json)
			print_error_json(why, code);
	} else {
		code = rc_diff_count(rc, RC_ONLY_A) || rc_diff_count(rc, RC_ONLY_B) || rc_diff_count(rc, RC_DIFFERENT)
			       ? SNK_EXIT_DIFFER
			       : SNK_EXIT_OK;
		if (json) {
			*obj = json_report(names, rc, list, code);
			if (*obj)
				cJSON_AddStringToObject(*obj, "table", t.label);
		} else {
			print_report(names, rc, list);
			printf("%s (%llu queries, %llu bytes received)\n", code ? "DIFFERENT" : "IDENTICAL",
			       (unsigned long long)st->queries, (unsigned long long)st->bytes_received);
		}
	}
out:
	rc_free(rc);
	if (v.base)
		event_base_free(v.base);
	db_table_clear(&t);
	return code;
}

/* Every table between db[0] and db[1]; *all (json, several tables) gets their objects. */
static int verify_pair(const struct snk_config *cfg, const int db[2], int list, bool json, cJSON *arr, int *differ)
{
	bool several = cfg->ntables > 1;
	int code = SNK_EXIT_OK;

	*differ = 0;
	for (int i = 0; i < cfg->ntables; i++) {
		cJSON *obj;
		int c = verify_table(cfg, db, i, list, json, several, &obj);

		if (c != SNK_EXIT_OK && c != SNK_EXIT_DIFFER) {
			cJSON_Delete(obj);
			return c; /* the table's error, said already */
		}
		*differ += c == SNK_EXIT_DIFFER;
		if (c == SNK_EXIT_DIFFER)
			code = SNK_EXIT_DIFFER;
		if (obj && arr)
			cJSON_AddItemToArray(arr, obj);
		else if (obj)
			print_json(obj);
	}
	return code;
}

/* Two databases: the report as it always was. More: each pair's, under a line (or in an
 * object) naming the pair, then which pairs differ. */
int verify_run(const struct snk_config *cfg, int list, bool json)
{
	bool several = cfg->ntables > 1, pairs = cfg->ndb > 2;
	cJSON *all = (several || pairs) && json ? cJSON_CreateObject() : NULL;
	cJSON *arr = all ? cJSON_AddArrayToObject(all, pairs ? "pairs" : "tables") : NULL;
	int code = SNK_EXIT_OK, ndiffer = 0, npairs = 0;
	char differ_text[SNK_DB_MAX * SNK_DB_MAX * 36] = "";
	size_t at = 0;

	if (all && !arr) {
		fprintf(stderr, "snk: verify: out of memory\n");
		cJSON_Delete(all);
		return SNK_EXIT_OSERR;
	}
	/* The report, or one line saying why there is none, is the output: no connection
	 * chatter (it would speak of reconnecting, which verify does not do) unless -v. */
	if (log_get_level() == LOG_INFO)
		log_set_level(LOG_ERROR);
	for (int i = 0; i < cfg->ndb; i++) {
		for (int j = i + 1; j < cfg->ndb; j++) {
			const int db[2] = { i, j };
			cJSON *pair = NULL, *tables = arr;
			int differ, c;

			if (pairs && arr) {
				pair = cJSON_CreateObject();
				if (!pair || !cJSON_AddItemToArray(arr, pair)) {
					cJSON_Delete(pair);
					cJSON_Delete(all);
					fprintf(stderr, "snk: verify: out of memory\n");
					return SNK_EXIT_OSERR;
				}
				cJSON_AddItemToObject(pair, "databases",
						      cJSON_CreateStringArray((const char *const[]){ cfg->db_name[i], cfg->db_name[j] }, 2));
				tables = cJSON_AddArrayToObject(pair, "tables");
			} else if (pairs) {
				printf("databases %s and %s\n", cfg->db_name[i], cfg->db_name[j]);
			}
			c = verify_pair(cfg, db, list, json, tables, &differ);
			if (c != SNK_EXIT_OK && c != SNK_EXIT_DIFFER) {
				cJSON_Delete(all);
				return c;
			}
			npairs++;
			if (pair)
				cJSON_AddStringToObject(pair, "result", c ? "different" : "identical");
			if (c == SNK_EXIT_DIFFER) {
				code = SNK_EXIT_DIFFER;
				ndiffer++;
				if (at < sizeof(differ_text))
					at += (size_t)snprintf(differ_text + at, sizeof(differ_text) - at, "%s%s and %s",
							       at ? ", " : "", cfg->db_name[i], cfg->db_name[j]);
			}
			if (!json && several && !pairs && differ)
				printf("%d of %d tables DIFFERENT\n", differ, cfg->ntables);
			else if (!json && several && !pairs)
				printf("all %d tables IDENTICAL\n", cfg->ntables);
			else if (!json && pairs)
				printf("%s and %s: %s\n", cfg->db_name[i], cfg->db_name[j], differ ? "DIFFERENT" : "IDENTICAL");
		}
	}
	if (all) {
		cJSON_AddStringToObject(all, "result", code ? "different" : "identical");
		print_json(all);
	} else if (pairs && ndiffer) {
		printf("%d of %d pairs of databases DIFFERENT: %s\n", ndiffer, npairs, differ_text);
	} else if (pairs) {
		printf("all %d databases IDENTICAL (%d pairs)\n", cfg->ndb, npairs);
	}
	return code;
}
