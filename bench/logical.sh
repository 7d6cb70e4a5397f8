#!/usr/bin/env bash
# bench/logical.sh - the reference row of issue 19: PostgreSQL 15's own bidirectional
# logical replication, measured with bench/run's protocol (not a test: it prints figures;
# it is a benchmark reference only, never part of snk).
# Two clusters of its own (bench/lib.sh's durable ones: fsync on, synchronous_commit on),
# restarted with wal_level = logical. Each database holds
#   records (id uuid PRIMARY KEY, data text NOT NULL, origin text NOT NULL DEFAULT '<side>')
# a publication per side, `FOR TABLE records WHERE (origin = '<side>') WITH (publish =
# 'insert')` (PG15 has no `origin = none`: the row filter keeps a replicated row, whose
# origin is the other side's, from going back), and a subscription to the other side's
# publication with copy_data = false. Applications (tst, probe) insert (id, data) only, so
# the DEFAULT marks where a row was written. For each value of the subscriptions'
# synchronous_commit in SYNC_COMMITS ("off on": off is PostgreSQL's default for a
# subscription, and is crash-safe there because the publisher resends what the
# subscriber has not flushed; on flushes every applied commit, as snk does):
#   1. idle latency: build/probe, IDLE_SAMPLES (500) samples alternating sides, 10 ms gap
#   2. latency under load: probe every 50 ms while tst runs at full speed for LOAD_SECONDS
#      (30) s into random sides
#   3. backlog drain: DRAIN_ROWS (500,000) rows inserted into a (tst, 1000-row
#      transactions) while b's subscription is disabled, then a marker row; the
#      subscription enabled: seconds until the marker is readable in b (rows apply in
#      commit order; b's count is checked afterwards). Then the raw ceiling: the COPY pipe
#      of a's rows into a table LIKE records INCLUDING ALL in b, which has the primary key
#      and no other index, in the same database. The clusters run with
#      wal_retrieve_retry_interval = 100ms (default 5 s), so that the launcher starts the
#      enabled worker at once: the time from ENABLE includes the worker's start, as snk's
#      drain includes snk's.
# Prints a table; writes bench/results/logical.json (or $SNK_BENCH_RESULTS/logical.json).
# SNK_BIN_DIR as for bench/run (probe and tst come from there; snk is not run).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
LOAD_SECONDS=${LOAD_SECONDS:-30}
DRAIN_ROWS=${DRAIN_ROWS:-500000}
IDLE_SAMPLES=${IDLE_SAMPLES:-500}
SYNC_COMMITS=${SYNC_COMMITS:-"off on"}
res=${SNK_BENCH_RESULTS:-$PWD/bench/results}
mkdir -p "$res"
. bench/lib.sh
bench_setup
work=$SNK_IT_ROOT/logical
mkdir -p "$work"

# pgctl ARGS...: pg_ctl as the clusters' owner.
pgctl() {
	if [ "$(id -u)" = 0 ]; then runuser -u "$SNK_IT_USER" -- "$SNK_IT_PGBIN/pg_ctl" "$@"; else "$SNK_IT_PGBIN/pg_ctl" "$@"; fi
}
for c in a b; do
	port=$([ $c = a ] && echo "$SNK_IT_PORT_A" || echo "$SNK_IT_PORT_B")
	P "$port" -d postgres -c "ALTER SYSTEM SET wal_level = logical"
	# The launcher starts an enabled subscription's worker at most once per this interval
	# (5 s by default) since its last start: the drain's ENABLE would otherwise wait up to
	# 5 s behind the workers pair() just started, time that is not the drain's.
	P "$port" -d postgres -c "ALTER SYSTEM SET wal_retrieve_retry_interval = '100ms'"
	# restart reuses the options the cluster was started with (postmaster.opts)
	pgctl -w -t 60 -D "$SNK_IT_ROOT/$c/data" -l "$SNK_IT_ROOT/$c/server.log" -m fast restart >/dev/null
	[ "$(P "$port" -d postgres -Atc "SHOW wal_level")" = logical ] || { echo "cluster $c: wal_level is not logical" >&2; exit 1; }
	P "$port" -d postgres -Atc "SELECT 'cluster $c: fsync=' || current_setting('fsync') || ' synchronous_commit=' || current_setting('synchronous_commit')"
