/* Unit tests of the pure parts of db.c: identifier quoting (SQL injection through a
 * table or column name must be impossible), statements built from the config, and the
 * schema problem messages. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "snk/db.h"

/* shape_of: a shape from "name type oid [k|g], ...", as db_read_shape orders it (k: the
 * next key column, g: generated). */
static bool shape_of(struct snk_shape *sh, const char *spec)
{
	char names[8][32] = { { 0 } }, types[8][64] = { { 0 } }, flags[8][4] = { { 0 } };
	unsigned oids[8] = { 0 };
	int n = 0;
	const char *p = spec;

	memset(sh, 0, sizeof(*sh));
	sh->col = calloc(8, sizeof(*sh->col));
	while (*p && n < 8) {
		char item[128];
		size_t len = strcspn(p, ",");

		snprintf(item, sizeof(item), "%.*s", (int)len, p);
		flags[n][0] = '\0';
		/* the name may hold a space ("d d"): the type is the rest up to the oid */
		char *last = strrchr(item, ' ');
		if (last && (strcmp(last + 1, "k") == 0 || strcmp(last + 1, "g") == 0)) {
			snprintf(flags[n], sizeof(flags[n]), "%s", last + 1);
			*last = '\0';
			last = strrchr(item, ' ');
		}
		oids[n] = (unsigned)atoi(last + 1);
		*last = '\0';
		char *sp = strchr(item, ' ');
		if (strncmp(item, "d d", 3) == 0)
			sp = item + 3;
		*sp = '\0';
		snprintf(names[n], sizeof(names[n]), "%s", item);
		snprintf(types[n], sizeof(types[n]), "%s", sp + 1);
		n++;
		p += len;
		while (*p == ',' || *p == ' ')
			p++;
	}
	/* key columns first (in spec order), then written ones by name, then generated ones */
	int order[8], m = 0;
	for (int pass = 0; pass < 3; pass++) {
		int start = m;
		for (int i = 0; i < n; i++) {
			int kind = flags[i][0] == 'k' ? 0 : flags[i][0] == 'g' ? 2 : 1;
			if (kind == pass)
				order[m++] = i;
		}
		for (int i = start; pass > 0 && i < m; i++)
			for (int j = i + 1; j < m; j++)
				if (strcmp(names[order[i]], names[order[j]]) > 0) {
					int x = order[i];
					order[i] = order[j];
					order[j] = x;
				}
	}
	for (int i = 0; i < n; i++) {
		struct snk_column *c = &sh->col[i];
		int o = order[i];
		bool bin = oids[o] < 16384;
		char wire[64];

		snprintf(wire, sizeof(wire), "pg_catalog.%s", oids[o] == 2950 ? "uuid" : oids[o] == 25 ? "text" :
			 oids[o] == 23 ? "int4" : oids[o] == 1043 ? "varchar" : "x");
		c->name = strdup(names[o]);
		c->quoted = db_quote_ident(names[o]);
		c->type = strdup(types[o]);
		c->cast = strdup(bin ? wire : "public.x");
		c->binary = bin;
		c->wire_oid = bin ? oids[o] : 25;
		c->wire_type = strdup(bin ? wire : "pg_catalog.text");
		c->varlena = oids[o] == 25 || oids[o] == 1043 || !bin;
		c->raw_size = oids[o] == 25 || oids[o] == 1043;
		c->generated = flags[o][0] == 'g';
		c->signature = strdup("");
		if (flags[o][0] == 'k') {
			c->eq_op = strdup("pg_catalog.=");
			sh->nkey++;
		}
		sh->nsync += !c->generated;
	}
	sh->ncols = n;
	sh->uuid_key = sh->nkey == 1 && sh->col[0].wire_oid == 2950;
	return n > 0;
}

