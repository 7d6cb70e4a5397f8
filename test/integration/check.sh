#!/usr/bin/env bash
# Injects, one at a time on a migrated pair with NOTIFY triggers: the trigger dropped on b;
# b pointed at a database whose table was never migrated; a role that may only connect,
# use the schemas and SELECT; an sslrootcert that does not exist, then one that is not
# readable; a running snk holding the writer lock (with b's trigger dropped).
# Checks: `snk check` exits 0 with every line ok on the healthy pair, and 1 with the one
# line that names the fault otherwise (the other lines still ok); it never takes the lock
# (the running snk keeps it). The daemon warns once per connect of the missing trigger,
# with the command to install it, and status shows databases.b.notify_trigger false
# (a: true, wake unchanged); with the trigger back, true and no warning.
. "$(dirname "$0")/lib.sh"

ROLE=snk_check_ro
RAW_DB=it_check_raw
# Drop what this test creates outside its databases, then the usual cleanup.
check_cleanup() {
	local rc=$?
	set +e
	psql_side "$SNK_IT_PORT_A" -d "$DB" -c "DROP OWNED BY $ROLE" >/dev/null 2>&1
	psql_side "$SNK_IT_PORT_A" -d postgres -c "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1
	psql_side "$SNK_IT_PORT_B" -d postgres -c "DROP DATABASE IF EXISTS $RAW_DB WITH (FORCE)" >/dev/null 2>&1
	(exit "$rc")
	it_cleanup
}

it_init check
trap check_cleanup EXIT
psql_side "$SNK_IT_PORT_A" -d postgres -c "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1
A_CONN="host=127.0.0.1 port=$SNK_IT_PORT_A user=postgres dbname=$DB"
B_CONN="host=127.0.0.1 port=$SNK_IT_PORT_B user=postgres dbname=$DB"

# run_check [CONFIG] [as USER]: runs snk check, keeps its output in $WORK/check.out and
# its exit code in $CHECK_RC.
run_check() {
	local cfg=${1:-$CFG} user=${2:-}
	CHECK_RC=0
	if [ -n "$user" ]; then
		runuser -u "$user" -- "$SNK" -c "$cfg" check >"$WORK/check.out" 2>&1 || CHECK_RC=$?
	else
		"$SNK" -c "$cfg" check >"$WORK/check.out" 2>&1 || CHECK_RC=$?
	fi
}

# expect_fail SIDE CHECK TEXT: exit 1, that line FAILED and says TEXT, and it is the only
# failed line.
expect_fail() {
	local line
	[ "$CHECK_RC" = 1 ] || fail "snk check exited $CHECK_RC, want 1:"$'\n'"$(cat "$WORK/check.out")"
	line=$(grep -E "^$1  $2 +FAILED: " "$WORK/check.out") || fail "no FAILED line for $1 $2:"$'\n'"$(cat "$WORK/check.out")"
	grep -qF -- "$3" <<<"$line" || fail "the $1 $2 line does not say '$3': $line"
	[ "$(grep -c FAILED: "$WORK/check.out")" = 1 ] || fail "more than the $1 $2 line failed:"$'\n'"$(cat "$WORK/check.out")"
	grep -q "^snk check: 1 of 12 checks FAILED$" "$WORK/check.out" || fail "no summary line: $(tail -1 "$WORK/check.out")"
}

# A config like the test's, with the conninfo of a and b given.
config_with() {
	cat >"$WORK/$1.json" <<EOT
{ "databases": { "a": "$2", "b": "$3" }, "control_socket": "$SOCK" }
EOT
	chmod 644 "$WORK/$1.json"
}

