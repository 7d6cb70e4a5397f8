#!/usr/bin/env bash
# Injects: database b in LATIN1 while a is UTF8, rows with accented text written on both
# sides under load.
# Checks: the tail copies every row with the same text (as both servers render it to a
# UTF-8 client); `snk verify` finds the tables identical and a reconcile finds no conflict
# and repairs nothing: the comparison hashes the text's UTF-8 bytes, not each server's.
. "$(dirname "$0")/lib.sh"
it_init encodings --no-migrate --no-trigger
export PGCLIENTENCODING=UTF8 # this script's text is UTF-8, whatever the locale says
psql_side "$SNK_IT_PORT_B" -d postgres -c "DROP DATABASE \"$DB\"" >/dev/null
psql_side "$SNK_IT_PORT_B" -d postgres -c "CREATE DATABASE \"$DB\" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null
[ "$(q b "SHOW server_encoding")" = LATIN1 ] || fail "b is not LATIN1"
"$SNK" -c "$CFG" migrate >"$WORK/migrate.log" 2>&1 || fail "migrate: $(cat "$WORK/migrate.log")"
install_trigger a
install_trigger b
snk_start
words="café Ærøskøbing naïve Größe señor àéîõü ±§¶"
for w in $words; do
	q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), '$w a ' || i FROM generate_series(1, 50) i"
	q b "INSERT INTO records (id, data) SELECT gen_random_uuid(), '$w b ' || i FROM generate_series(1, 50) i"
done
wait_for b "SELECT count(*) FROM records" 700 20
wait_for a "SELECT count(*) FROM records" 700 20
q a "SELECT id, data FROM records ORDER BY id" >"$WORK/a.txt"
q b "SELECT id, data FROM records ORDER BY id" >"$WORK/b.txt"
cmp -s "$WORK/a.txt" "$WORK/b.txt" || fail "the texts differ: $(diff "$WORK/a.txt" "$WORK/b.txt" | head -4)"
grep -q "Ærøskøbing b 7" "$WORK/a.txt" || fail "b's accented rows did not reach a intact"
rc=0
"$SNK" -c "$CFG" verify >"$WORK/v.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "verify says the tables differ (exit $rc): $(tail -5 "$WORK/v.out")"
runs=$(status_field .reconcile.runs)
"$SNKCTL" -s "$SOCK" reconcile >/dev/null || fail "snkctl reconcile refused"
wait_reconciled "$runs" 30
[ "$(status_field .reconcile.last.conflicts)" = 0 ] || fail "the reconcile saw $(status_field .reconcile.last.conflicts) conflicts"
assert_tail_only
it_pass "UTF8 and LATIN1: 700 accented rows copied both ways, verify identical, reconcile without conflicts"
