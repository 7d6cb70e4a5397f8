/* cli.h - pure helpers of the command lines of snk and snkctl, unit-tested. */
#ifndef SNK_CLI_H
#define SNK_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* Options of snk that only some commands take. */
enum cli_opt {
	CLI_OPT_LIST = 1 << 0,
	CLI_OPT_JSON = 1 << 1,
	CLI_OPT_CHECK_CONFIG = 1 << 2,
};

/* cli_misplaced_option: the first option in given (enum cli_opt bits) that command does
 * not take, as the user spells it ("--list"); NULL when every one applies. */
const char *cli_misplaced_option(const char *command, unsigned given);

/* The widest line snkctl's human status prints. */
#define CLI_MAX_COLUMNS 100

/* cli_fit: src as one terminal line in dst: each run of control characters (tab, newline:
 * a libpq message holds them) becomes one space, and a line over cols columns (UTF-8
 * characters) is cut to end in "...". Returns dst. */
char *cli_fit(char *dst, size_t dstlen, const char *src, int cols);

/* cli_list_sep: what goes before item k (from 0) of a list of n in a sentence: "", ", "
 * or, before the last, " and " ("a, b and c"). */
const char *cli_list_sep(int k, int n);

/* cli_status_code: snkctl status's exit code from snk's state, the directions' states and
 * whether status names a database that is down (degraded_reason), as SNK_EXIT_OK,
 * SNK_EXIT_DEGRADED, or SNK_EXIT_UNAVAILABLE while snk is stopping. */
int cli_status_code(const char *state, const char *const dir_state[], int ndirs, bool database_down);

#endif
