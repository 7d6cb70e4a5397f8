/* migrate.h - the migrations embedded from migrations/NNN_name.sql at build time. */
#ifndef SNK_MIGRATE_H
#define SNK_MIGRATE_H

struct snk_migration {
	const char *name; /* file name without .sql, e.g. "001_snk_schema" */
	const char *sql;  /* with @SCHEMA@, @TABLE@, @ID@, @DATA@, @INDEX@ placeholders */
};

/* Ends with an entry whose name is NULL. */
extern const struct snk_migration snk_migrations[];

#endif