done
port_of() { [ "$1" = a ] && echo "$SNK_IT_PORT_A" || echo "$SNK_IT_PORT_B"; }

# pair DB: database DB on both clusters, records with its origin column, a publication
# per side and a subscription per side to the other's (sub_DB_SIDE: slot names are per
# cluster); returns once both apply workers stream.
pair() {
	local s o
	for s in a b; do
		P "$(port_of $s)" -d postgres -c "CREATE DATABASE $1"
		P "$(port_of $s)" -d "$1" -c "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL,
			origin text NOT NULL DEFAULT '$s')" \
			-c "CREATE PUBLICATION pub_$s FOR TABLE records WHERE (origin = '$s') WITH (publish = 'insert')"
	done
	for s in a b; do
		o=$([ $s = a ] && echo b || echo a)
		P "$(port_of $s)" -d "$1" -c "CREATE SUBSCRIPTION sub_${1}_$s
			CONNECTION 'host=127.0.0.1 port=$(port_of "$o") user=postgres dbname=$1'
			PUBLICATION pub_$o WITH (copy_data = false)"
	done
	for s in a b; do
		for _ in $(seq 1 500); do
			[ "$(P "$(port_of $s)" -d postgres -Atc "SELECT count(*) FROM pg_stat_replication
				WHERE application_name = 'sub_${1}_$([ $s = a ] && echo b || echo a)' AND state = 'streaming'")" = 1 ] && break
			sleep 0.02
		done
	done
	bench_config "$work/$1.json" "$1" "$work/unused.sock"
}

# sync_commit DB VALUE: both subscriptions of DB apply with synchronous_commit = VALUE.
sync_commit() {
	local s
	for s in a b; do P "$(port_of $s)" -d "$1" -c "ALTER SUBSCRIPTION sub_${1}_$s SET (synchronous_commit = '$2')"; done
	sleep 0.5 # the apply workers reread the subscription
}

# wait_row DB SIDE ID: returns once row ID is readable on SIDE (psql every 50 ms, as
# bench/run polls snk's status during its drain).
wait_row() {
	while [ -z "$(P "$(port_of "$2")" -d "$1" -Atc "SELECT 1 FROM records WHERE id = '$3'")" ]; do sleep 0.05; done
}

