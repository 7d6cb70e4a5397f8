#!/usr/bin/env bash
# bench/tables.sh - many tables in one snk (issue 15), three figures side by side in one run
# (not a test: it prints figures and asserts nothing about speed).
#   a. idle latency on one table (records) with 1 table configured and with 100 configured
#      (records and 99 small tables m01..m99 of six shapes: uuid, bigint, text, composite
#      and unique-index keys, and a child with a foreign key to a parent and to itself;
#      SMALL_ROWS (200) rows each, every table with the NOTIFY trigger). IDLE_ROUNDS (4)
#      rounds of each, interleaved (1, 100, 1, 100, ...), snk restarted for each round with
#      that config, IDLE_SAMPLES (250) probe samples a round alternating sides; p50/p99
#      over all samples of each, and p99(100) / p99(1) (issue 15's target: within 2x), both
#      over the pooled samples and as the median of each round's own ratio.
#      With IDLE_NO_TIMER=1 (default), a third config in the rotation, "100n": the 100
#      tables with poll_interval_ms 3600000, which tells the cost of the timer's passes
#      over every table from the cost of having them configured.
#   b. the same insert load into one table (l00) and spread over LOAD_TABLES (20) tables
#      (l00..l19, the shape of records), snk configured with exactly the loaded tables:
#      LOAD_ROUNDS (2) rounds of each, interleaved, LOAD_SECONDS (20) s of pgbench on both
#      sides, LOAD_CLIENTS (1) client a side inserting 1000-row batches (as tst does) at
#      full speed, or LOAD_RATE batches/s a side (pgbench -R) when set; the same probe every
#      50 ms into l00; every round starts on empty tables (TRUNCATE on both sides). Rows/s
#      snk copied during the load, seconds to copy the rest after it, probe p99, and the
#      ratios 20 / 1 (target: within 20%).
#   c. server CPU per idle pass with 100 tables configured: CPU time of the backend of the
#      session "snk a.read" (pg_stat_activity, then /proc/PID/stat) over QUIET_SECONDS (60)
#      divided by the a_to_b passes in that time (snkctl status --json), (1) with notify
#      wakes only (poll_interval_ms 3600000: the timer all but off), a row every
#      TRICKLE_MS (100) ms into records on a waking the passes, and (2) with the poll
#      timer (poll_interval_ms 250) and nothing inserted. With CPU_ONE_TABLE=1 (default)
#      the same two with 1 table configured, for the baseline.
# Every phase starts from b identical to a (checked by a per-table digest of every column
# but snk_xid) and the run ends with that check on every table of both databases.
# Default: about 8 minutes. Prints a table; writes bench/results/tables.json (or
# $SNK_BENCH_RESULTS/tables.json), and the samples to tables/ there. SNK_BIN_DIR as for
# bench/run.
# The load is pgbench, from postgresql-15 (which scripts/deps.sh installs).
# Sourced (`. bench/tables.sh`), it only defines its functions.
set -euo pipefail
shopt -s inherit_errexit # a failed step inside $(...) ends the script too

IDLE_ROUNDS=${IDLE_ROUNDS:-4}
IDLE_SAMPLES=${IDLE_SAMPLES:-250}
OTHER_TABLES=${OTHER_TABLES:-99}
SMALL_ROWS=${SMALL_ROWS:-200}
LOAD_ROUNDS=${LOAD_ROUNDS:-2}
LOAD_SECONDS=${LOAD_SECONDS:-20}
LOAD_TABLES=${LOAD_TABLES:-20}
LOAD_CLIENTS=${LOAD_CLIENTS:-1}
LOAD_RATE=${LOAD_RATE:-}
QUIET_SECONDS=${QUIET_SECONDS:-60}
TRICKLE_MS=${TRICKLE_MS:-100}
CPU_ONE_TABLE=${CPU_ONE_TABLE:-1}
IDLE_NO_TIMER=${IDLE_NO_TIMER:-1}
SYNC_TIMEOUT_S=${SYNC_TIMEOUT_S:-300}
TABLES_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --- the tables ---

# many_names: records and the OTHER_TABLES small tables, one a line.
many_names() {
	echo records
	for i in $(seq 1 "$OTHER_TABLES"); do printf 'm%02d\n' "$i"; done
}

