/* fkorder.c - parents before children: the order of a pass's tables under the foreign
 * keys of the destination (docs/DESIGN.md, "Many tables"). Kahn's algorithm, ties broken
 * by the config's order so that the order is the same at every connect. */
#include "snk/fkorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snk/db.h"

void fk_graph_clear(struct fk_graph *g)
{
	free(g->order);
	free(g->rank);
	free(g->group);
	free(g->linked);
	free(g->self);
	free(g->pstart);
	free(g->parents);
	memset(g, 0, sizeof(*g));
}

static int group_of(int *up, int i)
{
	while (up[i] != i)
		i = up[i] = up[up[i]];
	return i;
}

static void join(int *up, int a, int b)
{
	a = group_of(up, a);
	b = group_of(up, b);
	if (a < b)
		up[b] = a;
	else
		up[a] = b;
}

/* One cycle among the tables left unordered (each has a parent left): walk parents from
 * one until a table repeats. */
static void describe_cycle(const struct fk_graph *g, const bool *done, const struct snk_fkey *k, int nk,
			   const char *const *names, char *why, size_t len)
{
	int *seen = calloc((size_t)g->n, sizeof(*seen));
	int t = 0, step = 1;
	size_t used;

	while (t < g->n && done[t])
		t++;
	if (!seen || t == g->n) {
		snprintf(why, len, "the foreign keys between the synced tables form a cycle");
		free(seen);
		return;
	}
	while (!seen[t]) {
		seen[t] = step++;
		for (int j = g->pstart[t]; j < g->pstart[t + 1]; j++) {
			if (!done[g->parents[j]] && g->parents[j] != t) {
				t = g->parents[j];
				break;
			}
		}
	}
	used = (size_t)snprintf(why, len, "the foreign keys of %s", names[t]);
	for (int from = t, guard = 0; guard < g->n && used < len; guard++) {
		int to = -1;
		const char *con = "?";

		for (int i = 0; i < nk; i++) {
			if (k[i].child == from && k[i].parent != from && !done[k[i].parent] && seen[k[i].parent]) {
				to = k[i].parent;
				con = k[i].name;
				break;
			}
		}
		if (to < 0)
			break;
		used += (size_t)snprintf(why + used, len - used, " -> %s (%s)", names[to], con);
		from = to;
		if (from == t)
			break;
	}
	if (used < len)
		snprintf(why + used, len - used, " form a cycle: snk cannot write either table's rows first; drop one"
			 " of these constraints, make them DEFERRABLE and sync the tables with separate snk instances,"
			 " or leave one table out of \"tables\"");
	free(seen);
}

bool fk_graph_build(struct fk_graph *g, int n, const struct snk_fkey *k, int nk, const char *const *names,
		    char *why, size_t len)
{
	int *waiting = NULL, *up = NULL, emitted = 0;
	bool *done = NULL;

	memset(g, 0, sizeof(*g));
	g->n = n;
	g->order = calloc((size_t)n + 1, sizeof(int));
	g->rank = calloc((size_t)n + 1, sizeof(int));
	g->group = calloc((size_t)n + 1, sizeof(int));
	g->linked = calloc((size_t)n + 1, sizeof(bool));
	g->self = calloc((size_t)n + 1, sizeof(bool));
	g->pstart = calloc((size_t)n + 1, sizeof(int));
	g->parents = calloc((size_t)nk + 1, sizeof(int));
	waiting = calloc((size_t)n + 1, sizeof(int));
	up = calloc((size_t)n + 1, sizeof(int));
	done = calloc((size_t)n + 1, sizeof(bool));
	if (!g->order || !g->rank || !g->group || !g->linked || !g->self || !g->pstart || !g->parents || !waiting || !up || !done) {
		snprintf(why, len, "out of memory ordering the tables by their foreign keys");
		goto fail;
	}
	for (int i = 0; i < n; i++)
		up[i] = i;
	/* parents of each table, as compressed rows; a table's own key is not an edge */
	for (int i = 0; i < nk; i++) {
		g->linked[k[i].child] = g->linked[k[i].parent] = true;
		join(up, k[i].child, k[i].parent);
		if (k[i].child != k[i].parent)
			g->pstart[k[i].child + 1]++;
		else
			g->self[k[i].child] = true;
	}
	for (int i = 0; i < n; i++)
		g->pstart[i + 1] += g->pstart[i];
	for (int i = 0; i < nk; i++) {
		if (k[i].child != k[i].parent)
			g->parents[g->pstart[k[i].child] + waiting[k[i].child]++] = k[i].parent;
	}
	for (int i = 0; i < n; i++)
		g->group[i] = group_of(up, i);
	/* waiting[i], which counted the parents of i as they were filled in: those not yet
	 * ordered (two keys to the same parent count twice, and are released twice) */
	for (;;) {
		int next = -1;

		for (int i = 0; i < n && next < 0; i++) {
			if (!done[i] && waiting[i] == 0)
				next = i;
		}
		if (next < 0)
			break;
		done[next] = true;
		g->rank[next] = emitted;
		g->order[emitted++] = next;
		for (int c = 0; c < n; c++) {
			for (int j = g->pstart[c]; !done[c] && j < g->pstart[c + 1]; j++)
				waiting[c] -= g->parents[j] == next;
		}
	}
	if (emitted < n) {
		describe_cycle(g, done, k, nk, names, why, len);
		goto fail;
	}
	free(waiting);
	free(up);
	free(done);
	return true;
fail:
	free(waiting);
	free(up);
	free(done);
	fk_graph_clear(g);
	return false;
}

void fk_graph_ancestors(const struct fk_graph *g, int t, bool *mark)
{
	if (mark[t])
		return;
	mark[t] = true;
	for (int j = g->pstart[t]; j < g->pstart[t + 1]; j++)
		fk_graph_ancestors(g, g->parents[j], mark);
}
