/* Unit tests of batch.c: the binary arrays must be byte-exact array_send output. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "snk/batch.h"

static uint32_t u32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

int main(void)
{
	struct snk_batch b = { 0 };
	unsigned char id1[16], id2[16];

	for (int i = 0; i < 16; i++) {
		id1[i] = (unsigned char)i;
		id2[i] = (unsigned char)(255 - i);
	}
	batch_reset(&b);
	CHECK(batch_add(&b, id1, "hé", 3));
	CHECK(batch_add(&b, id2, "", 0));
	CHECK(batch_add(&b, id1, NULL, 0));
	batch_finish(&b);
	CHECK(b.nrows == 3);
	CHECK(b.data_bytes == 3 * 16 + 3); /* every value's bytes */
	/* uuid[]: ndim 1, no nulls, oid 2950, 3 elements from 1, then 3 x (16, bytes) */
	CHECK(b.col[0].len == 20 + 3 * 20);
	CHECK(u32(b.col[0].data) == 1 && u32(b.col[0].data + 4) == 0 && u32(b.col[0].data + 8) == 2950);
	CHECK(u32(b.col[0].data + 12) == 3 && u32(b.col[0].data + 16) == 1);
	CHECK(u32(b.col[0].data + 20) == 16 && memcmp(b.col[0].data + 24, id1, 16) == 0);
	CHECK(memcmp(b.col[0].data + 44, id2, 16) == 0);
	/* text[]: has nulls, oid 25; "hé" (3 bytes), "" (0), NULL (-1) */
	CHECK(u32(b.col[1].data + 4) == 1 && u32(b.col[1].data + 8) == 25 && u32(b.col[1].data + 12) == 3);
	CHECK(u32(b.col[1].data + 20) == 3 && memcmp(b.col[1].data + 24, "hé", 3) == 0);
	CHECK(u32(b.col[1].data + 27) == 0);
	CHECK(u32(b.col[1].data + 31) == UINT32_MAX);
	CHECK(b.col[1].len == 35);
	CHECK(batch_id_at(&b, 1) && memcmp(batch_id_at(&b, 1), id2, 16) == 0);
	CHECK(batch_id_at(&b, 3) == NULL && batch_id_at(&b, -1) == NULL);

	/* Reuse keeps buffers and starts clean; growth past the first buffer is exact. */
	char *keep = b.col[0].data;
	batch_reset(&b);
	CHECK(b.nrows == 0 && b.col[0].data == keep && !b.nulls[1]);
	static char big[100000];
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 50; i++)
		CHECK(batch_add(&b, id1, big, sizeof(big)));
	batch_finish(&b);
	CHECK(b.nrows == 50 && u32(b.col[1].data + 4) == 0);
	CHECK(b.col[1].len == 20 + 50 * (4 + sizeof(big)));
	batch_free(&b);
	CHECK(b.col == NULL && b.ncols == 0);
	batch_free(NULL);

	/* Any layout: three columns, values appended in column order, a NULL in the middle. */
	static const uint32_t oids[3] = { 20, 25, 1700 };
	CHECK(batch_layout(&b, 3, oids));
	CHECK(batch_value(&b, 0, "\0\0\0\0\0\0\0\7", 8) && batch_value(&b, 1, NULL, 0) && batch_value(&b, 2, "n", 1));
	batch_row_done(&b);
	batch_finish(&b);
	CHECK(b.nrows == 1 && u32(b.col[0].data + 8) == 20 && u32(b.col[2].data + 8) == 1700);
	CHECK(u32(b.col[1].data + 4) == 1 && u32(b.col[0].data + 4) == 0 && u32(b.col[1].data + 20) == UINT32_MAX);
	CHECK(batch_id_at(&b, 0) == NULL); /* not a uuid batch */
	CHECK(!batch_add(&b, id1, "x", 1));
	batch_free(&b);

	/* The queue of large rows: groups bounded by bytes, never empty, order kept. */
	struct snk_idqueue q = { 0 };
	struct snk_batch out = { 0 };
	static const uint32_t uuid[1] = { 2950 };
	unsigned char id[16] = { 0 };
	CHECK(batch_layout(&out, 1, uuid));
	for (int i = 0; i < 300; i++) {
		id[15] = (unsigned char)i;
		CHECK(idqueue_push_id(&q, id, i == 5 ? 50000000 : 1000000));
	}
	CHECK(q.n == 300);
	CHECK(idqueue_take(&q, 3500000, &out) == 3);       /* 3 x 1 MB fit in 3.5 MB */
	CHECK(u32(out.col[0].data + 8) == 2950 && u32(out.col[0].data + 12) == 3);
	CHECK((unsigned char)out.col[0].data[20 + 4 + 15] == 0 && (unsigned char)out.col[0].data[40 + 4 + 15] == 1);
	CHECK(idqueue_take(&q, 3500000, &out) == 2);       /* ids 3, 4: id 5 is 50 MB */
	CHECK(idqueue_take(&q, 3500000, &out) == 1);       /* a row larger than the bound goes alone */
	CHECK((unsigned char)out.col[0].data[20 + 4 + 15] == 5);
	int taken = 6;
	for (int k; (k = idqueue_take(&q, 10000000, &out)) > 0;)
		taken += k;
	CHECK(taken == 300 && q.n == 0);
	CHECK(idqueue_take(&q, 10000000, &out) == 0);
	id[15] = 7;
	CHECK(idqueue_push_id(&q, id, 1));                 /* reusable after draining */
	CHECK(q.n == 1);
	idqueue_clear(&q);

	/* Keys of two columns of any length: taken back into a batch of those columns. */
	static const uint32_t two[2] = { 25, 20 };
	CHECK(batch_layout(&out, 2, two));
	for (int i = 0; i < 100; i++) {
		char s[8];
		const char *vals[2] = { s, "\0\0\0\0\0\0\0\1" };
		int lens[2] = { snprintf(s, sizeof(s), "k%d", i), 8 };

		CHECK(idqueue_push(&q, 2, vals, lens, 10));
	}
	CHECK(idqueue_take(&q, 25, &out) == 2);
	CHECK(out.nrows == 2 && u32(out.col[0].data + 20) == 2 && memcmp(out.col[0].data + 24, "k0", 2) == 0);
	CHECK(u32(out.col[0].data + 26) == 2 && memcmp(out.col[0].data + 30, "k1", 2) == 0);
	CHECK(u32(out.col[1].data + 8) == 20 && u32(out.col[1].data + 20) == 8);
	taken = 2;
	bool last_ok = false;
	for (int k; (k = idqueue_take(&q, 1000, &out)) > 0;) {
		taken += k;
		last_ok = memcmp(out.col[0].data + out.col[0].len - 3, "k99", 3) == 0;
	}
	CHECK(taken == 100 && last_ok);

	/* Taken keys are compacted away while others wait: order and values survive. */
	for (int i = 0; i < 10; i++) {
		char s[8];
		const char *vals[2] = { s, "\0\0\0\0\0\0\0\2" };
		int lens[2] = { snprintf(s, sizeof(s), "c%d", i), 8 };

		CHECK(idqueue_push(&q, 2, vals, lens, 10));
	}
	CHECK(idqueue_take(&q, 60, &out) == 6);
	CHECK(q.entries.len < 10 * 18); /* the six taken keys' bytes are gone */
	for (int i = 10; i < 15; i++) {
		char s[8];
		const char *vals[2] = { s, "\0\0\0\0\0\0\0\2" };
		int lens[2] = { snprintf(s, sizeof(s), "c%d", i), 8 };

		CHECK(idqueue_push(&q, 2, vals, lens, 10));
	}
	CHECK(idqueue_take(&q, 1000, &out) == 9);
	CHECK(memcmp(out.col[0].data + 24, "c6", 2) == 0 && memcmp(out.col[0].data + out.col[0].len - 3, "c14", 3) == 0);

	/* The waiting keys' row sizes, added up: taken keys no longer count. */
	CHECK(idqueue_row_bytes(&q) == 0);
	for (int i = 0; i < 4; i++) {
		id[15] = (unsigned char)i;
		CHECK(idqueue_push_id(&q, id, 100 + (uint64_t)i));
	}
	CHECK(idqueue_row_bytes(&q) == 406);
	CHECK(batch_layout(&out, 1, uuid) && idqueue_take(&q, 201, &out) == 2);
	CHECK(idqueue_row_bytes(&q) == 205);
	idqueue_free(&q);
	batch_free(&out);

	/* batch_append: the rows of one batch after another's, as if added there; a NULL in
	 * the appended rows marks the column; an empty batch either way; layouts must match. */
	struct snk_batch page = { 0 }, more = { 0 }, whole = { 0 };
	CHECK(batch_add(&page, id1, "a", 1) && batch_add(&page, id2, "bc", 2));
	batch_finish(&page);
	CHECK(batch_add(&more, id2, NULL, 0) && batch_add(&more, id1, "def", 3));
	batch_finish(&more);
	CHECK(batch_add(&whole, id1, "a", 1) && batch_add(&whole, id2, "bc", 2) && batch_add(&whole, id2, NULL, 0) &&
	      batch_add(&whole, id1, "def", 3));
	batch_finish(&whole);
	CHECK(batch_append(&page, &more));
	CHECK(page.nrows == 4 && page.data_bytes == whole.data_bytes && page.nulls[1]);
	for (int i = 0; i < 2; i++)
		CHECK(page.col[i].len == whole.col[i].len && memcmp(page.col[i].data, whole.col[i].data, whole.col[i].len) == 0);
	batch_reset(&more);
	CHECK(batch_append(&page, &more) && page.nrows == 4);           /* nothing to add */
	batch_reset(&page);
	CHECK(batch_add(&more, id1, "x", 1));
	batch_finish(&more);
	CHECK(batch_append(&page, &more) && page.nrows == 1);           /* into an emptied one */
	CHECK(u32(page.col[0].data + 12) == 1 && u32(page.col[1].data + 20) == 1 && page.col[1].data[24] == 'x');
	CHECK(batch_layout(&out, 3, oids));
	CHECK(!batch_append(&out, &more) && out.nrows == 0);           /* another layout */
	CHECK(batch_layout(&out, 2, two));
	CHECK(!batch_append(&out, &more) && out.nrows == 0);           /* as many columns, other types */
	batch_free(&page);
	batch_free(&more);
	batch_free(&whole);
	batch_free(&out);
	return check_done();
}
