#!/usr/bin/env bash
# bench/floor.sh - the least time any tool needs to make one row committed in a visible in
# b on this machine, with b's commit durable (issue 19; not a test: it prints figures).
# bench/lib.sh's durable clusters (fsync on, synchronous_commit on, the WAL warmed), no snk.
# A row that commits in a is visible in b only once something has learnt of it (a NOTIFY
# or a poll: at least one message from a), read it from a (a round trip to a) and
# committed it in b; a commit in b becomes visible to b's other sessions only after its
# WAL flush, when synchronous_commit is on. One client each, with pgbench, FLOOR_SECONDS (10)
# a statement, every transaction's latency logged (--log):
#   - SELECT 1 on a: a loopback round trip with the least server work;
#   - a one-row INSERT into b, synchronous_commit on: a durable commit as a client sees it;
#   - the same INSERT with synchronous_commit off: the same without the flush;
# and pg_test_fsync's fdatasync rate on the clusters' file system. Prints p50 / p90 / p99 of each
# in ms, and their floor: the median round trip plus the median durable commit, which
# leaves out the NOTIFY's delivery and the work of reading the row.
# Then the same path with probe's measure (which adds its own polling): the naive poller
# woken by NOTIFY (bench/naive.c --listen: one prepared read of a, one prepared durable
# INSERT into b, nothing else) against snk, each on a database of its own on the same
# clusters, ROUNDS (2) rounds of SAMPLES (300) probe samples 10 ms apart, alternated.
# naive is not correct (it passes over rows that commit out of order): it is the least
# work any NOTIFY-driven sync does for one row.
# Last, under load (LOAD_SECONDS, 20; 0 leaves it out): tst at full speed into both sides
# of snk's database with snk running and probe every 50 ms, as bench/run's step 2, and
# beside them the one-row durable INSERT into b by pgbench: what a bare commit in b takes
# while the machine carries that load.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
SECONDS_EACH=${FLOOR_SECONDS:-10}
SAMPLES=${SAMPLES:-300}
ROUNDS=${ROUNDS:-2}
LOAD_SECONDS=${LOAD_SECONDS:-20}
. bench/lib.sh
bench_setup
[ -x "$build/naive" ] || { echo "$build/naive: not found (build the tree into $build first)" >&2; exit 1; }
work=$SNK_IT_ROOT/floor
mkdir -p "$work"
P "$SNK_IT_PORT_B" -d postgres -c "CREATE TABLE floor_rows (id uuid PRIMARY KEY, payload text NOT NULL)"
printf 'SELECT 1;\n' >"$work/select.sql"
printf "INSERT INTO floor_rows VALUES (pg_catalog.gen_random_uuid(), 'x');\n" >"$work/insert.sql"

# run NAME PORT SCRIPT [PGOPTIONS [SECONDS]]: pgbench, one client, SECONDS (SECONDS_EACH);
# prints "NAME p50 p90 p99 samples" in ms from its per-transaction log.
run() {
	local name=$1 port=$2 script=$3 opts=${4:-} secs=${5:-$SECONDS_EACH}
	rm -f "$work"/pgbench_log.*
	(cd "$work" && PGOPTIONS=$opts "$PGBIN/pgbench" -n -c 1 -j 1 -T "$secs" --log -h 127.0.0.1 \
		-p "$port" -U postgres -f "$script" postgres >/dev/null 2>&1)
	cat "$work"/pgbench_log.* | awk '{ print $3 / 1000 }' | sort -n | awk -v name="$name" '
		function q(f,  i) { i = int(NR * f); return a[i < 1 ? 1 : i] }
		{ a[NR] = $1 }
		END { if (!NR) { print name, "no transactions"; exit 1 }
		      printf "%-48s %8.3f %8.3f %8.3f %9d\n", name, a[int((NR + 1) / 2)], q(0.9), q(0.99), NR }'
}