# 1. The healthy pair: 12 lines, all ok, exit 0.
run_check
[ "$CHECK_RC" = 0 ] || fail "snk check exited $CHECK_RC on a healthy pair:"$'\n'"$(cat "$WORK/check.out")"
[ "$(grep -cE '^[ab]  [a-z ]+ ok: ' "$WORK/check.out")" = 12 ] || fail "not 12 ok lines:"$'\n'"$(cat "$WORK/check.out")"
grep -q "^a  connection     ok: 127.0.0.1:$SNK_IT_PORT_A/$DB$" "$WORK/check.out" || fail "connection line: $(grep connection "$WORK/check.out")"
! grep -q "user=" "$WORK/check.out" || fail "the conninfo was printed"
grep -q "^b  notify trigger ok: snk_notify on public.records notifies channel snk_records$" "$WORK/check.out" ||
	fail "trigger line: $(grep trigger "$WORK/check.out")"
cp "$WORK/check.out" "$WORK/check.out.healthy"
log "healthy pair: exit 0, 12 ok lines"

# 1b. A trigger of an older notify_trigger.sql (it notifies for snk's copies too) works:
# the line stays ok and says what to run.
older_trigger_function b
run_check
[ "$CHECK_RC" = 0 ] || fail "snk check exited $CHECK_RC with an older trigger:"$'\n'"$(cat "$WORK/check.out")"
grep -q "^b  notify trigger ok: snk_notify notifies channel snk_records, but the NOTIFY trigger snk_notify on public.records is of an older notify_trigger.sql: .* run psql -d DBNAME -v table=records -v channel=snk_records -f migrations/notify_trigger.sql again to replace it$" "$WORK/check.out" ||
	fail "older trigger line: $(grep trigger "$WORK/check.out")"
grep -q "^a  notify trigger ok: snk_notify on public.records notifies channel snk_records$" "$WORK/check.out" ||
	fail "a's trigger line: $(grep trigger "$WORK/check.out")"
install_trigger b
log "an older trigger: ok, with the command that replaces it"

# 2. The NOTIFY trigger missing on b.
q b "DROP TRIGGER snk_notify ON records"
run_check
expect_fail b "notify trigger" "no NOTIFY trigger for channel snk_records on public.records"
expect_fail b "notify trigger" "-v table=records -v channel=snk_records -f migrations/notify_trigger.sql"
# A trigger with another channel is not the one snk listens on.
q b "CREATE TRIGGER snk_notify AFTER INSERT ON records FOR EACH STATEMENT EXECUTE FUNCTION snk_notify_insert('other')"
run_check
expect_fail b "notify trigger" "no NOTIFY trigger for channel snk_records"
q b "DROP TRIGGER snk_notify ON records"
install_trigger b
q b "ALTER TABLE records DISABLE TRIGGER snk_notify"
run_check
expect_fail b "notify trigger" "ENABLE TRIGGER snk_notify"
q b "ALTER TABLE records ENABLE TRIGGER snk_notify"
# notify_channel "": no trigger needed, the line says timer only.
cat >"$WORK/timer.json" <<EOT
{ "databases": { "a": "$A_CONN", "b": "$B_CONN" }, "control_socket": "$SOCK", "notify_channel": "" }
EOT
run_check "$WORK/timer.json"
[ "$CHECK_RC" = 0 ] || fail "timer-only check exited $CHECK_RC:"$'\n'"$(cat "$WORK/check.out")"
grep -q '^a  notify trigger ok: notify_channel is "": timer only' "$WORK/check.out" || fail "timer-only line: $(grep trigger "$WORK/check.out")"
log "missing, foreign-channel and disabled trigger on b: exit 1 and the b notify trigger line"

# 3. b's table never migrated (a database of its own on cluster b).
psql_side "$SNK_IT_PORT_B" -d postgres -c "DROP DATABASE IF EXISTS $RAW_DB" >/dev/null 2>&1
psql_side "$SNK_IT_PORT_B" -d postgres -c "CREATE DATABASE $RAW_DB" >/dev/null
psql_side "$SNK_IT_PORT_B" -d "$RAW_DB" -c "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL)" >/dev/null
psql_side "$SNK_IT_PORT_B" -d "$RAW_DB" -v table=records -v channel=snk_records \
	-f "$SNK_SRC_DIR/migrations/notify_trigger.sql" >/dev/null 2>&1
