/* tst.c - the load generator: an endless loop that picks database a or b at random and
 * inserts a batch of rows (default 1000) with random content in one statement, with no
 * sleep. It knows nothing of snk: it talks only to the databases, as an application would.
 *
 *   tst -c config.json [--seconds S] [--batches N] [--batch-size 1000] [--side a|b] [--seed N]
 *
 * Prints a progress line every second and, at the end, "tst: a=N b=M total=T": the rows
 * it knows were committed on each side. A batch whose commit reply was lost is looked up
 * after reconnecting, so the totals stay exact across database restarts.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "snk/batch.h"
#include "snk/config.h"
#include "snk/db.h"
#include "snk/exitcodes.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = 1;
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: fast and good enough for test data */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Pieces that break naive quoting, escaping and encoding: quotes, backslashes, array and
 * JSON punctuation, control characters, and multi-byte UTF-8 of 2, 3 and 4 bytes. */
static const char *const awkward[] = {
	"'", "\"", "\\", "{", "}", ",", "\n", "\t", "\r", "NULL", "\\N", "$1", "%s", ";--",
	"\xc3\xbc", "\xe2\x82\xac", "\xe6\xbc\xa2", "\xf0\x9f\x98\x80", "\xf0\x9f\x8f\xb3\xef\xb8\x8f",
	" ", "(", ")", "[", "]",
};

static size_t gen_text(char *buf, size_t cap)
{
	uint64_t r = rng();
	size_t len = 0, target;

	switch (r % 100) {
	case 0:
		return 0; /* empty */
	case 1:
		target = 4096 + rng() % 8192; /* occasionally long */
		break;
	default:
		target = 8 + rng() % 120;
		break;
	}
	if (target > cap)
		target = cap;
	bool nasty = (r >> 8) % 10 == 0;
	while (len < target) {
		if (nasty && rng() % 4 == 0) {
			const char *p = awkward[rng() % (sizeof(awkward) / sizeof(awkward[0]))];
			size_t n = strlen(p);

			if (len + n > target)
				break;
			memcpy(buf + len, p, n);
			len += n;
		} else {
			buf[len++] = (char)('a' + rng() % 26);
		}
	}
	return len;
}

static PGconn *connect_side(const struct snk_config *cfg, int i, bool retry)
{
	char err[1024];

	for (;;) {
		PGconn *c = db_connect_blocking(cfg->conninfo[i], "tst", err, sizeof(err));

		if (c || !retry || stop_requested)
			return c;
		fprintf(stderr, "tst: database %s: %s; retrying in 1 s\n", i ? "b" : "a", err);
		sleep(1);
	}
}

