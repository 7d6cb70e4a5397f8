/* side.c - the sessions of one database, shared by every table (side.h).
 *
 * At every (re)connect each session runs one check unit: the session's settings, then for
 * every table its catalog check and columns. The read session adds its read settings,
 * LISTEN and the NOTIFY trigger of every table; the first write session the settings of a
 * lock session. Once that one has passed, its owner decides when it tries the writer
 * locks of every table (side_try_lock: the lease, docs/DESIGN.md "Standby"); once they are
 * held it reads the foreign keys among the tables. A session is ready once every table
 * passed and, for a write session, every table's inserts are prepared (and for the first
 * one, the locks are held). What no reconnect can fix (a table that is not migrated,
 * columns that differ, a cycle of foreign keys) goes to the owner's on_fatal.
 */
#include "snk/side.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/clock.h"
#include "snk/config.h"
#include "snk/exitcodes.h"
#include "snk/log.h"

/* The check unit: statement 0 the session, then two per table (schema, columns); after
 * them, what the role of the session adds. */
#define STMT_TABLE(i, k) (1 + 2 * (i) + (k))

static void fatal(struct snk_side *s, int code, struct snk_pgconn *c, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fatal(struct snk_side *s, int code, struct snk_pgconn *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->hooks.on_fatal(s->hooks.arg, code, pgconn_name(c), msg);
}

static struct snk_pgconn *check_conn(const struct side_check *cc)
{
	return cc->lane ? cc->lane->conn : cc->side->read;
}

/* ---- what a check holds ---- */

static void check_clear(struct side_check *cc)
{
	for (int i = 0; cc->shape && i < cc->side->ntables; i++)
		db_shape_clear(&cc->shape[i]);
	free(cc->info);
	free(cc->shape);
	free(cc->info_ok);
	free(cc->shape_ok);
	free(cc->trigger);
	free(cc->trigger_ok);
	free(cc->fkeys);
	cc->info = NULL;
	cc->shape = NULL;
	cc->info_ok = cc->shape_ok = cc->trigger_ok = NULL;
	cc->trigger = NULL;
	cc->fkeys = NULL;
}

static bool check_reset(struct side_check *cc, struct snk_side *s, struct write_lane *lane, bool writer)
{
	size_t n = (size_t)(s->ntables ? s->ntables : 1);

	cc->side = s;
	check_clear(cc);
	memset(cc, 0, sizeof(*cc));
	cc->side = s;
	cc->lane = lane;
	cc->writer = writer;
	cc->info = calloc(n, sizeof(*cc->info));
	cc->shape = calloc(n, sizeof(*cc->shape));
	cc->info_ok = calloc(n, sizeof(bool));
	cc->shape_ok = calloc(n, sizeof(bool));
	cc->trigger = calloc(n, sizeof(*cc->trigger));
	cc->trigger_ok = calloc(n, sizeof(bool));
	return cc->info && cc->shape && cc->info_ok && cc->shape_ok && cc->trigger && cc->trigger_ok;
}

static int after_tables(const struct snk_side *s)
{
	return STMT_TABLE(s->ntables, 0);
}

static void check_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct side_check *cc = arg;
	struct snk_side *s = cc->side;
	int base = after_tables(s);

	if (stmt == 0) {
		cc->session_ok = db_read_session(res, &cc->session);
	} else if (stmt < base) {
		int i = (stmt - 1) / 2;

		if ((stmt - 1) % 2 == 0) {
			cc->info_ok[i] = db_read_schema(res, &cc->info[i]);
		} else {
			db_shape_clear(&cc->shape[i]);
			cc->shape_ok[i] = db_read_shape(res, &cc->shape[i]);
		}
	} else if (!cc->lane && stmt >= base + 2 && stmt < base + 2 + s->ntables) {
		int i = stmt - base - 2;

		cc->trigger_ok[i] = db_read_notify_trigger(res, &cc->trigger[i]);
	}
}

/* ---- judging what a session read ---- */

/* The columns this session read against the table's shape: the first session to read
 * them gives the shape every statement about rows is built from; every later one, in
 * either database, must read the same (docs/DESIGN.md, "Any table"). */
