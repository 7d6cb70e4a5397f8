/* Unit tests of config.c: defaults, every kind of rejection, and messages naming the key. */
#include <stdlib.h>
#include <unistd.h>

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

static void test_paths(void)
{
	char out[256];
	struct snk_config *cfg = NULL;
	char err[1024];

	/* Relative to the config file's directory; absolute and bare names untouched. */
	CHECK(config_resolve_path("/etc/snk/config.json", "snk.sock", out, sizeof(out)));
	CHECK_STR(out, "/etc/snk/snk.sock");
	CHECK(config_resolve_path("sub/dir/c.json", "run/snk.sock", out, sizeof(out)));
	CHECK_STR(out, "sub/dir/run/snk.sock");
	CHECK(config_resolve_path("sub/c.json", "/abs/snk.sock", out, sizeof(out)));
	CHECK_STR(out, "/abs/snk.sock");
	CHECK(config_resolve_path("c.json", "snk.sock", out, sizeof(out)));
	CHECK_STR(out, "snk.sock");
	CHECK(!config_resolve_path("/a/very/long/dir/c.json", "snk.sock", out, 10));
	CHECK(config_parse("{" DBS ", \"control_socket\": \"s/snk.sock\"}", "/srv/x/c.json", &cfg, err,
			   sizeof(err)) == CONFIG_OK);
	CHECK_STR(cfg->control_socket, "/srv/x/s/snk.sock");
	CHECK_STR(cfg->path, "/srv/x/c.json");
	config_free(cfg);

	/* The default: systemd's directory, else /run/snk when it exists (an operator in
	 * group snk) or for root, else the working directory. */
	config_default_socket_for("/run/snk:/run/other", false, false, out, sizeof(out));
	CHECK_STR(out, "/run/snk/snk.sock");
	config_default_socket_for("/tmp/rt", true, true, out, sizeof(out));
	CHECK_STR(out, "/tmp/rt/snk.sock");
	config_default_socket_for(NULL, true, false, out, sizeof(out));
	CHECK_STR(out, "/run/snk/snk.sock");
	config_default_socket_for("", false, true, out, sizeof(out));
	CHECK_STR(out, "/run/snk/snk.sock");
	config_default_socket_for(NULL, false, false, out, sizeof(out));
	CHECK_STR(out, "./snk.sock");
}

/* read_socket: config_read_socket on text written to dir/c.json; its error in err. */
static enum config_status read_socket(const char *dir, const char *text, char *out, size_t outlen,
				      char *err, size_t errlen)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/c.json", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return CONFIG_UNREADABLE;
	fputs(text, f);
	fclose(f);
	out[0] = err[0] = '\0';
	return config_read_socket(path, out, outlen, err, errlen);
}

