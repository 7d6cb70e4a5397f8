#!/usr/bin/env bash
# Injects: three databases and two snk processes with the same config (each its own
# control socket). First snk 1 alone: its b.write backend is terminated and b's writer
# lock taken by another session for 4 s; then the same with a, the first database in the
# lock order; then b's and c's at once. Then snk 2 starts beside it, and snk 1 is killed
# with SIGKILL.
# Checks: while another session holds b's (or a's) lock, snk 1 stays active with the other
# two locks, and rows between those two keep arriving; once the lock is released it holds
# all three again and the held-up direction delivers (no database is left out for good);
# with two locks taken it is not active and holds at most one, and takes all three back;
# snk 2 is a standby that holds no lock, and takes over after the kill with all three
# locks; every row inserted along the way is in all three, once; no reconcile repaired a
# row.
. "$(dirname "$0")/lib.sh"
THREE=1
it_init three_standby
S1=$WORK/snk1.sock S2=$WORK/snk2.sock
CFG1=$WORK/snk1.json CFG2=$WORK/snk2.json
CFG=$CFG1 SOCK=$S1 write_config '"lease_timeout_ms": 4000'
CFG=$CFG2 SOCK=$S2 write_config '"lease_timeout_ms": 4000'
st() { { "$SNKCTL" -s "$1" status --json 2>/dev/null || true; } | jq -r "$2"; }
CFG=$CFG1 SOCK=$S1 snk_start
PID1=$SNK_PID
wait_for c "SELECT count(*) FROM snk.cursor" 2 30
ROWS=0
# ins SIDE N: N rows into SIDE, counted.
ins() {
	q "$1" "INSERT INTO records (id, data) SELECT gen_random_uuid(), '$1' FROM generate_series(1, $2) g"
	ROWS=$((ROWS + $2))
}

# steal DB: terminates snk's DB.write and holds DB's writer lock from psql for 4 s,
# inserting rows meanwhile between the two other databases.
steal() {
	local d=$1 x y start n
	case $d in a) x=b y=c ;; b) x=a y=c ;; esac
	psql_side "$(port_of "$d")" -d "$DB" -At \
		-c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'snk $d.write'" \
		-c "SELECT pg_advisory_lock(1397639979, hashtext('public.records'))" -c "SELECT pg_sleep(4)" >/dev/null &
	local holder=$!
	sleep 1.5
	[ "$(st "$S1" .role)" = active ] && [ "$(st "$S1" '.lease.held | join(",")')" = "$x,$y" ] ||
		fail "with $d's lock taken snk 1 is $(st "$S1" .role) holding $(st "$S1" '.lease.held | join(",")'), want active with $x,$y"
	n=$(count "$x")
	ins "$x" 20
	wait_for "$y" "SELECT count(*) FROM records" "$((n + 20))" 10
	ins "$d" 10
	wait "$holder" || true
	start=$SECONDS
	until [ "$(st "$S1" '.lease.held | join(",")')" = "a,b,c" ]; do
		[ $((SECONDS - start)) -lt 15 ] || fail "15 s after $d's lock was released snk 1 holds $(st "$S1" '.lease.held | join(",")')"
		sleep 0.1
	done
	wait_synced 30
	log "$d's lock taken for 4 s: snk 1 stayed active on $x and $y, then took $d back; $(count a) rows in each"
}
ins a 50
ins b 50
ins c 50
wait_synced 30
steal b
steal a

# b's and c's locks taken at once: snk 1 no longer holds a majority and lets go of a too,
# then takes all three back once they are released.
for d in b c; do
	psql_side "$(port_of "$d")" -d "$DB" -At \
		-c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'snk $d.write'" \
		-c "SELECT pg_advisory_lock(1397639979, hashtext('public.records'))" -c "SELECT pg_sleep(4)" >/dev/null &
	BG_PIDS+=($!)
done
sleep 2
[ "$(st "$S1" .role)" != active ] && [ "$(st "$S1" '.lease.held | length')" -le 1 ] ||
	fail "with b's and c's locks taken snk 1 is $(st "$S1" .role) holding $(st "$S1" '.lease.held | join(",")')"
ins a 10
start=$SECONDS
until [ "$(st "$S1" '.lease.held | join(",")')" = "a,b,c" ] && [ "$(st "$S1" .role)" = active ]; do
	[ $((SECONDS - start)) -lt 20 ] || fail "after b's and c's locks were released snk 1 is $(st "$S1" .role) holding $(st "$S1" '.lease.held | join(",")')"
	sleep 0.1
done
wait_synced 30
log "b's and c's locks taken for 4 s: snk 1 let go of a, then took all three back; $(count a) rows in each"

CFG=$CFG2 SOCK=$S2 snk_start_quiet
PID2=$SNK_PID
BG_PIDS+=("$PID2")
start=$SECONDS
until [ "$(st "$S2" .role)" = standby ]; do
	[ $((SECONDS - start)) -lt 15 ] || fail "snk 2 is $(st "$S2" .role), want standby"
	sleep 0.1
done
[ "$(st "$S2" '.lease.held | length')" = 0 ] || fail "the standby holds $(st "$S2" '.lease.held')"
kill -9 "$PID1"
wait "$PID1" 2>/dev/null || true
t0=$SECONDS
until [ "$(st "$S2" '.lease.held | join(",")')" = "a,b,c" ] && [ "$(st "$S2" .role)" = active ]; do
	[ $((SECONDS - t0)) -lt 30 ] || fail "snk 2 did not take over: $(st "$S2" '{role, lease}' | tr -d ' \n')"
	sleep 0.1
done
log "snk 2 took over in about $((SECONDS - t0)) s"
ins a 30
ins b 30
ins c 30
SNK_PID=$PID2 SOCK=$S2
wait_synced 60
for d in a b c; do [ "$(count "$d")" = "$ROWS" ] || fail "$d has $(count "$d") rows, $ROWS were inserted"; done
assert_tail_only
snk_stop || fail "SIGTERM of snk 2 did not exit 0"
it_pass "three databases: b's and then a's lock taken for 4 s, snk 1 synced the other two and took it back; snk 2 stood by with no lock and took over all three after kill -9; $ROWS rows in each"
