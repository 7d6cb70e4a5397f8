#!/usr/bin/env bash
# bench/reconcile.sh - what verify and reconcile cost on large tables (issue 5). Not a test.
# Two PostgreSQL 15 clusters with durable settings, a Release build. For each size in SIZES
# (default "1000000 10000000"):
#   1. both tables filled with the same SIZE rows, all marked as copied by snk (snk_xid NULL),
#      so the tail has nothing to do and every repair below is the reconcile's;
#   2. `snk verify` on the identical tables: seconds and bytes received;
#   3. 1% of the rows deleted behind snk's back (half from a, half from b), `snk verify`
#      again, then snk started: its first-start reconcile repairs them; seconds, queries,
#      bytes received and rows repaired, as snkctl status reports them.
# Prints a table; writes bench/results/reconcile.json.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
SIZES=${SIZES:-"1000000 10000000"}
res=$top/bench/results
mkdir -p "$res"
bench_cleanup() {
	cp "$SNK_IT_ROOT"/rbench/snk-*.log "$res/" 2>/dev/null || true
}
. bench/lib.sh
bench_setup
work=$SNK_IT_ROOT/rbench
mkdir -p "$work"
json="["
printf '%-10s %-22s %9s %12s %9s %s\n' rows step seconds "kB received" queries repaired
for n in $SIZES; do
	db=rb_$n
	for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do P "$port" -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"; done
	cfg=$work/config-$n.json
	bench_config "$cfg" "$db" "$work/snk.sock" '"notify_channel": ""'
	"$build/snk" -c "$cfg" migrate >/dev/null
	P "$SNK_IT_PORT_A" -d "$db" -c "INSERT INTO records (id, data, snk_xid)
		SELECT gen_random_uuid(), md5(i::text) || repeat('x', i % 64), NULL FROM generate_series(1, $n) i"
	P "$SNK_IT_PORT_A" -d "$db" -c "COPY records (id, data, snk_xid) TO STDOUT" |
		P "$SNK_IT_PORT_B" -d "$db" -c "COPY records (id, data, snk_xid) FROM STDIN"
	for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do P "$port" -d "$db" -c "VACUUM ANALYZE records" -c CHECKPOINT; done
	t0=$(now)
	"$build/snk" -c "$cfg" verify >"$work/v1.out"
	t1=$(now)
	v1_s=$(echo "$t1 - $t0" | bcx)
	v1_b=$(sed -n 's/^IDENTICAL ([0-9]* queries, \([0-9]*\) bytes received)$/\1/p' "$work/v1.out")
	v1_q=$(sed -n 's/^IDENTICAL (\([0-9]*\) queries.*/\1/p' "$work/v1.out")
	printf '%-10s %-22s %9.2f %12d %9s %s\n' "$n" "verify, identical" "$v1_s" $((v1_b / 1024)) "$v1_q" -
	# 0.5% of the ids from a, another 0.5% from b: disjoint, so each is a row to repair.
	bucket="('x' || substr(md5(id::text), 1, 8))::bit(32)::bigint % 200"
	P "$SNK_IT_PORT_A" -d "$db" -c "DELETE FROM records WHERE $bucket = 0"
	P "$SNK_IT_PORT_B" -d "$db" -c "DELETE FROM records WHERE $bucket = 1"
	ca=$(P "$SNK_IT_PORT_A" -d "$db" -Atc "SELECT count(*) FROM records")
	cb=$(P "$SNK_IT_PORT_B" -d "$db" -Atc "SELECT count(*) FROM records")
	t0=$(now)
	"$build/snk" -c "$cfg" verify >"$work/v2.out" || true
	t1=$(now)
	v2_s=$(echo "$t1 - $t0" | bcx)
	v2_b=$(sed -n 's/^DIFFERENT ([0-9]* queries, \([0-9]*\) bytes received)$/\1/p' "$work/v2.out")
	v2_q=$(sed -n 's/^DIFFERENT (\([0-9]*\) queries.*/\1/p' "$work/v2.out")
	missing=$(( (n - ca) + (n - cb) ))
	printf '%-10s %-22s %9.2f %12d %9s %s\n' "$n" "verify, 1% differ" "$v2_s" $((v2_b / 1024)) "$v2_q" "($missing differ)"
	"$build/snk" -c "$cfg" >"$work/snk-$n.log" 2>&1 &
	SNK_PID=$!
	bench_wait_snk "$work/snk.sock"
	until [ "$(bench_status "$work/snk.sock" | jq -r '.reconcile.last.result // empty')" != "" ]; do sleep 0.5; done
	bench_status "$work/snk.sock" | jq '.reconcile.last' >"$work/last.json"
	bench_snk_stop
	r_s=$(jq .seconds "$work/last.json")
	r_b=$(jq .bytes_received "$work/last.json")
	r_q=$(jq .queries "$work/last.json")
	r_n=$(jq '.rows_repaired_into_a + .rows_repaired_into_b' "$work/last.json")
	[ "$(jq -r .result "$work/last.json")" = complete ] || { echo "reconcile did not complete: $(cat "$work/last.json")" >&2; exit 1; }
	[ "$r_n" = "$missing" ] || { echo "reconcile repaired $r_n rows, $missing were missing" >&2; exit 1; }
	"$build/snk" -c "$cfg" verify >"$work/v3.out" || { echo "tables differ after the reconcile" >&2; exit 1; }
	printf '%-10s %-22s %9.2f %12d %9s %s\n' "$n" "reconcile, 1% missing" "$r_s" $((${r_b%.*} / 1024)) "$r_q" "$r_n"
	json+="{\"rows\": $n, \"verify_identical_s\": $v1_s, \"verify_identical_bytes\": $v1_b,"
	json+=" \"verify_differ_s\": $v2_s, \"verify_differ_bytes\": $v2_b, \"missing\": $missing,"
	json+=" \"reconcile_s\": $r_s, \"reconcile_bytes\": $r_b, \"reconcile_queries\": $r_q, \"repaired\": $r_n},"
	for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do P "$port" -d postgres -c "DROP DATABASE $db"; done
done
echo "${json%,}]" >"$res/reconcile.json"
echo "wrote $res/reconcile.json"
