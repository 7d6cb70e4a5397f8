/* snapshot.h - PostgreSQL pg_snapshot values ("xmin:xmax:xip,..."), parsed. */
#ifndef SNK_SNAPSHOT_H
#define SNK_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The snapshot before any row: every xid >= 1 is outside it, so the first window is the
 * whole table. (Rows that snk itself copied carry NULL, or 0 in tables of an older snk, which no
 * window ever holds.) */
#define SNAPSHOT_INITIAL "1:1:"

struct snk_snapshot {
	char *text;      /* owned: canonical text as PostgreSQL prints it */
	char *xip_array; /* owned: the in-progress xids as an array literal, "{7,9}" */
	uint64_t xmin;
	uint64_t xmax;
	size_t nxip;
};

/* snapshot_parse: validates text (xmin <= xip... < xmax, ascending) and fills *out, which
 * must be empty or cleared. False on malformed text or out of memory; *out stays empty. */
bool snapshot_parse(const char *text, struct snk_snapshot *out) __attribute__((warn_unused_result));

/* snapshot_xmax_text: xmax as decimal text into buf (at least 21 bytes). */
void snapshot_xmax_text(const struct snk_snapshot *s, char *buf, size_t len);

/* snapshot_set: replaces *dst (empty or holding a snapshot) by the parse of text, which
 * must not point into *dst. False as snapshot_parse, with *dst left empty. */
bool snapshot_set(struct snk_snapshot *dst, const char *text) __attribute__((warn_unused_result));

/* snapshot_move: *dst takes src's contents (dst cleared first); src becomes empty. */
void snapshot_move(struct snk_snapshot *dst, struct snk_snapshot *src);

/* snapshot_sees: whether a transaction with this xid had committed or aborted when s was
 * taken (xid < xmax and not in progress): then its rows, if any, were visible in s. */
bool snapshot_sees(const struct snk_snapshot *s, uint64_t xid);

void snapshot_clear(struct snk_snapshot *s);

/* Which of a source's snapshots may be stored as a cursor. After a crash the source hands
 * out again every xid none of whose WAL reached its disk; a stored cursor that saw such an
 * xid end (an asynchronous commit, or a rollback, whose WAL was still in memory) would skip
 * the rows of the transaction that reuses it. A snapshot is safe once the source's WAL is
 * flushed up to the insert position read right after it: every transaction it sees as
 * ended wrote its commit or abort record before that position, so recovery restores the
 * xid counter past each of them. Fed with every pass's snapshot and the source's WAL
 * positions read with it; confirmed is the newest safe one (empty: none yet). */
struct snk_durable {
	struct snk_snapshot confirmed; /* owned */
	struct snk_snapshot pending;   /* owned: the oldest snapshot read since, not yet safe */
	uint64_t pending_lsn;          /* the WAL insert position read right after pending */
	uint64_t flushed;              /* the highest WAL flush position read from the source */
};

/* durable_note: a snapshot (its text) read with the source's WAL insert position just after
 * it and its flush position. False when out of memory: confirmed or pending is left empty,
 * which only keeps cursors back. */
bool durable_note(struct snk_durable *d, const char *text, uint64_t insert_lsn, uint64_t flush_lsn);

/* durable_safe: whether a snapshot read with insert position lsn is safe to store. */
bool durable_safe(const struct snk_durable *d, uint64_t lsn);

void durable_clear(struct snk_durable *d);

/* wal_record_end: where the last WAL record ends, from pg_current_wal_insert_lsn(), which
 * points past the page header when that is a page's start (flushing stops at the page's
 * start: without this an idle server never looks flushed). block, segment: the server's
 * wal_block_size and wal_segment_size in bytes. */
uint64_t wal_record_end(uint64_t insert_lsn, uint64_t block, uint64_t segment);

#endif
