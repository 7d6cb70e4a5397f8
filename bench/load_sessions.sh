#!/usr/bin/env bash
# bench/load_sessions.sh - latency under tst at full speed with one write session per
# database against two (write_connections), interleaved (not a test: it prints figures).
# Each round runs snk with each setting for SECONDS_EACH (20) seconds of tst at full
# speed, with the probe inserting every 50 ms; the order alternates between rounds.
# Prints every run with the CPU time stolen by the host during it, then the median p99
# of each setting.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-4}
SECONDS_EACH=${SECONDS_EACH:-20}
. bench/lib.sh
bench_setup
work=$SNK_IT_ROOT/load
mkdir -p "$work"
cfg=$work/config.json
write_cfg() { bench_config "$cfg" bench "$work/snk.sock" "\"write_connections\": $1"; }
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do P "$port" -d postgres -c "CREATE DATABASE bench"; done
write_cfg 1
"$build/snk" -c "$cfg" migrate >/dev/null
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
	P "$port" -d bench -v table=records -v channel=snk_records -c "SET client_min_messages = warning" \
		-f migrations/notify_trigger.sql >/dev/null
done
: >"$work/runs"
printf '%-6s %-9s %16s %14s %8s\n' round sessions "p50 / p99 ms" "tst rows" steal%
order="1 2"
for r in $(seq 1 "$ROUNDS"); do
	for w in $order; do
		write_cfg "$w"
		"$build/snk" -c "$cfg" >>"$work/snk.log" 2>&1 &
		SNK_PID=$!
		bench_wait_snk "$work/snk.sock"
		sleep 1
		c0=$(cpu_snap)
		"$build/tst" -c "$cfg" --seconds "$SECONDS_EACH" --quiet >"$work/tst.out" &
		tst_pid=$!
		pr=$("$build/probe" -c "$cfg" --seconds "$SECONDS_EACH" --gap-ms 50 | tail -1)
		wait "$tst_pid"
		steal=$(cpu_noise "$c0" | cut -d' ' -f1)
		bench_snk_stop
		p99=$(jsonfield "$pr" p99_ms)
		printf '%-6s %-9s %16s %14s %8s\n' "$r" "$w" "$(jsonfield "$pr" p50_ms) / $p99" \
			"$(sed -n 's/.*total=\([0-9]*\).*/\1/p' "$work/tst.out")" "$steal"
		echo "$w $p99" >>"$work/runs"
	done
	order=$(awk '{print $2, $1}' <<<"$order")
done
for w in 1 2; do
	echo "median p99 with $w write session(s): $(awk -v w="$w" '$1 == w { print $2 }' "$work/runs" | median) ms"
done
