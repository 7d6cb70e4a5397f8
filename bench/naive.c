/* naive.c - the design snk is measured against (bench/naive.sh), not part of snk.
 *
 *   naive -c config.json [--page N] [--poll-ms MS] [--listen CHANNEL]
 *
 * The "greater than the last serial id" poller: the table carries a bigserial naive_seq;
 * each direction remembers the highest naive_seq it has copied and asks for the next
 * --page (200) rows above it, in order, then inserts them into the peer with
 * ON CONFLICT DO NOTHING (and naive_seq = 0, so copies are not read back). Both directions
 * take turns on one thread; when neither found rows it sleeps --poll-ms (10). It keeps its
 * position in memory and starts from 0: enough for a benchmark. With --listen it LISTENs
 * on CHANNEL in both databases (migrations/notify_trigger.sql's) and, when neither found
 * rows, waits for a notification instead, at most --poll-ms: the shortest path a row can
 * take from a commit in one database to a commit in the other, one read and one durable
 * INSERT, both prepared (bench/floor.sh measures it with probe).
 *
 * Its flaw is the point of the comparison: a sequence value is taken when a row is
 * inserted, not when it commits. A transaction that commits after a later-numbered one
 * has already been read is passed over for good.
 *
 * On SIGTERM or SIGINT it prints one line: rows copied each way and pages read.
 */
#include <getopt.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "snk/batch.h"
#include "snk/config.h"
#include "snk/db.h"
#include "snk/exitcodes.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Reads the notifications libpq holds for c (some arrive during a statement); true if any. */
static bool take_notifies(PGconn *c)
{
	PGnotify *nf;
	bool any = false;

	while ((nf = PQnotifies(c)) != NULL) {
		any = true;
		PQfreemem(nf);
	}
	return any;
}

/* Returns once either database has notified, or after ms. */
static void wait_notified(PGconn *conn[2], int ms)
{
	struct pollfd pfd[2];

	for (int i = 0; i < 2; i++) {
		pfd[i].fd = PQsocket(conn[i]);
		pfd[i].events = POLLIN;
	}
	while (!stop) {
		bool notified = take_notifies(conn[0]);
		int n;

		notified |= take_notifies(conn[1]);
		if (notified)
			return;
		n = poll(pfd, 2, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the wait is over, or the next statements report the sessions' error */
		for (int i = 0; i < 2; i++) {
			if (pfd[i].revents && !PQconsumeInput(conn[i]))
				return;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "page", required_argument, NULL, 'p' },
		{ "poll-ms", required_argument, NULL, 'i' },
		{ "listen", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = "config.json", *channel = NULL;
	long page = 200, poll_ms = 10;
	int opt;
	struct snk_config *cfg;
	struct snk_table t;
	struct snk_batch b = { 0 };
	PGconn *conn[2];
	int64_t after[2] = { 0, 0 };
	uint64_t copied[2] = { 0, 0 }, pages = 0;
	char err[1024];

	while ((opt = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'p':
			page = strtol(optarg, NULL, 10);
			break;
		case 'i':
			poll_ms = strtol(optarg, NULL, 10);
			break;
		case 'l':
			channel = optarg;
			break;
		default:
			fprintf(stderr, "usage: naive -c CONFIG [--page N] [--poll-ms MS] [--listen CHANNEL]\n");
			return SNK_EXIT_USAGE;
		}
	}
	if (page < 1 || page > 100000 || poll_ms < 0) {
		fprintf(stderr, "naive: --page must be 1..100000 and --poll-ms >= 0\n");
		return SNK_EXIT_USAGE;
	}
	if (config_load(config_path, &cfg, err, sizeof(err)) != CONFIG_OK) {
		fprintf(stderr, "naive: %s\n", err);
		return SNK_EXIT_CONFIG;
	}
	if (!db_table_init(&t, cfg))
		return SNK_EXIT_OSERR;
	for (int i = 0; i < 2; i++) {
		conn[i] = db_connect_blocking(cfg->conninfo[i], "snk naive poller", err, sizeof(err));
		if (!conn[i] || !db_naive_prepare(conn[i], &t, channel, err, sizeof(err))) {
			fprintf(stderr, "naive: database %s: %s\n", i ? "b" : "a", err);
			return SNK_EXIT_UNAVAILABLE;
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop) {
		bool moved = false;

		for (int src = 0; src < 2 && !stop; src++) {
			int64_t next = after[src];
			int n = db_naive_page(conn[src], &next, (int)page, &b, err, sizeof(err));

			if (n > 0 && !db_naive_copy(conn[1 - src], &b, err, sizeof(err)))
				n = -1;
			if (n < 0) {
				fprintf(stderr, "naive: %s -> %s: %s\n", src ? "b" : "a", src ? "a" : "b", err);
				return SNK_EXIT_UNAVAILABLE;
			}
			after[src] = next;
			copied[src] += (uint64_t)n;
			pages++;
			moved |= n > 0;
		}
		if (!moved && channel)
			wait_notified(conn, (int)poll_ms);
		else if (!moved && poll_ms)
			usleep((useconds_t)(poll_ms * 1000));
	}
	printf("naive: a->b %llu rows, b->a %llu rows, %llu pages\n", (unsigned long long)copied[0],
	       (unsigned long long)copied[1], (unsigned long long)pages);
	for (int i = 0; i < 2; i++)
		PQfinish(conn[i]);
	batch_free(&b);
	db_table_clear(&t);
	config_free(cfg);
	return 0;
}
