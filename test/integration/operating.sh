#!/usr/bin/env bash
# Injects: tst load; snkctl pause and resume; a SIGHUP with a new poll interval; garbage,
# oversized and cut-off requests on the control socket; a scrape of /metrics; cluster b
# stopped for a while and started again.
# Checks: status fields exist and move under load; pause stops copying and resume
# catches up; SIGHUP takes effect; the socket is mode 0660; snk answers every bad request
# with a JSON error and keeps running; /metrics is valid Prometheus text whose counters
# match status; /healthz is 200, then 503 while b is down, then 200 again, with nothing lost.
. "$(dirname "$0")/lib.sh"
it_init operating
MPORT=$(free_port)
write_config "\"metrics_listen\": \"127.0.0.1:$MPORT\", \"healthz_max_lag_ms\": 5000"
snk_start

# --- status moves under load
"$TST" -c "$CFG" --seconds 4 --quiet >"$WORK/tst.out" &
BG_PIDS+=($!)
sleep 2.5
st=$("$SNKCTL" -s "$SOCK" status --json)
for f in version uptime_s state a_to_b.rows_copied a_to_b.rows_per_s a_to_b.lag_ms a_to_b.pending_rows \
	a_to_b.batches_in_flight a_to_b.last_commit_at a_to_b.conflicts a_to_b.echo_rows_skipped \
	b_to_a.rows_per_s databases.a.connected databases.a.last_error databases.b.reconnects; do
	jq -e "has(\"${f%%.*}\") and (.$f | . != \"__missing__\")" <<<"$st" >/dev/null || fail "status lacks $f"
	[ "$(jq -r ".$f | type" <<<"$st")" != null ] || [ "$f" = databases.a.last_error ] || fail "status.$f is null"
done
r1=$(jq '.a_to_b.rows_copied + .b_to_a.rows_copied' <<<"$st")
rate=$(jq '.a_to_b.rows_per_s + .b_to_a.rows_per_s' <<<"$st")
[ "$(jq -r .state <<<"$st")" = running ] || fail "state $(jq -r .state <<<"$st")"
awk "BEGIN {exit !($rate > 0)}" || fail "rows_per_s is $rate under load"
wait "${BG_PIDS[0]}"
wait_synced 30
r2=$(status_field '.a_to_b.rows_copied + .b_to_a.rows_copied')
[ "$r2" -gt "$r1" ] || fail "rows_copied did not move ($r1 -> $r2)"
[ "$(status_field .a_to_b.echo_rows_skipped)" = "$(status_field .b_to_a.rows_copied)" ] || fail "echo_rows_skipped"
[ "$(status_field .a_to_b.lag_ms)" = 0 ] || fail "lag_ms not 0 when caught up: $(status_field .a_to_b.lag_ms)"
"$SNKCTL" -s "$SOCK" status | grep -q "^a_to_b " || fail "human status has no a_to_b row"

# --- pause and resume
"$SNKCTL" -s "$SOCK" pause >/dev/null
[ "$(status_field .state)" = paused ] || fail "not paused"
n=$(count b)
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'while paused' FROM generate_series(1, 100)"
sleep 1.5
[ "$(count b)" = "$n" ] || fail "rows copied while paused"
"$SNKCTL" -s "$SOCK" resume >/dev/null
wait_for b "SELECT count(*) FROM records WHERE data = 'while paused'" 100 10
[ "$(status_field .state)" = running ] || fail "not running after resume"

# --- SIGHUP
POLL_MS=1234 write_config "\"metrics_listen\": \"127.0.0.1:$MPORT\", \"healthz_max_lag_ms\": 5000, \"log_level\": \"debug\""
kill -HUP "$SNK_PID"
for _ in $(seq 1 20); do [ "$(status_field .poll_interval_ms)" = 1234 ] && break; sleep 0.1; done
[ "$(status_field .poll_interval_ms)" = 1234 ] || fail "SIGHUP did not change poll_interval_ms"
grep -q "SIGHUP: config reloaded (poll_interval_ms=1234" "$WORK/snk.log" || fail "reload not logged"
echo '{"databases": ' >"$WORK/broken.json"
cp "$CFG" "$WORK/good.json"
cp "$WORK/broken.json" "$CFG"
kill -HUP "$SNK_PID"
sleep 0.3
grep -q "SIGHUP: config not reloaded, the old one stays in force" "$WORK/snk.log" || fail "bad reload not refused"
cp "$WORK/good.json" "$CFG"
[ "$(status_field .poll_interval_ms)" = 1234 ] || fail "bad reload changed the config"

