/* Unit tests of snapshot.c: the parse that feeds the window query must accept exactly
 * what PostgreSQL prints and reject anything else. */
#include <string.h>

#include "check.h"
#include "snk/snapshot.h"

/* A snapshot becomes storable once the source's WAL is flushed past the insert position
 * read after it; until then the newest one that is stays the cursor. */
static void test_durable(void)
{
	struct snk_durable d = { 0 };

	/* the WAL is flushed up to where it is written: safe at once */
	CHECK(durable_note(&d, "5:8:", 100, 100));
	CHECK_STR(d.confirmed.text, "5:8:");
	CHECK(d.pending.text == NULL);
	/* unflushed WAL behind it: the confirmed one stays, this one waits */
	CHECK(durable_note(&d, "5:9:", 200, 150));
	CHECK_STR(d.confirmed.text, "5:8:");
	CHECK_STR(d.pending.text, "5:9:");
	/* a later one waits behind the first, which stays the one to confirm */
	CHECK(durable_note(&d, "6:10:", 300, 180));
	CHECK_STR(d.confirmed.text, "5:8:");
	CHECK_STR(d.pending.text, "5:9:");
	/* the flush passes the first but not this one: the first is confirmed, this one waits */
	CHECK(durable_note(&d, "7:11:", 400, 250));
	CHECK_STR(d.confirmed.text, "5:9:");
	CHECK_STR(d.pending.text, "7:11:");
	CHECK(durable_safe(&d, 250) && !durable_safe(&d, 251) && !durable_safe(&d, 0));
	/* a flush position read lower than one seen before changes nothing */
	CHECK(durable_note(&d, "7:12:", 500, 90));
	CHECK_STR(d.confirmed.text, "5:9:");
	/* everything flushed: the newest is the cursor, nothing waits */
	CHECK(durable_note(&d, "8:13:", 600, 600));
	CHECK_STR(d.confirmed.text, "8:13:");
	CHECK(d.pending.text == NULL && d.pending_lsn == 0);
	durable_clear(&d);
	CHECK(d.confirmed.text == NULL && d.flushed == 0);
	/* nothing is safe before a flush position is known */
	CHECK(durable_note(&d, "8:13:", 600, 0));
	CHECK(d.confirmed.text == NULL);
	CHECK_STR(d.pending.text, "8:13:");
	durable_clear(&d);
}

/* pg_current_wal_insert_lsn() right after a page header is the page's start. */
static void test_wal_record_end(void)
{
	const uint64_t seg = 16u << 20, bs = 8192;

	CHECK(wal_record_end(3 * seg + 40, bs, seg) == 3 * seg);
	CHECK(wal_record_end(3 * seg + 24, bs, seg) == 3 * seg + 24); /* a segment's first page has the long one */
	CHECK(wal_record_end(3 * seg + 5 * bs + 24, bs, seg) == 3 * seg + 5 * bs);
	CHECK(wal_record_end(3 * seg + 5 * bs + 40, bs, seg) == 3 * seg + 5 * bs + 40); /* a record ends there */
	CHECK(wal_record_end(3 * seg + 5 * bs + 100, bs, seg) == 3 * seg + 5 * bs + 100);
	CHECK(wal_record_end(1234, 0, 0) == 1234);
}

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
	test_durable();
	test_wal_record_end();
	return check_done();
}
