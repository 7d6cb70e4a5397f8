/* snkctl.c - talks to a running snk over its control socket.
 *
 *   snkctl [-s SOCKET | -c CONFIG] [--json] status [--watch [SECONDS]] | ping | pause | resume | reconcile
 *
 * Sends one JSON request line, reads one JSON reply line, and says what it means in one
 * human line or table (the reply itself with --json). Exit 0 on an "ok" reply (status: and
 * snk is well), 2 when status finds snk degraded, 1 when snk refused the request, 69 when
 * no snk answers, 64 on bad usage; -c reads only control_socket from the config.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "snk/cli.h"
#include "snk/config.h"
#include "snk/exitcodes.h"

#define TIMEOUT_MS 5000
#define MAX_REPLY (4 * 1024 * 1024)

#define WATCH_DEFAULT_S 2.0
#define WATCH_MAX_S 86400.0

static volatile sig_atomic_t interrupted;

static void usage(FILE *out)
{
	fprintf(out, "usage: snkctl [-s SOCKET | -c CONFIG] [--json] status [--watch [SECONDS]] | ping | pause |"
		     " resume | reconcile\n"
		     "       snkctl --version\n"
		     "status exits 0 when snk is running or paused, 2 when degraded, 69 when no snk answers.\n");
}

/* line: one line of the human status, never wider than the terminal's 100 columns, whatever
 * a libpq message in it holds (tabs, newlines, long DETAIL text). */
