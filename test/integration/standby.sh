#!/usr/bin/env bash
# Injects: two snk processes with the same databases and tables (each its own control
# socket, metrics port and log; lease_timeout_ms 4000): X started first, then Y; then, under
# tst at full speed into both sides, ten alternating kill -9 of the active, each killed one
# restarted as the new standby; then SIGSTOP of the active for lease_timeout_ms + 4 s and
# SIGCONT; then SIGTERM of the active and of the survivor, and two snk started at the same
# instant; then tst stopped.
# Checks: Y becomes standby within 3 s, names X's a.write backend as the holder, holds exactly
# one session in a and none in b, logs its role once and no reconnect over 10 s, /readyz 503
# (X 200), snk_role{role="standby"} 1; each take-over after kill -9 within 5 s, measured from
# the kill to the survivor's first committed window (the first snk.cursor.updated_at after
# its lease.since, the database's clock on this host), printed as "takeover_ms:" with
# median and max; a frozen active is
# replaced within lease_timeout_ms + 3 s and, resumed, steps down by itself within 10 s,
# logging why; a gracefully stopped active is replaced; two snk started at once settle on one
# active and one standby within 5 s with no flood of sessions or log lines over 10 s; no
# cursor's xmax ever goes back (sampled every ~200 ms in both databases for the whole test);
# at the end both tables hold exactly tst's committed rows, no duplicate key, and no
# reconcile of any snk repaired a row.
. "$(dirname "$0")/lib.sh"
it_init standby
LEASE_MS=4000

# --- two snk of the same tables: slots 1 and 2, started and stopped by PID
PIDS=("" "" "")
SOCKS=("" "$WORK/snk1.sock" "$WORK/snk2.sock")
LOGS=("" "$WORK/snk1.log" "$WORK/snk2.log")
MPORTS=("" "$(free_port)" "")
MPORTS[2]=$(free_port)
while [ "${MPORTS[2]}" = "${MPORTS[1]}" ]; do MPORTS[2]=$(free_port); done
for i in 1 2; do
	CFG=$WORK/snk$i.json SOCK=${SOCKS[$i]} \
		write_config "\"metrics_listen\": \"127.0.0.1:${MPORTS[$i]}\", \"lease_timeout_ms\": $LEASE_MS"
done

# slot_start I: starts snk of slot I in the background (no wait: a standby is a result too).
slot_start() {
	"$SNK" -c "$WORK/snk$1.json" -v >>"${LOGS[$1]}" 2>&1 &
	PIDS[$1]=$!
}
# slot_kill9 I: SIGKILL and reap.
slot_kill9() {
	kill -KILL "${PIDS[$1]}"
	wait "${PIDS[$1]}" 2>/dev/null || true
	PIDS[$1]=
}
# slot_stop I: SIGTERM (after SIGCONT, should it be stopped) and wait; returns snk's exit code.
slot_stop() {
	local rc=0
	kill -CONT "${PIDS[$1]}" 2>/dev/null || true
	kill -TERM "${PIDS[$1]}"
	wait "${PIDS[$1]}" || rc=$?
	PIDS[$1]=
	return $rc
}
# sj I JQ: a field of slot I's snkctl status --json; empty while it does not answer.
sj() {
	{ timeout 5 "$SNKCTL" -s "${SOCKS[$1]}" status --json 2>/dev/null || true; } | { jq -r "$2" 2>/dev/null || true; }
}
role_of() { sj "$1" '.role // empty'; }
# wait_role I ROLE TIMEOUT_MS: until slot I's status says ROLE; sets WAITED_MS.
wait_role() {
	local i=$1 want=$2 limit=$3 t0 now got
	t0=$(date +%s%N)
	while :; do
		got=$(role_of "$i")
		now=$(date +%s%N)
		WAITED_MS=$(((now - t0) / 1000000))
		[ "$got" = "$want" ] && return 0
		kill -0 "${PIDS[$i]}" 2>/dev/null || fail "snk $i (pid ${PIDS[$i]}) exited while waiting for role $want"
		[ "$WAITED_MS" -le "$limit" ] || fail "snk $i: role is [$got] after ${WAITED_MS} ms, want $want within $limit ms"
		sleep 0.05
	done
}
# slot_sessions I SIDE: "count backend-pids" of slot I's sessions in this test's database on
# SIDE: the backends whose client port is one of slot I's TCP connections to that cluster.
slot_sessions() {
	local i=$1 side=$2 ports
	ports=$(ss -Htnp state established "( dport = :$(port_of "$side") )" | grep "pid=${PIDS[$i]}," |
		awk '{ n = split($3, p, ":"); print p[n] }' | paste -sd, - || true)
	if [ -z "$ports" ]; then
		echo "0 -"
		return 0
	fi
	q "$side" "SELECT count(*) || ' ' || coalesce(string_agg(pid::text, ',' ORDER BY pid), '-') FROM pg_stat_activity
		WHERE datname = current_database() AND client_port IN ($ports)"
}
# snk_total SIDE: all of snk's sessions in this test's database on SIDE, of any instance.
snk_total() {
	q "$1" "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'snk %'"
}
http_status() { http_get "${MPORTS[$1]}" "$2" | head -1 | tr -d '\r'; }
http_body() { http_get "${MPORTS[$1]}" "$2" | sed '1,/^\r$/d'; }
# info_lines FILE FROM: lines after line FROM of FILE that are not debug or noise.
info_lines() { tail -n +"$(($2 + 1))" "$1" | awk '$3 != "debug" && $3 != "noise"' | wc -l; }