static bool judge_shape(struct snk_side *s, struct side_check *cc, int i)
{
	struct snk_table *t = &s->tables[i];
	struct snk_pgconn *c = check_conn(cc);
	char buf[768];
	const char *problem = db_shape_problem(t, &cc->shape[i], s->name, buf, sizeof(buf));

	if (problem) {
		fatal(s, SNK_EXIT_SCHEMA, c, "%s", problem);
		return false;
	}
	if (t->shaped)
		return true;
	if (!db_table_shape(t, &cc->shape[i], s->name)) {
		fatal(s, SNK_EXIT_SOFTWARE, c, "out of memory building the statements of %s", t->label);
		return false;
	}
	log_info(pgconn_name(c), "%s: %d columns (%d written), key %s; %s", t->label, t->shape.ncols, t->shape.nsync,
		 cc->info[i].key, db_shape_wire_summary(t));
	return true;
}

/* Every table of the check: its catalog, then its columns. False when the session is
 * dropped or snk must stop. */
static bool judge_tables(struct snk_side *s, struct side_check *cc, const struct pgconn_error *err)
{
	struct snk_pgconn *c = check_conn(cc);
	char buf[512];
	const char *problem = cc->session_ok ? db_session_problem(&cc->session, true, buf, sizeof(buf)) : NULL;

	if (problem) {
		fatal(s, SNK_EXIT_CONFIG, c, "database %s: %s", s->name, problem);
		return false;
	}
	/* The catalog checks first: their advice beats the raw error of a later statement
	 * (preparing the insert fails on a table that was never migrated). */
	for (int i = 0; i < s->ntables; i++) {
		problem = cc->info_ok[i] ? db_schema_problem(&cc->info[i], &s->tables[i], true, buf, sizeof(buf)) : NULL;
		if (problem) {
			fatal(s, SNK_EXIT_SCHEMA, c, "database %s: %s", s->name, problem);
			return false;
		}
	}
	if (err) {
		if (err->sqlstate[0] == '4' && err->sqlstate[1] == '2')
			fatal(s, SNK_EXIT_SCHEMA, c, "checking the tables in %s: %s", s->name, err->message);
		else
			pgconn_drop(c, err->message);
		return false;
	}
	if (!cc->session_ok) {
		fatal(s, SNK_EXIT_SOFTWARE, c, "BUG: unexpected result of the session check");
		return false;
	}
	for (int i = 0; i < s->ntables; i++) {
		if (!cc->info_ok[i] || !cc->shape_ok[i]) {
			fatal(s, SNK_EXIT_SOFTWARE, c, "BUG: unexpected result of the schema check of %s", s->tables[i].label);
			return false;
		}
		if (!judge_shape(s, cc, i))
			return false;
	}
	return true;
}

/* At every connect of the read session: is every table woken by NOTIFY? A missing trigger
 * is otherwise invisible: snk syncs on its timer, notifies stay 0 (README, snk check). */
static void judge_notify_triggers(struct snk_side *s, const struct side_check *cc)
{
	char buf[768];
	int older = 0;

	s->notify_trigger = -1;
	s->notify_missing = 0;
	memset(s->notified, 0, sizeof(bool) * (size_t)s->ntables);
	if (!s->cfg->notify_channel[0])
		return;
	for (int i = 0; i < s->ntables; i++) {
		const char *problem;

		if (!cc->trigger_ok[i])
			return;
		problem = db_notify_trigger_problem(&cc->trigger[i], &s->tables[i], buf, sizeof(buf));
		s->notified[i] = problem == NULL;
		if (problem) {
			s->notify_missing++;
			if (s->notify_missing <= 5)
				log_warn(pgconn_name(s->read), "database %s: %s", s->name, problem);
		} else if (db_notify_trigger_advice(&cc->trigger[i], &s->tables[i], buf, sizeof(buf)) && ++older <= 5) {
			log_warn(pgconn_name(s->read), "database %s: %s", s->name, buf);
		}
	}
	if (s->notify_missing > 5)
		log_warn(pgconn_name(s->read), "database %s: %d tables in all have no NOTIFY trigger on channel %s",
			 s->name, s->notify_missing, s->cfg->notify_channel);
	s->notify_trigger = s->notify_missing ? 0 : 1;
}

/* The first write session's foreign keys: the order a pass writes this database's tables
 * in. A cycle between different tables cannot be ordered: snk stops (docs/DESIGN.md). */