pair lr
json="{\"date\": \"$(date -u +%FT%TZ)\", \"load_seconds\": $LOAD_SECONDS, \"drain_rows\": $DRAIN_ROWS, \"idle_samples\": $IDLE_SAMPLES, \"runs\": ["
sep=
for sc in $SYNC_COMMITS; do
	echo "== subscriptions with synchronous_commit = $sc"
	sync_commit lr "$sc"
	c0=$(cpu_snap)
	idle=$("$build/probe" -c "$work/lr.json" --samples "$IDLE_SAMPLES" --gap-ms 10 | tail -1)
	noise_idle=$(cpu_noise "$c0")
	echo "1. idle: $idle (steal / iowait % $noise_idle)"

	c0=$(cpu_snap)
	"$build/tst" -c "$work/lr.json" --seconds "$LOAD_SECONDS" --quiet >"$work/tst-$sc.out" &
	tst_pid=$!
	"$build/probe" -c "$work/lr.json" --seconds "$LOAD_SECONDS" --gap-ms 50 --csv "$res/logical-load-$sc.csv" >"$work/probe-$sc.out" &
	probe_pid=$!
	wait "$tst_pid"
	wait "$probe_pid" || true # a timed-out sample is counted in its output, not fatal
	load=$(tail -1 "$work/probe-$sc.out")
	noise_load=$(cpu_noise "$c0")
	read -r ta tb tt <<<"$(sed -n 's/^tst: a=\([0-9]*\) b=\([0-9]*\) total=\([0-9]*\)$/\1 \2 \3/p' "$work/tst-$sc.out")"
	load_rate=$((tt / LOAD_SECONDS))
	echo "2. under load: $load; tst $tt rows in ${LOAD_SECONDS}s = $load_rate rows/s (steal / iowait % $noise_load)"
	# both sides converge before the next phase
	for _ in $(seq 1 600); do
		[ "$(P "$SNK_IT_PORT_A" -d lr -Atc "SELECT count(*) FROM records")" = \
			"$(P "$SNK_IT_PORT_B" -d lr -Atc "SELECT count(*) FROM records")" ] && break
		sleep 0.1
	done

	db=drain_$sc
	pair "$db"
	sync_commit "$db" "$sc"
	P "$SNK_IT_PORT_B" -d "$db" -c "ALTER SUBSCRIPTION sub_${db}_b DISABLE"
	"$build/tst" -c "$work/$db.json" --side a --batches $((DRAIN_ROWS / 1000)) --quiet >/dev/null
	marker=$(cat /proc/sys/kernel/random/uuid)
	P "$SNK_IT_PORT_A" -d "$db" -c "INSERT INTO records (id, data) VALUES ('$marker', 'marker')"
	P "$SNK_IT_PORT_A" -d "$db" -c "VACUUM ANALYZE records" -c "CHECKPOINT"
	P "$SNK_IT_PORT_B" -d "$db" -c "CHECKPOINT"
	c0=$(cpu_snap)
	t0=$(now)
	P "$SNK_IT_PORT_B" -d "$db" -c "ALTER SUBSCRIPTION sub_${db}_b ENABLE"
	wait_row "$db" b "$marker"
	drain_s=$(echo "$(now) - $t0" | bcx)
	n=$(P "$SNK_IT_PORT_B" -d "$db" -Atc "SELECT count(*) FROM records")
	[ "$n" = $((DRAIN_ROWS + 1)) ] || { echo "b holds $n rows after the drain, not $((DRAIN_ROWS + 1))" >&2; exit 1; }
	drain_rate=$(echo "$DRAIN_ROWS / $drain_s" | bcx)
	P "$SNK_IT_PORT_B" -d "$db" -c "CREATE TABLE records_copy (LIKE records INCLUDING ALL)" -c "CHECKPOINT"
	t0=$(now)
	P "$SNK_IT_PORT_A" -d "$db" -c "COPY (SELECT id, data FROM records WHERE data <> 'marker') TO STDOUT" |
		P "$SNK_IT_PORT_B" -d "$db" -c "COPY records_copy (id, data) FROM STDIN"
	copy_s=$(echo "$(now) - $t0" | bcx)
	copy_rate=$(echo "$DRAIN_ROWS / $copy_s" | bcx)
	ratio=$(echo "scale=2; $drain_rate / $copy_rate" | bcx)
	noise_drain=$(cpu_noise "$c0")
	echo "3. drain: ${drain_s}s = $drain_rate rows/s; COPY pipe into a primary-key-only table:" \
		"${copy_s}s = $copy_rate rows/s; ratio $ratio (steal / iowait % $noise_drain)"
	json="$json$sep {\"subscription_synchronous_commit\": \"$sc\", \"idle\": $idle, \"under_load\": $load,
  \"load_rows\": $tt, \"load_rows_a\": $ta, \"load_rows_b\": $tb, \"load_rows_per_s\": $load_rate,
  \"drain_s\": $drain_s, \"drain_rows_per_s\": $drain_rate, \"copy_s\": $copy_s, \"copy_rows_per_s\": $copy_rate,
  \"drain_copy_ratio\": $ratio,
  \"steal_iowait_pct\": {\"idle\": \"$noise_idle\", \"load\": \"$noise_load\", \"drain\": \"$noise_drain\"}}"
	sep=,
done
echo "$json]}" | jq . >"$res/logical.json"

echo
printf '%-44s' "native logical replication, figure"
for sc in $SYNC_COMMITS; do printf ' %22s' "sync_commit=$sc"; done
echo
row() {
	local sc
	printf '%-44s' "$1"
	for sc in $SYNC_COMMITS; do
		printf ' %22s' "$(jq -r --arg sc "$sc" ".runs[] | select(.subscription_synchronous_commit == \$sc) | $2" "$res/logical.json")"
	done
	echo
}
row "idle latency p50 / p99 (ms)" '"\(.idle.p50_ms) / \(.idle.p99_ms)"'
row "under load p50 / p99 / max (ms)" '"\(.under_load.p50_ms) / \(.under_load.p99_ms) / \(.under_load.max_ms)"'
row "tst load (rows/s, both sides)" '.load_rows_per_s'
row "backlog drain (rows/s)" '.drain_rows_per_s'
row "COPY pipe, PK-only table (rows/s)" '.copy_rows_per_s'
row "drain / COPY" '.drain_copy_ratio'
echo "wrote $res/logical.json"
