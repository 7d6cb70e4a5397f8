/* lease.h - which of several snk processes with the same tables writes (lease.c): the one
 * that holds the writer locks of every database, taken in database order. The others are
 * standbys: one session each, polling the first lock they miss, taking over when it is
 * released (docs/DESIGN.md, "Standby"). */
#ifndef SNK_LEASE_H
#define SNK_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "snk/db.h"

struct event;
struct snk_app;
struct snk_side;

enum snk_role {
	ROLE_STARTING, /* no lock verdict yet */
	ROLE_STANDBY,  /* another session holds a lock this snk needs */
	ROLE_ACTIVE,   /* held every database's locks (a lost session is taken again at reconnect) */
};

struct snk_lease {
	enum snk_role role;
	int64_t since_ms;             /* wall clock of the last change of role */
	uint64_t takeovers;           /* standby -> active */
	uint64_t step_downs;          /* active -> standby */
	int waiting;                  /* the database whose lock a standby polls, -1: none */
	int64_t waiting_since_ms;     /* since when it holds earlier locks and polls that one */
	bool was_active;              /* active since it last was a standby */
	struct snk_lock_holder active;/* who held it at the last refusal */
	int active_side;              /* the database of that holder, -1: none seen */
	struct event *timer;          /* owned: polls a refused lock, sends heartbeats */
	int64_t hold_until_ms;        /* three or more, no majority: no lock is tried before this */
	int64_t hold_ms;              /* the next such wait (doubles up to reconnect_max_ms) */
	int64_t heartbeat_due_ms;
};

bool lease_init(struct snk_app *app) __attribute__((warn_unused_result));
void lease_free(struct snk_app *app);
/* lease_start: the first write session of the first database connects; the rest follows
 * the locks. */
void lease_start(struct snk_app *app);

/* The sessions' hooks (sync.c forwards them). */
void lease_on_lockable(struct snk_app *app, struct snk_side *s);
void lease_on_refused(struct snk_app *app, struct snk_side *s);
void lease_on_writer_ready(struct snk_app *app, struct snk_side *s);
/* A lock session went away: the locks after it are released and every other session stops
 * until all are held again (no pass may outlive the locks it was read under). With two
 * other databases or more still locked, only that database's sessions stop. */
void lease_on_writer_lost(struct snk_app *app, struct snk_side *s);

/* lease_first_missing: the first database (in the lock order: by name) whose locks this
 * snk lacks, ndb: none; with three or more, one whose lock session is down is passed over. */
int lease_first_missing(const struct snk_app *app);
const char *lease_role_name(enum snk_role role);
/* lease_describe: "standby; active: database a backend pid 123 (...)" or the role's name. */
void lease_describe(const struct snk_app *app, char *buf, size_t len);

#endif
