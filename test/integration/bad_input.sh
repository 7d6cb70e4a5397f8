#!/usr/bin/env bash
# Injects: broken configs, a database nobody listens on, a table without a unique id
# index, a table never migrated, and identifiers that try SQL injection.
# Checks: each gets one clear line on stderr and its own exit code (66 unreadable config,
# 78 invalid config, 64 usage, 65 schema), nothing is written to either database, and
# an unreachable database makes snk retry with backoff and say so, not exit.
. "$(dirname "$0")/lib.sh"
it_init bad_input --no-migrate --no-trigger

bad() { printf '%s\n' "$1" >"$WORK/bad.json"; }

expect 66 "cannot open config file" -- "$SNK" -c "$WORK/nope.json" --check-config
bad '{"databases": {"a": "x", "b": "y"}'
expect 78 "not valid JSON" -- "$SNK" -c "$WORK/bad.json" --check-config
bad '{"databases": {"a": "dbname=x", "b": "dbname=y"}, "tabel": "records"}'
expect 78 "tabel: unknown key" -- "$SNK" -c "$WORK/bad.json" --check-config
expect 78 "tabel: unknown key" -- "$TST" -c "$WORK/bad.json" --batches 1
bad '{"databases": {"a": "dbname=x", "b": "dbname=y"}, "poll_interval_ms": "fast"}'
expect 78 "poll_interval_ms: must be a whole number" -- "$SNK" -c "$WORK/bad.json" --check-config
bad '{"databases": {"a": "dbname=x", "b": "dbname=y"}, "batch_rows": 0}'
expect 78 "batch_rows: must be a whole number in 1..100000" -- "$SNK" -c "$WORK/bad.json" --check-config
bad '{"databases": {"a": "dbname=x", "b": "dbname=y"}, "batch_rows": 1e300}'
expect 78 "batch_rows" -- "$SNK" -c "$WORK/bad.json" --check-config
bad '{"databases": {"a": "dbname=x", "b": "dbname=x"}}'
expect 78 "same connection string" -- "$SNK" -c "$WORK/bad.json" --check-config
bad '{"databases": {"a": "dbname=x"}}'
expect 78 "databases.b: missing" -- "$SNK" -c "$WORK/bad.json" --check-config
bad '{"databases": {"a": "dbname=x", "b": "dbname=y"}, "table": ""}'
expect 78 "table: must be 1..63 bytes" -- "$SNK" -c "$WORK/bad.json" --check-config
bad '[1, 2]'
expect 78 "one JSON object" -- "$SNK" -c "$WORK/bad.json" --check-config
expect 64 "unknown command" -- "$SNK" -c "$CFG" frobnicate
expect 64 "bad option" -- "$SNK" --bogus
"$SNK" -c "$CFG" --check-config >/dev/null || fail "valid config rejected"

# A table without a key in a (b has one): migrate refuses and changes neither; run refuses.
q a "CREATE TABLE records (id uuid, data text NOT NULL)"
q b "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL)"
expect 65 "table public.records has no primary key and no unique index over NOT NULL columns" -- "$SNK" -c "$CFG" migrate
[ "$(q a "SELECT count(*) FROM pg_namespace WHERE nspname = 'snk'")" = 0 ] || fail "migrate wrote to a"
[ "$(q b "SELECT count(*) FROM pg_namespace WHERE nspname = 'snk'")" = 0 ] || fail "migrate wrote to b"
rc=0
"$SNK" -c "$CFG" >"$WORK/run.log" 2>&1 || rc=$?
[ "$rc" = 65 ] || fail "run on an unmigrated pair exited $rc, want 65"
grep -q "run 'snk -c $CFG migrate'\|has no primary key" "$WORK/run.log" || fail "no advice in: $(cat "$WORK/run.log")"
# Not migrated (no snk_xid): run says to migrate.
q a "ALTER TABLE records ADD PRIMARY KEY (id)"
rc=0
"$SNK" -c "$CFG" >"$WORK/run.log" 2>&1 || rc=$?
[ "$rc" = 65 ] || fail "run without snk_xid exited $rc, want 65"
grep -q "not migrated for snk (missing column snk_xid); run 'snk -c $CFG migrate'" "$WORK/run.log" ||
	fail "no migrate advice in: $(cat "$WORK/run.log")"
[ "$(q a "SELECT count(*) FROM pg_namespace WHERE nspname = 'snk'")" = 0 ] || fail "run wrote to a"

# Identifiers are always quoted: a hostile table name is just a name.
write_config '"table": "x\"; DROP TABLE records; --", "notify_channel": "ch\"; DROP TABLE records; --"'
"$SNK" -c "$CFG" migrate >"$WORK/m.log" 2>&1 || fail "migrate with an odd table name: $(cat "$WORK/m.log")"
[ "$(q a "SELECT count(*) FROM pg_class WHERE relname = 'records'")" = 1 ] || fail "records was dropped!"
[ "$(q a "SELECT count(*) FROM pg_class WHERE relname = 'x\"; DROP TABLE records; --'")" = 1 ] || fail "odd table missing"

# An unreachable database: snk keeps retrying and says so; status shows it. (b.write alone
# tries: the other sessions start once the writer locks of a and b are held.)
port=$((SNK_IT_PORT_B + 1))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
write_config
"$SNK" -c "$CFG" migrate >/dev/null || fail "migrate of records failed"
sed -i "s/port=$SNK_IT_PORT_B/port=$port/" "$CFG"
snk_start
sleep 2
kill -0 "$SNK_PID" || fail "snk exited on an unreachable database"
[ "$(status_field .databases.b.connected)" = false ] || fail "status says b is connected"
[ "$(status_field .state)" = degraded ] || fail "state is $(status_field .state), want degraded"
status_field .databases.b.last_error | grep -q "Connection refused" || fail "last_error lacks the cause"
grep -qE "b\.(read|write).*will reconnect in" "$WORK/snk.log" || fail "no backoff message in the log"
! grep -qi "password" "$WORK/snk.log" || fail "log mentions a password"
snk_stop || fail "SIGTERM while disconnected did not exit 0"
# verify does not retry: one line and 69 for an unreachable database, 65 for a missing table.
expect 69 "cannot use database b" -- "$SNK" -c "$CFG" verify
write_config '"table": "no_such_table"'
expect 65 "no_such_table" -- "$SNK" -c "$CFG" verify
it_pass "config, usage and schema errors: one line and a distinct code each; nothing written; unreachable b retried"
