-- The NOTIFY trigger that wakes snk as soon as rows commit. snk never installs it: the
-- demo and the test harness do, with psql:
--   psql -v table=records -v channel=snk_records -f migrations/notify_trigger.sql
-- Without it snk still syncs, on its poll_interval_ms timer.
-- Two-phase commit: applications that PREPARE TRANSACTION must not install it on that
-- table. PostgreSQL refuses to prepare a transaction that has executed NOTIFY ("cannot
-- PREPARE a transaction that has executed LISTEN, UNLISTEN, or NOTIFY"), and this trigger
-- notifies on every INSERT. snk then syncs on its poll_interval_ms timer.
-- A statement-level trigger: one notification per INSERT statement, not per row, and
-- PostgreSQL folds identical notifications of one transaction into one. The payload is the
-- table's oid: one channel serves every table of a snk, and a pass reads only the tables
-- that notified (and the tables they reference). An empty payload (an older trigger)
-- wakes every table.
-- snk's own copies notify nobody: its sessions set snk.copy = on. They never need a pass,
-- and a NOTIFY costs more than its message: the committing transaction holds a lock that
-- every other notifying commit of the cluster waits for, until its WAL is flushed, so
-- snk's batches would commit one after another behind the application's (an older
-- trigger without this test still works: snk ignores the NOTIFYs of its own sessions).
CREATE OR REPLACE FUNCTION snk_notify_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(pg_catalog.current_setting('snk.copy', true), '') OPERATOR(pg_catalog.<>) 'on' THEN
        PERFORM pg_catalog.pg_notify(TG_ARGV[0], TG_RELID::text);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS snk_notify ON :"table";
CREATE TRIGGER snk_notify AFTER INSERT ON :"table"
    FOR EACH STATEMENT EXECUTE FUNCTION snk_notify_insert(:'channel');