static void line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void line(const char *fmt, ...)
{
	char raw[2048], fitted[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	puts(cli_fit(fitted, sizeof(fitted), raw, CLI_MAX_COLUMNS));
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

/* The directions status lists, in its order; an older snk's status lists none, and had
 * a_to_b and b_to_a. *owned is what the caller frees. */
static const cJSON *dir_names(const cJSON *o, cJSON **owned)
{
	const cJSON *dirs = cJSON_GetObjectItemCaseSensitive(o, "directions");
	static const char *const old[2] = { "a_to_b", "b_to_a" };

	*owned = NULL;
	if (cJSON_IsArray(dirs))
		return dirs;
	*owned = cJSON_CreateStringArray(old, 2);
	return *owned;
}

/* "12 into a and 0 into b" (or "1 into eu, 0 into us and 2 into ap") from a run's
 * rows_repaired_into_<database> keys, in the order status gives them. */
static const char *repaired_text(const cJSON *run, char *buf, size_t len)
{
	const cJSON *v;
	int n = 0, k = 0;
	size_t at = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(v, run)
		n += strncmp(v->string, "rows_repaired_into_", 19) == 0;
	cJSON_ArrayForEach(v, run)
	{
		if (strncmp(v->string, "rows_repaired_into_", 19) != 0 || at >= len)
			continue;
		at += (size_t)snprintf(buf + at, len - at, "%s%.0f into %s", cli_list_sep(k++, n),
				       cJSON_IsNumber(v) ? v->valuedouble : 0, v->string + 19);
	}
	return buf;
}

static void print_reconcile(const cJSON *r)
{
	const cJSON *cur = cJSON_GetObjectItemCaseSensitive(r, "current");
	const cJSON *last = cJSON_GetObjectItemCaseSensitive(r, "last");
	char repaired[256];

	if (cJSON_IsObject(cur)) {
		const cJSON *eta = cJSON_GetObjectItemCaseSensitive(cur, "eta_s");
		char eta_text[32] = "unknown";

		if (cJSON_IsNumber(eta))
			snprintf(eta_text, sizeof(eta_text), "%.0f s", eta->valuedouble);
		line("reconcile %s (%s): %.1f%% of the key space, %.0f ranges compared, %.0f to go, ETA %s",
		     str(r, "state"), str(r, "reason"), num(cur, "keyspace_done_pct"), num(cur, "ranges_done"),
		     num(cur, "ranges_pending"), eta_text);
		line("  repaired %s, %.0f conflicts", repaired_text(cur, repaired, sizeof(repaired)), num(cur, "conflicts"));
	} else if (strcmp(str(r, "state"), "waiting") == 0) {
		line("reconcile %s (%s)", str(r, "state"), str(r, "reason"));
	} else {
		line("reconcile %s", str(r, "state"));
	}
	if (cJSON_IsObject(last))
		line("last reconcile %s at %s in %.1f s: repaired %s, %.0f conflicts", str(last, "result"),
		     str(last, "finished_at"), num(last, "seconds"), repaired_text(last, repaired, sizeof(repaired)),
		     num(last, "conflicts"));
}

/* With several tables, a line each: rows copied each way (with two databases; with more,
 * in all), the largest lag, a first copy. */
static void print_tables(const cJSON *tables, const cJSON *dirs)
{
	int ndirs = cJSON_GetArraySize(dirs);
	const cJSON *t;

	if (cJSON_GetArraySize(tables) < 2)
		return;
	if (ndirs == 2)
		line("%-40s %12s %12s %8s %s", "table", cJSON_GetArrayItem(dirs, 0)->valuestring,
		     cJSON_GetArrayItem(dirs, 1)->valuestring, "lag_ms", "first copy");
	else
		line("%-40s %12s %8s %s", "table", "rows_copied", "lag_ms", "first copy");
	cJSON_ArrayForEach(t, tables)
	{
		char name[48], copy[96] = "-";
		double lag = 0, copied[2] = { 0, 0 }, all = 0;
		const cJSON *dn;
		int i = 0;

		cJSON_ArrayForEach(dn, dirs)
		{
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(t, cJSON_IsString(dn) ? dn->valuestring : "");
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "initial_copy");

			if (num(d, "lag_ms") > lag)
				lag = num(d, "lag_ms");
			if (i < 2)
				copied[i] = num(d, "rows_copied");
			all += num(d, "rows_copied");
			if (cJSON_IsObject(c)) {
				double eta = num(c, "eta_s");

				snprintf(copy, sizeof(copy), "%s %.0f%%, ETA %s%.0f s", dn->valuestring,
					 num(c, "progress") * 100, eta < 0 ? "unknown " : "", eta < 0 ? 0 : eta);
			}
			i++;
		}
		if (ndirs == 2)
			line("%-40s %12.0f %12.0f %8.0f %s", cli_fit(name, sizeof(name), str(t, "table"), 40), copied[0],
			     copied[1], lag, copy);
		else
			line("%-40s %12.0f %8.0f %s", cli_fit(name, sizeof(name), str(t, "table"), 40), all, lag, copy);
	}
}

/* "role active (take-overs 1)", or a standby's active: whose session holds the lock. */
static void print_role(const cJSON *o)
{
	const cJSON *lease = cJSON_GetObjectItemCaseSensitive(o, "lease");
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "active");

	if (!cJSON_IsObject(lease))
		return;
	if (cJSON_IsObject(a)) {
		/* two lines: the whole holder never fits in one of CLI_MAX_COLUMNS */
		line("role %s; active: database %s backend pid %.0f, client %s", str(o, "role"), str(a, "database"),
		     num(a, "backend_pid"), str(a, "client"));
		line("  its application %s, backend start %s", str(a, "application_name"), str(a, "backend_start"));
	} else
		line("role %s since %s (take-overs %.0f, step-downs %.0f)", str(o, "role"), str(lease, "since"),
		     num(lease, "takeovers"), num(lease, "step_downs"));
}

