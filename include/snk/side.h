/* side.h - the sessions of one database, shared by every synced table: the read session
 * (windows, LISTEN), the write sessions (write_connections of them; the first holds the
 * writer locks and commits every cursor), the checks each runs at every connect, and the
 * foreign keys among the synced tables there. The owner hears of them through hooks. */
#ifndef SNK_SIDE_H
#define SNK_SIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "snk/db.h"
#include "snk/fkorder.h"
#include "snk/pgconn.h"

struct event_base;
struct snk_config;
struct snk_dir;
struct snk_side;

/* What a session read at its connect, for every table (arrays of ntables). */
struct side_check {
	struct snk_side *side;   /* borrowed */
	struct write_lane *lane; /* borrowed: the write session it checks, NULL for the read one */
	bool writer;             /* the first write session: also the locks and foreign keys */
	struct snk_session_info session;
	bool session_ok;
	struct snk_schema_info *info;    /* owned: [ntables] */
	struct snk_shape *shape;         /* owned: [ntables] */
	bool *info_ok, *shape_ok;        /* owned: [ntables] */
	struct snk_notify_trigger *trigger; /* owned: [ntables], read session with a channel */
	bool *trigger_ok;                /* owned: [ntables] */
	bool locked;
	struct snk_fkey *fkeys;          /* owned: the first write session's */
	int nfkeys;
	bool fkeys_ok;
};

/* One write session. Lane 0 is `write`: it holds the writer locks and commits every
 * cursor. A window's other batches go to the lane with the fewest in flight (those of
 * tables linked by foreign keys to lane 0, in order: side_pick_lane), so that the
 * destination inserts on several backends at once. */
struct write_lane {
	struct snk_side *side;   /* borrowed */
	struct snk_pgconn *conn; /* owned */
	struct side_check check; /* what it read at its last connect */
	bool ok;                 /* connected, checked and prepared */
	int units;               /* units in flight on this session */
	uint64_t batches;        /* batches with rows it committed */
	char name[32];           /* "b.write2" */
};

#define SNK_WRITE_LANES_MAX 8

struct side_hooks {
	void *arg;
	/* The read session (writer false) or the first write session (true) is ready: checked,
	 * and for the writer, locked and prepared; or it went away (ready false). */
	void (*on_session)(void *arg, struct snk_side *s, bool writer, bool ready);
	/* A NOTIFY on the channel from another session: table is the table its payload names,
	 * -1 when it names none this snk knows (every table then). */
	void (*on_notify)(void *arg, struct snk_side *s, int table);
	/* The first write session is connected and checked: the owner may side_try_lock. */
	void (*on_lockable)(void *arg, struct snk_side *s);
	/* side_try_lock found a lock held by another session (s->holder says whose). */
	void (*on_refused)(void *arg, struct snk_side *s);
	/* Something a reconnect cannot fix: snk must stop with code. */
	void (*on_fatal)(void *arg, int code, const char *role, const char *message);
};

/* The writer locks, on the first write session. */
enum side_lock { SIDE_LOCK_NONE, SIDE_LOCK_TRYING, SIDE_LOCK_HELD, SIDE_LOCK_REFUSED };