config_with raw "$A_CONN" "host=127.0.0.1 port=$SNK_IT_PORT_B user=postgres dbname=$RAW_DB"
run_check "$WORK/raw.json"
expect_fail b migrations "table public.records is not migrated for snk (missing column snk_xid); run 'snk -c $WORK/raw.json migrate'"
log "unmigrated table on b: exit 1 and the b migrations line"

# 3b. b's table has a column a's lacks: the migrations line of b says which, as the daemon
# would at connect.
grep -q "^b  migrations     ok: public.records is migrated (snk_xid bigint, trigger snk_xid_stamp enabled; key (id), 2 columns, the same as in a)$" "$WORK/check.out.healthy" ||
	fail "b's healthy migrations line: $(grep '^b  migrations' "$WORK/check.out.healthy")"
q b "ALTER TABLE records ADD COLUMN extra int"
run_check
expect_fail b migrations 'column "extra" of public.records exists in database b (integer) but not in database a'
q b "ALTER TABLE records DROP COLUMN extra"
log "a column in b only: exit 1 and the b migrations line"

# 4. A role that may connect, use the schemas and SELECT, but not INSERT.
q a "CREATE ROLE $ROLE LOGIN; GRANT CONNECT ON DATABASE \"$DB\" TO $ROLE; GRANT USAGE ON SCHEMA public, snk TO $ROLE;
     GRANT SELECT ON records, snk.cursor TO $ROLE"
config_with ro "host=127.0.0.1 port=$SNK_IT_PORT_A user=$ROLE dbname=$DB" "$B_CONN"
run_check "$WORK/ro.json"
expect_fail a privileges "role $ROLE lacks INSERT on public.records, INSERT on snk.cursor, UPDATE on snk.cursor, EXECUTE on snk.summarize(oid, bigint)"
expect_fail a privileges "GRANT INSERT ON \"public\".\"records\" TO $ROLE;"
# What it says to grant is what it takes.
q a "GRANT INSERT ON records TO $ROLE; GRANT INSERT, UPDATE ON snk.cursor TO $ROLE;
     GRANT EXECUTE ON FUNCTION snk.summarize(oid, bigint), snk.restamp_ahead(regclass) TO $ROLE"
run_check "$WORK/ro.json"
[ "$CHECK_RC" = 0 ] || fail "with the grants it named, check still fails:"$'\n'"$(cat "$WORK/check.out")"
log "role without INSERT: exit 1 and the a privileges line; its GRANTs fix it"

# 5. TLS files: an sslrootcert that does not exist, then one that cannot be read.
config_with tls "$A_CONN sslmode=disable sslrootcert=$WORK/nowhere/root.crt" "$B_CONN"
run_check "$WORK/tls.json"
expect_fail a "tls files" "sslrootcert $WORK/nowhere/root.crt: No such file or directory"
echo "not a certificate" >"$WORK/root.crt"
chmod 000 "$WORK/root.crt"
config_with tls "$A_CONN sslmode=disable sslrootcert=$WORK/root.crt" "$B_CONN"
if [ "$(id -u)" = 0 ]; then
	run_check "$WORK/tls.json" "$SNK_IT_USER" # root reads any file
else
	run_check "$WORK/tls.json"
fi
expect_fail a "tls files" "sslrootcert $WORK/root.crt: Permission denied"
chmod 644 "$WORK/root.crt"
run_check "$WORK/tls.json"
[ "$CHECK_RC" = 0 ] || fail "readable sslrootcert still fails:"$'\n'"$(cat "$WORK/check.out")"
grep -q "^a  tls files      ok: sslrootcert readable$" "$WORK/check.out" || fail "tls line: $(grep tls "$WORK/check.out")"
log "missing and unreadable sslrootcert: exit 1 and the a tls files line"

