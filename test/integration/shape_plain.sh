#!/usr/bin/env bash
# Injects: three tables of shapes the type zoo does not have, each synced by its own snk
# while rows are inserted on both sides: t_fixed (id bigint PRIMARY KEY, n int): no
# variable-length value outside the key; t_defer with a DEFERRABLE unique constraint on
# email; t_excl with an exclusion constraint on a range, and one row on each side whose
# ranges overlap.
# Checks: t_fixed and t_defer end identical (verify says IDENTICAL) with every row once;
# in t_excl the two overlapping rows are conflicts, each kept on its own side and logged
# as refused, every other row arrives, in the default optimistic insert mode (a refused
# row fails no batch for good); no reconcile repaired a row.
. "$(dirname "$0")/lib.sh"
it_init shape_plain --no-migrate --no-trigger
sync_table() { # TABLE: migrate and start snk for TABLE
	snk_stop >/dev/null 2>&1 || true
	write_config "\"table\": \"$1\", \"notify_channel\": \"\""
	"$SNK" -c "$CFG" migrate >"$WORK/migrate-$1.log" 2>&1 || fail "migrate of $1: $(cat "$WORK/migrate-$1.log")"
	snk_start
}
for side in a b; do
	q $side "CREATE TABLE t_fixed (id bigint PRIMARY KEY, n int)"
	q $side "CREATE TABLE t_defer (id bigint PRIMARY KEY, email text NOT NULL, CONSTRAINT t_defer_email UNIQUE (email) DEFERRABLE)"
	q $side "CREATE TABLE t_excl (id bigint PRIMARY KEY, r int4range NOT NULL, EXCLUDE USING gist (r WITH &&))"
done

# synced_alike TABLE ROWS_A ROWS_B: with snk on TABLE, 1000 rows (SELECT lists over i) from
# each side arrive in the other, verify says IDENTICAL, and no reconcile repaired a row.
synced_alike() {
	sync_table "$1"
	q a "INSERT INTO $1 SELECT $2 FROM generate_series(1, 1000) i"
	q b "INSERT INTO $1 SELECT $3 FROM generate_series(1001, 2000) i"
	wait_for a "SELECT count(*) FROM $1" 2000 30
	wait_for b "SELECT count(*) FROM $1" 2000 30
	"$SNK" -c "$CFG" verify >"$WORK/verify.out" 2>&1 && grep -q '^IDENTICAL' "$WORK/verify.out" ||
		fail "$1: $(cat "$WORK/verify.out")"
	assert_tail_only
}
synced_alike t_fixed "i, i * 2" "i, NULL"
synced_alike t_defer "i, 'a' || i || '@x'" "i, 'b' || i || '@x'"

snk_stop
q a "INSERT INTO t_excl VALUES (1, '[1,5)')"
q b "INSERT INTO t_excl VALUES (2, '[3,8)')"
sync_table t_excl
q a "INSERT INTO t_excl SELECT i, int4range(i * 10, i * 10 + 5) FROM generate_series(10, 500) i"
q b "INSERT INTO t_excl SELECT i, int4range(i * 10, i * 10 + 5) FROM generate_series(501, 1000) i"
wait_for a "SELECT count(*) FROM t_excl WHERE id >= 10" 991 30
wait_for b "SELECT count(*) FROM t_excl WHERE id >= 10" 991 30
[ "$(q a "SELECT string_agg(id::text, ',' ORDER BY id) FROM t_excl WHERE id < 10")" = 1 ] &&
	[ "$(q b "SELECT string_agg(id::text, ',' ORDER BY id) FROM t_excl WHERE id < 10")" = 2 ] ||
	fail "the overlapping rows moved: a has $(q a "SELECT string_agg(id::text, ',') FROM t_excl WHERE id < 10"), b $(q b "SELECT string_agg(id::text, ',') FROM t_excl WHERE id < 10")"
grep -q "conflict: id 1 is refused by b" "$WORK/snk.log" && grep -q "conflict: id 2 is refused by a" "$WORK/snk.log" ||
	fail "the refused rows are not logged: $(grep conflict "$WORK/snk.log" | head -3)"
assert_tail_only
it_pass "a table without variable-length values outside its key, one with a DEFERRABLE unique constraint, one with an exclusion constraint: synced, the two overlapping ranges kept apart as conflicts"