standby_cleanup() {
	local rc=$? i
	set +e
	for i in 1 2; do
		if [ -n "${PIDS[$i]}" ] && kill -0 "${PIDS[$i]}" 2>/dev/null; then
			kill -CONT "${PIDS[$i]}"
			kill -TERM "${PIDS[$i]}"
			wait "${PIDS[$i]}" 2>/dev/null
		fi
	done
	if [ "$rc" != 0 ] || [ "$IT_OK" != 1 ]; then
		for i in 1 2; do
			echo "---- last 40 lines of snk $i's log (${LOGS[$i]}) ----" >&2
			tail -n 40 "${LOGS[$i]}" >&2 2>/dev/null
		done
	fi
	(exit "$rc")
	it_cleanup
}
trap standby_cleanup EXIT

# --- the cursor sampler: every 200 ms, every cursor row of each database, in one session
# per database (psql's \watch, flushed at each sample) that must last the whole test.
SAMPLERS=()
for s in a b; do
	printf '%s\n' "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8, '$s', source,
		pg_catalog.pg_snapshot_xmax(snapshot) FROM snk.cursor \\watch 0.2" |
		psql -X -q -h 127.0.0.1 -p "$(port_of $s)" -U postgres -d "$DB" -At >"$WORK/xmax.$s" 2>&1 &
	SAMPLERS+=($!)
	BG_PIDS+=($!)
done

# === 1. X active, then Y: standby with one session, named holder, quiet, not ready
T_START=$(date +%s%N)
slot_start 1
wait_role 1 active 15000
log "snk 1 (pid ${PIDS[1]}) active after $WAITED_MS ms"
for _ in $(seq 1 100); do [ "$(http_status 1 /readyz)" = "HTTP/1.0 200 OK" ] && break; sleep 0.1; done
XWRITE=$(q a "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE datname = current_database()
	AND application_name = 'snk a.write'")
case $XWRITE in '' | *,*) fail "want one 'snk a.write' session of snk 1 in a, got [$XWRITE]" ;; esac
read -r _ xa_pids <<<"$(slot_sessions 1 a)"
case ",$xa_pids," in *",$XWRITE,"*) ;; *) fail "'snk a.write' backend $XWRITE is not one of snk 1's sessions ($xa_pids)" ;; esac
[ "$(sj 1 '.lease.held | join(",")')" = "a,b" ] || fail "snk 1's lease.held: $(sj 1 .lease)"
[ "$(sj 1 .active)" = null ] || fail "snk 1 is active and its status names an active: $(sj 1 .active)"

