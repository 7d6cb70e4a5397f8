/* tst.c - the load generator: an endless loop that picks one of the config's databases at
 * random and inserts a batch of rows (default 1000) with random content in one statement,
 * with no sleep. It knows nothing of snk: it talks only to the databases, as an
 * application would.
 *
 *   tst -c config.json [--seconds S] [--batches N] [--batch-size 1000] [--side NAME] [--seed N]
 *
 * Prints a progress line every second and, at the end, "tst: a=N b=M total=T" (a name=N
 * for each database): the rows it knows were committed on each side. While a database is
 * down tst keeps writing to the others and retries the lost one every second, from the
 * start too: only when no
 * database it may write to answers at start does it exit (69). A batch whose commit reply
 * was lost is looked up after reconnecting, so the totals stay exact across database
 * restarts (exit 75 if that could not be settled).
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

/* One database as tst sees it. A side whose connection broke is retried once a second
 * while tst goes on with the other side. If the broken insert's commit reply was lost,
 * the batch is "in doubt" until its first id can be looked up. */
struct side {
	const char *name;
	const char *conninfo;  /* borrowed */
	PGconn *conn;          /* owned, NULL while down */
	double next_try;
	bool in_doubt;
	unsigned char doubt_id[16];
	int doubt_rows;
	uint64_t rows;
	uint64_t last_rows;
};

static bool side_up(struct side *sd, const struct snk_table *t, double now)
{
	char err[1024];

	if (sd->conn)
		return true;
	if (now < sd->next_try)
		return false;
	sd->next_try = now + 1.0;
	sd->conn = db_connect_blocking(sd->conninfo, "tst", err, sizeof(err));
	if (!sd->conn) {
		fprintf(stderr, "tst: database %s: %s; retrying every second\n", sd->name, err);
		return false;
	}
	if (sd->in_doubt) {
		int found = db_app_has_id(sd->conn, t, sd->doubt_id);

		if (found < 0) {
			PQfinish(sd->conn);
			sd->conn = NULL;
			return false;
		}
		if (found)
			sd->rows += (uint64_t)sd->doubt_rows;
		fprintf(stderr, "tst: database %s is back; the batch in doubt %s committed\n", sd->name,
			found ? "had" : "had not");
		sd->in_doubt = false;
	} else {
		fprintf(stderr, "tst: database %s is back\n", sd->name);
	}
	return true;
}

/* The first connections. A database that is down at start is treated as one that went
 * down later: tst writes to the other and retries it every second. Only when no database
 * tst may write to answers is there nothing to do. */
