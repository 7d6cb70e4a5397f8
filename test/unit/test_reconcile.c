/* Unit tests of the reconcile walk's key space: every range must map to exactly the ids
 * it stands for ([lo, hi) in uuid order), and the shares of a split must add up to the
 * range, or progress and completeness would be wrong. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "snk/reconcile.h"

int main(void)
{
	struct rc_range r = { .depth = 0, .lo = 0, .hi = 255 };
	char lo[37], hi[37];

	/* the whole key space: no upper bound */
	CHECK(!rc_range_bounds(&r, lo, hi));
	CHECK(strcmp(lo, "00000000-0000-0000-0000-000000000000") == 0);
	CHECK(fabs(rc_range_share(&r) - 1.0) < 1e-12);

	/* first byte in [0x10, 0x1f] */
	r.lo = 0x10;
	r.hi = 0x1f;
	CHECK(rc_range_bounds(&r, lo, hi));
	CHECK(strcmp(lo, "10000000-0000-0000-0000-000000000000") == 0);
	CHECK(strcmp(hi, "20000000-0000-0000-0000-000000000000") == 0);
	CHECK(fabs(rc_range_share(&r) - 16.0 / 256) < 1e-12);

	/* prefix ab, next byte in [0xf0, 0xff]: the upper bound carries into the prefix */
	r.prefix[0] = 0xab;
	r.depth = 1;
	r.lo = 0xf0;
	r.hi = 0xff;
	CHECK(rc_range_bounds(&r, lo, hi));
	CHECK(strcmp(lo, "abf00000-0000-0000-0000-000000000000") == 0);
	CHECK(strcmp(hi, "ac000000-0000-0000-0000-000000000000") == 0);
	CHECK(fabs(rc_range_share(&r) - 16.0 / 65536) < 1e-15);

	/* prefix ff ff, all of the next byte: the last range has no upper bound */
	memset(&r, 0, sizeof(r));
	r.prefix[0] = r.prefix[1] = 0xff;
	r.depth = 2;
	r.hi = 255;
	CHECK(!rc_range_bounds(&r, lo, hi));
	CHECK(strcmp(lo, "ffff0000-0000-0000-0000-000000000000") == 0);

	/* prefix 01 ff, all of the next byte: ends where 02 begins */
	r.prefix[0] = 0x01;
	CHECK(rc_range_bounds(&r, lo, hi));
	CHECK(strcmp(lo, "01ff0000-0000-0000-0000-000000000000") == 0);
	CHECK(strcmp(hi, "02000000-0000-0000-0000-000000000000") == 0);

	/* a deep range: 15 bytes fixed, the last byte exactly 7 */
	memset(&r, 0x5a, sizeof(r.prefix));
	r.depth = 15;
	r.lo = r.hi = 7;
	CHECK(rc_range_bounds(&r, lo, hi));
	CHECK(strcmp(lo, "5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a07") == 0);
	CHECK(strcmp(hi, "5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a08") == 0);

	/* the 256 one-byte children of a range add up to it */
	{
		struct rc_range parent = { .prefix = { 0x42 }, .depth = 1, .lo = 0, .hi = 255 };
		double sum = 0;

		for (int b = 0; b < 256; b++) {
			struct rc_range c = parent;

			c.lo = c.hi = b;
			sum += rc_range_share(&c);
		}
		CHECK(fabs(sum - rc_range_share(&parent)) < 1e-15);
	}
	/* progress: a quarter done in 10 s leaves 30 s; nothing done or finished: unknown */
	{
		struct rc_stats st = { .started_ms = 1000000, .keyspace_done = 0.25 };

		CHECK(fabs(rc_seconds(&st, 1010000) - 10.0) < 1e-9);
		CHECK(fabs(rc_eta_s(&st, 1010000) - 30.0) < 1e-9);
		st.keyspace_done = 0;
		CHECK(rc_eta_s(&st, 1010000) < 0);
		st.keyspace_done = 1;
		st.finished_ms = 1004000;
		CHECK(fabs(rc_seconds(&st, 1010000) - 4.0) < 1e-9);
		CHECK(rc_eta_s(&st, 1010000) < 0);
	}
	return check_done();
}
