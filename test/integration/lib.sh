# lib.sh - sourced by every integration test. Each test gets its own pair of databases
# (it_<name> in cluster a and in cluster b, started by clusters.sh), its own config and
# work directory, and helpers to run snk and tst as separate processes, as users would.
# On failure the test prints snk's log; everything it started is stopped by PID.
set -euo pipefail

: "${SNK_IT_ENV:?run through ctest (the clusters fixture sets SNK_IT_ENV)}"
: "${SNK_BIN_DIR:?}" "${SNK_SRC_DIR:?}"
# shellcheck disable=SC1090
. "$SNK_IT_ENV"

SNK=$SNK_BIN_DIR/snk
SNKCTL=$SNK_BIN_DIR/snkctl
TST=$SNK_BIN_DIR/tst
SNK_PID=
BG_PIDS=()
IT_OK=0

log() { echo "[$(date +%H:%M:%S)] $*"; }

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# it_watchdog: a test still running after IT_WATCHDOG_S (270) seconds is likely stuck, and
# ctest's timeout (300 s) would kill it without a word: say where everything is first.
it_watchdog() {
	sleep "${IT_WATCHDOG_S:-270}" </dev/null >/dev/null 2>&1 # holds no pipe of the test (ctest waits for those)
	{
		echo "WATCHDOG: $NAME has run for ${IT_WATCHDOG_S:-270} s; its processes:"
		ps -o pid,ppid,stat,etime,args --forest -p "$(pgrep -d, -g "$(ps -o pgid= $$ | tr -d ' ')")"
		for v in ${!SNK_IT_PORT_@}; do
			echo "-- sessions on port ${!v} that are not idle:"
			psql_side "${!v}" -d postgres -At -c "SELECT pid, application_name, state, wait_event_type,
				wait_event, pg_catalog.left(query, 100) FROM pg_catalog.pg_stat_activity
				WHERE backend_type = 'client backend' AND state IS DISTINCT FROM 'idle'
				AND pid <> pg_catalog.pg_backend_pid()" 2>&1
		done
		echo "-- last 30 lines of snk's log:"
		tail -n 30 "$WORK/snk.log" 2>/dev/null
	} >&2
}

it_cleanup() {
	local rc=$?
	set +e
	if [ -n "${WATCHDOG_PID:-}" ]; then # the watchdog first, then its sleep (it would print once that ends)
		local sleeper
		sleeper=$(pgrep -P "$WATCHDOG_PID")
		kill "$WATCHDOG_PID" 2>/dev/null
		wait "$WATCHDOG_PID" 2>/dev/null
		[ -z "$sleeper" ] || kill $sleeper 2>/dev/null
	fi
	for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	if [ -n "$SNK_PID" ] && kill -0 "$SNK_PID" 2>/dev/null; then
		kill -TERM "$SNK_PID"
		wait "$SNK_PID" 2>/dev/null
	fi
	for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if [ "$rc" != 0 ] || [ "$IT_OK" != 1 ]; then
		echo "---- last 60 lines of snk's log ($WORK/snk.log) ----" >&2
		tail -n 60 "$WORK/snk.log" >&2 2>/dev/null
		[ "$rc" != 0 ] || rc=1
	else
		dropdb_both
	fi
	exit "$rc"
}

psql_side() {
	local port=$1
	shift
	PGCONNECT_TIMEOUT=5 psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}

# q a|b SQL: runs SQL in this test's database on side a or b, prints unaligned tuples.
q() {
	local side=$1
	shift
	psql_side "$(port_of "$side")" -d "$DB" -At -c "$*"
}

port_of() {
	case $1 in
	a) echo "$SNK_IT_PORT_A" ;;
	b) echo "$SNK_IT_PORT_B" ;;
	c) echo "${SNK_IT_PORT_C:?the clusters fixture started no cluster c}" ;;
	*) fail "port_of: bad side $1" ;;
	esac
}

dropdb_both() {
	psql_side "$SNK_IT_PORT_A" -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
	psql_side "$SNK_IT_PORT_B" -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
	[ "${THREE:-0}" = 0 ] || psql_side "$SNK_IT_PORT_C" -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
}

