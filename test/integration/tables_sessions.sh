#!/usr/bin/env bash
# Injects: 50 tables of the mixed shapes (tables_lib.sh) in one snk, write_connections 2,
# the NOTIFY trigger on every table, 2,000 rows per table in a before snk starts (the first
# copy, and the reconcile after it); snk restarted; then snk idle; then pgbench on both sides
# inserting into random tables (3 clients each, 10 s); then snkctl reconcile.
# Checks: snk's sessions per database in pg_stat_activity (application_name LIKE 'snk %'),
# sampled every 0.1 s in each phase of the second start (the first one copies, then
# reconciles): idle and under load, before any reconcile ran, never more than
# 1 + write_connections = 3; during the reconcile and after, never more than
# 2 + write_connections = 4, and the read and write sessions alone never more than 3; the
# samples saw snk's read sessions (the query does count snk) and were taken while status
# said the reconcile was running; all 50 tables end identical with exactly the rows
# committed, and no reconcile repaired a row. Prints the counts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tables_lib.sh"
it_init tables_sessions --no-migrate --no-trigger
WRITE_CONNECTIONS=2

T=()
for i in $(seq 1 50); do T+=("public.s$(printf %02d "$i"):${TABLES_SHAPES[$(((i - 1) % 7))]}"); done
NAMES=()
for nt in "${T[@]}"; do NAMES+=("${nt%:*}"); done
tables_setup a "${T[@]}"
tables_setup b "${T[@]}"
write_config "\"tables\": $(tables_json "${T[@]}"), \"notify_channel\": \"snk_sessions\", \"write_connections\": $WRITE_CONNECTIONS"
"$SNK" -c "$CFG" migrate >"$WORK/migrate.log" 2>&1 || fail "snk migrate of 50 tables failed: $(cat "$WORK/migrate.log")"
tables_install_triggers a snk_sessions "${NAMES[@]}"
tables_install_triggers b snk_sessions "${NAMES[@]}"
q a "SELECT it_touch(2000)" >/dev/null
log "50 tables, 2,000 rows each in a; write_connections $WRITE_CONNECTIONS"

# sample_once: snk_sessions on both sides; keeps each side's maximum of all of snk's
# sessions in MAX, of those but the reconcile's in MAXRW, every application_name in SEEN;
# RC_RAN=1 once status says this snk has run (or is running) a reconcile.
declare -A MAX MAXRW
SUMMARY=
SEEN=
RC_RAN=0
sample_once() {
	local side c names rw
	for side in a b; do
		read -r c names <<<"$(snk_sessions $side)"
		rw=$(echo "$names" | tr ',' '\n' | grep -c '^snk [ab]\.\(read\|write[0-9]*\)$' || true)
		[ "$c" -le "${MAX[$side]:-0}" ] || MAX[$side]=$c
		[ "$rw" -le "${MAXRW[$side]:-0}" ] || MAXRW[$side]=$rw
		SEEN="$SEEN,$names"
	done
	[ "$RC_RAN" = 1 ] || [ "$(status_field '.reconcile.runs > 0 or .reconcile.state == "running"')" = false ] || RC_RAN=1
}
# phase NAME: prints and checks the phase's maxima, then starts the next phase. The read
# and write sessions never exceed 1 + write_connections per database; neither do all of
# snk's sessions until a reconcile ran, and after that 2 + write_connections (the
# reconcile's session of each database stays open once it ran).
phase() {
	local rw=$((1 + WRITE_CONNECTIONS)) all=$((1 + WRITE_CONNECTIONS + RC_RAN)) why="no reconcile ran yet"
	[ "$RC_RAN" = 0 ] || why="a reconcile ran"
	log "$1: at most ${MAX[a]} sessions of snk in a (${MAXRW[a]} read/write), ${MAX[b]} in b (${MAXRW[b]}); limits $all ($why), $rw read/write; seen: $(echo "$SEEN" | tr ',' '\n' | grep -v '^-\?$' | sort -u | tr '\n' ' ')"
	[ "${MAXRW[a]}" -le $rw ] && [ "${MAXRW[b]}" -le $rw ] ||
		fail "$1: snk held ${MAXRW[a]} read/write sessions in a and ${MAXRW[b]} in b, more than 1 + write_connections = $rw"
	[ "${MAX[a]}" -le "$all" ] && [ "${MAX[b]}" -le "$all" ] ||
		fail "$1: snk held ${MAX[a]} sessions in a and ${MAX[b]} in b, more than $all ($why)"
	SUMMARY="$SUMMARY $1=${MAX[a]}/${MAX[b]}"
	MAX=([a]=0 [b]=0)
	MAXRW=([a]=0 [b]=0)
	SEEN=
}

# The first start copies the 100,000 rows and reconciles after; a second start, from the
# stored cursors, owes nothing: its idle and load phases run before any reconcile.
snk_start
tables_wait_synced 120 "${NAMES[@]}"
start=$SECONDS
until [ "$(status_field '.reconcile.runs > 0 and .reconcile.state != "running"')" = true ]; do
	[ $((SECONDS - start)) -lt 60 ] || fail "the reconcile after the first copy did not end within 60 s: $(status_field .reconcile)"
	sleep 0.2
done
snk_stop || fail "SIGTERM did not exit 0"
snk_start
# idle: nothing to copy
for _ in $(seq 1 30); do
	sample_once
	sleep 0.1
done
echo "$SEEN" | grep -q 'snk a\.read' && echo "$SEEN" | grep -q 'snk b\.read' ||
	fail "no 'snk a.read' and 'snk b.read' among the sessions: the count does not see snk ($SEEN)"
phase idle

run_load a 10 3 80 "$WORK/load-a.out" &
pa=$!
run_load b 10 3 80 "$WORK/load-b.out" &
pb=$!
BG_PIDS+=("$pa" "$pb")
while kill -0 $pa 2>/dev/null || kill -0 $pb 2>/dev/null; do
	sample_once
	sleep 0.1
done
wait $pa || fail "the load on a failed"
wait $pb || fail "the load on b failed"
phase load
tables_wait_synced 60 "${NAMES[@]}"

runs=$(status_field .reconcile.runs)
"$SNKCTL" -s "$SOCK" reconcile >"$WORK/reconcile.out" || fail "snkctl reconcile: $(cat "$WORK/reconcile.out")"
start=$SECONDS
running=0
while :; do
	read -r r st <<<"$(status_field '"\(.reconcile.runs) \(.reconcile.state)"')"
	[ "$r" -le "$runs" ] || [ "$st" = running ] || break
	[ $((SECONDS - start)) -lt 120 ] || fail "the reconcile did not end within 120 s: $(status_field .reconcile)"
	sample_once
	[ "$st" != running ] || running=$((running + 1))
	sleep 0.05
done
for _ in $(seq 1 10); do # and just after it
	sample_once
	sleep 0.1
done
[ "$(status_field .reconcile.last.result)" = complete ] || fail "the reconcile did not complete: $(status_field .reconcile.last)"
[ "$running" -gt 0 ] && echo "$SEEN" | grep -q 'snk a\.reconcile' ||
	fail "no sample was taken while the reconcile ran ($running samples; seen: $SEEN)"
log "$running samples while the reconcile ran"
[ "$RC_RAN" = 1 ] || fail "status never said a reconcile ran"
phase reconcile

tables_assert_identical "${NAMES[@]}"
tables_assert_counts "${NAMES[@]}"
assert_tail_only
snk_stop || fail "SIGTERM did not exit 0"
it_pass "50 tables, write_connections $WRITE_CONNECTIONS: snk's sessions per database (a/b)$SUMMARY"