slot_start 2
wait_role 2 standby 3000
log "snk 2 (pid ${PIDS[2]}) standby after $WAITED_MS ms"
[ "$(sj 2 .active.backend_pid)" = "$XWRITE" ] ||
	fail "snk 2 names backend $(sj 2 .active.backend_pid) as active, snk 1's a.write is $XWRITE: $(sj 2 .active)"
[ "$(sj 2 .active.database)" = a ] || fail "snk 2's active.database: $(sj 2 .active)"
[ "$(sj 2 .state)" = standby ] || fail "snk 2's state: $(sj 2 .state)"
[ "$(sj 2 '.lease.held | length')" = 0 ] || fail "a standby holds locks: $(sj 2 .lease)"
[ "$(sj 2 .lease.waiting_for)" = a ] || fail "snk 2's lease.waiting_for: $(sj 2 .lease)"
"$SNKCTL" -s "${SOCKS[2]}" status >"$WORK/status2.txt" || fail "snkctl status of a standby exited non-zero"
grep -qE "^role:? standby; active: database a backend pid $XWRITE[, ]" "$WORK/status2.txt" ||
	fail "text status of the standby: $(cat "$WORK/status2.txt")"
# Over 10 s: one session in a (always the same backend), none in b, X undisturbed.
Y_A=
until_s=$((SECONDS + 10))
while [ $SECONDS -lt $until_s ]; do
	read -r n pids <<<"$(slot_sessions 2 a)"
	[ "$n" = 1 ] || fail "snk 2 (standby) holds $n sessions in a ($pids), want 1"
	[ -z "$Y_A" ] || [ "$pids" = "$Y_A" ] || fail "snk 2's session in a changed from backend $Y_A to $pids: it reconnected"
	Y_A=$pids
	read -r n pids <<<"$(slot_sessions 2 b)"
	[ "$n" = 0 ] || fail "snk 2 (standby) holds $n sessions in b ($pids), want 0"
	sleep 0.5
done
[ "$(q a "SELECT application_name FROM pg_stat_activity WHERE pid = $Y_A")" = "snk a.write" ] ||
	fail "the standby's session is not 'snk a.write'"
[ "$(q a "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'snk a.write'
	AND pid <> $Y_A")" = "$XWRITE" ] || fail "snk 1's a.write is no longer backend $XWRITE"
n=$(grep -c " standby: the writer lock of a is held by backend pid " "${LOGS[2]}" || true)
[ "$n" = 1 ] || fail "snk 2 logged its standby line $n times, want once: $(grep -c . "${LOGS[2]}") lines"
grep -qE " standby: the writer lock of a is held by backend pid $XWRITE([^0-9]|$)" "${LOGS[2]}" ||
	fail "snk 2's standby line does not name backend $XWRITE: $(grep ' standby: ' "${LOGS[2]}")"
n=$(grep -c "will reconnect" "${LOGS[2]}" || true)
[ "$n" = 0 ] || fail "snk 2 logged $n 'will reconnect' lines as a standby"
[ "$(http_status 2 /readyz)" = "HTTP/1.0 503 Service Unavailable" ] || fail "standby /readyz: $(http_status 2 /readyz)"
grep -q "^standby" <<<"$(http_body 2 /readyz)" || fail "standby /readyz body: $(http_body 2 /readyz)"
[ "$(http_status 2 /livez)" = "HTTP/1.0 200 OK" ] || fail "standby /livez: $(http_status 2 /livez)"
[ "$(http_status 2 /healthz)" = "HTTP/1.0 200 OK" ] || fail "standby /healthz: $(http_status 2 /healthz) $(http_body 2 /healthz)"
grep -q "^standby" <<<"$(http_body 2 /healthz)" || fail "standby /healthz body: $(http_body 2 /healthz)"
[ "$(http_status 1 /readyz)" = "HTTP/1.0 200 OK" ] || fail "active /readyz: $(http_status 1 /readyz) $(http_body 1 /readyz)"
http_body 2 /metrics >"$WORK/metrics2.txt"
for r in starting:0 standby:1 active:0; do
	grep -qx "snk_role{role=\"${r%:*}\"} ${r#*:}" "$WORK/metrics2.txt" ||
		fail "standby /metrics lacks snk_role{role=\"${r%:*}\"} ${r#*:}: $(grep snk_role "$WORK/metrics2.txt")"