# it_init NAME [--no-migrate] [--no-trigger]: fresh databases, config, migrations, trigger.
it_init() {
	local migrate=1 trigger=1
	NAME=$1
	shift
	for o in "$@"; do
		case $o in
		--no-migrate) migrate=0 ;;
		--no-trigger) trigger=0 ;;
		esac
	done
	DB=it_$NAME
	WORK=$SNK_IT_ROOT/work/$NAME
	rm -rf "$WORK"
	mkdir -p "$WORK"
	CFG=$WORK/config.json
	SOCK=$WORK/snk.sock
	trap it_cleanup EXIT
	it_watchdog &
	WATCHDOG_PID=$!
	dropdb_both
	psql_side "$SNK_IT_PORT_A" -d postgres -c "CREATE DATABASE \"$DB\"" >/dev/null
	psql_side "$SNK_IT_PORT_B" -d postgres -c "CREATE DATABASE \"$DB\"" >/dev/null
	[ "${THREE:-0}" = 0 ] || psql_side "$SNK_IT_PORT_C" -d postgres -c "CREATE DATABASE \"$DB\"" >/dev/null
	write_config
	if [ $migrate = 1 ]; then
		"$SNK" -c "$CFG" migrate >"$WORK/migrate.log" 2>&1 || {
			cat "$WORK/migrate.log" >&2
			fail "snk migrate failed"
		}
	fi
	if [ $trigger = 1 ]; then
		install_trigger a
		install_trigger b
		[ "${THREE:-0}" = 0 ] || install_trigger c
	fi
}

# write_config [extra JSON members]: this test's config, with optional extra keys. The
# databases are named a and b unless DB_NAME_A / DB_NAME_B say otherwise; THREE=1 (set
# before it_init) adds c, the third cluster's.
write_config() {
	local extra=${1:-} third=
	[ "${THREE:-0}" = 0 ] || third=",
    \"c\": \"host=127.0.0.1 port=$SNK_IT_PORT_C user=postgres dbname=$DB\""
	cat >"$CFG" <<EOT
{
  "databases": {
    "${DB_NAME_A:-a}": "host=127.0.0.1 port=$SNK_IT_PORT_A user=postgres dbname=$DB",
    "${DB_NAME_B:-b}": "host=127.0.0.1 port=$SNK_IT_PORT_B user=postgres dbname=$DB"$third
  },
  "control_socket": "$SOCK",
  "poll_interval_ms": ${POLL_MS:-200},
  "reconnect_max_ms": 1000${extra:+,
  $extra}
}
EOT
}

install_trigger() {
	psql_side "$(port_of "$1")" -d "$DB" -v table=records -v channel=snk_records \
		-f "$SNK_SRC_DIR/migrations/notify_trigger.sql" >/dev/null 2>&1
}

# older_trigger_function a|b: the trigger's function as notify_trigger.sql had it before it
# skipped snk's sessions (snk.copy): it notifies for snk's copies too.
older_trigger_function() {
	q "$1" "CREATE OR REPLACE FUNCTION snk_notify_insert() RETURNS trigger LANGUAGE plpgsql AS
	\$f\$ BEGIN PERFORM pg_notify(TG_ARGV[0], TG_RELID::text); RETURN NULL; END \$f\$" >/dev/null
}

snk_start() {
	"$SNK" -c "$CFG" -v "$@" >>"$WORK/snk.log" 2>&1 &
	SNK_PID=$!
	# Wait until it answers on its socket and both directions are idle or copying.
	local i
	for i in $(seq 1 100); do
		if "$SNKCTL" -s "$SOCK" ping >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$SNK_PID" 2>/dev/null; then
			local rc=0
			wait "$SNK_PID" || rc=$?
			SNK_PID=
			# 128+N: killed by signal N (137: SIGKILL), with nothing in the log.
			fail "snk exited at start-up with status $rc (see log)"
		fi
		sleep 0.05
	done
	fail "snk did not answer on $SOCK within 5 s"
}

# snk_stop: SIGTERM and wait; prints and returns snk's exit code.
# snk_start_quiet: start snk without waiting for its socket (it may die on purpose).
snk_start_quiet() {
	"$SNK" -c "$CFG" -v >>"$WORK/snk.log" 2>&1 &
	SNK_PID=$!
}

