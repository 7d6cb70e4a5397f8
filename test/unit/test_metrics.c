/* Unit tests of the metrics endpoint: what each request line asks for, and that
 * malformed or hostile lines get a 4xx route, never a crash; /readyz's verdict on a real
 * app struct; the parsing of /proc/self/stat and /proc/stat, and the figures read. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "snk/metrics.h"
#include "snk/procstat.h"
#include "snk/clock.h"
#include "snk/sync.h"

#define ALPHABET "GET /metricshzlvady?HTP1. "

static enum metrics_route route(const char *line, bool *head)
{
	return metrics_route(line, strlen(line), head);
}

/* An app with both databases connected and both directions caught up. */
static void app_healthy(struct snk_app *app)
{
	memset(app, 0, sizeof(*app));
	app->started_ms = clock_now_ms();
	app->lease.role = ROLE_ACTIVE;
	app->lease.waiting = app->lease.active_side = -1;
	app->ndb = app->ndir = 2;
	for (int i = 0; i < 2; i++) {
		snprintf(app->side[i].name, sizeof(app->side[i].name), "%s", i ? "b" : "a");
		app->side[i].read_ok = app->side[i].write_ok = true;
		snprintf(app->dir[i].name, sizeof(app->dir[i].name), "%s", i ? "b_to_a" : "a_to_b");
		app->dir[i].src = &app->side[i];
		app->dir[i].dst = &app->side[1 - i];
		app->dir[i].app = app;
		app->dir[i].state = DIR_IDLE;
	}
}

static void check_ready(void)
{
	struct snk_app app;
	char why[256];

	app_healthy(&app);
	CHECK(metrics_ready(&app, 1000, why, sizeof(why)));
	CHECK_STR(why, "ok");
	app.paused = true;
	CHECK(!metrics_ready(&app, 1000, why, sizeof(why)));
	CHECK_CONTAINS(why, "paused");
	/* /healthz stays as documented: a pause alone, caught up, is healthy. */
	CHECK(sync_healthy(&app, 1000, why, sizeof(why)));
	/* A lost database is said before the pause. */
	app.side[1].write_ok = false;
	CHECK(!metrics_ready(&app, 1000, why, sizeof(why)));
	CHECK_STR(why, "database b is not connected");
	app_healthy(&app);
	app.dir[0].wake_pending = true;
	app.dir[0].stats.prev_taken_ms = clock_now_ms() - 5000;
	CHECK(!metrics_ready(&app, 1000, why, sizeof(why)));
	CHECK_CONTAINS(why, "a_to_b lag");
	CHECK(metrics_ready(&app, 60000, why, sizeof(why)));
	app.stopping = true;
	CHECK(!metrics_ready(&app, 60000, why, sizeof(why)));
	CHECK_STR(why, "stopping");
	/* A standby whose lock session is up: healthy, never ready, and it says who is active. */
	app_healthy(&app);
	app.lease.role = ROLE_STANDBY;
	app.lease.waiting = app.lease.active_side = 0;
	app.lease.active = (struct snk_lock_holder){ .held = true, .pid = 4711, .client = "10.0.0.5:5432" };
	app.side[0].writer_checked = true;
	app.side[1].read_ok = app.side[1].write_ok = false;
	CHECK(sync_healthy(&app, 1000, why, sizeof(why)));
	CHECK_STR(why, "standby; active: database a backend pid 4711 (client 10.0.0.5:5432)");
	CHECK(!metrics_ready(&app, 1000, why, sizeof(why)));
	CHECK_CONTAINS(why, "standby; active: database a backend pid 4711");
	CHECK(!sync_degraded(&app, why, sizeof(why)));
}

static void check_procstat(void)
{
	struct proc_stat_fields f;
	struct proc_figures p;
	uint64_t btime = 0;
	/* A command name with spaces and parentheses, as a process may call itself. */
	const char *line = "4711 (snk (a) b) S 1 4711 4711 0 -1 4194560 812 0 0 0 "
			   "250 75 0 0 20 0 1 0 123456 24211456 3120 18446744073709551615 1 1 0 0 0 0 0 "
			   "4096 0 0 0 0 17 1 0 0 0 0 0\n";

	CHECK(procstat_parse_stat(line, &f));
	CHECK(f.utime == 250 && f.stime == 75);
	CHECK(f.starttime == 123456);
	CHECK(f.vsize == 24211456 && f.rss_pages == 3120);
	CHECK(!procstat_parse_stat("4711 (snk) S 1 2 3", &f));
	CHECK(!procstat_parse_stat("no name here", &f));
	CHECK(!procstat_parse_stat("", &f));
	CHECK(procstat_parse_btime("cpu  1 2 3\nintr 5 6\nbtime 1764547200\nprocesses 9\n", &btime));
	CHECK(btime == 1764547200);
	CHECK(!procstat_parse_btime("cpu  1 2 3\nctxt 7\n", &btime));
	CHECK(!procstat_parse_btime("", &btime));
	/* This process, now: started within the last minute, holds stdin..stderr at least. */
	CHECK(procstat_read(&p));
	CHECK(p.open_fds >= 3);
	CHECK(p.max_fds >= p.open_fds);
	CHECK(p.resident_bytes > 0 && p.virtual_bytes >= p.resident_bytes);
	CHECK(p.start_time_seconds > (double)(clock_now_ms() / 1000 - 60));
	CHECK(p.start_time_seconds <= (double)(clock_now_ms() / 1000 + 2));
	CHECK(p.cpu_seconds >= 0 && p.cpu_seconds < 60);
}

int main(void)
{
	bool head = true;

	check_ready();
	check_procstat();
	CHECK(route("GET /livez HTTP/1.1", &head) == METRICS_LIVEZ && !head);
	CHECK(route("GET /readyz HTTP/1.1", &head) == METRICS_READYZ && !head);
	CHECK(route("HEAD /livez HTTP/1.1", &head) == METRICS_LIVEZ && head);
	CHECK(route("HEAD /readyz HTTP/1.0", &head) == METRICS_READYZ && head);
	CHECK(route("HEAD /healthz HTTP/1.0", &head) == METRICS_HEALTHZ && head);
	CHECK(route("GET /readyz?verbose HTTP/1.1", &head) == METRICS_READYZ);
	CHECK(route("GET /live HTTP/1.1", &head) == METRICS_NOT_FOUND);
	CHECK(route("GET /readyzz HTTP/1.1", &head) == METRICS_NOT_FOUND);

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
			int k = pick / 2 % (int)(sizeof(ALPHABET) - 1);

			buf[j] = (char)(pick % 2 ? ALPHABET[k] : rand_r(&seed));
		}
		r = metrics_route(buf, n, &head);
		if (r == METRICS_METRICS || r == METRICS_HEALTHZ || r == METRICS_LIVEZ ||
		    r == METRICS_READYZ) {
			CHECK(n >= 15 && (!memcmp(buf, "GET ", 4) || !memcmp(buf, "HEAD ", 5)));
		}
	}
	CHECK(1);
	return check_done();
}
