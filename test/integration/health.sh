#!/usr/bin/env bash
# Injects: snk with metrics on; rows inserted into a; snkctl pause and resume; HEAD
# requests; cluster b stopped and started.
# Checks: /livez, /readyz and /healthz answer 200 "ok" when synced; while paused /readyz
# is 503 with the reason "paused" and /livez stays 200; with b down, /readyz says b is not
# connected and /livez still 200; HEAD on each endpoint gets the status and headers of GET
# with a Content-Length and no body; /metrics has the process_* series with plausible
# values (open fds > 0 and within process_max_fds, start time within seconds of snk's
# start, resident memory > 1 MB, CPU seconds >= 0) and snk_last_commit_timestamp_seconds
# for a -> b, 0 before its first copy and near now after a copied row.
. "$(dirname "$0")/lib.sh"
it_init health
MPORT=$(free_port)
write_config "\"metrics_listen\": \"127.0.0.1:$MPORT\", \"healthz_max_lag_ms\": 3000"
started=$(date +%s)
snk_start
for _ in $(seq 1 100); do [ "$(status_field .state)" = running ] && break; sleep 0.1; done

status_of() { http_get "$MPORT" "$1" | head -1 | tr -d '\r'; }
body_of() { http_get "$MPORT" "$1" | sed '1,/^\r$/d'; }
metric() { awk -v n="$1" '$1 == n {print $2}' "$WORK/metrics.body"; }
scrape() {
	http_get "$MPORT" /metrics >"$WORK/metrics.txt"
	sed '1,/^\r$/d' "$WORK/metrics.txt" >"$WORK/metrics.body"
}

# --- all three 200 "ok" when synced
for _ in $(seq 1 50); do [ "$(status_of /readyz)" = "HTTP/1.0 200 OK" ] && break; sleep 0.1; done
for p in /livez /readyz /healthz; do
	[ "$(status_of $p)" = "HTTP/1.0 200 OK" ] || fail "$p: $(status_of $p), $(body_of $p)"
	[ "$(body_of $p)" = ok ] || fail "$p body [$(body_of $p)]"
done

# --- HEAD: same status and headers as GET, Content-Length of GET's body, no body
for p in /livez /readyz /healthz /metrics; do
	http_head "$MPORT" $p >"$WORK/head.txt"
	head -1 "$WORK/head.txt" | grep -q "^HTTP/1.0 200 OK" || fail "HEAD $p: $(head -1 "$WORK/head.txt")"
	len=$(tr -d '\r' <"$WORK/head.txt" | sed -n 's/^Content-Length: //p')
	[ -n "$len" ] && [ "$len" -gt 0 ] || fail "HEAD $p: no Content-Length"
	after=$(sed '1,/^\r$/d' "$WORK/head.txt" | wc -c)
	[ "$after" = 0 ] || fail "HEAD $p: $after bytes of body"
done
[ "$(tr -d '\r' <"$WORK/head.txt" | sed -n 's/^Content-Type: //p')" = "text/plain; version=0.0.4; charset=utf-8" ] ||
	fail "HEAD /metrics: content type"
http_head "$MPORT" /livez | tr -d '\r' | grep -qx "Content-Length: 3" || fail "HEAD /livez length is not that of ok\\n"

# --- process_* and last commit before any copy
scrape
head -1 "$WORK/metrics.txt" | grep -q "200 OK" || fail "/metrics: $(head -1 "$WORK/metrics.txt")"
bad=$(grep -v '^#' "$WORK/metrics.body" | grep -Ev '^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eInf]+$' || true)
[ -z "$bad" ] || fail "not Prometheus text: $bad"
for m in process_cpu_seconds_total process_resident_memory_bytes process_open_fds process_max_fds \
	process_start_time_seconds; do
	grep -q "^# TYPE $m " "$WORK/metrics.body" || fail "no TYPE line for $m"
	[ -n "$(metric $m)" ] || fail "no $m"
done
grep -q "^# TYPE process_cpu_seconds_total counter$" "$WORK/metrics.body" || fail "cpu is not a counter"
fds=$(metric process_open_fds)
maxfds=$(metric process_max_fds)
real=$(ls /proc/"$SNK_PID"/fd | wc -l)
[ "$fds" -gt 0 ] && [ "$fds" -le "$maxfds" ] || fail "process_open_fds $fds, max $maxfds"
# snk holds 2 reads + 2x2 writes sessions, the control socket, metrics, epoll...: within 3 of ls
[ $((fds - real)) -le 3 ] && [ $((real - fds)) -le 3 ] || fail "process_open_fds $fds, /proc says $real"
[ "$maxfds" = "$(awk '/^Max open files/ {print $4}' /proc/"$SNK_PID"/limits)" ] || fail "process_max_fds $maxfds"
st=$(metric process_start_time_seconds)
awk -v s="$st" -v t="$started" 'BEGIN {exit !(s >= t - 2 && s <= t + 5)}' ||
	fail "process_start_time_seconds $st, snk started at $started"
