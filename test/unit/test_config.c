/* Unit tests of config.c: defaults, every kind of rejection, and messages naming the key. */
#include <stdlib.h>

#include "check.h"
#include "snk/config.h"

static const char *parse_err(const char *json)
{
	static char err[1024];
	struct snk_config *cfg = NULL;

	err[0] = '\0';
	if (config_parse(json, "t.json", &cfg, err, sizeof(err)) == CONFIG_OK) {
		config_free(cfg);
		return NULL;
	}
	CHECK(cfg == NULL);
	return err;
}

#define DBS "\"databases\": {\"a\": \"dbname=a\", \"b\": \"dbname=b\"}"

int main(void)
{
	struct snk_config *cfg = NULL;
	char err[1024];

	CHECK(config_parse("{" DBS "}", "t.json", &cfg, err, sizeof(err)) == CONFIG_OK);
	CHECK_STR(cfg->conninfo[0], "dbname=a");
	CHECK_STR(cfg->table, "records");
	CHECK_STR(cfg->schema, "public");
	CHECK_STR(cfg->id_column, "id");
	CHECK_STR(cfg->data_column, "data");
	CHECK_STR(cfg->notify_channel, "snk_records");
	CHECK(cfg->poll_interval_ms == 250);
	CHECK(cfg->batch_rows == 5000);
	CHECK(cfg->max_batches_in_flight == 4);
	CHECK(cfg->write_connections == 2);
	CHECK(cfg->log_level == LOG_INFO);
	CHECK(cfg->log_format == LOG_FORMAT_TEXT);
	CHECK_STR(cfg->insert_mode, "optimistic");
	CHECK_STR(cfg->xid_index, "brin");
	CHECK(cfg->batch_max_bytes == 4194304);
	CHECK(cfg->control_socket && cfg->control_socket[0]);
	config_free(cfg);

	CHECK(config_parse("{" DBS ", \"table\": \"T\", \"poll_interval_ms\": 5, \"log_level\": \"debug\","
			   " \"log_format\": \"json\","
			   " \"notify_channel\": \"\", \"control_socket\": \"/tmp/x.sock\"}",
			   "t.json", &cfg, err, sizeof(err)) == CONFIG_OK);
	CHECK_STR(cfg->table, "T");
	CHECK(cfg->poll_interval_ms == 5);
	CHECK(cfg->log_level == LOG_DEBUG);
	CHECK(cfg->log_format == LOG_FORMAT_JSON);
	CHECK_STR(cfg->notify_channel, "");
	CHECK_STR(cfg->control_socket, "/tmp/x.sock");
	config_free(cfg);

	CHECK_CONTAINS(parse_err("{"), "t.json: not valid JSON");
	CHECK_CONTAINS(parse_err("[]"), "must hold one JSON object");
	CHECK_CONTAINS(parse_err("{}"), "databases: missing");
	CHECK_CONTAINS(parse_err("{\"databases\": 1}"), "databases: must be an object");
	CHECK_CONTAINS(parse_err("{\"databases\": {\"a\": \"x\"}}"), "databases.b: missing");
	CHECK_CONTAINS(parse_err("{\"databases\": {\"a\": \"x\", \"b\": \"\"}}"), "databases.b: must be a non-empty string");
	CHECK_CONTAINS(parse_err("{\"databases\": {\"a\": \"x\", \"b\": \"y\", \"c\": \"z\"}}"), "databases.c: unknown key");
	CHECK_CONTAINS(parse_err("{\"databases\": {\"a\": \"x\", \"b\": \"x\"}}"), "same connection string");
	/* A malformed conninfo is refused without echoing it: it may hold the password. */
	CHECK_CONTAINS(parse_err("{\"databases\": {\"a\": \"host=h password horse-battery\", \"b\": \"y\"}}"),
		       "databases.a: not a valid libpq connection string or URI: a keyword is not followed by '='");
	CHECK(strstr(parse_err("{\"databases\": {\"a\": \"host=h password horse-battery\", \"b\": \"y\"}}"),
		     "horse") == NULL);
	CHECK_CONTAINS(parse_err("{\"databases\": {\"a\": \"x\", \"b\": \"postgresql://u:hunter2%zz@h/d\"}}"),
		       "databases.b: not a valid libpq connection string or URI: a %-escape in the URI is not two hex digits");
	CHECK(strstr(parse_err("{\"databases\": {\"a\": \"x\", \"b\": \"postgresql://u:hunter2%zz@h/d\"}}"),
		     "hunter2") == NULL);
	CHECK(strstr(parse_err("{\"databases\": {\"a\": \"password='hunter2\", \"b\": \"y\"}}"), "hunter2") == NULL);
	CHECK_CONTAINS(parse_err("{\"databases\": {\"a\": \"password='hunter2\", \"b\": \"y\"}}"),
		       "a quoted value is not closed");
	CHECK_CONTAINS(parse_err("{" DBS ", \"nope\": 1}"), "t.json: nope: unknown key");
	CHECK_CONTAINS(parse_err("{" DBS ", \"table\": 5}"), "table: must be a string");
	CHECK_CONTAINS(parse_err("{" DBS ", \"table\": \"\"}"), "table: must be 1..63 bytes");
	CHECK_CONTAINS(parse_err("{" DBS ", \"table\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"),
		       "table: must be 1..63 bytes");
	CHECK_CONTAINS(parse_err("{" DBS ", \"batch_rows\": 0}"), "batch_rows: must be a whole number in 1..100000");
	CHECK_CONTAINS(parse_err("{" DBS ", \"batch_rows\": 1.5}"), "batch_rows: must be a whole number");
	CHECK_CONTAINS(parse_err("{" DBS ", \"batch_rows\": 1e300}"), "batch_rows: must be a whole number");
	CHECK_CONTAINS(parse_err("{" DBS ", \"batch_rows\": -1e300}"), "batch_rows: must be a whole number");
	CHECK_CONTAINS(parse_err("{" DBS ", \"batch_rows\": \"5\"}"), "batch_rows: must be a whole number");
	CHECK_CONTAINS(parse_err("{" DBS ", \"poll_interval_ms\": true}"), "poll_interval_ms: must be a whole number");
	CHECK_CONTAINS(parse_err("{" DBS ", \"write_connections\": 0}"), "write_connections: must be a whole number in 1..8");
	CHECK_CONTAINS(parse_err("{" DBS ", \"write_connections\": 9}"), "write_connections: must be a whole number in 1..8");
	CHECK_CONTAINS(parse_err("{" DBS ", \"log_level\": \"loud\"}"), "log_level: must be one of");
	CHECK_CONTAINS(parse_err("{" DBS ", \"log_format\": \"xml\"}"), "log_format: must be \"text\" or \"json\"");
	CHECK_CONTAINS(parse_err("{" DBS ", \"insert_mode\": \"fast\"}"), "insert_mode: must be \"optimistic\" or \"on_conflict\"");
	CHECK_CONTAINS(parse_err("{" DBS ", \"xid_index\": \"hash\"}"), "xid_index: must be \"brin\" or \"btree\"");
	CHECK_CONTAINS(parse_err("{" DBS ", \"id_column\": \"x\", \"data_column\": \"x\"}"), "data_column: must differ");
	CHECK_CONTAINS(parse_err("{" DBS ", \"data_column\": \"snk_xid\"}"), "snk_xid is the column snk adds");
	CHECK_CONTAINS(parse_err("{" DBS ", \"table\": \"a\", \"table\": \"b\"}"), "table: given twice");
	CHECK_CONTAINS(parse_err("{" DBS ", \"notify_channel\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"),
		       "notify_channel: must be at most 63 bytes");
	CHECK_CONTAINS(parse_err("{" DBS ", \"control_socket\": \"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"),
		       "control_socket: path must be shorter");

	CHECK(config_load("/nonexistent/snk.json", &cfg, err, sizeof(err)) == CONFIG_UNREADABLE);
	CHECK_CONTAINS(err, "/nonexistent/snk.json: cannot open config file");
	CHECK(config_load("/", &cfg, err, sizeof(err)) == CONFIG_UNREADABLE);
	return check_done();
}