static void usage(FILE *out)
{
	fprintf(out, "usage: tst -c CONFIG [--seconds S] [--batches N] [--batch-size N] [--side a|b] [--seed N] [--quiet]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "seconds", required_argument, NULL, 's' },
		{ "batches", required_argument, NULL, 'n' }, { "batch-size", required_argument, NULL, 'b' },
		{ "side", required_argument, NULL, 'S' },    { "seed", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },         { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = "config.json";
	double seconds = 0;
	long batches = 0, batch_size = 1000;
	int force_side = -1, opt;
	bool quiet = false;
	struct snk_config *cfg;
	struct snk_table t;
	struct snk_batch batch = { 0 };
	PGconn *conn[2];
	uint64_t rows[2] = { 0, 0 }, last_rows[2] = { 0, 0 }, failures = 0;
	char err[1024];
	static char text[16384];

	rng_state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		char *end = NULL;

		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 's':
			seconds = strtod(optarg, &end);
			if (*end || seconds <= 0) {
				fprintf(stderr, "tst: --seconds: must be a positive number\n");
				return SNK_EXIT_USAGE;
			}
			break;
		case 'n':
			batches = strtol(optarg, &end, 10);
			if (*end || batches <= 0) {
				fprintf(stderr, "tst: --batches: must be a positive whole number\n");
				return SNK_EXIT_USAGE;
			}
			break;
		case 'b':
			batch_size = strtol(optarg, &end, 10);
			if (*end || batch_size <= 0 || batch_size > 1000000) {
				fprintf(stderr, "tst: --batch-size: must be 1..1000000\n");
				return SNK_EXIT_USAGE;
			}
			break;
		case 'S':
			if (strcmp(optarg, "a") && strcmp(optarg, "b")) {
				fprintf(stderr, "tst: --side: must be a or b\n");
				return SNK_EXIT_USAGE;
			}
			force_side = optarg[0] == 'a' ? 0 : 1;
			break;
		case 'r':
			rng_state = strtoull(optarg, &end, 10) | 1;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return SNK_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return SNK_EXIT_USAGE;
	}
	switch (config_load(config_path, &cfg, err, sizeof(err))) {
	case CONFIG_OK:
		break;
	case CONFIG_UNREADABLE:
		fprintf(stderr, "tst: %s\n", err);
		return SNK_EXIT_NOINPUT;
	default:
		fprintf(stderr, "tst: %s\n", err);
		return SNK_EXIT_CONFIG;
	}
	if (!db_table_init(&t, cfg)) {
		fprintf(stderr, "tst: out of memory\n");
		return SNK_EXIT_OSERR;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < 2; i++) {
		conn[i] = connect_side(cfg, i, false);
		if (!conn[i]) {
			fprintf(stderr, "tst: cannot connect to database %s\n", i ? "b" : "a");
			return SNK_EXIT_UNAVAILABLE;
		}
	}

	double start = now_s(), last_report = start;
	long done = 0;
	while (!stop_requested) {
		int side = force_side >= 0 ? force_side : (int)(rng() >> 33) % 2;
		double now = now_s();

		if ((seconds > 0 && now - start >= seconds) || (batches > 0 && done >= batches))
			break;
		batch_reset(&batch);
		for (long i = 0; i < batch_size; i++) {
			uuid_t id;
			size_t len = gen_text(text, sizeof(text));

			uuid_generate_random(id);
			if (!batch_add(&batch, id, text, len)) {
				fprintf(stderr, "tst: out of memory\n");
				return SNK_EXIT_OSERR;
			}
		}
		batch_finish(&batch);
		if (db_app_insert(conn[side], &t, &batch, err, sizeof(err))) {
			rows[side] += (uint64_t)batch.nrows;
		} else if (PQstatus(conn[side]) == CONNECTION_OK) {
			failures++;
			fprintf(stderr, "tst: database %s: insert failed: %s\n", side ? "b" : "a", err);
		} else {
			/* The commit may or may not have happened: ask the database. */
			int found = -1;

			failures++;
			fprintf(stderr, "tst: database %s: connection lost: %s; reconnecting\n", side ? "b" : "a", err);
			PQfinish(conn[side]);
			conn[side] = NULL;
			while (!stop_requested && found < 0) {
				if (!conn[side])
					conn[side] = connect_side(cfg, side, true);
				if (!conn[side])
					break;
				found = db_app_has_id(conn[side], &t, batch_id_at(&batch, 0));
				if (found < 0) {
					PQfinish(conn[side]);
					conn[side] = NULL;
				}
			}
			if (found > 0)
				rows[side] += (uint64_t)batch.nrows;
			if (found < 0) {
				fprintf(stderr, "tst: could not learn whether the last batch on %s committed; totals are uncertain\n",
					side ? "b" : "a");
				break;
			}
		}
		done++;
		now = now_s();
		if (!quiet && now - last_report >= 1.0) {
			double dt = now - last_report;

			printf("tst: %.0fs a=%llu b=%llu rate a=%.0f/s b=%.0f/s\n", now - start,
			       (unsigned long long)rows[0], (unsigned long long)rows[1],
			       (double)(rows[0] - last_rows[0]) / dt, (double)(rows[1] - last_rows[1]) / dt);
			last_rows[0] = rows[0];
			last_rows[1] = rows[1];
			last_report = now;
		}
	}
	printf("tst: a=%llu b=%llu total=%llu\n", (unsigned long long)rows[0], (unsigned long long)rows[1],
	       (unsigned long long)(rows[0] + rows[1]));
	if (failures)
		fprintf(stderr, "tst: %llu batches failed\n", (unsigned long long)failures);
	for (int i = 0; i < 2; i++)
		PQfinish(conn[i]);
	batch_free(&batch);
	db_table_clear(&t);
	config_free(cfg);
	return 0;
}
