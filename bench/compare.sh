#!/usr/bin/env bash
# bench/compare.sh BUILD_BEFORE BUILD_AFTER - bench/run's uuid+text figures for two builds in
# one run, to show what a change did to them (not a test: it prints figures).
# BUILD_BEFORE and BUILD_AFTER are build directories (snk, snkctl, tst, probe), built
# beforehand from the two commits, Release (e.g. `git worktree add /tmp/before main`, then
# `cmake -S /tmp/before -B /tmp/before/build-release -DCMAKE_BUILD_TYPE=Release` and
# `cmake --build /tmp/before/build-release`; README, "Benchmarks"). This tree's
# bench/run measures both, through SNK_BIN_DIR, interleaved: PAIRS (2) pairs of runs, before
# then after (before, after, before, after), each run on fresh clusters, so that the
# machine's drift falls on both.
# Every run is at short sizes unless set otherwise: LOAD_SECONDS=15 DRAIN_ROWS=300000
# BIG_ROWS=200000 IDLE_SAMPLES=200, without the wide table (BENCH_WIDE=0: a build from
# before issue 14 cannot sync it) and without the many tables of step 9 (BENCH_TABLES=0:
# a build from before issue 15 cannot sync them); about 105 s a run, 7 minutes in all.
# Prints each run's headline, then for every figure the median of each build's runs, the
# ratio after / before, which way is better, and the spread (max / min) of each build's
# own runs, against which to read the ratio; writes bench/results/compare/ (each run's
# results and log, and compare.json).
set -euo pipefail
[ $# = 2 ] || { echo "usage: bench/compare.sh BUILD_BEFORE BUILD_AFTER" >&2; exit 64; }
before=$(realpath "$1")
after=$(realpath "$2")
cd "$(dirname "$0")/.."
. bench/lib.sh
PAIRS=${PAIRS:-2}
export LOAD_SECONDS=${LOAD_SECONDS:-15} DRAIN_ROWS=${DRAIN_ROWS:-300000}
export BIG_ROWS=${BIG_ROWS:-200000} IDLE_SAMPLES=${IDLE_SAMPLES:-200} BENCH_WIDE=0 BENCH_TABLES=0
out=$PWD/bench/results/compare
for d in "$before" "$after"; do
	bench_check_bin_dir "$d" || exit 1
	[ "$(bench_build_type "$d")" = Release ] || echo "warning: $d is a $(bench_build_type "$d") build, not Release" >&2
done
rm -rf "$out"
mkdir -p "$out"
echo "before: $before"
echo "after:  $after"
echo "each run: LOAD_SECONDS=$LOAD_SECONDS DRAIN_ROWS=$DRAIN_ROWS BIG_ROWS=$BIG_ROWS IDLE_SAMPLES=$IDLE_SAMPLES"

# one_run NAME DIR: bench/run on the binaries of DIR, into $out/NAME; prints its headline.
one_run() {
	local t0 j
	t0=$(now)
	SNK_BIN_DIR=$2 SNK_BENCH_RESULTS=$out/$1 bench/run >"$out/$1.log" 2>&1 || {
		echo "bench/run failed for $1 ($2); the end of $out/$1.log:" >&2
		tail -20 "$out/$1.log" >&2
		exit 1
	}
	j=$out/$1/bench.json
	printf '%-9s %5.0f s  idle p99 %s ms, load p99 %s ms, drain/COPY %s, CPU %s s/M rows; steal %s\n' \
		"$1" "$(echo "$(now) - $t0" | bc)" "$(jq .idle_notify.p99_ms "$j")" "$(jq .under_load.p99_ms "$j")" \
		"$(jq .drain_copy_ratio "$j")" "$(jq .cpu_s_per_million_rows "$j")" \
		"$(jq -r '.steal_iowait_pct | [.idle, .load, .drain] | map(split(" / ")[0]) | join(", ")' "$j")"
}
runs_before= runs_after=
for p in $(seq 1 "$PAIRS"); do
	one_run "before-$p" "$before"
	runs_before="$runs_before before-$p"
	one_run "after-$p" "$after"
	runs_after="$runs_after after-$p"
done

# The figures: label; jq expression on bench.json; which way is better.
figures=(
	"idle latency p50, NOTIFY (ms);.idle_notify.p50_ms;lower"
	"idle latency p99, NOTIFY (ms);.idle_notify.p99_ms;lower"
	"idle latency p99, timer only (ms);.idle_timer.p99_ms;lower"
	"latency under load p50 (ms);.under_load.p50_ms;lower"
	"latency under load p99 (ms);.under_load.p99_ms;lower"
	"lag under load p99 (ms);.lag_p99_ms;lower"
	"lag under load max (ms);.lag_max_ms;lower"
	"convergence after tst stops (s);.converge_s;lower"
	"backlog drain (rows/s);.drain_rows_per_s;higher"
	"COPY pipe, same run (rows/s);.copy_rows_per_s;higher"
	"drain / COPY;.drain_copy_ratio;higher"
	"drain on one write session / COPY;.drain_one_session_copy_ratio;higher"
	"snk CPU per million rows drained (s);.cpu_s_per_million_rows;lower"
	"snk peak RSS during the drain (MB);(.peak_rss_kb / 102.4 | round) / 10;lower"
	"TCP bytes received per row;.bytes_read_per_row;lower"
	"TCP bytes sent per row;.bytes_written_per_row;lower"
	"one big transaction, commit to b (s);.big_transaction_s;lower"
)
# values EXPR RUNS: EXPR's value in each of RUNS' bench.json, one a line.
values() {
	local r
	for r in $2; do jq -r "$1" "$out/$r/bench.json"; done
}
# spread VALUES...: max / min of the values, the part of a ratio that the runs of one
# build show by themselves ("-" when one is 0).
spread() {
	printf '%s\n' "$@" | awk 'NR == 1 || $1 < lo { lo = $1 } NR == 1 || $1 > hi { hi = $1 }
		END { if (lo > 0) printf "%.2f\n", hi / lo; else print "-" }'
}
# fmt VALUES...: the values rounded for reading (3 significant digits or whole numbers).
fmt() {
	printf '%s\n' "$@" | awk '{ v = $1 < 0 ? -$1 : $1
		printf "%s%s", (NR > 1 ? " " : ""), sprintf(v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : v >= 1 ? "%.2f" : "%.3f", $1) }
		END { print "" }'
}
echo
printf '%-40s %9s %9s %7s  %-6s %6s %6s  %s\n' figure before after ratio better "spread" "" "runs: before | after"
printf '%-40s %9s %9s %7s  %-6s %6s %6s\n' "" median median "a / b" "" before after
json="{\"date\": \"$(date -u +%FT%TZ)\", \"before\": \"$before\", \"after\": \"$after\", \"pairs\": $PAIRS,"
json="$json \"sizes\": {\"load_seconds\": $LOAD_SECONDS, \"drain_rows\": $DRAIN_ROWS, \"big_rows\": $BIG_ROWS, \"idle_samples\": $IDLE_SAMPLES}, \"figures\": ["
sep=
for f in "${figures[@]}"; do
	IFS=';' read -r label expr better <<<"$f"
	mapfile -t vb < <(values "$expr" "$runs_before")
	mapfile -t va < <(values "$expr" "$runs_after")
	mb=$(printf '%s\n' "${vb[@]}" | median)
	ma=$(printf '%s\n' "${va[@]}" | median)
	if [ "$(echo "$mb == 0" | bc)" = 1 ]; then ratio=null; else ratio=$(echo "scale=2; $ma / $mb" | bcx); fi
	printf '%-40s %9s %9s %7s  %-6s %6s %6s  %s | %s\n' "$label" "$(fmt "$mb")" "$(fmt "$ma")" "$ratio" \
		"$better" "$(spread "${vb[@]}")" "$(spread "${va[@]}")" "$(fmt "${vb[@]}")" "$(fmt "${va[@]}")"
	json="$json$sep {\"figure\": \"$label\", \"better\": \"$better\", \"before\": [$(IFS=,; echo "${vb[*]}")],"
	json="$json \"after\": [$(IFS=,; echo "${va[*]}")], \"before_median\": $mb, \"after_median\": $ma, \"ratio\": $ratio}"
	sep=,
done
echo "$json]}" | jq . >"$out/compare.json"
echo
echo "ratio = after median / before median; spread = max / min of one build's runs: a ratio"
echo "within the spreads is what two runs of one build can differ by"
echo "wrote $out/compare.json"
