#!/usr/bin/env bash
# Fault: a password in the connection strings (and one database unreachable, so that
# libpq's errors are logged), also in malformed connection strings; another user knocking
# on the control socket; sslmode and other conninfo options; a missing table; an unreadable and an oversized config file.
# Checked: the password never appears in the log, the status, /metrics or the process
# title; the socket (mode 0660) refuses other users; conninfo options reach libpq
# untouched; each bad environment gets one clear line and its exit code, and nothing is
# written to either database. Then look-alikes of snk's functions and operators planted in
# public by another role, with snk's role putting public first in its search_path and
# turning synchronous_commit off: none of them runs, and snk still commits synchronously;
# and a role with USAGE on schema snk cannot call snk.summarize.
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
grep -q "table public.no_such_table does not exist; run 'snk -c $CFG migrate'" "$WORK/run.log" || fail "no advice: $(cat "$WORK/run.log")"
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

# A malformed conninfo holding a password: refused at load (--check-config, run, and a
# SIGHUP reload) with what kind of mistake it is, never the string itself.
for bad_ci in "host=127.0.0.1 password horse-battery-$SECRET" "postgresql://postgres:hunter2%zz$SECRET@127.0.0.1/$DB" \
	"host=127.0.0.1 password='$SECRET"; do
	printf '{"databases": {"a": "%s", "b": "dbname=x"}, "control_socket": "%s"}\n' "$bad_ci" "$SOCK" >"$WORK/badci.json"
	for args in --check-config run; do
		rc=0
		timeout 10 "$SNK" -c "$WORK/badci.json" $args >"$WORK/err" 2>&1 || rc=$?
		[ "$rc" = 78 ] || fail "malformed conninfo ($args): exit $rc: $(cat "$WORK/err")"
		grep -q "databases.a: not a valid libpq connection string or URI" "$WORK/err" || fail "no clear message: $(cat "$WORK/err")"
		! grep -qE "$SECRET|hunter2|horse" "$WORK/err" || fail "the malformed conninfo was echoed: $(cat "$WORK/err")"
	done
done
write_config
snk_start
cp "$CFG" "$WORK/good.json"
printf '{"databases": {"a": "host=127.0.0.1 password horse-%s", "b": "dbname=x"}, "control_socket": "%s"}\n' "$SECRET" "$SOCK" >"$CFG"
kill -HUP "$SNK_PID"
sleep 0.5
kill -0 "$SNK_PID" || fail "snk died on a reload with a malformed conninfo"
! grep -qE "$SECRET|horse" "$WORK/snk.log" || fail "the reload echoed the malformed conninfo"
grep -q "not a valid libpq connection string" "$WORK/snk.log" || fail "the reload did not say why it was refused"
cp "$WORK/good.json" "$CFG"
snk_stop || fail "snk exited non-zero after a refused reload"

# search_path hijack: a role that may create objects in public plants look-alikes of
# every function and operator snk's SQL uses (one with an int4 argument, which would win
# over pg_catalog's int8 one for an unqualified call with an int4 literal), and snk runs as
# a superuser whose role default puts public first, with synchronous_commit off.
# Checked: none of them ever runs (each raises), the tail, verify and a reconcile work,
# and snk's sessions run with its own search_path and synchronous commits.
u=snk_sec_$$
q a "CREATE ROLE ${u}_mallory LOGIN; GRANT CREATE, USAGE ON SCHEMA public TO ${u}_mallory; GRANT USAGE ON SCHEMA snk TO ${u}_mallory"
q a "CREATE ROLE ${u}_snk LOGIN SUPERUSER"
q b "CREATE ROLE ${u}_snk LOGIN SUPERUSER" 2>/dev/null || true
for side in a b; do
	q $side "ALTER ROLE ${u}_snk IN DATABASE \"$DB\" SET search_path = public, pg_catalog"
	q $side "ALTER ROLE ${u}_snk IN DATABASE \"$DB\" SET synchronous_commit = off"
