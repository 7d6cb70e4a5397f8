-- snk's own schema. The cursor of the direction X -> Y lives in Y, and is written in the
-- same transaction as the last rows it covers: every source row visible in `snapshot`
-- is already in this database.
CREATE SCHEMA IF NOT EXISTS snk;

CREATE TABLE IF NOT EXISTS snk.cursor (
    source      text PRIMARY KEY,       -- "<side>:<schema>.<table>" the rows come from
    snapshot    pg_snapshot NOT NULL,   -- pg_current_snapshot() of the source at the last window
    rows_copied bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
