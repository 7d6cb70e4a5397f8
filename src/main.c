/* main.c - snk: command line, start-up checks, the event loop and its signals.
 *
 *   snk [-c config.json] [-v] [run]      sync until SIGTERM/SIGINT
 *   snk [-c config.json] migrate         prepare every database (idempotent)
 *   snk [-c config.json] verify [--list N] [--json]  compare the tables
 *   snk [-c config.json] check           can snk run here? one line per check, changes nothing
 *   snk [-c config.json] --check-config  validate the config and exit
 *   snk -V | --version
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "snk/check.h"
#include "snk/clock.h"
#include "snk/cli.h"
#include "snk/config.h"
#include "snk/ctl.h"
#include "snk/db.h"
#include "snk/exitcodes.h"
#include "snk/log.h"
#include "snk/metrics.h"
#include "snk/notify.h"
#include "snk/probe.h"
#include "snk/resolve.h"
#include "snk/stats.h"
#include "snk/sync.h"
#include "snk/verify.h"

#define STATUS_EVERY_MS 5000
#define SUMMARY_EVERY_MS 60000
#define NOFILE_WANTED 65536
/* While waiting for the databases at start: ask systemd for this much more start time,
 * again every EXTEND_EVERY_MS, so a database that is down does not trip TimeoutStartSec. */
#define EXTEND_START_USEC 30000000
#define EXTEND_EVERY_MS 10000

struct runtime {
	struct event_base *base;
	struct snk_app app;
	struct snk_config *cfg;   /* owned: the config in force */
	const char *config_path;  /* borrowed from argv */
	bool verbose;
	uint64_t watchdog_usec;   /* 0: systemd asked for no watchdog */
	int64_t last_status_ms;
	int64_t last_summary_ms;
	int64_t last_extend_ms;   /* the last EXTEND_TIMEOUT_USEC sent, 0: none yet */
	uint64_t summary_rows[SNK_DIR_MAX]; /* each direction's rows_copied at the last summary line */
	struct snk_probe *probe;  /* owned: a reload trying its new connections, else NULL */
	struct snk_config *pending; /* owned: the config that waits for that probe */
	int64_t summary_every_ms; /* SUMMARY_EVERY_MS; SNK_TEST_SUMMARY_MS shortens it for tests */
};



/* A standby is up and doing its job: systemd hears READY=1 (once; a take-over's cursor
 * load sends it again, which systemd ignores). */
static void on_role(struct snk_app *app)
{
	if (app->lease.role == ROLE_STANDBY)
		notify_send("READY=1");
}

static void on_ready(struct snk_app *app)
{
	char down[SNK_DB_MAX * (SNK_DB_NAME_MAX + 2)] = "";
	size_t n = 0;

	for (int i = 0; i < app->ndb; i++) {
		if (app->side[i].lock != SIDE_LOCK_HELD)
			n += (size_t)snprintf(down + n, sizeof(down) - n, "%s%s", n ? ", " : "", app->side[i].name);
	}
	if (down[0])
		log_info(NULL, "the databases that are up are connected, schema verified, cursors loaded: syncing"
			 " (down: %s, synced when it is back)", down);
	else
		log_info(NULL, "%s databases connected, schema verified, cursors loaded: syncing",
			 app->ndb == 2 ? "both" : "all");
	notify_send("READY=1");
}

/* "syncing", "connecting", "paused", or "degraded (database a (host:port/db) is down:
 * <its last error>)", then the rates. */
static void describe(struct runtime *rt, char *buf, size_t len)
{
	int64_t now = clock_now_ms();
	char why[700], state[720];
	size_t n;

	if (rt->app.lease.role == ROLE_STANDBY) {
		lease_describe(&rt->app, state, sizeof(state));
		snprintf(buf, len, "%s", state);
		return;
	}
	if (rt->app.paused)
		snprintf(state, sizeof(state), "paused");
	else if (sync_degraded(&rt->app, why, sizeof(why)))
		snprintf(state, sizeof(state), "degraded (%s)", why);
	else
		snprintf(state, sizeof(state), "%s", rt->app.ready ? "syncing" : "connecting");
	n = (size_t)snprintf(buf, len, "%s", state);
	for (int i = 0; i < rt->app.ndir && n < len; i++) {
		const struct snk_dir *d = &rt->app.dir[i];

		n += (size_t)snprintf(buf + n, len - n, "; %s %.0f rows/s lag %lld ms", d->role,
				      rate_per_s(&d->stats.copied_rate, now / 1000), (long long)dir_lag_ms(d, now));
	}
}

