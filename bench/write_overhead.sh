#!/usr/bin/env bash
# bench/write_overhead.sh - what snk costs the application's own inserts (issue 7).
# One PostgreSQL 15 cluster with default (durable) settings. Three databases: "plain" holds
# records(id uuid PRIMARY KEY, data text NOT NULL); "migrated" holds the same table after
# `snk migrate` (snk_xid bigint + BRIN index); "btree" the layout of older snk versions
# (snk_xid xid8 + btree index), for comparison. Same machine, same run, interleaved:
#   COPY of the same ROWS rows into the empty table (RUNS runs each), and
#   tst-style 1000-row INSERT statements, BATCHES of them (RUNS runs each).
# Prints the medians, the overhead in percent, and the median of each round's paired overhead; writes bench/results/write_overhead.json.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
ROWS=${ROWS:-500000}
RUNS=${RUNS:-9}
BATCHES=${BATCHES:-300}
. bench/lib.sh
bench_setup

PA() { P "$SNK_IT_PORT_A" "$@"; }
for db in plain migrated btree other; do PA -d postgres -c "CREATE DATABASE $db"; done
PA -d plain -c "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL)"
PA -d btree -c "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL, snk_xid xid8 DEFAULT pg_current_xact_id())" \
	-c "CREATE INDEX records_snk_xid ON records (snk_xid)"
cfg() {
	cat <<EOT
{"databases": {"a": "host=127.0.0.1 port=$SNK_IT_PORT_A user=postgres dbname=$1",
               "b": "host=127.0.0.1 port=$SNK_IT_PORT_A user=postgres dbname=other"},
 "control_socket": "/tmp/snk-bench.sock"}
EOT
}
for db in plain migrated btree; do cfg $db >"$BENCH_ENV.$db.json"; done
"$build/snk" -c "$BENCH_ENV.migrated.json" migrate >/dev/null
data=$SNK_IT_ROOT/rows.copy
PA -d plain -c "COPY (SELECT gen_random_uuid(), md5(i::text) || repeat('x', i % 64) FROM generate_series(1, $ROWS) i) TO STDOUT" >"$data"

# The server's CPU seconds so far: the postmaster and its live children, plus what the
# postmaster has reaped from exited ones (a psql session's backend, tst's). The run's own
# backend, the WAL writer, the checkpointer: all of it is the cost of the write path.
pm=$(head -1 "$SNK_IT_ROOT/a/data/postmaster.pid")
tck=$(getconf CLK_TCK)
server_cpu() {
	local t=0 pid f
	read -r -a f <"/proc/$pm/stat"
	t=$((f[13] + f[14] + f[15] + f[16]))
	for pid in /proc/[0-9]*; do
		read -r -a f 2>/dev/null <"$pid/stat" || continue
		[ "${f[3]}" = "$pm" ] && t=$((t + f[13] + f[14]))
	done
	echo "$t"
}
lsn() { PA -d postgres -Atc "SELECT pg_current_wal_lsn()"; }
# measure DB KIND: one run of COPY or of tst-style INSERTs into the empty table; prints
# "wall_seconds server_cpu_seconds wal_bytes".
measure() {
	local t0 t1 c0 c1 l0 l1
	PA -d "$1" -c "TRUNCATE records" -c "CHECKPOINT"
	sleep 0.2
	l0=$(lsn) c0=$(server_cpu) t0=$(now)
	if [ "$2" = copy ]; then
		PA -d "$1" -c "COPY records (id, data) FROM STDIN" <"$data"
	else
		"$build/tst" -c "$BENCH_ENV.$1.json" --side a --batches "$BATCHES" --quiet >/dev/null
	fi
	t1=$(now)
	sleep 0.2
	c1=$(server_cpu) l1=$(lsn)
	echo "$(echo "$t1 - $t0" | bcx) $(echo "scale=2; ($c1 - $c0) / $tck" | bcx) $(PA -d postgres -Atc "SELECT pg_wal_lsn_diff('$l1', '$l0')")"
}

