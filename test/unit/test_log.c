/* Unit tests of the log: the text and JSON line formats, the journald priority prefix,
 * and the limiter (at most max lines a period, the rest counted, and the count told once
 * when a later period begins). */
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "snk/log.h"

/* 2026-11-22T10:00:00.123Z */
static struct log_line sample(enum log_format format, bool journal, enum log_level level,
			      const char *role, const char *text)
{
	struct log_line l = { .format = format, .journal = journal, .pid = 4711, .level = level,
			      .role = role, .text = text };

	l.tv.tv_sec = 1795341600;
	l.tv.tv_usec = 123456;
	return l;
}

static void test_text(void)
{
	char buf[512];
	struct log_line l = sample(LOG_FORMAT_TEXT, false, LOG_INFO, "a->b", "copied 5 rows");

	CHECK(log_format_line(buf, sizeof(buf), &l) == strlen(buf));
	CHECK_STR(buf, "2026-11-22T10:00:00.123Z snk[4711] info [a->b] copied 5 rows");
	l = sample(LOG_FORMAT_TEXT, false, LOG_WARN, NULL, "no role");
	log_format_line(buf, sizeof(buf), &l);
	CHECK_STR(buf, "2026-11-22T10:00:00.123Z snk[4711] warn no role");
	/* A short buffer cuts the line but stays terminated, and the need is told. */
	l = sample(LOG_FORMAT_TEXT, false, LOG_INFO, NULL, "0123456789");
	CHECK(log_format_line(buf, 10, &l) > 10);
	CHECK(strlen(buf) == 9);
}

static void test_journal(void)
{
	char buf[512];
	static const struct { enum log_level level; const char *prefix; } want[] = {
		{ LOG_ERROR, "<3>" }, { LOG_WARN, "<4>" }, { LOG_INFO, "<6>" },
		{ LOG_DEBUG, "<7>" }, { LOG_NOISE, "<7>" },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct log_line l = sample(LOG_FORMAT_TEXT, true, want[i].level, "ctl", "x");

		log_format_line(buf, sizeof(buf), &l);
		CHECK(strncmp(buf, want[i].prefix, 3) == 0);
		CHECK(strncmp(buf + 3, "2026-11-22T10:00:00.123Z snk[4711] ", 35) == 0);
		l.format = LOG_FORMAT_JSON;
		log_format_line(buf, sizeof(buf), &l);
		CHECK(strncmp(buf, want[i].prefix, 3) == 0 && buf[3] == '{');
	}
	CHECK(log_journal_stream_matches("8:1234", 8, 1234));
	CHECK(!log_journal_stream_matches("8:1234", 8, 1235));
	CHECK(!log_journal_stream_matches("9:1234", 8, 1234));
	CHECK(!log_journal_stream_matches("8:1234x", 8, 1234));
	CHECK(!log_journal_stream_matches("", 0, 0));
	CHECK(!log_journal_stream_matches(NULL, 0, 0));
}

static void test_json(void)
{
	char buf[1024];
	struct log_line l = sample(LOG_FORMAT_JSON, false, LOG_ERROR, "b.write2",
				   "say \"hi\"\\ \t\x01 caf\xc3\xa9 \xe9t\xe9");
	enum log_format f;

	log_format_line(buf, sizeof(buf), &l);
	CHECK_STR(buf, "{\"time\":\"2026-11-22T10:00:00.123Z\",\"level\":\"error\",\"pid\":4711,"
		       "\"role\":\"b.write2\",\"database\":\"b\",\"session\":\"b.write2\","
		       "\"message\":\"say \\\"hi\\\"\\\\ \\u0009\\u0001 caf\xc3\xa9 \\ufffdt\\ufffd\"}");
	l = sample(LOG_FORMAT_JSON, false, LOG_INFO, "b->a", "m");
	log_format_line(buf, sizeof(buf), &l);
	CHECK_STR(buf, "{\"time\":\"2026-11-22T10:00:00.123Z\",\"level\":\"info\",\"pid\":4711,"
		       "\"role\":\"b->a\",\"direction\":\"b_to_a\",\"message\":\"m\"}");
	l = sample(LOG_FORMAT_JSON, false, LOG_WARN, NULL, "m");
	log_format_line(buf, sizeof(buf), &l);
	CHECK_STR(buf, "{\"time\":\"2026-11-22T10:00:00.123Z\",\"level\":\"warn\",\"pid\":4711,"
		       "\"message\":\"m\"}");
	{
		/* The longest message log_msg formats, every byte escaped, still fits a line. */
		static char big[2048], line[LOG_LINE_MAX];

		memset(big, 1, sizeof(big) - 1);
		l = sample(LOG_FORMAT_JSON, true, LOG_ERROR, "b.write2", big);
		CHECK(log_format_line(line, sizeof(line) - 1, &l) < sizeof(line) - 1);
	}
	CHECK(log_parse_format("json", &f) && f == LOG_FORMAT_JSON);
	CHECK(log_parse_format("text", &f) && f == LOG_FORMAT_TEXT);
	CHECK(!log_parse_format("JSON", &f));
}

int main(void)
{
	test_text();
	test_journal();
	test_json();
	struct log_limit lim = LOG_LIMIT_INIT("test", "test lines", 5, 200);

	log_set_level(LOG_INFO);
	for (int i = 0; i < 1000; i++)
		log_limited(&lim, LOG_WARN, "line %d", i);
	CHECK(lim.lines == 5);
	CHECK(lim.suppressed == 995);
	CHECK(lim.worst == LOG_WARN);
	/* Below the log level: neither written nor counted. */
	log_limited(&lim, LOG_DEBUG, "quiet");
	CHECK(lim.suppressed == 995);
	/* Within the period a flush says nothing yet; after it, the drops are told once. */
	log_limit_flush(&lim);
	CHECK(lim.suppressed == 995);
	usleep(250 * 1000);
	log_limit_flush(&lim);
	CHECK(lim.suppressed == 0 && lim.lines == 0);
	log_limited(&lim, LOG_INFO, "after the period");
	CHECK(lim.lines == 1);
	return check_done();
}
