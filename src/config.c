/* config.c - the only cJSON reader of the configuration file.
 *
 * Every key is described once in a table (name, type, bounds, default); unknown
 * keys are rejected, and fields that must agree are checked together. A config is
 * never changed after it is built: a reload builds a new one.
 */
#include "snk/config.h"

#include "snk/conninfo.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_BYTES 63 /* PostgreSQL's NAMEDATALEN - 1 */
#define CONFIG_MAX_BYTES (1024 * 1024)

enum key_type { KEY_STRING, KEY_INT, KEY_IDENT };

struct key_desc {
	const char *name;
	enum key_type type;
	size_t offset;
	long min, max;          /* KEY_INT bounds, or string length bounds */
	const char *def_string; /* NULL: required (strings) */
	long def_int;
};

#define STR(field, minlen, def) { #field, KEY_STRING, offsetof(struct snk_config, field), minlen, 4096, def, 0 }
#define IDENT(field, def) { #field, KEY_IDENT, offsetof(struct snk_config, field), 1, NAME_MAX_BYTES, def, 0 }
#define INT(field, lo, hi, def) { #field, KEY_INT, offsetof(struct snk_config, field), lo, hi, NULL, def }

static const struct key_desc keys[] = {
	IDENT(schema, "public"),
	IDENT(table, "records"),
	IDENT(id_column, "id"),
	IDENT(data_column, "data"),
	STR(notify_channel, 0, "snk_records"),
	STR(control_socket, 0, ""), /* "": the default path */
	{ "log_level", KEY_STRING, offsetof(struct snk_config, log_level_name), 1, 16, "info", 0 },
	/* reloadable, like log_level: a SIGHUP switches every later line */
	{ "log_format", KEY_STRING, offsetof(struct snk_config, log_format_name), 1, 16, "text", 0 },
	INT(poll_interval_ms, 1, 3600000, 250),
	INT(batch_rows, 1, 100000, 5000),
	INT(batch_max_bytes, 65536, 1073741824, 4194304),
	INT(max_batches_in_flight, 1, 64, 4),
	INT(write_connections, 1, 8, 2),
	INT(reconnect_max_ms, 100, 600000, 10000),
	STR(metrics_listen, 0, ""),
	STR(insert_mode, 1, "optimistic"),
	STR(xid_index, 1, "brin"),
	STR(synchronous_commit, 1, "on"),
	INT(healthz_max_lag_ms, 1, 86400000, 10000),
	INT(reconcile_interval_s, 0, 31536000, 0), /* 0: only when owed or asked for */
	INT(lease_timeout_ms, 2000, 25000, 10000),
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void config_default_socket_for(const char *runtime_dir, bool run_snk_exists, bool root, char *buf,
			       size_t len)
{
	if (runtime_dir && *runtime_dir) {
		/* systemd may list several directories separated by ':'; use the first. */
		size_t n = strcspn(runtime_dir, ":");
		snprintf(buf, len, "%.*s/snk.sock", (int)n, runtime_dir);
	} else if (run_snk_exists || root) {
		/* Where the unit's RuntimeDirectory= puts it: an operator in group snk, who has no
		 * RUNTIME_DIRECTORY, finds the service's socket there too. */
		snprintf(buf, len, "/run/snk/snk.sock");
	} else {
		snprintf(buf, len, "./snk.sock");
	}
}

void config_default_socket(char *buf, size_t len)
{
	struct stat st;
	bool run_snk = stat("/run/snk", &st) == 0 && S_ISDIR(st.st_mode);

	config_default_socket_for(getenv("RUNTIME_DIRECTORY"), run_snk, geteuid() == 0, buf, len);
}

bool config_resolve_path(const char *config_path, const char *value, char *out, size_t outlen)
{
	const char *slash = strrchr(config_path, '/');
	int n;

	/* A config without a directory part is in the working directory already. */
	if (value[0] == '/' || value[0] == '\0' || !slash)
		n = snprintf(out, outlen, "%s", value);
	else
		n = snprintf(out, outlen, "%.*s%s", (int)(slash - config_path + 1), config_path,
			     value);
	return n >= 0 && (size_t)n < outlen;
}

/* The control socket's path from the config's value: "" is the default, a relative path
 * is relative to the config file's directory, as the daemon and snkctl both see it. */
static bool socket_path(const char *value, const char *config_path, char *out, size_t outlen,
			char *err, size_t errlen)
{
	if (value[0] == '\0') {
		config_default_socket(out, outlen);
	} else if (!config_resolve_path(config_path, value, out, outlen)) {
		set_err(err, errlen, "%s: control_socket: path too long", config_path);
		return false;
	}
	if (strlen(out) >= 108) { /* sizeof(sun_path) */
		set_err(err, errlen, "%s: control_socket: path must be shorter than 108 bytes (%s)",
			config_path, out);
		return false;
	}
	return true;
}

/* Whether two lists of strings are the same, in the same order. */
static bool same_strings(char *const *a, int na, char *const *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++) {
		if (strcmp(a[i], b[i]) != 0)
			return false;
	}
	return true;
}

