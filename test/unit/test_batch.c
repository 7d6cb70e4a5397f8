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
	CHECK(b.data_bytes == 3);
	/* uuid[]: ndim 1, no nulls, oid 2950, 3 elements from 1, then 3 x (16, bytes) */
	CHECK(b.ids.len == 20 + 3 * 20);
	CHECK(u32(b.ids.data) == 1 && u32(b.ids.data + 4) == 0 && u32(b.ids.data + 8) == 2950);
	CHECK(u32(b.ids.data + 12) == 3 && u32(b.ids.data + 16) == 1);
	CHECK(u32(b.ids.data + 20) == 16 && memcmp(b.ids.data + 24, id1, 16) == 0);
	CHECK(memcmp(b.ids.data + 44, id2, 16) == 0);
	/* text[]: has nulls, oid 25; "hé" (3 bytes), "" (0), NULL (-1) */
	CHECK(u32(b.datas.data + 4) == 1 && u32(b.datas.data + 8) == 25 && u32(b.datas.data + 12) == 3);
	CHECK(u32(b.datas.data + 20) == 3 && memcmp(b.datas.data + 24, "hé", 3) == 0);
	CHECK(u32(b.datas.data + 27) == 0);
	CHECK(u32(b.datas.data + 31) == UINT32_MAX);
	CHECK(b.datas.len == 35);
	CHECK(batch_id_at(&b, 1) && memcmp(batch_id_at(&b, 1), id2, 16) == 0);
	CHECK(batch_id_at(&b, 3) == NULL && batch_id_at(&b, -1) == NULL);

	/* Reuse keeps buffers and starts clean; growth past the first buffer is exact. */
	char *keep = b.ids.data;
	batch_reset(&b);
	CHECK(b.nrows == 0 && b.ids.data == keep && !b.has_nulls);
	static char big[100000];
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 50; i++)
		CHECK(batch_add(&b, id1, big, sizeof(big)));
	batch_finish(&b);
	CHECK(b.nrows == 50 && u32(b.datas.data + 4) == 0);
	CHECK(b.datas.len == 20 + 50 * (4 + sizeof(big)));
	batch_free(&b);
	CHECK(b.ids.data == NULL);
	batch_free(NULL);

	/* The queue of large rows: groups bounded by bytes, never empty, order kept. */
	struct snk_idqueue q = { 0 };
	struct snk_buf out = { 0 };
	unsigned char id[16] = { 0 };
	for (int i = 0; i < 300; i++) {
		id[15] = (unsigned char)i;
		CHECK(idqueue_push(&q, id, i == 5 ? 50000000 : 1000000));
	}
	CHECK(q.n == 300);
	CHECK(idqueue_take(&q, 3500000, &out) == 3);       /* 3 x 1 MB fit in 3.5 MB */
	CHECK(u32(out.data + 8) == 2950 && u32(out.data + 12) == 3);
	CHECK((unsigned char)out.data[20 + 4 + 15] == 0 && (unsigned char)out.data[40 + 4 + 15] == 1);
	CHECK(idqueue_take(&q, 3500000, &out) == 2);       /* ids 3, 4: id 5 is 50 MB */
	CHECK(idqueue_take(&q, 3500000, &out) == 1);       /* a row larger than the bound goes alone */
	CHECK((unsigned char)out.data[20 + 4 + 15] == 5);
	int taken = 6;
	for (int k; (k = idqueue_take(&q, 10000000, &out)) > 0;)
		taken += k;
	CHECK(taken == 300 && q.n == 0);
	CHECK(idqueue_take(&q, 10000000, &out) == 0);
	id[15] = 7;
	CHECK(idqueue_push(&q, id, 1));                    /* reusable after draining */
	CHECK(q.n == 1);
	idqueue_free(&q);
	free(out.data);
	return check_done();
}