static void test_read_socket(void)
{
	char dir[] = "/tmp/snk-test-config-XXXXXX", want[256], dflt[256], out[256], err[1024];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(want, sizeof(want), "%s/run/snk.sock", dir);
	config_default_socket(dflt, sizeof(dflt));
	/* Other keys wrong or unknown: the socket is still found, relative to the file. */
	CHECK(read_socket(dir, "{\"batch_rows\": -5, \"databases\": {\"a\": [1, {\"x\": \"}\"}]}, \"nokey\": null,"
			  " \"control_socket\": \"run/snk.sock\"}", out, sizeof(out), err, sizeof(err)) == CONFIG_OK);
	CHECK_STR(out, want);
	/* Cut off, or junk, after control_socket. */
	CHECK(read_socket(dir, "{\"control_socket\": \"run/snk.sock\", \"databases\": {\"a\": \"host=",
			  out, sizeof(out), err, sizeof(err)) == CONFIG_OK);
	CHECK_STR(out, want);
	CHECK(read_socket(dir, "{\"control_socket\": \"run/snk.sock\"} trailing ,,, junk", out, sizeof(out), err,
			  sizeof(err)) == CONFIG_OK);
	CHECK_STR(out, want);
	/* Escapes in the key and the value are decoded as JSON does. */
	CHECK(read_socket(dir, "{\"control\\u005fsocket\": \"/x\\/y.sock\"}", out, sizeof(out), err, sizeof(err)) ==
	      CONFIG_OK);
	CHECK_STR(out, "/x/y.sock");
	/* A whole object without the key, or with "": the default, as the daemon uses. */
	CHECK(read_socket(dir, " {\"table\": \"t\", \"poll_interval_ms\": 1e3}\n", out, sizeof(out), err,
			  sizeof(err)) == CONFIG_OK);
	CHECK_STR(out, dflt);
	CHECK(read_socket(dir, "{\"control_socket\": \"\"}", out, sizeof(out), err, sizeof(err)) == CONFIG_OK);
	CHECK_STR(out, dflt);
	/* Broken before the key is found: nothing is guessed; the line is named. */
	CHECK(read_socket(dir, "{\n\"table\": \"t\",\n\"databases\": {\"a\": ", out, sizeof(out), err,
			  sizeof(err)) == CONFIG_INVALID);
	CHECK_CONTAINS(err, "no control_socket found");
	CHECK_CONTAINS(err, "near line 3");
	CHECK_CONTAINS(err, "-s");
	CHECK(read_socket(dir, "{\"table\" \"t\", \"control_socket\": \"/s\"}", out, sizeof(out), err,
			  sizeof(err)) == CONFIG_INVALID);
	CHECK(read_socket(dir, "[\"control_socket\", \"/s\"]", out, sizeof(out), err, sizeof(err)) ==
	      CONFIG_INVALID);
	CHECK(read_socket(dir, "", out, sizeof(out), err, sizeof(err)) == CONFIG_INVALID);
	/* A value the daemon would refuse too. */
	CHECK(read_socket(dir, "{\"control_socket\": 5}", out, sizeof(out), err, sizeof(err)) == CONFIG_INVALID);
	CHECK(config_read_socket("/nonexistent/c.json", out, sizeof(out), err, sizeof(err)) == CONFIG_UNREADABLE);
	snprintf(out, sizeof(out), "%s/c.json", dir);
	unlink(out);
	rmdir(dir);
}

