#!/usr/bin/env bash
# bench/drain_wide.sh - backlog drain of a 12-column table against the COPY pipe of the
# same table, interleaved over several rounds (not a test: it prints figures).
# The table `wide` (bench/lib.sh: a bigint key, int, timestamptz, numeric(12,2), float8,
# bool, text, a 100-byte text, text[], a 230-byte jsonb, uuid, NULLs in three columns;
# about 590 bytes a row) is created in both databases and prepared by `snk migrate`; ROWS
# (500,000) rows are then written into a once, 1000 per transaction. Each round drains
# them into an emptied b with snk ("table": "wide") for every value of write_connections
# in SESSIONS ("1 2"), and runs the COPY pipe, psql's COPY (SELECT the 12 columns) TO
# STDOUT into COPY ... FROM STDIN (text format), into an emptied table LIKE wide INCLUDING
# ALL in b; the order rotates every round (ROUNDS, 3), as in bench/drain.sh. After every
# run, b's rows are compared with a's (count and a hash of every row's text, in sessions
# with pinned output settings): a run that lost or changed a value ends the script.
# Prints each run (with the server CPU of both clusters and the CPU stolen by the host),
# the medians and their ratio to the pipe's; writes bench/results/drain_wide.json.
set -euo pipefail
shopt -s inherit_errexit # a failed step inside $(run_one) ends the script too
cd "$(dirname "$0")/.."
ROWS=${ROWS:-500000}
ROUNDS=${ROUNDS:-3}
SESSIONS=${SESSIONS:-"1 2"}
res=$PWD/bench/results
mkdir -p "$res"
. bench/lib.sh
bench_setup
work=$SNK_IT_ROOT/drain_wide
mkdir -p "$work"
cfg=$work/config.json
db=drain_wide
write_cfg() { bench_config "$cfg" "$db" "$work/snk.sock" "\"table\": \"wide\", \"write_connections\": $1"; }
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
	P "$port" -d postgres -c "CREATE DATABASE $db"
	wide_create "$port" "$db"
done
write_cfg 1
# Before the rows, so that the stamp trigger gives them their xids, as an application's
# inserts would get them.
"$build/snk" -c "$cfg" migrate >/dev/null || {
	echo "snk migrate refused the table wide: this build cannot sync it (issue 14)" >&2
	exit 1
}
t0=$(now)
wide_fill "$SNK_IT_PORT_A" "$db" "$ROWS"
echo "wrote $ROWS rows into a in $(echo "$(now) - $t0" | bcx) s"
P "$SNK_IT_PORT_A" -d "$db" -c "VACUUM ANALYZE wide" -c "CHECKPOINT"
P "$SNK_IT_PORT_B" -d "$db" -c "CREATE TABLE wide_copy (LIKE wide INCLUDING ALL)"
row_bytes=$(P "$SNK_IT_PORT_A" -d "$db" -Atc "SELECT round(avg(pg_column_size(w.*))) FROM wide w")
table_mb=$(P "$SNK_IT_PORT_A" -d "$db" -Atc "SELECT pg_total_relation_size('wide') / 1048576")
want=$(wide_digest "$SNK_IT_PORT_A" "$db" wide)
echo "table wide in a: $ROWS rows, $row_bytes bytes a row, $table_mb MB with its indexes"

# check_b TABLE WHAT: ends the script unless b's TABLE holds exactly a's rows.
check_b() {
	local got
	got=$(wide_digest "$SNK_IT_PORT_B" "$db" "$1")
	[ "$got" = "$want" ] || {
		echo "after $2, b's $1 differs from a's wide: rows and hash $got, not $want" >&2
		exit 1
	}
}

# run_one VARIANT: one drain (VARIANT = a number of write sessions) or the COPY pipe
# (VARIANT = copy) into an empty b; prints "VARIANT rows/s a_cpu_s b_cpu_s steal%".
run_one() {
	local t0 s ca cb c0 tck
	tck=$(getconf CLK_TCK)
	if [ "$1" = copy ]; then
		P "$SNK_IT_PORT_B" -d "$db" -c "TRUNCATE wide_copy" -c "CHECKPOINT"
	else
		P "$SNK_IT_PORT_B" -d "$db" -c "TRUNCATE wide" -c "DELETE FROM snk.cursor" -c "CHECKPOINT"
		write_cfg "$1"
	fi
	ca=$(cluster_cpu a) cb=$(cluster_cpu b) c0=$(cpu_snap)
	t0=$(now)
	if [ "$1" = copy ]; then
		P "$SNK_IT_PORT_A" -d "$db" -c "COPY (SELECT $WIDE_COLS FROM wide) TO STDOUT" |
			P "$SNK_IT_PORT_B" -d "$db" -c "COPY wide_copy ($WIDE_COLS) FROM STDIN"
	else
		"$build/snk" -c "$cfg" >>"$work/snk.log" 2>&1 &
		SNK_PID=$!
		bench_wait_snk "$work/snk.sock"
		bench_wait_copied "$work/snk.sock" "$ROWS" "$work/snk.log"
	fi
	s=$(echo "$(now) - $t0" | bcx)
	echo "$1 $(echo "$ROWS / $s" | bcx) $(echo "scale=1; ($(cluster_cpu a) - $ca) / $tck" | bcx)" \
		"$(echo "scale=1; ($(cluster_cpu b) - $cb) / $tck" | bcx) $(cpu_noise "$c0" | cut -d' ' -f1)"
	if [ "$1" = copy ]; then
		check_b wide_copy "the COPY pipe"
	else
		bench_snk_stop
		check_b wide "the drain on $1 write session(s)"
	fi
}

bench_rounds "$ROUNDS" "$SESSIONS copy" "$work/runs"
json="{\"date\": \"$(date -u +%FT%TZ)\", \"table\": \"wide\", \"columns\": 12, \"rows\": $ROWS"
json="$json, \"row_bytes\": $row_bytes, \"table_mb\": $table_mb, \"rounds\": $ROUNDS"
echo
bench_medians "$work/runs" 101 all "all runs"
echo
bench_medians "$work/runs" 10 steal_under_10 "runs with under 10% steal"
echo "$json}" >"$res/drain_wide.json"
echo "wrote $res/drain_wide.json"