# load_names N: l00 .. l(N-1), one a line.
load_names() { for i in $(seq 0 $(($1 - 1))); do printf 'l%02d\n' "$i"; done; }

# small_table_sql I FILL: CREATE TABLE of table mI (shape I % 6), and with FILL=1 the
# INSERT of its SMALL_ROWS rows. Shape 5 references table m(I-4), of shape 1, and itself.
small_table_sql() {
	local t r=$SMALL_ROWS
	t=$(printf 'm%02d' "$1")
	case $(($1 % 6)) in
	0)
		echo "CREATE TABLE $t (id uuid PRIMARY KEY, data text NOT NULL);"
		[ "$2" = 0 ] || echo "INSERT INTO $t SELECT gen_random_uuid(), 'row ' || g FROM generate_series(1, $r) g;"
		;;
	1)
		echo "CREATE TABLE $t (id bigint PRIMARY KEY, n int NOT NULL, note text, at timestamptz NOT NULL);"
		[ "$2" = 0 ] || echo "INSERT INTO $t SELECT g, g * 7, CASE WHEN g % 5 = 0 THEN NULL ELSE md5(g::text) END,
			timestamptz '2026-01-01 00:00:00+00' + g * interval '1 min' FROM generate_series(1, $r) g;"
		;;
	2)
		echo "CREATE TABLE $t (k text PRIMARY KEY, doc jsonb);"
		[ "$2" = 0 ] || echo "INSERT INTO $t SELECT 'k' || g, jsonb_build_object('g', g, 'tags', jsonb_build_array('x', g % 3))
			FROM generate_series(1, $r) g;"
		;;
	3)
		echo "CREATE TABLE $t (tenant int, n bigint, amount numeric(12,2), tags text[], PRIMARY KEY (tenant, n));"
		[ "$2" = 0 ] || echo "INSERT INTO $t SELECT g % 7, g, g / 3.0, ARRAY['t' || g % 4, 'u'] FROM generate_series(1, $r) g;"
		;;
	4)
		# No primary key: the unique index over a NOT NULL column is the key.
		echo "CREATE TABLE $t (code text NOT NULL UNIQUE, v int);"
		[ "$2" = 0 ] || echo "INSERT INTO $t SELECT 'c-' || md5(g::text), g FROM generate_series(1, $r) g;"
		;;
	5)
		local p
		p=$(printf 'm%02d' $(($1 - 4)))
		echo "CREATE TABLE $t (id bigint PRIMARY KEY, parent bigint NOT NULL REFERENCES $p (id),
			prev bigint REFERENCES $t (id), v text);"
		[ "$2" = 0 ] || echo "INSERT INTO $t SELECT g, g % $r + 1, NULLIF(g - 1, 0), 'child ' || g FROM generate_series(1, $r) g;"
		;;
	esac
}

# many_create PORT DB FILL: records and the small tables in DB (filled with FILL=1).
many_create() {
	{
		echo "SET client_min_messages = warning;"
		echo "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL);"
		for i in $(seq 1 "$OTHER_TABLES"); do small_table_sql "$i" "$3"; done
	} | P "$1" -d "$2" >/dev/null
}

# load_create PORT DB: the tables of part b, of records' shape.
load_create() {
	load_names "$LOAD_TABLES" | sed 's/.*/CREATE TABLE & (id uuid PRIMARY KEY, data text NOT NULL);/' | P "$1" -d "$2" >/dev/null
}

# triggers PORT DB TABLE...: migrations/notify_trigger.sql on every TABLE, in one session.
triggers() {
	local port=$1 db=$2
	shift 2
	{
		echo "SET client_min_messages = warning;"
		printf '\\set table %s\n\\set channel snk_records\n\\i '"$PWD"'/migrations/notify_trigger.sql\n' "$@"
	} | P "$port" -d "$db" >/dev/null
}

# tables_config FILE DB SOCKET TABLES [JSON_MEMBERS]: a snk config with "tables" listing
# TABLES (space separated, in public), control socket SOCKET, and any extra members.
tables_config() {
	local list
	list=$(for t in $4; do printf '"public.%s", ' "$t"; done)
	bench_config "$1" "$2" "$3" "\"tables\": [${list%, }]${5:+, $5}"
}

