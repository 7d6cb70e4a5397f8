/* batch.h - a batch of rows encoded as two binary PostgreSQL arrays (uuid[], text[]),
 * ready to be sent as parameters of one INSERT. */
#ifndef SNK_BATCH_H
#define SNK_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snk_buf {
	char *data; /* owned */
	size_t len;
	size_t cap;
};

struct snk_batch {
	struct snk_buf ids;   /* binary uuid[] */
	struct snk_buf datas; /* binary text[] */
	int nrows;
	bool has_nulls;
	size_t data_bytes;    /* sum of text lengths */
};

/* batch_reset: empties the batch, keeping its buffers for reuse. */
void batch_reset(struct snk_batch *b);

/* batch_add: appends one row; id is 16 raw bytes, data len bytes of text (NULL: SQL NULL).
 * False when out of memory (the batch is unchanged). */
bool batch_add(struct snk_batch *b, const unsigned char id[16], const char *data, size_t len)
	__attribute__((warn_unused_result));

/* batch_finish: completes the array headers; call once after the last batch_add. */
void batch_finish(struct snk_batch *b);

/* batch_id_at: the i-th id (0-based) of a finished batch, for messages; NULL if out of range. */
const unsigned char *batch_id_at(const struct snk_batch *b, int i);

void batch_free(struct snk_batch *b);

/* Ids of rows too large to travel inside a page, waiting to be fetched by id. */
struct snk_idqueue {
	unsigned char *ids; /* owned: 16 bytes each */
	uint64_t *lens;     /* owned: octet length of each row's data */
	size_t head;
	size_t n;           /* waiting, from head */
	size_t cap;
};

/* idqueue_push: false when out of memory. */
bool idqueue_push(struct snk_idqueue *q, const unsigned char id[16], uint64_t len)
	__attribute__((warn_unused_result));
/* idqueue_take: moves the next ids, at least one and at most max_bytes of data in all,
 * into out as a binary uuid[]; returns how many. 0 when empty or out of memory. */
int idqueue_take(struct snk_idqueue *q, uint64_t max_bytes, struct snk_buf *out);
void idqueue_clear(struct snk_idqueue *q);
void idqueue_free(struct snk_idqueue *q);

/* buf_reserve: makes room for extra more bytes. */
bool buf_reserve(struct snk_buf *buf, size_t extra) __attribute__((warn_unused_result));

#endif
