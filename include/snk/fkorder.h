/* fkorder.h - the order in which rows of tables linked by foreign keys are written: a
 * parent table before every table that references it. Pure: no database, no I/O. */
#ifndef SNK_FKORDER_H
#define SNK_FKORDER_H

#include <stdbool.h>
#include <stddef.h>

struct snk_fkey;

struct fk_graph {
	int n;           /* tables */
	int *order;      /* owned: [n] table indexes, every parent before its children */
	int *rank;       /* owned: [n] a table's place in order */
	int *group;      /* owned: [n] the smallest index of the tables it is linked to */
	bool *linked;    /* owned: [n] it references or is referenced (itself included) */
	bool *self;      /* owned: [n] it references itself */
	int *pstart;     /* owned: [n + 1] parents of table i: parents[pstart[i] .. pstart[i + 1]) */
	int *parents;    /* owned */
};

/* fk_graph_build: the order of n tables under the foreign keys k[0..nk) (a key of a table
 * to itself orders nothing). False when the keys between different tables form a cycle:
 * then why names its tables and constraints (names[i]: table i's name), or on out of
 * memory (why says so). */
bool fk_graph_build(struct fk_graph *g, int n, const struct snk_fkey *k, int nk, const char *const *names,
		    char *why, size_t len) __attribute__((warn_unused_result));
/* fk_graph_ancestors: sets mark[t] and mark[p] for every table p that t references, at any
 * depth. */
void fk_graph_ancestors(const struct fk_graph *g, int t, bool *mark);
/* fk_graph_linked: whether table t references or is referenced (false before a build). */
static inline bool fk_graph_linked(const struct fk_graph *g, int t)
{
	return g->linked && g->linked[t];
}
void fk_graph_clear(struct fk_graph *g);

#endif