# --- the control socket
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$SOCK"), want 660"
out=$(ctl_raw "$(head -c 2000 /dev/urandom | tr -d '\n\0')"$'\n')
jq -e '.ok == false' <<<"$out" >/dev/null || fail "garbage got [$out]"
out=$(ctl_raw "$(head -c 10000 /dev/zero | tr '\0' 'x')")
grep -q "request too long" <<<"$out" || fail "oversized request got [$out]"
ctl_raw '{"comm' >/dev/null
out=$(ctl_raw $'{"command":"nope"}\n')
grep -q "unknown command" <<<"$out" || fail "unknown command got [$out]"
out=$(ctl_raw $'ping\nstatus\n')
[ "$(wc -l <<<"$out")" = 2 ] || fail "two requests on one connection got [$out]"
for _ in $(seq 1 100); do [ "$(status_field .reconcile.state)" = idle ] && break; sleep 0.1; done
runs=$(status_field .reconcile.runs)
"$SNKCTL" -s "$SOCK" reconcile >"$WORK/rec.out" 2>&1 || fail "snkctl reconcile: $(cat "$WORK/rec.out")"
wait_reconciled "$runs" 20
kill -0 "$SNK_PID" || fail "snk died on bad requests"
"$SNKCTL" -s "$SOCK" ping >/dev/null || fail "no answer after bad requests"

# --- /metrics
http_get "$MPORT" /metrics >"$WORK/metrics.txt"
head -1 "$WORK/metrics.txt" | grep -q "200 OK" || fail "/metrics: $(head -1 "$WORK/metrics.txt")"
sed '1,/^\r$/d' "$WORK/metrics.txt" >"$WORK/metrics.body"
bad=$(grep -v '^#' "$WORK/metrics.body" | grep -Ev '^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eInf]+$' || true)
[ -z "$bad" ] || fail "not Prometheus text: $bad"
m=$(awk '/^snk_rows_copied_total\{direction="a_to_b"\}/ {print $2}' "$WORK/metrics.body")
[ "$m" = "$(status_field .a_to_b.rows_copied)" ] || fail "metrics rows_copied $m != status"
grep -q '^snk_batch_apply_seconds_bucket{direction="b_to_a",le="+Inf"} [1-9]' "$WORK/metrics.body" || fail "no histogram"
for f in batches_beside_commit cursors_deferred; do
	m=$(awk -v s="snk_${f}_total{direction=\"b_to_a\"}" '$1 == s {print $2}' "$WORK/metrics.body")
	[ -n "$m" ] && [ "$m" = "$(status_field ".b_to_a.$f")" ] || fail "metrics $f '$m' != status $(status_field ".b_to_a.$f")"
done
grep -q '^snk_database_connected{database="b"} 1$' "$WORK/metrics.body" || fail "b not connected in metrics"
grep -q "^# TYPE snk_lag_seconds gauge$" "$WORK/metrics.body" || fail "no lag gauge"
m=$(awk '/^snk_reconcile_runs_total / {print $2}' "$WORK/metrics.body")
[ "$m" = "$(status_field .reconcile.runs)" ] && [ "$m" -ge 2 ] || fail "metrics reconcile runs $m, status $(status_field .reconcile.runs)"
http_get "$MPORT" /nope | head -1 | grep -q 404 || fail "unknown path not 404"

# --- /healthz through an outage of b
http_get "$MPORT" /healthz | head -1 | grep -q "200" || fail "/healthz not 200 when healthy"
cluster_stop b fast
for _ in $(seq 1 50); do http_get "$MPORT" /healthz | head -1 | grep -q 503 && break; sleep 0.1; done
http_get "$MPORT" /healthz >"$WORK/h.txt"
head -1 "$WORK/h.txt" | grep -q 503 || fail "/healthz not 503 with b stopped"
grep -q "database b is not connected" "$WORK/h.txt" || fail "503 without the reason"
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'during outage' FROM generate_series(1, 500)"
sleep 1
cluster_start b
wait_for b "SELECT count(*) FROM records WHERE data = 'during outage'" 500 30
for _ in $(seq 1 50); do http_get "$MPORT" /healthz | head -1 | grep -q 200 && break; sleep 0.1; done
http_get "$MPORT" /healthz | head -1 | grep -q 200 || fail "/healthz not back to 200"
[ "$(status_field .databases.b.reconnects)" -ge 2 ] || fail "reconnects not counted"
wait_synced 30
snk_stop || fail "SIGTERM did not exit 0"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "status, pause/resume, SIGHUP, socket 0660 and bad requests, /metrics, /healthz 200/503/200 through an outage of b"