awk -v r="$(metric process_resident_memory_bytes)" 'BEGIN {exit !(r > 1000000 && r < 1000000000)}' ||
	fail "process_resident_memory_bytes $(metric process_resident_memory_bytes)"
awk -v c="$(metric process_cpu_seconds_total)" 'BEGIN {exit !(c >= 0 && c < 30)}' ||
	fail "process_cpu_seconds_total $(metric process_cpu_seconds_total)"
[ "$(metric 'snk_last_commit_timestamp_seconds{direction="a_to_b"}')" = 0.000 ] ||
	fail "last commit before any copy: $(metric 'snk_last_commit_timestamp_seconds{direction="a_to_b"}')"

# --- a copied row moves the last commit time of a -> b only
before=$(date +%s.%N)
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'health')"
wait_for b "SELECT count(*) FROM records WHERE data = 'health'" 1 10
after=$(date +%s.%N)
scrape
lc=$(metric 'snk_last_commit_timestamp_seconds{direction="a_to_b"}')
awk -v l="$lc" -v b="$before" -v a="$after" 'BEGIN {exit !(l >= b - 0.5 && l <= a + 0.5)}' ||
	fail "snk_last_commit_timestamp_seconds a_to_b $lc, not between $before and $after"
[ "$(metric 'snk_last_commit_timestamp_seconds{direction="b_to_a"}')" = 0.000 ] || fail "b_to_a moved"

# --- paused: /readyz 503 with the reason, /livez 200, /healthz as documented (lag)
"$SNKCTL" -s "$SOCK" pause >/dev/null
[ "$(status_of /readyz)" = "HTTP/1.0 503 Service Unavailable" ] || fail "/readyz paused: $(status_of /readyz)"
body_of /readyz | grep -q "^paused by snkctl" || fail "/readyz reason: $(body_of /readyz)"
http_head "$MPORT" /readyz | head -1 | grep -q " 503 " || fail "HEAD /readyz paused not 503"
[ "$(status_of /livez)" = "HTTP/1.0 200 OK" ] || fail "/livez paused: $(status_of /livez)"
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'while paused')"
for _ in $(seq 1 60); do [ "$(status_of /healthz)" = "HTTP/1.0 503 Service Unavailable" ] && break; sleep 0.1; done
body_of /healthz | grep -qE "^(a_to_b|b_to_a) lag [0-9]+ ms is over 3000 ms$" || fail "/healthz paused with rows waiting: $(body_of /healthz)"
"$SNKCTL" -s "$SOCK" resume >/dev/null
wait_for b "SELECT count(*) FROM records WHERE data = 'while paused'" 1 10
for _ in $(seq 1 50); do [ "$(status_of /readyz)" = "HTTP/1.0 200 OK" ] && break; sleep 0.1; done
[ "$(status_of /readyz)" = "HTTP/1.0 200 OK" ] || fail "/readyz after resume: $(body_of /readyz)"

# --- b down: /readyz names it, /livez stays 200
cluster_stop b fast
for _ in $(seq 1 50); do [ "$(status_of /readyz)" != "HTTP/1.0 200 OK" ] && break; sleep 0.1; done
[ "$(status_of /readyz)" = "HTTP/1.0 503 Service Unavailable" ] || fail "/readyz with b down: $(status_of /readyz)"
[ "$(body_of /readyz)" = "database b is not connected" ] || fail "/readyz reason: $(body_of /readyz)"
[ "$(status_of /livez)" = "HTTP/1.0 200 OK" ] || fail "/livez with b down: $(status_of /livez)"
cluster_start b
for _ in $(seq 1 100); do [ "$(status_of /readyz)" = "HTTP/1.0 200 OK" ] && break; sleep 0.1; done
[ "$(status_of /readyz)" = "HTTP/1.0 200 OK" ] || fail "/readyz after b is back: $(body_of /readyz)"
wait_synced 30
snk_stop || fail "SIGTERM did not exit 0"
assert_tail_only
it_pass "/livez, /readyz (paused, b down), /healthz, HEAD on each, process_* and last commit time"
