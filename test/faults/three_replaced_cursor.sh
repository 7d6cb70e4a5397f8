#!/usr/bin/env bash
# Fault: three databases; b's cursor of a is replaced at start-up (set ahead of a's xids,
# as after a restore of a) while an asynchronous commit of a's is held in memory (a's WAL
# writer stopped by SIGSTOP): a -> b waits for a's WAL (replaced_cursor.sh).
# Checked: meanwhile a -> c copies the row by its tail, and a reconcile compares the pairs
# without a -> b (a and c, b and c), passes over a and b, and does not bring the row into
# b; once a synchronous commit flushes a's WAL, the next run starts at once (no 30 s
# back-off for a pair that only waited on a load) and repairs the row into b.
. "$(dirname "$0")/../integration/lib.sh"
THREE=1
it_init faults_three_replaced_cursor
. "$(dirname "$0")/wal_held.sh"
hold_wal_of_a
first_sync
snk_stop || fail "snk exit $?"
cursor_ahead
stop_walwriter
q a "SET synchronous_commit = off; INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'held')" >/dev/null
snk_start
start=$SECONDS
until grep -q 'waiting for a to write its WAL' "$WORK/snk.log"; do
	[ $((SECONDS - start)) -lt 10 ] || fail "snk did not wait for a's WAL after replacing the cursor"
	sleep 0.05
done
wait_for c "SELECT count(*) FROM records WHERE data = 'held'" 1 10
start=$SECONDS
until [ "$(status_field .reconcile.runs)" -ge 1 ]; do
	[ $((SECONDS - start)) -lt 20 ] || fail "no reconcile of the other pairs ran while a -> b waited: $(status_field .reconcile)"
	sleep 0.1
done
[ "$(status_field .reconcile.last.result)" = "a and b not compared: a->b was loading its cursors" ] ||
	fail "the run during the wait: $(status_field .reconcile.last.result)"
[ "$(status_field .a_to_b.state)" = loading ] || fail "a -> b went on ($(status_field .a_to_b.state)) with a's WAL in memory"
[ "$(q b "SELECT count(*) FROM records WHERE data = 'held'")" = 0 ] || fail "'held' reached b while a's WAL was in memory"
log "while a -> b waited: c has 'held' by a -> c's tail, the run passed over a and b, b lacks it"
cont_walwriter
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'flush')"
wait_for b "SELECT count(*) FROM records WHERE data = 'held'" 1 10
wait_synced 30
start=$SECONDS
until [ "$(status_field .reconcile.last.result)" = complete ] && [ "$(status_field .reconcile.state)" != running ]; do
	[ $((SECONDS - start)) -lt 10 ] || fail "no complete reconcile after the wait: $(status_field .reconcile)"
	sleep 0.1
done
[ "$(status_field .reconcile.last.rows_repaired_into_b)" = 1 ] || fail "the run after the wait: $(status_field .reconcile.last)"
it_pass "three databases: a -> b waited for a's WAL while a -> c and the pairs without it went on; the next run repaired 'held' into b at once"