# tables_digest PORT DB TABLE...: a line "TABLE ROWS HASH" per TABLE, HASH the sum of a
# 64-bit hash of each row's text over every column but snk_xid (which differs by design),
# in a session whose output settings are pinned: two databases holding the same rows in
# any order give the same lines, and any difference in any column of any row changes one.
# The column lists come from PORT's catalog, so both sides are hashed over the same list.
tables_digest() {
	local port=$1 db=$2 sql
	shift 2
	sql=$(P "$port" -d "$db" -Atc "SELECT string_agg(pg_catalog.format(
			'SELECT %L, count(*), coalesce(sum(pg_catalog.hashtextextended(row(%s)::text, 0)), 0) FROM public.%I',
			c.relname, (SELECT string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attname)
			            FROM pg_catalog.pg_attribute a
			            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'snk_xid'),
			c.relname), ' UNION ALL ' ORDER BY c.relname)
		FROM pg_catalog.pg_class c
		WHERE c.relnamespace = 'public'::pg_catalog.regnamespace AND c.relname = ANY (string_to_array('$*', ' '))")
	P "$port" -d "$db" -At -F ' ' -c "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres';
		SET extra_float_digits = 3; SET bytea_output = 'hex'" -c "$sql ORDER BY 1"
}

# tables_differ DB TABLE...: prints the tables whose rows differ between a and b, as
# "TABLE a: ROWS HASH b: ROWS HASH" (nothing when all are identical); the digest of a
# table missing on one side is "missing".
tables_differ() {
	local db=$1 da db_
	shift
	# Into variables first, so that a failed query ends the run instead of reading as "identical".
	da=$(tables_digest "$SNK_IT_PORT_A" "$db" "$@" | sort)
	db_=$(tables_digest "$SNK_IT_PORT_B" "$db" "$@" | sort)
	join -a1 -a2 -e missing -o 0,1.2,1.3,2.2,2.3 <(echo "$da") <(echo "$db_") |
		awk '$2 != $4 || $3 != $5 { print $1, "a:", $2, $3, "b:", $4, $5 }'
}

# wait_identical DB WHAT TABLE...: returns once b holds exactly a's rows in every TABLE;
# ends the run, naming the tables that still differ, after SYNC_TIMEOUT_S.
wait_identical() {
	local db=$1 what=$2 t0 d
	shift 2
	t0=$SECONDS
	while :; do
		d=$(tables_differ "$db" "$@")
		[ -n "$d" ] || return 0
		if [ $((SECONDS - t0)) -ge "$SYNC_TIMEOUT_S" ]; then
			echo "$what: after ${SYNC_TIMEOUT_S}s, $(wc -l <<<"$d") table(s) still differ between a and b:" >&2
			head -5 <<<"$d" >&2
			exit 1
		fi
		sleep 0.5
	done
}

# --- snk ---

# snk_up CONFIG: starts snk on CONFIG (socket $sock, log $work/snk.log) and returns once
# both directions have made a pass and no reconcile runs or is owed.
snk_up() {
	"$build/snk" -c "$1" >>"$work/snk.log" 2>&1 &
	SNK_PID=$!
	bench_wait_snk "$sock"
	snk_settle
}

# snk_settle: waits until both directions made a pass and no reconcile runs or is owed
# (at most SYNC_TIMEOUT_S), so that a measurement starts on a quiet snk.
snk_settle() {
	local t0=$SECONDS s
	while :; do
		kill -0 "$SNK_PID" 2>/dev/null || {
			echo "snk exited; the end of $work/snk.log:" >&2
			tail -5 "$work/snk.log" >&2
			SNK_PID=
			exit 1
		}
		s=$(bench_status "$sock" || true)
		[ -n "$s" ] && jq -e '.a_to_b.passes > 0 and .b_to_a.passes > 0 and .reconcile.state == "idle"
			and (.reconcile.owed_a_to_b | not) and (.reconcile.owed_b_to_a | not)
			and .a_to_b.batches_in_flight == 0 and .b_to_a.batches_in_flight == 0' <<<"$s" >/dev/null && return 0
		if [ $((SECONDS - t0)) -ge "$SYNC_TIMEOUT_S" ]; then
			echo "snk did not settle within ${SYNC_TIMEOUT_S}s: $(jq -c '{a_to_b: .a_to_b.state, b_to_a: .b_to_a.state, reconcile}' <<<"$s")" >&2
			exit 1
		fi
		sleep 0.2
	done
}