snk_stop() {
	local rc=0
	kill -TERM "$SNK_PID"
	wait "$SNK_PID" || rc=$?
	SNK_PID=
	return $rc
}

snk_kill9() {
	kill -KILL "$SNK_PID"
	wait "$SNK_PID" 2>/dev/null || true
	SNK_PID=
}

# kill9_restarts N: N times, at a random moment 0.1-0.9 s apart, SIGKILL snk and start it
# again; then a SIGTERM (which must exit 0) and a last start.
kill9_restarts() {
	for _ in $(seq 1 "$1"); do
		sleep "0.$((RANDOM % 9 + 1))"
		snk_kill9
		snk_start
	done
	sleep 0.5
	snk_stop || fail "SIGTERM under load did not exit 0"
	snk_start
}

# status_field JQ_PATH: one value from snkctl status --json, e.g. .a_to_b.rows_read
status_field() {
	# Exit 2 says snk is degraded; the fields are what the caller wants to know.
	{ "$SNKCTL" -s "$SOCK" status --json || [ $? = 2 ]; } | jq -r "$1"
}

count() { q "$1" "SELECT count(*) FROM records"; }

# wait_reconciled RUNS_BEFORE [TIMEOUT_S]: until a reconcile run after the first
# RUNS_BEFORE has ended; fails unless it compared everything.
wait_reconciled() {
	local before=$1 timeout=${2:-60} start=$SECONDS
	until [ "$(status_field .reconcile.runs)" -gt "$before" ] && [ "$(status_field .reconcile.state)" != running ]; do
		[ $((SECONDS - start)) -lt "$timeout" ] || fail "no reconcile ended within ${timeout}s: $(status_field .reconcile)"
		sleep 0.1
	done
	[ "$(status_field .reconcile.last.result)" = complete ] || fail "reconcile did not complete: $(status_field .reconcile.last)"
}

# digest SIDE: count and an order-independent 60-bit hash sum over (id, data), leaving
# out the rows matching $DIGEST_SKIP (a WHERE condition; for deliberate conflicts).
digest() {
	q "$1" "SELECT count(*) || ':' || coalesce(sum(('x' || substr(md5(id::text || ':' || data), 1, 15))::bit(60)::bigint), 0) FROM records WHERE NOT (${DIGEST_SKIP:-false})"
}

# wait_synced [TIMEOUT_S]: until both tables have the same rows; fails on timeout.
wait_synced() {
	local timeout=${1:-60} start=$SECONDS da db dc
	while :; do
		da=$(digest a)
		db=$(digest b)
		dc=$db
		[ "${THREE:-0}" = 0 ] || dc=$(digest c)
		if [ "$da" = "$db" ] && [ "$db" = "$dc" ]; then
			SYNC_WAITED=$((SECONDS - start))
			return 0
		fi
		[ $((SECONDS - start)) -lt "$timeout" ] || fail "tables still differ after ${timeout}s: a=$da b=$db${THREE:+ c=$dc}"
		sleep 0.2
	done
}

# wait_for SIDE SQL EXPECTED [TIMEOUT_S]: until the query prints EXPECTED.
wait_for() {
	local side=$1 sql=$2 want=$3 timeout=${4:-30} start=$SECONDS got
	while :; do
		got=$(q "$side" "$sql")
		[ "$got" = "$want" ] && return 0
		[ $((SECONDS - start)) -lt "$timeout" ] || fail "waited ${timeout}s on $side for [$sql] = $want, got $got"
		sleep 0.05
	done
}

# cluster_stop a|b [MODE] / cluster_start a|b: stop or start a whole cluster, as its
# owner, with the options it was first started with. Tests run one at a time.
as_pg_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u "$SNK_IT_USER" -- "$@"; else "$@"; fi
}
cluster_stop() {
	as_pg_owner "$SNK_IT_PGBIN/pg_ctl" -D "$SNK_IT_ROOT/$1/data" -m "${2:-fast}" -w stop >/dev/null
}
cluster_start() {
	as_pg_owner "$SNK_IT_PGBIN/pg_ctl" -D "$SNK_IT_ROOT/$1/data" -l "$SNK_IT_ROOT/$1/server.log" -w -t 60 \
		-o "$(cat "$SNK_IT_ROOT/$1/opts")" start >/dev/null
}