struct snk_side {
	int index;                /* in the config's "databases" */
	char name[SNK_DB_NAME_MAX + 1]; /* "a", "b", or the config's name */
	const struct snk_config *cfg; /* borrowed; swapped on reload */
	struct snk_table *tables; /* borrowed: [ntables], shaped by the first session to read them */
	int ntables;
	struct side_hooks hooks;
	struct snk_pgconn *read;  /* owned: windows and LISTEN */
	/* The direction out of this database whose pass has a transaction open on the read
	 * session (or whose cursors are being loaded): one at a time; NULL when none. */
	const struct snk_dir *read_owner;
	struct snk_pgconn *write; /* borrowed: lane[0].conn */
	struct side_check read_check;
	struct write_lane lane[SNK_WRITE_LANES_MAX];
	int nlanes;
	bool read_ok;             /* connected and checked */
	bool write_ok;            /* lane 0 connected, checked, locked and prepared */
	bool writer_checked;      /* lane 0 connected and checked: it may try the locks */
	bool writer_down;         /* lane 0 failed (to connect, or lost) and has not been checked since */
	bool lost_lock;           /* lane 0's last loss took the locks with it (for on_session) */
	enum side_lock lock;      /* lane 0's writer locks */
	struct snk_lock_holder holder; /* who held them at the last refusal */
	uint64_t lock_epoch;      /* bumped at every grant: a cursor read under one is written under it */
	int lock_pid;             /* backend pid of the session that holds them, 0: none */
	int prev_lock_pid;        /* of the last session that held them (it may linger on the server) */
	uint32_t *relid;          /* owned: [ntables] each table's oid here, from the read session */
	bool *notified;           /* owned: [ntables] the table has an enabled NOTIFY trigger here */
	struct fk_graph fk;       /* the foreign keys among the tables here (first write session) */
	bool fk_ok;
	uint64_t notifies;
	uint64_t own_notifies;    /* notifications caused by snk's own inserts (ignored) */
	char sync_commit[16];     /* synchronous_commit as the first write session reported it */
	/* The NOTIFY trigger as the read session found it at its last connect, over every
	 * table: -1 not known (not yet checked, or no notify_channel), 0 missing or disabled
	 * on some table, 1 present on all. */
	int notify_trigger;
	int notify_missing;       /* tables without one */
};

/* side_init: the sessions of database index for the tables; nothing is started. */
bool side_init(struct snk_side *s, struct event_base *base, int index, const struct snk_config *cfg,
	       struct snk_table *tables, int ntables, const struct side_hooks *hooks) __attribute__((warn_unused_result));
/* side_start: every session connects (a started one is left as it is). */
void side_start(struct snk_side *s);
/* side_start_writer: only the first write session connects. */
void side_start_writer(struct snk_side *s);
/* side_stop: the sessions close without reconnecting (the first write session stays when
 * keep_writer); their units fail, and the owner hears of each through on_session. */
void side_stop(struct snk_side *s, bool keep_writer, const char *why);
/* side_try_lock: the first write session, checked, tries every table's writer lock (all
 * or none); held, it reads the foreign keys, prepares and becomes ready (on_session); refused,
 * on_refused. False when it cannot try now (not checked, a try in flight, held). */
bool side_try_lock(struct snk_side *s);
/* side_heartbeat: a statement on the first write session while it holds the locks, so that
 * its server's idle timeout (the lease) ends it only when snk has gone silent. */
void side_heartbeat(struct snk_side *s);
void side_free(struct snk_side *s);

/* side_pick_lane: the write session for a batch: lane 0 when it must be applied in the
 * order sent, with the final batches (whose cursors only the lock holder commits): a
 * final batch, a batch of a table linked to others by foreign keys, one sent again for
 * a missing parent; else the ready lane with the fewest units in flight. */
struct write_lane *side_pick_lane(struct snk_side *s, bool in_order);
/* side_lane_beside_first: whether side_pick_lane would put a batch that may go in any order
 * on a session other than lane 0 (one is ready with fewer units in flight). */
bool side_lane_beside_first(struct snk_side *s);
/* side_spare_write: a write session other than lane 0 when one is ready, else lane 0. */
struct snk_pgconn *side_spare_write(struct snk_side *s);

int side_lanes_ready(const struct snk_side *s);
uint64_t side_reconnects(const struct snk_side *s);
/* side_error: the last error of any of its sessions, "" when none. */
const char *side_error(const struct snk_side *s);
bool side_set_conninfo(struct snk_side *s, const char *conninfo) __attribute__((warn_unused_result));
void side_set_reconnect_max(struct snk_side *s, int ms);
/* side_set_tables: the tables changed (reload): every session reconnects and checks the
 * new ones; false on out of memory (nothing changed then). */
bool side_set_tables(struct snk_side *s, struct snk_table *tables, int ntables) __attribute__((warn_unused_result));
/* side_table_of_relid: the table whose oid here is relid, -1 when none. */
int side_table_of_relid(const struct snk_side *s, uint32_t relid);

#endif
