#!/usr/bin/env bash
# Fault: a cursor is replaced at start-up by the source's snapshot of that moment (b's
# cursor of a claims xids a never handed out, as after a restore of a), while a commit of
# a's that the snapshot sees end has its WAL still in memory (committed asynchronously; the
# WAL writer of a waits 10 s here). The reconcile that the replacement owes copies that
# commit's row to b and settles the debt; then a crashes (pg_ctl -m immediate). Had its
# WAL not reached the disk, a would lose the row and hand out its xid again, to a
# transaction whose row the replacing cursor would skip, with no reconcile owed any more.
# snk starts no window and settles no debt before the source's WAL is on disk up to it.
# Checked: the replacement is logged; the row survives the crash in a and its xid is not
# handed out again; the rows committed after the crash reach b by the tail; the reconcile
# repaired exactly the rows the replaced cursor had skipped. Then the same at a reconnect
# of a running snk: no reconcile runs before a's WAL is on disk up to the new cursor.
. "$(dirname "$0")/../integration/lib.sh"
it_init faults_replaced_cursor
. "$(dirname "$0")/wal_held.sh"
hold_wal_of_a
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'before ' || i FROM generate_series(1, 100) i"
snk_start
wait_reconciled 0
wait_synced 30
snk_stop || fail "snk exit $?"
assert_tail_only
# What a restore of a would leave: a cursor ahead of every xid a has handed out.
q b "UPDATE snk.cursor SET snapshot = '4000000000:4000000000:'::pg_snapshot WHERE source = 'a:public.records'"
[ "$(q b "SELECT count(*) FROM snk.cursor WHERE source = 'a:public.records' AND snapshot::text = '4000000000:4000000000:'")" = 1 ] ||
	fail "no cursor of a:public.records in b to replace"
# A first asynchronous commit wakes a's hibernating WAL writer, which flushes at once and
# then sleeps its 10 s through the second: the row the replacing cursor is to skip.
q a "SET synchronous_commit = off; INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'wake')" >/dev/null
sleep 0.5
lost=$(q a "SET synchronous_commit = off; INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'skipped') RETURNING pg_catalog.pg_current_xact_id()")
snk_start
wait_reconciled 0
grep -q "\[a->b\] database a is not the one the cursor .* was taken in" "$WORK/snk.log" ||
	fail "the cursor ahead of a's xids was not noticed in the log"
[ "$(q b "SELECT count(*) FROM records WHERE data = 'skipped'")" = 1 ] || fail "the reconcile did not bring 'skipped' to b"
repaired=$(status_field .reconcile.last.rows_repaired_into_b)
log "cursor replaced; the reconcile repaired $repaired rows into b; crashing a"
crash_a
[ "$(q a "SELECT count(*) FROM records WHERE data = 'skipped'")" = 1 ] ||
	fail "a lost the row of xid $lost in the crash: its WAL was not on disk when the replacing cursor served"
for i in $(seq 1 20); do
	x=$(q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'after $i') RETURNING pg_catalog.pg_current_xact_id()")
	[ "$x" != "$lost" ] || fail "a handed out xid $lost again after the crash ('after $i')"
done
wait_for b "SELECT count(*) FROM records WHERE data LIKE 'after %'" 20 30
wait_synced 30
# One reconcile ran in this snk: it repaired 'skipped' (and 'wake', which the replacing
# cursor skipped too) and nothing else; the rows after the crash came by the tail.
[ "$(status_field .reconcile.runs)" = 1 ] || fail "another reconcile ran: $(status_field .reconcile)"
[ "$repaired" = 2 ] || fail "the reconcile repaired $repaired rows into b, want 2 ('wake' and 'skipped')"
[ "$(status_field .reconcile.last.rows_repaired_into_b)" = 2 ] || fail "a later reconcile repaired rows into b: $(status_field .reconcile.last)"

# The same replacement at a reconnect of a snk that has caught up, whose reconcile would
# otherwise start at once: it waits, like the windows, for a's WAL to reach the disk.
runs=$(status_field .reconcile.runs)
q a "SET synchronous_commit = off; INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'wake 2')" >/dev/null
sleep 0.5
q a "SET synchronous_commit = off; INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'copied 2')" >/dev/null
wait_for b "SELECT count(*) FROM records WHERE data = 'copied 2'" 1 10
q b "UPDATE snk.cursor SET snapshot = '4000000000:4000000000:'::pg_snapshot WHERE source = 'a:public.records'"
waits=$(grep -c 'waiting for a to write its WAL' "$WORK/snk.log")
[ "$(q a "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'snk %' AND datname = current_database()")" -gt 0 ] ||
	fail "no session of snk's in a to end"
start=$SECONDS
until [ "$(grep -c 'waiting for a to write its WAL' "$WORK/snk.log")" -gt "$waits" ]; do
	[ $((SECONDS - start)) -lt 10 ] || fail "snk did not wait for a's WAL after replacing the cursor at the reconnect"
	sleep 0.05
done
sleep 2
[ "$(status_field .reconcile.runs)" = "$runs" ] && [ "$(status_field .reconcile.state)" != running ] ||
	fail "a reconcile ran while a's WAL was not on disk up to the replacing cursor: $(status_field .reconcile)"
wait_reconciled "$runs" 30
wait_synced 30
it_pass "a replacing cursor saw xid $lost end; a's WAL held it through a crash; 20 rows after the crash came by the tail; at a reconnect, the reconcile waited for a's WAL too"