# ctl_raw BYTES...: sends raw bytes to snk's control socket, prints what comes back.
ctl_raw() {
	printf '%s' "$1" | timeout 5 nc -U -N "$SOCK" 2>/dev/null || true
}

# http_get PORT PATH: status line and body of GET http://127.0.0.1:PORT/PATH.
http_get() {
	local port=$1 path=$2
	exec 5<>"/dev/tcp/127.0.0.1/$port"
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&5
	cat <&5
	exec 5<&-
}

# http_head PORT PATH: status line and headers of HEAD http://127.0.0.1:PORT/PATH, and
# whatever else the server sent (a HEAD reply has no body).
http_head() {
	local port=$1 path=$2
	exec 5<>"/dev/tcp/127.0.0.1/$port"
	printf 'HEAD %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&5
	cat <&5
	exec 5<&-
}

free_port() {
	# Above the kernel's ephemeral range (32768-60999 by default): a port there can be taken
	# by any outgoing connection (a psql, one of snk's sessions) between this check and
	# snk's bind, which then fails with "Address already in use".
	local p=$((61000 + RANDOM % 4000))
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}

# tst_totals FILE: ta, tb (and tc with three databases) and tt from tst's final line in
# FILE; fails without one.
tst_totals() {
	local line
	line=$(grep -E '^tst: [a-z].*total=[0-9]+$' "$1" | tail -1 || true)
	tt=$(sed -n 's/.* total=\([0-9]*\)$/\1/p' <<<"$line")
	ta=$(sed -n 's/^tst: a=\([0-9]*\) .*/\1/p' <<<"$line")
	tb=$(sed -n 's/.* b=\([0-9]*\) .*/\1/p' <<<"$line")
	tc=$(sed -n 's/.* c=\([0-9]*\) .*/\1/p' <<<"$line")
	[ -n "${tt:-}" ] || fail "tst printed no total: $(tail -3 "$1")"
}

# assert_exact TOTAL [TIMEOUT_S]: waits until both tables hold the same rows, then checks
# that each holds exactly TOTAL (nothing lost, nothing duplicated).
assert_exact() {
	wait_synced "${2:-60}"
	[ "$(count a)" = "$1" ] || fail "a has $(count a) rows, tst committed $1"
	[ "$(count b)" = "$1" ] || fail "b has $(count b) rows, tst committed $1"
	[ "${THREE:-0}" = 0 ] || [ "$(count c)" = "$1" ] || fail "c has $(count c) rows, tst committed $1"
}

it_pass() {
	IT_OK=1
	echo "PASS: $*"
}

# assert_tail_only: no reconcile of any snk this test started repaired a row, so the tail
# alone delivered every row. For tests in which nothing changes the tables behind snk's
# back: a reconcile would otherwise hide a row the tail lost. Reads every reconcile line of
# snk's log (finished, stopped and progress lines all say what they repaired) and, while
# snk runs, its status. With LOG arguments: those logs instead of $WORK/snk.log (a test
# that runs more than one snk passes each one's log, with its SNK_PID and SOCK).
assert_tail_only() {
	local n logs=("${@:-$WORK/snk.log}")
	n=$({ grep -hoE 'repaired [0-9]+ rows into [a-z0-9_]+((,| and) [0-9]+ (rows )?into [a-z0-9_]+)+' "${logs[@]}" || true; } |
		{ grep -oE ' [0-9]+ ' || true; } | awk '{ s += $1 } END { print s + 0 }')
	[ "$n" = 0 ] || fail "a reconcile repaired $n rows: the tail alone did not deliver them ($(grep -h 'reconcile' "${logs[@]}" | grep -E 'repaired [1-9]|[1-9][0-9]* into [a-z]' | head -3))"
	if [ -n "$SNK_PID" ] && kill -0 "$SNK_PID" 2>/dev/null; then
		n=$(status_field '[.reconcile | to_entries[] | select(.key | startswith("rows_repaired_into_")) | .value] | add')
		[ "$n" = 0 ] || fail "snkctl status says a reconcile repaired $n rows: the tail alone did not deliver them"
	fi
}

