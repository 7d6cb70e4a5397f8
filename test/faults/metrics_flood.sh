#!/usr/bin/env bash
# Fault: 1100 idle TCP connections to the metrics port, held for 8 s, against an snk
# started with a descriptor limit of 256; during it, snk's sessions on b are terminated
# from the server, so they must reconnect. Then the limit of the running snk is cut to a
# dozen descriptors above what it holds (prlimit) and the flood comes again for 6 s, so
# that accept() itself fails with EMFILE.
# Checked, for each flood: snk's CPU time grows by less than 1.5 s and its log by less
# than 64 KB; rows inserted into a during the flood reach b before it ends. The refused
# connections and the failed accepts are counted in /metrics and in status; once the
# flood ends, /healthz answers 200 again; the tail alone delivered every row.
. "$(dirname "$0")/../integration/lib.sh"
FLOOD=$SNK_BIN_DIR/test/flood
[ -x "$FLOOD" ] || fail "test helper $FLOOD not built"
it_init faults_metrics_flood
MPORT=$(free_port)
write_config "\"metrics_listen\": \"127.0.0.1:$MPORT\""
# snk_start runs $SNK: a wrapper that sets soft and hard limit, then execs (same pid).
REAL_SNK=$SNK
SNK=$WORK/snk-nofile-256
printf '#!/usr/bin/env bash\nulimit -n 256 || exit 71\nexec "%s" "$@"\n' "$REAL_SNK" >"$SNK"
chmod +x "$SNK"
snk_start
[ "$(awk '/^Max open files/ {print $4 ":" $5}' "/proc/$SNK_PID/limits")" = 256:256 ] ||
	fail "snk's descriptor limit: $(grep 'open files' "/proc/$SNK_PID/limits")"
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'before the flood')"
wait_for b "SELECT count(*) FROM records" 1 20

HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SNK_PID/stat"; }
log_bytes() { stat -c %s "$WORK/snk.log"; }
# healthz_code: the status code of GET /healthz, or 000; never waits more than 2 s.
healthz_code() {
	timeout 2 bash -c "exec 5<>/dev/tcp/127.0.0.1/$MPORT && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&5 && head -1 <&5" \
		2>/dev/null | awk '{ print $2 }' | grep . || echo 000
}
insert_rows() { q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), '$1' FROM generate_series(1, 100)"; }

# flood_start SECONDS: 1100 idle connections for SECONDS; notes CPU and log size first.
flood_start() {
	CPU0=$(cpu_ticks)
	LOG0=$(log_bytes)
	FLOOD_OUT=$WORK/flood.$SECONDS.out
	"$FLOOD" 127.0.0.1 "$MPORT" 1100 "$1" >"$FLOOD_OUT" 2>&1 &
	FLOOD_PID=$!
	BG_PIDS+=("$FLOOD_PID")
	sleep 1
}

# rows_during_flood LIKE N: until b has N rows LIKE the pattern, while the flood lasts.
rows_during_flood() {
	while [ "$(q b "SELECT count(*) FROM records WHERE data LIKE '$1'")" != "$2" ]; do
		kill -0 "$FLOOD_PID" 2>/dev/null || { ROWS_LATE="b has $(q b "SELECT count(*) FROM records WHERE data LIKE '$1'") of the $2 rows '$1' when the flood ends"; return; }
		sleep 0.05
	done
	ROWS_LATE=
}

# flood_check LABEL: after the flood, says and checks what it cost snk.
flood_check() {
	local cpu log_kb
	wait "$FLOOD_PID" || fail "flood helper failed: $(cat "$FLOOD_OUT")"
	cpu=$(awk "BEGIN { printf \"%.2f\", ($(cpu_ticks) - $CPU0) / $HZ }")
	log_kb=$(( ($(log_bytes) - LOG0) / 1024 ))
	log "$1: $(cat "$FLOOD_OUT"); snk used ${cpu} s of CPU, its log grew by ${log_kb} KB${ROWS_LATE:+; $ROWS_LATE}"
	awk "BEGIN { exit !($cpu < 1.5) }" || fail "$1: snk used ${cpu} s of CPU during the flood (spinning?)"
	[ "$log_kb" -lt 64 ] || fail "$1: snk's log grew by ${log_kb} KB: $(tail -c 300 "$WORK/snk.log")"
	[ -z "$ROWS_LATE" ] || fail "$1: $ROWS_LATE"
}

# --- 1: the flood meets the connection cap; b's sessions reconnect during it.
flood_start 8
insert_rows "flood 1"
n=$(q b "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'snk %' AND datname = current_database()")
[ "$n" -ge 2 ] || fail "only $n snk sessions on b to terminate"
insert_rows "flood 1, after the terminate"
rows_during_flood 'flood 1%' 200
flood_check "flood at the cap"
rejected=$(status_field .metrics.connections_rejected)
[ "$rejected" -gt 0 ] || fail "status counts no rejected metrics connection: $(status_field .metrics)"

# --- 2: accept() fails with EMFILE: the limit is cut under the running snk.
open=$(find "/proc/$SNK_PID/fd" -mindepth 1 | wc -l)
prlimit --pid "$SNK_PID" --nofile=$((open + 12)):$((open + 12)) || fail "prlimit failed"
flood_start 6
insert_rows "flood 2"
rows_during_flood 'flood 2' 100
flood_check "flood at EMFILE (limit $((open + 12)))"
failures=$(status_field .metrics.accept_failures)
[ "$failures" -gt 0 ] || fail "status counts no failed accept: $(status_field .metrics)"
grep -q '\[metrics\] cannot accept a connection: Too many open files' "$WORK/snk.log" ||
	fail "no line says that accept failed"

# --- after the floods: served again, and counted in /metrics.
for _ in $(seq 1 50); do [ "$(healthz_code)" = 200 ] && break; sleep 0.2; done
[ "$(healthz_code)" = 200 ] || fail "/healthz answers $(healthz_code) after the flood"
http_get "$MPORT" /metrics >"$WORK/metrics.txt"
m=$(awk '/^snk_metrics_connections_rejected_total / { print $2 }' "$WORK/metrics.txt")
[ "${m:-0}" -ge "$rejected" ] || fail "/metrics: snk_metrics_connections_rejected_total is '$m', status said $rejected"
grep -q '^snk_metrics_accept_failures_total [1-9]' "$WORK/metrics.txt" || fail "/metrics counts no failed accept"
assert_exact "$(count a)" 20
assert_tail_only
it_pass "two floods of 1100 connections: CPU and log bounded, rows synced during both, $rejected refused, $failures failed accepts, /healthz 200 after"