/* Until READY=1, snk waits for both databases for as long as they take (it retries,
 * never gives up), while systemd would fail the start after TimeoutStartSec. Each
 * EXTEND_TIMEOUT_USEC moves that deadline; a loop that stops turning stops sending them,
 * so a hung start still times out. */
static void extend_start_timeout(struct runtime *rt, int64_t now)
{
	char msg[64];

	if (rt->app.ready || rt->app.lease.role == ROLE_STANDBY || rt->app.stopping ||
	    (rt->last_extend_ms && now - rt->last_extend_ms < EXTEND_EVERY_MS))
		return;
	rt->last_extend_ms = now;
	snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%d", EXTEND_START_USEC);
	notify_send(msg);
}

/* Once a second (or faster when systemd's watchdog asks): WATCHDOG=1 proves the loop
 * turns; STATUS= shows rates in `systemctl status`; an info line every minute. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct runtime *rt = arg;
	int64_t now = clock_now_ms();
	char text[1024], msg[1100];

	if (rt->watchdog_usec)
		notify_send("WATCHDOG=1");
	extend_start_timeout(rt, now);
	log_libevent_flush();
	if (now - rt->last_status_ms >= STATUS_EVERY_MS) {
		rt->last_status_ms = now;
		describe(rt, text, sizeof(text));
		snprintf(msg, sizeof(msg), "STATUS=%s", text);
		notify_send(msg);
	}
	if (now - rt->last_summary_ms >= rt->summary_every_ms) {
		char copied[SNK_DIR_MAX * 64], conflicts[SNK_DIR_MAX * 64];
		size_t nc = 0, nf = 0;

		describe(rt, text, sizeof(text));
		for (int i = 0; i < rt->app.ndir; i++) {
			const struct snk_dir *d = &rt->app.dir[i];

			nc += (size_t)snprintf(copied + nc, sizeof(copied) - nc, "%s%s %llu", i ? ", " : "", d->role,
					       (unsigned long long)(d->stats.rows_copied - rt->summary_rows[i]));
			nf += (size_t)snprintf(conflicts + nf, sizeof(conflicts) - nf, "%s%s %llu", i ? ", " : "", d->role,
					       (unsigned long long)d->stats.conflicts);
			rt->summary_rows[i] = d->stats.rows_copied;
		}
		log_msg(strncmp(text, "degraded", 8) == 0 ? LOG_WARN : LOG_INFO, NULL,
			"%s; copied in the last minute: %s; conflicts %s", text, copied, conflicts);
		rt->last_summary_ms = now;
	}
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: snk [-c CONFIG] [-v] [run]      keep the tables identical in every database of CONFIG\n"
		"       snk [-c CONFIG] migrate         create or prepare the tables and snk's schema in each\n"
		"       snk [-c CONFIG] verify [--list N] [--json]  compare the tables, change nothing;\n"
		"                                       exit 0 identical, 1 different\n"
		"       snk [-c CONFIG] check           connections, migrations, privileges, NOTIFY trigger, TLS files,\n"
		"                                       writer lock of each database; exit 0 all ok, 1 a check failed\n"
		"       snk [-c CONFIG] --check-config  validate CONFIG and exit\n"
		"       snk -V | --version\n"
		"CONFIG defaults to ./config.json. -v logs debug lines (twice: noise).\n");
}

static int load_config(const char *path, struct snk_config **out)
{
	char err[1024];

	switch (config_load(path, out, err, sizeof(err))) {
	case CONFIG_OK:
		return 0;
	case CONFIG_UNREADABLE:
		fprintf(stderr, "snk: %s\n", err);
		return SNK_EXIT_NOINPUT;
	case CONFIG_INVALID:
	default:
		fprintf(stderr, "snk: %s\n", err);
		return SNK_EXIT_CONFIG;
	}
}

/* Every database's tables, read before anything changes: a table snk can sync in all of
 * them (the same columns and key), or absent in all (the default table is created in each),
 * or the default table in some and absent in the others (created there). Anything else is
 * refused, naming the table and the database, and nothing is changed in any. */
