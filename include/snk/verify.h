/* verify.h - `snk verify`: compare the two tables without changing anything. */
#ifndef SNK_VERIFY_H
#define SNK_VERIFY_H

#include <stdbool.h>

#include "snk/config.h"

/* verify_run: prints counts and differences (up to list ids of each kind), as text or as
 * one JSON object; returns 0 when identical, 1 when they differ, another exit code on
 * errors (said on stderr, and with json as {"result": "error"} on stdout). */
int verify_run(const struct snk_config *cfg, int list, bool json);

#endif