int main(void)
{
	char *q = db_quote_ident("x\"; DROP TABLE t; --");
	struct snk_config *cfg;
	struct snk_table t;
	char err[256], buf[512];

	CHECK_STR(q, "\"x\"\"; DROP TABLE t; --\"");
	free(q);
	q = db_quote_ident("");
	CHECK_STR(q, "\"\"");
	free(q);
	q = db_quote_ident("Mixed Case");
	CHECK_STR(q, "\"Mixed Case\"");
	free(q);

	CHECK(config_parse("{\"databases\": {\"a\": \"dbname=a\", \"b\": \"dbname=b\"}, \"schema\": \"s\\\"x\","
			   " \"table\": \"T\", \"id_column\": \"Id\", \"data_column\": \"d d\"}",
			   "t", &cfg, err, sizeof(err)) == CONFIG_OK);
	CHECK(db_table_init(&t, cfg));
	CHECK_STR(t.qualified, "\"s\"\"x\".\"T\"");
	CHECK_STR(t.label, "s\"x.T");
	/* The shape a session read: (Id uuid, "d d" text) with the key Id, and a composite. */
	struct snk_shape sh = { 0 };
	CHECK(shape_of(&sh, "Id uuid 2950 k, d d text 25"));
	CHECK(sh.uuid_key && sh.nkey == 1 && sh.nsync == 2);
	CHECK(db_table_shape(&t, &sh, "a"));
	CHECK(sh.col == NULL); /* taken over */
	CHECK_CONTAINS(t.sql_window[SNK_XID_INT8], "SELECT t.\"Id\", CASE WHEN (pg_catalog.octet_length(t.\"d d\")::int8)"
						   " > $3::int8 THEN NULL ELSE t.\"d d\" END, (pg_catalog.octet_length(");
	/* Rows ahead of the counter: found (and marked) only when $4 says so; one index
	 * condition for both, so that a BRIN index is read once per window. */
	CHECK_CONTAINS(t.sql_window[SNK_XID_INT8], " FROM \"s\"\"x\".\"T\" AS t WHERE ((t.snk_xid >= $1::int8 AND (t.snk_xid <"
						   " (SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::int8)"
						   " OR $4::bool)) OR t.snk_xid = ANY (ARRAY(SELECT x::text::int8 FROM");
	CHECK_CONTAINS(t.sql_window[SNK_XID_INT8], "CASE WHEN t.snk_xid >= (SELECT pg_catalog.pg_snapshot_xmax(");
	CHECK_CONTAINS(t.sql_window[SNK_XID_INT8], "pg_visible_in_snapshot(x, pg_catalog.pg_current_snapshot())");
	CHECK_CONTAINS(t.sql_window[SNK_XID_XID8], "WHERE ((t.snk_xid >= $1::xid8 AND (t.snk_xid <"
						   " (SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())) OR $4::bool))");
	/* The first page: the same query as a SELECT of at most $5 rows, after any ORDER BY. */
	for (int k = 0; k < 4; k++) {
		const char *declare = "DECLARE snk_window NO SCROLL CURSOR FOR ";
		const char *window = k < 2 ? t.sql_window[k] : t.sql_window_ordered[k - 2];
		const char *first = k < 2 ? t.sql_first[k] : t.sql_first_ordered[k - 2];
		size_t n = strlen(declare), len = strlen(window);

		CHECK(strncmp(window, declare, n) == 0);
		CHECK(first && strlen(first) == len - n + strlen(" LIMIT $5::int8") &&
		      strncmp(first, window + n, len - n) == 0 && strcmp(first + len - n, " LIMIT $5::int8") == 0);
	}
	/* The probe: the same condition, "ahead" as its $3. */
	CHECK_CONTAINS(t.sql_probe[SNK_XID_INT8], "SELECT EXISTS (SELECT 1 FROM \"s\"\"x\".\"T\" AS t WHERE ((t.snk_xid >="
						  " $1::int8 AND (t.snk_xid < (SELECT pg_catalog.pg_snapshot_xmax("
						  "pg_catalog.pg_current_snapshot())::text::int8) OR $3::bool)) OR t.snk_xid = ANY");
	CHECK_CONTAINS(t.sql_first_ordered[SNK_XID_INT8], " ORDER BY t.snk_xid, t.ctid LIMIT $5::int8");
	CHECK_CONTAINS(t.sql_fetch_large, "SELECT t.\"Id\", t.\"d d\" FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.uuid[]))"
					  " AS u(c0) JOIN \"s\"\"x\".\"T\" AS t ON t.\"Id\" OPERATOR(pg_catalog.=) u.c0");
	CHECK_CONTAINS(t.sql_insert, "INSERT INTO \"s\"\"x\".\"T\" AS t (\"Id\", \"d d\", snk_xid) OVERRIDING SYSTEM VALUE"
				     " SELECT u.c0, u.c1, NULL FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.uuid[]),"
				     " pg_catalog.unnest($2::pg_catalog.text[])) AS u(c0, c1) ON CONFLICT DO NOTHING");
	CHECK(strstr(t.sql_insert_plain, "ON CONFLICT") == NULL);
	/* a skipped row is a conflict when it is here with other values, or not here at all
	 * (another unique index refused it) */
	CHECK_CONTAINS(t.sql_conflicts, "SELECT u.c0::pg_catalog.text, t.ctid IS NULL FROM");
	CHECK_CONTAINS(t.sql_conflicts, " LEFT JOIN \"s\"\"x\".\"T\" AS t ON t.\"Id\" OPERATOR(pg_catalog.=) u.c0");
	CHECK_CONTAINS(t.sql_conflicts, "WHERE t.ctid IS NULL OR ROW(t.\"Id\", t.\"d d\")::pg_catalog.text IS DISTINCT FROM"
					" ROW(u.c0, u.c1)::pg_catalog.text");
	CHECK_STR(t.kid, "t.\"Id\"");
	db_key_label(&t, "5f0c", buf, sizeof(buf));
	CHECK_STR(buf, "Id 5f0c");

	/* The same columns in another order, in b: the same shape. A missing column, another
	 * type, another key: each named, with both databases. */
	CHECK(shape_of(&sh, "d d text 25, Id uuid 2950 k"));
	CHECK(db_shape_problem(&t, &sh, "b", buf, sizeof(buf)) == NULL);
	db_shape_clear(&sh);
	CHECK(shape_of(&sh, "Id uuid 2950 k"));
	CHECK_CONTAINS(db_shape_problem(&t, &sh, "b", buf, sizeof(buf)),
		       "column \"d d\" of s\"x.T exists in database a (text) but not in database b");
	db_shape_clear(&sh);
	CHECK(shape_of(&sh, "Id uuid 2950 k, d d text 25, extra integer 23"));
	CHECK_CONTAINS(db_shape_problem(&t, &sh, "b", buf, sizeof(buf)),
		       "column \"extra\" of s\"x.T exists in database b (integer) but not in database a");
	db_shape_clear(&sh);
	CHECK(shape_of(&sh, "Id uuid 2950 k, d d character varying(10) 1043"));
	CHECK_CONTAINS(db_shape_problem(&t, &sh, "b", buf, sizeof(buf)),
		       "column \"d d\" of s\"x.T is text in database a and character varying(10) in database b");
	db_shape_clear(&sh);
	CHECK(shape_of(&sh, "Id uuid 2950 k, d d text 25 k"));
	CHECK_CONTAINS(db_shape_problem(&t, &sh, "b", buf, sizeof(buf)),
		       "the key of s\"x.T is (Id) in database a and (Id, d d) in database b");
	db_shape_clear(&sh);
	db_table_clear(&t);
	CHECK(db_table_init(&t, cfg));

	/* A composite key of a text and an int, a value of a user type (text on the wire), a
	 * generated column (never written): keys join with their own equality operators. */
	CHECK(shape_of(&sh, "z public.mood 16400, region text 25 k, n integer 23 k, g integer 23 g"));
	CHECK(!sh.uuid_key && sh.nkey == 2 && sh.nsync == 3 && sh.ncols == 4);
	CHECK_STR(sh.col[0].name, "region");
	CHECK_STR(sh.col[2].name, "z");
	CHECK(!sh.col[2].binary && sh.col[2].wire_oid == 25);
	CHECK(db_table_shape(&t, &sh, "a"));
	CHECK_CONTAINS(t.sql_insert, "(\"region\", \"n\", \"z\", snk_xid) OVERRIDING SYSTEM VALUE SELECT u.c0, u.c1,"
				     " u.c2::public.x, NULL FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]),"
				     " pg_catalog.unnest($2::pg_catalog.int4[]), pg_catalog.unnest($3::pg_catalog.text[]))");
	CHECK_CONTAINS(t.sql_insert, "ON CONFLICT DO NOTHING");
	CHECK_CONTAINS(t.sql_conflicts, "SELECT ROW(u.c0, u.c1)::pg_catalog.text, t.ctid IS NULL FROM");
	/* no variable-length value outside the key: the inline limit $3 is still typed */
	CHECK_CONTAINS(t.sql_window[SNK_XID_INT8], "))))");
	CHECK_CONTAINS(t.sql_window[SNK_XID_INT8], "SELECT t.\"region\", t.\"n\", CASE WHEN");
	CHECK_CONTAINS(t.sql_window[SNK_XID_INT8], "ELSE t.\"z\"::pg_catalog.text END");
	CHECK(strstr(t.sql_window[SNK_XID_INT8], "\"g\"") == NULL);
	CHECK_CONTAINS(t.sql_fetch_large, "JOIN \"s\"\"x\".\"T\" AS t ON t.\"region\" OPERATOR(pg_catalog.=) u.c0 AND"
					  " t.\"n\" OPERATOR(pg_catalog.=) u.c1");
	CHECK_STR(t.key_text, "ROW(t.\"region\", t.\"n\")::pg_catalog.text");
	CHECK_CONTAINS(t.kid, "pg_catalog.md5(pg_catalog.convert_to(ROW(t.\"region\", t.\"n\")::pg_catalog.text, 'UTF8'::name))");
	db_key_label(&t, "(eu,7)", buf, sizeof(buf));
	CHECK_STR(buf, "(region, n)=(eu,7)");
	CHECK(shape_of(&sh, "z public.mood 16400, region text 25 k, n integer 23 k, g integer 23"));
	CHECK_CONTAINS(db_shape_problem(&t, &sh, "b", buf, sizeof(buf)),
		       "column \"g\" of s\"x.T is generated in database a and not generated in database b");
	db_shape_clear(&sh);
	CHECK_STR(t.sql_listen, "LISTEN \"snk_records\"");
	CHECK_STR(t.index_spec, "USING brin (snk_xid) WITH (pages_per_range = 32)");

	struct snk_schema_info info = { .table_exists = true, .has_key = true, .key = "(Id)",
					.has_xid_column = true, .has_xid_index = true,
					.has_snk_schema = true, .has_xid_guard = true,
					.xid_guard_enabled = true };
	CHECK(db_schema_problem(&info, &t, true, buf, sizeof(buf)) == NULL);
	info.has_xid_guard = false;
	CHECK_CONTAINS(db_schema_problem(&info, &t, true, buf, sizeof(buf)), "missing trigger snk_xid_stamp");
	info.has_xid_guard = true;
	info.xid_guard_enabled = false;
	CHECK_CONTAINS(db_schema_problem(&info, &t, true, buf, sizeof(buf)), "trigger snk_xid_stamp on s\"x.T is disabled");
	info.xid_guard_enabled = true;
	info.has_snk_schema = false;
	CHECK(db_schema_problem(&info, &t, false, buf, sizeof(buf)) == NULL);
	/* The advice names the config snk was given (config_parse's name here). */
	CHECK_CONTAINS(db_schema_problem(&info, &t, true, buf, sizeof(buf)), "run 'snk -c t migrate'");
	info.has_xid_column = false;
	CHECK(db_table_problem(&info, &t, buf, sizeof(buf)) == NULL); /* verify needs no snk_xid */
	CHECK_CONTAINS(db_schema_problem(&info, &t, true, buf, sizeof(buf)), "missing column snk_xid");
	info.has_key = false;
	CHECK_CONTAINS(db_schema_problem(&info, &t, true, buf, sizeof(buf)),
		       "has no primary key and no unique index over NOT NULL columns; add a primary key");
	info.key_candidates = 2;
	snprintf(info.candidates, sizeof(info.candidates), "(a), (b, c)");
	CHECK_CONTAINS(db_table_problem(&info, &t, buf, sizeof(buf)),
		       "has no primary key and 2 unique indexes that could be its key ((a), (b, c)); choose one with \"key\"");
	info.table_exists = false;
	CHECK_CONTAINS(db_schema_problem(&info, &t, true, buf, sizeof(buf)), "does not exist; run 'snk -c t migrate'");
	CHECK_CONTAINS(db_table_problem(&info, &t, buf, sizeof(buf)), "does not exist; run 'snk -c t migrate'");

	struct snk_session_info sess = { .search_path = "pg_catalog,pg_temp", .synchronous_commit = "local",
					 .copies = true };
	CHECK(db_session_problem(&sess, true, buf, sizeof(buf)) == NULL);
	sess.copies = false;
	CHECK_CONTAINS(db_session_problem(&sess, true, buf, sizeof(buf)), "without snk.copy = on");
	sess.copies = true;
	snprintf(sess.search_path, sizeof(sess.search_path), "\"$user\", public");
	CHECK_CONTAINS(db_session_problem(&sess, true, buf, sizeof(buf)), "pooler drop the options parameter");

	/* The NOTIFY trigger: its absence or disablement says what to run. */
	struct snk_notify_trigger trg = { .found = true, .enabled = true, .name = "snk_notify" };
	char tbuf[768];
	CHECK(db_notify_trigger_problem(&trg, &t, tbuf, sizeof(tbuf)) == NULL);
	/* One of an older notify_trigger.sql works, and says what it costs and what to run. */
	CHECK_CONTAINS(db_notify_trigger_advice(&trg, &t, tbuf, sizeof(tbuf)),
		       "the NOTIFY trigger snk_notify on s\"x.T is of an older notify_trigger.sql: it notifies for"
		       " snk's own copies too");
	CHECK_CONTAINS(db_notify_trigger_advice(&trg, &t, tbuf, sizeof(tbuf)),
		       "run PGOPTIONS='-c search_path=s\"x' psql -d DBNAME -v table=T -v channel=snk_records"
		       " -f migrations/notify_trigger.sql again");
	trg.skips_copies = true;
	CHECK(db_notify_trigger_advice(&trg, &t, tbuf, sizeof(tbuf)) == NULL);
	trg.enabled = false;
	CHECK(db_notify_trigger_advice(&trg, &t, tbuf, sizeof(tbuf)) == NULL); /* the problem says it all */
	CHECK_CONTAINS(db_notify_trigger_problem(&trg, &t, tbuf, sizeof(tbuf)),
		       "the NOTIFY trigger snk_notify on s\"x.T is disabled, so snk wakes on its timer only;"
		       " ALTER TABLE \"s\"\"x\".\"T\" ENABLE TRIGGER snk_notify");
	trg.found = false;
	/* notify_trigger.sql names the table unqualified: outside public, the search_path says where */
	CHECK_CONTAINS(db_notify_trigger_problem(&trg, &t, tbuf, sizeof(tbuf)),
		       "no NOTIFY trigger for channel snk_records on s\"x.T, so snk wakes on its timer only; run"
		       " PGOPTIONS='-c search_path=s\"x' psql -d DBNAME -v table=T -v channel=snk_records"
		       " -f migrations/notify_trigger.sql, or set notify_channel to \"\" for timer only");

	unsigned char id[16];
	for (int i = 0; i < 16; i++)
		id[i] = (unsigned char)(i * 17);
	db_uuid_text(id, buf);
	CHECK_STR(buf, "00112233-4455-6677-8899-aabbccddeeff");

	db_table_clear(&t);
	CHECK(t.qualified == NULL);
	config_free(cfg);

	CHECK(config_parse("{\"databases\": {\"a\": \"dbname=a\", \"b\": \"dbname=b\"}, \"xid_index\": \"btree\"}", "t",
			   &cfg, err, sizeof(err)) == CONFIG_OK);
	CHECK(db_table_init(&t, cfg));
	CHECK_STR(t.index_spec, "(snk_xid)");
	trg.found = false;
	CHECK_CONTAINS(db_notify_trigger_problem(&trg, &t, tbuf, sizeof(tbuf)), " run psql -d DBNAME -v table=records");
	db_table_clear(&t);
	config_free(cfg);

	/* Timer only: no trigger is needed, none is asked for. */
	CHECK(config_parse("{\"databases\": {\"a\": \"dbname=a\", \"b\": \"dbname=b\"}, \"notify_channel\": \"\"}", "t",
			   &cfg, err, sizeof(err)) == CONFIG_OK);
	CHECK(db_table_init(&t, cfg));
	CHECK(t.channel_raw == NULL && t.sql_listen == NULL);
	CHECK(db_notify_trigger_problem(&trg, &t, tbuf, sizeof(tbuf)) == NULL);
	db_table_clear(&t);
	config_free(cfg);
	return check_done();
}