static const char *migrate_problem(const struct snk_config *cfg, const struct snk_table *t,
				   const struct snk_schema_info *info, const struct snk_shape *shape, char *buf,
				   size_t len)
{
	struct snk_table probe;
	int first = -1;

	for (int i = 0; i < cfg->ndb; i++) {
		if (info[i].table_exists && db_table_problem(&info[i], t, buf, len)) {
			char why[512];

			snprintf(why, sizeof(why), "database %s: %s", cfg->db_name[i], buf);
			snprintf(buf, len, "%s", why);
			return buf;
		}
		if (info[i].table_exists && first < 0)
			first = i;
	}
	for (int i = 0; first >= 0 && i < cfg->ndb; i++) {
		if (!info[i].table_exists && !db_shape_is_default(t, &shape[first])) {
			snprintf(buf, len, "table %s exists in database %s but not in database %s; create it in %s with the"
				 " same columns (snk migrate creates only the default table, (%s uuid, %s text))", t->label,
				 cfg->db_name[first], cfg->db_name[i], cfg->db_name[i], t->id_raw, t->data_raw);
			return buf;
		}
	}
	/* Where it exists: the same columns and key, as the daemon will check at every connect. */
	for (int i = first + 1; first >= 0 && i < cfg->ndb; i++) {
		const char *problem;

		if (!info[i].table_exists)
			continue;
		probe = *t;
		probe.shaped = true;
		probe.shape = shape[first];
		snprintf(probe.shape_db, sizeof(probe.shape_db), "%s", cfg->db_name[first]);
		if ((problem = db_shape_problem(&probe, &shape[i], cfg->db_name[i], buf, len)))
			return problem;
	}
	return NULL;
}

struct migrate_table {
	struct snk_table t;
	struct snk_schema_info info[SNK_DB_MAX];
	struct snk_shape shape[SNK_DB_MAX];
	bool init;
};

static void migrate_tables_free(struct migrate_table *m, int n)
{
	for (int i = 0; m && i < n; i++) {
		for (int j = 0; j < SNK_DB_MAX; j++)
			db_shape_clear(&m[i].shape[j]);
		if (m[i].init)
			db_table_clear(&m[i].t);
	}
	free(m);
}

/* Every table of the config, in one transaction per database: all are read in every
 * database and judged before anything changes; then each is migrated and committed in turn. */
