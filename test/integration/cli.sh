#!/usr/bin/env bash
# Injects: version flags; options given to a command that does not take them; a relative
# control_socket with snk and snkctl started from another directory; configs with bad
# keys, cut off after control_socket and cut off before it; snkctl pause/resume; verify on
# identical tables, on tables made to differ behind snk's back, and on a missing table;
# database b's conninfo pointed at a closed port (a libpq error that holds a tab).
# Checks: versions print and exit 0; misplaced options exit 64 naming the option;
# snk's socket lands next to the config and snkctl -c finds it from elsewhere; a config
# broken anywhere but before control_socket still gives status; pause/resume say so in
# words; verify --json is one object with the right counts and ids; a missing table gets
# the daemon's advice with the real config path; each session's application_name names
# its role; status exits 0 running, 2 degraded, 69 with no snk, with every line of the
# table within 100 columns and no control character; --watch repeats the table.
. "$(dirname "$0")/lib.sh"
it_init cli

# narrow FILE: every line within 100 columns (characters), none with a control character.
narrow() {
	local wide
	wide=$(LC_ALL=C.UTF-8 awk 'length($0) > 100' "$1")
	[ -z "$wide" ] || fail "status lines over 100 columns: $wide"
	! grep -qP '[\x01-\x09\x0b-\x1f\x7f]' "$1" || fail "status holds a control character: $(cat -A "$1")"
}

