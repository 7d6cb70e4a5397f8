/* lease.c - the role of this snk among several with the same tables (lease.h).
 *
 * The lease is the writer locks themselves: session advisory locks, one per table, held by
 * the first write session of each database (side.c). They are taken in database order, a
 * first, then b only while a is held, each all or none; so no snk ever holds a later
 * database's locks while it waits for an earlier one's, and two snks cannot each hold
 * half. A snk refused at a is a standby: it stops every session but a.write and polls the
 * locks on it every 200-300 ms. Refused at b (a predecessor's b.write has not ended yet),
 * it holds a and polls b the same way. Once every database's locks are held it is active:
 * every session starts and the directions read their cursors again.
 *
 * The server ends a lock session that has been silent for lease_timeout_ms
 * (db_send_lease_settings), so an active snk sends a statement on each every quarter of
 * that; a frozen or cut-off snk loses its locks by itself. An active whose lock session
 * came back refused has been replaced: it steps down. Nothing else fences it: its cursors
 * are written only by those sessions (docs/DESIGN.md, "Standby").
 */
#include "snk/lease.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/cli.h"
#include "snk/clock.h"
#include "snk/log.h"
#include "snk/sync.h"

#define POLL_MIN_MS 200
#define POLL_SPREAD_MS 100

const char *lease_role_name(enum snk_role role)
{
	switch (role) {
	case ROLE_STARTING:
		return "starting";
	case ROLE_STANDBY:
		return "standby";
	case ROLE_ACTIVE:
		return "active";
	}
	return "?";
}

