#!/usr/bin/env bash
# Injects: two tables of 30,000 shared rows; then, behind snk's back, 700 rows only in a,
# 400 only in b and 25 ids with different data (snk not running).
# Checks: `snk verify` says IDENTICAL and exits 0 on the equal tables using only digest
# queries; then exits 1 and reports exactly 700 / 400 / 25, listing the requested number
# of ids, each of them really a difference; and it changed nothing.
. "$(dirname "$0")/lib.sh"
it_init verify --no-trigger
q a "CREATE TABLE shared AS SELECT gen_random_uuid() AS id, 'row ' || i AS data FROM generate_series(1, 30000) i"
q a "INSERT INTO records (id, data) SELECT id, data FROM shared"
q a "COPY shared TO STDOUT" | psql_side "$SNK_IT_PORT_B" -d "$DB" -c "COPY records (id, data) FROM STDIN"
rc=0
"$SNK" -c "$CFG" verify >"$WORK/v1.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "identical tables: exit $rc: $(cat "$WORK/v1.out")"
grep -q "^IDENTICAL (2 queries, " "$WORK/v1.out" || fail "identical tables took more than the two digests: $(tail -1 "$WORK/v1.out")"
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'only a' FROM generate_series(1, 700)"
q b "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'only b' FROM generate_series(1, 400)"
# Only shared rows (data 'row N') may change: a changed row that exists in b alone is "only in b".
q b "UPDATE records SET data = data || ' (changed in b)' WHERE id IN (SELECT id FROM records WHERE data LIKE 'row %' ORDER BY id LIMIT 25)"
before_a=$(digest a)
before_b=$(digest b)
rc=0
"$SNK" -c "$CFG" verify --list 5 >"$WORK/v2.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "different tables: exit $rc: $(cat "$WORK/v2.out")"
grep -q "^only in a: 700$" "$WORK/v2.out" || fail "only in a: $(cat "$WORK/v2.out")"
grep -q "^only in b: 400$" "$WORK/v2.out" || fail "only in b: $(cat "$WORK/v2.out")"
grep -q "^different data: 25$" "$WORK/v2.out" || fail "different: $(cat "$WORK/v2.out")"
[ "$(grep -c '^  [0-9a-f-]\{36\}$' "$WORK/v2.out")" = 15 ] || fail "not 5 ids of each kind listed"
for id in $(sed -n '/^only in a:/,/^only in b:/p' "$WORK/v2.out" | grep -o '[0-9a-f-]\{36\}'); do
	[ "$(q b "SELECT count(*) FROM records WHERE id = '$id'")" = 0 ] || fail "$id listed as only in a, but b has it"
done
[ "$(digest a)" = "$before_a" ] && [ "$(digest b)" = "$before_b" ] || fail "verify changed a table"
rc=0
"$SNK" -c "$CFG" verify --list x >/dev/null 2>&1 || rc=$?
[ "$rc" = 64 ] || fail "bad --list: exit $rc"
it_pass "identical: 0 and 2 queries; 700/400/25 differences found exactly, listed, nothing changed"
