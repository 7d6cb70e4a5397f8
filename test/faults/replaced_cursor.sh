#!/usr/bin/env bash
# Fault: a cursor is replaced at start-up by the source's snapshot of that moment (b's
# cursor of a claims xids a never handed out, as after a restore of a), while a commit of
# a's that the snapshot sees end has its WAL still in memory (committed asynchronously,
# a's WAL writer stopped by SIGSTOP). Were the reconcile that the replacement owes to copy
# that commit's row to b and settle the debt, a crash of a (pg_ctl -m immediate) would
# lose the row and hand out its xid again, to a transaction whose row the replacing cursor
# skips, with no reconcile owed any more. snk starts no window and no reconcile of the
# pair before the source's WAL is on disk up to the replacing cursor.
# Checked: the replacement and the wait are logged; while a's WAL stays in memory the
# direction stays loading, no reconcile runs and b lacks the row; once a synchronous
# commit flushes a's WAL, the reconcile repairs exactly that row; after a crash of a the
# row is still there and its xid is not handed out again, and the rows committed after
# the crash reach b by the tail. Then the same at a reconnect of a running snk, whose
# reconcile would otherwise start at once.
. "$(dirname "$0")/../integration/lib.sh"
it_init faults_replaced_cursor
. "$(dirname "$0")/wal_held.sh"
hold_wal_of_a
first_sync
snk_stop || fail "snk exit $?"
assert_tail_only
waits() { grep -c 'waiting for a to write its WAL' "$WORK/snk.log" || true; }
# held RUNS: for 2 s, the a -> b direction waits on a's WAL and no reconcile runs.
held() {
	local i
	for i in $(seq 1 20); do
		[ "$(status_field .a_to_b.state)" = loading ] || fail "a -> b went on ($(status_field .a_to_b.state)) with a's WAL in memory"
		[ "$(status_field .reconcile.runs)" = "$1" ] && [ "$(status_field .reconcile.state)" != running ] ||
			fail "a reconcile ran while a's WAL was not on disk up to the replacing cursor: $(status_field .reconcile)"
		sleep 0.1
	done
}
cursor_ahead
stop_walwriter
lost=$(q a "SET synchronous_commit = off; INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'skipped') RETURNING pg_catalog.pg_current_xact_id()")
snk_start
start=$SECONDS
until [ "$(waits)" -gt 0 ]; do
	[ $((SECONDS - start)) -lt 10 ] || fail "snk did not wait for a's WAL after replacing the cursor"
	sleep 0.05
done
grep -q "\[a->b\] database a is not the one the cursor .* was taken in" "$WORK/snk.log" ||
	fail "the cursor ahead of a's xids was not noticed in the log"
held 0
[ "$(q b "SELECT count(*) FROM records WHERE data = 'skipped'")" = 0 ] || fail "'skipped' reached b before a's WAL was on disk"
# A synchronous commit flushes a's WAL, the asynchronous one's with it (the WAL writer
# continued first: it may have been stopped holding the lock that flush needs).
cont_walwriter
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'flush')"
wait_reconciled 0
[ "$(q b "SELECT count(*) FROM records WHERE data = 'skipped'")" = 1 ] || fail "the reconcile did not bring 'skipped' to b"
[ "$(status_field .reconcile.last.rows_repaired_into_b)" = 1 ] || fail "the reconcile repaired $(status_field .reconcile.last.rows_repaired_into_b) rows into b, want 1 ('skipped')"
log "cursor replaced, a's WAL awaited; the reconcile repaired 'skipped' (xid $lost) into b; crashing a"
crash_a
[ "$(q a "SELECT count(*) FROM records WHERE data = 'skipped'")" = 1 ] ||
	fail "a lost the row of xid $lost in the crash: its WAL was not on disk when the replacing cursor served"
for i in $(seq 1 20); do
	x=$(q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'after $i') RETURNING pg_catalog.pg_current_xact_id()")
	[ "$x" != "$lost" ] || fail "a handed out xid $lost again after the crash ('after $i')"
done
wait_for b "SELECT count(*) FROM records WHERE data LIKE 'after %'" 20 30
wait_synced 30
[ "$(status_field .reconcile.runs)" = 1 ] && [ "$(status_field .reconcile.last.rows_repaired_into_b)" = 1 ] ||
	fail "another reconcile ran, or repaired rows: $(status_field .reconcile)"

# The same replacement at a reconnect of a snk that has caught up.
runs=$(status_field .reconcile.runs)
n=$(waits)
stop_walwriter
q a "SET synchronous_commit = off; INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'copied 2')" >/dev/null
wait_for b "SELECT count(*) FROM records WHERE data = 'copied 2'" 1 10
cursor_ahead
[ "$(q a "SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity WHERE application_name LIKE 'snk %' AND datname = current_database()")" -gt 0 ] ||
	fail "no session of snk's in a to end"
start=$SECONDS
until [ "$(waits)" -gt "$n" ]; do
	[ $((SECONDS - start)) -lt 10 ] || fail "snk did not wait for a's WAL after replacing the cursor at the reconnect"
	sleep 0.05
done
held "$runs"
cont_walwriter
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'flush 2')"
wait_reconciled "$runs" 30
wait_synced 30
it_pass "a replacing cursor waited for a's WAL (xid $lost), at a start and at a reconnect, with no window and no reconcile meanwhile; the row survived a crash of a, and 20 rows after it came by the tail"
