/* listener.c - accepting clients without spinning, and without starving the databases.
 *
 * libevent's evconnlistener, when accept() fails for want of a descriptor (EMFILE,
 * ENFILE) or of memory, logs a line and returns with the listening socket still
 * readable, so the loop calls it again at once: 100% CPU, a log line per turn (173 MB in
 * 8 s in the report that led here), and database sessions that cannot reconnect for want
 * of a descriptor. Here a failed accept pauses the listener and a timer resumes it, after
 * 100 ms doubling to 2 s, back to 100 ms after an accept that works.
 *
 * Each listener holds at most max_clients clients, and never more than a quarter of the
 * descriptor limit, so that the database sessions always find descriptors. A client over
 * the cap is accepted and closed at once, and counted. Why not stop accepting instead:
 * the excess clients would wait unseen in the kernel's backlog for minutes, uncounted,
 * while a refused one learns at once; and accepting costs one call per connection the
 * clients make, never a loop. Lines about refusals and failures are limited to one per
 * 10 s and carry the totals.
 */
#include "snk/listener.h"

#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "snk/log.h"

#define LISTEN_BACKLOG 128
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 2000
#define LINE_EVERY_MS 10000
#define LISTEN_FLAGS (LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE)

struct snk_listener {
	struct evconnlistener *lev; /* owned */
	struct event *retry;        /* owned: resumes accepting after a failed accept */
	listener_cb cb;
	void *arg;                  /* borrowed: the owner's, for cb */
	int clients;
	int max_clients;
	int retry_ms;               /* the pause after the last failed accept; 0 when none */
	uint64_t refused;
	uint64_t accept_failures;
	struct log_limit refuse_limit;  /* one per kind, so that each kind's first line shows */
	struct log_limit fail_limit;
};

/* A quarter of the descriptors at most, so that a full listener leaves room for the
 * database sessions, the other listener and libevent's own. */
static int fit_to_fd_limit(int max_clients)
{
	struct rlimit rl;
	rlim_t quarter;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return max_clients;
	quarter = rl.rlim_cur / 4;
	if (quarter < 1)
		return 1;
	return quarter < (rlim_t)max_clients ? (int)quarter : max_clients;
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	struct snk_listener *l = arg;

	l->retry_ms = 0;
	if (l->clients >= l->max_clients) {
		evutil_closesocket(fd);
		l->refused++;
		log_limited(&l->refuse_limit, LOG_WARN,
			    "%d clients, the limit: refusing new ones (%llu refused since start)",
			    l->max_clients, (unsigned long long)l->refused);
		return;
	}
	l->clients++;
	l->cb(fd, l->arg);
}

static void error_cb(struct evconnlistener *lev, void *arg)
{
	struct snk_listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv;

	l->accept_failures++;
	l->retry_ms = l->retry_ms ? l->retry_ms * 2 : RETRY_FIRST_MS;
	if (l->retry_ms > RETRY_MAX_MS)
		l->retry_ms = RETRY_MAX_MS;
	evconnlistener_disable(lev);
	tv.tv_sec = l->retry_ms / 1000;
	tv.tv_usec = (l->retry_ms % 1000) * 1000;
	evtimer_add(l->retry, &tv);
	log_limited(&l->fail_limit, LOG_WARN,
		    "cannot accept a connection: %s; not accepting for %d ms"
		    " (%llu failed accepts since start)",
		    evutil_socket_error_to_string(err), l->retry_ms,
		    (unsigned long long)l->accept_failures);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_listener *l = arg;

	evconnlistener_enable(l->lev);
}

struct snk_listener *listener_new(struct event_base *base, const char *role,
				  const struct sockaddr *sa, int salen, int max_clients,
				  listener_cb cb, void *arg, char *err, size_t errlen)
{
	struct snk_listener *l = calloc(1, sizeof(*l));

	if (!l || !(l->retry = evtimer_new(base, retry_cb, l))) {
		free(l);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->cb = cb;
	l->arg = arg;
	l->max_clients = fit_to_fd_limit(max_clients);
	l->refuse_limit = (struct log_limit)LOG_LIMIT_INIT(role, "lines about refused clients", 1,
							   LINE_EVERY_MS);
	l->fail_limit = (struct log_limit)LOG_LIMIT_INIT(role, "lines about failed accepts", 1,
							 LINE_EVERY_MS);
	l->lev = evconnlistener_new_bind(base, accept_cb, l, LISTEN_FLAGS, LISTEN_BACKLOG, sa,
					 salen);
	if (!l->lev) {
		snprintf(err, errlen, "%s", strerror(errno));
		event_free(l->retry);
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->lev, error_cb);
	log_debug(role, "at most %d clients at once", l->max_clients);
	return l;
}

void listener_client_closed(struct snk_listener *l)
{
	assert(l->clients > 0 && "BUG: listener_client_closed without a client");
	l->clients--;
}

void listener_get_stats(const struct snk_listener *l, struct listener_stats *out)
{
	out->clients = l->clients;
	out->max_clients = l->max_clients;
	out->refused = l->refused;
	out->accept_failures = l->accept_failures;
}

void listener_free(struct snk_listener *l)
{
	if (!l)
		return;
	evconnlistener_free(l->lev);
	event_free(l->retry);
	free(l);
}
