#!/usr/bin/env bash
# bench/databases.sh - latency with 2, 3 and 4 databases in one run (issue 18; not a test:
# it prints figures). Four durable PostgreSQL 15 clusters (a, b, c, d); for each count N,
# a database on the first N, one snk syncing all N (records, NOTIFY triggers), then:
#   idle:  probe, IDLE_SAMPLES (200) rows one at a time into each database in turn, 10 ms
#          apart; a sample ends when the row is readable in every other database;
#   load:  the same probe, a row every 50 ms, while tst inserts 1000-row batches at full
#          speed into a random one of the N for LOAD_SECONDS (20); plus the largest lag
#          status reported for any direction, sampled every 0.5 s.
# ROUNDS (2) rounds, each running N = 2, 3, 4 in turn (interleaved, so that the machine's
# drift falls on all three); prints every run and the median of each N's runs, and writes
# bench/results/databases.json. Rows per second are tst's: the same two cores carry N
# servers, N x (N-1) directions and tst, so throughput per database falls with N.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
IDLE_SAMPLES=${IDLE_SAMPLES:-200} LOAD_SECONDS=${LOAD_SECONDS:-20} ROUNDS=${ROUNDS:-2}
export SNK_IT_CLUSTERS=4
bench_setup
work=$SNK_IT_ROOT/bench-databases
mkdir -p "$work" bench/results
names=(a b c d)
port_of() { local v="SNK_IT_PORT_${1^^}"; echo "${!v}"; }

# config N: the config of database dbN on the first N clusters.
config() {
	local n=$1 i sep=
	{
		printf '{"databases": {'
		for ((i = 0; i < n; i++)); do
			printf '%s"%s": "host=127.0.0.1 port=%s user=postgres dbname=db%s"' "$sep" "${names[i]}" "$(port_of "${names[i]}")" "$n"
			sep=", "
		done
		printf '}, "control_socket": "%s/snk%s.sock"}\n' "$work" "$n"
	} >"$work/db$n.json"
}
for n in 2 3 4; do
	for ((i = 0; i < n; i++)); do P "$(port_of "${names[i]}")" -d postgres -c "CREATE DATABASE db$n"; done
	config "$n"
	"$build/snk" -c "$work/db$n.json" migrate >/dev/null
	for ((i = 0; i < n; i++)); do
		P "$(port_of "${names[i]}")" -d "db$n" -v table=records -v channel=snk_records -f migrations/notify_trigger.sql >/dev/null 2>&1
	done
done

# one N ROUND: prints "N idle_p50 idle_p99 load_p50 load_p99 load_max lag_max rows_per_s".
one() {
	local n=$1 cfg=$work/db$1.json sock=$work/snk$1.sock idle load lag=0 l tst_pid probe_pid t0 t1 rows
	"$build/snk" -c "$cfg" -v >>"$work/snk$n.log" 2>&1 &
	SNK_PID=$!
	bench_wait_snk "$sock"
	until [ "$(bench_status "$sock" | jq '[.directions[] as $d | .[$d].state] | all(. == "idle" or . == "copying")')" = true ]; do sleep 0.1; done
	"$build/probe" -c "$cfg" --samples 20 --gap-ms 10 >/dev/null # warm-up
	idle=$("$build/probe" -c "$cfg" --samples "$IDLE_SAMPLES" --gap-ms 10 | tail -1)
	t0=$(now)
	"$build/tst" -c "$cfg" --seconds "$LOAD_SECONDS" --quiet >"$work/tst$n.out" &
	tst_pid=$!
	"$build/probe" -c "$cfg" --seconds "$LOAD_SECONDS" --gap-ms 50 >"$work/probe_load$n.out" &
	probe_pid=$!
	while kill -0 "$tst_pid" 2>/dev/null; do
		l=$(bench_status "$sock" | jq '[.directions[] as $d | .[$d].lag_ms] | max')
		[ "$l" -le "$lag" ] || lag=$l
		sleep 0.5
	done
	wait "$tst_pid"
	t1=$(now)
	wait "$probe_pid" || true
	load=$(tail -1 "$work/probe_load$n.out")
	rows=$(sed -n 's/.* total=\([0-9]*\)$/\1/p' "$work/tst$n.out")
	bench_snk_stop
	echo "$n $(jsonfield "$idle" p50_ms) $(jsonfield "$idle" p99_ms) $(jsonfield "$load" p50_ms) $(jsonfield "$load" p99_ms)" \
		"$(jsonfield "$load" max_ms) $lag $(echo "$rows / ($t1 - $t0)" | bc)"
}

printf '%-6s %-3s %22s %32s %12s %10s\n' round N "idle p50 / p99 (ms)" "load p50 / p99 / max (ms)" "lag max (ms)" "tst rows/s"
: >"$work/runs.txt"
for r in $(seq 1 "$ROUNDS"); do
	for n in 2 3 4; do
		read -r _ ip50 ip99 lp50 lp99 lmax lag rate <<<"$(one "$n")"
		echo "$n $ip50 $ip99 $lp50 $lp99 $lmax $lag $rate" >>"$work/runs.txt"
		printf '%-6s %-3s %22s %32s %12s %10s\n' "$r" "$n" "$ip50 / $ip99" "$lp50 / $lp99 / $lmax" "$lag" "$rate"
	done
done
echo "median over $ROUNDS rounds (idle: $IDLE_SAMPLES samples a run, load: $LOAD_SECONDS s a run):"
json="["
for n in 2 3 4; do
	m() { awk -v n="$n" -v c="$1" '$1 == n { print $c }' "$work/runs.txt" | median; }
	printf '%-10s %-3s %22s %32s %12s %10s\n' median "$n" "$(m 2) / $(m 3)" "$(m 4) / $(m 5) / $(m 6)" "$(m 7)" "$(m 8)"
	json="$json{\"databases\": $n, \"idle_p50_ms\": $(m 2), \"idle_p99_ms\": $(m 3), \"load_p50_ms\": $(m 4),"
	json="$json \"load_p99_ms\": $(m 5), \"load_max_ms\": $(m 6), \"lag_max_ms\": $(m 7), \"tst_rows_per_s\": $(m 8)},"
done
echo "{\"date\": \"$(date -u +%FT%TZ)\", \"rounds\": $ROUNDS, \"idle_samples\": $IDLE_SAMPLES, \"load_seconds\": $LOAD_SECONDS, \"runs\": ${json%,}]}" |
	jq . >bench/results/databases.json
echo "wrote bench/results/databases.json"
