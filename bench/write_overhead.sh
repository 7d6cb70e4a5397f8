#!/usr/bin/env bash
# bench/write_overhead.sh - what snk costs the application's own inserts (issue 7).
# One PostgreSQL 15 cluster with default (durable) settings. Two databases: "plain" holds
# records(id uuid PRIMARY KEY, data text NOT NULL); "migrated" holds the same table after
# `snk migrate` (snk_xid column + btree index). Same machine, same run, interleaved:
#   COPY of the same ROWS rows into the empty table (RUNS runs each), and
#   tst-style 1000-row INSERT statements, BATCHES of them (RUNS runs each).
# Prints the medians and the overhead in percent; writes bench/results/write_overhead.json.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
ROWS=${ROWS:-500000}
RUNS=${RUNS:-5}
BATCHES=${BATCHES:-300}
. bench/lib.sh
bench_setup

P() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SNK_IT_PORT_A" -U postgres "$@"; }
for db in plain migrated other; do P -d postgres -c "CREATE DATABASE $db"; done
P -d plain -c "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL)"
cfg() {
	cat <<EOT
{"databases": {"a": "host=127.0.0.1 port=$SNK_IT_PORT_A user=postgres dbname=$1",
               "b": "host=127.0.0.1 port=$SNK_IT_PORT_A user=postgres dbname=other"},
 "control_socket": "/tmp/snk-bench.sock"}
EOT
}
cfg plain >"$BENCH_ENV.plain.json"
cfg migrated >"$BENCH_ENV.migrated.json"
"$build/snk" -c "$BENCH_ENV.migrated.json" migrate >/dev/null
data=$SNK_IT_ROOT/rows.copy
P -d plain -c "COPY (SELECT gen_random_uuid(), md5(i::text) || repeat('x', i % 64) FROM generate_series(1, $ROWS) i) TO STDOUT" >"$data"

now() { date +%s.%N; }
copy_run() { # db -> seconds
	local t0 t1
	P -d "$1" -c "TRUNCATE records" -c "CHECKPOINT"
	t0=$(now)
	P -d "$1" -c "COPY records (id, data) FROM STDIN" <"$data"
	t1=$(now)
	echo "$t1 - $t0" | bc
}
insert_run() { # db -> seconds
	local t0 t1
	P -d "$1" -c "TRUNCATE records" -c "CHECKPOINT"
	t0=$(now)
	"$build/tst" -c "$BENCH_ENV.$1.json" --side a --batches "$BATCHES" --quiet >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A copy insert
for r in $(seq 1 "$RUNS"); do
	for db in plain migrated; do
		copy[$db]+="$(copy_run $db) "
		insert[$db]+="$(insert_run $db) "
	done
done
cp_plain=$(tr ' ' '\n' <<<"${copy[plain]}" | grep . | median)
cp_mig=$(tr ' ' '\n' <<<"${copy[migrated]}" | grep . | median)
in_plain=$(tr ' ' '\n' <<<"${insert[plain]}" | grep . | median)
in_mig=$(tr ' ' '\n' <<<"${insert[migrated]}" | grep . | median)
pct() { echo "scale=1; ($2 - $1) * 100 / $1" | bc; }
printf '%-34s %10s %10s %9s\n' "write path ($RUNS runs, median)" "plain s" "snk s" "overhead"
printf '%-34s %10.3f %10.3f %8s%%\n' "COPY $ROWS rows" "$cp_plain" "$cp_mig" "$(pct "$cp_plain" "$cp_mig")"
printf '%-34s %10.3f %10.3f %8s%%\n' "$BATCHES x INSERT of 1000 rows (tst)" "$in_plain" "$in_mig" "$(pct "$in_plain" "$in_mig")"
echo "all runs: copy plain [${copy[plain]}] snk [${copy[migrated]}]; insert plain [${insert[plain]}] snk [${insert[migrated]}]"
mkdir -p "$top/bench/results"
cat >"$top/bench/results/write_overhead.json" <<EOT
{"rows": $ROWS, "runs": $RUNS, "batches": $BATCHES,
 "copy_plain_s": $cp_plain, "copy_snk_s": $cp_mig, "copy_overhead_pct": $(pct "$cp_plain" "$cp_mig"),
 "insert_plain_s": $in_plain, "insert_snk_s": $in_mig, "insert_overhead_pct": $(pct "$in_plain" "$in_mig")}
EOT