# expect CODE PATTERN -- command...: the command exits CODE and prints a single line on
# stderr, matching PATTERN (a grep regex; expect_fixed: a fixed string).
expect() { expect_line -q "$@"; }
expect_fixed() { expect_line -qF "$@"; }
expect_line() {
	local how=$1 want=$2 pat=$3 rc=0
	shift 4
	"$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	[ "$rc" = "$want" ] || fail "$* exited $rc, want $want: $(cat "$WORK/err")"
	[ "$(wc -l <"$WORK/err")" = 1 ] || fail "$*: want one line on stderr, got: $(cat "$WORK/err")"
	grep "$how" -- "$pat" "$WORK/err" || fail "$*: stderr [$(cat "$WORK/err")] lacks [$pat]"
}

# The settings of every session of ours that moves or compares values (compare_by_key):
# what snk pins too, so that a text round trip is exact whatever the databases' defaults.
IT_PINNED='-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex -c lc_monetary=C -c xmloption=content'

# compare_by_key TABLE KEY_COLUMNS: copies b's rows of TABLE (every column but snk_xid,
# by name, in a's order; COPY text with IT_PINNED on both ends) into a scratch table made
# LIKE a's TABLE in database a, then compares every row by key in ONE session of a: a FULL
# JOIN on the key, row(...)::text IS DISTINCT FROM row(...)::text. Fails naming the first
# differing keys (only in a, only in b, or different); on success sets CMP_ROWS.
compare_by_key() {
	local table=$1 keys=$2 cols on xr yr kx k1 diff
	cols=$(q a "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
		WHERE attrelid = '$table'::regclass AND attnum > 0 AND NOT attisdropped AND attname <> 'snk_xid'")
	[ -n "$cols" ] || fail "compare_by_key: no columns in a's $table"
	on=$(echo "$keys" | sed 's/ //g; s/\([^,]*\)/x.\1 = y.\1/g; s/,/ AND /g')
	xr="row($(echo "$cols" | sed 's/\([^ ,][^,]*\)/x.\1/g'))::text"
	yr="row($(echo "$cols" | sed 's/\([^ ,][^,]*\)/y.\1/g'))::text"
	kx="row($(echo "$keys" | sed 's/ //g; s/\([^,]*\)/coalesce(x.\1, y.\1)/g'))::text"
	q a "SET client_min_messages = warning; DROP TABLE IF EXISTS it_cmp_b; CREATE TABLE it_cmp_b (LIKE $table);
		ALTER TABLE it_cmp_b DROP COLUMN IF EXISTS snk_xid"
	PGOPTIONS=$IT_PINNED psql_side "$SNK_IT_PORT_B" -d "$DB" -c "COPY (SELECT $cols FROM $table) TO STDOUT" |
		PGOPTIONS=$IT_PINNED psql_side "$SNK_IT_PORT_A" -d "$DB" -c "COPY it_cmp_b ($cols) FROM STDIN" >/dev/null ||
		fail "compare_by_key: copying b's $table into a failed"
	k1=$(echo "${keys%%,*}" | tr -d ' ')
	diff=$(PGOPTIONS=$IT_PINNED q a "WITH d AS (
		SELECT CASE WHEN y.$k1 IS NULL THEN 'only in a ' WHEN x.$k1 IS NULL THEN 'only in b ' ELSE 'different ' END
			|| '($keys)=' || $kx AS k
		FROM $table x FULL JOIN it_cmp_b y ON $on WHERE $xr IS DISTINCT FROM $yr)
		SELECT count(*) || ' differing keys, first: ' || (SELECT string_agg(k, '; ') FROM (SELECT k FROM d ORDER BY k LIMIT 5) f)
		FROM d HAVING count(*) > 0")
	[ -z "$diff" ] || fail "$table differs between a and b: $diff"
	CMP_ROWS=$(q a "SELECT count(*) FROM it_cmp_b")
	q a "DROP TABLE it_cmp_b"
}