/* "tables": names, quoted parts, wildcards, objects with a key; and what is refused. */
static void test_tables(void)
{
	struct snk_config *cfg = NULL;
	char err[1024];
	char *schema, *table;
	bool wild;

	/* without "tables": the one table of "schema", "table", "key" */
	CHECK(config_parse("{" DBS ", \"schema\": \"s\", \"table\": \"t\", \"key\": [\"a\"]}", "t.json", &cfg, err,
			   sizeof(err)) == CONFIG_OK);
	CHECK(cfg->ntables == 1);
	CHECK_STR(cfg->tables[0].schema, "s");
	CHECK_STR(cfg->tables[0].table, "t");
	CHECK(cfg->tables[0].nkey == 1 && !cfg->tables[0].wildcard);
	CHECK_STR(cfg->tables[0].key[0], "a");
	config_free(cfg);
	CHECK(config_parse("{" DBS ", \"schema\": \"app\", \"tables\": [\"public.orders\", \"lines\","
			   " {\"table\": \"\\\"My.Schema\\\".\\\"T \\\"\\\"1\\\"\", \"key\": [\"x\", \"y\"]}, \"arch.*\"]}",
			   "t.json", &cfg, err, sizeof(err)) == CONFIG_OK);
	CHECK(cfg->ntables == 4);
	CHECK_STR(cfg->tables[0].schema, "public");
	CHECK_STR(cfg->tables[0].table, "orders");
	CHECK_STR(cfg->tables[1].schema, "app"); /* no dot: the "schema" key's */
	CHECK_STR(cfg->tables[1].table, "lines");
	CHECK_STR(cfg->tables[2].schema, "My.Schema");
	CHECK_STR(cfg->tables[2].table, "T \"1");
	CHECK(cfg->tables[2].nkey == 2);
	CHECK(cfg->tables[3].wildcard);
	CHECK_STR(cfg->tables[3].schema, "arch");
	config_free(cfg);

	CHECK(config_parse_table_name("a.\"*\"", "public", &schema, &table, &wild));
	CHECK(!wild); /* a quoted star is a table named * */
	free(schema);
	free(table);
	CHECK(!config_parse_table_name("a.b.c", "public", &schema, &table, &wild));
	CHECK(!config_parse_table_name("a.", "public", &schema, &table, &wild));
	CHECK(!config_parse_table_name("\"a", "public", &schema, &table, &wild));
	CHECK(!config_parse_table_name("", "public", &schema, &table, &wild));

	CHECK_CONTAINS(parse_err("{" DBS ", \"tables\": []}"), "tables: must be an array of 1..1000 table names");
	CHECK_CONTAINS(parse_err("{" DBS ", \"tables\": \"public.t\"}"), "tables: must be an array");
	CHECK_CONTAINS(parse_err("{" DBS ", \"tables\": [\"a.b.c\"]}"), "tables[0]: \"a.b.c\" is not a table name");
	CHECK_CONTAINS(parse_err("{" DBS ", \"tables\": [\"t\", \"public.t\"]}"), "tables[1].key: public.t is listed twice");
	CHECK_CONTAINS(parse_err("{" DBS ", \"tables\": [1]}"), "tables[0]: must be a string");
	CHECK_CONTAINS(parse_err("{" DBS ", \"tables\": [{\"table\": \"t\", \"keys\": []}]}"),
		       "tables[0].keys: unknown key");
	CHECK_CONTAINS(parse_err("{" DBS ", \"tables\": [{\"table\": \"s.*\", \"key\": [\"a\"]}]}"),
		       "a \"schema.*\" entry takes no key");
	CHECK_CONTAINS(parse_err("{" DBS ", \"tables\": [{\"table\": \"t\", \"key\": [\"a\", \"a\"]}]}"),
		       "tables[0].key: column a given twice");
	CHECK_CONTAINS(parse_err("{" DBS ", \"tables\": [\"t\"], \"table\": \"u\"}"), "give either \"tables\" or \"table\"");
	CHECK_CONTAINS(parse_err("{" DBS ", \"tables\": [\"t\"], \"key\": [\"a\"]}"), "give either \"tables\" or \"table\"");
}

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
	CHECK(cfg->lease_timeout_ms == 10000);
	CHECK(cfg->log_level == LOG_INFO);
	CHECK(cfg->log_format == LOG_FORMAT_TEXT);
	CHECK_STR(cfg->insert_mode, "optimistic");
	CHECK_STR(cfg->xid_index, "brin");
	CHECK_STR(cfg->synchronous_commit, "on");
	CHECK(cfg->batch_max_bytes == 4194304);
	CHECK(cfg->control_socket && cfg->control_socket[0]);
	CHECK(cfg->nkey == 0 && cfg->key == NULL);
	config_free(cfg);

	/* "key": the columns of the unique index that is the key, in order. */
	CHECK(config_parse("{" DBS ", \"key\": [\"tenant_id\", \"Order No\"]}", "t.json", &cfg, err, sizeof(err)) ==
	      CONFIG_OK);
	CHECK(cfg->nkey == 2);
	CHECK_STR(cfg->key[0], "tenant_id");
	CHECK_STR(cfg->key[1], "Order No");
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
	CHECK_CONTAINS(parse_err("{\"databases\": {\"a\": \"x\", \"b\": \"y\", \"c\": \"z\", \"d\": \"4\", \"e\": \"5\","
				 " \"f\": \"6\", \"g\": \"7\", \"h\": \"8\", \"i\": \"9\"}}"),
		       "databases: more than 8; snk syncs 2 to 8 databases");
	CHECK_CONTAINS(parse_err("{\"databases\": {\"a\": \"x\", \"b\": \"y\", \"c\": \"y\"}}"),
		       "databases: b and c are the same connection string");
	CHECK_CONTAINS(parse_err("{\"databases\": {\"eu\": \"x\"}}"), "databases: 1 given");
	CHECK_CONTAINS(parse_err("{\"databases\": {}}"), "databases: 0 given");
	CHECK_CONTAINS(parse_err("{\"databases\": {\"a\": \"x\", \"b\": \"x\"}}"), "a and b are the same connection string");
	/* Names: what logs, status, metrics and direction names ("eu_to_us") can carry. */
	for (int i = 0; i < 10; i++) {
		static const char *const bad[10] = { "EU", "1a", "a-b", "a__b", "b_", "to", "to_x", "x_to_y", "x_to",
						     "sixteen_chars_xx" };
		char text[256];

		snprintf(text, sizeof(text), "{\"databases\": {\"%s\": \"x\", \"b\": \"y\"}}", bad[i]);
		CHECK_CONTAINS(parse_err(text), "not a database name");
	}
	CHECK(config_db_name_ok("tokyo_2", 7) && config_db_name_ok("a_to_b", 1) && !config_db_name_ok("a_to_b", 6));
	cfg = NULL;
	CHECK(config_parse("{\"databases\": {\"us_east\": \"dbname=x\", \"eu2\": \"dbname=y\"}}", "t.json", &cfg, err,
			   sizeof(err)) == CONFIG_OK);
	/* sorted by name, whatever the file's order: the lock order must not depend on it */
	CHECK(cfg && cfg->ndb == 2 && strcmp(cfg->db_name[0], "eu2") == 0 && strcmp(cfg->db_name[1], "us_east") == 0 &&
	      strcmp(cfg->conninfo[0], "dbname=y") == 0 && strcmp(cfg->conninfo[1], "dbname=x") == 0);
	config_free(cfg);
	cfg = NULL;
	CHECK(config_parse("{\"databases\": {\"eu\": \"dbname=x\", \"us\": \"dbname=y\", \"ap\": \"dbname=z\"}}", "t.json",
			   &cfg, err, sizeof(err)) == CONFIG_OK);
	CHECK(cfg && cfg->ndb == 3 && strcmp(cfg->db_name[0], "ap") == 0 && strcmp(cfg->conninfo[0], "dbname=z") == 0 &&
	      strcmp(cfg->db_name[2], "us") == 0);
	config_free(cfg);
	cfg = NULL;
	CHECK(config_parse("{\"databases\": {\"b\": \"dbname=y\", \"a\": \"dbname=x\"}}", "t.json", &cfg, err, sizeof(err)) ==
	      CONFIG_OK);
	CHECK(cfg && strcmp(cfg->db_name[0], "a") == 0 && strcmp(cfg->conninfo[0], "dbname=x") == 0);
	config_free(cfg);
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
	CHECK_CONTAINS(parse_err("{" DBS ", \"key\": \"id\"}"), "key: must be an array of 1..32 column names");
	CHECK_CONTAINS(parse_err("{" DBS ", \"key\": []}"), "key: must be an array of 1..32 column names");
	CHECK_CONTAINS(parse_err("{" DBS ", \"key\": [\"a\", 5]}"), "key: each column name must be a string");
	CHECK_CONTAINS(parse_err("{" DBS ", \"key\": [\"a\", \"a\"]}"), "key: column a given twice");
	CHECK_CONTAINS(parse_err("{" DBS ", \"key\": [\"snk_xid\"]}"), "key: snk_xid is the column snk adds");
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
	/* the take-over bound after a freeze is lease_timeout_ms + about 1 s: at most 30 s */
	CHECK_CONTAINS(parse_err("{" DBS ", \"lease_timeout_ms\": 25001}"), "lease_timeout_ms: must be a whole number in 2000..25000");
	CHECK_CONTAINS(parse_err("{" DBS ", \"lease_timeout_ms\": 1999}"), "lease_timeout_ms: must be a whole number in 2000..25000");
	CHECK_CONTAINS(parse_err("{" DBS ", \"log_level\": \"loud\"}"), "log_level: must be one of");
	CHECK_CONTAINS(parse_err("{" DBS ", \"log_format\": \"xml\"}"), "log_format: must be \"text\" or \"json\"");
	CHECK_CONTAINS(parse_err("{" DBS ", \"insert_mode\": \"fast\"}"), "insert_mode: must be \"optimistic\" or \"on_conflict\"");
	CHECK_CONTAINS(parse_err("{" DBS ", \"xid_index\": \"hash\"}"), "xid_index: must be \"brin\" or \"btree\"");
	CHECK_CONTAINS(parse_err("{" DBS ", \"synchronous_commit\": \"local\"}"),
		       "synchronous_commit: must be \"on\" or \"off\"");
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
	test_paths();
	test_tables();
	test_read_socket();
	return check_done();
}
