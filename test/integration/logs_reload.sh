#!/usr/bin/env bash
# Injects: "log_format": "json" with a JOURNAL_STREAM that names another file; every snk
# session on a terminated by pg_terminate_backend; text format with JOURNAL_STREAM naming
# snk's stderr; a SIGHUP whose new conninfo for a names a database that does not exist (with
# a password in it), then one with a working new conninfo; database b at a closed port from
# the start, with the summary every second (SNK_TEST_SUMMARY_MS).
# Checks: every json line parses with jq and has time, level, pid and message, role where
# snk gives one, and no "<N>" prefix; the server's FATAL for the terminated sessions comes
# out as a json line of the session's role, never raw; under the matching JOURNAL_STREAM
# every line starts with the priority its level maps to; the failed reload keeps the old
# sessions (no reconnect, rows still arrive), logs one warning, shows successful=false in
# status and 0 in /metrics, and never echoes the password; the working one moves the
# sessions and reports success with a later timestamp; with b down, status and the summary
# line say degraded, naming database b.
. "$(dirname "$0")/lib.sh"
it_init logs_reload
MPORT=$(free_port)
COMMON="\"metrics_listen\": \"127.0.0.1:$MPORT\""
CONN_A="host=127.0.0.1 port=$SNK_IT_PORT_A user=postgres dbname=$DB"
CONN_B="host=127.0.0.1 port=$SNK_IT_PORT_B user=postgres dbname=$DB"

# config_with CONNINFO_A CONNINFO_B [extra JSON members]
config_with() {
	cat >"$CFG" <<EOT
{
  "databases": { "a": "$1", "b": "$2" },
  "control_socket": "$SOCK",
  "poll_interval_ms": 200,
  "reconnect_max_ms": 1000,
  $COMMON${3:+,
  $3}
}
EOT
}

wait_state() {
	local want=$1 i
	for i in $(seq 1 100); do
		[ "$(status_field .state)" = "$want" ] && return 0
		sleep 0.1
	done
	fail "state is $(status_field .state), waited 10 s for $want"
}

# lines_from N: snk.log from line N on (what the current snk wrote).
lines_from() { tail -n +"$1" "$WORK/snk.log"; }

# --- json, under a JOURNAL_STREAM that is not snk's stderr: no prefix
touch "$WORK/snk.log"
config_with "$CONN_A" "$CONN_B" '"log_format": "json"'
from=$(($(wc -l <"$WORK/snk.log") + 1))
JOURNAL_STREAM=1:1 snk_start
wait_state running
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'json ' || g FROM generate_series(1, 50) g"
wait_for b "SELECT count(*) FROM records" 50
r0=$(status_field .databases.a.reconnects)
n=$(q a "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'snk%' AND datname = current_database() AND pid <> pg_backend_pid()")
log "terminated $n snk sessions on a"
[ "$n" -ge 2 ] || fail "only $n snk sessions on a to terminate"
# The read session and the two write sessions count in reconnects (the reconcile's do not).
for _ in $(seq 1 100); do
	[ "$(status_field .databases.a.reconnects)" -ge $((r0 + 3)) ] && [ "$(status_field .state)" = running ] && break
	sleep 0.1
done
[ "$(status_field .databases.a.reconnects)" -ge $((r0 + 3)) ] || fail "a did not reconnect its 3 sessions"
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'after terminate ' || g FROM generate_series(1, 10) g"
wait_for b "SELECT count(*) FROM records" 60
snk_stop || fail "snk stopped with $?"
lines_from "$from" >"$WORK/json.log"
bad=$(grep -vc '^{' "$WORK/json.log" || true)
[ "$bad" = 0 ] || fail "$bad lines do not start with '{' (raw or prefixed): $(grep -v '^{' "$WORK/json.log" | head -3)"
jq -e -s 'length > 10 and all(.[]; (.time | type) == "string" and (.level | IN("noise", "debug", "info", "warn", "error"))
	and (.pid | type) == "number" and (.message | type) == "string")' "$WORK/json.log" >/dev/null ||
	fail "not every line is a json object with time, level, pid and message"
jq -e -s 'any(.[]; .role == "a.read" and .database == "a" and .session == "a.read") and
	any(.[]; .role == "a->b" and .direction == "a_to_b")' "$WORK/json.log" >/dev/null ||
	fail "no line carries role a.read with database a, or a->b with direction a_to_b"
