#!/usr/bin/env bash
# Fault: snk's server sessions are killed from the server side (pg_terminate_backend on
# every session whose application_name starts with "snk ", on a random side) 15 times at random moments
# while tst writes at full speed.
# Checked: snk reconnects each time, both tables end identical with tst's exact count.
. "$(dirname "$0")/../integration/lib.sh"
it_init faults_terminate
snk_start
"$TST" -c "$CFG" --seconds 20 --quiet >"$WORK/tst.out" &
TST_PID=$!
BG_PIDS+=($TST_PID)
killed=0
for i in $(seq 1 15); do
	sleep "0.$((RANDOM % 9 + 1))"
	side=$([ $((RANDOM % 2)) = 0 ] && echo a || echo b)
	n=$(q "$side" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'snk %' AND datname = current_database()")
	killed=$((killed + n))
done
log "terminated $killed snk sessions"
[ "$killed" -ge 15 ] || fail "only $killed sessions terminated"
wait "$TST_PID"
tst_totals "$WORK/tst.out"
assert_exact "$tt" 60
r=$(( $(status_field .databases.a.reconnects) + $(status_field .databases.b.reconnects) ))
[ "$r" -ge 15 ] || fail "only $r reconnects counted"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "$killed sessions terminated server-side, $r reconnects: $tt rows identical"
