/* pgconn.h - one nonblocking libpq connection in pipeline mode, driven by libevent.
 *
 * Work is sent as units: pgconn_begin, one or more pgconn_query*, pgconn_end (a Sync).
 * Units run in order. For each successful statement result, on_result is called with
 * the statement's index in its unit; when the unit's Sync arrives, on_done is called
 * once, with NULL or the unit's first error. Results are borrowed: pgconn clears them.
 *
 * Only pgconn_begin's result must be checked: when it returns false no callback will
 * come. Once a unit has begun, a failed send (false from pgconn_query*, pgconn_end)
 * needs no handling by the caller: the loss is handled from the event loop and the
 * unit's on_done reports it, with conn_lost set.
 */
#ifndef SNK_PGCONN_H
#define SNK_PGCONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct snk_pgconn;

enum pgconn_state { PGCONN_IDLE, PGCONN_CONNECTING, PGCONN_READY, PGCONN_BACKOFF };

struct pgconn_error {
	char sqlstate[6];    /* "08006" when the connection was lost */
	char message[512];
	bool conn_lost;
};

typedef void (*pgconn_result_cb)(void *arg, int stmt, const PGresult *res);
typedef void (*pgconn_done_cb)(void *arg, const struct pgconn_error *err);
/* Called when the connection becomes READY, is lost, or an attempt to connect fails
 * (the state is then BACKOFF and pgconn_last_error says why). */
typedef void (*pgconn_state_cb)(struct snk_pgconn *c, void *arg);
/* payload: the NOTIFY's payload, borrowed for the call */
typedef void (*pgconn_notify_cb)(struct snk_pgconn *c, void *arg, int be_pid, const char *payload);

struct pgconn_stats {
	uint64_t connects;
	uint64_t losses;
	uint64_t units;
};

/* pgconn_route_notices: the server's notices on conn (NOTICE, WARNING, and the FATAL
 * sent before an idle session is closed) become log lines of role (borrowed: it must
 * outlive conn) instead of libpq's raw lines on stderr. */
void pgconn_route_notices(PGconn *conn, const char *role);

/* pgconn_new: a connection named name (e.g. "a.read") to conninfo; not started. */
struct snk_pgconn *pgconn_new(struct event_base *base, const char *name, const char *conninfo,
			      int reconnect_max_ms, pgconn_state_cb on_state,
			      pgconn_notify_cb on_notify, void *arg);
void pgconn_free(struct snk_pgconn *c);

/* pgconn_start: begins connecting (and reconnecting after losses, with backoff). */
void pgconn_start(struct snk_pgconn *c);
/* pgconn_close: ends the session, with no reconnect until pgconn_start; false (and
 * nothing done) while units are queued. Not from inside one of its callbacks. */
bool pgconn_close(struct snk_pgconn *c);
/* pgconn_stop: closes the session as if lost (its units fail from the loop, on_state
 * hears of it) but does not reconnect until pgconn_start; a wait to reconnect ends. */
void pgconn_stop(struct snk_pgconn *c, const char *why);
/* pgconn_drop: closes the session as if lost and reconnects after backoff. */
void pgconn_drop(struct snk_pgconn *c, const char *why);
/* pgconn_set_conninfo: used from the next connection attempt on. */
bool pgconn_set_conninfo(struct snk_pgconn *c, const char *conninfo) __attribute__((warn_unused_result));
void pgconn_set_reconnect_max(struct snk_pgconn *c, int ms);
/* pgconn_set_one_shot: before pgconn_start: one attempt, no reconnect. A failed attempt
 * or a loss leaves the state IDLE (pgconn_last_error says why) and calls on_state. */
void pgconn_set_one_shot(struct snk_pgconn *c);

bool pgconn_begin(struct snk_pgconn *c, pgconn_result_cb on_result, pgconn_done_cb on_done, void *arg)
	__attribute__((warn_unused_result));
bool pgconn_query(struct snk_pgconn *c, const char *sql, int nparams, const char *const *values,
		  const int *lengths, const int *formats, int result_format);
bool pgconn_query_prepared(struct snk_pgconn *c, const char *stmt, int nparams,
			   const char *const *values, const int *lengths, const int *formats,
			   int result_format);
bool pgconn_prepare(struct snk_pgconn *c, const char *stmt, const char *sql, int nparams);
bool pgconn_end(struct snk_pgconn *c);

enum pgconn_state pgconn_state(const struct snk_pgconn *c);
bool pgconn_ready(const struct snk_pgconn *c);
const char *pgconn_name(const struct snk_pgconn *c);
int pgconn_backend_pid(const struct snk_pgconn *c);
const char *pgconn_last_error(const struct snk_pgconn *c);
/* pgconn_target: "host:port/dbname" of the current or last session, never a password. */
const char *pgconn_target(const struct snk_pgconn *c);
/* The server's encoding as it reported it at connect ("" when not connected). */
const char *pgconn_server_encoding(const struct snk_pgconn *c);
const struct pgconn_stats *pgconn_stats(const struct snk_pgconn *c);
const char *pgconn_state_name(enum pgconn_state s);

#endif
