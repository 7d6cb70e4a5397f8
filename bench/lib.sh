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
	if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
	test/integration/clusters.sh stop "$BENCH_ENV" >/dev/null
	rm -f "$BENCH_ENV" "$BENCH_ENV".*
}
