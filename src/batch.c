/* batch.c - owns the binary array encoding of insert parameters.
 *
 * PostgreSQL's binary array format (array_send): int32 ndim, int32 has-nulls flag,
 * Oid element type, then per dimension int32 size and int32 lower bound, then per
 * element int32 length and the element's binary value. All integers big-endian.
 * Element types are always built-in ones (their oids are the same in every database):
 * a column of any other type travels as text (db.c). Rows are appended straight from a
 * binary result: one memcpy per value, and no allocation per row (the buffers grow
 * geometrically and are reused).
 */
#include "snk/batch.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

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

static uint32_t get_u32(const char *at)
{
	uint32_t v;

	memcpy(&v, at, 4);
	return ntohl(v);
}

static void write_header(struct snk_buf *buf, bool nulls, uint32_t elemtype, uint32_t n)
{
	put_u32(buf->data + 0, 1);
	put_u32(buf->data + 4, nulls ? 1 : 0);
	put_u32(buf->data + 8, elemtype);
	put_u32(buf->data + 12, n);
	put_u32(buf->data + 16, 1);
}

static void batch_drop_columns(struct snk_batch *b)
{
	for (int i = 0; i < b->ncols; i++)
		free(b->col[i].data);
	free(b->col);
	free(b->oid);
	free(b->nulls);
	b->col = NULL;
	b->oid = NULL;
	b->nulls = NULL;
	b->ncols = 0;
}

bool batch_layout(struct snk_batch *b, int ncols, const uint32_t *oids)
{
	if (b->ncols == ncols && (ncols == 0 || memcmp(b->oid, oids, sizeof(*oids) * (size_t)ncols) == 0)) {
		batch_reset(b);
		return true;
	}
	batch_drop_columns(b);
	b->col = calloc((size_t)ncols, sizeof(*b->col));
	b->oid = malloc(sizeof(*b->oid) * (size_t)ncols);
	b->nulls = calloc((size_t)ncols, sizeof(*b->nulls));
	if (!b->col || !b->oid || !b->nulls) {
		batch_drop_columns(b); /* ncols is 0: frees the three arrays only */
		return false;
	}
	memcpy(b->oid, oids, sizeof(*oids) * (size_t)ncols);
	b->ncols = ncols;
	batch_reset(b);
	return true;
}

void batch_reset(struct snk_batch *b)
{
	for (int i = 0; i < b->ncols; i++) {
		b->col[i].len = 0;
		b->nulls[i] = false;
	}
	b->nrows = 0;
	b->data_bytes = 0;
}

bool batch_value(struct snk_batch *b, int col, const char *data, size_t len)
{
	struct snk_buf *buf = &b->col[col];
	size_t need = (buf->len ? 0 : ARRAY_HEADER) + 4 + (data ? len : 0);

	if (len > INT32_MAX || (buf->len + need > buf->cap && !buf_reserve(buf, need)))
		return false;
	if (buf->len == 0)
		buf->len = ARRAY_HEADER;
	if (!data) {
		put_u32(buf->data + buf->len, UINT32_MAX); /* -1: NULL */
		buf->len += 4;
		b->nulls[col] = true;
		return true;
	}
	put_u32(buf->data + buf->len, (uint32_t)len);
	if (len)
		memcpy(buf->data + buf->len + 4, data, len);
	buf->len += 4 + len;
	b->data_bytes += len;
	return true;
}

void batch_row_done(struct snk_batch *b)
{
	b->nrows++;
}

bool batch_add(struct snk_batch *b, const unsigned char id[16], const char *data, size_t len)
{
	static const uint32_t fixed[2] = { SNK_UUIDOID, SNK_TEXTOID };

	if (b->ncols == 0 && !batch_layout(b, 2, fixed))
		return false;
	if (b->ncols != 2 || b->oid[0] != SNK_UUIDOID)
		return false;
	if (!batch_value(b, 0, (const char *)id, 16) || !batch_value(b, 1, data, len))
		return false;
	batch_row_done(b);
	return true;
}

void batch_finish(struct snk_batch *b)
{
	if (b->nrows == 0)
		return;
	for (int i = 0; i < b->ncols; i++)
		write_header(&b->col[i], b->nulls[i], b->oid[i], (uint32_t)b->nrows);
}