static bool judge_foreign_keys(struct snk_side *s, struct side_check *cc)
{
	const char **names = calloc((size_t)s->ntables + 1, sizeof(*names));
	char why[1024];
	bool ok;

	if (!names || !cc->fkeys_ok) {
		free(names);
		fatal(s, SNK_EXIT_SOFTWARE, s->write, names ? "BUG: unexpected result of the foreign key query" :
			      "out of memory");
		return false;
	}
	for (int i = 0; i < s->ntables; i++)
		names[i] = s->tables[i].label;
	fk_graph_clear(&s->fk);
	s->fk_ok = false;
	ok = fk_graph_build(&s->fk, s->ntables, cc->fkeys, cc->nfkeys, names, why, sizeof(why));
	free(names);
	if (!ok) {
		fatal(s, SNK_EXIT_SCHEMA, s->write, "database %s: %s", s->name, why);
		return false;
	}
	s->fk_ok = true;
	if (cc->nfkeys > 0)
		log_info(pgconn_name(s->write), "database %s: %d foreign keys among the synced tables; parents are"
			 " written first", s->name, cc->nfkeys);
	return true;
}

static void prepared_done_cb(void *arg, const struct pgconn_error *err)
{
	struct write_lane *l = arg;
	struct snk_side *s = l->side;

	if (err) {
		if (!err->conn_lost)
			pgconn_drop(l->conn, err->message);
		return;
	}
	l->ok = true; /* batches find it from the next one on */
	if (l != &s->lane[0])
		return;
	s->write_ok = true;
	s->hooks.on_session(s->hooks.arg, s, true, true);
}

/* A write session, checked (and holding the locks, for lane 0): its inserts are prepared. */
static void send_prepare(struct write_lane *l)
{
	struct snk_side *s = l->side;
	bool ok;

	if (!pgconn_begin(l->conn, NULL, prepared_done_cb, l)) /* PREPARE returns nothing to read */
		return;
	ok = (strcmp(s->cfg->synchronous_commit, "off") != 0 || db_send_commit_async(l->conn)) &&
	     db_send_prepare_cursor_store(l->conn);
	for (int i = 0; ok && i < s->ntables; i++)
		ok = db_send_prepare_insert(l->conn, &s->tables[i]);
	pgconn_end(l->conn);
}

static void probes_prepared_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_side *s = arg;

	if (err) {
		if (!err->conn_lost)
			pgconn_drop(s->read, err->message);
		return;
	}
	s->read_ok = true;
	s->hooks.on_session(s->hooks.arg, s, false, true);
}

/* The read session, checked: every table's probe is prepared (a pass over many tables
 * sends one per table: planned once per connect, not at every pass). */
static void send_prepare_probes(struct snk_side *s)
{
	bool ok, all_brin = true;

	for (int i = 0; i < s->ntables; i++)
		all_brin = all_brin && s->read_check.info[i].brin_index[0] != '\0';
	if (!pgconn_begin(s->read, NULL, probes_prepared_cb, s))
		return;
	log_debug(pgconn_name(s->read), "windows and probes planned %s", all_brin ? "once (generic plans: every snk_xid index is BRIN)" :
		  "at every pass (custom plans: an snk_xid index is a btree)");
	ok = db_send_prepare_pass(s->read, all_brin);
	for (int i = 0; ok && i < s->ntables; i++)
		ok = db_send_prepare_read(s->read, &s->tables[i], s->read_check.info[i].xid_type);
	pgconn_end(s->read);
}

static void check_done_cb(void *arg, const struct pgconn_error *err)
{
	struct side_check *cc = arg;
	struct snk_side *s = cc->side;

	if (err && err->conn_lost)
		return;
	if (!judge_tables(s, cc, err))
		return;
	if (cc->lane && !cc->writer) {
		send_prepare(cc->lane);
		return;
	}
	if (!cc->lane) {
		for (int i = 0; i < s->ntables; i++)
			s->relid[i] = cc->info[i].relid;
		judge_notify_triggers(s, cc);
		send_prepare_probes(s);
		return;
	}
	/* the first write session: checked; its owner says when it tries the locks */
	s->writer_checked = true;
	s->writer_down = false;
	s->lock = SIDE_LOCK_NONE;
	s->hooks.on_lockable(s->hooks.arg, s);
}

/* ---- the writer locks ---- */

static void fkeys_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct side_check *cc = arg;

	free(cc->fkeys);
	cc->fkeys = NULL;
	cc->fkeys_ok = db_read_foreign_keys(res, cc->side->ntables, &cc->fkeys, &cc->nfkeys);
}

