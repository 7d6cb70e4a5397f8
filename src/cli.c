/* cli.c - pure helpers of the command lines of snk and snkctl: which option goes with which
 * command, how status text fits a terminal line, what a status means as an exit code. */
#include "snk/cli.h"

#include <stdio.h>
#include <string.h>

#include "snk/exitcodes.h"

static const struct {
	unsigned opt;
	const char *spelling;
	const char *command; /* the one command that takes it */
} only_for[] = {
	{ CLI_OPT_LIST, "--list", "verify" },
	{ CLI_OPT_JSON, "--json", "verify" },
	{ CLI_OPT_CHECK_CONFIG, "--check-config", "run" },
};

const char *cli_misplaced_option(const char *command, unsigned given)
{
	for (size_t i = 0; i < sizeof(only_for) / sizeof(only_for[0]); i++) {
		if ((given & only_for[i].opt) && strcmp(command, only_for[i].command) != 0)
			return only_for[i].spelling;
	}
	return NULL;
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* A UTF-8 continuation byte takes no column of its own. */
static bool starts_char(unsigned char c)
{
	return (c & 0xc0) != 0x80;
}

char *cli_fit(char *dst, size_t dstlen, const char *src, int cols)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = 0, cut = 0;
	int width = 0;

	if (dstlen == 0)
		return dst;
	while (*s) {
		const unsigned char *from = s;
		size_t len = 1;

		if (is_control(*s)) {
			while (*s && is_control(*s))
				s++;
			from = (const unsigned char *)" ";
		} else {
			while (s[len] && !starts_char(s[len]))
				len++;
			s += len;
		}
		if (n + len + 1 > dstlen)
			break; /* never a character cut in two */
		if (++width == cols - 2)
			cut = n; /* where "..." goes if the line is too wide */
		memcpy(dst + n, from, len);
		n += len;
	}
	dst[n] = '\0';
	if (width > cols && cols >= 3 && cut + 4 <= dstlen)
		snprintf(dst + cut, dstlen - cut, "...");
	return dst;
}

const char *cli_list_sep(int k, int n)
{
	return k == 0 ? "" : k + 1 < n ? ", " : " and ";
}

int cli_status_code(const char *state, const char *const dir_state[], int ndirs, bool database_down)
{
	if (strcmp(state, "stopping") == 0)
		return SNK_EXIT_UNAVAILABLE;
	/* "paused" is reported ahead of "degraded": a paused snk with a database down is
	 * degraded all the same (degraded_reason says so). */
	if ((strcmp(state, "running") != 0 && strcmp(state, "paused") != 0 && strcmp(state, "standby") != 0) ||
	    database_down)
		return SNK_EXIT_DEGRADED;
	for (int i = 0; i < ndirs; i++) {
		if (strcmp(dir_state[i], "retrying") == 0 || strcmp(dir_state[i], "failed") == 0)
			return SNK_EXIT_DEGRADED;
	}
	return SNK_EXIT_OK;
}