# 5b. A password in the conninfo is never shown, not even when the connection fails.
SECRET=Zq9-check-PASSWORD-4711
config_with secret "host=127.0.0.1 port=$SNK_IT_PORT_A user=postgres password=$SECRET dbname=$DB" \
	"host=127.0.0.1 port=1 user=postgres password=$SECRET dbname=$DB"
run_check "$WORK/secret.json"
[ "$CHECK_RC" = 1 ] || fail "b unreachable: exit $CHECK_RC"
! grep -q "$SECRET" "$WORK/check.out" || fail "snk check printed the password: $(grep "$SECRET" "$WORK/check.out")"
grep -qE "^b  connection +FAILED: 127.0.0.1:1/$DB: .*[Cc]onnection refused.*; check databases.b in $WORK/secret.json" \
	"$WORK/check.out" || fail "connection line: $(grep connection "$WORK/check.out")"
[ "$(grep -c '^b  .* skipped: no connection$' "$WORK/check.out")" = 4 ] || fail "want 4 skipped b lines:"$'\n'"$(cat "$WORK/check.out")"
grep -q "^snk check: 1 of 8 checks FAILED, 4 not run$" "$WORK/check.out" || fail "summary: $(tail -1 "$WORK/check.out")"
[ "$(grep -c '^a  .* ok: ' "$WORK/check.out")" = 6 ] || fail "a's lines should all be ok:"$'\n'"$(cat "$WORK/check.out")"
log "unreachable b: exit 1, its connection line, 4 lines not run, no password shown"

# 6. A running snk: the writer lock held (by whom), and its warning for b's missing trigger.
q b "DROP TRIGGER snk_notify ON records"
snk_start
wait_for b "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND classid = 1397639979" 1 10
run_check
[ "$CHECK_RC" = 1 ] || fail "check with snk running (and b's trigger dropped) exited $CHECK_RC"
for side in a b; do
	line=$(grep -E "^$side  writer lock +ok: held by a running snk: backend pid [0-9]+ " "$WORK/check.out") ||
		fail "no held line for $side:"$'\n'"$(cat "$WORK/check.out")"
	pid=$(sed -E 's/.*backend pid ([0-9]+) .*/\1/' <<<"$line")
	# The pid it names is one of snk's sessions: application snk..., connected from snk's own sockets.
	app=$(q "$side" "SELECT application_name FROM pg_stat_activity WHERE pid = $pid")
	[[ $app == snk* ]] || fail "pid $pid in '$line' is not a session of snk ($app)"
	port=$(q "$side" "SELECT client_port FROM pg_stat_activity WHERE pid = $pid")
	ss -tnp | grep -F "127.0.0.1:$port " | grep -q "pid=$SNK_PID," || fail "backend $pid's client port $port is not snk's ($SNK_PID)"
	grep -qF "(user postgres, application $app, client 127.0.0.1:$port" <<<"$line" || fail "held line lacks user/application/client: $line"
done
grep -qE "^b  notify trigger +FAILED" "$WORK/check.out" || fail "b's missing trigger not reported while snk runs"
[ "$(grep -c FAILED: "$WORK/check.out")" = 1 ] || fail "want 1 failed line (b's trigger):"$'\n'"$(cat "$WORK/check.out")"
# snk check read the lock and left it to snk: snk still holds it on both sides.
for side in a b; do
	[ "$(q "$side" "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory'
		AND l.objsubid = 2 AND l.classid = 1397639979 AND a.application_name LIKE 'snk%'")" = 1 ] || fail "snk lost its lock on $side"
done
log "running snk: both writer lock lines say held by snk's backend (pid, application, client port)"