pct() { echo "scale=1; ($2 - $1) * 100 / $1" | bcx; }
# Rounds alternate which table goes first. Each round's pair, measured a few seconds
# apart, gives one overhead figure; the median of those is the paired overhead, which
# slow drifts of the machine (other VMs, the page cache) cancel out of.
VARIANTS="migrated btree"
declare -A wall cpu wal pair
for r in $(seq 1 "$RUNS"); do
	case $((r % 3)) in 1) order="plain migrated btree" ;; 2) order="migrated btree plain" ;; 0) order="btree plain migrated" ;; esac
	for kind in copy insert; do
		declare -A one=()
		for db in $order; do
			read -r w c b <<<"$(measure $db $kind)"
			wall[$kind.$db]+="$w " cpu[$kind.$db]+="$c " wal[$kind.$db]+="$b "
			one[wall.$db]=$w one[cpu.$db]=$c one[wal.$db]=$b
		done
		for v in $VARIANTS; do
			for m in wall cpu wal; do pair[$kind.$v.$m]+="$(pct "${one[$m.plain]}" "${one[$m.$v]}") "; done
		done
	done
done
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
declare -A M
printf '%-28s %-13s %9s %9s %9s %9s %9s %9s\n' "write path ($RUNS runs)" "median of" "plain" "snk" "overhead" "paired" \
	"btree" "paired"
for kind in copy insert; do
	[ "$kind" = copy ] && what="COPY $ROWS rows" || what="$BATCHES x INSERT 1000 (tst)"
	for m in wall cpu wal; do
		declare -n arr=$m
		p=$(med "${arr[$kind.plain]}")
		M[$kind.$m.plain]=$p
		for v in $VARIANTS; do
			q=$(med "${arr[$kind.$v]}")
			M[$kind.$m.$v]=$q M[$kind.$m.$v.pct]=$(pct "$p" "$q") M[$kind.$m.$v.paired]=$(med "${pair[$kind.$v.$m]}")
		done
		q=${M[$kind.$m.migrated]} o=${M[$kind.$m.btree]}
		case $m in wall) unit="wall s" ;; cpu) unit="server CPU s" ;; wal) unit="WAL MB" p=$(echo "scale=1; $p / 1048576" | bcx) q=$(echo "scale=1; $q / 1048576" | bcx) o=$(echo "scale=1; $o / 1048576" | bcx) ;; esac
		printf '%-28s %-13s %9.2f %9.2f %8s%% %8s%% %9.2f %8s%%\n' "$what" "$unit" "$p" "$q" "${M[$kind.$m.migrated.pct]}" \
			"${M[$kind.$m.migrated.paired]}" "$o" "${M[$kind.$m.btree.paired]}"
		what=
	done
done
for kind in copy insert; do
	for db in plain $VARIANTS; do echo "all $kind $db: wall [${wall[$kind.$db]}] cpu [${cpu[$kind.$db]}]"; done
	for v in $VARIANTS; do echo "all $kind $v paired wall overheads %: [${pair[$kind.$v.wall]}]"; done
done
mkdir -p "$top/bench/results"
js() { # KIND VARIANT
	local m sep=
	for m in wall cpu wal; do
		printf '%s"%s": {"plain": %s, "snk": %s, "overhead_pct": %s, "paired_overhead_pct": %s}' "$sep" "$m" \
			"${M[$1.$m.plain]}" "${M[$1.$m.$2]}" "${M[$1.$m.$2.pct]}" "${M[$1.$m.$2.paired]}"
		sep=", "
	done
}
cat >"$top/bench/results/write_overhead.json" <<EOT
{"date": "$(date -u +%FT%TZ)", "rows": $ROWS, "runs": $RUNS, "batches": $BATCHES,
 "copy": {$(js copy migrated)},
 "insert": {$(js insert migrated)},
 "btree_layout": {"copy": {$(js copy btree)}, "insert": {$(js insert btree)}}}
EOT
