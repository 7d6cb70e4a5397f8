/* Unit tests of fkorder.c: parents before children, groups, ancestors, and cycles. */
#include <stdlib.h>

#include "check.h"
#include "snk/db.h"
#include "snk/fkorder.h"

static struct snk_fkey key(int child, int parent, const char *name)
{
	struct snk_fkey k = { .child = child, .parent = parent };

	snprintf(k.name, sizeof(k.name), "%s", name);
	return k;
}

static const char *const names[] = { "public.grandchild", "public.child", "public.parent", "public.node",
				     "public.other" };

static void test_chain(void)
{
	/* listed grandchild first: the order is parent, child, grandchild; node references
	 * itself (no order), other is alone */
	struct snk_fkey k[] = { key(0, 1, "gc_child"), key(1, 2, "child_parent"), key(3, 3, "node_parent"),
				key(0, 2, "gc_parent") };
	struct fk_graph g;
	char why[512];
	bool mark[5] = { false };

	CHECK(fk_graph_build(&g, 5, k, 4, names, why, sizeof(why)));
	CHECK(g.rank[2] < g.rank[1] && g.rank[1] < g.rank[0]);
	for (int i = 0; i < 5; i++)
		CHECK(g.order[g.rank[i]] == i);
	CHECK(g.group[0] == g.group[1] && g.group[1] == g.group[2]);
	CHECK(g.group[3] == 3 && g.group[4] == 4 && g.group[0] == 0);
	CHECK(g.linked[0] && g.linked[3] && !g.linked[4]);
	CHECK(g.self[3] && !g.self[0] && !g.self[2]);
	/* the tables order follows the config where keys say nothing */
	CHECK(g.rank[3] < g.rank[4]);
	fk_graph_ancestors(&g, 0, mark);
	CHECK(mark[0] && mark[1] && mark[2] && !mark[3] && !mark[4]);
	memset(mark, 0, sizeof(mark));
	fk_graph_ancestors(&g, 1, mark);
	CHECK(!mark[0] && mark[1] && mark[2]);
	fk_graph_ancestors(&g, 3, mark); /* a key to itself ends */
	CHECK(mark[3]);
	fk_graph_clear(&g);
	fk_graph_clear(&g); /* twice is fine */
}

static void test_cycle(void)
{
	struct snk_fkey k[] = { key(4, 2, "other_parent"), key(2, 1, "parent_child"), key(1, 4, "child_other"),
				key(0, 1, "gc_child") };
	struct fk_graph g;
	char why[1024];

	CHECK(!fk_graph_build(&g, 5, k, 4, names, why, sizeof(why)));
	CHECK_CONTAINS(why, "form a cycle");
	CHECK_CONTAINS(why, "public.child");
	CHECK_CONTAINS(why, "public.parent");
	CHECK_CONTAINS(why, "public.other");
	CHECK_CONTAINS(why, "(parent_child)");
	CHECK(strstr(why, "public.grandchild") == NULL); /* not part of the cycle */
	CHECK(g.order == NULL);
}

static void test_none(void)
{
	struct fk_graph g;
	char why[64];

	CHECK(fk_graph_build(&g, 3, NULL, 0, names, why, sizeof(why)));
	CHECK(g.order[0] == 0 && g.order[1] == 1 && g.order[2] == 2);
	CHECK(!g.linked[0] && !g.linked[1]);
	fk_graph_clear(&g);
}

int main(void)
{
	test_chain();
	test_cycle();
	test_none();
	return check_done();
}
