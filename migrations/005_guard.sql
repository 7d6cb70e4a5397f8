-- Rows that arrive carrying an snk_xid of their own would be invisible to the tail: an
-- INSERT ... SELECT * from a table created LIKE this one, a COPY of every column, an
-- application that copies rows between tables. Their xid is older than the cursor, so no
-- window would ever contain them. This trigger gives such a row the xid of the
-- transaction that inserts it, as the column default does for every other row, so that
-- the tail copies it like any other. Rows from snk's own sessions (which connect with
-- snk.copy = on) keep their NULL: that is how copies are never echoed.
--
-- An AFTER trigger with a WHEN condition: the condition is evaluated for every row, the
-- function only runs for a row that needs the xid (one UPDATE by key). A BEFORE trigger
-- would turn COPY's batched inserts off: +12% instructions per row on a COPY, against
-- +2% for this one (bench/write_instructions.sh; docs/DESIGN.md). The function runs as
-- the table's owner, so that an application allowed only to INSERT still gets its rows
-- marked. A trigger disabled by an operator (or session_replication_role = replica) marks
-- nothing: snk refuses to start while it is disabled, and a reconcile copies what was
-- inserted meanwhile.
CREATE OR REPLACE FUNCTION snk.stamp_xid() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    EXECUTE pg_catalog.format('UPDATE %I.%I AS t SET snk_xid = DEFAULT WHERE t.%I = ($1).%I',
                              TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[0])
        USING NEW;
    RETURN NULL;
END
$fn$;
REVOKE EXECUTE ON FUNCTION snk.stamp_xid() FROM PUBLIC;

DO $snk$
DECLARE
    now_fn text := CASE (SELECT a.atttypid FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = @TABLE_LIT@::pg_catalog.regclass AND a.attname = 'snk_xid')
                   WHEN 'pg_catalog.xid8'::pg_catalog.regtype THEN 'pg_catalog.pg_current_xact_id()'
                   ELSE 'pg_catalog.txid_current()' END;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                   WHERE tgrelid = @TABLE_LIT@::pg_catalog.regclass AND tgname = 'snk_xid_stamp') THEN
        EXECUTE pg_catalog.format('CREATE TRIGGER snk_xid_stamp AFTER INSERT ON %s FOR EACH ROW'
            ' WHEN (NEW.snk_xid IS DISTINCT FROM %s AND pg_catalog.current_setting(''snk.copy''::text, true)'
            ' IS DISTINCT FROM ''on''::text) EXECUTE FUNCTION snk.stamp_xid(%L)',
            @TABLE_LIT@, now_fn, @ID_LIT@);
    END IF;
END
$snk$;

-- The highest snk_xid ahead of the source's xid counter that the tail has copied: rows
-- restored from a dump of another cluster can carry xids the source has not reached yet;
-- each is copied once, and windows skip what is at or below this (docs/DESIGN.md).
ALTER TABLE snk.cursor ADD COLUMN IF NOT EXISTS ahead_xid bigint NOT NULL DEFAULT 0;

-- snk.summarize runs as the table's owner: only the roles that run snk may call it (the
-- owner, who runs `snk migrate`, keeps it; GRANT EXECUTE to another role that runs the
-- daemon). Any other role could take the table's maintenance lock with it.
REVOKE EXECUTE ON FUNCTION snk.summarize(oid, bigint) FROM PUBLIC;