bool config_same_key(const struct snk_config *a, const struct snk_config *b)
{
	return same_strings(a->key, a->nkey, b->key, b->nkey);
}

bool config_same_database_names(const struct snk_config *a, const struct snk_config *b)
{
	return same_strings(a->db_name, a->ndb, b->db_name, b->ndb);
}

bool config_same_tables(const struct snk_config *a, const struct snk_config *b)
{
	if (a->ntables != b->ntables)
		return false;
	for (int i = 0; i < a->ntables; i++) {
		const struct snk_table_spec *x = &a->tables[i], *y = &b->tables[i];

		if (strcmp(x->schema, y->schema) || strcmp(x->table, y->table) || x->wildcard != y->wildcard ||
		    !same_strings(x->key, x->nkey, y->key, y->nkey))
			return false;
	}
	return true;
}

void config_free_tables(struct snk_table_spec *tables, int n)
{
	for (int i = 0; tables && i < n; i++) {
		free(tables[i].schema);
		free(tables[i].table);
		for (int k = 0; k < tables[i].nkey; k++)
			free(tables[i].key[k]);
		free(tables[i].key);
	}
	free(tables);
}

void config_free(struct snk_config *cfg)
{
	if (!cfg)
		return;
	for (int i = 0; i < cfg->ndb; i++) {
		free(cfg->db_name[i]);
		free(cfg->conninfo[i]);
	}
	free(cfg->path);
	for (int i = 0; i < cfg->nkey; i++)
		free(cfg->key[i]);
	free(cfg->key);
	config_free_tables(cfg->tables, cfg->ntables);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].type != KEY_INT)
			free(*(char **)((char *)cfg + keys[i].offset));
	}
	free(cfg);
}

static bool read_key(const struct key_desc *k, const cJSON *item, struct snk_config *cfg,
		     const char *name, char *err, size_t errlen)
{
	void *field = (char *)cfg + k->offset;

	if (k->type == KEY_INT) {
		double v;

		if (item && !cJSON_IsNumber(item)) {
			set_err(err, errlen, "%s: %s: must be a whole number", name, k->name);
			return false;
		}
		v = item ? item->valuedouble : (double)k->def_int;
		if (v < (double)k->min || v > (double)k->max || v != (double)(long)v) {
			set_err(err, errlen, "%s: %s: must be a whole number in %ld..%ld", name, k->name,
				k->min, k->max);
			return false;
		}
		*(int *)field = (int)v;
		return true;
	}

	const char *s;
	if (item) {
		if (!cJSON_IsString(item)) {
			set_err(err, errlen, "%s: %s: must be a string", name, k->name);
			return false;
		}
		s = item->valuestring;
	} else {
		s = k->def_string;
	}
	size_t len = strlen(s);
	if (len < (size_t)k->min || len > (size_t)k->max) {
		if (k->type == KEY_IDENT)
			set_err(err, errlen, "%s: %s: must be 1..%d bytes long (a PostgreSQL name)", name,
				k->name, NAME_MAX_BYTES);
		else
			set_err(err, errlen, "%s: %s: must be %ld..%ld bytes long", name, k->name, k->min,
				k->max);
		return false;
	}
	*(char **)field = strdup(s);
	if (!*(char **)field) {
		set_err(err, errlen, "%s: out of memory", name);
		return false;
	}
	return true;
}

