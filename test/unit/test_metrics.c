/* Unit tests of the metrics endpoint's request line parser: what each line asks for,
 * and that malformed or hostile lines get a 4xx route, never a crash. */
#include <stdlib.h>

#include "check.h"
#include "snk/metrics.h"

#define ALPHABET "GET /metricshz?HTP1. "

static enum metrics_route route(const char *line, bool *head)
{
	return metrics_route(line, strlen(line), head);
}

int main(void)
{
	bool head = true;

	CHECK(route("GET /metrics HTTP/1.1", &head) == METRICS_METRICS && !head);
	CHECK(route("GET /healthz HTTP/1.0", &head) == METRICS_HEALTHZ && !head);
	CHECK(route("HEAD /metrics HTTP/1.1", &head) == METRICS_METRICS && head);
	CHECK(route("GET /metrics?name[]=x HTTP/1.1", &head) == METRICS_METRICS);
	CHECK(route("GET /metricsx HTTP/1.1", &head) == METRICS_NOT_FOUND);
	CHECK(route("GET / HTTP/1.1", &head) == METRICS_NOT_FOUND);
	CHECK(route("GET /healthz/ HTTP/1.1", &head) == METRICS_NOT_FOUND);
	CHECK(route("POST /metrics HTTP/1.1", &head) == METRICS_BAD_METHOD);
	CHECK(route("get /metrics HTTP/1.1", &head) == METRICS_BAD_METHOD);
	CHECK(route("GETX /metrics HTTP/1.1", &head) == METRICS_BAD_METHOD);
	CHECK(route("GET /metrics", &head) == METRICS_BAD_REQUEST);
	CHECK(route("GET /metrics FTP/1.0", &head) == METRICS_BAD_REQUEST);
	CHECK(route("GET  HTTP/1.0", &head) == METRICS_BAD_REQUEST);
	CHECK(route("", &head) == METRICS_BAD_REQUEST);
	CHECK(route("GET", &head) == METRICS_BAD_REQUEST);
	CHECK(route("GET ", &head) == METRICS_BAD_REQUEST);
	CHECK(metrics_route("GET /metrics\0 HTTP/1.1", 22, &head) == METRICS_BAD_REQUEST);
	/* Random bytes never crash the parser; only the two paths are ever served. */
	unsigned seed = 4711;
	for (int i = 0; i < 50000; i++) {
		char buf[48];
		size_t n = (size_t)(rand_r(&seed) % (int)sizeof(buf));
		enum metrics_route r;

		for (size_t j = 0; j < n; j++) {
			int pick = rand_r(&seed);

			buf[j] = (char)(pick % 2 ? ALPHABET[pick / 2 % 21] : rand_r(&seed));
		}
		r = metrics_route(buf, n, &head);
		if (r == METRICS_METRICS || r == METRICS_HEALTHZ) {
			CHECK(n >= 17 && (!memcmp(buf, "GET ", 4) || !memcmp(buf, "HEAD ", 5)));
		}
	}
	CHECK(1);
	return check_done();
}