static void fkeys_done_cb(void *arg, const struct pgconn_error *err)
{
	struct side_check *cc = arg;
	struct snk_side *s = cc->side;

	if (err) {
		if (!err->conn_lost)
			pgconn_drop(s->write, err->message);
		return;
	}
	if (judge_foreign_keys(s, cc))
		send_prepare(cc->lane);
}

static void lock_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct side_check *cc = arg;
	struct snk_side *s = cc->side;

	if (stmt == 0 && !db_read_bool(res, &cc->locked))
		cc->locked = false;
	else if (stmt == 1 && !db_read_lock_holder(res, &s->holder))
		memset(&s->holder, 0, sizeof(s->holder));
}

static void lock_done_cb(void *arg, const struct pgconn_error *err)
{
	struct side_check *cc = arg;
	struct snk_side *s = cc->side;

	if (err) {
		s->lock = SIDE_LOCK_NONE;
		if (!err->conn_lost)
			pgconn_drop(s->write, err->message);
		return;
	}
	if (!cc->locked) {
		s->lock = SIDE_LOCK_REFUSED;
		s->hooks.on_refused(s->hooks.arg, s);
		return;
	}
	s->lock = SIDE_LOCK_HELD;
	s->lock_epoch++;
	s->lock_pid = pgconn_backend_pid(s->write);
	memset(&s->holder, 0, sizeof(s->holder));
	if (pgconn_begin(s->write, fkeys_result_cb, fkeys_done_cb, cc)) {
		db_send_foreign_keys(s->write, s->tables, s->ntables);
		pgconn_end(s->write);
	}
}

bool side_try_lock(struct snk_side *s)
{
	struct side_check *cc = &s->lane[0].check;

	if (!s->writer_checked || s->lock == SIDE_LOCK_TRYING || s->lock == SIDE_LOCK_HELD ||
	    !pgconn_begin(s->write, lock_result_cb, lock_done_cb, cc))
		return false;
	cc->locked = false;
	s->lock = SIDE_LOCK_TRYING;
	db_send_writer_locks(s->write, s->tables, s->ntables);
	db_send_lock_holder(s->write, s->tables, s->ntables);
	pgconn_end(s->write);
	return true;
}

static void heartbeat_done_cb(void *arg, const struct pgconn_error *err)
{
	struct snk_side *s = arg;

	if (err && !err->conn_lost)
		pgconn_drop(s->write, err->message);
}

void side_heartbeat(struct snk_side *s)
{
	if (s->lock != SIDE_LOCK_HELD || !pgconn_begin(s->write, NULL, heartbeat_done_cb, s))
		return;
	db_send_heartbeat(s->write);
	pgconn_end(s->write);
}

/* ---- sessions ---- */

static bool send_table_checks(struct snk_side *s, struct snk_pgconn *c)
{
	bool ok = db_send_session_setup(c);

	for (int i = 0; ok && i < s->ntables; i++)
		ok = db_send_schema_check(c, &s->tables[i]);
	return ok;
}

static void read_state_cb(struct snk_pgconn *c, void *arg)
{
	struct snk_side *s = arg;
	struct side_check *cc = &s->read_check;
	bool ok;

	if (!pgconn_ready(c)) {
		s->read_ok = false;
		s->read_owner = NULL; /* its transaction went with the session */
		s->hooks.on_session(s->hooks.arg, s, false, false);
		return;
	}
	if (!check_reset(cc, s, NULL, false)) {
		pgconn_drop(c, "out of memory");
		return;
	}
	if (!pgconn_begin(c, check_result_cb, check_done_cb, cc))
		return;
	ok = send_table_checks(s, c) && db_send_read_session_setup(c);
	if (ok && s->cfg->notify_channel[0]) {
		ok = db_send_listen(c, &s->tables[0]);
		for (int i = 0; ok && i < s->ntables; i++)
			ok = db_send_notify_trigger(c, &s->tables[i]);
	}
	pgconn_end(c);
}

