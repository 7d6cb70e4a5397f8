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

#endif