static int cmd_migrate(const struct snk_config *cfg)
{
	struct migrate_table *m = calloc((size_t)cfg->ntables, sizeof(*m));
	PGconn *conn[SNK_DB_MAX] = { NULL };
	bool open[SNK_DB_MAX] = { false };
	int rc = SNK_EXIT_OK, applied[SNK_DB_MAX] = { 0 }, migrated = -1;
	char err[1024], buf[1024];
	const char *problem;

	for (int k = 0; m && k < cfg->ntables; k++) {
		m[k].init = db_table_init_spec(&m[k].t, cfg, &cfg->tables[k], k);
		if (!m[k].init) {
			migrate_tables_free(m, cfg->ntables);
			m = NULL;
		}
	}
	if (!m) {
		fprintf(stderr, "snk: out of memory\n");
		return SNK_EXIT_OSERR;
	}
	for (int i = 0; i < cfg->ndb && rc == SNK_EXIT_OK; i++) {
		char app[64];

		snprintf(app, sizeof(app), "snk %s.migrate", cfg->db_name[i]); /* as pgconn names sessions */
		conn[i] = db_connect_blocking(cfg->conninfo[i], app, err, sizeof(err));
		if (!conn[i]) {
			fprintf(stderr, "snk: migrate: cannot connect to database %s: %s\n", cfg->db_name[i], err);
			rc = SNK_EXIT_UNAVAILABLE;
			break;
		}
		open[i] = db_migrate_begin(conn[i], err, sizeof(err)) == MIGRATE_OK;
		for (int k = 0; open[i] && k < cfg->ntables && rc == SNK_EXIT_OK; k++) {
			if (db_migrate_read(conn[i], &m[k].t, &m[k].info[i], &m[k].shape[i], err, sizeof(err)) != MIGRATE_OK)
				rc = SNK_EXIT_SOFTWARE;
		}
		if (!open[i] || rc != SNK_EXIT_OK) {
			fprintf(stderr, "snk: migrate: database %s: %s; nothing was changed\n", cfg->db_name[i], err);
			rc = SNK_EXIT_SOFTWARE;
		}
	}
	for (int k = 0; rc == SNK_EXIT_OK && k < cfg->ntables; k++) {
		if ((problem = migrate_problem(cfg, &m[k].t, m[k].info, m[k].shape, buf, sizeof(buf)))) {
			fprintf(stderr, "snk: migrate: %s; nothing was changed\n", problem);
			rc = SNK_EXIT_SCHEMA;
		}
	}
	/* Each database is migrated and committed in turn, so that a's tables are locked only
	 * while a is migrated; the later ones' transactions meanwhile hold only the migration
	 * lock. A failure in the first changes none; one in a later database, after earlier
	 * ones committed, is said so, and running migrate again finishes it (the daemon refuses
	 * to start until every database is migrated). */
	for (int i = 0; i < cfg->ndb; i++) {
		bool ok = rc == SNK_EXIT_OK;

		for (int k = 0; ok && k < cfg->ntables; k++) {
			/* The key of the table there, or of one there is, or the default table's. */
			const struct snk_shape *key = NULL;
			int n = 0;

			for (int j = 0; !key && j < cfg->ndb; j++) {
				int at = (i + j) % cfg->ndb;

				if (m[k].info[at].table_exists)
					key = &m[k].shape[at];
			}
			if (db_migrate_apply(conn[i], &m[k].t, key, &n, err, sizeof(err)) != MIGRATE_OK) {
				if (migrated < 0)
					fprintf(stderr, "snk: migrate: database %s: %s: %s; nothing was changed\n",
						cfg->db_name[i], m[k].t.label, err);
				else
					fprintf(stderr, "snk: migrate: database %s: %s: %s; databases up to %s were migrated:"
						" fix this and run snk migrate again\n", cfg->db_name[i], m[k].t.label, err,
						cfg->db_name[migrated]);
				rc = SNK_EXIT_SOFTWARE;
				ok = false;
			}
			applied[i] += n;
		}
		if (open[i] && !db_migrate_finish(conn[i], ok) && ok) {
			snprintf(err, sizeof(err), "%s", PQerrorMessage(conn[i]));
			err[strcspn(err, "\n")] = '\0';
			fprintf(stderr, "snk: migrate: database %s: the commit failed: %s; run snk migrate again\n",
				cfg->db_name[i], err);
			rc = SNK_EXIT_SOFTWARE;
		}
		if (rc == SNK_EXIT_OK)
			migrated = i;
	}
	for (int i = 0; i < cfg->ndb; i++) {
		if (rc == SNK_EXIT_OK && cfg->ntables == 1)
			printf("snk: migrate: database %s: %s ready (%d migration%s applied)\n", cfg->db_name[i], m[0].t.label,
			       applied[i], applied[i] == 1 ? "" : "s");
		else if (rc == SNK_EXIT_OK)
			printf("snk: migrate: database %s: %d tables ready (%d migration%s applied)\n", cfg->db_name[i],
			       cfg->ntables, applied[i], applied[i] == 1 ? "" : "s");
		PQfinish(conn[i]);
	}
	migrate_tables_free(m, cfg->ntables);
	return rc;
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct runtime *rt = arg;

	if (rt->app.stopping) {
		log_warn(NULL, "second %s: stopping now; uncommitted windows are read again at the next start",
			 strsignal((int)sig));
		event_base_loopbreak(rt->base);
		return;
	}
	log_info(NULL, "%s: finishing in-flight commits, then stopping", strsignal((int)sig));
	notify_send("STOPPING=1");
	sync_app_stop(&rt->app);
}