static void write_state_cb(struct snk_pgconn *c, void *arg)
{
	struct write_lane *l = arg;
	struct snk_side *s = l->side;
	bool writer = l == &s->lane[0];
	bool ok;

	l->ok = false;
	if (!pgconn_ready(c)) {
		/* its units, if any, fail with the loss and fail their pass */
		if (writer) {
			if (s->lock_pid)
				s->prev_lock_pid = s->lock_pid;
			s->lock_pid = 0;
			s->write_ok = false;
			s->writer_checked = false;
			/* down: it failed and retries (BACKOFF); a session stopped on purpose is not */
			s->writer_down = pgconn_state(c) == PGCONN_BACKOFF;
			s->lost_lock = s->lock == SIDE_LOCK_HELD;
			s->lock = SIDE_LOCK_NONE;
			s->hooks.on_session(s->hooks.arg, s, true, false);
		}
		return;
	}
	if (!check_reset(&l->check, s, l, writer)) {
		pgconn_drop(c, "out of memory");
		return;
	}
	if (!pgconn_begin(c, check_result_cb, check_done_cb, &l->check))
		return;
	ok = send_table_checks(s, c);
	if (ok && writer)
		ok = db_send_lease_settings(c, s->cfg->lease_timeout_ms);
	pgconn_end(c);
}

bool side_set_tables(struct snk_side *s, struct snk_table *tables, int ntables)
{
	uint32_t *relid = calloc((size_t)ntables + 1, sizeof(*relid));
	bool *notified = calloc((size_t)ntables + 1, sizeof(bool));

	if (!relid || !notified) {
		free(relid);
		free(notified);
		return false;
	}
	/* what the sessions read is of the old tables: cleared with their count */
	check_clear(&s->read_check);
	for (int j = 0; j < s->nlanes; j++)
		check_clear(&s->lane[j].check);
	free(s->relid);
	free(s->notified);
	s->relid = relid;
	s->notified = notified;
	s->tables = tables;
	s->ntables = ntables;
	fk_graph_clear(&s->fk);
	s->fk_ok = false;
	s->read_ok = s->write_ok = false;
	s->notify_trigger = -1;
	pgconn_drop(s->read, "the tables changed");
	for (int j = 0; j < s->nlanes; j++) {
		s->lane[j].ok = false;
		pgconn_drop(s->lane[j].conn, "the tables changed");
	}
	return true;
}

int side_table_of_relid(const struct snk_side *s, uint32_t relid)
{
	for (int i = 0; relid && i < s->ntables; i++) {
		if (s->relid[i] == relid)
			return i;
	}
	return -1;
}

static void notify_cb(struct snk_pgconn *c, void *arg, int be_pid, const char *payload)
{
	struct snk_side *s = arg;
	char *end;
	unsigned long relid;

	/* snk's own inserts fire the trigger too; they never need a pass. */
	for (int i = 0; i < s->nlanes; i++) {
		if (be_pid == pgconn_backend_pid(s->lane[i].conn)) {
			s->own_notifies++;
			return;
		}
	}
	s->notifies++;
	/* migrations/notify_trigger.sql sends the table's oid; an older trigger sends '', which
	 * wakes every table. An oid of no table of this snk is another snk's on the same
	 * channel: its tables are not these. */
	relid = payload && *payload ? strtoul(payload, &end, 10) : 0;
	if (relid == 0 || *end != '\0' || relid > UINT32_MAX) {
		s->hooks.on_notify(s->hooks.arg, s, -1);
	} else {
		int t = side_table_of_relid(s, (uint32_t)relid);

		if (t >= 0)
			s->hooks.on_notify(s->hooks.arg, s, t);
	}
}

/* ---- the interface ---- */

bool side_init(struct snk_side *s, struct event_base *base, int index, const struct snk_config *cfg,
	       struct snk_table *tables, int ntables, const struct side_hooks *hooks)
{
	char name[32];

	memset(s, 0, sizeof(*s));
	s->index = index;
	snprintf(s->name, sizeof(s->name), "%s", cfg->db_name[index]);
	s->cfg = cfg;
	s->tables = tables;
	s->ntables = ntables;
	s->hooks = *hooks;
	s->notify_trigger = -1;
	s->relid = calloc((size_t)ntables + 1, sizeof(*s->relid));
	s->notified = calloc((size_t)ntables + 1, sizeof(bool));
	snprintf(name, sizeof(name), "%s.read", s->name);
	s->read = pgconn_new(base, name, cfg->conninfo[index], cfg->reconnect_max_ms, read_state_cb, notify_cb, s);
	if (!s->relid || !s->notified || !s->read || cfg->write_connections < 1 || cfg->write_connections > SNK_WRITE_LANES_MAX)
		return false;
	s->read_check.side = s;
	s->nlanes = cfg->write_connections;
	for (int j = 0; j < s->nlanes; j++) {
		struct write_lane *l = &s->lane[j];

		l->side = s;
		l->check.side = s;
		if (j == 0)
			snprintf(l->name, sizeof(l->name), "%s.write", s->name);
		else
			snprintf(l->name, sizeof(l->name), "%s.write%d", s->name, j + 1);
		l->conn = pgconn_new(base, l->name, cfg->conninfo[index], cfg->reconnect_max_ms, write_state_cb, NULL, l);
		if (!l->conn)
			return false;
	}
	s->write = s->lane[0].conn;
	return true;
}