/* "backend pid 123 (user snk, application snk a.write, client 10.0.0.5:40312, since ...)" */
static void holder_text(const struct snk_lock_holder *h, char *buf, size_t len)
{
	const char *parts[4][2] = { { "user ", h->user }, { "application ", h->application },
				    { "client ", h->client }, { "since ", h->since } };
	size_t n;

	if (!h->held) {
		snprintf(buf, len, "another session (released since)");
		return;
	}
	n = (size_t)snprintf(buf, len, "backend pid %d", h->pid);
	for (int i = 0, first = 1; i < 4 && n < len; i++) {
		if (!parts[i][1][0])
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s%s", first ? " (" : ", ", parts[i][0], parts[i][1]);
		first = 0;
	}
	if (n < len && strchr(buf, '('))
		snprintf(buf + n, len - n, ")");
}

void lease_describe(const struct snk_app *app, char *buf, size_t len)
{
	const struct snk_lease *l = &app->lease;
	char who[320];

	if (l->role != ROLE_STANDBY || l->active_side < 0) {
		snprintf(buf, len, "%s", lease_role_name(l->role));
		return;
	}
	holder_text(&l->active, who, sizeof(who));
	snprintf(buf, len, "standby; active: database %s %s", app->side[l->active_side].name, who);
}

static void set_role(struct snk_app *app, enum snk_role role)
{
	struct snk_lease *l = &app->lease;

	if (l->role == role)
		return;
	if (role == ROLE_ACTIVE && l->role == ROLE_STANDBY)
		l->takeovers++;
	if (role == ROLE_STANDBY && l->was_active)
		l->step_downs++;
	if (role == ROLE_ACTIVE)
		l->was_active = true;
	else if (role == ROLE_STANDBY)
		l->was_active = false;
	l->role = role;
	l->since_ms = clock_now_ms();
	if (app->on_role)
		app->on_role(app);
}

/* With three databases or more, one that is down delays only the directions that touch
 * it: a snk is active while it holds the locks of a majority of the databases (only one
 * snk can), takes the others as they come back, and the lock order passes over a
 * database whose lock session cannot connect. A snk without a majority holds no lock, so
 * that two snks that each reach only some of the databases cannot keep each other out.
 * With two, every direction touches both: a lost lock session stops everything until
 * both are held again, and a standby keeps a's lock while it polls b's (DESIGN, Standby). */
static bool partial(const struct snk_app *app)
{
	return app->ndb >= 3;
}

static int held(const struct snk_app *app)
{
	int n = 0;

	for (int i = 0; i < app->ndb; i++)
		n += app->side[i].lock == SIDE_LOCK_HELD;
	return n;
}

static bool majority(const struct snk_app *app)
{
	return held(app) > app->ndb / 2;
}

int lease_first_missing(const struct snk_app *app)
{
	for (int i = 0; i < app->ndb; i++) {
		/* with three or more, a database whose lock session is down is passed over */
		if (app->side[i].lock != SIDE_LOCK_HELD && !(partial(app) && app->side[i].writer_down))
			return i;
	}
	return app->ndb;
}

static void activate(struct snk_app *app, struct snk_side *s);

/* Three or more, no majority: every lock is let go, and no lock is tried for a while
 * (250 ms, doubling up to reconnect_max_ms while it happens again), so that a snk that
 * reaches too few databases neither spins nor keeps taking a lock another snk needs. Lock
 * sessions that are down keep their own backoff. */
static void release_all(struct snk_app *app, const char *why)
{
	struct snk_lease *l = &app->lease;

	for (int i = 0; i < app->ndb; i++) {
		const struct snk_side *s = &app->side[i];

		if (s->lock == SIDE_LOCK_HELD || s->writer_checked || s->read_ok || pgconn_ready(s->write))
			side_stop(&app->side[i], false, why);
	}
	if (rc_running(app->reconcile.rc))
		rc_abort(app->reconcile.rc, why);
	l->hold_ms = l->hold_ms ? l->hold_ms * 2 : 250;
	if (l->hold_ms > app->cfg->reconnect_max_ms)
		l->hold_ms = app->cfg->reconnect_max_ms;
	l->hold_until_ms = clock_now_ms() + l->hold_ms;
}

static bool holding_off(const struct snk_app *app)
{
	return partial(app) && app->lease.role != ROLE_ACTIVE && clock_now_ms() < app->lease.hold_until_ms;
}

/* The next database's lock session connects; connected, it tries at once. With none left
 * to take (the rest held, or down and passed over), snk is active if it holds a majority
 * (with two: both); with three or more and no majority it lets go of what it holds and
 * tries again at the next tick. s: the database whose lock session moved the order on. */
static void advance(struct snk_app *app, struct snk_side *s)
{
	int next = lease_first_missing(app);

	if (app->stopping || holding_off(app))
		return; /* the tick goes on after the wait */
	if (next >= app->ndb) {
		if (!partial(app) || majority(app))
			activate(app, s);
		else if (held(app) > 0)
			release_all(app, "no majority of the databases is reachable");
		return;
	}
	side_start_writer(&app->side[next]);
	if (app->side[next].writer_checked)
		side_try_lock(&app->side[next]);
}

void lease_on_lockable(struct snk_app *app, struct snk_side *s)
{
	/* An active snk of three databases or more takes back a database that returns. */
	if (!app->stopping && !holding_off(app) &&
	    (lease_first_missing(app) >= s->index || (partial(app) && app->lease.role == ROLE_ACTIVE)))
		side_try_lock(s);
}

void lease_on_writer_lost(struct snk_app *app, struct snk_side *s)
{
	struct snk_lease *l = &app->lease;
	bool had = l->role == ROLE_ACTIVE;

	if (partial(app)) {
		bool lost = s->lost_lock;

		s->lost_lock = false;
		if (lost && had && majority(app)) {
			/* The directions among the others go on, fenced by their own locks; this
			 * one's sessions stop until its locks are held again (its lock session
			 * reconnects and tries them: lease_on_lockable). */
			side_stop(s, true, "its writer locks are being taken again");
			if (rc_running(app->reconcile.rc) && sync_reconcile_touches(app, s->index))
				rc_abort(app->reconcile.rc, "a lock session was lost");
			log_warn(pgconn_name(s->write), "the writer locks of %s went with the session: the directions"
				 " to and from %s stop until this snk holds them again; the others go on", s->name, s->name);
			return;
		}
		if (lost && had) {
			log_warn(pgconn_name(s->write), "the writer locks of %s went with the session, and this snk no"
				 " longer holds those of a majority of the databases: every session stops until it does",
				 s->name);
			release_all(app, "the writer locks are being taken again");
			set_role(app, ROLE_STARTING);
		}
		if (l->role == ROLE_STARTING)
			advance(app, s); /* the lock order goes on past a database that is down */
		return;
	}
	for (int i = 0; i < app->ndb; i++)
		side_stop(&app->side[i], i <= s->index, "the writer locks are being taken again");
	if (rc_running(app->reconcile.rc))
		rc_abort(app->reconcile.rc, "a lock session was lost");
	if (had) {
		log_warn(pgconn_name(s->write), "the writer locks of %s went with the session: every session stops"
			 " until this snk holds the locks of every database again", s->name);
		set_role(app, ROLE_STARTING);
	}
}

void lease_on_refused(struct snk_app *app, struct snk_side *s)
{
	struct snk_lease *l = &app->lease;
	bool other = l->active_side != s->index || l->active.pid != s->holder.pid; /* a new holder */
	bool news = l->role != ROLE_STANDBY || other;
	char who[320];

	holder_text(&s->holder, who, sizeof(who));
	if (s->holder.held && s->holder.pid == s->prev_lock_pid) {
		/* this snk's own previous session, not yet ended on its server: no one took over */
		if (s->holder.pid != l->active.pid)
			log_info(pgconn_name(s->write), "the writer lock of %s is still held by this snk's previous"
				 " session (%s); waiting for its server to end it", s->name, who);
		l->active = s->holder;
		l->active_side = -1;
		return;
	}
	if (l->waiting != s->index)
		l->waiting_since_ms = clock_now_ms();
	l->active = s->holder;
	l->active_side = s->index;
	l->waiting = s->index;
	if (partial(app) && l->role == ROLE_ACTIVE && majority(app)) {
		/* A database back whose lock another session took meanwhile: no other snk can
		 * hold a majority, so whoever it is lets go (or is not a snk); its directions
		 * wait, the lock is polled, and the others go on (said once per holder). */
		if (other)
			log_warn(pgconn_name(s->write), "the writer lock of %s is held by %s; the directions to and from"
				 " %s wait until it is released", s->name, who, s->name);
		return;
	}
	if (l->role == ROLE_ACTIVE || l->was_active)
		log_warn(pgconn_name(s->write), "stepping down to standby: the writer lock of %s is now held by %s;"
			 " another snk took over while this one's session was gone", s->name, who);
	/* Everything but the lock sessions up to this database stops; those past it close, so
	 * that whoever holds this one can take them. With three or more, every lock held goes
	 * (a majority decides, not the order): the lock sessions that hold none stay, and the
	 * refused one is polled (tick_cb). */
	for (int i = 0; i < app->ndb; i++)
		side_stop(&app->side[i], partial(app) ? app->side[i].lock != SIDE_LOCK_HELD : i <= s->index, "standby");
	if (rc_running(app->reconcile.rc))
		rc_abort(app->reconcile.rc, "this snk is now a standby");
	set_role(app, ROLE_STANDBY);
	if (news)
		log_info(pgconn_name(s->write), "standby: the writer lock of %s is held by %s; taking over when it is"
			 " released", s->name, who);
}

/* Every lock there is to take is held (the ones of databases that are down passed
 * over): active, and every session of those databases starts. */
static void activate(struct snk_app *app, struct snk_side *s)
{
	struct snk_lease *l = &app->lease;

	if (held(app) < 2)
		return; /* with the others down there is nothing to copy yet: their return goes on */
	if (l->role != ROLE_ACTIVE) {
		bool takeover = l->role == ROLE_STANDBY;
		char names[SNK_DB_MAX * (SNK_DB_NAME_MAX + 2) + 8];
		size_t n = 0;

		l->waiting = -1;
		l->active_side = -1;
		l->hold_ms = 0;
		memset(&l->active, 0, sizeof(l->active));
		set_role(app, ROLE_ACTIVE);
		for (int i = 0, k = 0, nheld = held(app); i < app->ndb; i++) {
			if (app->side[i].lock != SIDE_LOCK_HELD)
				continue; /* down: taken when it is back */
			n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", cli_list_sep(k, nheld), app->side[i].name);
			k++;
		}
		log_info(pgconn_name(s->write), "active: holding the writer locks of %s%s", names, takeover ?
			 "; taking over: every session connects and every cursor is read again" : "");
	}
	for (int i = 0; i < app->ndb; i++) {
		if (app->side[i].lock == SIDE_LOCK_HELD)
			side_start(&app->side[i]);
	}
}

void lease_on_writer_ready(struct snk_app *app, struct snk_side *s)
{
	struct snk_lease *l = &app->lease;

	if (app->stopping)
		return;
	if (partial(app) && l->role == ROLE_ACTIVE) {
		/* a database back: its sessions start, the others run on */
		log_info(pgconn_name(s->write), "holding the writer locks of %s again: the directions to and from it"
			 " start", s->name);
		side_start(s);
		return;
	}
	advance(app, s);
}

static void arm(struct snk_lease *l)
{
	long ms = POLL_MIN_MS + random() % (POLL_SPREAD_MS + 1); /* two standbys do not try in step */
	struct timeval tv = { 0, ms * 1000 };

	evtimer_add(l->timer, &tv);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snk_app *app = arg;
	struct snk_lease *l = &app->lease;
	int64_t now = clock_now_ms();
	int next = lease_first_missing(app);

	if (now >= l->heartbeat_due_ms) {
		l->heartbeat_due_ms = now + app->cfg->lease_timeout_ms / 4;
		for (int i = 0; i < app->ndb; i++)
			side_heartbeat(&app->side[i]);
	}
	/* a standby of three or more polls the lock it was refused; then the lock order goes
	 * on from the first it lacks */
	if (partial(app) && l->role == ROLE_STANDBY && l->waiting >= 0 && l->waiting < app->ndb &&
	    app->side[l->waiting].lock != SIDE_LOCK_HELD && app->side[l->waiting].writer_checked)
		next = l->waiting;
	/* the first missing lock is tried again, on its session as it is: no reconnect (a lock
	 * session that was stopped starts again) */
	if (next < app->ndb && !app->stopping && !holding_off(app)) {
		if (app->side[next].writer_checked)
			side_try_lock(&app->side[next]);
		else
			side_start_writer(&app->side[next]);
	}
	arm(l);
}

bool lease_init(struct snk_app *app)
{
	struct snk_lease *l = &app->lease;

	memset(l, 0, sizeof(*l));
	l->waiting = -1;
	l->active_side = -1;
	l->since_ms = clock_now_ms();
	l->timer = evtimer_new(app->base, tick_cb, app);
	return l->timer != NULL;
}

void lease_start(struct snk_app *app)
{
	side_start_writer(&app->side[0]);
	arm(&app->lease);
}

void lease_free(struct snk_app *app)
{
	if (app->lease.timer)
		event_free(app->lease.timer);
	app->lease.timer = NULL;
}