done
http_body 1 /metrics >"$WORK/metrics1.txt"
grep -qx 'snk_role{role="active"} 1' "$WORK/metrics1.txt" || fail "active /metrics lacks snk_role{role=\"active\"} 1"
log "part 1: snk 2 standby, holder backend $XWRITE, its one session backend $Y_A, 10 s quiet"

# === 2. full load, ten alternating kill -9 of the active
"$TST" -c "$CFG" --seconds 600 --quiet >"$WORK/tst.out" 2>"$WORK/tst.err" &
TST_PID=$!
BG_PIDS+=("$TST_PID")
sleep 1

# cursor_us SIDE: the latest updated_at of snk.cursor in SIDE, in µs since the epoch.
cursor_us() { q "$1" "SELECT coalesce(max((extract(epoch FROM updated_at) * 1000000)::int8), 0) FROM snk.cursor"; }
# takeover I T0: polls every ~20 ms until slot I is active and a cursor was written after
# it became active (lease.since): only its windows can be, since the locks it took are
# granted once the killed snk's sessions have ended, and a window of theirs may still
# commit until then (a unit sent whole before the kill). Sets TAKE_MS (that window's
# updated_at - T0, ns just before the kill) and SEEN_MS (when the poll saw it).
takeover() {
	local i=$1 t0=$2 since_us=0 r since va vb v x now
	while :; do
		if [ "$since_us" = 0 ]; then
			read -r r since <<<"$(sj "$i" '"\(.role) \(.lease.since)"')"
			[ "$r" != active ] || since_us=$(date -d "$since" +%s%6N) || fail "lease.since [$since] is not a time"
		fi
		if [ "$since_us" != 0 ]; then
			va=$(cursor_us a)
			vb=$(cursor_us b)
			v=0
			for x in "$va" "$vb"; do
				if [ "$x" -gt "$since_us" ] && { [ "$v" = 0 ] || [ "$x" -lt "$v" ]; }; then v=$x; fi
			done
			now=$(date +%s%N)
			if [ "$v" != 0 ]; then
				TAKE_MS=$(((v - t0 / 1000) / 1000))
				SEEN_MS=$(((now - t0) / 1000000))
				ACTIVE_MS=$(((since_us - t0 / 1000) / 1000))
				return 0
			fi
		fi
		now=$(date +%s%N)
		[ $(((now - t0) / 1000000)) -le 6000 ] ||
			fail "snk $i committed no window within 6 s of kill -9 of the active (role $r since $since)"
		sleep 0.02
	done
}

ACT=1
SBY=2
TIMES=()
SEENS=()
for k in $(seq 1 10); do
	[ "$(role_of $ACT)" = active ] || fail "kill $k: snk $ACT is not active: $(role_of $ACT)"
	[ "$(role_of $SBY)" = standby ] || fail "kill $k: snk $SBY is not standby: $(role_of $SBY)"
	tk=$(sj $SBY .lease.takeovers)
	sleep "0.$((RANDOM % 5 + 3))"
	t0=$(date +%s%N)
	slot_kill9 $ACT
	takeover $SBY "$t0"
	TIMES+=("$TAKE_MS")
	SEENS+=("$SEEN_MS")
	[ "$TAKE_MS" -le 5000 ] || fail "kill $k: take-over took $TAKE_MS ms, more than 5000"
	[ "$(sj $SBY .lease.takeovers)" = $((tk + 1)) ] || fail "kill $k: snk $SBY's lease.takeovers $(sj $SBY .lease.takeovers), was $tk"
	slot_start $ACT
	wait_role $ACT standby 5000
	log "kill $k of snk $ACT: snk $SBY active $ACTIVE_MS ms after, committed a window $TAKE_MS ms after (seen at $SEEN_MS ms); snk $ACT standby again"
	read -r ACT SBY <<<"$SBY $ACT"
