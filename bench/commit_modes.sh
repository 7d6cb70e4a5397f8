#!/usr/bin/env bash
# bench/commit_modes.sh - idle latency with snk's commits durable against asynchronous
# ("synchronous_commit": "off"), interleaved on one pair of bench/lib.sh's durable clusters
# (not a test: it prints figures). Each round starts snk with one config, warms up with 50
# samples, takes SAMPLES (300) with probe, NOTIFY trigger, and stops it; ROUNDS (3) rounds.
# FILL=S first runs tst for S seconds, so the rounds read a table of that many rows;
# OLD=DIR adds a third config per round: DIR's snk (another build), durable commits.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
SAMPLES=${SAMPLES:-300}
ROUNDS=${ROUNDS:-3}
. bench/lib.sh
bench_setup
work=$SNK_IT_ROOT/modes
mkdir -p "$work"
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do P "$port" -d postgres -c "CREATE DATABASE bench" >/dev/null; done
bench_config "$work/sync.json" bench "$work/snk.sock"
bench_config "$work/async.json" bench "$work/snk.sock" '"synchronous_commit": "off"'
"$build/snk" -c "$work/sync.json" migrate >/dev/null
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
	P "$port" -d bench -v table=records -v channel=snk_records -f migrations/notify_trigger.sql 2>/dev/null
done
# run_snk BIN CONFIG: snk in the background until bench_snk_stop
run_snk() {
	"$1/snk" -c "$2" >>"$work/snk.log" 2>&1 &
	SNK_PID=$!
	bench_wait_snk "$work/snk.sock"
}
if [ -n "${FILL:-}" ]; then
	run_snk "$build" "$work/sync.json"
	"$build/tst" -c "$work/sync.json" --seconds "$FILL" --quiet
	sleep 3
	bench_snk_stop
	echo "table: $(P "$SNK_IT_PORT_A" -d bench -Atc "SELECT count(*) FROM records") rows"
fi
for r in $(seq 1 "$ROUNDS"); do
	for m in sync async ${OLD:+old}; do
		case $m in
		old) run_snk "$OLD" "$work/sync.json" ;;
		*) run_snk "$build" "$work/$m.json" ;;
		esac
		"$build/probe" -c "$work/sync.json" --samples 50 --gap-ms 10 >/dev/null
		echo "round $r $m: $("$build/probe" -c "$work/sync.json" --samples "$SAMPLES" --gap-ms 10 | tail -1)"
		bench_snk_stop
	done
done
