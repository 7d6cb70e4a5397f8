# bench/lib.sh - sourced by the benchmarks, from the project root.
#
# bench_setup: installs the dependencies, builds Release into $build (SNK_BUILD_DIR, default
# build-release), starts two PostgreSQL 15 clusters with durable settings and loads their
# SNK_IT_* variables; on exit, runs the caller's bench_cleanup (when it defines one), then
# stops the clusters. With SNK_BIN_DIR set (as for the tests), $build is that directory of
# binaries built elsewhere, used as it is and not rebuilt: bench/compare.sh runs two builds
# of different commits that way.
# The clusters start with BENCH_WAL_SEGMENTS (64, 1 GB) WAL segments already created and
# recycled, as on a server that has run for a while (bench_warm_wal); 0 leaves them out.
bench_setup() {
	. scripts/deps.sh
	snk_install_deps
	PGBIN=$(snk_pgbin)
	export PGBIN
	if [ -n "${SNK_BIN_DIR:-}" ]; then
		build=$SNK_BIN_DIR
		bench_check_bin_dir "$build" || exit 1
		echo "using the binaries in $build as they are ($(bench_build_type "$build") build)" >&2
	else
		build=${SNK_BUILD_DIR:-build-release}
		cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$build" -j"$(nproc)" >/dev/null
	fi
	BENCH_ENV=$(mktemp /tmp/snk-bench-env.XXXXXX)
	SNK_CLUSTER_DURABLE=1 test/integration/clusters.sh start "$BENCH_ENV" >/dev/null
	. "$BENCH_ENV"
	trap bench_exit EXIT
	local v
	for v in ${!SNK_IT_PORT_@}; do bench_warm_wal "${!v}"; done
}

# bench_warm_wal PORT: creates BENCH_WAL_SEGMENTS WAL segments in that cluster and lets a
# checkpoint recycle them. A new cluster has none to recycle: every 16 MB of WAL, the
# backend that needs the next segment zero-fills and syncs a new one while it holds
# WALWriteLock, and every commit of the cluster waits behind it (about 50 ms on this
# machine, every 0.5 s under tst's load: pg_stat_activity shows IO WALInitWrite and
# WALInitSync). A server that has run for a while renames old segments instead. It
# matters to every latency figure under load, snk's and native replication's alike.
bench_warm_wal() {
	local n=${BENCH_WAL_SEGMENTS:-64}
	[ "$n" -gt 0 ] || return 0
	P "$1" -d postgres -c "CREATE TABLE IF NOT EXISTS bench_wal_warm (i int)" >/dev/null
	for _ in $(seq 1 "$n"); do echo "INSERT INTO bench_wal_warm VALUES (1); SELECT pg_catalog.pg_switch_wal();"; done |
		P "$1" -d postgres >/dev/null
	P "$1" -d postgres -c "DROP TABLE bench_wal_warm" -c "CHECKPOINT" -c "CHECKPOINT" >/dev/null
}

bench_exit() {
	bench_snk_stop
	if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
	test/integration/clusters.sh stop "$BENCH_ENV" >/dev/null
	rm -f "$BENCH_ENV" "$BENCH_ENV".*
}

# P PORT psql-args...: psql as postgres on one of the clusters, stopping at the first error.
P() {
	local port=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}

# bench_config FILE DBNAME SOCKET [JSON_MEMBERS]: writes a snk config for database DBNAME
# on both clusters, with control socket SOCKET and any extra members, to FILE.
bench_config() {
	cat >"$1" <<EOT
{"databases": {"a": "host=127.0.0.1 port=$SNK_IT_PORT_A user=postgres dbname=$2",
               "b": "host=127.0.0.1 port=$SNK_IT_PORT_B user=postgres dbname=$2"},
 "control_socket": "$3"${4:+, $4}}
EOT
}

# bench_new_db DIR NAME [trigger]: database NAME on both clusters, its config DIR/NAME.json
# (control socket DIR/NAME.sock), migrated by snk; with "trigger", the NOTIFY trigger on
# records in both.
bench_new_db() {
	local port
	for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do P "$port" -d postgres -c "CREATE DATABASE $2"; done
	bench_config "$1/$2.json" "$2" "$1/$2.sock"
	"$build/snk" -c "$1/$2.json" migrate >/dev/null
	[ "${3:-}" = trigger ] || return 0
	for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
		PGOPTIONS="-c client_min_messages=warning" P "$port" -d "$2" -v table=records -v channel=snk_records \
			-f migrations/notify_trigger.sql
	done
}

# SNK_PID: the snk a benchmark started in the background, if any; bench_snk_stop sends it
# SIGTERM and waits (bench_exit does too).
SNK_PID=
bench_snk_stop() {
	[ -z "$SNK_PID" ] || { kill -TERM "$SNK_PID" 2>/dev/null; wait "$SNK_PID" 2>/dev/null || true; }
	SNK_PID=
}

now() { date +%s.%N; }

