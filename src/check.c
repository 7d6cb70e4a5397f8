/* check.c - `snk check`: can snk sync this table pair here and now? Read-only.
 *
 * For each database, one line per check, "ok" or what is wrong and what to do: the TLS
 * files the conninfo names, the connection (shown as host:port/dbname, never the
 * conninfo), the migrations, the role's privileges, the NOTIFY trigger, and the writer
 * lock. The lock is read from pg_locks, never taken: a check must not stop a starting
 * snk. The TLS files come first because a missing one is what makes the connection fail.
 */
#include "snk/check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snk/conninfo.h"
#include "snk/db.h"
#include "snk/exitcodes.h"

struct check_run {
	const struct snk_config *cfg; /* borrowed */
	const char *config_path;      /* borrowed */
	struct snk_table *tables;     /* owned: [ntables], shaped by database a's columns */
	int ntables;
	struct snk_table *t;          /* borrowed: the table being checked */
	const char *side;             /* "a", "b", ...: the name of the database being checked */
	int index;
	int checks;
	int failed;
	int skipped;                  /* not run: no connection */
};

static void report(struct check_run *r, const char *what, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* One line: side, check, "ok: detail" or "FAILED: what is wrong; what to do". */
static void report(struct check_run *r, const char *what, bool ok, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	detail[strcspn(detail, "\n")] = '\0'; /* one line, whatever libpq's message holds */
	r->checks++;
	if (!ok)
		r->failed++;
	printf("%s  %-14s %s: %s\n", r->side, what, ok ? "ok" : "FAILED", detail);
}

/* Whether libpq could read path, as it reads it; why not into why. The key file must
 * also pass libpq's own permission test (fe-secure-openssl.c), which refuses it else. */
static bool file_readable(const char *path, bool is_key, char *why, size_t len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, len, "%s (uid %d)", strerror(errno), (int)geteuid());
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(why, len, "not a regular file");
		return false;
	}
	close(fd);
	if (is_key && ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
		       (st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))) {
		snprintf(why, len, "libpq refuses a key with group or world access:"
			 " chmod 0600 (0640 when owned by root)");
		return false;
	}
	return true;
}

static void check_tls(struct check_run *r)
{
	static const char *const keys[3] = { "sslrootcert", "sslcert", "sslkey" };
	static const char *const envs[3] = { "SSLROOTCERT", "SSLCERT", "SSLKEY" };
	const char *conninfo = r->cfg->conninfo[r->index];
	char named[512] = "", bad[1024] = "";

	for (int i = 0; i < 3; i++) {
		char path[1024], why[256];
		size_t n;

		/* "system" (libpq 16 and later) is the system's CA store, not a file */
		if (!conninfo_value(conninfo, keys[i], path, sizeof(path)) ||
		    (i == 0 && strcmp(path, "system") == 0))
			continue;
		n = strlen(named);
		snprintf(named + n, sizeof(named) - n, "%s%s", n ? ", " : "", keys[i]);
		if (!bad[0] && !file_readable(path, i == 2, why, sizeof(why)))
			snprintf(bad, sizeof(bad), "%s %s: %s; fix databases.%s in %s (or PG%s),"
				 " or make the file readable by the user snk runs as", keys[i], path,
				 why, r->side, r->config_path, envs[i]);
	}
	if (bad[0])
		report(r, "tls files", false, "%s", bad);
	else if (named[0])
		report(r, "tls files", true, "%s readable", named);
	else
		report(r, "tls files", true, "none named");
}

static PGconn *check_connection(struct check_run *r)
{
	char target[512], err[1024], buf[512];
	struct snk_session_info session;
	const char *problem;
	PGconn *conn;

	conninfo_target(r->cfg->conninfo[r->index], target, sizeof(target));
	conn = db_connect_blocking(r->cfg->conninfo[r->index], "snk check", err, sizeof(err));
	if (!conn) {
		report(r, "connection", false, "%s: %s; check databases.%s in %s and that the server"
		       " runs", target, err, r->side, r->config_path);
		return NULL;
	}
	if (!db_session_blocking(conn, &session, err, sizeof(err))) {
		report(r, "connection", false, "%s: the first statement failed: %s", target, err);
		PQfinish(conn);
		return NULL;
	}
	problem = db_session_problem(&session, false, buf, sizeof(buf));
	if (problem)
		report(r, "connection", false, "%s: %s", target, problem);
	else
		report(r, "connection", true, "%s", target);
	return conn;
}

/* The table's columns and key, as the daemon compares them at every connect: a's become
 * the table's shape, b's must be the same. NULL when they are. */
