/* config.h - the immutable configuration, read from one JSON file. */
#ifndef SNK_CONFIG_H
#define SNK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "snk/log.h"

enum { SNK_DB_A = 0, SNK_DB_B = 1 };

/* "databases" names 2 to SNK_DB_MAX databases; a name is at most SNK_DB_NAME_MAX bytes. */
#define SNK_DB_MAX 8
#define SNK_DB_NAME_MAX 15

#define SNK_TABLES_MAX 1000

/* One entry of "tables" (or the one table of "schema", "table" and "key"). */
struct snk_table_spec {
	char *schema;           /* owned */
	char *table;            /* owned */
	char **key;             /* owned: [nkey] the "key" columns, NULL when not set */
	int nkey;
	bool wildcard;          /* "schema.*": every table of schema with a usable key */
};

struct snk_config {
	char *path;             /* owned: the file it was read from (config_parse's name) */
	int ndb;                /* databases, 2..SNK_DB_MAX, sorted by name (the lock order) */
	char *db_name[SNK_DB_MAX]; /* owned: [ndb] their names ("a", "b", or the user's "eu", ...) */
	char *conninfo[SNK_DB_MAX]; /* owned: [ndb] libpq conninfo or URI of each */
	char *schema;           /* owned: schema of the table */
	char *table;            /* owned: table name */
	char *id_column;        /* owned: uuid key of the default table `snk migrate` creates */
	char *data_column;      /* owned: text column */
	char **key;             /* owned: [nkey] the "key" columns, NULL when not set */
	int nkey;
	struct snk_table_spec *tables; /* owned: [ntables], at least one; wildcards not resolved */
	int ntables;
	char *notify_channel;   /* owned: LISTEN channel, "" for timer only */
	char *control_socket;   /* owned: unix socket path */
	char *log_level_name;   /* owned */
	char *log_format_name;  /* owned: "text" or "json" */
	char *metrics_listen;   /* owned: "host:port" for /metrics and /healthz, "" for none */
	char *insert_mode;      /* owned: "optimistic" or "on_conflict" */
	char *xid_index;        /* owned: index `snk migrate` creates on snk_xid: "brin" or "btree" */
	char *synchronous_commit; /* owned: "on": snk's commits wait for the WAL flush; "off": not */
	enum log_level log_level;
	enum log_format log_format;
	int poll_interval_ms;
	int batch_rows;
	int batch_max_bytes;
	int max_batches_in_flight;
	int write_connections;  /* sessions inserting into each database (the first holds the lock) */
	int reconnect_max_ms;
	int healthz_max_lag_ms;
	int reconcile_interval_s; /* a full reconcile this often; 0: only when owed or asked for */
	int lease_timeout_ms;   /* a lock session silent this long is ended by its server */
};

enum config_status { CONFIG_OK, CONFIG_UNREADABLE, CONFIG_INVALID };

/* config_load: reads and validates path into a new config (*out, owned by the caller).
 * On failure *out is NULL and err holds one line naming the file and key. */
enum config_status config_load(const char *path, struct snk_config **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* config_parse: the same from JSON text; name is the file's path, used in messages and to
 * resolve relative paths (control_socket) against the file's directory. */
enum config_status config_parse(const char *text, const char *name, struct snk_config **out,
				char *err, size_t errlen) __attribute__((warn_unused_result));

/* config_default_socket: the control socket path used when the config names none:
 * $RUNTIME_DIRECTORY/snk.sock, else /run/snk/snk.sock when /run/snk exists or for root,
 * else ./snk.sock. */
void config_default_socket(char *buf, size_t len);
/* config_db_name_ok: whether n[0..len) may name a database. A name shows in logs, status,
 * metrics and direction names ("eu_to_us"): a lowercase letter, then lowercase letters,
 * digits and single underscores, no component "to" (a direction's name splits one way),
 * at most SNK_DB_NAME_MAX bytes. */
bool config_db_name_ok(const char *n, size_t len);

/* config_default_socket_for: the same decision from its inputs (unit tests). */
void config_default_socket_for(const char *runtime_dir, bool run_snk_exists, bool root, char *buf,
			       size_t len);

/* config_resolve_path: value as seen from the working directory when it is written
 * relative to the directory of config_path; false when it does not fit outlen. */
bool config_resolve_path(const char *config_path, const char *value, char *out, size_t outlen)
	__attribute__((warn_unused_result));

/* config_read_socket: the control socket path that the config at path gives, read without
 * validating anything else (snkctl): a config with other keys wrong, or cut off or broken
 * after control_socket, still gives it. A config without the key gives the default. */
enum config_status config_read_socket(const char *path, char *out, size_t outlen, char *err,
				      size_t errlen) __attribute__((warn_unused_result));

/* config_same_key: whether the two configs give the same "key". */
bool config_same_key(const struct snk_config *a, const struct snk_config *b);
/* config_same_database_names: the same names in "databases" (sorted, so in the same order). */
bool config_same_database_names(const struct snk_config *a, const struct snk_config *b);

/* config_parse_table_name: "schema.table", "table" (in default_schema) or "schema.*"; a part
 * may be double-quoted. Owned strings in *schema and *table; false when it is no name. */
bool config_parse_table_name(const char *text, const char *default_schema, char **schema, char **table,
			     bool *wildcard) __attribute__((warn_unused_result));
void config_free_tables(struct snk_table_spec *tables, int n);
/* config_same_tables: the same tables, in the same order, with the same keys. */
bool config_same_tables(const struct snk_config *a, const struct snk_config *b);
void config_free(struct snk_config *cfg);

#endif