bool batch_append(struct snk_batch *dst, const struct snk_batch *src)
{
	if (dst->ncols != src->ncols || (src->ncols && memcmp(dst->oid, src->oid, sizeof(*dst->oid) * (size_t)src->ncols)))
		return false;
	if (src->nrows == 0)
		return true;
	/* Every buffer grows first, so that a failure leaves dst as it was. */
	for (int i = 0; i < src->ncols; i++) {
		if (!buf_reserve(&dst->col[i], (dst->col[i].len ? 0 : ARRAY_HEADER) + src->col[i].len - ARRAY_HEADER))
			return false;
	}
	for (int i = 0; i < src->ncols; i++) {
		struct snk_buf *to = &dst->col[i];

		if (to->len == 0)
			to->len = ARRAY_HEADER;
		memcpy(to->data + to->len, src->col[i].data + ARRAY_HEADER, src->col[i].len - ARRAY_HEADER);
		to->len += src->col[i].len - ARRAY_HEADER;
		dst->nulls[i] = dst->nulls[i] || src->nulls[i];
	}
	dst->nrows += src->nrows;
	dst->data_bytes += src->data_bytes;
	batch_finish(dst);
	return true;
}

const unsigned char *batch_id_at(const struct snk_batch *b, int i)
{
	if (i < 0 || i >= b->nrows || b->ncols < 1 || b->oid[0] != SNK_UUIDOID)
		return NULL;
	return (const unsigned char *)b->col[0].data + ARRAY_HEADER + (size_t)i * 20 + 4;
}

void batch_free(struct snk_batch *b)
{
	if (!b)
		return;
	batch_drop_columns(b);
	memset(b, 0, sizeof(*b));
}

bool idqueue_push(struct snk_idqueue *q, int ncols, const char *const *vals, const int *lens, uint64_t size)
{
	size_t bytes = 0;

	if (q->n == 0) {
		q->head = 0;
		q->entries.len = 0;
	}
	for (int i = 0; i < ncols; i++)
		bytes += 4 + (size_t)lens[i];
	if (q->head > 0 && q->head + q->n == q->cap) {
		/* compact the index before growing it (the entries' bytes stay where they are) */
		memmove(q->offs, q->offs + q->head, q->n * sizeof(*q->offs));
		memmove(q->lens, q->lens + q->head, q->n * sizeof(*q->lens));
		q->head = 0;
	}
	if (q->head + q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		size_t *offs = realloc(q->offs, cap * sizeof(*offs));
		uint64_t *sizes;

		if (!offs)
			return false;
		q->offs = offs;
		sizes = realloc(q->lens, cap * sizeof(*sizes));
		if (!sizes)
			return false;
		q->lens = sizes;
		q->cap = cap;
	}
	if (!buf_reserve(&q->entries, bytes))
		return false;
	q->offs[q->head + q->n] = q->entries.len;
	q->lens[q->head + q->n] = size;
	for (int i = 0; i < ncols; i++) {
		put_u32(q->entries.data + q->entries.len, (uint32_t)lens[i]);
		memcpy(q->entries.data + q->entries.len + 4, vals[i], (size_t)lens[i]);
		q->entries.len += 4 + (size_t)lens[i];
	}
	q->n++;
	return true;
}

bool idqueue_push_id(struct snk_idqueue *q, const unsigned char id[16], uint64_t size)
{
	const char *vals[1] = { (const char *)id };
	static const int lens[1] = { 16 };

	return idqueue_push(q, 1, vals, lens, size);
}

int idqueue_take(struct snk_idqueue *q, uint64_t max_bytes, struct snk_batch *out)
{
	size_t k = 0;
	uint64_t bytes = 0;

	batch_reset(out);
	while (k < q->n && (k == 0 || bytes + q->lens[q->head + k] <= max_bytes) && k < INT32_MAX) {
		const char *p = q->entries.data + q->offs[q->head + k];

		for (int i = 0; i < out->ncols; i++) {
			uint32_t len = get_u32(p);

			if (!batch_value(out, i, p + 4, len)) {
				batch_reset(out);
				return 0;
			}
			p += 4 + len;
		}
		batch_row_done(out);
		bytes += q->lens[q->head + k];
		k++;
	}
	batch_finish(out);
	q->head += k;
	q->n -= k;
	if (q->n == 0) {
		idqueue_clear(q);
	} else if (q->offs[q->head] > q->entries.len / 2) {
		/* most of the bytes are taken keys: move the waiting ones to the front, so that
		 * the buffer holds what waits, not what a long window ever queued */
		size_t from = q->offs[q->head];

		memmove(q->entries.data, q->entries.data + from, q->entries.len - from);
		q->entries.len -= from;
		for (size_t i = 0; i < q->n; i++)
			q->offs[q->head + i] -= from;
	}
	return (int)k;
}

uint64_t idqueue_row_bytes(const struct snk_idqueue *q)
{
	uint64_t bytes = 0;

	for (size_t i = 0; i < q->n; i++)
		bytes += q->lens[q->head + i];
	return bytes;
}

void idqueue_clear(struct snk_idqueue *q)
{
	q->head = 0;
	q->n = 0;
	q->entries.len = 0;
}

void idqueue_free(struct snk_idqueue *q)
{
	free(q->entries.data);
	free(q->offs);
	free(q->lens);
	memset(q, 0, sizeof(*q));
}
