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