# copied: rows snk has written so far, both directions, all tables.
copied() { bench_status "$sock" | jq '.a_to_b.rows_copied + .a_to_b.rows_already_present + .b_to_a.rows_copied + .b_to_a.rows_already_present'; }

# pctl P FILE...: the P-th percentile (nearest rank, as the probe's) of the latency column
# (the third) of the probe's CSV files.
pctl() {
	local p=$1
	shift
	cat "$@" | cut -d, -f3 | sort -n | awk -v p="$p" '{ a[NR] = $1 }
		END { if (!NR) { print "null"; exit } i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print a[i] }'
}

# ratio X Y: X / Y to two places ("null" when either is missing or Y is 0).
ratio() {
	if [ "$1" = null ] || [ "$2" = null ] || [ "$(echo "$2 == 0" | bc)" = 1 ]; then echo null; else echo "scale=2; $1 / $2" | bcx; fi
}

# ticks PID: utime + stime of PID, in clock ticks (/proc/PID/stat fields 14 and 15).
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# --- a. idle latency ---

idle_round() {
	local v=$1 r=$2 out
	snk_up "$work/many$v.json"
	out=$("$build/probe" -c "$work/probe-many.json" --samples "$IDLE_SAMPLES" --gap-ms 10 \
		--csv "$work/idle-$v-$r.csv" | tail -1)
	bench_snk_stop
	printf '%-6s %-8s %10s %10s %9s\n' "$r" "$v" "$(jsonfield "$out" p50_ms)" "$(jsonfield "$out" p99_ms)" \
		"$(sed -n 's/.*"timeouts": \([0-9]*\).*/\1/p' <<<"$out")"
}

part_a() {
	local r v order="1 100" note=
	[ "$IDLE_NO_TIMER" = 0 ] || order="1 100 100n" note="; 100n: the 100 without the poll timer"
	echo "== a. idle latency on records, 1 table configured against $((OTHER_TABLES + 1))" \
		"($IDLE_ROUNDS rounds of $IDLE_SAMPLES samples each$note)"
	printf '%-6s %-8s %10s %10s %9s\n' round tables "p50 ms" "p99 ms" timeouts
	for r in $(seq 1 "$IDLE_ROUNDS"); do
		for v in $order; do idle_round "$v" "$r"; done
		order=$(awk '{ for (i = 2; i <= NF; i++) printf "%s ", $i; print $1 }' <<<"$order")
	done
	idle_p50_1=$(pctl 50 "$work"/idle-1-*.csv) idle_p99_1=$(pctl 99 "$work"/idle-1-*.csv)
	idle_p50_100=$(pctl 50 "$work"/idle-100-*.csv) idle_p99_100=$(pctl 99 "$work"/idle-100-*.csv)
	idle_ratio=$(ratio "$idle_p99_100" "$idle_p99_1")
	# The pooled p99 follows the noisiest round; the ratio within each round (its configs
	# ran next to each other) follows the configs. Their median:
	idle_round_ratio=$(for r in $(seq 1 "$IDLE_ROUNDS"); do
		ratio "$(pctl 99 "$work/idle-100-$r.csv")" "$(pctl 99 "$work/idle-1-$r.csv")"
	done | grep -v null | median)
	idle_round_ratio=${idle_round_ratio:-null}
	idle_p50_100n=null idle_p99_100n=null
	if [ "$IDLE_NO_TIMER" = 1 ]; then
		idle_p50_100n=$(pctl 50 "$work"/idle-100n-*.csv) idle_p99_100n=$(pctl 99 "$work"/idle-100n-*.csv)
	fi
	# shellcheck disable=SC2046
	wait_identical many "after part a" $(many_names)
}

# --- b. load on 1 table against 20 ---

# pgbench_side PORT TABLES OUT: pgbench on PORT's database load for LOAD_SECONDS, each
# transaction a 1000-row INSERT into one of TABLES (picked at random, equal weights).
pgbench_side() {
	local args=() t
	for t in $2; do args+=(-f "$work/ins-$t.sql@1"); done
	"$PGBIN/pgbench" -n -h 127.0.0.1 -p "$1" -U postgres -c "$LOAD_CLIENTS" -j "$LOAD_CLIENTS" \
		-T "$LOAD_SECONDS" ${LOAD_RATE:+-R "$LOAD_RATE"} "${args[@]}" load >"$3" 2>&1
}