bool config_db_name_ok(const char *n, size_t len)
{
	size_t part = 0; /* where the current _-separated component began */

	if (len == 0 || len > SNK_DB_NAME_MAX || n[0] < 'a' || n[0] > 'z')
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && ((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9')))
			continue;
		if (i < len && n[i] != '_')
			return false;
		/* a component ends: not empty (no "__", no trailing "_"), not "to" */
		if (i == part || (i - part == 2 && n[part] == 't' && n[part + 1] == 'o'))
			return false;
		part = i + 1;
	}
	return true;
}

static bool read_databases(const cJSON *dbs, struct snk_config *cfg, const char *name, char *err,
			   size_t errlen)
{
	const cJSON *item;
	char why[256];

	if (!dbs) {
		set_err(err, errlen, "%s: databases: missing; give {\"a\": \"<conninfo>\", \"b\": \"<conninfo>\"}",
			name);
		return false;
	}
	if (!cJSON_IsObject(dbs)) {
		set_err(err, errlen, "%s: databases: must be an object of 2 to %d names, each a libpq conninfo or URI",
			name, SNK_DB_MAX);
		return false;
	}
	cJSON_ArrayForEach(item, dbs)
	{
		const char *key = item->string;

		if (!config_db_name_ok(key, strlen(key))) {
			set_err(err, errlen, "%s: databases.%.40s: not a database name (1..%d of a-z, 0-9 and _, starting"
				" with a letter, no component \"to\")", name, key, SNK_DB_NAME_MAX);
			return false;
		}
		for (int i = 0; i < cfg->ndb; i++) {
			if (strcmp(cfg->db_name[i], key) == 0) {
				set_err(err, errlen, "%s: databases.%s: named twice", name, key);
				return false;
			}
		}
		if (cfg->ndb == SNK_DB_MAX) {
			set_err(err, errlen, "%s: databases: more than %d; snk syncs 2 to %d databases", name,
				SNK_DB_MAX, SNK_DB_MAX);
			return false;
		}
		if (!cJSON_IsString(item) || item->valuestring[0] == '\0') {
			set_err(err, errlen, "%s: databases.%s: must be a non-empty string (libpq conninfo or URI)",
				name, key);
			return false;
		}
		if (strlen(item->valuestring) > 4096) {
			set_err(err, errlen, "%s: databases.%s: longer than 4096 bytes", name, key);
			return false;
		}
		if (!conninfo_check(item->valuestring, why, sizeof(why))) {
			set_err(err, errlen, "%s: databases.%s: %s", name, key, why);
			return false;
		}
		for (int i = 0; i < cfg->ndb; i++) {
			if (strcmp(cfg->conninfo[i], item->valuestring) == 0) {
				set_err(err, errlen, "%s: databases: %s and %s are the same connection string; give"
					" each its own database", name, cfg->db_name[i], key);
				return false;
			}
		}
		cfg->db_name[cfg->ndb] = strdup(key);
		cfg->conninfo[cfg->ndb] = strdup(item->valuestring);
		cfg->ndb++;
		if (!cfg->db_name[cfg->ndb - 1] || !cfg->conninfo[cfg->ndb - 1]) {
			set_err(err, errlen, "%s: out of memory", name);
			return false;
		}
	}
	/* By name, whatever the file's order: the writer locks are taken in this order, and
	 * two snks (or two versions of snk) must take them in the same one. */
	for (int i = 1; i < cfg->ndb; i++) {
		for (int j = i; j > 0 && strcmp(cfg->db_name[j - 1], cfg->db_name[j]) > 0; j--) {
			char *db = cfg->db_name[j], *conninfo = cfg->conninfo[j];

			cfg->db_name[j] = cfg->db_name[j - 1];
			cfg->conninfo[j] = cfg->conninfo[j - 1];
			cfg->db_name[j - 1] = db;
			cfg->conninfo[j - 1] = conninfo;
		}
	}
	if (cfg->ndb == 1 && strcmp(cfg->db_name[0], "a") == 0) {
		set_err(err, errlen, "%s: databases.b: missing; give a libpq conninfo or URI", name);
		return false;
	}
	if (cfg->ndb < 2) {
		set_err(err, errlen, "%s: databases: %d given; snk syncs 2 to %d databases", name, cfg->ndb, SNK_DB_MAX);
		return false;
	}
	return true;
}

/* A list of key columns (the top-level "key", or a "tables" entry's): a non-empty array
 * of distinct column names; what names it in messages ("key", "tables[2].key"). */
static bool read_key_list(const cJSON *item, char ***key, int *nkey, const char *what, const char *name,
			  char *err, size_t errlen)
{
	const cJSON *col;
	int n = item ? cJSON_GetArraySize(item) : 0;

	if (!item)
		return true;
	if (!cJSON_IsArray(item) || n < 1 || n > 32) {
		set_err(err, errlen, "%s: %s: must be an array of 1..32 column names, e.g. [\"tenant_id\", \"id\"]",
			name, what);
		return false;
	}
	*key = calloc((size_t)n, sizeof(**key));
	if (!*key) {
		set_err(err, errlen, "%s: out of memory", name);
		return false;
	}
	cJSON_ArrayForEach(col, item)
	{
		if (!cJSON_IsString(col) || col->valuestring[0] == '\0' || strlen(col->valuestring) > NAME_MAX_BYTES) {
			set_err(err, errlen, "%s: %s: each column name must be a string of 1..%d bytes", name, what,
				NAME_MAX_BYTES);
			return false;
		}
		if (strcmp(col->valuestring, "snk_xid") == 0) {
			set_err(err, errlen, "%s: %s: snk_xid is the column snk adds, not a key column", name, what);
			return false;
		}
		for (int i = 0; i < *nkey; i++) {
			if (strcmp((*key)[i], col->valuestring) == 0) {
				set_err(err, errlen, "%s: %s: column %s given twice", name, what, col->valuestring);
				return false;
			}
		}
		(*key)[*nkey] = strdup(col->valuestring);
		if (!(*key)[*nkey]) {
			set_err(err, errlen, "%s: out of memory", name);
			return false;
		}
		(*nkey)++;
	}
	return true;
}

/* One part of a table's name: "..." (with "" for a quote) or a run of anything but '.' and
 * '"', taken as written; *p moves past it. NULL when it is empty, unterminated or too long. */
static char *name_part(const char **p, bool *quoted)
{
	const char *s = *p;
	char buf[NAME_MAX_BYTES + 1];
	size_t n = 0;

	*quoted = *s == '"';
	if (*quoted) {
		for (s++;; s++) {
			if (*s == '\0')
				return NULL;
			if (*s == '"' && s[1] != '"')
				break;
			if (*s == '"')
				s++;
			if (n == NAME_MAX_BYTES)
				return NULL;
			buf[n++] = *s;
		}
		s++;
	} else {
		for (; *s && *s != '.' && *s != '"'; s++) {
			if (n == NAME_MAX_BYTES)
				return NULL;
			buf[n++] = *s;
		}
	}
	if (n == 0)
		return NULL;
	*p = s;
	buf[n] = '\0';
	return strdup(buf);
}

bool config_parse_table_name(const char *text, const char *default_schema, char **schema, char **table,
			     bool *wildcard)
{
	const char *p = text;
	bool quoted[2] = { false, false };
	char *part[2] = { NULL, NULL };
	int n = 0;
	bool dot = false;

	*schema = *table = NULL;
	*wildcard = false;
	while (n < 2 && (part[n] = name_part(&p, &quoted[n])) != NULL) {
		n++;
		dot = *p == '.';
		if (!dot)
			break;
		p++;
	}
	if (n == 0 || *p != '\0' || (dot && n < 2) || (n == 2 && dot)) {
		free(part[0]);
		free(part[1]);
		return false;
	}
	if (n == 1) {
		part[1] = part[0];
		quoted[1] = quoted[0];
		part[0] = strdup(default_schema);
	}
	*schema = part[0];
	*table = part[1];
	*wildcard = !quoted[1] && strcmp(part[1], "*") == 0;
	if (!*schema || !*table) {
		free(*schema);
		free(*table);
		*schema = *table = NULL;
		return false;
	}
	return true;
}

static bool add_table(struct snk_config *cfg, const char *text, const cJSON *key, int i, const char *name,
		      char *err, size_t errlen)
{
	struct snk_table_spec *t = &cfg->tables[cfg->ntables];
	char what[48];

	snprintf(what, sizeof(what), "tables[%d]", i);
	if (!config_parse_table_name(text, cfg->schema, &t->schema, &t->table, &t->wildcard)) {
		set_err(err, errlen, "%s: %s: \"%.80s\" is not a table name: give \"schema.table\" or \"schema.*\""
			" (1..%d bytes each; double-quote a part holding a dot)", name, what, text, NAME_MAX_BYTES);
		return false;
	}
	cfg->ntables++;
	snprintf(what, sizeof(what), "tables[%d].key", i);
	if (key && t->wildcard) {
		set_err(err, errlen, "%s: %s: a \"schema.*\" entry takes no key", name, what);
		return false;
	}
	if (!read_key_list(key, &t->key, &t->nkey, what, name, err, errlen))
		return false;
	for (int j = 0; j < cfg->ntables - 1; j++) {
		if (strcmp(cfg->tables[j].schema, t->schema) == 0 && strcmp(cfg->tables[j].table, t->table) == 0) {
			set_err(err, errlen, "%s: %s: %s.%s is listed twice", name, what, t->schema, t->table);
			return false;
		}
	}
	return true;
}

/* "tables": the tables to sync, each a name or {"table": name, "key": [...]}; without it
 * the top-level "schema", "table" and "key" name the one table. */
static bool read_tables(const cJSON *item, struct snk_config *cfg, const char *name, char *err, size_t errlen)
{
	const cJSON *e;
	int n = item ? cJSON_GetArraySize(item) : 1, i = 0;

	if (item && (!cJSON_IsArray(item) || n < 1 || n > SNK_TABLES_MAX)) {
		set_err(err, errlen, "%s: tables: must be an array of 1..%d table names, e.g. [\"public.orders\","
			" {\"table\": \"public.lines\", \"key\": [\"order_id\", \"line\"]}, \"app.*\"]", name,
			SNK_TABLES_MAX);
		return false;
	}
	cfg->tables = calloc((size_t)n, sizeof(*cfg->tables));
	if (!cfg->tables) {
		set_err(err, errlen, "%s: out of memory", name);
		return false;
	}
	if (!item) {
		struct snk_table_spec *t = &cfg->tables[cfg->ntables++];

		t->schema = strdup(cfg->schema);
		t->table = strdup(cfg->table);
		t->key = cfg->nkey ? calloc((size_t)cfg->nkey, sizeof(*t->key)) : NULL;
		for (int k = 0; t->key && k < cfg->nkey; k++)
			t->nkey += (t->key[k] = strdup(cfg->key[k])) != NULL;
		if (!t->schema || !t->table || t->nkey != cfg->nkey) {
			set_err(err, errlen, "%s: out of memory", name);
			return false;
		}
		return true;
	}
	cJSON_ArrayForEach(e, item)
	{
		const cJSON *tn = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "table") : e;
		const cJSON *member;

		if (cJSON_IsObject(e)) {
			cJSON_ArrayForEach(member, e)
			{
				if (strcmp(member->string, "table") != 0 && strcmp(member->string, "key") != 0) {
					set_err(err, errlen, "%s: tables[%d].%s: unknown key (only \"table\" and \"key\")",
						name, i, member->string);
					return false;
				}
			}
		}
		if (!cJSON_IsString(tn)) {
			set_err(err, errlen, "%s: tables[%d]: must be a string \"schema.table\" or an object"
				" {\"table\": \"schema.table\", \"key\": [...]}", name, i);
			return false;
		}
		if (!add_table(cfg, tn->valuestring,
			       cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "key") : NULL, i, name, err,
			       errlen))
			return false;
		i++;
	}
	return true;
}

