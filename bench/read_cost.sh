#!/usr/bin/env bash
# bench/read_cost.sh - what one poll costs the reader, by table size and xid index.
# For each SIZE (rows, default 1M and 4M): a table laid out as an application fills it
# (snk_xid rising by one per 1000-row transaction), once with the BRIN index `snk migrate`
# creates and once with a btree; then the window query of a poll that finds nothing new
# (snk_xid >= xmax, the in-progress list empty), run REPS times: median execution time.
# Prints a table and writes bench/results/read_cost.json.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
SIZES=${SIZES:-1000000 4000000}
REPS=${REPS:-21}
SNK_BUILD_DIR=${SNK_BUILD_DIR:-build-release}
. bench/lib.sh
bench_setup
PA() { P "$SNK_IT_PORT_A" "$@"; }
# poll_ms TABLE XMAX: median execution time of the empty poll's window query.
poll_ms() {
	local i
	for i in $(seq 1 "$REPS"); do
		PA -d postgres -Atc "SET enable_seqscan = off" -c "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON)
			SELECT id FROM $1 WHERE snk_xid >= $2 OR snk_xid = ANY (ARRAY(SELECT x::text::int8
			FROM unnest('{}'::xid8[]) x WHERE pg_visible_in_snapshot(x, pg_current_snapshot())))" |
			sed -n 's/.*"Execution Time": \([0-9.]*\).*/\1/p'
	done | median
}
json= sep=
printf '%-12s %10s %16s %16s\n' rows "table MB" "poll, BRIN ms" "poll, btree ms"
for n in $SIZES; do
	PA -d postgres -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS rb, rt" \
		-c "CREATE TABLE rb (id uuid PRIMARY KEY, data text NOT NULL, snk_xid bigint)" \
		-c "INSERT INTO rb SELECT gen_random_uuid(), md5(i::text) || repeat('x', i % 64), 1000 + i / 1000 FROM generate_series(1, $n) i" \
		-c "CREATE TABLE rt AS SELECT * FROM rb" \
		-c "CREATE INDEX ON rb USING brin (snk_xid) WITH (pages_per_range = 32)" -c "CREATE INDEX ON rt (snk_xid)" \
		-c "VACUUM ANALYZE rb" -c "VACUUM ANALYZE rt" >/dev/null
	mb=$(PA -d postgres -Atc "SELECT pg_relation_size('rb') / 1048576")
	xmax=$((1000 + n / 1000 + 1))
	b=$(poll_ms rb $xmax) t=$(poll_ms rt $xmax)
	printf '%-12s %10s %16s %16s\n' "$n" "$mb" "$b" "$t"
	json+="$sep{\"rows\": $n, \"table_mb\": $mb, \"brin_ms\": $b, \"btree_ms\": $t}" sep=", "
done
mkdir -p "$top/bench/results"
echo "{\"date\": \"$(date -u +%FT%TZ)\", \"reps\": $REPS, \"sizes\": [$json]}" >"$top/bench/results/read_cost.json"
