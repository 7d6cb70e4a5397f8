/* batch.h - a batch of rows encoded as one binary PostgreSQL array per column, ready to
 * be sent as the parameters of one INSERT; and the queue of keys of rows too large to
 * travel inside a page. */
#ifndef SNK_BATCH_H
#define SNK_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNK_UUIDOID 2950
#define SNK_TEXTOID 25

struct snk_buf {
	char *data; /* owned */
	size_t len;
	size_t cap;
};

/* The columns of a batch are fixed by batch_layout: each one array of the element type
 * oid[i] (a built-in type: its binary value, or text). Rows are appended value by value,
 * in column order, straight from a binary result. */
struct snk_batch {
	int ncols;
	struct snk_buf *col;  /* owned: [ncols] binary arrays */
	uint32_t *oid;        /* owned: [ncols] element types */
	bool *nulls;          /* owned: [ncols] whether the column holds a NULL */
	int nrows;
	size_t data_bytes;    /* sum of the value lengths */
};

/* batch_layout: gives the batch ncols columns of these element types and empties it (a
 * batch that has them already keeps its buffers). False when out of memory. */
bool batch_layout(struct snk_batch *b, int ncols, const uint32_t *oids) __attribute__((warn_unused_result));

/* batch_reset: empties the batch, keeping its layout and buffers for reuse. */
void batch_reset(struct snk_batch *b);

/* batch_value: appends the value of column col of the row being added (data NULL: SQL NULL);
 * every column, in order, then batch_row_done. False when out of memory: the batch must
 * then be reset. */
bool batch_value(struct snk_batch *b, int col, const char *data, size_t len) __attribute__((warn_unused_result));
void batch_row_done(struct snk_batch *b);

/* batch_add: a row of a (uuid, text) batch, laid out so when empty: id is 16 raw bytes,
 * data len bytes of text (NULL: SQL NULL). For tst and the benchmarks' fixed table. */
bool batch_add(struct snk_batch *b, const unsigned char id[16], const char *data, size_t len)
	__attribute__((warn_unused_result));

/* batch_finish: completes the array headers; call once after the last row. */
void batch_finish(struct snk_batch *b);

/* batch_append: appends every row of src to dst, whose layout must be the same, and
 * finishes dst. False when the layouts differ or out of memory; dst is then unchanged. */
bool batch_append(struct snk_batch *dst, const struct snk_batch *src) __attribute__((warn_unused_result));

/* batch_id_at: the i-th value (0-based) of a finished batch whose first column is uuid,
 * for messages; NULL if out of range. */
const unsigned char *batch_id_at(const struct snk_batch *b, int i);

void batch_free(struct snk_batch *b);

/* Keys of rows waiting to be fetched by key (a window's rows too large for a page; the
 * rows a reconcile copies): each entry the binary values of ncols key columns, and the
 * size of the row it stands for. */
struct snk_idqueue {
	struct snk_buf entries; /* per entry: per column int32 length and the value */
	size_t *offs;           /* owned: where each entry starts in entries */
	uint64_t *lens;         /* owned: the row size of each */
	size_t head;
	size_t n;               /* waiting, from head */
	size_t cap;
};

/* idqueue_push: one key of ncols values; false when out of memory. */
bool idqueue_push(struct snk_idqueue *q, int ncols, const char *const *vals, const int *lens, uint64_t size)
	__attribute__((warn_unused_result));
/* idqueue_push_id: one key of a single 16-byte uuid. */
bool idqueue_push_id(struct snk_idqueue *q, const unsigned char id[16], uint64_t size)
	__attribute__((warn_unused_result));
/* idqueue_take: moves the next keys, at least one and whose rows add up to at most
 * max_bytes, into out (laid out with the key's columns); returns how many. 0 when
 * empty or out of memory. */
int idqueue_take(struct snk_idqueue *q, uint64_t max_bytes, struct snk_batch *out);
/* idqueue_row_bytes: the sizes of the rows of every waiting key, added up. */
uint64_t idqueue_row_bytes(const struct snk_idqueue *q);
void idqueue_clear(struct snk_idqueue *q);
void idqueue_free(struct snk_idqueue *q);

/* buf_reserve: makes room for extra more bytes. */
bool buf_reserve(struct snk_buf *buf, size_t extra) __attribute__((warn_unused_result));

#endif
