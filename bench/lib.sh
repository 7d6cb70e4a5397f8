# bench/lib.sh - sourced by the benchmarks, from the project root.
#
# bench_setup: installs the dependencies, builds Release into $build (SNK_BUILD_DIR, default
# build-release), starts two PostgreSQL 15 clusters with durable settings and loads their
# SNK_IT_* variables; on exit, runs the caller's bench_cleanup (when it defines one), then
# stops the clusters.
bench_setup() {
	build=${SNK_BUILD_DIR:-build-release}
	. scripts/deps.sh
	snk_install_deps
	PGBIN=$(snk_pgbin)
	export PGBIN
	cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$build" -j"$(nproc)" >/dev/null
	BENCH_ENV=$(mktemp /tmp/snk-bench-env.XXXXXX)
	SNK_CLUSTER_DURABLE=1 test/integration/clusters.sh start "$BENCH_ENV" >/dev/null
	. "$BENCH_ENV"
	trap bench_exit EXIT
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
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

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
