#!/usr/bin/env bash
# Injects: a first start on empty tables, where the first start's reconcile finishes before
# any window has rows to commit; then rows, a clean stop and a second start.
# Checks: the debt of the first start is written with the cursor before any window, and
# settled by that reconcile, in both databases; the second start owes nothing and runs no
# reconcile; the tail alone delivered every row.
. "$(dirname "$0")/lib.sh"
it_init first_start
snk_start
wait_reconciled 0 30
for s in a b; do
	wait_for $s "SELECT count(*) || ' ' || coalesce(bool_or(reconcile_pending), true) FROM snk.cursor" "1 false" 10
done
[ "$(status_field .reconcile.owed_a_to_b)" = false ] && [ "$(status_field .reconcile.owed_b_to_a)" = false ] ||
	fail "status still owes a reconcile: $(status_field .reconcile)"
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'a ' || i FROM generate_series(1, 300) i"
q b "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'b ' || i FROM generate_series(1, 200) i"
assert_exact 500 20
for s in a b; do
	[ "$(q $s "SELECT bool_or(reconcile_pending) FROM snk.cursor")" = f ] || fail "database $s owes a reconcile again after the first windows"
done
snk_stop || fail "snk exited non-zero"
snk_start
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'after restart')"
assert_exact 501 20
sleep 1
[ "$(status_field .reconcile.runs)" = 0 ] || fail "the second start reconciled: $(status_field .reconcile.reason)"
! grep -q "a reconcile was owed" "$WORK/snk.log" || fail "the second start found the settled debt owed again"
assert_tail_only
it_pass "first start's debt written with the cursor and settled on empty tables; a restart owes nothing"