# --- versions
for tool in "$SNK -V" "$SNK --version" "$SNKCTL --version" "$TST --version"; do
	out=$($tool) || fail "$tool exited $?"
	[[ $out =~ ^(snk|snkctl|tst)\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "$tool printed [$out]"
done

# --- options a command does not take
expect_fixed 64 "--list does not apply to migrate" -- "$SNK" -c "$CFG" --list 5 migrate
expect_fixed 64 "--json does not apply to run" -- "$SNK" -c "$CFG" --json run
expect_fixed 64 "--json does not apply to run" -- "$SNK" -c "$CFG" --json
expect_fixed 64 "--check-config does not apply to verify" -- "$SNK" -c "$CFG" --check-config verify
expect_fixed 64 "--watch applies only to status" -- "$SNKCTL" -c "$CFG" --watch 1 pause
expect_fixed 64 "--watch: seconds must be" -- "$SNKCTL" -c "$CFG" status --watch 0

# --- verify on a missing table: the daemon's advice, with the path given
sed 's/"reconnect_max_ms"/"table": "no_such_table", "reconnect_max_ms"/' "$CFG" >"$WORK/missing.json"
expect_fixed 65 ": table public.no_such_table does not exist; run 'snk -c $WORK/missing.json migrate' to create it" \
	-- "$SNK" -c "$WORK/missing.json" verify
rc=0
"$SNK" -c "$WORK/missing.json" verify --json >"$WORK/missing.out" 2>/dev/null || rc=$?
[ "$rc" = 65 ] || fail "verify --json on a missing table exited $rc"
jq -e '.result == "error" and .exit_code == 65 and (.error | test("no_such_table does not exist"))' \
	"$WORK/missing.out" >/dev/null || fail "verify --json on a missing table printed $(cat "$WORK/missing.out")"

# --- a relative control_socket, snk and snkctl started elsewhere
mkdir -p "$WORK/ctl"
sed -i "s|\"control_socket\": \"$SOCK\"|\"control_socket\": \"ctl/snk.sock\"|" "$CFG"
grep -q '"ctl/snk.sock"' "$CFG" || fail "test setup: control_socket not rewritten"
SOCK=$WORK/ctl/snk.sock
cd /
snk_start
[ -S "$SOCK" ] || fail "snk did not put its socket next to the config: $(ls "$WORK")"
"$SNKCTL" -c "$CFG" ping >"$WORK/ping.out" || fail "snkctl -c from / did not reach snk"
grep -qx "snk [0-9.]* answers" "$WORK/ping.out" || fail "ping printed $(cat "$WORK/ping.out")"
"$SNK" -c "$CFG" --check-config >/dev/null || fail "the config is valid"

# --- status while running: exit 0, a table within 100 columns
for _ in $(seq 1 100); do [ "$(status_field .state)" = running ] && break; sleep 0.1; done
rc=0
"$SNKCTL" -c "$CFG" status >"$WORK/status.out" || rc=$?
[ "$rc" = 0 ] || fail "status while running exited $rc: $(cat "$WORK/status.out")"
grep -q "state running" "$WORK/status.out" || fail "status: $(cat "$WORK/status.out")"
narrow "$WORK/status.out"

# --- a config being edited still gives status; one broken before the socket does not
bad() { printf '%s' "$1" >"$WORK/edit.json"; }
bad "$(sed 's/"poll_interval_ms": [0-9]*/"poll_interval_ms": -5, "no_such_key": [1, {"x": "}"}]/' "$CFG")"
rc=0
"$SNK" -c "$WORK/edit.json" --check-config 2>/dev/null || rc=$?
[ "$rc" = 78 ] || fail "test setup: the edited config should be invalid, --check-config exited $rc"
"$SNKCTL" -c "$WORK/edit.json" status >/dev/null || fail "status blocked by a config with bad keys"
bad '{"control_socket": "ctl/snk.sock", "databases": {"a": "host='
"$SNKCTL" -c "$WORK/edit.json" status >/dev/null || fail "status blocked by a config cut off after control_socket"
bad '{"control_socket": "ctl/snk.sock"} }} half of an old file'
"$SNKCTL" -c "$WORK/edit.json" status >/dev/null || fail "status blocked by junk after the config"
bad '{"databases": {"a": "host=127.0.0.1", "b": '
expect_fixed 78 "no control_socket found: the file is not valid JSON near line 1; fix it or give the socket with -s" \
	-- "$SNKCTL" -c "$WORK/edit.json" status

# --- pause and resume say what they did
"$SNKCTL" -c "$CFG" pause >"$WORK/pause.out" || fail "pause failed"
grep -q "^snk paused: " "$WORK/pause.out" || fail "pause printed $(cat "$WORK/pause.out")"
! grep -q '{' "$WORK/pause.out" || fail "pause printed JSON"
[ "$(status_field .state)" = paused ] || fail "not paused"
rc=0
"$SNKCTL" -c "$CFG" status >/dev/null || rc=$?
[ "$rc" = 0 ] || fail "status while paused on purpose exited $rc"
"$SNKCTL" -c "$CFG" resume >"$WORK/resume.out" || fail "resume failed"
grep -qx "snk resumed: syncing" "$WORK/resume.out" || fail "resume printed $(cat "$WORK/resume.out")"
[ "$("$SNKCTL" -c "$CFG" --json pause)" = '{"ok":true}' ] || fail "pause --json is not the reply"
"$SNKCTL" -c "$CFG" resume >/dev/null

# --- application_name: each session names its role
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'r' || g FROM generate_series(1, 50) g"
wait_synced 30
# the first start's own reconcile may still be running; a second is refused meanwhile
for _ in $(seq 1 100); do [ "$(status_field .reconcile.state)" = idle ] && break; sleep 0.1; done
apps() { q "$1" "SELECT string_agg(application_name, ',' ORDER BY application_name) FROM pg_stat_activity
	WHERE datname = current_database() AND application_name LIKE 'snk %'"; }
# the reconcile's sessions, caught while a lock on b holds its digest query; they close
# once the run is over
runs=$(status_field .reconcile.runs)
PGAPPNAME=cli_locker psql_side "$SNK_IT_PORT_B" -d "$DB" \
	-c "BEGIN; LOCK TABLE records IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60)" >/dev/null 2>&1 &
locker=$!
BG_PIDS+=($locker)
wait_for b "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cli_locker' AND wait_event = 'PgSleep'" 1 10
"$SNKCTL" -c "$CFG" reconcile >/dev/null || fail "snkctl reconcile refused"
for _ in $(seq 1 100); do [[ "$(apps b)" == *reconcile* ]] && break; sleep 0.1; done
[ "$(apps a)" = "snk a.read,snk a.reconcile,snk a.write,snk a.write2" ] || fail "sessions on a: $(apps a)"
[ "$(apps b)" = "snk b.read,snk b.reconcile,snk b.write,snk b.write2" ] || fail "sessions on b: $(apps b)"
q b "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cli_locker'" >/dev/null
for _ in $(seq 1 100); do [ "$(status_field .reconcile.runs)" -gt "$runs" ] && break; sleep 0.1; done
for _ in $(seq 1 50); do [[ "$(apps a)$(apps b)" != *reconcile* ]] && break; sleep 0.1; done
[ "$(apps a)" = "snk a.read,snk a.write,snk a.write2" ] || fail "after the run, sessions on a: $(apps a)"
[ "$(apps b)" = "snk b.read,snk b.write,snk b.write2" ] || fail "after the run, sessions on b: $(apps b)"
# verify's sessions, caught while a lock on b holds its digest query
PGAPPNAME=cli_locker psql_side "$SNK_IT_PORT_B" -d "$DB" \
	-c "BEGIN; LOCK TABLE records IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60)" >/dev/null 2>&1 &
BG_PIDS+=($!)
wait_for b "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
	WHERE c.relname = 'records' AND l.mode = 'AccessExclusiveLock' AND l.granted" 1 10
"$SNK" -c "$CFG" verify >"$WORK/verify_locked.out" 2>&1 &
VPID=$!
BG_PIDS+=($VPID)
wait_for b "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'snk b.verify'" 1 10
wait_for a "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'snk a.verify'" 1 10
q b "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cli_locker'" >/dev/null
wait "$VPID" || fail "verify after the lock: $(cat "$WORK/verify_locked.out")"

# --- verify --json: identical, then different behind snk's back (snk stopped)
wait_synced 30
rc=0
"$SNK" -c "$CFG" verify --json >"$WORK/v1.json" || rc=$?
[ "$rc" = 0 ] || fail "verify --json on identical tables exited $rc: $(cat "$WORK/v1.json")"
jq -e '.result == "identical" and .rows.a == 50 and .rows.b == 50 and .differences.only_in_a.count == 0
	and .queries >= 2 and .bytes_received > 0' "$WORK/v1.json" >/dev/null || fail "verify --json: $(cat "$WORK/v1.json")"
snk_stop || fail "snk exited non-zero"
q a "INSERT INTO records (id, data) VALUES ('00000000-0000-4000-8000-00000000000a', 'x'),
	('00000000-0000-4000-8000-00000000000b', 'x'), ('00000000-0000-4000-8000-00000000000c', 'x')"
q b "INSERT INTO records (id, data) VALUES ('00000000-0000-4000-8000-0000000000b1', 'x'),
	('00000000-0000-4000-8000-0000000000b2', 'x')"
q a "INSERT INTO records (id, data) VALUES ('00000000-0000-4000-8000-0000000000dd', 'on a')"
q b "INSERT INTO records (id, data) VALUES ('00000000-0000-4000-8000-0000000000dd', 'on b')"
rc=0
"$SNK" -c "$CFG" verify --json --list 2 >"$WORK/v2.json" || rc=$?
[ "$rc" = 1 ] || fail "verify --json on different tables exited $rc: $(cat "$WORK/v2.json")"
[ "$(wc -l <"$WORK/v2.json")" = 1 ] || fail "verify --json printed more than one line"
jq -e '.result == "different" and .rows.a == 54 and .rows.b == 53
	and .differences.only_in_a.count == 3 and (.differences.only_in_a.ids | length) == 2
	and .differences.only_in_a.ids_complete == false
	and .differences.only_in_b.count == 2 and .differences.only_in_b.ids_complete
	and (.differences.only_in_b.ids | sort) == ["00000000-0000-4000-8000-0000000000b1", "00000000-0000-4000-8000-0000000000b2"]
	and .differences.different_data.ids == ["00000000-0000-4000-8000-0000000000dd"]
	and .queries > 2' "$WORK/v2.json" >/dev/null || fail "verify --json: $(cat "$WORK/v2.json")"
jq -e '.differences.only_in_a.ids | all(test("^00000000-0000-4000-8000-00000000000[abc]$"))' "$WORK/v2.json" >/dev/null ||
	fail "verify --json lists ids that are not only in a: $(cat "$WORK/v2.json")"

# --- degraded: b's conninfo at a closed port; status exits 2 and the table stays narrow
CLOSED=$(free_port)
sed -i "s/port=$SNK_IT_PORT_B /port=$CLOSED /" "$CFG"
grep -q "port=$CLOSED " "$CFG" || fail "test setup: b not pointed at the closed port"
snk_start
for _ in $(seq 1 100); do [ "$(status_field .state)" = degraded ] && break; sleep 0.1; done
[ "$(status_field .state)" = degraded ] || fail "state $(status_field .state), want degraded"
status_field .databases.b.last_error | grep -qP '\t' || fail "test setup: libpq's error holds no tab: $(status_field .databases.b.last_error)"
rc=0
"$SNKCTL" -c "$CFG" status >"$WORK/degraded.out" || rc=$?
[ "$rc" = 2 ] || fail "status while degraded exited $rc, want 2"
grep -q "^  b: .*Connection refused" "$WORK/degraded.out" || fail "the b row lost its error: $(cat "$WORK/degraded.out")"
narrow "$WORK/degraded.out"
rc=0
"$SNKCTL" -c "$CFG" status --json >/dev/null || rc=$?
[ "$rc" = 2 ] || fail "status --json while degraded exited $rc, want 2"
rc=0
# --foreground: the signal goes to snkctl only. Sent to the group, timeout follows it with a
# SIGCONT, which under ASan can resume snkctl while LeakSanitizer's exit-time tracer has it
# stopped, and both then wait for each other for good (a CI run hung here twice).
timeout --foreground -k 10 --preserve-status -s INT 3.5 "$SNKCTL" -c "$CFG" status --watch 1 >"$WORK/watch.out" || rc=$?
[ "$rc" = 2 ] || fail "status --watch exited $rc, want 2 (the last answer)"
n=$(grep -c "^snk .* state degraded" "$WORK/watch.out" || true)
[ "$n" -ge 3 ] || fail "--watch 1 printed $n tables in 3.5 s"
narrow "$WORK/watch.out"
snk_stop || fail "snk exited non-zero"

# --- no snk answering
rc=0
"$SNKCTL" -c "$CFG" status >/dev/null 2>&1 || rc=$?
[ "$rc" = 69 ] || fail "status with no snk exited $rc, want 69"
it_pass "versions, refused options, relative socket, status through broken configs, exit codes 0/2/69, narrow table, watch, verify --json, application_name per role"