# The daemon's side of a missing trigger: one warning per connect, status, human status.
[ "$(grep -c "\[b.read\] database b: no NOTIFY trigger for channel snk_records on public.records" "$WORK/snk.log")" = 1 ] ||
	fail "want one warning for b's missing trigger: $(grep -i 'notify trigger' "$WORK/snk.log")"
grep "database b: no NOTIFY trigger" "$WORK/snk.log" | grep -qF -- "-v table=records -v channel=snk_records -f migrations/notify_trigger.sql" ||
	fail "the warning does not say what to run"
! grep -q "database a: no NOTIFY trigger" "$WORK/snk.log" || fail "a warning for a, which has its trigger"
[ "$(status_field .databases.b.notify_trigger)" = false ] || fail "status b.notify_trigger: $(status_field .databases.b.notify_trigger)"
[ "$(status_field .databases.a.notify_trigger)" = true ] || fail "status a.notify_trigger: $(status_field .databases.a.notify_trigger)"
[ "$(status_field .wake)" = notify+timer ] || fail "wake changed: $(status_field .wake)"
"$SNKCTL" -s "$SOCK" status | grep -q "^warning: database b has no NOTIFY trigger" || fail "human status does not show b's missing trigger"
! "$SNKCTL" -s "$SOCK" status | grep -q "database a has no NOTIFY trigger" || fail "human status warns of a"
# Still synced by the timer.
q b "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'timer ' || i FROM generate_series(1, 50) i"
wait_for a "SELECT count(*) FROM records" 50 10
# A reconnect of b's read session warns again (once per connect).
q b "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'snk%'" >/dev/null
for i in $(seq 1 100); do
	[ "$(grep -c "database b: no NOTIFY trigger" "$WORK/snk.log")" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -c "database b: no NOTIFY trigger" "$WORK/snk.log")" = 2 ] || fail "want a second warning after b.read reconnected"
snk_stop

# snk stopped: the lock is free again; with b's trigger back, no warning and true.
run_check
expect_fail b "notify trigger" "no NOTIFY trigger"
grep -q "^a  writer lock    ok: free$" "$WORK/check.out" || fail "lock not free after snk stopped: $(grep 'writer lock' "$WORK/check.out")"
install_trigger b
# A session that is not snk's holds snk's lock on a: that line fails.
PGAPPNAME=intruder psql_side "$SNK_IT_PORT_A" -d "$DB" -c "SELECT pg_advisory_lock(1397639979, hashtext('public.records'))" \
	-c "SELECT pg_sleep(20)" >/dev/null 2>&1 &
INTRUDER=$!
BG_PIDS+=($INTRUDER)
wait_for a "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND classid = 1397639979 AND granted" 1 10
run_check
expect_fail a "writer lock" "held by a session that is not snk's: backend pid"
grep -q "application intruder" "$WORK/check.out" || fail "the intruder is not named: $(grep 'writer lock' "$WORK/check.out")"
kill "$INTRUDER" 2>/dev/null
q a "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'intruder'" >/dev/null
wait "$INTRUDER" 2>/dev/null || true
: >"$WORK/snk.log"
snk_start
for i in $(seq 1 50); do
	[ "$(status_field .databases.b.notify_trigger)" = true ] && break
	sleep 0.1
done
[ "$(status_field .databases.b.notify_trigger)" = true ] || fail "b.notify_trigger with the trigger back: $(status_field .databases.b.notify_trigger)"
! grep -q "no NOTIFY trigger" "$WORK/snk.log" || fail "warned although both triggers are there"
! "$SNKCTL" -s "$SOCK" status | grep -q "has no NOTIFY trigger" || fail "human status warns with both triggers"
snk_stop
assert_tail_only
it_pass "snk check: healthy 12 ok; missing/foreign/disabled trigger, unmigrated table, role without INSERT," \
	"missing and unreadable sslrootcert, writer lock held by a session not snk's each fail their own line, held by snk is ok; daemon warns per connect" \
	"and status shows notify_trigger false"
