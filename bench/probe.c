/* probe.c - end-to-end latency of snk: insert one row into one database, then poll the
 * others until the row is readable in every one; repeat, taking the databases in turn.
 *
 *   probe -c config.json [--samples N | --seconds S] [--gap-ms G] [--jitter-ms J] [--csv FILE] [--side NAME]
 *
 * The clock starts when the INSERT's commit is acknowledged and stops when a SELECT on
 * the last of the other databases finds the row (polled every 200 us). Prints p50/p90/p99/max in ms and a
 * JSON line; --csv writes "unix_time_s,side,latency_ms" per sample.
 */
#include <getopt.h>
#include <math.h>
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

#define SAMPLE_TIMEOUT_S 30.0

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p)
{
	int i = (int)ceil(p / 100.0 * n) - 1;

	return n ? v[i < 0 ? 0 : i >= n ? n - 1 : i] : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },  { "samples", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' }, { "gap-ms", required_argument, NULL, 'g' },
		{ "csv", required_argument, NULL, 'o' },     { "side", required_argument, NULL, 'S' },
		{ "jitter-ms", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = "config.json", *csv_path = NULL;
	long samples = 500, gap_ms = 20, jitter_ms = 0;
	double seconds = 0;
	int force = -1, opt, timeouts = 0, n = 0, ndb;
	const char *side_name = NULL;
	struct snk_config *cfg;
	struct snk_table t;
	struct snk_batch b = { 0 };
	PGconn *conn[SNK_DB_MAX];
	char err[1024];
	double *lat;
	FILE *csv = NULL;

	while ((opt = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'n':
			samples = strtol(optarg, NULL, 10);
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			samples = 1000000;
			break;
		case 'g':
			gap_ms = strtol(optarg, NULL, 10);
			break;
		case 'o':
			csv_path = optarg;
			break;
		case 'S':
			side_name = optarg;
			break;
		case 'j':
			jitter_ms = strtol(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: probe -c CONFIG [--samples N | --seconds S] [--gap-ms G] [--csv FILE] [--side NAME]\n");
			return SNK_EXIT_USAGE;
		}
	}
	if (samples < 1 || gap_ms < 0) {
		fprintf(stderr, "probe: --samples must be >= 1 and --gap-ms >= 0\n");
		return SNK_EXIT_USAGE;
	}
	if (config_load(config_path, &cfg, err, sizeof(err)) != CONFIG_OK) {
		fprintf(stderr, "probe: %s\n", err);
		return SNK_EXIT_CONFIG;
	}
	ndb = cfg->ndb;
	for (int i = 0; side_name && i < ndb; i++) {
		if (strcmp(side_name, cfg->db_name[i]) == 0)
			force = i;
	}
	if (side_name && force < 0) {
		fprintf(stderr, "probe: --side: %s is none of the databases\n", side_name);
		return SNK_EXIT_USAGE;
	}
	if (!db_table_init(&t, cfg) || !(lat = malloc(sizeof(double) * (size_t)samples)))
		return SNK_EXIT_OSERR;
	for (int i = 0; i < ndb; i++) {
		conn[i] = db_connect_blocking(cfg->conninfo[i], "snk probe", err, sizeof(err));
		if (!conn[i]) {
			fprintf(stderr, "probe: database %s: %s\n", cfg->db_name[i], err);
			return SNK_EXIT_UNAVAILABLE;
		}
	}
	if (csv_path && !(csv = fopen(csv_path, "w"))) {
		perror(csv_path);
		return SNK_EXIT_NOINPUT;
	}
	srandom((unsigned)getpid());
	double start = mono();
	for (long k = 0; k < samples; k++) {
		int src = force >= 0 ? force : (int)(k % ndb), found = 1;
		uuid_t id;
		double t0, dt;
		char route[2 * SNK_DB_NAME_MAX + 4];

		if (seconds > 0 && mono() - start >= seconds)
			break;
		uuid_generate_random(id);
		batch_reset(&b);
		if (!batch_add(&b, id, "probe", 5))
			return SNK_EXIT_OSERR;
		batch_finish(&b);
		if (!db_app_insert(conn[src], &t, &b, err, sizeof(err))) {
			fprintf(stderr, "probe: insert into %s: %s\n", cfg->db_name[src], err);
			return SNK_EXIT_UNAVAILABLE;
		}
		t0 = mono();
		/* every other database in turn: the sample ends when the last has the row */
		for (int dst = 0; dst < ndb && found == 1; dst++) {
			if (dst == src)
				continue;
			while ((found = db_app_has_id(conn[dst], &t, id)) == 0 && mono() - t0 < SAMPLE_TIMEOUT_S)
				usleep(200);
			if (found < 0) {
				fprintf(stderr, "probe: query on %s failed\n", cfg->db_name[dst]);
				return SNK_EXIT_UNAVAILABLE;
			}
		}
		if (ndb == 2)
			snprintf(route, sizeof(route), "%s->%s", cfg->db_name[src], cfg->db_name[1 - src]);
		else
			snprintf(route, sizeof(route), "%s->*", cfg->db_name[src]);
		dt = (mono() - t0) * 1000;
		if (!found) {
			timeouts++;
			continue;
		}
		lat[n++] = dt;
		if (csv) {
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			fprintf(csv, "%.3f,%s,%.3f\n", (double)now.tv_sec + now.tv_nsec / 1e9, route, dt);
		}
		/* A random extra pause keeps samples from locking onto snk's poll timer. */
		if (gap_ms || jitter_ms)
			usleep((useconds_t)(gap_ms * 1000 + (jitter_ms ? random() % (jitter_ms * 1000) : 0)));
	}
	qsort(lat, (size_t)n, sizeof(double), cmp_double);
	printf("probe: %d samples, %d timeouts: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", n, timeouts,
	       pct(lat, n, 50), pct(lat, n, 90), pct(lat, n, 99), n ? lat[n - 1] : 0);
	printf("{\"samples\": %d, \"timeouts\": %d, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
	       n, timeouts, pct(lat, n, 50), pct(lat, n, 90), pct(lat, n, 99), n ? lat[n - 1] : 0);
	if (csv)
		fclose(csv);
	for (int i = 0; i < ndb; i++)
		PQfinish(conn[i]);
	free(lat);
	batch_free(&b);
	db_table_clear(&t);
	config_free(cfg);
	return timeouts ? 1 : 0;
}
