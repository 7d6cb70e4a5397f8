-- Tables of any shape: the stamp trigger finds the row it marks by every column of the
-- table's key, each compared with the equality operator of the key's index (its arguments
-- are column name and operator, schema-qualified as "schema.op", in pairs; the operator is
-- checked to be one before it is spliced in). A trigger created by migration 005 of an
-- older snk has one argument, the uuid id column, compared with pg_catalog.=.
CREATE OR REPLACE FUNCTION snk.stamp_xid() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    cond text := '';
    i int := 0;
BEGIN
    IF TG_NARGS = 1 THEN
        cond := format('t.%I OPERATOR(pg_catalog.=) ($1).%I', TG_ARGV[0], TG_ARGV[0]);
    ELSE
        WHILE i + 1 < TG_NARGS LOOP
            IF TG_ARGV[i + 1] !~ '^("([^"]|"")+"|[a-z_][a-z0-9_$]*)\.[-+*/<>=~!@#%^&|`?]+$' THEN
                RAISE EXCEPTION 'snk.stamp_xid: % is not an operator', TG_ARGV[i + 1]
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            cond := cond || CASE WHEN i > 0 THEN ' AND ' ELSE '' END
                || format('t.%I OPERATOR(%s) ($1).%I', TG_ARGV[i], TG_ARGV[i + 1], TG_ARGV[i]);
            i := i + 2;
        END LOOP;
    END IF;
    EXECUTE format('UPDATE %I.%I AS t SET snk_xid = DEFAULT WHERE ', TG_TABLE_SCHEMA, TG_TABLE_NAME) || cond
        USING NEW;
    RETURN NULL;
END
$fn$;
REVOKE EXECUTE ON FUNCTION snk.stamp_xid() FROM PUBLIC;