printf '%-48s %8s %8s %8s %9s\n' "one client, one statement a transaction" "p50 ms" "p90 ms" "p99 ms" "samples"
rt=$(run "SELECT 1 on a (round trip)" "$SNK_IT_PORT_A" "$work/select.sql")
echo "$rt"
dur=$(run "one-row INSERT into b, synchronous_commit on" "$SNK_IT_PORT_B" "$work/insert.sql")
echo "$dur"
async=$(run "one-row INSERT into b, synchronous_commit off" "$SNK_IT_PORT_B" "$work/insert.sql" "-c synchronous_commit=off")
echo "$async"
fsync=$("$PGBIN/pg_test_fsync" -s 2 -f "$work/test_fsync" 2>/dev/null |
	awk '/fdatasync/ && /ops\/sec/ { print $(NF - 3), $(NF - 1); exit }')
rm -f "$work/test_fsync"
read -r ops usecs <<<"$fsync"
echo "pg_test_fsync on the clusters' file system, one 8 kB fdatasync: $ops ops/s, $usecs us each"
floor=$(awk -v r="$(awk '{ print $(NF - 3) }' <<<"$rt")" -v d="$(awk '{ print $(NF - 3) }' <<<"$dur")" \
	'BEGIN { printf "%.3f", r + d }')
echo "floor of one row, a round trip to a plus a durable commit in b (p50): $floor ms"

bench_new_db "$work" floor_naive trigger
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
	P "$port" -d floor_naive -c "ALTER TABLE records ADD COLUMN naive_seq bigserial" -c "CREATE INDEX ON records (naive_seq)"
done
bench_new_db "$work" floor_snk trigger
echo
echo "probe, $SAMPLES samples into a, 10 ms apart, NOTIFY trigger, commits durable"
for r in $(seq 1 "$ROUNDS"); do
	for sys in naive snk; do
		if [ $sys = naive ]; then
			"$build/naive" -c "$work/floor_naive.json" --listen snk_records --poll-ms 1000 >>"$work/naive.log" 2>&1 &
			SNK_PID=$! # bench_snk_stop ends it
			sleep 0.3
		else
			"$build/snk" -c "$work/floor_snk.json" >>"$work/snk.log" 2>&1 &
			SNK_PID=$!
			bench_wait_snk "$work/floor_snk.sock"
		fi
		"$build/probe" -c "$work/floor_$sys.json" --side a --samples 50 --gap-ms 10 >/dev/null
		printf 'round %s %-6s %s\n' "$r" "$sys:" "$("$build/probe" -c "$work/floor_$sys.json" --side a --samples "$SAMPLES" --gap-ms 10 | tail -1)"
		bench_snk_stop
	done
done
[ "$LOAD_SECONDS" -gt 0 ] || exit 0
echo
echo "under load: tst at full speed into both sides for ${LOAD_SECONDS} s, snk running, probe every 50 ms"
"$build/snk" -c "$work/floor_snk.json" >>"$work/snk.log" 2>&1 &
SNK_PID=$!
bench_wait_snk "$work/floor_snk.sock"
c0=$(cpu_snap)
"$build/tst" -c "$work/floor_snk.json" --seconds "$LOAD_SECONDS" --quiet >"$work/tst.out" &
tst_pid=$!
"$build/probe" -c "$work/floor_snk.json" --seconds "$LOAD_SECONDS" --gap-ms 50 >"$work/probe_load.out" &
probe_pid=$!
printf '%-48s %8s %8s %8s %9s\n' "beside the load" "p50 ms" "p90 ms" "p99 ms" "samples"
run "one-row INSERT into b, synchronous_commit on" "$SNK_IT_PORT_B" "$work/insert.sql" "" "$LOAD_SECONDS"
wait "$tst_pid" "$probe_pid"
echo "probe, snk: $(tail -1 "$work/probe_load.out")"
echo "tst: $(sed -n 's/.*total=\([0-9]*\).*/\1/p' "$work/tst.out") rows in ${LOAD_SECONDS} s; steal / iowait % $(cpu_noise "$c0")"
bench_snk_stop
