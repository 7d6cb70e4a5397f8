/* Unit tests of cli.c: which options go with which command, fitting status text into a
 * terminal line, and snkctl status's exit codes. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "snk/cli.h"
#include "snk/exitcodes.h"

/* Columns as a terminal counts them: UTF-8 characters. */
static int columns(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static bool has_control(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

static void test_options(void)
{
	CHECK(cli_misplaced_option("verify", CLI_OPT_LIST | CLI_OPT_JSON) == NULL);
	CHECK(cli_misplaced_option("run", 0) == NULL);
	CHECK(cli_misplaced_option("run", CLI_OPT_CHECK_CONFIG) == NULL);
	CHECK_STR(cli_misplaced_option("migrate", CLI_OPT_LIST), "--list");
	CHECK_STR(cli_misplaced_option("run", CLI_OPT_JSON), "--json");
	CHECK_STR(cli_misplaced_option("migrate", CLI_OPT_JSON), "--json");
	CHECK_STR(cli_misplaced_option("verify", CLI_OPT_CHECK_CONFIG), "--check-config");
	CHECK_STR(cli_misplaced_option("migrate", CLI_OPT_CHECK_CONFIG | CLI_OPT_LIST), "--list");
}

static void test_fit(void)
{
	char out[512], long_text[400];
	const char *libpq = "a    no   127.0.0.1:5/snk   3   connection to server at \"127.0.0.1\", port 5 failed:"
			    "\tConnection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n";

	CHECK_STR(cli_fit(out, sizeof(out), "short line", 100), "short line");
	CHECK_STR(cli_fit(out, sizeof(out), "a\tb\n\nc\r", 100), "a b c ");
	cli_fit(out, sizeof(out), libpq, 100);
	CHECK(columns(out) == 100);
	CHECK(!has_control(out));
	CHECK(strcmp(out + strlen(out) - 3, "...") == 0);
	CHECK(strncmp(out, "a    no   127.0.0.1:5/snk   3   connection to server at", 55) == 0);
	/* Exactly 100 columns stays whole; 101 is cut to 100. */
	memset(long_text, 'x', 100);
	long_text[100] = '\0';
	CHECK_STR(cli_fit(out, sizeof(out), long_text, 100), long_text);
	long_text[100] = 'y';
	long_text[101] = '\0';
	cli_fit(out, sizeof(out), long_text, 100);
	CHECK(strlen(out) == 100 && strcmp(out + 97, "...") == 0);
	/* UTF-8: a character takes one column, and is never cut in two. */
	memset(long_text, 0, sizeof(long_text));
	for (int i = 0; i < 120; i++)
		strcat(long_text, "\xc3\xa9"); /* é */
	cli_fit(out, sizeof(out), long_text, 100);
	CHECK(columns(out) == 100);
	CHECK(strlen(out) == 97 * 2 + 3);
	cli_fit(out, 8, long_text, 100); /* a small buffer: whole characters only */
	CHECK(strlen(out) == 6);
	/* Runs of control characters of any kind become one space. */
	CHECK_STR(cli_fit(out, sizeof(out), "x\x01\x1b[2Jy\x7f", 100), "x [2Jy ");
}

static void test_list_sep(void)
{
	char buf[64] = "";

	for (int k = 0; k < 3; k++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%c", cli_list_sep(k, 3), 'a' + k);
	CHECK_STR(buf, "a, b and c");
	CHECK_STR(cli_list_sep(0, 1), "");
	CHECK_STR(cli_list_sep(1, 2), " and ");
}

static void test_status_code(void)
{
	const char *well[2] = { "idle", "copying" };
	const char *retrying[2] = { "idle", "retrying" };
	const char *failed[2] = { "failed", "idle" };

	CHECK(cli_status_code("running", well, 2, false) == SNK_EXIT_OK);
	CHECK(cli_status_code("paused", well, 2, false) == SNK_EXIT_OK);
	CHECK(cli_status_code("standby", well, 2, false) == SNK_EXIT_OK);
	CHECK(cli_status_code("standby", well, 2, true) == SNK_EXIT_DEGRADED);
	CHECK(cli_status_code("degraded", well, 2, false) == SNK_EXIT_DEGRADED);
	CHECK(cli_status_code("running", retrying, 2, false) == SNK_EXIT_DEGRADED);
	CHECK(cli_status_code("running", failed, 2, false) == SNK_EXIT_DEGRADED);
	CHECK(cli_status_code("stopping", well, 2, false) == SNK_EXIT_UNAVAILABLE);
	/* paused is shown ahead of degraded: a database down still makes it 2 */
	CHECK(cli_status_code("paused", well, 2, true) == SNK_EXIT_DEGRADED);
	CHECK(cli_status_code("running", well, 2, true) == SNK_EXIT_DEGRADED);
	CHECK(cli_status_code("-", well, 2, false) == SNK_EXIT_DEGRADED); /* no state: not known to be well */
	{
		/* with three databases, six directions: the last one failing counts too */
		const char *six[6] = { "idle", "idle", "copying", "idle", "idle", "retrying" };

		CHECK(cli_status_code("running", six, 5, false) == SNK_EXIT_OK);
		CHECK(cli_status_code("running", six, 6, false) == SNK_EXIT_DEGRADED);
	}
	CHECK(SNK_EXIT_DEGRADED != SNK_EXIT_OK && SNK_EXIT_DEGRADED != SNK_EXIT_REFUSED &&
	      SNK_EXIT_DEGRADED != SNK_EXIT_UNAVAILABLE && SNK_EXIT_DEGRADED != SNK_EXIT_USAGE);
}

int main(void)
{
	test_options();
	test_fit();
	test_list_sep();
	test_status_code();
	return check_done();
}
