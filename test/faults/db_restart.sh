#!/usr/bin/env bash
# Fault: under full tst load, cluster b is restarted with pg_ctl -m fast, cluster a with
# -m immediate (a crash: no shutdown checkpoint, clients cut), and then b is stopped for
# 10 s (ten times reconnect_max_ms) while tst keeps writing to a, and started again.
# Checked: snk reconnects with bounded backoff and says so in its log and status, catches
# up, and both tables end identical with exactly tst's committed count.
. "$(dirname "$0")/../integration/lib.sh"
it_init faults_db_restart
# The test clusters trade durability for speed (synchronous_commit=off), and with it an
# immediate shutdown forgets commits it already acknowledged: tst would count rows the
# server then loses. A crash test needs acknowledged commits to survive, so this database
# commits synchronously (a per-database setting outranks the command line).
for s in a b; do q $s "ALTER DATABASE \"$DB\" SET synchronous_commit = on"; done
snk_start
"$TST" -c "$CFG" --seconds 32 --quiet >"$WORK/tst.out" 2>"$WORK/tst.err" &
TST_PID=$!
BG_PIDS+=($TST_PID)
sleep 3
log "restart b -m fast"
cluster_stop b fast
cluster_start b
sleep 3
log "restart a -m immediate"
cluster_stop a immediate
cluster_start a
sleep 3
log "stop b for 10 s"
cluster_stop b fast
sleep 5
[ "$(status_field .databases.b.connected)" = false ] || fail "status says b is connected while it is down"
[ "$(status_field .state)" = degraded ] || fail "state $(status_field .state) while b is down"
sleep 5
cluster_start b
log "b is back"
wait "$TST_PID" || fail "tst could not settle its totals: $(tail -3 "$WORK/tst.err")"
tst_totals "$WORK/tst.out"
assert_exact "$tt" 120
# whichever of b's sessions sees the loss first reconnects; the rest wait for the locks
grep -q "\[b\.\(read\|write\)\] will reconnect in" "$WORK/snk.log" || fail "no backoff logged for b"
grep -q "\[a.write\] connection lost\|\[a.read\] connection lost" "$WORK/snk.log" || fail "a's crash not logged"
# Backoff is bounded by reconnect_max_ms (1000 in tests): no wait logged above it.
awk '/will reconnect in/ {for (i = 1; i <= NF; i++) if ($i == "in") { if ($(i+1) + 0 > 1000) bad = 1 }} END {exit bad}' \
	"$WORK/snk.log" || fail "a reconnect wait exceeded reconnect_max_ms"
[ "$(status_field .databases.b.reconnects)" -ge 2 ] || fail "b's reconnects not counted"
[ "$(status_field .state)" = running ] || fail "state $(status_field .state) after recovery"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "b restarted (fast), a crashed (immediate), b down 10 s: $tt rows identical, none lost"
