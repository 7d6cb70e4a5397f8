/* Unit tests of snapshot.c: the parse that feeds the window query must accept exactly
 * what PostgreSQL prints and reject anything else. */
#include <string.h>

#include "check.h"
#include "snk/snapshot.h"

int main(void)
{
	struct snk_snapshot s;
	char buf[32];

	CHECK(snapshot_parse("10:20:", &s));
	CHECK(s.xmin == 10 && s.xmax == 20 && s.nxip == 0);
	CHECK_STR(s.xip_array, "{}");
	CHECK_STR(s.text, "10:20:");
	snapshot_xmax_text(&s, buf, sizeof(buf));
	CHECK_STR(buf, "20");
	snapshot_clear(&s);
	CHECK(s.text == NULL);

	CHECK(snapshot_parse("10:20:10,12,19", &s));
	CHECK(s.nxip == 3);
	CHECK_STR(s.xip_array, "{10,12,19}");
	snapshot_clear(&s);

	CHECK(snapshot_parse(SNAPSHOT_INITIAL, &s));
	CHECK(s.xmin == 1 && s.xmax == 1 && s.nxip == 0);
	snapshot_clear(&s);

	CHECK(snapshot_parse("18446744073709551614:18446744073709551615:", &s));
	snapshot_clear(&s);

	const char *bad[] = { "", "1", "1:2", "a:2:", "2:1:", "0:1:", "1:5:5", "1:5:0", "3:5:2", "1:9:4,3",
			      "1:9:4,4", "1:9:4,", "1:9:,4", "1:9: 4", "1:9:4;5", "-1:2:",
			      "18446744073709551616:18446744073709551617:", "1:2:x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool ok = snapshot_parse(bad[i], &s);

		CHECK(!ok);
		if (ok)
			fprintf(stderr, "  accepted: %s\n", bad[i]);
		CHECK(s.text == NULL && s.xip_array == NULL);
	}

	struct snk_snapshot a, b = { 0 };
	CHECK(snapshot_parse("5:7:6", &a));
	snapshot_move(&b, &a);
	CHECK(a.text == NULL && b.xmax == 7);
	/* snapshot_set replaces a held snapshot (ASan would report the old one leaking). */
	CHECK(snapshot_set(&b, "8:9:"));
	CHECK(b.xmin == 8 && b.xmax == 9 && strcmp(b.text, "8:9:") == 0);
	CHECK(!snapshot_set(&b, "9:8:"));
	CHECK(b.text == NULL && b.xmax == 0);
	snapshot_clear(&b);

	/* What a reconcile may repair: rows of transactions that had ended by the snapshot. */
	CHECK(snapshot_parse("10:20:12,15", &a));
	CHECK(snapshot_sees(&a, 0));
	CHECK(snapshot_sees(&a, 9));
	CHECK(snapshot_sees(&a, 10));
	CHECK(snapshot_sees(&a, 11));
	CHECK(!snapshot_sees(&a, 12));
	CHECK(snapshot_sees(&a, 13));
	CHECK(!snapshot_sees(&a, 15));
	CHECK(snapshot_sees(&a, 19));
	CHECK(!snapshot_sees(&a, 20));
	CHECK(!snapshot_sees(&a, 1000));
	snapshot_clear(&a);
	CHECK(snapshot_parse(SNAPSHOT_INITIAL, &a));
	CHECK(snapshot_sees(&a, 0) && !snapshot_sees(&a, 1));
	snapshot_clear(&a);
	return check_done();
}