static bool set_socket(struct snk_config *cfg, const char *name, char *err, size_t errlen)
{
	char path[4096];

	if (!socket_path(cfg->control_socket, name, path, sizeof(path), err, errlen))
		return false;
	free(cfg->control_socket);
	cfg->control_socket = strdup(path);
	if (!cfg->control_socket) {
		set_err(err, errlen, "%s: out of memory", name);
		return false;
	}
	return true;
}

enum config_status config_parse(const char *text, const char *name, struct snk_config **out,
				char *err, size_t errlen)
{
	cJSON *root = cJSON_Parse(text);
	struct snk_config *cfg = NULL;
	const cJSON *item;

	*out = NULL;
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		int line = 1;

		for (const char *p = text; at && p < at; p++)
			line += *p == '\n';
		set_err(err, errlen, "%s: not valid JSON (near line %d)", name, line);
		return CONFIG_INVALID;
	}
	if (!cJSON_IsObject(root)) {
		set_err(err, errlen, "%s: must hold one JSON object", name);
		goto fail;
	}
	cJSON_ArrayForEach(item, root)
	{
		bool known = strcmp(item->string, "databases") == 0 || strcmp(item->string, "key") == 0 ||
			     strcmp(item->string, "tables") == 0;

		for (size_t i = 0; !known && i < sizeof(keys) / sizeof(keys[0]); i++)
			known = strcmp(item->string, keys[i].name) == 0;
		if (!known) {
			set_err(err, errlen, "%s: %s: unknown key", name, item->string);
			goto fail;
		}
		/* cJSON keeps duplicates; the second would silently lose. */
		for (const cJSON *other = item->next; other; other = other->next) {
			if (strcmp(other->string, item->string) == 0) {
				set_err(err, errlen, "%s: %s: given twice", name, item->string);
				goto fail;
			}
		}
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		set_err(err, errlen, "%s: out of memory", name);
		goto fail;
	}
	if (!read_databases(cJSON_GetObjectItemCaseSensitive(root, "databases"), cfg, name, err, errlen))
		goto fail;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!read_key(&keys[i], cJSON_GetObjectItemCaseSensitive(root, keys[i].name), cfg, name, err,
			      errlen))
			goto fail;
	}
	if (!read_key_list(cJSON_GetObjectItemCaseSensitive(root, "key"), &cfg->key, &cfg->nkey, "key", name, err,
			   errlen))
		goto fail;
	item = cJSON_GetObjectItemCaseSensitive(root, "tables");
	if (item && (cJSON_GetObjectItemCaseSensitive(root, "table") || cJSON_GetObjectItemCaseSensitive(root, "key"))) {
		set_err(err, errlen, "%s: tables: give either \"tables\" or \"table\" (with \"key\"), not both", name);
		goto fail;
	}
	if (!read_tables(item, cfg, name, err, errlen))
		goto fail;
	if (!log_parse_level(cfg->log_level_name, &cfg->log_level)) {
		set_err(err, errlen, "%s: log_level: must be one of noise, debug, info, warn, error", name);
		goto fail;
	}
	if (!log_parse_format(cfg->log_format_name, &cfg->log_format)) {
		set_err(err, errlen, "%s: log_format: must be \"text\" or \"json\"", name);
		goto fail;
	}
	if (strcmp(cfg->insert_mode, "optimistic") != 0 && strcmp(cfg->insert_mode, "on_conflict") != 0) {
		set_err(err, errlen, "%s: insert_mode: must be \"optimistic\" or \"on_conflict\"", name);
		goto fail;
	}
	if (strcmp(cfg->xid_index, "brin") != 0 && strcmp(cfg->xid_index, "btree") != 0) {
		set_err(err, errlen, "%s: xid_index: must be \"brin\" or \"btree\"", name);
		goto fail;
	}
	if (strcmp(cfg->synchronous_commit, "on") != 0 && strcmp(cfg->synchronous_commit, "off") != 0) {
		set_err(err, errlen, "%s: synchronous_commit: must be \"on\" or \"off\"", name);
		goto fail;
	}
	if (strlen(cfg->notify_channel) > NAME_MAX_BYTES) {
		set_err(err, errlen, "%s: notify_channel: must be at most %d bytes (a PostgreSQL name)", name,
			NAME_MAX_BYTES);
		goto fail;
	}
	if (strcmp(cfg->id_column, cfg->data_column) == 0) {
		set_err(err, errlen, "%s: data_column: must differ from id_column", name);
		goto fail;
	}
	if (strcmp(cfg->id_column, "snk_xid") == 0 || strcmp(cfg->data_column, "snk_xid") == 0) {
		set_err(err, errlen, "%s: snk_xid is the column snk adds; choose other column names", name);
		goto fail;
	}
	if (!set_socket(cfg, name, err, errlen))
		goto fail;
	cfg->path = strdup(name);
	if (!cfg->path) {
		set_err(err, errlen, "%s: out of memory", name);
		goto fail;
	}
	cJSON_Delete(root);
	*out = cfg;
	return CONFIG_OK;
