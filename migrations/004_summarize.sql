-- Copies are marked with snk_xid NULL (was 0): a NULL widens no BRIN range. A table
-- migrated by an older snk has an xid8 column declared NOT NULL; dropping that is a
-- catalog-only change, and its old copies keep their 0, which no window contains either.
ALTER TABLE @TABLE@ ALTER COLUMN snk_xid DROP NOT NULL;

-- snk.summarize(index, from_block): summarizes the filled, not yet summarized ranges of a
-- BRIN index on snk_xid, from the range holding from_block on; returns the first block
-- after the last filled range (the next call's from_block; lower than this one's after a
-- TRUNCATE or VACUUM FULL, whose rebuilt index is summarized already), or NULL when another
-- session (a VACUUM, CREATE INDEX CONCURRENTLY) holds the table's maintenance lock: snk never
-- waits for it, and never makes an autovacuum give way.
--
-- The partly filled last range stays unsummarized: the application's inserts into it cost
-- no BRIN work. SECURITY DEFINER because summarizing needs the table's owner, who runs
-- `snk migrate`; snk itself may run as a role that only reads and inserts.
CREATE OR REPLACE FUNCTION snk.summarize(idx oid, from_block bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    tbl regclass;
    per_range bigint;
    filled_end bigint;
    blk bigint;
BEGIN
    SELECT i.indrelid::regclass,
           coalesce((SELECT o.option_value::bigint FROM pg_options_to_table(c.reloptions) o
                     WHERE o.option_name = 'pages_per_range'), 128)
      INTO tbl, per_range
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_am am ON am.oid = c.relam
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
     WHERE i.indexrelid = idx AND am.amname = 'brin' AND a.attname = 'snk_xid';
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'index % is not a BRIN index on a column snk_xid', idx
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    BEGIN
        EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE NOWAIT', tbl);
    EXCEPTION WHEN lock_not_available THEN
        RETURN NULL;
    END;
    filled_end := pg_relation_size(tbl) / current_setting('block_size')::bigint / per_range * per_range;
    blk := greatest(from_block, 0) / per_range * per_range;
    WHILE blk < filled_end LOOP
        PERFORM brin_summarize_range(idx::regclass, blk);
        blk := blk + per_range;
    END LOOP;
    RETURN filled_end;
END
$fn$;
