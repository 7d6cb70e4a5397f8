/* probe.c - one-shot sessions that try a reloaded conninfo before it is used.
 *
 * Each changed database gets a pgconn in one-shot mode named "a.reload": it connects
 * once and runs the checks that every working session runs at connect: the session check
 * (db_send_session_setup: the search_path, synchronous_commit and snk.copy snk needs) and
 * the schema check, so that a reload to a database that exists but was never migrated (a
 * mistyped dbname, another member of the cluster) keeps the old sessions instead of
 * ending snk with exit 65. The verdict is delivered from a
 * deferred event, so the sessions are freed outside their own callbacks.
 */
#include "snk/probe.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/db.h"
#include "snk/pgconn.h"

struct probe_conn {
	struct snk_probe *owner;  /* borrowed */
	char db[SNK_DB_NAME_MAX + 1]; /* "a", "b", ... */
	struct snk_pgconn *conn;  /* owned, NULL: this database did not change */
	bool done;
	struct snk_session_info session;
	bool session_ok;
	struct snk_schema_info *schema; /* owned: [ntables] */
	bool *schema_ok;          /* owned: [ntables] */
	struct snk_shape *shape;  /* owned: [ntables] the tables' columns there */
	bool *shape_ok;           /* owned: [ntables] */
};

struct snk_probe {
	struct probe_conn side[SNK_DB_MAX];
	int ndb;
	struct event *finish;     /* owned: delivers the verdict from the loop */
	const struct snk_table *tables; /* borrowed: [ntables] the synced tables, the same across reloads */
	int ntables;
	probe_done_cb cb;
	void *arg;                /* borrowed */
	bool failed;
	char why[700];
};

static void probe_fail(struct probe_conn *pc, const char *error)
{
	struct snk_probe *p = pc->owner;

	pc->done = true;
	if (!p->failed)
		snprintf(p->why, sizeof(p->why), "database %s: %s", pc->db,
			 error && error[0] ? error : "connection failed");
	p->failed = true;
	event_active(p->finish, 0, 0);
}

static void probe_pass(struct probe_conn *pc)
{
	struct snk_probe *p = pc->owner;

	pc->done = true;
	for (int i = 0; i < p->ndb; i++) {
		if (p->side[i].conn && !p->side[i].done)
			return;
	}
	event_active(p->finish, 0, 0);
}

static void session_result_cb(void *arg, int stmt, const PGresult *res)
{
	struct probe_conn *pc = arg;

	int i = (stmt - 1) / 2;

	if (stmt == 0)
		pc->session_ok = db_read_session(res, &pc->session);
	else if (i < pc->owner->ntables && (stmt - 1) % 2 == 0)
		pc->schema_ok[i] = db_read_schema(res, &pc->schema[i]);
	else if (i < pc->owner->ntables)
		pc->shape_ok[i] = db_read_shape(res, &pc->shape[i]);
}

static void session_done_cb(void *arg, const struct pgconn_error *err)
{
	struct probe_conn *pc = arg;
	char buf[512];
	const char *problem;

	if (pc->done)
		return;
	/* The session check first: its advice beats a later statement's raw error. */
	problem = pc->session_ok ? db_session_problem(&pc->session, true, buf, sizeof(buf)) : NULL;
	for (int i = 0; !problem && i < pc->owner->ntables; i++) {
		const struct snk_table *t = &pc->owner->tables[i];

		if (pc->schema_ok[i])
			problem = db_schema_problem(&pc->schema[i], t, true, buf, sizeof(buf));
		/* The same columns and key as the table snk syncs now: the new database must be its peer. */
		if (!problem && pc->shape_ok[i])
			problem = db_shape_problem(t, &pc->shape[i], pc->db, buf, sizeof(buf));
		if (!problem && !err && (!pc->schema_ok[i] || !pc->shape_ok[i]))
			problem = "unexpected result of the schema check";
	}
	if (!problem && err)
		problem = err->message;
	if (!problem && !pc->session_ok)
		problem = "unexpected result of the session check";
	if (problem)
		probe_fail(pc, problem);
	else
		probe_pass(pc);
}

static void state_cb(struct snk_pgconn *c, void *arg)
{
	struct probe_conn *pc = arg;

	if (pc->done)
		return;
	if (pgconn_state(c) != PGCONN_READY) {
		probe_fail(pc, pgconn_last_error(c));
		return;
	}
	if (!pgconn_begin(c, session_result_cb, session_done_cb, pc)) {
		probe_fail(pc, "cannot send the session check");
		return;
	}
	bool ok = db_send_session_setup(c);

	for (int i = 0; ok && i < pc->owner->ntables; i++)
		ok = db_send_schema_check(c, &pc->owner->tables[i]);
	pgconn_end(c);
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_probe *p = arg;

	p->cb(p->arg, !p->failed, p->failed ? p->why : NULL);
	probe_free(p);
}

struct snk_probe *probe_start(struct event_base *base, const struct snk_config *cfg,
			      const char *const conninfo[SNK_DB_MAX], const struct snk_table *tables, int ntables,
			      probe_done_cb cb, void *arg)
{
	struct snk_probe *p = calloc(1, sizeof(*p));
	bool any = false;

	if (!p)
		return NULL;
	p->cb = cb;
	p->arg = arg;
	p->tables = tables;
	p->ntables = ntables;
	p->ndb = cfg->ndb;
	p->finish = event_new(base, -1, 0, finish_cb, p);
	if (!p->finish)
		goto fail;
	for (int i = 0; i < p->ndb; i++) {
		struct probe_conn *pc = &p->side[i];
		char name[SNK_DB_NAME_MAX + 8];

		pc->owner = p;
		snprintf(pc->db, sizeof(pc->db), "%s", cfg->db_name[i]);
		snprintf(name, sizeof(name), "%s.reload", pc->db);
		pc->schema = calloc((size_t)ntables + 1, sizeof(*pc->schema));
		pc->shape = calloc((size_t)ntables + 1, sizeof(*pc->shape));
		pc->schema_ok = calloc((size_t)ntables + 1, sizeof(bool));
		pc->shape_ok = calloc((size_t)ntables + 1, sizeof(bool));
		if (!pc->schema || !pc->shape || !pc->schema_ok || !pc->shape_ok)
			goto fail;
		if (!conninfo[i])
			continue;
		/* 100 ms: the reconnect bound is unused, a one-shot session never backs off. */
		p->side[i].conn = pgconn_new(base, name, conninfo[i], 100, state_cb, NULL, &p->side[i]);
		if (!p->side[i].conn)
			goto fail;
		pgconn_set_one_shot(p->side[i].conn);
		any = true;
	}
	for (int i = 0; i < p->ndb; i++) {
		if (p->side[i].conn)
			pgconn_start(p->side[i].conn);
	}
	if (!any)
		event_active(p->finish, 0, 0); /* nothing to try: passes */
	return p;
fail:
	probe_free(p);
	return NULL;
}

void probe_free(struct snk_probe *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->ndb; i++) {
		struct probe_conn *pc = &p->side[i];

		pgconn_free(pc->conn);
		for (int k = 0; pc->shape && k < p->ntables; k++)
			db_shape_clear(&pc->shape[k]);
		free(pc->shape);
		free(pc->schema);
		free(pc->schema_ok);
		free(pc->shape_ok);
	}
	if (p->finish)
		event_free(p->finish);
	free(p);
}