static const char *check_shape(struct check_run *r, PGconn *conn, char *buf, size_t len)
{
	struct snk_shape shape;
	char err[512];
	const char *problem;

	if (!db_shape_blocking(conn, r->t, &shape, err, sizeof(err))) {
		snprintf(buf, len, "cannot read the table's columns: %s", err);
		return buf;
	}
	problem = db_shape_problem(r->t, &shape, r->side, buf, len);
	if (!problem && !r->t->shaped && !db_table_shape(r->t, &shape, r->side)) {
		snprintf(buf, len, "out of memory");
		problem = buf;
	}
	db_shape_clear(&shape);
	return problem;
}

static void check_migrations(struct check_run *r, PGconn *conn)
{
	struct snk_schema_info info;
	char err[1024], buf[512];
	const char *problem;

	if (!db_schema_blocking(conn, r->t, &info, err, sizeof(err))) {
		report(r, "migrations", false, "cannot read the catalog: %s", err);
		return;
	}
	problem = db_schema_problem(&info, r->t, true, buf, sizeof(buf));
	if (!problem)
		problem = check_shape(r, conn, buf, sizeof(buf));
	if (problem)
		report(r, "migrations", false, "%s", problem);
	else
		report(r, "migrations", true, "%s is migrated (snk_xid %s, trigger snk_xid_stamp"
		       " enabled; key %s, %d columns%s%s)", r->t->label,
		       info.xid_type == SNK_XID_INT8 ? "bigint" : "xid8", info.key, r->t->shape.ncols,
		       strcmp(r->t->shape_db, r->side) != 0 ? ", the same as in " : "",
		       strcmp(r->t->shape_db, r->side) != 0 ? r->t->shape_db : "");
}

/* What snk needs of the role, as the GRANT that gives it: "@" stands for the table, "%"
 * for its schema. */
static const struct {
	size_t have;          /* offset of the flag in struct snk_privileges */
	const char *privilege;
	const char *on;
} needs[] = {
	{ offsetof(struct snk_privileges, table_select), "SELECT", "@" },
	{ offsetof(struct snk_privileges, table_insert), "INSERT", "@" },
	{ offsetof(struct snk_privileges, table_schema_usage), "USAGE", "SCHEMA %" },
	{ offsetof(struct snk_privileges, snk_usage), "USAGE", "SCHEMA snk" },
	{ offsetof(struct snk_privileges, cursor_select), "SELECT", "snk.cursor" },
	{ offsetof(struct snk_privileges, cursor_insert), "INSERT", "snk.cursor" },
	{ offsetof(struct snk_privileges, cursor_update), "UPDATE", "snk.cursor" },
	{ offsetof(struct snk_privileges, summarize_execute), "EXECUTE",
	  "FUNCTION snk.summarize(oid, bigint)" },
	{ offsetof(struct snk_privileges, restamp_execute), "EXECUTE",
	  "FUNCTION snk.restamp_ahead(regclass)" },
};

/* The object of needs[i] as shown (label) and as granted (quoted). */
static void need_object(const struct check_run *r, int i, bool quoted, char *buf, size_t len)
{
	const char *on = needs[i].on;

	if (strcmp(on, "@") == 0)
		snprintf(buf, len, "%s", quoted ? r->t->qualified : r->t->label);
	else if (strcmp(on, "SCHEMA %") == 0)
		snprintf(buf, len, "SCHEMA %s", r->t->schema_raw);
	else /* "FUNCTION f" reads as "f" */
		snprintf(buf, len, "%s", quoted || strncmp(on, "FUNCTION ", 9) ? on : on + 9);
}

static void check_privileges(struct check_run *r, PGconn *conn)
{
	struct snk_privileges p;
	char err[1024], missing[512] = "", grants[1024] = "";

	if (!db_privileges_blocking(conn, r->t, &p, err, sizeof(err))) {
		report(r, "privileges", false, "cannot read them: %s", err);
		return;
	}
	for (int i = 0; i < (int)(sizeof(needs) / sizeof(needs[0])); i++) {
		size_t m = strlen(missing), g = strlen(grants);
		char shown[300], granted[300];

		if (*(const bool *)((const char *)&p + needs[i].have))
			continue;
		need_object(r, i, false, shown, sizeof(shown));
		need_object(r, i, true, granted, sizeof(granted));
		snprintf(missing + m, sizeof(missing) - m, "%s%s on %s", m ? ", " : "",
			 needs[i].privilege, shown);
		snprintf(grants + g, sizeof(grants) - g, "%sGRANT %s ON %s TO %s;", g ? " " : "",
			 needs[i].privilege, granted, p.role);
	}
	if (missing[0])
		report(r, "privileges", false, "role %s lacks %s; as the table's owner: %s", p.role,
		       missing, grants);
	else
		report(r, "privileges", true, "role %s may read and insert %s, keep snk.cursor and"
		       " run snk.summarize and snk.restamp_ahead", p.role, r->t->label);
}