fail:
	config_free(cfg);
	cJSON_Delete(root);
	return CONFIG_INVALID;
}

/* read_text: the whole file as a string (owned by the caller), refusing what cannot be a
 * config: not a regular file, over CONFIG_MAX_BYTES, a NUL byte. */
static enum config_status read_text(const char *path, char **out, char *err, size_t errlen)
{
	FILE *f;
	struct stat st;
	char *text;
	size_t n;

	*out = NULL;
	f = fopen(path, "r");
	if (!f) {
		set_err(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
		return CONFIG_UNREADABLE;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		set_err(err, errlen, "%s: not a regular file", path);
		fclose(f);
		return CONFIG_UNREADABLE;
	}
	if (st.st_size > CONFIG_MAX_BYTES) {
		set_err(err, errlen, "%s: larger than %d bytes; this is not a snk config", path,
			CONFIG_MAX_BYTES);
		fclose(f);
		return CONFIG_INVALID;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		set_err(err, errlen, "%s: out of memory", path);
		fclose(f);
		return CONFIG_UNREADABLE;
	}
	n = fread(text, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		set_err(err, errlen, "%s: cannot read config file: %s", path, strerror(errno));
		free(text);
		fclose(f);
		return CONFIG_UNREADABLE;
	}
	fclose(f);
	text[n] = '\0';
	if (strlen(text) != n) {
		set_err(err, errlen, "%s: contains a NUL byte; not a JSON file", path);
		free(text);
		return CONFIG_INVALID;
	}
	*out = text;
	return CONFIG_OK;
}

enum config_status config_load(const char *path, struct snk_config **out, char *err, size_t errlen)
{
	char *text;
	enum config_status status = read_text(path, &text, err, errlen);

