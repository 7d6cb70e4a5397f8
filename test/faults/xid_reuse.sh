#!/usr/bin/env bash
# Fault: a crash makes the source hand out again an xid that snk saw end. A row is
# committed into a asynchronously (visible at once, its WAL still in memory: the WAL
# writer of a waits 10 s here), snk copies it to b, and a crashes (pg_ctl -m immediate)
# before its WAL reaches the disk: the row is gone from a, and a's next transaction gets
# the same xid. A cursor stored as "that xid has ended" would skip the new transaction's
# row. snk stores only snapshots whose ended xids are on the source's disk (snk_durable).
# Checked: the xid was reused; the row of the transaction that reused it reaches b by the
# tail (no reconcile repaired a row); b's stored cursor never saw the lost xid end.
. "$(dirname "$0")/../integration/lib.sh"
it_init faults_xid_reuse
# Every commit of this database waits for the flush but the one the crash is to lose.
. "$(dirname "$0")/wal_held.sh"
hold_wal_of_a
first_sync
cursor_sees() { q b "SELECT pg_catalog.pg_visible_in_snapshot('$1'::xid8, snapshot) FROM snk.cursor WHERE source = 'a:public.records'"; }

# An asynchronous commit wakes a hibernating WAL writer, which then flushes at once: a
# first one wakes it, so that it sleeps its 10 s through the second, the one the crash
# loses. Whether the writer's 10 s end before the crash is up to the server: the
# scenario is tried up to three times, and checked on the try that lost the xid.
n=0 reused=
while [ -z "$reused" ]; do
	n=$((n + 1))
	[ "$n" -le 3 ] || fail "in 3 tries no transaction of a reused the xid of a lost commit (the last: $lost, then $x): its WAL reached the disk each time, so this run shows nothing"
	q a "SET synchronous_commit = off; INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'wake $n')" >/dev/null
	sleep 0.5
	# The commit the crash loses: its row is visible and snk copies it.
	lost=$(q a "SET synchronous_commit = off; INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'lost $n') RETURNING pg_catalog.pg_current_xact_id()")
	wait_for b "SELECT count(*) FROM records WHERE data = 'lost $n'" 1 10
	sleep 0.5 # a few idle passes, each of which could store a cursor
	sees=$(cursor_sees "$lost")
	log "row 'lost $n' (xid $lost) copied to b; b's cursor sees it end: $sees; crashing a"
	crash_a
	# a's next transactions: one of them takes the lost row's xid again.
	for i in $(seq 1 20); do
		x=$(q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'after $n $i') RETURNING pg_catalog.pg_current_xact_id()")
		[ "$x" != "$lost" ] || reused="after $n $i"
		[ "$x" -lt "$lost" ] || break
	done
	[ -n "$reused" ] || log "xid $lost was not reused (the next got $x): the WAL reached the disk; again"
done
[ "$sees" = f ] || fail "b's stored cursor saw xid $lost end, whose WAL a then lost"
[ "$(q a "SELECT count(*) FROM records WHERE data = 'lost $n'")" = 0 ] || fail "a kept the row whose commit it was to lose"
log "after the crash, '$reused' took xid $lost again"
wait_for b "SELECT count(*) FROM records WHERE data = '$reused'" 1 30
wait_for b "SELECT count(*) FROM records WHERE data LIKE 'after $n %'" "$i" 10
assert_tail_only # the tail delivered the row of the reused xid: no reconcile repaired it
it_pass "a crash lost xid $lost, which '$reused' reused; the tail copied that row to b (b keeps 'lost $n', which a lost; try $n)"