static bool connect_first(struct side *sd, const struct snk_config *cfg, int force_side)
{
	char err[SNK_DB_MAX][1024];
	bool any = false;

	for (int i = 0; i < cfg->ndb; i++) {
		sd[i].name = cfg->db_name[i];
		sd[i].conninfo = cfg->conninfo[i];
		if (force_side >= 0 && force_side != i)
			continue;
		sd[i].conn = db_connect_blocking(cfg->conninfo[i], "tst", err[i], sizeof(err[i]));
		any = any || sd[i].conn;
	}
	for (int i = 0; i < cfg->ndb; i++) {
		if (sd[i].conn || (force_side >= 0 && force_side != i))
			continue;
		if (any)
			fprintf(stderr, "tst: database %s: %s; writing to %s meanwhile, retrying %s every second\n",
				sd[i].name, err[i], cfg->ndb == 2 ? sd[1 - i].name : "the others", sd[i].name);
		else
			fprintf(stderr, "tst: cannot connect to database %s: %s\n", sd[i].name, err[i]);
		sd[i].next_try = now_s() + 1.0;
	}
	if (!any)
		fprintf(stderr, "tst: no database to write to is reachable; "
			"check \"databases\" in the config\n");
	return any;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: tst -c CONFIG [--seconds S] [--batches N] [--batch-size N] [--side NAME] [--seed N] [--quiet]\n"
		     "       tst --version\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "seconds", required_argument, NULL, 's' },
		{ "batches", required_argument, NULL, 'n' }, { "batch-size", required_argument, NULL, 'b' },
		{ "side", required_argument, NULL, 'S' },    { "seed", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },         { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },       { NULL, 0, NULL, 0 },
	};
	const char *config_path = "config.json";
	double seconds = 0;
	long batches = 0, batch_size = 1000;
	const char *side_name = NULL;
	int force_side = -1, opt;
	bool quiet = false;
	struct snk_config *cfg;
	struct snk_table t;
	struct snk_batch batch = { 0 };
	struct side sd[SNK_DB_MAX] = { 0 };
	int ndb;
	uint64_t failures = 0;
	bool uncertain = false;
	char err[1024];
	static char text[16384];

	rng_state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
	while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
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
			side_name = optarg; /* a name of "databases": checked once the config is read */
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
		case 'V':
			printf("tst %s\n", SNK_VERSION);
			return SNK_EXIT_OK;
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
	ndb = cfg->ndb;
	for (int i = 0; side_name && i < ndb; i++) {
		if (strcmp(side_name, cfg->db_name[i]) == 0)
			force_side = i;
	}
	if (side_name && force_side < 0) {
		fprintf(stderr, "tst: --side: %s is none of the databases of %s\n", side_name, config_path);
		config_free(cfg);
		return SNK_EXIT_USAGE;
	}
	if (!db_table_init(&t, cfg)) {
		fprintf(stderr, "tst: out of memory\n");
		return SNK_EXIT_OSERR;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!connect_first(sd, cfg, force_side)) {
		db_table_clear(&t);
		config_free(cfg);
		return SNK_EXIT_UNAVAILABLE;
	}

	double start = now_s(), last_report = start;
	long done = 0;
	while (!stop_requested) {
		double now = now_s();
		int up[SNK_DB_MAX], nup = 0, side;

		if ((seconds > 0 && now - start >= seconds) || (batches > 0 && done >= batches))
			break;
		for (int i = 0; i < ndb; i++) {
			if ((force_side < 0 || force_side == i) && side_up(&sd[i], &t, now))
				up[nup++] = i;
		}
		if (nup == 0) {
			usleep(100000);
			continue;
		}
		side = up[(rng() >> 33) % (uint64_t)nup];
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
		if (db_app_insert(sd[side].conn, &t, &batch, err, sizeof(err))) {
			sd[side].rows += (uint64_t)batch.nrows;
		} else if (PQstatus(sd[side].conn) == CONNECTION_OK) {
			failures++;
			fprintf(stderr, "tst: database %s: insert failed: %s\n", sd[side].name, err);
		} else {
			/* The commit may or may not have happened: ask once the side is back. */
			failures++;
			fprintf(stderr, "tst: database %s: connection lost: %s\n", sd[side].name, err);
			PQfinish(sd[side].conn);
			sd[side].conn = NULL;
			sd[side].in_doubt = true;
			sd[side].doubt_rows = batch.nrows;
			memcpy(sd[side].doubt_id, batch_id_at(&batch, 0), 16);
			sd[side].next_try = now_s() + 0.2;
		}
		done++;
		now = now_s();
		if (!quiet && now - last_report >= 1.0) {
			double dt = now - last_report;
			char counts[SNK_DB_MAX * 48] = "", rates[SNK_DB_MAX * 48] = "";
			size_t nc = 0, nr = 0;

			for (int i = 0; i < ndb; i++) {
				nc += (size_t)snprintf(counts + nc, sizeof(counts) - nc, " %s=%llu", sd[i].name,
						       (unsigned long long)sd[i].rows);
				nr += (size_t)snprintf(rates + nr, sizeof(rates) - nr, " %s=%.0f/s", sd[i].name,
						       (double)(sd[i].rows - sd[i].last_rows) / dt);
				sd[i].last_rows = sd[i].rows;
			}
			printf("tst: %.0fs%s rate%s\n", now - start, counts, rates);
			last_report = now;
		}
	}
	/* Settle batches in doubt before reporting: totals must be exact. */
	for (int i = 0; i < ndb; i++) {
		double deadline = now_s() + 60;

		while (sd[i].in_doubt && !stop_requested && now_s() < deadline) {
			if (!side_up(&sd[i], &t, now_s()))
				usleep(200000);
		}
		if (sd[i].in_doubt) {
			fprintf(stderr, "tst: could not learn whether the last batch on %s committed; totals are uncertain\n",
				sd[i].name);
			uncertain = true;
		}
	}
	{
		uint64_t total = 0;

		printf("tst:");
		for (int i = 0; i < ndb; i++) {
			printf(" %s=%llu", sd[i].name, (unsigned long long)sd[i].rows);
			total += sd[i].rows;
		}
		printf(" total=%llu\n", (unsigned long long)total);
	}
	if (failures)
		fprintf(stderr, "tst: %llu batches failed\n", (unsigned long long)failures);
	for (int i = 0; i < ndb; i++)
		PQfinish(sd[i].conn);
	batch_free(&batch);
	db_table_clear(&t);
	config_free(cfg);
	return uncertain ? SNK_EXIT_TEMPFAIL : 0;
}
