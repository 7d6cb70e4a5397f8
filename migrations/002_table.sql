-- The synced table: created when absent; an existing one gains the xid column and its index.
--
-- snk_xid is the top-level transaction id of the inserting transaction (a STABLE default,
-- so adding it to a full table is a catalog-only change). Rows snk copies in are written
-- with snk_xid = 0, which no window ever contains: that is how copies are never echoed.
-- One btree on snk_xid alone: see docs/DESIGN.md for its cost on the application's inserts.
CREATE SCHEMA IF NOT EXISTS @SCHEMA@;

CREATE TABLE IF NOT EXISTS @TABLE@ (
    @ID@   uuid PRIMARY KEY,
    @DATA@ text NOT NULL
);

ALTER TABLE @TABLE@ ADD COLUMN IF NOT EXISTS snk_xid xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE INDEX IF NOT EXISTS @INDEX@ ON @TABLE@ (snk_xid);
