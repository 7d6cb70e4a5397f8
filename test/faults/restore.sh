#!/usr/bin/env bash
# Fault: cluster b is restored from a file-level backup taken earlier, after snk had
# copied more rows both ways; then, before snk starts again, the application writes 1000
# new rows into b. Restored, b hands out again the transaction ids it had already used, so
# the b -> a cursor (stored in a) claims to have seen the xids of those new rows; and the
# rows b had written since the backup survive only in a, as copies (snk_xid NULL), which no
# tail window ever reads.
# Checked: snk sees that b's xids went back, says so, discards that cursor (copying from
# b's current snapshot) and reconciles: the rows b lost come back from a, the 1000 new
# rows reach a, and both tables end identical with every row tst committed.
. "$(dirname "$0")/../integration/lib.sh"
it_init faults_restore
snk_start
"$TST" -c "$CFG" --batches 10 --quiet >"$WORK/tst1.out" 2>&1 || fail "tst: $(tail -3 "$WORK/tst1.out")"
tst_totals "$WORK/tst1.out"
first=$tt
assert_exact "$first"
snk_stop || fail "snk exit $?"
log "backing up cluster b"
cluster_stop b fast
rm -rf "$SNK_IT_ROOT/b/backup"
as_pg_owner cp -a "$SNK_IT_ROOT/b/data" "$SNK_IT_ROOT/b/backup"
cluster_start b
snk_start
"$TST" -c "$CFG" --batches 20 --quiet >"$WORK/tst2.out" 2>&1 || fail "tst: $(tail -3 "$WORK/tst2.out")"
tst_totals "$WORK/tst2.out"
total=$((first + tt))
assert_exact "$total"
[ "$tb" -gt 0 ] || fail "tst wrote nothing into b after the backup; the test needs some"
snk_stop || fail "snk exit $?"
log "restoring cluster b from the backup"
cluster_stop b fast
as_pg_owner rm -rf "$SNK_IT_ROOT/b/data"
as_pg_owner cp -a "$SNK_IT_ROOT/b/backup" "$SNK_IT_ROOT/b/data"
cluster_start b
as_pg_owner rm -rf "$SNK_IT_ROOT/b/backup"
[ "$(count b)" -lt "$total" ] || fail "the restore lost nothing: $(count b) rows in b"
"$TST" -c "$CFG" --side b --batches 1 --quiet >"$WORK/tst3.out" 2>&1 || fail "tst: $(tail -3 "$WORK/tst3.out")"
total=$((total + 1000))
snk_start
wait_reconciled 0
assert_exact "$total" 60
grep -q "\[b->a\] database b is not the one the cursor .* was taken in" "$WORK/snk.log" ||
	fail "the restore of b was not noticed in the log"
[ "$(status_field .reconcile.last.rows_repaired_into_b)" -gt 0 ] || fail "the reconcile repaired nothing into b"
"$SNK" -c "$CFG" verify >"$WORK/v.out" 2>&1 || fail "verify after the restore: $(cat "$WORK/v.out")"
it_pass "b restored from a backup: its xids went back, the cursor was discarded, reconcile restored $(status_field .reconcile.last.rows_repaired_into_b) rows into b; $total rows on both sides"