/* Keys that shape running state keep their old values; the rest take effect now. */
static bool needs_restart(const struct snk_config *a, const struct snk_config *b, const char **what)
{
	if (!config_same_database_names(a, b))
		*what = "the names of \"databases\"";
	else if (strcmp(a->schema, b->schema) || strcmp(a->table, b->table) || strcmp(a->id_column, b->id_column) ||
	    strcmp(a->data_column, b->data_column))
		*what = "table";
	else if ((a->key || b->key) && !config_same_key(a, b))
		*what = "key";
	else if (strcmp(a->notify_channel, b->notify_channel))
		*what = "notify_channel";
	else if (strcmp(a->control_socket, b->control_socket))
		*what = "control_socket";
	else if (strcmp(a->metrics_listen, b->metrics_listen))
		*what = "metrics_listen";
	else if (a->max_batches_in_flight != b->max_batches_in_flight)
		*what = "max_batches_in_flight";
	else if (a->write_connections != b->write_connections)
		*what = "write_connections";
	else if (a->lease_timeout_ms != b->lease_timeout_ms)
		*what = "lease_timeout_ms";
	else if (strcmp(a->synchronous_commit, b->synchronous_commit))
		*what = "synchronous_commit";
	else
		return false;
	return true;
}

/* Records a reload's verdict for status and metrics, and tells systemd it is over. */
static void reload_verdict(struct runtime *rt, const char *error)
{
	struct snk_reload_result *r = &rt->app.reload;

	r->at_ms = clock_now_ms();
	r->successful = error == NULL;
	snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
	if (!error)
		r->success_at_ms = r->at_ms;
	notify_send("READY=1");
}

/* Puts fresh in force: its conninfo into every session (they reconnect), the rest now. */
static void reload_apply(struct runtime *rt, struct snk_config *fresh)
{
	bool moved = false;
	struct timeval tv;

	for (int i = 0; i < fresh->ndb; i++) {
		if (strcmp(rt->cfg->conninfo[i], fresh->conninfo[i]) != 0) {
			struct snk_side *s = &rt->app.side[i];

			if (!side_set_conninfo(s, fresh->conninfo[i])) {
				log_error(NULL, "SIGHUP: out of memory; old config stays in force");
				config_free(fresh);
				reload_verdict(rt, "out of memory");
				return;
			}
			log_info(NULL, "SIGHUP: database %s changed and the new connection works; reconnecting",
				 s->name);
			moved = true;
		}
	}
	if (moved && !sync_reconcile_set_conninfo(&rt->app, fresh->conninfo))
		log_error(NULL, "SIGHUP: out of memory; the reconcile keeps the old databases until a restart");
	if (fresh->reconcile_interval_s != rt->cfg->reconcile_interval_s)
		sync_reconcile_interval(&rt->app, fresh->reconcile_interval_s);
	for (int i = 0; i < fresh->ndb; i++)
		side_set_reconnect_max(&rt->app.side[i], fresh->reconnect_max_ms);
	if (!rt->verbose)
		log_set_level(fresh->log_level);
	log_set_format(fresh->log_format);
	bool tables = !config_same_tables(rt->cfg, fresh);

	sync_app_set_config(&rt->app, fresh);
	config_free(rt->cfg);
	rt->cfg = fresh;
	if (tables)
		sync_app_set_tables(&rt->app);
	tv.tv_sec = fresh->poll_interval_ms / 1000;
	tv.tv_usec = (fresh->poll_interval_ms % 1000) * 1000;
	event_add(rt->app.poll_timer, &tv);
	log_info(NULL, "SIGHUP: config reloaded (poll_interval_ms=%d, batch_rows=%d, log_level=%s,"
		 " log_format=%s)", fresh->poll_interval_ms, fresh->batch_rows, fresh->log_level_name, fresh->log_format_name);
	reload_verdict(rt, NULL);
}

