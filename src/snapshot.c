/* snapshot.c - parsing of pg_snapshot text, the unit of snk's cursor.
 *
 * A window of rows to copy is "visible in the new snapshot, not visible in the previous
 * one". For a previous snapshot P that is exactly the rows whose xid is >= xmax(P) or is
 * one of P's in-progress xids: every other xid below xmax(P) had ended by then. The two
 * parts are sent to the server as constants so that the planner can use the xid index.
 */
#include "snk/snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return true;
}

bool snapshot_parse(const char *text, struct snk_snapshot *out)
{
	const char *p = text;
	uint64_t xmin, xmax, prev = 0, x;
	size_t n = 0, len = strlen(text);
	char *arr;

	memset(out, 0, sizeof(*out));
	if (!parse_u64(&p, &xmin) || *p++ != ':' || !parse_u64(&p, &xmax) || *p++ != ':')
		return false;
	if (xmin > xmax || xmin == 0)
		return false;
	/* The array literal is never longer than the text plus braces. */
	arr = malloc(len + 3);
	if (!arr)
		return false;
	arr[0] = '{';
	size_t alen = 1;
	while (*p) {
		const char *start = p;

		if (n > 0 && *p++ != ',')
			goto bad;
		start = p;
		if (!parse_u64(&p, &x) || x < xmin || x >= xmax || (n > 0 && x <= prev))
			goto bad;
		if (n > 0)
			arr[alen++] = ',';
		memcpy(arr + alen, start, (size_t)(p - start));
		alen += (size_t)(p - start);
		prev = x;
		n++;
	}
	arr[alen++] = '}';
	arr[alen] = '\0';
	out->text = strdup(text);
	if (!out->text)
		goto bad;
	out->xip_array = arr;
	out->xmin = xmin;
	out->xmax = xmax;
	out->nxip = n;
	return true;
bad:
	free(arr);
	memset(out, 0, sizeof(*out));
	return false;
}

void snapshot_xmax_text(const struct snk_snapshot *s, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64, s->xmax);
}

bool snapshot_set(struct snk_snapshot *dst, const char *text)
{
	snapshot_clear(dst);
	return snapshot_parse(text, dst);
}

void snapshot_move(struct snk_snapshot *dst, struct snk_snapshot *src)
{
	snapshot_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

void snapshot_clear(struct snk_snapshot *s)
{
	free(s->text);
	free(s->xip_array);
	memset(s, 0, sizeof(*s));
}

bool snapshot_sees(const struct snk_snapshot *s, uint64_t xid)
{
	const char *p;

	if (xid < s->xmin)
		return true;
	if (xid >= s->xmax)
		return false;
	for (p = s->xip_array + 1; *p && *p != '}';) {
		uint64_t x;

		if (!parse_u64(&p, &x))
			return false;
		if (x == xid)
			return false;
		if (*p == ',')
			p++;
	}
	return true;
}

/* ---- which snapshots may be stored (snapshot.h) ---- */

bool durable_safe(const struct snk_durable *d, uint64_t lsn)
{
	return lsn > 0 && lsn <= d->flushed;
}

bool durable_note(struct snk_durable *d, const char *text, uint64_t insert_lsn, uint64_t flush_lsn)
{
	if (flush_lsn > d->flushed)
		d->flushed = flush_lsn;
	if (d->pending.text && durable_safe(d, d->pending_lsn)) {
		snapshot_move(&d->confirmed, &d->pending);
		d->pending_lsn = 0;
	}
	if (!durable_safe(d, insert_lsn)) {
		if (d->pending.text)
			return true; /* that one is confirmed first; this one waits for a later read */
		d->pending_lsn = insert_lsn;
		return snapshot_set(&d->pending, text);
	}
	snapshot_clear(&d->pending);
	d->pending_lsn = 0;
	return snapshot_set(&d->confirmed, text);
}

void durable_clear(struct snk_durable *d)
{
	snapshot_clear(&d->confirmed);
	snapshot_clear(&d->pending);
	d->pending_lsn = 0;
	d->flushed = 0;
}

/* Page headers: XLogLongPageHeaderData on a segment's first page, the short one elsewhere
 * (their MAXALIGNed sizes). No record ends inside one, so an insert position right after
 * one is the page's start. */
#define WAL_LONG_HEADER 40
#define WAL_SHORT_HEADER 24

uint64_t wal_record_end(uint64_t insert_lsn, uint64_t block, uint64_t segment)
{
	uint64_t header;

	if (block == 0 || segment < block)
		return insert_lsn;
	header = insert_lsn % segment < block ? WAL_LONG_HEADER : WAL_SHORT_HEADER;
	return insert_lsn % block == header ? insert_lsn - header : insert_lsn;
}
