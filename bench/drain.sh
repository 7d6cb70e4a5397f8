#!/usr/bin/env bash
# bench/drain.sh - backlog drain against the COPY pipe, interleaved over several rounds
# (not a test: it prints figures).
# ROWS (1,000,000) rows are written into a once. Each round then drains them into an
# emptied b with snk for every value of write_connections in SESSIONS ("1 2 3"), and
# runs the COPY pipe of bench/run step 4 into an emptied table LIKE records INCLUDING
# ALL; the order rotates every round, so the machine's drift falls on all of them.
# Prints each run (with the server CPU of both clusters and the CPU stolen by the host)
# and the medians; writes bench/results/drain.json.
set -euo pipefail
shopt -s inherit_errexit # a failed step inside $(run_one) ends the script too
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
ROUNDS=${ROUNDS:-4}
SESSIONS=${SESSIONS:-"1 2 3"}
res=$PWD/bench/results
mkdir -p "$res"
. bench/lib.sh
bench_setup
work=$SNK_IT_ROOT/drain
mkdir -p "$work"
cfg=$work/config.json
write_cfg() { bench_config "$cfg" drain "$work/snk.sock" "\"write_connections\": $1"; }
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do P "$port" -d postgres -c "CREATE DATABASE drain"; done
write_cfg 1
"$build/snk" -c "$cfg" migrate >/dev/null
"$build/tst" -c "$cfg" --side a --batches $((ROWS / 1000)) --quiet >/dev/null
P "$SNK_IT_PORT_A" -d drain -c "VACUUM ANALYZE records" -c "CHECKPOINT"
P "$SNK_IT_PORT_B" -d drain -c "CREATE TABLE records_copy (LIKE records INCLUDING ALL)"

# run_one VARIANT: one drain (VARIANT = a number of write sessions) or the COPY pipe
# (VARIANT = copy) into an empty b; prints "VARIANT rows/s a_cpu_s b_cpu_s steal%".
run_one() {
	local t0 s ca cb c0 tck
	tck=$(getconf CLK_TCK)
	if [ "$1" = copy ]; then
		P "$SNK_IT_PORT_B" -d drain -c "TRUNCATE records_copy" -c "CHECKPOINT"
	else
		P "$SNK_IT_PORT_B" -d drain -c "TRUNCATE records" -c "DELETE FROM snk.cursor" -c "CHECKPOINT"
		write_cfg "$1"
	fi
	ca=$(cluster_cpu a) cb=$(cluster_cpu b) c0=$(cpu_snap)
	t0=$(now)
	if [ "$1" = copy ]; then
		P "$SNK_IT_PORT_A" -d drain -c "COPY (SELECT id, data FROM records) TO STDOUT" |
			P "$SNK_IT_PORT_B" -d drain -c "COPY records_copy (id, data) FROM STDIN"
	else
		"$build/snk" -c "$cfg" >>"$work/snk.log" 2>&1 &
		SNK_PID=$!
		bench_wait_snk "$work/snk.sock"
		bench_wait_copied "$work/snk.sock" "$ROWS" "$work/snk.log"
	fi
	s=$(echo "$(now) - $t0" | bcx)
	if [ "$1" != copy ]; then
		bench_snk_stop
		[ "$(P "$SNK_IT_PORT_B" -d drain -Atc "SELECT count(*) FROM records")" = "$ROWS" ] ||
			{ echo "b does not hold the $ROWS rows after the drain" >&2; exit 1; }
	fi
	echo "$1 $(echo "$ROWS / $s" | bcx) $(echo "scale=1; ($(cluster_cpu a) - $ca) / $tck" | bcx)" \
		"$(echo "scale=1; ($(cluster_cpu b) - $cb) / $tck" | bcx) $(cpu_noise "$c0" | cut -d' ' -f1)"
}

bench_rounds "$ROUNDS" "$SESSIONS copy" "$work/runs"
json="{\"date\": \"$(date -u +%FT%TZ)\", \"rows\": $ROWS, \"rounds\": $ROUNDS"
echo
bench_medians "$work/runs" 101 all "all runs"
echo
bench_medians "$work/runs" 10 steal_under_10 "runs with under 10% steal"
echo "$json}" >"$res/drain.json"
echo "wrote $res/drain.json"
