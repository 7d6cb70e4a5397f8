/* batch.c - owns the binary array encoding of insert parameters.
 *
 * PostgreSQL's binary array format (array_send): int32 ndim, int32 has-nulls flag,
 * Oid element type, then per dimension int32 size and int32 lower bound, then per
 * element int32 length and the element's binary value. All integers big-endian.
 * Rows are appended straight from a binary FETCH result: one memcpy per value, and
 * no allocation per row (the buffers grow geometrically and are reused).
 */
#include "snk/batch.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define UUIDOID 2950
#define TEXTOID 25
#define ARRAY_HEADER 20 /* ndim, flags, elemtype, dim, lbound */

bool buf_reserve(struct snk_buf *buf, size_t extra)
{
	size_t need = buf->len + extra;
	size_t cap = buf->cap ? buf->cap : 4096;
	char *p;

	if (need <= buf->cap)
		return true;
	while (cap < need)
		cap *= 2;
	p = realloc(buf->data, cap);
	if (!p)
		return false;
	buf->data = p;
	buf->cap = cap;
	return true;
}

static void put_u32(char *at, uint32_t v)
{
	v = htonl(v);
	memcpy(at, &v, 4);
}

static void write_header(struct snk_buf *buf, bool nulls, uint32_t elemtype, uint32_t n)
{
	put_u32(buf->data + 0, 1);
	put_u32(buf->data + 4, nulls ? 1 : 0);
	put_u32(buf->data + 8, elemtype);
	put_u32(buf->data + 12, n);
	put_u32(buf->data + 16, 1);
}

void batch_reset(struct snk_batch *b)
{
	b->ids.len = 0;
	b->datas.len = 0;
	b->nrows = 0;
	b->has_nulls = false;
	b->data_bytes = 0;
}

bool batch_add(struct snk_batch *b, const unsigned char id[16], const char *data, size_t len)
{
	if (len > INT32_MAX)
		return false;
	if (!buf_reserve(&b->ids, (b->ids.len ? 0 : ARRAY_HEADER) + 4 + 16) ||
	    !buf_reserve(&b->datas, (b->datas.len ? 0 : ARRAY_HEADER) + 4 + len))
		return false;
	if (b->ids.len == 0)
		b->ids.len = ARRAY_HEADER;
	if (b->datas.len == 0)
		b->datas.len = ARRAY_HEADER;
	put_u32(b->ids.data + b->ids.len, 16);
	memcpy(b->ids.data + b->ids.len + 4, id, 16);
	b->ids.len += 20;
	if (!data) {
		put_u32(b->datas.data + b->datas.len, UINT32_MAX); /* -1: NULL */
		b->datas.len += 4;
		b->has_nulls = true;
		len = 0;
	} else {
		put_u32(b->datas.data + b->datas.len, (uint32_t)len);
		if (len)
			memcpy(b->datas.data + b->datas.len + 4, data, len);
		b->datas.len += 4 + len;
	}
	b->nrows++;
	b->data_bytes += len;
	return true;
}

void batch_finish(struct snk_batch *b)
{
	if (b->nrows == 0)
		return;
	write_header(&b->ids, false, UUIDOID, (uint32_t)b->nrows);
	write_header(&b->datas, b->has_nulls, TEXTOID, (uint32_t)b->nrows);
}

const unsigned char *batch_id_at(const struct snk_batch *b, int i)
{
	if (i < 0 || i >= b->nrows)
		return NULL;
	return (const unsigned char *)b->ids.data + ARRAY_HEADER + (size_t)i * 20 + 4;
}

void batch_free(struct snk_batch *b)
{
	if (!b)
		return;
	free(b->ids.data);
	free(b->datas.data);
	memset(b, 0, sizeof(*b));
}

bool idqueue_push(struct snk_idqueue *q, const unsigned char id[16], uint64_t len)
{
	if (q->head > 0 && q->head + q->n == q->cap) {
		/* compact before growing */
		memmove(q->ids, q->ids + q->head * 16, q->n * 16);
		memmove(q->lens, q->lens + q->head, q->n * sizeof(*q->lens));
		q->head = 0;
	}
	if (q->head + q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		unsigned char *ids = realloc(q->ids, cap * 16);
		uint64_t *lens;

		if (!ids)
			return false;
		q->ids = ids;
		lens = realloc(q->lens, cap * sizeof(*lens));
		if (!lens)
			return false;
		q->lens = lens;
		q->cap = cap;
	}
	memcpy(q->ids + (q->head + q->n) * 16, id, 16);
	q->lens[q->head + q->n] = len;
	q->n++;
	return true;
}

int idqueue_take(struct snk_idqueue *q, uint64_t max_bytes, struct snk_buf *out)
{
	size_t k = 0;
	uint64_t bytes = 0;

	while (k < q->n && (k == 0 || bytes + q->lens[q->head + k] <= max_bytes) && k < INT32_MAX) {
		bytes += q->lens[q->head + k];
		k++;
	}
	out->len = 0;
	if (k == 0 || !buf_reserve(out, ARRAY_HEADER + k * 20))
		return 0;
	write_header(out, false, UUIDOID, (uint32_t)k);
	out->len = ARRAY_HEADER;
	for (size_t i = 0; i < k; i++) {
		put_u32(out->data + out->len, 16);
		memcpy(out->data + out->len + 4, q->ids + (q->head + i) * 16, 16);
		out->len += 20;
	}
	q->head += k;
	q->n -= k;
	if (q->n == 0)
		q->head = 0;
	return (int)k;
}

void idqueue_clear(struct snk_idqueue *q)
{
	q->head = 0;
	q->n = 0;
}

void idqueue_free(struct snk_idqueue *q)
{
	free(q->ids);
	free(q->lens);
	memset(q, 0, sizeof(*q));
}
