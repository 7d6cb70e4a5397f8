/* config.c - the only cJSON reader of the configuration file.
 *
 * Every key is described once in a table (name, type, bounds, default); unknown
 * keys are rejected, and fields that must agree are checked together. A config is
 * never changed after it is built: a reload builds a new one.
 */
#include "snk/config.h"

#include "snk/conninfo.h"

#include <cjson/cJSON.h>
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
	INT(healthz_max_lag_ms, 1, 86400000, 10000),
	INT(reconcile_interval_s, 0, 31536000, 0), /* 0: only when owed or asked for */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void config_default_socket(char *buf, size_t len)
{
	const char *rt = getenv("RUNTIME_DIRECTORY");

	if (rt && *rt) {
		/* systemd may list several directories separated by ':'; use the first. */
		size_t n = strcspn(rt, ":");
		snprintf(buf, len, "%.*s/snk.sock", (int)n, rt);
	} else if (geteuid() == 0) {
		snprintf(buf, len, "/run/snk/snk.sock");
	} else {
		snprintf(buf, len, "./snk.sock");
	}
}

void config_free(struct snk_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->conninfo[0]);
	free(cfg->conninfo[1]);
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

static bool read_databases(const cJSON *dbs, struct snk_config *cfg, const char *name, char *err,
			   size_t errlen)
{
	static const char *const db_keys[2] = { "a", "b" };
	const cJSON *item;
	char why[256];

	if (!dbs) {
		set_err(err, errlen, "%s: databases: missing; give {\"a\": \"<conninfo>\", \"b\": \"<conninfo>\"}",
			name);
		return false;
	}
	if (!cJSON_IsObject(dbs)) {
		set_err(err, errlen, "%s: databases: must be an object with keys \"a\" and \"b\"", name);
		return false;
	}
	cJSON_ArrayForEach(item, dbs)
	{
		if (strcmp(item->string, "a") != 0 && strcmp(item->string, "b") != 0) {
			set_err(err, errlen, "%s: databases.%s: unknown key (only \"a\" and \"b\")", name,
				item->string);
			return false;
		}
	}
	for (int i = 0; i < 2; i++) {
		item = cJSON_GetObjectItemCaseSensitive(dbs, db_keys[i]);
		if (!item) {
			set_err(err, errlen, "%s: databases.%s: missing; give a libpq conninfo or URI", name,
				db_keys[i]);
			return false;
		}
		if (!cJSON_IsString(item) || item->valuestring[0] == '\0') {
			set_err(err, errlen, "%s: databases.%s: must be a non-empty string (libpq conninfo or URI)",
				name, db_keys[i]);
			return false;
		}
		if (strlen(item->valuestring) > 4096) {
			set_err(err, errlen, "%s: databases.%s: longer than 4096 bytes", name, db_keys[i]);
			return false;
		}
		if (!conninfo_check(item->valuestring, why, sizeof(why))) {
			set_err(err, errlen, "%s: databases.%s: %s", name, db_keys[i], why);
			return false;
		}
		cfg->conninfo[i] = strdup(item->valuestring);
		if (!cfg->conninfo[i]) {
			set_err(err, errlen, "%s: out of memory", name);
			return false;
		}
	}
	if (strcmp(cfg->conninfo[0], cfg->conninfo[1]) == 0) {
		set_err(err, errlen, "%s: databases: a and b are the same connection string; give two databases",
			name);
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
		bool known = strcmp(item->string, "databases") == 0;

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
	if (cfg->control_socket[0] == '\0') {
		char path[4096];

		config_default_socket(path, sizeof(path));
		free(cfg->control_socket);
		cfg->control_socket = strdup(path);
		if (!cfg->control_socket) {
			set_err(err, errlen, "%s: out of memory", name);
			goto fail;
		}
	}
	if (strlen(cfg->control_socket) >= 108) { /* sizeof(sun_path) */
		set_err(err, errlen, "%s: control_socket: path must be shorter than 108 bytes", name);
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

enum config_status config_load(const char *path, struct snk_config **out, char *err, size_t errlen)
{
	FILE *f;
	struct stat st;
	char *text;
	size_t n;
	enum config_status status;

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
	status = config_parse(text, path, out, err, errlen);
	free(text);
	return status;
}
