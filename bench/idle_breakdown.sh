#!/usr/bin/env bash
# bench/idle_breakdown.sh - where one idle row's time goes in snk (issue 19; not a test: it
# prints figures). bench/lib.sh's durable clusters, with log_min_duration_statement = 0
# (every statement's server time, logged with its session's application_name) and
# track_wal_io_timing = on (pg_stat_wal's time per WAL flush). snk syncs records with the
# NOTIFY trigger; probe inserts SAMPLES (300) rows into a, one at a time, 20 ms apart, and
# polls b for each. Prints probe's latency, then per session and statement kind of snk the
# median server time and the count per row, and b's WAL flushes per row and time per flush.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
SAMPLES=${SAMPLES:-300}
. bench/lib.sh
bench_setup
work=$SNK_IT_ROOT/breakdown
mkdir -p "$work"
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
	P "$port" -d postgres -c "CREATE DATABASE bench" -c "ALTER SYSTEM SET track_wal_io_timing = on" \
		-c "ALTER SYSTEM SET log_line_prefix = '%m|%a|'" -c "SELECT pg_reload_conf()" >/dev/null
done
cfg=$work/config.json
bench_config "$cfg" bench "$work/snk.sock"
"$build/snk" -c "$cfg" migrate >/dev/null
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
	P "$port" -d bench -v table=records -v channel=snk_records -f migrations/notify_trigger.sql 2>/dev/null
done
"$build/snk" -c "$cfg" >>"$work/snk.log" 2>&1 &
SNK_PID=$!
bench_wait_snk "$work/snk.sock"
"$build/probe" -c "$cfg" --side a --samples 50 --gap-ms 20 >/dev/null # warm-up: plans, caches
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
	P "$port" -d postgres -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null
done
sleep 0.5
la=$(wc -l <"$SNK_IT_ROOT/a/server.log") lb=$(wc -l <"$SNK_IT_ROOT/b/server.log")
w0=$(P "$SNK_IT_PORT_B" -d postgres -Atc "SELECT wal_sync || ' ' || wal_sync_time FROM pg_stat_wal")
"$build/probe" -c "$cfg" --side a --samples "$SAMPLES" --gap-ms 20 | head -1
w1=$(P "$SNK_IT_PORT_B" -d postgres -Atc "SELECT wal_sync || ' ' || wal_sync_time FROM pg_stat_wal")
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
	P "$port" -d postgres -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null
done
echo
printf '%-6s %-12s %-44s %8s %10s %10s\n' side session statement "per row" "p50 ms" "p90 ms"
for side in a b; do
	lines=$([ $side = a ] && echo "$la" || echo "$lb")
	tail -n +"$((lines + 1))" "$SNK_IT_ROOT/$side/server.log" | awk -F'|' -v side=$side '
		$2 ~ /^snk [ab]\./ && $3 ~ /duration: / {
			rest = $3; sub(/^.*duration: /, "", rest); ms = rest + 0
			st = rest; sub(/^[0-9.]+ ms +/, "", st); split(st, pw, " ")
			ph = pw[1] == "statement" ? "simple" : pw[1] # parse; bind (where an unnamed statement is planned); execute
			sub(/^(statement|execute [^:]*|parse [^:]*|bind [^:]*): */, "", st)
			printf "%s\t%s\t%s\t%s\n", side, substr($2, 5), ph " " substr(st, 1, 36), ms
		}' | sort -t"$(printf '\t')" -k2,3 -k4,4n | awk -F'\t' -v n="$SAMPLES" '
		function flush(  q) { q = int(m * 0.9); if (q < 1) q = 1; if (m) printf "%-6s %-12s %-44s %8.2f %10.3f %10.3f\n", s, k2, k3, m / n, a[int((m + 1) / 2)], a[q] }
		($2 "\t" $3) != key { flush(); key = $2 "\t" $3; s = $1; k2 = $2; k3 = $3; m = 0 }
		{ a[++m] = $4 }
		END { flush() }'
done
cp "$SNK_IT_ROOT/a/server.log" /tmp/idle_breakdown-a.log; cp "$SNK_IT_ROOT/b/server.log" /tmp/idle_breakdown-b.log
read -r s0 t0 <<<"$w0"
read -r s1 t1 <<<"$w1"
echo
echo "b: $((s1 - s0)) WAL flushes for $SAMPLES rows, $(echo "scale=3; ($t1 - $t0) / ($s1 - $s0)" | bcx) ms per flush (pg_stat_wal, track_wal_io_timing)"
