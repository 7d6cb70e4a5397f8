/* snkctl.c - talks to a running snk over its control socket.
 *
 *   snkctl [-s SOCKET | -c CONFIG] status [--json] | ping | pause | resume | reconcile
 *
 * Sends one JSON request line, reads one JSON reply line. Exit 0 on an "ok" reply,
 * 1 when snk refused the request, 69 when no snk answers, 64 on bad usage.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "snk/config.h"
#include "snk/exitcodes.h"

#define TIMEOUT_MS 5000
#define MAX_REPLY (4 * 1024 * 1024)

static void usage(FILE *out)
{
	fprintf(out, "usage: snkctl [-s SOCKET | -c CONFIG] status [--json] | ping | pause | resume | reconcile\n");
}

static char *request(const char *path, const char *command, int *rc)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char req[128];
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd;

	*rc = SNK_EXIT_UNAVAILABLE;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "snkctl: socket path too long: %s\n", path);
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "snkctl: cannot reach snk at %s: %s (is snk running? see -s/-c)\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	snprintf(req, sizeof(req), "{\"command\":\"%s\"}\n", command);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		fprintf(stderr, "snkctl: cannot send to %s: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			fprintf(stderr, "snkctl: snk at %s did not answer within %d s\n", path, TIMEOUT_MS / 1000);
			break;
		}
		if (len + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			nb = cap > MAX_REPLY ? NULL : realloc(buf, cap);
			if (!nb) {
				fprintf(stderr, "snkctl: reply too large\n");
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0) {
			fprintf(stderr, "snkctl: snk at %s closed the connection without a full reply\n", path);
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (memchr(buf, '\n', len)) {
			*strchr(buf, '\n') = '\0';
			close(fd);
			*rc = 0;
			return buf;
		}
	}
	close(fd);
	free(buf);
	return NULL;
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "-";
}

static void print_reconcile(const cJSON *r)
{
	const cJSON *cur = cJSON_GetObjectItemCaseSensitive(r, "current");
	const cJSON *last = cJSON_GetObjectItemCaseSensitive(r, "last");

	printf("reconcile %s", str(r, "state"));
	if (cJSON_IsObject(cur)) {
		const cJSON *eta = cJSON_GetObjectItemCaseSensitive(cur, "eta_s");

		printf(" (%s): %.1f%% of the key space, %.0f ranges compared, %.0f to go, repaired %.0f into a and %.0f"
		       " into b, %.0f conflicts, ETA ", str(r, "reason"), num(cur, "keyspace_done_pct"),
		       num(cur, "ranges_done"), num(cur, "ranges_pending"), num(cur, "rows_repaired_into_a"),
		       num(cur, "rows_repaired_into_b"), num(cur, "conflicts"));
		if (cJSON_IsNumber(eta))
			printf("%.0f s", eta->valuedouble);
		else
			printf("unknown");
	} else if (strcmp(str(r, "state"), "waiting") == 0) {
		printf(" (%s)", str(r, "reason"));
	}
	printf("\n");
	if (cJSON_IsObject(last))
		printf("last reconcile %s at %s in %.1f s: repaired %.0f into a and %.0f into b, %.0f conflicts\n",
		       str(last, "result"), str(last, "finished_at"), num(last, "seconds"),
		       num(last, "rows_repaired_into_a"), num(last, "rows_repaired_into_b"), num(last, "conflicts"));
}

static void print_status(const cJSON *o)
{
	const cJSON *dbs = cJSON_GetObjectItemCaseSensitive(o, "databases");
	static const char *const dirs[2] = { "a_to_b", "b_to_a" };

	printf("snk %s  pid %.0f  up %.0fs  state %s  table %s  wake %s\n", str(o, "version"), num(o, "pid"),
	       num(o, "uptime_s"), str(o, "state"), str(o, "table"), str(o, "wake"));
	printf("%-4s %-10s %-28s %-10s %s\n", "db", "connected", "target", "reconnects", "last_error");
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "b" : "a";
		const cJSON *db = cJSON_GetObjectItemCaseSensitive(dbs, name);
		const cJSON *conn = cJSON_GetObjectItemCaseSensitive(db, "connected");

		printf("%-4s %-10s %-28s %-10.0f %s\n", name, cJSON_IsTrue(conn) ? "yes" : "no", str(db, "target"),
		       num(db, "reconnects"), str(db, "last_error"));
	}
	for (int i = 0; i < 2; i++) {
		const cJSON *db = cJSON_GetObjectItemCaseSensitive(dbs, i ? "b" : "a");

		if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(db, "notify_trigger")))
			printf("warning: database %s has no NOTIFY trigger: its rows are copied on the timer only (see snk check)\n",
			       i ? "b" : "a");
	}
	printf("%-7s %-9s %12s %10s %8s %9s %9s %9s %s\n", "dir", "state", "rows_copied", "rows/s",
	       "lag_ms", "pending", "conflicts", "in_flight", "cursor");
	for (int i = 0; i < 2; i++) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, dirs[i]);

		printf("%-7s %-9s %12.0f %10.0f %8.0f %9.0f %9.0f %9.0f %s\n", dirs[i], str(d, "state"),
		       num(d, "rows_copied"), num(d, "rows_per_s"), num(d, "lag_ms"), num(d, "pending_rows"),
		       num(d, "conflicts"), num(d, "batches_in_flight"), str(d, "cursor"));
	}
	print_reconcile(cJSON_GetObjectItemCaseSensitive(o, "reconcile"));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },          { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const known[] = { "status", "ping", "pause", "resume", "reconcile" };
	char path[4096] = "";
	const char *command = NULL;
	bool json = false, ok_cmd = false;
	int opt, rc;
	char *reply;
	cJSON *o;

	while ((opt = getopt_long(argc, argv, "s:c:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			snprintf(path, sizeof(path), "%s", optarg);
			break;
		case 'c': {
			struct snk_config *cfg;
			char err[1024];
			enum config_status st = config_load(optarg, &cfg, err, sizeof(err));

			if (st != CONFIG_OK) {
				fprintf(stderr, "snkctl: %s\n", err);
				return st == CONFIG_UNREADABLE ? SNK_EXIT_NOINPUT : SNK_EXIT_CONFIG;
			}
			snprintf(path, sizeof(path), "%s", cfg->control_socket);
			config_free(cfg);
			break;
		}
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return SNK_EXIT_USAGE;
		}
	}
	for (; optind < argc; optind++) {
		if (strcmp(argv[optind], "--json") == 0)
			json = true;
		else if (!command)
			command = argv[optind];
		else {
			usage(stderr);
			return SNK_EXIT_USAGE;
		}
	}
	if (!command) {
		usage(stderr);
		return SNK_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		ok_cmd = ok_cmd || strcmp(command, known[i]) == 0;
	if (!ok_cmd) {
		fprintf(stderr, "snkctl: unknown command '%s'\n", command);
		usage(stderr);
		return SNK_EXIT_USAGE;
	}
	if (!path[0])
		config_default_socket(path, sizeof(path));
	reply = request(path, command, &rc);
	if (!reply)
		return rc;
	o = cJSON_Parse(reply);
	if (!o) {
		fprintf(stderr, "snkctl: snk sent a reply that is not JSON\n");
		free(reply);
		return SNK_EXIT_SOFTWARE;
	}
	rc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")) ? 0 : 1;
	if (rc != 0)
		fprintf(stderr, "snkctl: %s\n", str(o, "error"));
	else if (json || strcmp(command, "status") != 0)
		printf("%s\n", reply);
	else
		print_status(o);
	cJSON_Delete(o);
	free(reply);
	return rc;
}