jq -e -s 'any(.[]; ((.role // "") | startswith("a.")) and (.message | test("terminating connection due to administrator command")))' \
	"$WORK/json.log" >/dev/null || fail "the server's FATAL for the terminated sessions is not a line of their role"
log "json: $(wc -l <"$WORK/json.log") lines parse; the FATAL came as: $(jq -r -s 'map(select(.message | test("administrator command")))[0] | "[\(.role)] \(.level): \(.message)"' "$WORK/json.log")"

# --- text under journald: JOURNAL_STREAM names snk's stderr (the log file)
config_with "$CONN_A" "$CONN_B"
from=$(($(wc -l <"$WORK/snk.log") + 1))
JOURNAL_STREAM=$(stat -c '%d:%i' "$WORK/snk.log") snk_start
wait_state running

# --- SIGHUP to a conninfo that cannot work: the old sessions stay
ra=$(status_field .databases.a.reconnects)
at0=$(status_field .config_reload.at)
config_with "$CONN_A password=hush-secret-42" "$CONN_B" && sed -i "s/dbname=$DB password/dbname=${DB}_nope password/" "$CFG"
kill -HUP "$SNK_PID"
for _ in $(seq 1 100); do [ "$(status_field .config_reload.successful)" = false ] && break; sleep 0.1; done
st=$("$SNKCTL" -s "$SOCK" status --json)
[ "$(jq -r .config_reload.successful <<<"$st")" = false ] || fail "status does not show the failed reload: $(jq -c .config_reload <<<"$st")"
jq -r .config_reload.error <<<"$st" | grep -q "database a" || fail "reload error does not name database a: $(jq -c .config_reload <<<"$st")"
jq -r .config_reload.error <<<"$st" | grep -q "${DB}_nope" || fail "reload error does not say why: $(jq -c .config_reload <<<"$st")"
http_get "$MPORT" /metrics >"$WORK/metrics1.txt"
grep -qx 'snk_config_last_reload_successful 0' "$WORK/metrics1.txt" || fail "metrics: $(grep reload "$WORK/metrics1.txt")"
ts1=$(sed -n 's/^snk_config_last_reload_success_timestamp_seconds //p' "$WORK/metrics1.txt")
[ -n "$ts1" ] || fail "no snk_config_last_reload_success_timestamp_seconds"
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'after bad reload ' || g FROM generate_series(1, 20) g"
q b "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'after bad reload b ' || g FROM generate_series(1, 20) g"
wait_for b "SELECT count(*) FROM records" 100 15
wait_for a "SELECT count(*) FROM records" 100 15
[ "$(status_field .databases.a.reconnects)" = "$ra" ] || fail "the failed reload reconnected a's sessions"
[ "$(status_field .state)" = running ] || fail "state $(status_field .state) after the failed reload"
n=$(grep -c 'SIGHUP: the reload kept the old connections' "$WORK/snk.log" || true)
[ "$n" = 1 ] || fail "$n warnings about the kept connections, want 1"
grep 'SIGHUP: the reload kept the old connections' "$WORK/snk.log" | grep -q '^<4>.* warn ' ||
	fail "the warning is not a <4> warn line: $(grep 'reload kept' "$WORK/snk.log")"
! grep -q hush-secret "$WORK/snk.log" || fail "the password is in the log"
! grep -q hush-secret <<<"$st" || fail "the password is in the status"
grep -q "SIGHUP: database a changed" "$WORK/snk.log" && fail "the failed conninfo was put in force"
log "failed reload kept a's sessions: $(jq -r .config_reload.error <<<"$st")"

# --- SIGHUP to a working new conninfo: the sessions move, success is reported
sleep 1.1 # the success timestamp must be able to move by whole seconds
config_with "$CONN_A keepalives_idle=30" "$CONN_B"
kill -HUP "$SNK_PID"
for _ in $(seq 1 100); do [ "$(status_field .config_reload.successful)" = true ] && break; sleep 0.1; done
[ "$(status_field .config_reload.successful)" = true ] || fail "the working reload did not succeed: $(status_field .config_reload)"
[ "$(status_field .config_reload.error)" = null ] || fail "error not null after success"
[ "$(status_field .config_reload.at)" != "$at0" ] || fail "config_reload.at did not move"
http_get "$MPORT" /metrics >"$WORK/metrics2.txt"
grep -qx 'snk_config_last_reload_successful 1' "$WORK/metrics2.txt" || fail "metrics after success: $(grep reload "$WORK/metrics2.txt")"
ts2=$(sed -n 's/^snk_config_last_reload_success_timestamp_seconds //p' "$WORK/metrics2.txt")
awk "BEGIN { exit !($ts2 > $ts1) }" || fail "success timestamp did not move ($ts1 -> $ts2)"
grep -q "SIGHUP: database a changed and the new connection works; reconnecting" "$WORK/snk.log" || fail "no reconnect logged"
for _ in $(seq 1 100); do
	[ "$(status_field .databases.a.reconnects)" -gt "$ra" ] && [ "$(status_field .state)" = running ] && break
	sleep 0.1
