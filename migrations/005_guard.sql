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
-- would turn COPY's batched inserts off: +10% instructions per row on a COPY, against
-- +1.7% for this one (bench/write_instructions.sh; docs/DESIGN.md). The function runs as
-- the table's owner, so that an application allowed only to INSERT still gets its rows
-- marked. It fires always, under session_replication_role = replica too (logical
-- replication's apply workers, some restore tools). A trigger disabled by an operator
-- marks nothing: snk refuses to start while it is disabled, and a reconcile copies what
-- was inserted meanwhile with old xids.
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
            ' IS DISTINCT FROM ''on''::text) EXECUTE FUNCTION snk.stamp_xid(%s)',
            @TABLE_LIT@, now_fn, @KEY_ARGS@);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER snk_xid_stamp', @TABLE_LIT@);
    END IF;
END
$snk$;

-- snk.restamp_ahead(table): rows whose snk_xid is at or above the xid counter came with
-- their xid (a dump of a busier cluster restored with triggers off): no transaction snk's
-- windows see inserted them. Giving them the xid of this transaction, which is above the
-- window that found them, lets the next window copy them once, like any row, instead of
-- every window reading them until the counter gets there. Returns how many. Only for
-- tables that snk migrated; SECURITY DEFINER as snk.summarize is, for the same reason.
CREATE OR REPLACE FUNCTION snk.restamp_ahead(tbl regclass) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    n bigint;
    xid_type regtype;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'snk_xid_stamp') THEN
        RAISE EXCEPTION 'table % is not migrated for snk', tbl USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT a.atttypid INTO xid_type FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = 'snk_xid';
    EXECUTE format('UPDATE %s SET snk_xid = DEFAULT WHERE snk_xid >= pg_snapshot_xmax(pg_current_snapshot())%s',
                   tbl, CASE WHEN xid_type = 'xid8'::regtype THEN '' ELSE '::text::int8' END);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
REVOKE EXECUTE ON FUNCTION snk.restamp_ahead(regclass) FROM PUBLIC;

-- snk.summarize runs as the table's owner: only the roles that run snk may call it (the
-- owner, who runs `snk migrate`, keeps it; GRANT EXECUTE to another role that runs the
-- daemon). Any other role could take the table's maintenance lock with it.
REVOKE EXECUTE ON FUNCTION snk.summarize(oid, bigint) FROM PUBLIC;
