#!/usr/bin/env bash
# ctest fixture: `clusters.sh start ENVFILE` starts three throwaway PostgreSQL 15 clusters
# (a and b, which every test uses, and c for the tests of three databases; SNK_IT_CLUSTERS=4
# adds d, for the benchmark of four) on free loopback ports and writes their coordinates to ENVFILE;
# `clusters.sh stop ENVFILE` stops them (by their postmaster PIDs) and removes them.
# As root, initdb and postgres run as an unprivileged user (SNK_TEST_USER, default nobody).
set -euo pipefail

cmd=${1:?usage: clusters.sh start|stop ENVFILE}
envfile=${2:?usage: clusters.sh start|stop ENVFILE}

find_pgbin() {
	local d
	for d in "${PGBIN:-}" /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$SNK_TEST_USER" -- "$@"
	else
		"$@"
	fi
}

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Tests trade durability for speed; SNK_CLUSTER_DURABLE=1 (the benchmarks) keeps
# PostgreSQL's defaults: fsync on, synchronous_commit on, full_page_writes on.
if [ "${SNK_CLUSTER_DURABLE:-0}" = 1 ]; then
	speed=
else
	speed="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi

start_cluster() {
	local name=$1 dir=$2/$1 port tries=0
	as_owner "$PGBIN/initdb" -A trust -U postgres --nosync -E UTF8 --locale=C -D "$dir/data" >"$2/$name-initdb.log" 2>&1 || {
		cat "$2/$name-initdb.log" >&2
		return 1
	}
	# max_prepared_transactions: two_phase.sh prepares transactions, which the default (0) refuses.
	while :; do
		port=$((20000 + RANDOM % 20000))
		tries=$((tries + 1))
		opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=60 -c max_prepared_transactions=10 -c shared_buffers=128MB $speed"
		if port_free "$port" && as_owner "$PGBIN/pg_ctl" -w -t 60 -D "$dir/data" -l "$dir/server.log" \
			-o "$opts" start >/dev/null 2>&1; then
			echo "$opts" >"$dir/opts"
			echo "$port"
			return 0
		fi
		[ "$tries" -lt 8 ] || {
			cat "$dir/server.log" >&2 || true
			return 1
		}
	done
}

case "$cmd" in
start)
	PGBIN=$(find_pgbin) || {
		echo "clusters.sh: PostgreSQL server binaries not found (install postgresql-15; ./scripts/test does)" >&2
		exit 1
	}
	SNK_TEST_USER=${SNK_TEST_USER:-nobody}
	root=$(mktemp -d /tmp/snk-it.XXXXXX)
	chmod 755 "$root"
	names=(a b c d)
	names=("${names[@]:0:${SNK_IT_CLUSTERS:-3}}")
	for c in "${names[@]}"; do mkdir -p "$root/$c"; done
	[ "$(id -u)" != 0 ] || chown -R "$SNK_TEST_USER" "$root"
	{
		echo "SNK_IT_ROOT=$root"
		echo "SNK_IT_PGBIN=$PGBIN"
		echo "SNK_IT_USER=$SNK_TEST_USER"
	} >"$envfile"
	said=
	for c in "${names[@]}"; do
		port=$(start_cluster "$c" "$root")
		echo "SNK_IT_PORT_${c^^}=$port" >>"$envfile"
		said="$said${said:+, }$c on 127.0.0.1:$port"
	done
	echo "clusters.sh: $said, under $root"
	;;
stop)
	[ -f "$envfile" ] || exit 0
	# shellcheck disable=SC1090
	. "$envfile"
	SNK_TEST_USER=$SNK_IT_USER
	for c in a b c d; do
		if [ -f "$SNK_IT_ROOT/$c/data/postmaster.pid" ]; then
			as_owner "$SNK_IT_PGBIN/pg_ctl" -D "$SNK_IT_ROOT/$c/data" -m immediate -w stop >/dev/null 2>&1 || true
		fi
	done
	case "$SNK_IT_ROOT" in /tmp/snk-it.*) rm -rf "$SNK_IT_ROOT" ;; esac
	rm -f "$envfile"
	echo "clusters.sh: stopped"
	;;
*)
	echo "usage: clusters.sh start|stop ENVFILE" >&2
	exit 64
	;;
esac
