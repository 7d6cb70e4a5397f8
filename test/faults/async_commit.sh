#!/usr/bin/env bash
# Fault: snk commits asynchronously ("synchronous_commit": "off") and the databases crash
# (pg_ctl -m immediate) under load, losing commits of snk they had acknowledged. The WAL
# writers of both clusters wait 10 s here, so a crash loses every copy whose WAL was
# still in memory. tst's own commits are synchronous: what it counts is durable.
#   1. tst writes into a; into b, one row every 20 ms (each commit flushes b's WAL, and
#      b -> a then stores a cursor of b's xids, snk's unflushed copies among them); b
#      crashes meanwhile.
#   2. tst writes into both; a crashes while it does, then b again.
# Checked: the b -> a cursor stored in a before b came back does not see b's first xid
# after the crash end (b hands out again the xids whose WAL it lost: a cursor that saw
# one end would skip the rows of its new transaction); both tables end with exactly the
# rows committed, none lost or duplicated, and no reconcile repaired a row: the cursor
# rows of a -> b went back with the copies they covered, and no cursor skipped a row.
. "$(dirname "$0")/../integration/lib.sh"
it_init faults_async_commit
for s in a b; do q $s "ALTER DATABASE \"$DB\" SET synchronous_commit = on"; done
system() {
	psql_side "$(port_of "$1")" -d postgres -c "$2" -c "SELECT pg_catalog.pg_reload_conf()" >/dev/null
}
DOWN=
async_cleanup() {
	local rc=$?
	set +e
	[ -z "$DOWN" ] || cluster_start "$DOWN"
	for s in a b; do system $s "ALTER SYSTEM RESET wal_writer_delay" || echo "could not reset cluster $s" >&2; done
	(exit "$rc")
	it_cleanup
}
trap async_cleanup EXIT
for s in a b; do system $s "ALTER SYSTEM SET wal_writer_delay = '10s'"; done
# crash SIDE: pg_ctl -m immediate, and up again
crash() {
	DOWN=$1
	cluster_stop "$1" immediate
	cluster_start "$1"
	DOWN=
}
write_config '"synchronous_commit": "off"'
snk_start
wait_synced 30
for s in a b; do
	[ "$(status_field .databases.$s.synchronous_commit)" = off ] || fail "status says $s's sessions commit with synchronous_commit $(status_field .databases.$s.synchronous_commit)"
done

log "1. tst into a for 8 s, a row into b every 20 ms; b crashes after 5 s"
"$TST" -c "$CFG" --seconds 8 --side a --quiet >"$WORK/tst1.out" 2>"$WORK/tst1.err" &
TST_PID=$!
BG_PIDS+=($TST_PID)
for i in $(seq 1 400); do echo "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'slow $i');"; sleep 0.02; done |
	psql_side "$SNK_IT_PORT_B" -d "$DB" >/dev/null 2>&1 &
BG_PIDS+=($!)
sleep 5
copies=$(q b "SELECT count(*) FROM records WHERE snk_xid IS NULL")
DOWN=b
cluster_stop b immediate
cursor=$(q a "SELECT snapshot FROM snk.cursor WHERE source = 'b:public.records'")
cluster_start b
DOWN=
first_xid=$(q b "SELECT pg_catalog.pg_current_xact_id()")
kept=$(q b "SELECT count(*) FROM records WHERE snk_xid IS NULL")
log "b had at least $copies of snk's copies just before its crash, $kept after; b -> a's cursor in a: $cursor; b's first xid since: $first_xid"
[ "$(q a "SELECT pg_catalog.pg_visible_in_snapshot('$first_xid'::xid8, '$cursor'::pg_snapshot)")" = f ] ||
	fail "the cursor $cursor stored in a saw xid $first_xid end, which b hands out again after its crash"
wait "$TST_PID" || fail "tst could not settle its totals: $(tail -3 "$WORK/tst1.err")"
tst_totals "$WORK/tst1.out"
first=$tt

log "2. tst into both for 20 s; a crashes, then b"
"$TST" -c "$CFG" --seconds 20 --quiet >"$WORK/tst2.out" 2>"$WORK/tst2.err" &
TST_PID=$!
BG_PIDS+=($TST_PID)
sleep 6
crash a
sleep 6
crash b
wait "$TST_PID" || fail "tst could not settle its totals: $(tail -3 "$WORK/tst2.err")"
tst_totals "$WORK/tst2.out"
slow=$(q b "SELECT count(*) FROM records WHERE data LIKE 'slow %'") # b's commits are durable
assert_exact $((first + tt + slow)) 120
assert_tail_only # the tail alone brought back what the crashes took: no reconcile repaired a row
it_pass "snk committing asynchronously, three crashes under load: $((first + tt + slow)) rows identical, none lost"