done
sorted=$(printf '%s\n' "${TIMES[@]}" | sort -n)
median=$(echo "$sorted" | awk '{ v[NR] = $1 } END { print int((v[5] + v[6]) / 2) }')
max=$(echo "$sorted" | tail -1)
echo "takeover_ms: ${TIMES[*]} median $median max $max (seen by the poll: ${SEENS[*]})"

# === 3. SIGSTOP of the active for lease_timeout_ms + 4 s, then SIGCONT: it steps down
lines=$(wc -l <"${LOGS[$ACT]}")
t0=$(date +%s%N)
kill -STOP "${PIDS[$ACT]}"
wait_role $SBY active $((LEASE_MS + 3000))
log "snk $ACT frozen: snk $SBY active after $WAITED_MS ms (bound $((LEASE_MS + 3000)))"
left=$(((LEASE_MS + 4000) - ($(date +%s%N) - t0) / 1000000))
[ "$left" -le 0 ] || sleep "$(awk -v m="$left" 'BEGIN { printf "%.3f", m / 1000 }')"
kill -CONT "${PIDS[$ACT]}"
wait_role $ACT standby 10000
log "snk $ACT resumed: standby after $WAITED_MS ms"
tail -n +"$((lines + 1))" "${LOGS[$ACT]}" >"$WORK/resumed.log"
grep -q " stepping down to standby: " "$WORK/resumed.log" || fail "snk $ACT did not log 'stepping down to standby'"
[ "$(sj $ACT .lease.step_downs)" -ge 1 ] || fail "snk $ACT's lease.step_downs: $(sj $ACT .lease)"
[ "$(sj $ACT '.lease.held | length')" = 0 ] || fail "snk $ACT stepped down and holds: $(sj $ACT .lease)"
read -r ACT SBY <<<"$SBY $ACT"

# === 4. SIGTERM of the active: the standby takes over; then two snk at the same instant
t0=$(date +%s%N)
slot_stop $ACT || fail "SIGTERM of the active snk $ACT: exit $?"
wait_role $SBY active 3000
log "snk $ACT stopped by SIGTERM: snk $SBY active after $WAITED_MS ms"
slot_stop $SBY || fail "SIGTERM of snk $SBY: exit $?"
l1=$(wc -l <"${LOGS[1]}")
l2=$(wc -l <"${LOGS[2]}")
slot_start 1
slot_start 2
t0=$(date +%s%N)
while :; do
	r1=$(role_of 1)
	r2=$(role_of 2)
	case "$r1 $r2" in "active standby" | "standby active") break ;; esac
	[ $((($(date +%s%N) - t0) / 1000000)) -le 5000 ] || fail "started at once: roles [$r1] [$r2] after 5 s"
	sleep 0.05
done
log "started at once: snk 1 $r1, snk 2 $r2 after $((($(date +%s%N) - t0) / 1000000)) ms"
if [ "$r1" = active ]; then ACT=1 SBY=2; else ACT=2 SBY=1; fi
maxa=0
maxb=0
S_A=
until_s=$((SECONDS + 10))
while [ $SECONDS -lt $until_s ]; do
	[ "$(role_of $ACT) $(role_of $SBY)" = "active standby" ] || fail "roles changed: snk $ACT $(role_of $ACT), snk $SBY $(role_of $SBY)"
	read -r n pids <<<"$(slot_sessions $SBY a)"
	[ "$n" = 1 ] || fail "the standby snk $SBY holds $n sessions in a ($pids), want 1"
	[ -z "$S_A" ] || [ "$pids" = "$S_A" ] || fail "the standby's session in a changed from $S_A to $pids: it reconnected"
	S_A=$pids
	read -r n pids <<<"$(slot_sessions $SBY b)"
	[ "$n" = 0 ] || fail "the standby snk $SBY holds $n sessions in b ($pids), want 0"
	n=$(snk_total a)
	[ "$n" -le "$maxa" ] || maxa=$n
	n=$(snk_total b)
	[ "$n" -le "$maxb" ] || maxb=$n
	sleep 0.2
