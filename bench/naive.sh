#!/usr/bin/env bash
# bench/naive.sh - snk against a naive poller (bench/naive.c: "greater than the last serial
# id, 200 rows per query"), same machine, same run, same load (issue 6's comparison).
# Two durable PostgreSQL 15 clusters. For each system, on fresh databases:
#   load:  tst writes at full speed for LOAD_SECONDS (30), into random sides, and on each
#          side one more session commits 100-row transactions that stay open SLOW_MS (100)
#          each, as applications' multi-statement transactions do; meanwhile the probe
#          measures end-to-end latency. Then: seconds until the system has copied
#          everything it is going to copy, and the rows that never arrived (ids in one
#          table and not the other, compared in full).
#   drain: DRAIN_ROWS (500,000) rows inserted into a while the system is stopped; then it
#          is started: rows/s until b has them all (or until it stops making progress).
# Prints a table; writes bench/results/naive.json.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
LOAD_SECONDS=${LOAD_SECONDS:-30}
SLOW_MS=${SLOW_MS:-100}
DRAIN_ROWS=${DRAIN_ROWS:-500000}
res=$top/bench/results
mkdir -p "$res"
SYS_PID=
bench_cleanup() {
	[ -z "$SYS_PID" ] || { kill -TERM "$SYS_PID" 2>/dev/null; wait "$SYS_PID" 2>/dev/null; }
	cp "$SNK_IT_ROOT"/naive/*.log "$res/" 2>/dev/null || true
}
. bench/lib.sh
bench_setup
work=$SNK_IT_ROOT/naive
mkdir -p "$work"

# new_db NAME SYSTEM: database NAME on both clusters, migrated by snk; for the naive
# poller the table also gets its serial column; for snk, the NOTIFY trigger.
new_db() {
	local port
	if [ "$2" != naive ]; then
		bench_new_db "$work" "$1" trigger
		return
	fi
	bench_new_db "$work" "$1"
	for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
		P "$port" -d "$1" -c "ALTER TABLE records ADD COLUMN naive_seq bigserial" -c "CREATE INDEX ON records (naive_seq)"
	done
}

start_sys() { # SYSTEM DB: the system's program is build/naive or build/snk
	"$build/$1" -c "$work/$2.json" >"$work/$2.log" 2>&1 &
	SYS_PID=$!
	[ "$1" = naive ] || bench_wait_snk "$work/$2.sock"
}
stop_sys() { kill -TERM "$SYS_PID"; wait "$SYS_PID" || true; SYS_PID=; }
count() { P "$1" -d "$2" -Atc "SELECT count(*) FROM records"; }

# settle DB TOTAL: seconds until both tables hold TOTAL rows; or, when their counts stop
# moving for 5 s (the system has copied all it ever will), seconds until the last change.
# Prints "seconds settled|stalled".
settle() {
	local t0 changed last= ca cb t
	t0=$(now) changed=$t0
	while :; do
		ca=$(count "$SNK_IT_PORT_A" "$1")
		cb=$(count "$SNK_IT_PORT_B" "$1")
		t=$(now)
		if [ "$ca" = "$2" ] && [ "$cb" = "$2" ]; then
			printf '%.3f settled\n' "$(echo "$t - $t0" | bcx)"
			return
		fi
		if [ "$ca.$cb" != "$last" ]; then
			last=$ca.$cb changed=$t
		elif [ "$(echo "$t - $changed >= 5" | bcx)" = 1 ]; then
			printf '%.3f stalled\n' "$(echo "$changed - $t0" | bcx)"
			return
		fi
		sleep 0.05
	done
}

# missing DB: rows in a not in b plus rows in b not in a, as "N (S from the slow sessions)".
missing() {
	P "$SNK_IT_PORT_A" -d "$1" -F' ' -Atc "SELECT id, data = 'slow' FROM records ORDER BY id" >"$work/ids.a"
	P "$SNK_IT_PORT_B" -d "$1" -F' ' -Atc "SELECT id, data = 'slow' FROM records ORDER BY id" >"$work/ids.b"
	comm -3 "$work/ids.a" "$work/ids.b" | awk '{n++; if ($NF == "t") s++} END {printf "%d (%d from the slow sessions)\n", n, s}'
}

# slow PORT DB: for LOAD_SECONDS, transactions of 100 rows that stay open SLOW_MS each.
slow() {
	local n=$((LOAD_SECONDS * 1000 / (SLOW_MS + 5)))
	for _ in $(seq 1 "$n"); do
		echo "BEGIN; INSERT INTO records (id, data) SELECT gen_random_uuid(), 'slow' FROM generate_series(1, 100);"
		echo "SELECT pg_sleep($SLOW_MS / 1000.0); COMMIT;"
	done | P "$1" -d "$2" >/dev/null
}

declare -A R
for sys in naive snk; do
	echo "== $sys: tst for ${LOAD_SECONDS}s, and a ${SLOW_MS} ms transaction writer on each side"
	db=load_$sys
	new_db "$db" "$sys"
	start_sys "$sys" "$db"
	"$build/tst" -c "$work/$db.json" --seconds "$LOAD_SECONDS" --quiet >"$work/tst.out" &
	pids=($!)
	for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
		slow "$port" "$db" &
		pids+=($!)
	done
	"$build/probe" -c "$work/$db.json" --seconds "$LOAD_SECONDS" --gap-ms 50 >"$work/probe.out" || true
	for p in "${pids[@]}"; do wait "$p"; done
	written=$(sed -n 's/^tst: .*total=\([0-9]*\)$/\1/p' "$work/tst.out")
	# The union: rows inserted on either side by tst or the probe, never copies.
	if [ "$sys" = naive ]; then own="naive_seq <> 0"; else own="snk_xid IS NOT NULL"; fi
	union=$(($(P "$SNK_IT_PORT_A" -d "$db" -Atc "SELECT count(*) FROM records WHERE $own") +
		$(P "$SNK_IT_PORT_B" -d "$db" -Atc "SELECT count(*) FROM records WHERE $own")))
	read -r settle_s settle_how <<<"$(settle "$db" "$union")"
	stop_sys
	miss=$(missing "$db")
	probe=$(tail -1 "$work/probe.out")
	R[$sys.written]=$written R[$sys.union]=$union R[$sys.settle]=$settle_s R[$sys.settle_how]=$settle_how
	R[$sys.missing]=${miss%% *} R[$sys.missing_text]=$miss R[$sys.probe]=$probe
	echo "written $written; $settle_how ${settle_s}s after the writers stopped; rows on one side only: $miss of $union"
	echo "probe: $probe"
done

for sys in naive snk; do
	echo "== $sys: drain of $DRAIN_ROWS rows"
	db=drain_$sys
	new_db "$db" "$sys"
	"$build/tst" -c "$work/$db.json" --side a --batches $((DRAIN_ROWS / 1000)) --quiet >/dev/null
	P "$SNK_IT_PORT_A" -d "$db" -c "VACUUM ANALYZE records" -c "CHECKPOINT"
	P "$SNK_IT_PORT_B" -d "$db" -c "CHECKPOINT"
	start_sys "$sys" "$db"
	read -r drain_s drain_how <<<"$(settle "$db" "$DRAIN_ROWS")"
	stop_sys
	got=$(count "$SNK_IT_PORT_B" "$db")
	rate=$(echo "$got / $drain_s" | bcx)
	R[$sys.drain_s]=$drain_s R[$sys.drain_how]=$drain_how R[$sys.drain_rate]=$rate R[$sys.drain_got]=$got
	echo "$drain_how after ${drain_s}s: $got rows in b, $rate rows/s"
done

echo
printf '%-46s %16s %16s\n' "figure" "naive poller" "snk"
row() { printf '%-46s %16s %16s\n' "$1" "$2" "$3"; }
row "rows written by tst in ${LOAD_SECONDS}s" "${R[naive.written]}" "${R[snk.written]}"
row "rows never copied (on one side only)" "${R[naive.missing_text]}" "${R[snk.missing_text]}"
row "latency under load p50 / p99 (ms)" "$(jsonfield "${R[naive.probe]}" p50_ms) / $(jsonfield "${R[naive.probe]}" p99_ms)" \
	"$(jsonfield "${R[snk.probe]}" p50_ms) / $(jsonfield "${R[snk.probe]}" p99_ms)"
row "probe rows not seen within 30 s" "$(jsonfield "${R[naive.probe]}" timeouts)" "$(jsonfield "${R[snk.probe]}" timeouts)"
row "after the writers stop (s)" "${R[naive.settle]} ${R[naive.settle_how]}" "${R[snk.settle]} ${R[snk.settle_how]}"
row "drain of $DRAIN_ROWS rows (rows/s)" "${R[naive.drain_rate]}" "${R[snk.drain_rate]}"
cat >"$res/naive.json" <<EOT
{"date": "$(date -u +%FT%TZ)", "slow_ms": $SLOW_MS, "load_seconds": $LOAD_SECONDS, "drain_rows": $DRAIN_ROWS,
 "naive": {"written": ${R[naive.written]}, "missing": ${R[naive.missing]}, "settle_s": ${R[naive.settle]},
           "settled": $([ "${R[naive.settle_how]}" = settled ] && echo true || echo false),
           "probe": ${R[naive.probe]}, "drain_rows_per_s": ${R[naive.drain_rate]}},
 "snk": {"written": ${R[snk.written]}, "missing": ${R[snk.missing]}, "settle_s": ${R[snk.settle]},
         "settled": $([ "${R[snk.settle_how]}" = settled ] && echo true || echo false),
         "probe": ${R[snk.probe]}, "drain_rows_per_s": ${R[snk.drain_rate]}}}
EOT
echo "wrote $res/naive.json"
