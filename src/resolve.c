/* resolve.c - "schema.*" in "tables": the tables a schema holds, read from a and b. */
#include "snk/resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/config.h"
#include "snk/db.h"
#include "snk/exitcodes.h"
#include "snk/log.h"

bool resolve_needed(const struct snk_config *cfg)
{
	for (int i = 0; i < cfg->ntables; i++) {
		if (cfg->tables[i].wildcard)
			return true;
	}
	return false;
}

static bool listed(const struct snk_table_spec *t, int n, const char *schema, const char *name)
{
	for (int i = 0; i < n; i++) {
		if (!t[i].wildcard && t[i].table && strcmp(t[i].schema, schema) == 0 && strcmp(t[i].table, name) == 0)
			return true;
	}
	return false;
}

static bool schema_listed(const struct snk_config *cfg, const char *schema)
{
	for (int i = 0; i < cfg->ntables; i++) {
		if (!cfg->tables[i].wildcard && cfg->tables[i].table && strcmp(cfg->tables[i].schema, schema) == 0)
			return true;
	}
	return false;
}

/* spec_push: a zeroed entry appended to *out (grown as needed), NULL when out of memory. */
static struct snk_table_spec *spec_push(struct snk_table_spec **out, int *n, int *cap)
{
	if (*n == *cap) {
		struct snk_table_spec *grown = realloc(*out, sizeof(**out) * (size_t)(*cap * 2 + 8));

		if (!grown)
			return NULL;
		*out = grown;
		*cap = *cap * 2 + 8;
	}
	memset(&(*out)[*n], 0, sizeof(**out));
	return &(*out)[(*n)++];
}

static void free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Appends to out the tables of schema (in the first database, then those only in later
 * ones) not listed already. */
static int expand(PGconn *conn[SNK_DB_MAX], const struct snk_config *cfg, const char *schema, struct snk_table_spec **out,
		  int *nout, int *cap, char *err, size_t errlen)
{
	int found = 0;

	for (int side = 0; side < cfg->ndb; side++) {
		char **names, **skipped;
		int n, nskipped;

		if (!db_list_tables_blocking(conn[side], schema, &names, &n, &skipped, &nskipped, err, errlen))
			return SNK_EXIT_UNAVAILABLE;
		for (int i = 0; i < nskipped; i++)
			log_warn(NULL, "%s.* in database %s: %s.%s has no key snk can use (a primary key, or one unique index"
				 " over NOT NULL columns); not synced (name it with \"key\" to sync it)", schema,
				 cfg->db_name[side], schema, skipped[i]);
		free_names(skipped, nskipped);
		for (int i = 0; i < n; i++) {
			struct snk_table_spec *t;

			if (listed(cfg->tables, cfg->ntables, schema, names[i]) || listed(*out, *nout, schema, names[i]))
				continue;
			t = spec_push(out, nout, cap);
			if (!t) {
				free_names(names, n);
				snprintf(err, errlen, "out of memory");
				return SNK_EXIT_OSERR;
			}
			t->schema = strdup(schema);
			t->table = strdup(names[i]);
			found++;
			if (!t->schema || !t->table) {
				free_names(names, n);
				snprintf(err, errlen, "out of memory");
				return SNK_EXIT_OSERR;
			}
		}
		free_names(names, n);
	}
	if (found == 0 && !schema_listed(cfg, schema)) {
		snprintf(err, errlen, "%s.* names no table snk can sync in any database (none with a primary key or"
			 " one unique index over NOT NULL columns)", schema);
		return SNK_EXIT_SCHEMA;
	}
	return 0;
}

int resolve_tables(struct snk_config *cfg, const char *who, char *err, size_t errlen)
{
	PGconn *conn[SNK_DB_MAX] = { NULL };
	struct snk_table_spec *out = NULL;
	int nout = 0, cap = 0, rc = 0;
	char app[64];

	if (!resolve_needed(cfg))
		return 0;
	for (int i = 0; i < cfg->ndb && rc == 0; i++) {
		snprintf(app, sizeof(app), "snk %s.%s", cfg->db_name[i], who);
		conn[i] = db_connect_blocking(cfg->conninfo[i], app, err, errlen);
		if (!conn[i]) {
			char why[600];

			snprintf(why, sizeof(why), "resolving \"tables\": cannot connect to database %s: %s", cfg->db_name[i], err);
			snprintf(err, errlen, "%s", why);
			rc = SNK_EXIT_UNAVAILABLE;
		}
	}
	for (int i = 0; rc == 0 && i < cfg->ntables; i++) {
		struct snk_table_spec *t;

		if (cfg->tables[i].wildcard) {
			rc = expand(conn, cfg, cfg->tables[i].schema, &out, &nout, &cap, err, errlen);
			continue;
		}
		t = spec_push(&out, &nout, &cap);
		if (!t) {
			snprintf(err, errlen, "out of memory");
			rc = SNK_EXIT_OSERR;
			break;
		}
		*t = cfg->tables[i]; /* moved: the entry gives up its strings */
		memset(&cfg->tables[i], 0, sizeof(cfg->tables[i]));
		cfg->tables[i].wildcard = false;
	}
	if (rc == 0 && nout > SNK_TABLES_MAX) {
		snprintf(err, errlen, "\"tables\" resolves to %d tables; at most %d", nout, SNK_TABLES_MAX);
		rc = SNK_EXIT_CONFIG;
	}
	for (int i = 0; i < cfg->ndb; i++)
		PQfinish(conn[i]);
	if (rc != 0) {
		config_free_tables(out, nout);
		return rc;
	}
	config_free_tables(cfg->tables, cfg->ntables);
	cfg->tables = out;
	cfg->ntables = nout;
	return 0;
}
