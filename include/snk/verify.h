/* verify.h - `snk verify`: compare the two tables without changing anything. */
#ifndef SNK_VERIFY_H
#define SNK_VERIFY_H

#include "snk/config.h"

/* verify_run: prints counts and differences (up to list ids of each kind); returns
 * 0 when identical, 1 when they differ, another exit code on errors. */
int verify_run(const struct snk_config *cfg, int list);

#endif
