/* db_internal.h - what the files of the data-access layer (db.c, db_shape.c, db_rows.c,
 * db_blocking.c, db_compare.c) share and nothing else sees: the statement texts used in
 * more than one of them and the helpers that build and send statements. */
#ifndef SNK_DB_INTERNAL_H
#define SNK_DB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "snk/batch.h"
#include "snk/db.h"

#define LOCK_CLASS "1397639979::int4" /* 'SNK+' : first key of snk's advisory locks */
/* The trigger of migration 005: a row inserted with an snk_xid other than its
 * transaction's (but by snk's own sessions) gets its transaction's. */
#define SNK_XID_GUARD "snk_xid_stamp"
/* SQL_CURSOR_STORE, prepared once per write session: a final batch sends only its values */
#define STMT_CURSOR_STORE "snk_cursor_store"

/* db.c */
extern const char SQL_COLUMNS[], SQL_SCHEMA_CHECK[], SQL_NOTIFY_TRIGGER[], SQL_PRIVILEGES[], SQL_SESSION_SETUP[],
	SQL_WRITER_LOCK_HOLDER[], SQL_CURSOR_MARK[], SQL_CURSOR_STORE[], SQL_IDENTITY[], SQL_RECONCILED[],
	SQL_WAL_FLUSHED[];
/* fmt: a new string from printf arguments, NULL when out of memory. */
char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
/* sb_add: appends printf output to a growing string; false when out of memory. */
bool sb_add(struct snk_buf *b, const char *f, ...) __attribute__((format(printf, 2, 3)));
/* db_text_array: a text[] literal of n strings found every stride bytes from items
 * ({"a","b"}), NULL on out of memory. */
char *db_text_array(const char *const *items, int n, size_t stride);
/* text_bool: a text-format boolean of row 0, false when NULL. */
bool text_bool(const PGresult *res, int col);

/* db_shape.c */
/* sb_done: the built string (owned by the caller), or NULL (and freed) when !ok. */
char *sb_done(struct snk_buf *b, bool ok);

/* db_rows.c */
/* The batch's columns as binary parameters: arrays freed by params_free (libpq copies
 * the values out at the send). */
#define PARAMS_ON_STACK 16
struct batch_params {
	const char **values;
	int *lengths;
	int *formats;
	const char *stack_values[PARAMS_ON_STACK]; /* a table of up to 16 columns needs no malloc */
	int stack_lengths[PARAMS_ON_STACK];
	int stack_formats[PARAMS_ON_STACK];
};
bool params_of(const struct snk_batch *b, struct batch_params *p);
void params_free(struct batch_params *p);
/* send_batch: the batch's columns as binary parameters of sql, or of the prepared stmt. */
bool send_batch(struct snk_pgconn *c, const char *sql, const char *stmt, const struct snk_batch *b,
		int result_format);
/* be64: a big-endian 64-bit integer. */
uint64_t be64(const char *p);

/* db_blocking.c */
bool exec_ok(PGconn *conn, const char *sql, int n, const char *const *params, char *err, size_t errlen,
	     PGresult **out);

#endif