done
cleanup_roles() {
	for side in a b; do
		q $side "DROP OWNED BY ${u}_mallory; DROP ROLE ${u}_mallory" 2>/dev/null
		q $side "DROP ROLE ${u}_snk" 2>/dev/null
	done
}
trap 'rc=$?; cleanup_roles; (exit $rc); it_cleanup' EXIT # fail() exits from inside helpers
q b "CREATE ROLE ${u}_mallory LOGIN; GRANT CREATE, USAGE ON SCHEMA public TO ${u}_mallory"
for side in a b; do
	psql_side "$(port_of $side)" -d "$DB" -U "${u}_mallory" -q >/dev/null <<'EOSQL'
CREATE FUNCTION public.hashtextextended(text, integer) RETURNS bigint LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''hijacked: hashtextextended''; END';
CREATE FUNCTION public.hashtext(text) RETURNS integer LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''hijacked: hashtext''; END';
CREATE FUNCTION public.octet_length(text) RETURNS integer LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''hijacked: octet_length''; END';
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''hijacked: now''; END';
CREATE FUNCTION public.unnest(uuid[]) RETURNS SETOF uuid LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''hijacked: unnest''; END';
CREATE FUNCTION public.pg_current_snapshot() RETURNS pg_snapshot LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''hijacked: snapshot''; END';
CREATE FUNCTION public.evil_uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''hijacked: uuid =''; END';
CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = public.evil_uuid_eq);
CREATE FUNCTION public.evil_text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''hijacked: text =''; END';
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.evil_text_eq);
CREATE FUNCTION public.evil_cat(text, text) RETURNS text LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''hijacked: ||''; END';
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = public.evil_cat);
CREATE FUNCTION public.evil_ge(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''hijacked: >=''; END';
CREATE OPERATOR public.>= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.evil_ge);
EOSQL
done
# The summarize function runs as the table's owner: a role with USAGE on schema snk may not call it.
rc=0
psql_side "$SNK_IT_PORT_A" -d "$DB" -U "${u}_mallory" -Atc "SELECT snk.summarize(0, 0)" >"$WORK/sum.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "permission denied for function summarize" "$WORK/sum.out" || {
	cleanup_roles
	fail "snk.summarize is callable by any role with USAGE on schema snk: $(cat "$WORK/sum.out")"
}
write_config
sed -i "s/user=postgres dbname=/user=${u}_snk dbname=/g" "$CFG"
snk_start
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'hijack ' || i FROM generate_series(1, 500) i"
q b "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'hijack b ' || i FROM generate_series(1, 300) i"
wait_synced 30 || fail "no sync under a hostile search_path"
for side in a b; do
	[ "$(status_field .databases.$side.synchronous_commit)" = local ] ||
		fail "database $side: snk commits with synchronous_commit $(status_field .databases.$side.synchronous_commit)"; 
	[ "$(status_field .databases.$side.search_path)" = "pg_catalog,pg_temp" ] ||
		fail "database $side: snk's search_path is $(status_field .databases.$side.search_path)"; 
done
# The server agrees: every session of snk's role runs with the pinned settings.
runs=$(status_field .reconcile.runs)
"$SNKCTL" -s "$SOCK" reconcile >/dev/null || fail "snkctl reconcile refused"; 
wait_reconciled "$runs" 30
"$SNK" -c "$CFG" verify >"$WORK/v.out" 2>&1 || fail "verify under a hostile search_path: $(cat "$WORK/v.out")"; 
assert_tail_only
snk_stop || fail "snk exited non-zero"; 
grep -q "hijacked" "$WORK/snk.log" "$WORK/v.out" && fail "a planted function ran as snk: $(grep -h hijacked "$WORK/snk.log" "$WORK/v.out" | head -2)"; 
it_pass "password never shown (nor a malformed conninfo); socket refuses other users; sslmode passed through;"\
	"bad environments refused cleanly; planted look-alikes never ran; summarize not public; commits synchronous"
