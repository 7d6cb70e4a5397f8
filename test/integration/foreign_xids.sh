#!/usr/bin/env bash
# Injects, with snk running and caught up, rows that arrive carrying an snk_xid of their own:
#  - 100 rows by INSERT INTO records SELECT * FROM a staging table created LIKE records
#    (they carry the staging transaction's xid, older than the cursor);
#  - 100 rows by COPY of every column, from rows exported with their old snk_xid;
#  - 50 rows inserted with snk_xid NULL by an application session (not snk's);
#  - 20,000 rows whose snk_xid is far ahead of a's xid counter, loaded with triggers off
#    (session_replication_role = replica, as a restore of a dump from a busier cluster).
# Checks: every row reaches b by the tail alone (no reconcile repairs one); the rows ahead
# of the counter are read once, reported in the log and in status, and not read again by
# later windows, nor after a restart (the cursor keeps their high mark); no plain INSERT
# had to be resent (no window met rows it had already copied). Last, 100 more rows ahead
# of the counter but below that high mark: a reconcile repairs them.
. "$(dirname "$0")/lib.sh"
it_init foreign_xids
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
psql_side "$SNK_IT_PORT_A" -d "$DB" -c "SET session_replication_role = replica" \
	-c "INSERT INTO records (id, data, snk_xid) SELECT gen_random_uuid(), 'ahead ' || i, $ahead + i FROM generate_series(1, 20000) i" >/dev/null
wait_for b "SELECT count(*) FROM records" 20251 30
[ "$(q a "SELECT count(*) FROM records WHERE snk_xid > $ahead")" = 20000 ] || fail "the ahead rows lost their xids in a"
for i in $(seq 1 10); do
	q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'after $i')"
	sleep 0.1
done
wait_for b "SELECT count(*) FROM records" 20261 15
read=$(( $(status_field .a_to_b.rows_read) - read_before ))
[ "$read" = 20010 ] || fail "a->b read $read rows for 20000 ahead rows and 10 new ones: ahead rows re-read"
[ "$(status_field .a_to_b.rows_ahead_of_xid_counter)" = 20000 ] || fail "status: $(status_field .a_to_b.rows_ahead_of_xid_counter) rows ahead reported"
grep -q "20000 rows of public.records in database a carry an snk_xid ahead of its transaction counter" "$WORK/snk.log" ||
	fail "the ahead rows were not reported in the log"
[ "$(status_field .a_to_b.insert_retries)" = 0 ] || fail "$(status_field .a_to_b.insert_retries) batches met rows already copied"
[ "$(q b "SELECT ahead_xid FROM snk.cursor WHERE source = 'a:public.records'")" = $((ahead + 20000)) ] ||
	fail "b's cursor does not record the highest ahead xid"
assert_tail_only
# After a restart the stored high mark still keeps them out of every window.
snk_stop || fail "snk exited non-zero"
snk_start
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'after restart')"
wait_for b "SELECT count(*) FROM records" 20262 15
sleep 0.5
[ "$(status_field .a_to_b.rows_read)" = 1 ] || fail "after a restart a->b read $(status_field .a_to_b.rows_read) rows, want 1"
assert_exact 20262
assert_tail_only
# Rows ahead of the counter but below the stored high mark: no window reads them, and a
# reconcile, which treats them as no window's work in flight, repairs them.
psql_side "$SNK_IT_PORT_A" -d "$DB" -c "SET session_replication_role = replica" \
	-c "INSERT INTO records (id, data, snk_xid) SELECT gen_random_uuid(), 'ahead late ' || i, $ahead + i FROM generate_series(1, 100) i" >/dev/null
runs=$(status_field .reconcile.runs)
"$SNKCTL" -s "$SOCK" reconcile >/dev/null || fail "snkctl reconcile refused"
wait_reconciled "$runs" 30
[ "$(status_field .reconcile.last.rows_repaired_into_b)" = 100 ] ||
	fail "the reconcile repaired $(status_field .reconcile.last.rows_repaired_into_b) rows into b, want the 100 late ahead rows"
assert_exact 20362
it_pass "rows with their own snk_xid (INSERT SELECT *, COPY of all columns, NULL, 20000 ahead of the counter) copied by the tail, once"
