/* Unit tests of the log limiter: at most max lines a period, the rest counted, and the
 * count told once when a later period begins. */
#include <unistd.h>

#include "check.h"
#include "snk/log.h"

int main(void)
{
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