# pgbench_rows OUT: rows pgbench committed (1000 a transaction).
pgbench_rows() {
	local n
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1")
	[ -n "$n" ] || { echo "pgbench failed; its output:" >&2; cat "$1" >&2; exit 1; }
	echo $((n * 1000))
}

load_round() {
	local v=$1 r=$2 tabs c0 c1 t0 t1 pa pb pr pid_a pid_b pid_p ins n rate catchup steal s0
	tabs=$(load_names "$v")
	# Every round starts on empty tables: rows left by earlier rounds would make the one
	# table's index many times larger than the twenty's, and its inserts slower, on both
	# sides (a first run with 6 rounds of each: p50 from 21 to 154 ms on the one table, 47
	# to 55 on the twenty). Emptied on both sides, with snk stopped, they stay identical.
	for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
		P "$port" -d load -c "TRUNCATE $(load_names "$LOAD_TABLES" | paste -sd,)" -c CHECKPOINT
	done
	snk_up "$work/load$v.json"
	c0=$(copied) s0=$(cpu_snap) t0=$(now)
	pgbench_side "$SNK_IT_PORT_A" "$tabs" "$work/pgbench-a.out" &
	pid_a=$!
	pgbench_side "$SNK_IT_PORT_B" "$tabs" "$work/pgbench-b.out" &
	pid_b=$!
	"$build/probe" -c "$work/probe-load.json" --seconds "$LOAD_SECONDS" --gap-ms 50 \
		--csv "$work/load-$v-$r.csv" >"$work/probe-load.out" &
	pid_p=$!
	wait "$pid_a"
	wait "$pid_b"
	t1=$(now)
	c1=$(copied)
	wait "$pid_p" || true
	steal=$(cpu_noise "$s0" | cut -d' ' -f1)
	pa=$(pgbench_rows "$work/pgbench-a.out") pb=$(pgbench_rows "$work/pgbench-b.out")
	pr=$(tail -1 "$work/probe-load.out")
	ins=$((pa + pb + $(sed -n 's/.*"samples": \([0-9]*\), "timeouts": \([0-9]*\).*/\1 + \2/p' <<<"$pr")))
	rate=$(echo "($c1 - $c0) / ($t1 - $t0)" | bcx)
	while :; do
		n=$(copied)
		[ $((n - c0)) -lt "$ins" ] || break
		kill -0 "$SNK_PID" 2>/dev/null || { echo "snk exited during part b; see $work/snk.log" >&2; SNK_PID=; exit 1; }
		if [ "$(echo "$(now) - $t1 > $SYNC_TIMEOUT_S" | bc)" = 1 ]; then
			echo "part b: snk copied $((n - c0)) of the $ins rows inserted within ${SYNC_TIMEOUT_S}s after the load" >&2
			exit 1
		fi
		sleep 0.05
	done
	catchup=$(echo "$(now) - $t1" | bcx)
	bench_snk_stop
	printf '%-6s %-7s %13s %13s %11s %10s %10s %7s\n' "$r" "$v" "$(echo "$ins / ($t1 - $t0)" | bcx)" "$rate" \
		"$(printf %.2f "$catchup")" "$(jsonfield "$pr" p50_ms)" "$(jsonfield "$pr" p99_ms)" "$steal"
	echo "$v $rate $catchup" >>"$work/load-runs"
}

