/* Unit tests of the pure parts of db.c: identifier quoting (SQL injection through a
 * table or column name must be impossible), statements built from the config, and the
 * schema problem messages. */
#include <stdlib.h>

#include "check.h"
#include "snk/db.h"

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
	CHECK_CONTAINS(t.sql_window[SNK_XID_INT8], "SELECT \"Id\", CASE WHEN pg_catalog.octet_length(\"d d\") > $3::int4"
						   " THEN NULL ELSE \"d d\" END, pg_catalog.octet_length(\"d d\")::int8,");
	/* Rows ahead of the counter: left out of the first arm, found (and marked) by the second. */
	CHECK_CONTAINS(t.sql_window[SNK_XID_INT8], " FROM \"s\"\"x\".\"T\" WHERE (snk_xid >= $1::int8 AND snk_xid <"
						   " (SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::int8))"
						   " OR (snk_xid >= (SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::int8)"
						   " AND $4::bool) OR snk_xid = ANY (ARRAY(SELECT x::text::int8 FROM");
	CHECK_CONTAINS(t.sql_window[SNK_XID_INT8], "CASE WHEN snk_xid >= (SELECT pg_catalog.pg_snapshot_xmax(");
	CHECK_CONTAINS(t.sql_window[SNK_XID_INT8], "pg_visible_in_snapshot(x, pg_catalog.pg_current_snapshot())");
	CHECK_CONTAINS(t.sql_window[SNK_XID_XID8], "WHERE (snk_xid >= $1::xid8 AND snk_xid <"
						   " (SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())))");
	CHECK_CONTAINS(t.sql_window[SNK_XID_XID8], "AND $4::bool) OR snk_xid = ANY (ARRAY(SELECT x::text::xid8");
	CHECK_CONTAINS(t.sql_fetch_large, "SELECT \"Id\", \"d d\" FROM \"s\"\"x\".\"T\" WHERE \"Id\" = ANY ($1::uuid[])");
	CHECK_CONTAINS(t.sql_insert, "ON CONFLICT (\"Id\") DO NOTHING");
	CHECK_CONTAINS(t.sql_insert, "SELECT u.id, u.data, NULL FROM");
	CHECK_STR(t.sql_listen, "LISTEN \"snk_records\"");
	CHECK_STR(t.index_spec, "USING brin (snk_xid) WITH (pages_per_range = 32)");

	struct snk_schema_info info = { .table_exists = true, .id_type = "uuid", .data_type = "text",
					.has_xid_column = true, .has_unique_id = true, .has_xid_index = true,
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
	info.has_unique_id = false;
	CHECK_CONTAINS(db_schema_problem(&info, &t, true, buf, sizeof(buf)), "no unique index on Id alone");
	snprintf(info.data_type, sizeof(info.data_type), "integer");
	CHECK_CONTAINS(db_schema_problem(&info, &t, true, buf, sizeof(buf)), "is integer; snk needs text or varchar");
	snprintf(info.id_type, sizeof(info.id_type), "bigint");
	CHECK_CONTAINS(db_schema_problem(&info, &t, true, buf, sizeof(buf)), "is bigint; snk needs uuid");
	info.id_type[0] = '\0';
	CHECK_CONTAINS(db_schema_problem(&info, &t, true, buf, sizeof(buf)), "has no column Id");
	CHECK_CONTAINS(db_table_problem(&info, &t, buf, sizeof(buf)), "has no column Id");
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
	trg.enabled = false;
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
