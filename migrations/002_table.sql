-- The synced table: created when absent; an existing one gains the xid column and its index.
--
-- snk_xid is the top-level transaction id of the inserting transaction, as a bigint
-- (txid_current(): the same 64-bit number as pg_current_xact_id(); a STABLE default, so
-- adding it to a full table is a catalog-only change). Rows snk copies in are written with
-- snk_xid NULL, which no window ever contains: that is how copies are never echoed.
--
-- The index is BRIN, not btree: a btree entry is one more index insert and one more WAL
-- record for every row every writer inserts (measured +43% CPU and +42% WAL on a COPY);
-- BRIN costs a writer almost nothing until snk summarizes a filled range (snk.summarize).
-- Tables migrated by an older snk keep their xid8 column and btree index: snk reads both.
-- docs/DESIGN.md has the figures and what BRIN costs the reader instead.
CREATE SCHEMA IF NOT EXISTS @SCHEMA@;

CREATE TABLE IF NOT EXISTS @TABLE@ (
    @ID@   uuid PRIMARY KEY,
    @DATA@ text NOT NULL
);

ALTER TABLE @TABLE@ ADD COLUMN IF NOT EXISTS snk_xid bigint DEFAULT pg_catalog.txid_current();

-- The index method comes from the config: BRIN with 32 pages per range, or a btree with
-- "xid_index": "btree" in the config. PostgreSQL names it (<table>_snk_xid_idx, cut at a
-- character boundary and made unique), so that no table name can make two tables share
-- one index name or cut a character in half.
DO $snk$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                   WHERE i.indrelid = @TABLE_LIT@::pg_catalog.regclass AND a.attname = 'snk_xid') THEN
        CREATE INDEX ON @TABLE@ @XID_INDEX@;
    END IF;
END
$snk$;
