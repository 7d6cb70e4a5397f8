/* probe.h - before a reload puts a new conninfo into the working sessions, one short
 * session proves that it connects and passes the session check; the working sessions are
 * left alone until it has. */
#ifndef SNK_PROBE_H
#define SNK_PROBE_H

#include <stdbool.h>

#include "snk/config.h"

struct event_base;
struct snk_probe;
struct snk_table;

/* Called once, from the event loop, when every probe has connected and passed the session
 * and schema checks (ok) or the first has failed (why: "database a (host:port/db): <error>", never the
 * conninfo). The probe frees itself after cb returns: the owner forgets it in cb. */
typedef void (*probe_done_cb)(void *arg, bool ok, const char *why);

/* probe_start: tries conninfo[i] for each database i of cfg (its names) that is not NULL,
 * with the session and schema checks for every table (borrowed; they must outlive the
 * probe); NULL when out of memory (no callback then). */
struct snk_probe *probe_start(struct event_base *base, const struct snk_config *cfg,
			      const char *const conninfo[SNK_DB_MAX], const struct snk_table *tables, int ntables,
			      probe_done_cb cb, void *arg)
	__attribute__((warn_unused_result));
/* probe_free: cancels (no callback); probe_free(NULL) is fine. Not from inside cb. */
void probe_free(struct snk_probe *p);

#endif
