#!/usr/bin/env bash
# Injects: two migrated tables pre-filled behind snk's back with overlapping sets of
# 100,000 ids: 40,000 on both sides (50 of them with different data), 30,000 only in a,
# 30,000 only in b. Half of the one-sided rows carry snk_xid NULL, as rows copied by an
# earlier sync do: no tail window ever reads them, only a reconcile can find them. Then,
# with snk running and synced, 500 rows are deleted from b and 300 from a behind its back.
# Checks: snk's first start reconciles on its own after the tail's first copy; the tail
# copies the 15,000 + 15,000 rows it can see, and the reconcile repairs exactly the other
# 15,000 into b and 15,000 into a; the 50 conflicts are counted and left alone; verify
# then finds only those 50. `snkctl reconcile` re-creates exactly the 800 deleted rows,
# and the debt of the first start is cleared in both cursors.
. "$(dirname "$0")/lib.sh"
it_init reconcile --no-trigger
fill() { # side: rows of one side, given as "id data xid" ranges of generate_series; as
	# snk's sessions do (snk.copy), so that the NULLs stay: rows copied by an earlier sync
	psql_side "$(port_of "$1")" -d "$DB" -c "SET snk.copy = on" -c "INSERT INTO records (id, data, snk_xid) $2" >/dev/null
}
q a "CREATE TABLE seed AS SELECT gen_random_uuid() AS id, i FROM generate_series(1, 100000) i"
q a "COPY seed TO STDOUT" | psql_side "$SNK_IT_PORT_B" -d "$DB" -c "CREATE TABLE seed (id uuid, i int); COPY seed FROM STDIN"
for s in a b; do
	# i 1..40000 on both (the first 50 differ), 40001..70000 only in a, 70001..100000 only in b;
	# the even ones among the one-sided rows are "copied earlier" (snk_xid NULL).
	fill $s "SELECT id, CASE WHEN i <= 50 THEN 'conflict $s ' || i ELSE 'row ' || i END, txid_current()
		FROM seed WHERE i <= 40000"
done
fill a "SELECT id, 'row ' || i, CASE WHEN i % 2 = 0 THEN NULL ELSE txid_current() END
	FROM seed WHERE i BETWEEN 40001 AND 70000"
fill b "SELECT id, 'row ' || i, CASE WHEN i % 2 = 0 THEN NULL ELSE txid_current() END
	FROM seed WHERE i > 70000"
snk_start
wait_reconciled 0
[ "$(status_field .reconcile.last.rows_repaired_into_b)" = 15000 ] || fail "repaired into b: $(status_field .reconcile.last)"
[ "$(status_field .reconcile.last.rows_repaired_into_a)" = 15000 ] || fail "repaired into a: $(status_field .reconcile.last)"
[ "$(status_field .reconcile.last.conflicts)" = 50 ] || fail "conflicts: $(status_field .reconcile.last)"
[ "$(status_field .a_to_b.rows_copied)" = 15000 ] || fail "tail a->b copied $(status_field .a_to_b.rows_copied), want the 15000 it can see"
grep -q "conflict: id .* has different data in a and b; left alone" "$WORK/snk.log" || fail "no conflict logged"
[ "$(count a)" = 100000 ] && [ "$(count b)" = 100000 ] || fail "counts a=$(count a) b=$(count b)"
rc=0
"$SNK" -c "$CFG" verify >"$WORK/v.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "^only in a: 0$" "$WORK/v.out" && grep -q "^only in b: 0$" "$WORK/v.out" &&
	grep -q "^different data: 50$" "$WORK/v.out" || fail "verify after reconcile (exit $rc): $(cat "$WORK/v.out")"
# The first start's debt is settled: a restart would not reconcile again.
wait_for b "SELECT bool_or(reconcile_pending) FROM snk.cursor" f 10
wait_for a "SELECT bool_or(reconcile_pending) FROM snk.cursor" f 10

# Rows lost behind snk's back (a restore, a bad script): only a reconcile brings them back.
q b "DELETE FROM records WHERE id IN (SELECT id FROM records WHERE data LIKE 'row %' ORDER BY id LIMIT 500)"
q a "DELETE FROM records WHERE id IN (SELECT id FROM records WHERE data LIKE 'row %' ORDER BY id DESC LIMIT 300)"
runs=$(status_field .reconcile.runs)
"$SNKCTL" -s "$SOCK" reconcile >"$WORK/ctl.out" || fail "snkctl reconcile: $(cat "$WORK/ctl.out")"
wait_reconciled "$runs"
[ "$(status_field .reconcile.last.rows_repaired_into_b)" = 500 ] || fail "re-created in b: $(status_field .reconcile.last)"
[ "$(status_field .reconcile.last.rows_repaired_into_a)" = 300 ] || fail "re-created in a: $(status_field .reconcile.last)"
[ "$(count a)" = 100000 ] && [ "$(count b)" = 100000 ] || fail "after repair a=$(count a) b=$(count b)"
"$SNKCTL" -s "$SOCK" status | grep -q "^last reconcile complete" || fail "snkctl status does not show the last reconcile"
snk_stop || fail "snk exit $?"
# Nothing is owed now: a restart does not reconcile, but reconcile_interval_s does.
write_config '"reconcile_interval_s": 1'
snk_start
sleep 0.5
[ "$(status_field .reconcile.runs)" = 0 ] || fail "a restart with nothing owed reconciled"
wait_reconciled 1 20
[ "$(status_field .reconcile.last.rows_repaired_into_a)" = 0 ] || fail "interval run repaired rows: $(status_field .reconcile.last)"
grep -q "starting (reconcile_interval_s)" "$WORK/snk.log" || fail "interval runs not logged with their reason"
snk_stop || fail "snk exit $?"
it_pass "first start: tail 15000+15000, reconcile 15000+15000 (snk_xid NULL), 50 conflicts left alone; deleted 500+300 re-created"
