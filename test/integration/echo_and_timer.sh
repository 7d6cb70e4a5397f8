#!/usr/bin/env bash
# Injects: rows inserted into a only; then again with b's NOTIFY trigger of an older
# version (one that notifies for snk's copies too); then, with the trigger dropped, rows
# into b.
# Checks: the copies in b are marked snk_xid NULL and never read back by b->a (its
# rows_read stays 0 while only a is written); a's rows are untouched (no echo inserts:
# a's row count is exactly what was inserted there); the copies send no NOTIFY
# (migrations/notify_trigger.sql skips sessions with snk.copy = on), and those an older
# trigger sends are recognised as snk's own, and at the read session's next connect snk
# names the older trigger with the command that replaces it; without the trigger the timer
# alone still syncs.
. "$(dirname "$0")/lib.sh"
it_init echo_and_timer
snk_start
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'row ' || i FROM generate_series(1, 5000) i"
wait_for b "SELECT count(*) FROM records" 5000 20
sleep 1 # several timer passes in both directions
[ "$(q b "SELECT count(*) FROM records WHERE snk_xid IS NOT NULL")" = 0 ] || fail "copies in b not marked as snk's"
[ "$(status_field .b_to_a.rows_read)" = 0 ] || fail "b->a read $(status_field .b_to_a.rows_read) rows: echo"
[ "$(status_field .a_to_b.rows_read)" = 5000 ] || fail "a->b read $(status_field .a_to_b.rows_read) rows, want 5000"
[ "$(count a)" = 5000 ] || fail "a changed"
[ "$(status_field .databases.b.own_notifies_ignored)" = 0 ] && [ "$(status_field .databases.b.notifies)" = 0 ] ||
	fail "snk's copies into b sent NOTIFYs ($(status_field .databases.b.own_notifies_ignored) of its own, $(status_field .databases.b.notifies) others)"

# An older trigger, installed before it skipped snk's sessions: snk's copies notify, and
# snk must know those notifications for its own.
older_trigger_function b
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'old trigger ' || i FROM generate_series(1, 10) i"
wait_for b "SELECT count(*) FROM records" 5010 20
sleep 0.5
own=$(status_field .databases.b.own_notifies_ignored)
[ "$own" -ge 1 ] || fail "b's NOTIFYs caused by snk's own inserts were not recognised ($own)"
[ "$(status_field .databases.b.notifies)" = 0 ] || fail "snk's own NOTIFYs counted as others'"
[ "$(status_field .b_to_a.rows_read)" = 0 ] || fail "b->a read $(status_field .b_to_a.rows_read) rows: echo"
# The older trigger is named at the read session's next connect (one warning per connect).
q b "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'snk b.read'" >/dev/null
advice='\[b.read\] database b: the NOTIFY trigger snk_notify on public.records is of an older notify_trigger.sql: it notifies for snk.s own copies too.*run psql .*notify_trigger.sql again to replace it'
for _ in $(seq 1 100); do grep -q "$advice" "$WORK/snk.log" && break; sleep 0.1; done
grep -q "$advice" "$WORK/snk.log" || fail "no warning naming b's older NOTIFY trigger after b.read reconnected"

q a "DROP TRIGGER snk_notify ON records"
q b "DROP TRIGGER snk_notify ON records"
before=$(status_field .databases.b.notifies)
q b "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'timer ' || i FROM generate_series(1, 100) i"
wait_for a "SELECT count(*) FROM records" 5110 10
[ "$(status_field .databases.b.notifies)" = "$before" ] || fail "a notification arrived without a trigger?"
wait_synced 10
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "no echo (b->a read 0 of 5010 copies), no NOTIFY for snk's copies, an older trigger's ignored ($own), timer-only sync works"
