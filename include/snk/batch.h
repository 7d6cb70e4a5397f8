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

/* buf_reserve: makes room for extra more bytes. */
bool buf_reserve(struct snk_buf *buf, size_t extra) __attribute__((warn_unused_result));

#endif
