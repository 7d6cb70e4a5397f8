/* resolve.h - the config's "schema.*" entries turned into the tables they name, read from
 * both databases (blocking: at start, and on SIGHUP before the reload is judged). */
#ifndef SNK_RESOLVE_H
#define SNK_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

struct snk_config;

/* resolve_tables: replaces every wildcard entry of cfg->tables by the tables of its schema
 * that have a usable key in database a or b (both, in name order, a's first), skipping
 * those listed explicitly. Returns an exit code: 0, or SNK_EXIT_UNAVAILABLE (a database
 * cannot be reached), SNK_EXIT_SCHEMA (a schema has no such table, or a name repeats),
 * SNK_EXIT_OSERR; err says why in one line. */
int resolve_tables(struct snk_config *cfg, const char *who, char *err, size_t errlen);
/* resolve_needed: whether cfg has a wildcard entry. */
bool resolve_needed(const struct snk_config *cfg);

#endif