part_b() {
	local r v order="1 $LOAD_TABLES" t
	echo "== b. the same load into 1 table against $LOAD_TABLES ($LOAD_ROUNDS rounds of ${LOAD_SECONDS}s," \
		"pgbench on both sides, $LOAD_CLIENTS client(s) a side, ${LOAD_RATE:-full speed}${LOAD_RATE:+ batches/s a side})"
	for t in $(load_names "$LOAD_TABLES"); do
		echo "INSERT INTO $t (id, data) SELECT gen_random_uuid(), md5(random()::text) || repeat('x', (random() * 64)::int)
			FROM generate_series(1, 1000);" >"$work/ins-$t.sql"
	done
	: >"$work/load-runs"
	printf '%-6s %-7s %13s %13s %11s %10s %10s %7s\n' round tables "inserted/s" "copied/s" "catch-up s" "p50 ms" "p99 ms" steal%
	for r in $(seq 1 "$LOAD_ROUNDS"); do
		for v in $order; do load_round "$v" "$r"; done
		order=$(awk '{ print $2, $1 }' <<<"$order")
	done
	# lrate, lcatch, lp50, lp99: by number of tables loaded (1 or LOAD_TABLES).
	declare -gA lrate lcatch lp50 lp99
	for v in 1 "$LOAD_TABLES"; do
		lrate[$v]=$(awk -v v="$v" '$1 == v { print $2 }' "$work/load-runs" | median | xargs printf '%.0f')
		lcatch[$v]=$(awk -v v="$v" '$1 == v { print $3 }' "$work/load-runs" | median | xargs printf '%.2f')
		lp50[$v]=$(pctl 50 "$work"/load-"$v"-*.csv)
		lp99[$v]=$(pctl 99 "$work"/load-"$v"-*.csv)
	done
}

# --- c. server CPU per idle pass ---

# cpu_quiet TABLES MODE: one quiet period of QUIET_SECONDS with TABLES (1 or 100) tables
# configured and MODE notify or timer; prints "TABLES MODE passes a_read_ms us_per_pass
# snk_ms snk_us_per_pass".
cpu_quiet() {
	local n=$1 mode=$2 pid p0 p1 c0 c1 k0 k1 tck passes
	tck=$(getconf CLK_TCK)
	snk_up "$work/cpu-$n-$mode.json"
	sleep 1
	pid=$(P "$SNK_IT_PORT_A" -d many -Atc "SELECT pid FROM pg_catalog.pg_stat_activity WHERE application_name = 'snk a.read'")
	[ "$(wc -w <<<"$pid")" = 1 ] || {
		echo "part c: expected one backend named 'snk a.read' in a's pg_stat_activity, found: '${pid//$'\n'/ }'" >&2
		exit 1
	}
	p0=$(bench_status "$sock" | jq .a_to_b.passes) c0=$(ticks "$pid") k0=$(ticks "$SNK_PID")
	if [ "$mode" = notify ]; then
		"$build/probe" -c "$work/probe-many.json" --side a --seconds "$QUIET_SECONDS" --gap-ms "$TRICKLE_MS" \
			>"$work/probe-trickle.out"
	else
		sleep "$QUIET_SECONDS"
	fi
	p1=$(bench_status "$sock" | jq .a_to_b.passes) c1=$(ticks "$pid") k1=$(ticks "$SNK_PID")
	bench_snk_stop
	passes=$((p1 - p0))
	[ "$passes" -gt 0 ] || { echo "part c ($n tables, $mode): no a_to_b pass in ${QUIET_SECONDS}s" >&2; exit 1; }
	echo "$n $mode $passes $(((c1 - c0) * 1000 / tck)) $(echo "($c1 - $c0) * 1000000 / $tck / $passes" | bc)" \
		"$(((k1 - k0) * 1000 / tck)) $(echo "($k1 - $k0) * 1000000 / $tck / $passes" | bc)"
}

part_c() {
	local n mode line variants="100"
	[ "$CPU_ONE_TABLE" = 1 ] && variants="1 100"
	echo "== c. server CPU per idle pass (${QUIET_SECONDS}s each; 'snk a.read' backend and a_to_b passes)"
	printf '%-7s %-7s %8s %13s %12s %9s %12s\n' tables wake passes "a.read ms" "us / pass" "snk ms" "snk us/pass"
	: >"$work/cpu-runs"
	for mode in notify timer; do
		for n in $variants; do
			line=$(cpu_quiet "$n" "$mode")
			# shellcheck disable=SC2086
			printf '%-7s %-7s %8s %13s %12s %9s %12s\n' $line
			echo "$line" >>"$work/cpu-runs"
		done
	done
}

# cpu_field TABLES MODE COLUMN: a figure of part c (null when not measured).
cpu_field() { awk -v n="$1" -v m="$2" -v c="$3" '$1 == n && $2 == m { print $c; f = 1 } END { if (!f) print "null" }' "$work/cpu-runs"; }