done
# The active: a.read, write_connections (2) writers and a reconcile session at most; the standby one more in a.
[ "$maxa" -le 5 ] && [ "$maxb" -le 4 ] || fail "snk sessions after starting two at once: a $maxa (max 5), b $maxb (max 4)"
# The standby: its start and its role (5 lines); the active: its start, its sessions, its
# cursors (13) and, if one is owed, a reconcile's 4. A flood is hundreds.
na=$(info_lines "${LOGS[$ACT]}" "$([ $ACT = 1 ] && echo "$l1" || echo "$l2")")
ns=$(info_lines "${LOGS[$SBY]}" "$([ $SBY = 1 ] && echo "$l1" || echo "$l2")")
[ "$ns" -lt 10 ] || fail "the standby snk $SBY logged $ns lines (info and above) in its first 10 s, want under 10"
[ "$na" -lt 25 ] || fail "the active snk $ACT logged $na lines (info and above) in its first 10 s, want under 25"
log "part 4: at most $maxa snk sessions in a, $maxb in b; the active logged $na lines, the standby $ns"

# === 5. tst stops; the active catches up; exact counts, cursors never went back
kill -TERM "$TST_PID"
wait "$TST_PID" || fail "tst exited non-zero: $(tail -3 "$WORK/tst.err")"
tst_totals "$WORK/tst.out"
[ "$ta" -gt 0 ] && [ "$tb" -gt 0 ] || fail "tst committed a=$ta b=$tb"
log "tst committed a=$ta b=$tb total=$tt"
assert_exact "$tt" 60
for s in a b; do
	n=$(q $s "SELECT count(*) - count(DISTINCT id) FROM records")
	[ "$n" = 0 ] || fail "$n duplicate keys in $s"
done
[ "$(q b "SELECT count(*) FROM snk.cursor WHERE source = 'a:public.records'")" = 1 ] || fail "no a->b cursor in b"
[ "$(q a "SELECT count(*) FROM snk.cursor WHERE source = 'b:public.records'")" = 1 ] || fail "no b->a cursor in a"
for p in "${SAMPLERS[@]}"; do
	kill -0 "$p" 2>/dev/null || fail "a cursor sampler ended early: $(tail -2 "$WORK/xmax.a" "$WORK/xmax.b")"
	kill -TERM "$p"
	wait "$p" 2>/dev/null || true # it flushed each sample
done
# Every row: when, side, source, xmax; a sample every 200 ms of each of the two cursors.
bad=$(cat "$WORK/xmax.a" "$WORK/xmax.b" | grep -cvE '^[0-9]+\|[ab]\|[ab]:public\.records\|[0-9]+$' || true)
[ "$bad" = 0 ] || fail "the samplers printed $bad lines that are not samples: $(grep -vE '^[0-9]+\|' "$WORK/xmax.a" "$WORK/xmax.b" | head -3)"
nsamples=$(cat "$WORK/xmax.a" "$WORK/xmax.b" | wc -l)
span=$((($(date +%s%N) - T_START) / 1000000))
[ "$nsamples" -ge $((span / 400)) ] || fail "the cursor samplers took only $nsamples samples in $span ms"
back=$(sort -t'|' -k1,1n "$WORK/xmax.a" "$WORK/xmax.b" |
	awk -F'|' '{ k = $2 "|" $3; if (k in last && $4 + 0 < last[k] + 0) { print k " went from " last[k] " to " $4 " at " $1; exit }; last[k] = $4 }')
[ -z "$back" ] || fail "a cursor went back: $back"
log "$nsamples cursor samples in $span ms, no xmax ever went back"
for i in $ACT $SBY; do
	SNK_PID=${PIDS[$i]} SOCK=${SOCKS[$i]} assert_tail_only "${LOGS[$i]}"
done
slot_stop $SBY || fail "SIGTERM of the standby snk $SBY: exit $?"
slot_stop $ACT || fail "SIGTERM of the active snk $ACT: exit $?"
it_pass "standby: 10 kill -9 take-overs (median $median ms, max $max ms), a freeze and a step-down, two at once; $tt rows exact, $nsamples cursor samples never went back"