/* The new connections have been tried (see on_hup); the probe frees itself after this. */
static void reload_probed_cb(void *arg, bool ok, const char *why)
{
	struct runtime *rt = arg;
	struct snk_config *fresh = rt->pending;
	char msg[900];

	rt->probe = NULL;
	rt->pending = NULL;
	if (ok) {
		reload_apply(rt, fresh);
		return;
	}
	/* A warning, not an error: the operator asked for it, and nothing stopped working. */
	log_warn(NULL, "SIGHUP: the reload kept the old connections and config: the new conninfo of %s",
		 why);
	snprintf(msg, sizeof(msg), "the new conninfo of %s", why);
	config_free(fresh);
	reload_verdict(rt, msg);
}

static void reload_refuse(struct runtime *rt, const char *why)
{
	log_warn(NULL, "SIGHUP: config not reloaded, the old one stays in force: %s", why);
	reload_verdict(rt, why);
}

/* A reload is all or nothing. When a conninfo changed, a one-shot session tries it first
 * (probe.c); the working sessions keep running on the old one until it has connected and
 * passed the session check, and keep it when it fails. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct runtime *rt = arg;
	struct snk_config *fresh = NULL;
	const char *changed[SNK_DB_MAX] = { NULL };
	char err[1024];
	const char *key;
	int nchanged = 0;

	notify_send("RELOADING=1");
	if (rt->probe) {
		log_info(NULL, "SIGHUP: a newer SIGHUP replaces the reload still trying its connections");
		probe_free(rt->probe);
		rt->probe = NULL;
		config_free(rt->pending);
		rt->pending = NULL;
	}
	if (config_load(rt->config_path, &fresh, err, sizeof(err)) != CONFIG_OK) {
		reload_refuse(rt, err);
		return;
	}
	if (resolve_tables(fresh, "resolve", err, sizeof(err)) != 0) {
		config_free(fresh);
		reload_refuse(rt, err);
		return;
	}
	if (needs_restart(rt->cfg, fresh, &key)) {
		snprintf(err, sizeof(err), "%s changed; that takes a restart", key);
		config_free(fresh);
		reload_refuse(rt, err);
		return;
	}
	for (int i = 0; i < fresh->ndb; i++) {
		if (strcmp(rt->cfg->conninfo[i], fresh->conninfo[i]) != 0) {
			changed[i] = fresh->conninfo[i];
			nchanged++;
		}
	}
	if (nchanged == 0) {
		reload_apply(rt, fresh);
		return;
	}
	rt->probe = probe_start(rt->base, fresh, changed, rt->app.tables, rt->app.ntables, reload_probed_cb, rt);
	if (!rt->probe) {
		config_free(fresh);
		reload_refuse(rt, "out of memory");
		return;
	}
	rt->pending = fresh;
	log_info(NULL, "SIGHUP: trying the new connection%s before using %s",
		 nchanged > 1 ? "s" : "", nchanged > 1 ? "them" : "it");
}

/* The soft descriptor limit is often 1024 below a far higher hard one (systemd's default,
 * for the sake of programs that use select(); libevent uses epoll). Raising it gives the
 * database sessions more room; the listeners cap their clients from the limit in force,
 * so snk stays safe when it cannot be raised (ulimit -n, LimitNOFILE=). */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max ||
	    rl.rlim_cur >= NOFILE_WANTED)
		return;
	was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max < NOFILE_WANTED ? rl.rlim_max : NOFILE_WANTED;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_debug(NULL, "descriptor limit stays %llu: %s", (unsigned long long)was,
			  strerror(errno));
	else
		log_debug(NULL, "descriptor limit raised from %llu to %llu",
			  (unsigned long long)was, (unsigned long long)rl.rlim_cur);
}