static void print_status(const cJSON *o)
{
	const cJSON *dbs = cJSON_GetObjectItemCaseSensitive(o, "databases");
	cJSON *owned;
	const cJSON *dirs = dir_names(o, &owned);
	const cJSON *db, *dn;
	char more[32] = "";

	if (num(o, "table_count") > 1)
		snprintf(more, sizeof(more), " (+%.0f more)", num(o, "table_count") - 1);
	line("snk %s  pid %.0f  up %.0fs  state %s  table %s%s  wake %s", str(o, "version"), num(o, "pid"),
	     num(o, "uptime_s"), str(o, "state"), str(o, "table"), more, str(o, "wake"));
	print_role(o);
	line("%-4s %-10s %-28s %-10s %s", "db", "connected", "target", "reconnects", "last_error");
	cJSON_ArrayForEach(db, dbs)
	{
		const char *name = db->string;
		const cJSON *conn = cJSON_GetObjectItemCaseSensitive(db, "connected");
		char target[64], row[128], err[1024];

		/* The target is cut to its column; an error too long for the rest of the row
		 * gets a line of its own, where its cause (at the end of libpq's text) fits. */
		snprintf(row, sizeof(row), "%-4s %-10s %-28s %-10.0f ", name, cJSON_IsTrue(conn) ? "yes" : "no",
			 cli_fit(target, sizeof(target), str(db, "target"), 28), num(db, "reconnects"));
		cli_fit(err, sizeof(err), str(db, "last_error"), 1000);
		if (strlen(row) + strlen(err) <= CLI_MAX_COLUMNS) {
			line("%s%s", row, err);
		} else {
			line("%s(below)", row);
			line("  %s: %s", name, err);
		}
	}
	cJSON_ArrayForEach(db, dbs)
	{
		if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(db, "notify_trigger")))
			line("warning: database %s has no NOTIFY trigger: its rows are copied on the timer only (see snk check)",
			     db->string);
	}
	line("%-7s %-9s %12s %10s %8s %9s %9s %9s %s", "dir", "state", "rows_copied", "rows/s", "lag_ms",
	     "pending", "conflicts", "in_flight", "cursor");
	cJSON_ArrayForEach(dn, dirs)
	{
		const char *name = cJSON_IsString(dn) ? dn->valuestring : "-";
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, name);

		line("%-7s %-9s %12.0f %10.0f %8.0f %9.0f %9.0f %9.0f %s", name, str(d, "state"),
		     num(d, "rows_copied"), num(d, "rows_per_s"), num(d, "lag_ms"), num(d, "pending_rows"),
		     num(d, "conflicts"), num(d, "batches_in_flight"), str(d, "cursor"));
		if (strcmp(str(d, "last_error"), "-") != 0)
			line("  %s: %s", name, str(d, "last_error"));
	}
	print_tables(cJSON_GetObjectItemCaseSensitive(o, "tables"), dirs);
	print_reconcile(cJSON_GetObjectItemCaseSensitive(o, "reconcile"));
	cJSON_Delete(owned);
}

static int status_code(const cJSON *o)
{
	cJSON *owned;
	const cJSON *dirs = dir_names(o, &owned), *dn;
	const char *dir_state[SNK_DB_MAX * (SNK_DB_MAX - 1)];
	int n = 0, code;

	cJSON_ArrayForEach(dn, dirs)
	{
		if (n < SNK_DB_MAX * (SNK_DB_MAX - 1) && cJSON_IsString(dn))
			dir_state[n++] = str(cJSON_GetObjectItemCaseSensitive(o, dn->valuestring), "state");
	}
	code = cli_status_code(str(o, "state"), dir_state, n,
			       cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "degraded_reason")));
	cJSON_Delete(owned);
	return code;
}

/* What an "ok" reply to a command other than status means, in words. */
static void print_done(const char *command, const cJSON *o)
{
	if (strcmp(command, "pause") == 0)
		line("snk paused: no new windows start; the one in flight finishes (snkctl resume to go on)");
	else if (strcmp(command, "resume") == 0)
		line("snk resumed: syncing");
	else if (strcmp(command, "ping") == 0)
		line("%s answers", str(o, "pong"));
	else
		line("%s", str(o, "message"));
}

/* ask: one request and its answer, printed; returns the exit code. */
static int ask(const char *path, const char *command, bool json)
{
	int rc;
	char *reply = request(path, command, &rc);
	cJSON *o;

	if (!reply)
		return rc;
	o = cJSON_Parse(reply);
	if (!o) {
		fprintf(stderr, "snkctl: snk sent a reply that is not JSON\n");
		free(reply);
		return SNK_EXIT_SOFTWARE;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
		fprintf(stderr, "snkctl: %s\n", str(o, "error"));
		rc = SNK_EXIT_REFUSED;
	} else {
		if (json)
			printf("%s\n", reply);
		else if (strcmp(command, "status") == 0)
			print_status(o);
		else
			print_done(command, o);
		rc = strcmp(command, "status") == 0 ? status_code(o) : SNK_EXIT_OK;
	}
	fflush(stdout);
	cJSON_Delete(o);
	free(reply);
	return rc;
}

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* watch: status every `every` seconds until SIGINT or SIGTERM; the exit code is that of
 * the last answer (or of no answer). */