main() {
	cd "$TABLES_TOP"
	local all t0 m
	res=${SNK_BENCH_RESULTS:-$PWD/bench/results}
	mkdir -p "$res"
	. bench/lib.sh
	bench_setup
	work=$SNK_IT_ROOT/tables
	sock=$work/snk.sock
	mkdir -p "$work"
	t0=$SECONDS
	bench_cleanup() {
		cp "$work/snk.log" "$res/snk-tables.log" 2>/dev/null || true
		{ mkdir -p "$res/tables" && cp "$work"/*.csv "$work"/*-runs "$res/tables/"; } 2>/dev/null || true
	}
	all=$(many_names | tr '\n' ' ')
	for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
		P "$port" -d postgres -c "CREATE DATABASE many" -c "CREATE DATABASE load"
		load_create "$port" load
	done
	# The small tables' rows are in a: snk's first copy brings them to b.
	many_create "$SNK_IT_PORT_A" many 1
	many_create "$SNK_IT_PORT_B" many 0
	bench_config "$work/probe-many.json" many "$work/probe.sock" '"table": "records"'
	bench_config "$work/probe-load.json" load "$work/probe.sock" '"table": "l00"'
	tables_config "$work/many1.json" many "$sock" records
	tables_config "$work/many100.json" many "$sock" "$all"
	tables_config "$work/many100n.json" many "$sock" "$all" '"poll_interval_ms": 3600000'
	tables_config "$work/load1.json" load "$sock" l00
	tables_config "$work/load$LOAD_TABLES.json" load "$sock" "$(load_names "$LOAD_TABLES" | tr '\n' ' ')"
	for m in notify timer; do
		[ $m = notify ] && iv=3600000 || iv=250
		tables_config "$work/cpu-1-$m.json" many "$sock" records "\"poll_interval_ms\": $iv"
		tables_config "$work/cpu-100-$m.json" many "$sock" "$all" "\"poll_interval_ms\": $iv"
	done
	"$build/snk" -c "$work/many100.json" migrate >/dev/null
	"$build/snk" -c "$work/load$LOAD_TABLES.json" migrate >/dev/null
	for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
		# shellcheck disable=SC2046
		triggers "$port" many $(many_names)
		# shellcheck disable=SC2046
		triggers "$port" load $(load_names "$LOAD_TABLES")
	done
	echo "first copy of the $((OTHER_TABLES + 1)) tables of database many ($SMALL_ROWS rows each in a)"
	snk_up "$work/many100.json"
	# shellcheck disable=SC2086
	wait_identical many "the first copy" $all
	snk_settle
	bench_snk_stop
	snk_up "$work/load$LOAD_TABLES.json"
	bench_snk_stop
	echo "set up in $((SECONDS - t0))s"

	part_a
	echo
	part_b
	echo
	part_c
	echo
	echo "final check: every table of both databases identical in a and b"
	# shellcheck disable=SC2086
	wait_identical many "the final check" $all
	# shellcheck disable=SC2046
	wait_identical load "the final check" $(load_names "$LOAD_TABLES")

	local L=$LOAD_TABLES load_rate_ratio load_p99_ratio
	load_rate_ratio=$(ratio "${lrate[$L]}" "${lrate[1]}")
	load_p99_ratio=$(ratio "${lp99[$L]}" "${lp99[1]}")
	echo
	printf '%-46s %12s %12s %8s %8s\n' figure "1 table" "$((OTHER_TABLES + 1)) / $L tables" ratio target
	printf '%-46s %12s %12s %8s %8s\n' "a. idle latency p50 (ms)" "$idle_p50_1" "$idle_p50_100" "$(ratio "$idle_p50_100" "$idle_p50_1")" ""
	printf '%-46s %12s %12s %8s %8s\n' "a. idle latency p99 (ms)" "$idle_p99_1" "$idle_p99_100" "$idle_ratio" "<= 2"
	printf '%-46s %12s %12s %8s %8s\n' "a. p99(100) / p99(1) within a round, median" "" "" "$idle_round_ratio" "<= 2"
	if [ "$IDLE_NO_TIMER" = 1 ]; then
		printf '%-46s %12s %12s %8s %8s\n' "a. idle latency p50, 100 without timer (ms)" "$idle_p50_1" "$idle_p50_100n" \
			"$(ratio "$idle_p50_100n" "$idle_p50_1")" ""
		printf '%-46s %12s %12s %8s %8s\n' "a. idle latency p99, 100 without timer (ms)" "$idle_p99_1" "$idle_p99_100n" \
			"$(ratio "$idle_p99_100n" "$idle_p99_1")" ""
	fi
	printf '%-46s %12s %12s %8s %8s\n' "b. rows/s copied under load (median)" "${lrate[1]}" "${lrate[$L]}" "$load_rate_ratio" ">= 0.8"
	printf '%-46s %12s %12s %8s %8s\n' "b. latency under load p50 (ms)" "${lp50[1]}" "${lp50[$L]}" "$(ratio "${lp50[$L]}" "${lp50[1]}")" ""
	printf '%-46s %12s %12s %8s %8s\n' "b. latency under load p99 (ms)" "${lp99[1]}" "${lp99[$L]}" "$load_p99_ratio" "<= 1.2"
	printf '%-46s %12s %12s %8s %8s\n' "b. catch-up after the load (s, median)" "${lcatch[1]}" "${lcatch[$L]}" "" ""
	for m in notify timer; do
		printf '%-46s %12s %12s %8s %8s\n' "c. a.read CPU per pass, $m wakes (us)" "$(cpu_field 1 $m 5)" "$(cpu_field 100 $m 5)" \
			"$(ratio "$(cpu_field 100 $m 5)" "$(cpu_field 1 $m 5)")" ""
		printf '%-46s %12s %12s %8s %8s\n' "c. snk CPU per pass, $m wakes (us)" "$(cpu_field 1 $m 7)" "$(cpu_field 100 $m 7)" \
			"$(ratio "$(cpu_field 100 $m 7)" "$(cpu_field 1 $m 7)")" ""
	done
	cat >"$res/tables.json" <<EOT
{"date": "$(date -u +%FT%TZ)", "tables_configured": $((OTHER_TABLES + 1)), "load_tables": $L,
 "idle": {"rounds": $IDLE_ROUNDS, "samples_per_round": $IDLE_SAMPLES,
   "one": {"p50_ms": $idle_p50_1, "p99_ms": $idle_p99_1}, "many": {"p50_ms": $idle_p50_100, "p99_ms": $idle_p99_100},
   "many_without_timer": {"p50_ms": $idle_p50_100n, "p99_ms": $idle_p99_100n}, "p99_ratio": $idle_ratio,
   "p99_ratio_within_rounds_median": $idle_round_ratio},
 "load": {"rounds": $LOAD_ROUNDS, "seconds": $LOAD_SECONDS, "clients_per_side": $LOAD_CLIENTS, "rate_per_side": ${LOAD_RATE:-null},
   "one": {"rows_per_s": ${lrate[1]}, "catchup_s": ${lcatch[1]}, "p50_ms": ${lp50[1]}, "p99_ms": ${lp99[1]}},
   "many": {"rows_per_s": ${lrate[$L]}, "catchup_s": ${lcatch[$L]}, "p50_ms": ${lp50[$L]}, "p99_ms": ${lp99[$L]}},
   "rows_per_s_ratio": $load_rate_ratio, "p99_ratio": $load_p99_ratio},
 "cpu_per_pass": {"seconds": $QUIET_SECONDS, "trickle_ms": $TRICKLE_MS,
   "notify": {"one": {"passes": $(cpu_field 1 notify 3), "a_read_us": $(cpu_field 1 notify 5), "snk_us": $(cpu_field 1 notify 7)},
              "many": {"passes": $(cpu_field 100 notify 3), "a_read_us": $(cpu_field 100 notify 5), "snk_us": $(cpu_field 100 notify 7)}},
   "timer": {"one": {"passes": $(cpu_field 1 timer 3), "a_read_us": $(cpu_field 1 timer 5), "snk_us": $(cpu_field 1 timer 7)},
             "many": {"passes": $(cpu_field 100 timer 3), "a_read_us": $(cpu_field 100 timer 5), "snk_us": $(cpu_field 100 timer 7)}}},
 "seconds": $((SECONDS - t0))}
EOT
	jq . "$res/tables.json" >/dev/null
	echo "wrote $res/tables.json ($((SECONDS - t0))s)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
