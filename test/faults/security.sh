#!/usr/bin/env bash
# Fault: a password in the connection strings (and one database unreachable, so that
# libpq's errors are logged); another user knocking on the control socket; sslmode and
# other conninfo options; a missing table; an unreadable and an oversized config file.
# Checked: the password never appears in the log, the status, /metrics or the process
# title; the socket (mode 0660) refuses other users; conninfo options reach libpq
# untouched; each bad environment gets one clear line and its exit code, and nothing is
# written to either database.
. "$(dirname "$0")/../integration/lib.sh"
it_init faults_security
SECRET=Zq9-s3cr3t-PASSWORD-4711
MPORT=$(free_port)
write_config "\"metrics_listen\": \"127.0.0.1:$MPORT\""
sed -i "s/user=postgres dbname=$DB\"/user=postgres password=$SECRET dbname=$DB application_name=snk_custom_name keepalives_idle=30\"/" "$CFG"
grep -q "$SECRET" "$CFG" || fail "test setup: no password in the config"
snk_start
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'pw test')"
wait_for b "SELECT count(*) FROM records" 1 10
# conninfo options pass through: the server sees our keepalive setting on snk's sessions.
[ "$(q a "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'snk_custom_name'")" -ge 2 ] ||
	fail "application_name from conninfo not applied"
status=$("$SNKCTL" -s "$SOCK" status --json)
metrics=$(http_get "$MPORT" /metrics)
cmdline=$(tr '\0' ' ' <"/proc/$SNK_PID/cmdline")
for what in "$status" "$metrics" "$cmdline" "$(cat "$WORK/snk.log")"; do
	! grep -q "$SECRET" <<<"$what" || fail "the password leaked: $(grep -o ".\{40\}$SECRET" <<<"$what" | head -1)"
done

# Another user cannot use the control socket.
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$SOCK")"
if [ "$(id -u)" = 0 ]; then
	chmod 755 "$WORK"
	rc=0
	runuser -u "$SNK_IT_USER" -- "$SNKCTL" -s "$SOCK" ping >"$WORK/other.out" 2>&1 || rc=$?
	[ "$rc" = 69 ] || fail "user $SNK_IT_USER got exit $rc from the socket: $(cat "$WORK/other.out")"
	grep -q "Permission denied" "$WORK/other.out" || fail "no permission error: $(cat "$WORK/other.out")"
fi
snk_stop || fail "snk exited non-zero"

# An unreachable database with a password and sslmode=require: errors name the cause,
# never the password; sslmode reached libpq untouched.
sed -i "s/port=$SNK_IT_PORT_B user=postgres password=$SECRET/port=$SNK_IT_PORT_B sslmode=require user=postgres password=$SECRET/" "$CFG"
snk_start
sleep 1.5
err=$(status_field .databases.b.last_error)
grep -qi "ssl" <<<"$err" || fail "sslmode=require did not reach libpq: $err"
! grep -q "$SECRET" "$WORK/snk.log" <<<"$err" || fail "password in an error"
! grep -q "$SECRET" "$WORK/snk.log" || fail "password in the log after errors"
snk_stop || fail "snk exited non-zero while b refused"

# A missing table: exit 65 with advice, nothing created.
write_config '"table": "no_such_table"'
rc=0
"$SNK" -c "$CFG" >"$WORK/run.log" 2>&1 || rc=$?
[ "$rc" = 65 ] || fail "missing table: exit $rc"
grep -q "table public.no_such_table does not exist; run 'snk -c CONFIG migrate'" "$WORK/run.log" || fail "no advice: $(cat "$WORK/run.log")"
[ "$(q a "SELECT count(*) FROM pg_class WHERE relname = 'no_such_table'")" = 0 ] || fail "run created the table"

# An oversized config, and (as root) one the daemon's user cannot read.
head -c 2000000 /dev/zero | tr '\0' ' ' >"$WORK/huge.json"
rc=0
"$SNK" -c "$WORK/huge.json" --check-config 2>"$WORK/err" || rc=$?
[ "$rc" = 78 ] && grep -q "larger than" "$WORK/err" || fail "huge config: exit $rc $(cat "$WORK/err")"
if [ "$(id -u)" = 0 ]; then
	cp "$CFG" "$WORK/private.json"
	chmod 600 "$WORK/private.json"
	rc=0
	runuser -u "$SNK_IT_USER" -- "$SNK" -c "$WORK/private.json" --check-config 2>"$WORK/err" || rc=$?
	[ "$rc" = 66 ] && grep -q "Permission denied" "$WORK/err" || fail "unreadable config: exit $rc $(cat "$WORK/err")"
fi
it_pass "password never shown; socket refuses other users; sslmode passed through; bad environments refused cleanly"