static void check_notify_trigger(struct check_run *r, PGconn *conn)
{
	struct snk_notify_trigger trg;
	char err[1024], buf[768];
	const char *problem;

	if (!r->t->channel_raw) {
		report(r, "notify trigger", true, "notify_channel is \"\": timer only, every %d ms",
		       r->cfg->poll_interval_ms);
		return;
	}
	if (!db_notify_trigger_blocking(conn, r->t, &trg, err, sizeof(err))) {
		report(r, "notify trigger", false, "cannot read the catalog: %s", err);
		return;
	}
	problem = db_notify_trigger_problem(&trg, r->t, buf, sizeof(buf));
	if (problem)
		report(r, "notify trigger", false, "%s", problem);
	else if (db_notify_trigger_advice(&trg, r->t, buf, sizeof(buf)))
		report(r, "notify trigger", true, "%s notifies channel %s, but %s", trg.name, r->t->channel_raw, buf);
	else
		report(r, "notify trigger", true, "%s on %s notifies channel %s", trg.name,
		       r->t->label, r->t->channel_raw);
}

static void check_writer_lock(struct check_run *r, PGconn *conn)
{
	struct snk_lock_holder h;
	char err[1024];

	if (!db_writer_lock_blocking(conn, r->t, &h, err, sizeof(err))) {
		report(r, "writer lock", false, "cannot read pg_locks: %s", err);
		return;
	}
	if (!h.held) {
		report(r, "writer lock", true, "free");
		return;
	}
	/* A running snk holds it: that is the normal state of a live system, which check is
	 * meant to be run against (before a reload, from monitoring). A session that does not
	 * name itself as snk's holds snk's lock: that one would keep every snk out. */
	bool snk_holds = strncmp(h.application, "snk", 3) == 0;

	report(r, "writer lock", snk_holds, "held by %s: backend pid %d (user %s, application %s, client"
	       " %s%s%s)%s", snk_holds ? "a running snk" : "a session that is not snk's", h.pid,
	       h.user[0] ? h.user : "?", h.application[0] ? h.application : "(none)",
	       h.client[0] ? h.client : "not visible to this role", h.since[0] ? ", since " : "", h.since,
	       snk_holds ? "; a second snk for this table is its standby" :
			   "; no snk can write this table while it holds it: end that session");
}

static void check_database(struct check_run *r, int index)
{
	static const char *const names[4] = { "migrations", "privileges", "notify trigger",
					      "writer lock" };
	PGconn *conn;

	r->index = index;
	r->side = r->cfg->db_name[index];
	check_tls(r);
	conn = check_connection(r);
	if (!conn) { /* the connection line says why; these are not counted */
		for (int i = 0; i < 4; i++)
			printf("%s  %-14s skipped: no connection\n", r->side, names[i]);
		r->skipped += 4;
		return;
	}
	for (int t = 0; t < r->ntables; t++) {
		r->t = &r->tables[t];
		check_migrations(r, conn);
		check_privileges(r, conn);
		check_notify_trigger(r, conn);
		check_writer_lock(r, conn);
	}
	PQfinish(conn);
}

int check_run(const struct snk_config *cfg, const char *config_path)
{
	struct check_run r = { .cfg = cfg, .config_path = config_path };

	r.tables = calloc((size_t)cfg->ntables, sizeof(*r.tables));
	for (int t = 0; r.tables && t < cfg->ntables; t++) {
		if (!db_table_init_spec(&r.tables[t], cfg, &cfg->tables[t], t))
			break;
		r.ntables++;
	}
	if (!r.tables || r.ntables < cfg->ntables) {
		for (int t = 0; t < r.ntables; t++)
			db_table_clear(&r.tables[t]);
		free(r.tables);
		fprintf(stderr, "snk: check: out of memory\n");
		return SNK_EXIT_OSERR;
	}
	r.t = &r.tables[0];
	for (int i = 0; i < cfg->ndb; i++)
		check_database(&r, i);
	for (int t = 0; t < r.ntables; t++)
		db_table_clear(&r.tables[t]);
	free(r.tables);
	if (r.failed) {
		if (r.skipped)
			printf("snk check: %d of %d checks FAILED, %d not run\n", r.failed,
			       r.checks, r.skipped);
		else
			printf("snk check: %d of %d checks FAILED\n", r.failed, r.checks);
		return SNK_EXIT_CHECK_FAILED;
	}
	printf("snk check: all %d checks ok\n", r.checks);
	return SNK_EXIT_OK;
}