static int cmd_run(struct runtime *rt)
{
	struct snk_ctl *ctl;
	struct snk_metrics *metrics = NULL;
	struct event *sig_term, *sig_int, *sig_hup, *tick;
	struct timeval tick_tv = { 1, 0 };
	char err[1024], what[160], dbs[SNK_DB_MAX * (SNK_DB_NAME_MAX + 5)];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	srandom((unsigned)getpid() ^ (unsigned)clock_now_ms());
	rt->base = event_base_new();
	if (!rt->base) {
		fprintf(stderr, "snk: cannot create the event loop\n");
		return SNK_EXIT_OSERR;
	}
	if (!sync_app_init(&rt->app, rt->base, rt->cfg)) {
		fprintf(stderr, "snk: out of memory at start-up\n");
		return SNK_EXIT_OSERR;
	}
	ctl = ctl_listen(&rt->app, rt->cfg->control_socket, err, sizeof(err));
	if (!ctl) {
		fprintf(stderr, "snk: %s\n", err);
		sync_app_free(&rt->app);
		event_base_free(rt->base);
		return SNK_EXIT_OSERR;
	}
	if (rt->cfg->metrics_listen[0]) {
		metrics = metrics_listen(&rt->app, rt->cfg->metrics_listen, err, sizeof(err));
		if (!metrics) {
			fprintf(stderr, "snk: %s\n", err);
			ctl_free(ctl);
			sync_app_free(&rt->app);
			event_base_free(rt->base);
			return SNK_EXIT_OSERR;
		}
	}

	rt->app.ctl = ctl;
	rt->app.metrics = metrics;
	rt->app.on_ready = on_ready;
	rt->app.on_role = on_role;
	rt->watchdog_usec = notify_watchdog_usec();
	if (rt->watchdog_usec && rt->watchdog_usec / 2 < 1000000) {
		tick_tv.tv_sec = 0;
		tick_tv.tv_usec = (suseconds_t)(rt->watchdog_usec / 2);
	}
	rt->last_summary_ms = clock_now_ms();
	/* Tests only: a summary every N ms instead of a minute, so a test can read one. */
	rt->summary_every_ms = getenv("SNK_TEST_SUMMARY_MS") ? atol(getenv("SNK_TEST_SUMMARY_MS")) : 0;
	if (rt->summary_every_ms <= 0)
		rt->summary_every_ms = SUMMARY_EVERY_MS;
	tick = event_new(rt->base, -1, EV_PERSIST, on_tick, rt);
	event_add(tick, &tick_tv);
	sig_term = evsignal_new(rt->base, SIGTERM, on_stop_signal, rt);
	sig_int = evsignal_new(rt->base, SIGINT, on_stop_signal, rt);
	sig_hup = evsignal_new(rt->base, SIGHUP, on_hup, rt);
	evsignal_add(sig_term, NULL);
	evsignal_add(sig_int, NULL);
	evsignal_add(sig_hup, NULL);

	/* The columns and key are known at the first connect, which logs them. */
	if (rt->app.ntables == 1)
		snprintf(what, sizeof(what), "%s", rt->app.tables[0].label);
	else
		snprintf(what, sizeof(what), "%d tables (%s, ...)", rt->app.ntables, rt->app.tables[0].label);
	{
		size_t n = 0;

		for (int i = 0; i < rt->cfg->ndb; i++)
			n += (size_t)snprintf(dbs + n, sizeof(dbs) - n, "%s%s", cli_list_sep(i, rt->cfg->ndb), rt->cfg->db_name[i]);
	}
	log_info(NULL, "snk %s syncing %s %s between %s; woken by %s%s%s, polling every %d ms; control socket %s",
		 SNK_VERSION, what, rt->cfg->ndb == 2 ? "both ways" : "every way", dbs,
		 rt->cfg->notify_channel[0] ? "NOTIFY " : "timer only", rt->cfg->notify_channel,
		 rt->cfg->notify_channel[0] ? " and timer" : "", rt->cfg->poll_interval_ms, rt->cfg->control_socket);
	if (metrics)
		log_info(NULL, "metrics on http://%s/metrics, health on /healthz", rt->cfg->metrics_listen);
	if (rt->watchdog_usec)
		log_info(NULL, "systemd watchdog every %llu ms", (unsigned long long)(rt->watchdog_usec / 1000));
	sync_app_start(&rt->app);
	event_base_dispatch(rt->base);
	rc = rt->app.exit_code;
	log_info(NULL, "stopped (exit code %d)", rc);

	probe_free(rt->probe);
	config_free(rt->pending);
	event_free(sig_term);
	event_free(sig_int);
	event_free(sig_hup);
	event_free(tick);
	metrics_free(metrics);
	ctl_free(ctl);
	sync_app_free(&rt->app);
	event_base_free(rt->base);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "list", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct runtime rt = { .config_path = "config.json" };
	bool check_only = false, json = false;
	int verbose = 0, opt, rc, list = 10;
	char err[1024];
	unsigned given = 0; /* enum cli_opt: options only some commands take */
	const char *command = "run", *misplaced;

	setvbuf(stderr, NULL, _IOLBF, 0);
	opterr = 0; /* one line of our own instead of getopt's */
	while ((opt = getopt_long(argc, argv, "c:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			rt.config_path = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'C':
			check_only = true;
			given |= CLI_OPT_CHECK_CONFIG;
			break;
		case 'j':
			json = true;
			given |= CLI_OPT_JSON;
			break;
		case 'l': {
			char *end;

			list = (int)strtol(optarg, &end, 10);
			if (*end || list < 0) {
				fprintf(stderr, "snk: --list: must be a whole number >= 0\n");
				return SNK_EXIT_USAGE;
			}
			given |= CLI_OPT_LIST;
			break;
		}
		case 'V':
			printf("snk %s\n", SNK_VERSION);
			return SNK_EXIT_OK;
		case 'h':
			usage(stdout);
			return SNK_EXIT_OK;
		default:
			fprintf(stderr, "snk: bad option '%s'; see snk --help\n", argv[optind - 1]);
			return SNK_EXIT_USAGE;
		}
	}
	if (optind < argc)
		command = argv[optind++];
	if (optind < argc || (strcmp(command, "run") != 0 && strcmp(command, "migrate") != 0 &&
			      strcmp(command, "verify") != 0 && strcmp(command, "check") != 0)) {
		fprintf(stderr, "snk: unknown command or extra argument '%s'; see snk --help\n",
			argv[optind < argc ? optind : optind - 1]);
		return SNK_EXIT_USAGE;
	}
	misplaced = cli_misplaced_option(command, given);
	if (misplaced) {
		fprintf(stderr, "snk: %s does not apply to %s; see snk --help\n", misplaced, command);
		return SNK_EXIT_USAGE;
	}
	rc = load_config(rt.config_path, &rt.cfg);
	if (rc != 0)
		return rc;
	if (check_only) {
		printf("snk: %s: config OK\n", rt.config_path);
		config_free(rt.cfg);
		return SNK_EXIT_OK;
	}
	log_set_level(rt.cfg->log_level);
	log_set_format(rt.cfg->log_format);
	log_route_libevent();
	if (verbose) {
		rt.verbose = true;
		log_set_level(verbose > 1 ? LOG_NOISE : LOG_DEBUG);
	}
	rc = resolve_tables(rt.cfg, strcmp(command, "run") == 0 ? "resolve" : command, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "snk: %s: %s\n", rt.config_path, err);
		config_free(rt.cfg);
		return rc;
	}
	if (strcmp(command, "migrate") == 0)
		rc = cmd_migrate(rt.cfg);
	else if (strcmp(command, "verify") == 0)
		rc = verify_run(rt.cfg, list, json);
	else if (strcmp(command, "check") == 0)
		rc = check_run(rt.cfg, rt.config_path);
	else
		rc = cmd_run(&rt);
	config_free(rt.cfg);
	return rc;
}