void side_start(struct snk_side *s)
{
	pgconn_start(s->read);
	for (int j = 0; j < s->nlanes; j++)
		pgconn_start(s->lane[j].conn);
}

void side_start_writer(struct snk_side *s)
{
	pgconn_start(s->write);
}

void side_stop(struct snk_side *s, bool keep_writer, const char *why)
{
	pgconn_stop(s->read, why);
	s->read_ok = false;
	for (int j = keep_writer ? 1 : 0; j < s->nlanes; j++) {
		s->lane[j].ok = false;
		pgconn_stop(s->lane[j].conn, why);
	}
	if (!keep_writer) {
		s->write_ok = false;
		s->writer_checked = false;
		s->writer_down = false;
		s->lock = SIDE_LOCK_NONE;
		if (s->lock_pid)
			s->prev_lock_pid = s->lock_pid;
		s->lock_pid = 0;
	}
}

void side_free(struct snk_side *s)
{
	pgconn_free(s->read);
	check_clear(&s->read_check);
	for (int j = 0; j < s->nlanes; j++) {
		pgconn_free(s->lane[j].conn);
		check_clear(&s->lane[j].check);
	}
	fk_graph_clear(&s->fk);
	free(s->relid);
	free(s->notified);
	memset(s, 0, sizeof(*s));
}

struct write_lane *side_pick_lane(struct snk_side *s, bool in_order)
{
	struct write_lane *best = &s->lane[0];

	if (in_order)
		return best;
	for (int i = 1; i < s->nlanes; i++) {
		struct write_lane *l = &s->lane[i];

		if (l->ok && l->units < best->units)
			best = l;
	}
	return best;
}

bool side_lane_beside_first(struct snk_side *s)
{
	return side_pick_lane(s, false) != &s->lane[0];
}

struct snk_pgconn *side_spare_write(struct snk_side *s)
{
	for (int i = s->nlanes - 1; i > 0; i--) {
		if (s->lane[i].ok)
			return s->lane[i].conn;
	}
	return s->write;
}

int side_lanes_ready(const struct snk_side *s)
{
	int n = s->write_ok ? 1 : 0;

	for (int i = 1; i < s->nlanes; i++)
		n += s->lane[i].ok ? 1 : 0;
	return n;
}

static uint64_t reconnects_of(const struct snk_pgconn *c)
{
	const struct pgconn_stats *st = pgconn_stats(c);

	return st->connects > 0 ? st->connects - 1 : 0;
}

uint64_t side_reconnects(const struct snk_side *s)
{
	uint64_t n = reconnects_of(s->read);

	for (int i = 0; i < s->nlanes; i++)
		n += reconnects_of(s->lane[i].conn);
	return n;
}

const char *side_error(const struct snk_side *s)
{
	const char *err = pgconn_last_error(s->read);

	for (int j = 0; !err[0] && j < s->nlanes; j++)
		err = pgconn_last_error(s->lane[j].conn);
	return err;
}

bool side_set_conninfo(struct snk_side *s, const char *conninfo)
{
	if (!pgconn_set_conninfo(s->read, conninfo))
		return false;
	for (int i = 0; i < s->nlanes; i++) {
		if (!pgconn_set_conninfo(s->lane[i].conn, conninfo))
			return false;
	}
	pgconn_drop(s->read, "reconnecting with the reloaded config");
	for (int i = 0; i < s->nlanes; i++)
		pgconn_drop(s->lane[i].conn, "reconnecting with the reloaded config");
	return true;
}

void side_set_reconnect_max(struct snk_side *s, int ms)
{
	pgconn_set_reconnect_max(s->read, ms);
	for (int i = 0; i < s->nlanes; i++)
		pgconn_set_reconnect_max(s->lane[i].conn, ms);
}
