/* check.h - `snk check`: connections, migrations, privileges, NOTIFY trigger, TLS files
 * and the writer lock of both databases, one line per check. Changes nothing. */
#ifndef SNK_CHECK_H
#define SNK_CHECK_H

#include "snk/config.h"

/* check_run: prints one line per check and database; returns 0 when all pass,
 * SNK_EXIT_CHECK_FAILED when any fails. config_path is named in the advice. */
int check_run(const struct snk_config *cfg, const char *config_path);

#endif