# cpu_snap: the machine's CPU counters (/proc/stat, all CPUs): "total steal iowait".
cpu_snap() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9, $6 }' /proc/stat; }
# cpu_noise SNAP: "steal% / iowait%" of all CPU time since SNAP. Steal is time the VM's
# host gave to others; when it is high, every figure of that phase is slowed.
cpu_noise() {
	local t0 s0 w0 t1 s1 w1
	read -r t0 s0 w0 <<<"$1"
	read -r t1 s1 w1 <<<"$(cpu_snap)"
	awk -v t=$((t1 - t0)) -v s=$((s1 - s0)) -v w=$((w1 - w0)) 'BEGIN { if (t <= 0) t = 1; printf "%.1f / %.1f\n", 100 * s / t, 100 * w / t }'
}

# bcx: bc, with the leading zero JSON needs (bc prints .5 and -.5).
bcx() { bc | sed -E 's/^(-?)\./\10./'; }

# median: the median of the numbers on stdin, one per line.
# (printf, not print: awk prints 1234567.5 as 1.23457e+06, which bc cannot read)
median() { sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.10g\n", (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# jsonfield JSON FIELD: the number FIELD holds in a one-line JSON object (the probe's).
jsonfield() { sed -n 's/^{.*"'"$2"'": \([0-9.]*\).*/\1/p' <<<"$1"; }

# bench_wait_snk SOCKET: returns once snk answers on its control socket; ends the
# benchmark with a message when it has not within 5 s.
bench_wait_snk() {
	for _ in $(seq 1 250); do "$build/snkctl" -s "$1" ping >/dev/null 2>&1 && return 0; sleep 0.02; done
	echo "snk did not start (no answer on $1 within 5 s)" >&2
	exit 1
}

# bench_status SOCKET: snkctl status --json; a degraded snk (exit 2: a direction still
# waiting or retrying) answers too, and is not an error for a benchmark.
bench_status() {
	local rc=0
	"$build/snkctl" -s "$1" status --json || rc=$?
	[ "$rc" = 0 ] || [ "$rc" = 2 ]
}

# bench_check_bin_dir DIR: true when DIR holds the binaries the benchmarks run; else says
# which one is missing.
bench_check_bin_dir() {
	local b
	for b in snk snkctl tst probe; do
		[ -x "$1/$b" ] || { echo "$1/$b: not found (build the tree into $1 first)" >&2; return 1; }
	done
}

# bench_build_type DIR: the CMAKE_BUILD_TYPE DIR was configured with ("unknown" without a
# CMakeCache.txt); a benchmark of a Debug build measures the build, not snk.
bench_build_type() {
	local t
	t=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$1/CMakeCache.txt" 2>/dev/null || true)
	echo "${t:-unknown}"
}

# cluster_cpu NAME: CPU ticks used so far by cluster NAME's processes, the ended ones
# included (the postmaster's children counters).
cluster_cpu() {
	local pm t p
	pm=$(head -1 "$SNK_IT_ROOT/$1/data/postmaster.pid")
	t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
	for p in $(pgrep -P "$pm"); do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# bench_wait_copied SOCKET ROWS: returns once the snk of SNK_PID reports ROWS rows copied
# from a to b; ends the benchmark, with the tail of LOG (optional third argument), when
# that snk has exited first (a config or schema error, say) instead of waiting forever.
bench_wait_copied() {
	local n
	while :; do
		if ! kill -0 "$SNK_PID" 2>/dev/null; then
			echo "snk exited before it had copied $2 rows$([ -z "${3:-}" ] || echo "; the end of $3:")" >&2
			[ -z "${3:-}" ] || tail -5 "$3" >&2
			SNK_PID=
			exit 1
		fi
		n=$(bench_status "$1" | jq '.a_to_b.rows_copied' 2>/dev/null || true)
		[ -n "$n" ] && [ "$n" -ge "$2" ] && return 0
		sleep 0.05
	done
}

# The wide table of bench/drain_wide.sh and bench/run's step 7: 12 columns of the usual
# types of an application's table, a bigint key, NULLs in three columns, about 590 bytes a
# row (a 100-byte note, a 230-byte jsonb with a nested array and a nested object).
WIDE_COLS="id, tenant, created, amount, price, qty, flag, name, note, tags, payload, ref"

# wide_create PORT DB [TABLE]: creates the wide table (default wide) in database DB.
wide_create() {
	P "$1" -d "$2" -c "CREATE TABLE ${3:-wide} (
		id bigint PRIMARY KEY,
		tenant int NOT NULL,
		created timestamptz NOT NULL,
		amount numeric(12,2),
		price float8,
		qty int,
		flag bool,
		name text,
		note text,
		tags text[],
		payload jsonb,
		ref uuid)"
}

# wide_fill PORT DB ROWS: inserts rows 1..ROWS into DB's wide table, 1000 rows per
# transaction (as tst commits its batches), so that a drain reads many transactions.
wide_fill() {
	P "$1" -d "$2" -v rows="$3" <<'EOT'
SET TimeZone = 'UTC';
-- psql does not expand :rows inside the DO body; a setting carries it in.
SET bench.rows = :'rows';
DO $$
DECLARE
	n bigint := pg_catalog.current_setting('bench.rows')::bigint;
	lo bigint := 1;
BEGIN
	WHILE lo <= n LOOP
		INSERT INTO wide (id, tenant, created, amount, price, qty, flag, name, note, tags, payload, ref)
		SELECT i, i % 97, timestamptz '2026-01-01 00:00:00+00' + i * interval '1.5 s',
		       ((i * 7919) % 100000000) / 100.0, i / 7.0,
		       CASE WHEN i % 11 = 0 THEN NULL ELSE i % 500 END, i % 3 = 0,
		       'customer ' || substr(h, 1, 10),
		       left(h || ' ' || md5(h) || ' ' || reverse(h) || ' note', 100),
		       CASE WHEN i % 17 = 0 THEN NULL
		            ELSE ARRAY['t' || i % 10, 'g' || i % 7, 'x' || substr(h, 3, 4)] END,
		       jsonb_build_object('order', i, 'sku', 'SKU-' || substr(h, 5, 8),
		                          'status', (ARRAY['new', 'paid', 'shipped'])[i % 3 + 1],
		                          'lines', jsonb_build_array(
		                                   jsonb_build_object('n', 1, 'qty', i % 5 + 1, 'price', (i % 997) * 0.1),
		                                   jsonb_build_object('n', 2, 'qty', i % 3 + 1, 'price', (i % 389) * 0.1)),
		                          'currency', 'EUR',
		                          'ship', jsonb_build_object('street', substr(h, 15, 8) || ' Street',
		                                                     'city', 'C' || substr(h, 9, 6),
		                                                     'zip', lpad((i % 99999)::text, 5, '0'))),
		       CASE WHEN i % 13 = 0 THEN NULL ELSE h::uuid END
		FROM (SELECT i, md5(i::text) AS h
		      FROM generate_series(lo, least(lo + 999, n)) i) s;
		COMMIT;
		lo := lo + 1000;
	END LOOP;
END
$$;
EOT
}

# wide_digest PORT DB TABLE: "ROWS HASH" of TABLE's wide columns, HASH the sum of a 64-bit
# hash of each row's text, in a session whose output settings are pinned, so that two
# databases holding the same rows, in any order, give the same line, and any difference
# in any column of any row changes it (snk_xid, which differs by design, is left out).
wide_digest() {
	P "$1" -d "$2" -Atc "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres';
		SET extra_float_digits = 3; SET bytea_output = 'hex';
		SELECT count(*) || ' ' || coalesce(sum(pg_catalog.hashtextextended(row($WIDE_COLS)::text, 0)), 0)
		FROM $3"
}

# bench_rounds ROUNDS VARIANTS RUNS: ROUNDS rounds of run_one (the script's: it prints
# "VARIANT rows/s a_cpu_s b_cpu_s steal%") for each of VARIANTS, the order rotating every
# round so that the machine's drift falls on all of them; a line per run, and "VARIANT
# rows/s steal" appended to RUNS (emptied first).
bench_rounds() {
	local variants=$2 r v out name rate ca cb steal
	: >"$3"
	printf '%-6s %-8s %12s %10s %10s %8s\n' round variant rows/s "a CPU s" "b CPU s" steal%
	for r in $(seq 1 "$1"); do
		for v in $variants; do
			out=$(run_one "$v") # an assignment, so that a failed run ends the script
			read -r name rate ca cb steal <<<"$out"
			printf '%-6s %-8s %12s %10s %10s %8s\n' "$r" "$name" "$rate" "$ca" "$cb" "$steal"
			echo "$name $rate $steal" >>"$3"
		done
		variants=$(awk '{ for (i = 2; i <= NF; i++) printf "%s ", $i; print $1 }' <<<"$variants")
	done
}

# bench_medians RUNS MAX_STEAL KEY LABEL: the median rows/s of each variant in SESSIONS and
# of the COPY pipe over RUNS (bench_rounds') with less CPU stolen than MAX_STEAL percent,
# and its ratio to the pipe's, as a table and as the JSON member KEY appended to $json.
bench_medians() {
	local v m r copy_med
	copy_med=$(awk -v x="$2" '$1 == "copy" && $3 < x { print $2 }' "$1" | median)
	printf '%-34s %12s %14s\n' "median, $4" rows/s "snk / COPY"
	json="$json, \"$3\": {\"copy_rows_per_s\": ${copy_med:-null}"
	for v in $SESSIONS copy; do
		m=$(awk -v v="$v" -v x="$2" '$1 == v && $3 < x { print $2 }' "$1" | median)
		[ -n "$m" ] || m=null
		if [ "$m" = null ] || [ -z "$copy_med" ]; then r=null; else r=$(echo "scale=2; $m / $copy_med" | bcx); fi
		printf '%-34s %12s %14s\n' "$([ "$v" = copy ] && echo "COPY pipe" || echo "snk, $v write session(s)")" "$m" "$r"
		[ "$v" = copy ] || json="$json, \"sessions_$v\": {\"rows_per_s\": $m, \"copy_ratio\": $r}"
	done
	json="$json}"
}