static int watch(const char *path, bool json, double every)
{
	struct sigaction sa = { .sa_handler = on_interrupt }; /* no SA_RESTART: the sleep ends */
	bool tty = isatty(STDOUT_FILENO);
	int rc = SNK_EXIT_OK;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!interrupted) {
		struct timespec ts = { (time_t)every, (long)((every - (double)(time_t)every) * 1e9) };
		time_t now = time(NULL);
		char stamp[32];

		if (!json) {
			strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime(&now));
			/* On a terminal each table replaces the last, as watch(1) does. */
			printf("%s%s, every %g s (Ctrl-C to stop)\n", tty ? "\033[H\033[2J" : "\n", stamp, every);
		}
		rc = ask(path, "status", json);
		while (!interrupted && nanosleep(&ts, &ts) != 0)
			;
	}
	return rc;
}

/* --watch takes an optional number as the next word; getopt only knows --watch=N. */
static int join_watch_seconds(int argc, char **argv)
{
	static char joined[64];

	for (int i = 1; i + 1 < argc; i++) {
		char *end;

		if (strcmp(argv[i], "--watch") != 0)
			continue;
		(void)strtod(argv[i + 1], &end);
		if (end == argv[i + 1] || *end)
			break;
		snprintf(joined, sizeof(joined), "--watch=%s", argv[i + 1]);
		argv[i] = joined;
		memmove(&argv[i + 1], &argv[i + 2], (size_t)(argc - i - 2) * sizeof(*argv));
		argv[--argc] = NULL;
		break;
	}
	return argc;
}

static bool known_command(const char *command)
{
	static const char *const known[] = { "status", "ping", "pause", "resume", "reconcile" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(command, known[i]) == 0)
			return true;
	}
	return false;
}

/* The socket from -c: only control_socket is read, so that a config being edited does not
 * keep snkctl from asking snk how it is. */
static int socket_from_config(const char *config, char *path, size_t len)
{
	char err[1024];
	enum config_status st = config_read_socket(config, path, len, err, sizeof(err));

	if (st == CONFIG_OK)
		return SNK_EXIT_OK;
	fprintf(stderr, "snkctl: %s\n", err);
	return st == CONFIG_UNREADABLE ? SNK_EXIT_NOINPUT : SNK_EXIT_CONFIG;
}

/* bad_usage: one line saying what is wrong, or the usage when nothing in particular is. */
static int bad_usage(const char *why, const char *what)
{
	if (why)
		fprintf(stderr, "snkctl: %s%s; see snkctl --help\n", why, what ? what : "");
	else
		usage(stderr);
	return SNK_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },          { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },       { "watch", optional_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	char path[4096] = "";
	const char *command = NULL, *config = NULL;
	bool json = false, watching = false;
	double every = WATCH_DEFAULT_S;
	int opt, rc;

	argc = join_watch_seconds(argc, argv);
	while ((opt = getopt_long(argc, argv, "s:c:jhV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			snprintf(path, sizeof(path), "%s", optarg);
			break;
		case 'c':
			config = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'w': {
			char *end = NULL;

			watching = true;
			if (optarg)
				every = strtod(optarg, &end);
			if (optarg && (*end || !(every > 0 && every <= WATCH_MAX_S)))
				return bad_usage("--watch: seconds must be a number over 0 and at most 86400", NULL);
			break;
		}
		case 'h':
			usage(stdout);
			return SNK_EXIT_OK;
		case 'V':
			printf("snkctl %s\n", SNK_VERSION);
			return SNK_EXIT_OK;
		default:
			return bad_usage(NULL, NULL);
		}
	}
	for (; optind < argc; optind++) {
		if (command)
			return bad_usage("extra argument ", argv[optind]);
		command = argv[optind];
	}
	if (!command)
		return bad_usage(NULL, NULL);
	if (!known_command(command))
		return bad_usage("unknown command ", command);
	if (watching && strcmp(command, "status") != 0)
		return bad_usage("--watch applies only to status", NULL);
	/* -s names the socket itself: with both, the config is not needed. */
	if (!path[0] && config && (rc = socket_from_config(config, path, sizeof(path))) != SNK_EXIT_OK)
		return rc;
	if (!path[0])
		config_default_socket(path, sizeof(path));
	return watching ? watch(path, json, every) : ask(path, command, json);
}