	*out = NULL;
	if (status != CONFIG_OK)
		return status;
	status = config_parse(text, path, out, err, errlen);
	free(text);
	return status;
}

/* ---- the control socket alone, for snkctl ----
 *
 * snkctl needs one key. A config being edited (a key out of range, half written, trailing
 * junk) must not keep it from asking snk how it is, so the top-level object is walked only
 * as far as control_socket: what comes after it is never looked at, and what comes before
 * it need only be well-formed enough to be stepped over. */

struct scan {
	const char *p;
};

static void scan_ws(struct scan *s)
{
	while (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')
		s->p++;
}

/* s->p at '"': steps past the closing quote; false at the end of the text. */
static bool scan_string(struct scan *s)
{
	for (s->p++; *s->p && *s->p != '"'; s->p++) {
		if (*s->p == '\\' && s->p[1])
			s->p++;
	}
	if (!*s->p)
		return false;
	s->p++;
	return true;
}

/* Steps over one value of any kind: a string, a scalar, or a nested one by bracket depth
 * (what is inside it need not be valid: it is not the key snkctl wants). */
static bool scan_value(struct scan *s)
{
	int depth = 0;

	if (*s->p == '"')
		return scan_string(s);
	if (*s->p != '{' && *s->p != '[') {
		const char *from = s->p;

		while (*s->p && (isalnum((unsigned char)*s->p) || strchr("+-.", *s->p)))
			s->p++;
		return s->p > from;
	}
	do {
		if (*s->p == '"') {
			if (!scan_string(s))
				return false;
			continue;
		}
		if (!*s->p)
			return false;
		if (*s->p == '{' || *s->p == '[')
			depth++;
		else if (*s->p == '}' || *s->p == ']')
			depth--;
		s->p++;
	} while (depth > 0);
	return true;
}

/* The JSON string token at [from, to), decoded; NULL when it is not one. Owned. */
static cJSON *decode_string(const char *from, const char *to)
{
	cJSON *v = cJSON_ParseWithLength(from, (size_t)(to - from));

	if (v && !cJSON_IsString(v)) {
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}

static bool fail_at(const char **where, const char *at)
{
	*where = at;
	return false;
}

static int line_of(const char *text, const char *at)
{
	int line = 1;

	for (const char *p = text; p < at; p++)
		line += *p == '\n';
	return line;
}

/* find_socket: *value the control_socket string (owned), or NULL when the object, read to
 * its end, has none; false when the text breaks off or is not JSON before it is found. */
static bool find_socket(const char *text, cJSON **value, const char **where)
{
	struct scan s = { .p = text };

	*value = NULL;
	scan_ws(&s);
	if (*s.p++ != '{')
		return fail_at(where, s.p - 1);
	for (;;) {
		const char *key_at;
		cJSON *key;
		bool wanted;

		scan_ws(&s);
		if (*s.p == '}')
			return true;
		key_at = s.p;
		if (*s.p != '"' || !scan_string(&s) || !(key = decode_string(key_at, s.p)))
			return fail_at(where, key_at);
		wanted = strcmp(key->valuestring, "control_socket") == 0;
		cJSON_Delete(key);
		scan_ws(&s);
		if (*s.p++ != ':')
			return fail_at(where, s.p - 1);
		scan_ws(&s);
		key_at = s.p;
		if (wanted) {
			/* Found: a string, or nothing the daemon would accept either. */
			if (*s.p != '"' || !scan_string(&s))
				return fail_at(where, key_at);
			*value = decode_string(key_at, s.p);
			if (!*value)
				return fail_at(where, key_at);
			return true;
		}
		if (!scan_value(&s))
			return fail_at(where, key_at);
		scan_ws(&s);
		if (*s.p == '}')
			return true;
		if (*s.p++ != ',')
			return fail_at(where, s.p - 1);
	}
}

enum config_status config_read_socket(const char *path, char *out, size_t outlen, char *err,
				      size_t errlen)
{
	char *text;
	cJSON *value = NULL;
	const char *where = NULL;
	enum config_status status = read_text(path, &text, err, errlen);

	if (status != CONFIG_OK)
		return status;
	if (!find_socket(text, &value, &where)) {
		set_err(err, errlen,
			"%s: no control_socket found: the file is not valid JSON near line %d;"
			" fix it or give the socket with -s", path, line_of(text, where));
		status = CONFIG_INVALID;
	} else if (!socket_path(value ? value->valuestring : "", path, out, outlen, err, errlen)) {
		status = CONFIG_INVALID;
	}
	cJSON_Delete(value);
	free(text);
	return status;
}
