#!/usr/bin/env bash
# Injects, with snk running and caught up, rows that arrive carrying an snk_xid of their own:
#  - 100 rows by INSERT INTO records SELECT * FROM a staging table created LIKE records
#    (they carry the staging transaction's xid, older than the cursor);
#  - 100 rows by COPY of every column, from rows exported with their old snk_xid;
#  - 50 rows inserted with snk_xid NULL by an application session (not snk's);
#  - 20,000 rows whose snk_xid is far ahead of a's xid counter, loaded with the stamp
#    trigger disabled (as pg_restore --disable-triggers of a dump from a busier cluster),
#    then 100 more in a second load, with xids below the first load's highest.
# Checks: every row reaches b by the tail alone (no reconcile repairs one); the rows ahead
# of the counter get current xids in a, are copied once (rows_read), reported in the log
# and in status, and not read again by later windows nor after a restart; no plain INSERT
# had to be resent (no window met rows it had already copied).
. "$(dirname "$0")/lib.sh"
it_init foreign_xids
# The test clusters commit asynchronously, and a cursor row takes a snapshot only once the
# source's WAL is flushed past it (docs/DESIGN.md): this test reads the stored cursors.
for s in a b; do q $s "ALTER DATABASE \"$DB\" SET synchronous_commit = on"; done
q a "CREATE TABLE staging (LIKE records INCLUDING DEFAULTS)"
q a "INSERT INTO staging (id, data) SELECT gen_random_uuid(), 'staged ' || i FROM generate_series(1, 100) i"
q a "CREATE TABLE exported AS SELECT gen_random_uuid() AS id, 'exported ' || i AS data, txid_current() AS snk_xid FROM generate_series(1, 100) i"
snk_start
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'marker')"
wait_for b "SELECT count(*) FROM records" 1 10
# The cursor has passed the staging and export transactions: their xids are "old".
q a "INSERT INTO records SELECT * FROM staging"
q a "COPY (SELECT * FROM exported) TO STDOUT" | psql_side "$SNK_IT_PORT_A" -d "$DB" -c "COPY records FROM STDIN"
q a "INSERT INTO records (id, data, snk_xid) SELECT gen_random_uuid(), 'null ' || i, NULL FROM generate_series(1, 50) i"
wait_for b "SELECT count(*) FROM records" 251 15
[ "$(q a "SELECT count(*) FROM records r JOIN staging s USING (id) WHERE r.snk_xid = s.snk_xid")" = 0 ] ||
	fail "staged rows kept the staging transaction's xid in a"

read_before=$(status_field .a_to_b.rows_read)
ahead=$(( $(q a "SELECT txid_current()") + 1000000 ))
# Two loads ahead of the counter, with the stamp trigger off as pg_restore --disable-triggers
# has it: the second's xids are below the first's highest.
load_ahead() { # FIRST COUNT LABEL
	psql_side "$SNK_IT_PORT_A" -d "$DB" -c "ALTER TABLE records DISABLE TRIGGER snk_xid_stamp" \
		-c "INSERT INTO records (id, data, snk_xid) SELECT gen_random_uuid(), '$3 ' || i, $ahead + $1 + i FROM generate_series(1, $2) i" \
		-c "ALTER TABLE records ENABLE ALWAYS TRIGGER snk_xid_stamp" >/dev/null
}
load_ahead 1000 20000 ahead
wait_for b "SELECT count(*) FROM records" 20251 30
load_ahead 0 100 "ahead late"
wait_for b "SELECT count(*) FROM records" 20351 30
[ "$(q a "SELECT count(*) FROM records WHERE snk_xid >= $ahead")" = 0 ] || fail "rows ahead of the counter kept their xids in a"
[ "$(q a "SELECT count(*) FROM records WHERE data LIKE 'ahead%' AND snk_xid < txid_current()")" = 20100 ] ||
	fail "the ahead rows were not given current xids"
for i in $(seq 1 10); do
	q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'after $i')"
	sleep 0.1
done
wait_for b "SELECT count(*) FROM records" 20361 15
read=$(( $(status_field .a_to_b.rows_read) - read_before ))
[ "$read" = 20110 ] || fail "a->b read $read rows for 20100 ahead rows and 10 new ones: ahead rows read more than once"
[ "$(status_field .a_to_b.rows_ahead_of_xid_counter)" = 20100 ] || fail "status: $(status_field .a_to_b.rows_ahead_of_xid_counter) rows ahead reported"
grep -q "20000 rows of public.records in database a carried an snk_xid ahead of its transaction counter" "$WORK/snk.log" ||
	fail "the ahead rows were not reported in the log"
[ "$(status_field .a_to_b.insert_retries)" = 0 ] || fail "$(status_field .a_to_b.insert_retries) batches met rows already copied"
snk_stop || fail "snk exited non-zero"
snk_start
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'after restart')"
wait_for b "SELECT count(*) FROM records" 20362 15
sleep 0.5
[ "$(status_field .a_to_b.rows_read)" = 1 ] || fail "after a restart a->b read $(status_field .a_to_b.rows_read) rows, want 1"
assert_exact 20362
assert_tail_only
it_pass "rows with their own snk_xid (INSERT SELECT *, COPY of all columns, NULL, 20100 ahead of the counter in two loads) copied by the tail, once"