done
[ "$(status_field .databases.a.reconnects)" -gt "$ra" ] || fail "a's sessions did not move to the new conninfo"
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'after good reload ' || g FROM generate_series(1, 10) g"
wait_for b "SELECT count(*) FROM records" 110 15

# --- SIGHUP to a database that exists but holds no migrated table (a mistyped dbname,
# another member of the cluster): refused by the probe's schema check, snk keeps running
config_with "host=127.0.0.1 port=$SNK_IT_PORT_A user=postgres dbname=postgres keepalives_idle=31" "$CONN_B"
kill -HUP "$SNK_PID"
for _ in $(seq 1 100); do [ "$(status_field .config_reload.successful)" = false ] && break; sleep 0.1; done
[ "$(status_field .config_reload.successful)" = false ] || fail "a reload to an unmigrated database was not refused"
status_field .config_reload.error | grep -q "database a.*table public.records does not exist" ||
	fail "the refused reload does not say why: $(status_field .config_reload.error)"
kill -0 "$SNK_PID" || fail "snk ended on a reload to an unmigrated database"
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'after unmigrated reload ' || g FROM generate_series(1, 10) g"
wait_for b "SELECT count(*) FROM records" 120 15
config_with "$CONN_A keepalives_idle=30" "$CONN_B"
snk_stop || fail "snk stopped with $?"
lines_from "$from" >"$WORK/journal.log"
bad=$(grep -Evc '^<[3467]>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z snk\[[0-9]+\] (noise|debug|info|warn|error) ' "$WORK/journal.log" || true)
[ "$bad" = 0 ] || fail "$bad lines are not '<N>' + snk's format: $(grep -Ev '^<[3467]>' "$WORK/journal.log" | head -3)"
for pair in "3 error" "4 warn" "6 info" "7 debug"; do
	set -- $pair
	if grep -q "^<$1>" "$WORK/journal.log"; then
		bad=$(grep "^<$1>" "$WORK/journal.log" | grep -vc "Z snk\[[0-9]*\] $2 " || true)
		[ "$bad" = 0 ] || fail "<$1> lines that are not $2"
	fi
done
for p in 4 6 7; do grep -q "^<$p>" "$WORK/journal.log" || fail "no <$p> line under journald"; done
log "journald: $(wc -l <"$WORK/journal.log") lines, all with <N>"

# --- b down from the start: degraded, and why
CLOSED=$(free_port)
config_with "$CONN_A" "host=127.0.0.1 port=$CLOSED user=postgres dbname=$DB"
from=$(($(wc -l <"$WORK/snk.log") + 1))
SNK_TEST_SUMMARY_MS=1000 snk_start
wait_state degraded
# b is tried once a's writer locks are held: until its first attempt fails, the state is
# degraded (sessions down) with no reason yet
for _ in $(seq 1 50); do
	reason=$(status_field .degraded_reason)
	grep -q "database b .*is down: .*$CLOSED" <<<"$reason" && break
	[ "$reason" = null ] || fail "degraded_reason before b's error: $reason"
	sleep 0.1
done
grep -q "database b .*is down: .*$CLOSED" <<<"$reason" ||
	fail "degraded_reason does not name b and its error: $reason"
for _ in $(seq 1 50); do lines_from "$from" | grep -q "degraded (database b" && break; sleep 0.1; done
line=$(lines_from "$from" | grep "copied in the last minute" | tail -1)
grep -q " warn degraded (database b.* is down: .*$CLOSED.*); a->b" <<<"$line" || fail "summary line: $line"
log "summary: $line"
snk_stop || true
it_pass "json lines parse, the server's FATAL in snk's format, <N> under journald, a failed reload kept the sessions (also one to an unmigrated database), a good one moved them, degraded said why"
