#!/usr/bin/env bash
# Injects: tst at full speed for 12 s, both sides at random, with snk running.
# Checks: both tables converge to identical rows; the row count is exactly what tst
# reported committed; each direction read exactly the rows tst wrote on its source
# (nothing echoed back); no conflicts; snkctl status tells the same numbers; windows
# whose last rows went beside an earlier batch's commit (their cursors alone after it)
# are among them (68 + 68 in a run on the 2-core machine), and windows whose cursors waited
# aside for those commits while the next window began.
. "$(dirname "$0")/lib.sh"
it_init sync_under_load
snk_start
"$TST" -c "$CFG" --seconds 12 --quiet >"$WORK/tst.out"
tst_totals "$WORK/tst.out"
[ "$tt" -gt 0 ] || fail "tst committed nothing"
log "tst committed a=$ta b=$tb total=$tt"
assert_exact "$tt" 60
log "converged ${SYNC_WAITED}s after tst stopped"
# Every row came from tst exactly once: copies carry snk_xid NULL on the other side.
[ "$(q a "SELECT count(*) FROM records WHERE snk_xid <> '0'")" = "$ta" ] || fail "a's own rows != tst's a count"
[ "$(q b "SELECT count(*) FROM records WHERE snk_xid IS NULL")" = "$ta" ] || fail "b's copies != tst's a count"
[ "$(status_field .a_to_b.rows_read)" = "$ta" ] || fail "a_to_b read $(status_field .a_to_b.rows_read), want $ta (echo?)"
[ "$(status_field .b_to_a.rows_read)" = "$tb" ] || fail "b_to_a read $(status_field .b_to_a.rows_read), want $tb (echo?)"
[ "$(status_field .a_to_b.rows_copied)" = "$ta" ] || fail "a_to_b copied $(status_field .a_to_b.rows_copied), want $ta"
[ "$(status_field .b_to_a.conflicts)" = "0" ] || fail "conflicts reported"
[ "$(status_field .state)" = "running" ] || fail "state is $(status_field .state)"
beside_ab=$(status_field .a_to_b.batches_beside_commit) beside_ba=$(status_field .b_to_a.batches_beside_commit)
[ "$((beside_ab + beside_ba))" -gt 0 ] ||
	fail "no window's rows went beside a commit in flight (a_to_b $beside_ab, b_to_a $beside_ba)"
deferred_ab=$(status_field .a_to_b.cursors_deferred) deferred_ba=$(status_field .b_to_a.cursors_deferred)
[ "$((deferred_ab + deferred_ba))" -gt 0 ] ||
	fail "no window's cursors waited aside while the next window began (a_to_b $deferred_ab, b_to_a $deferred_ba)"
log "windows beside the previous commit: a_to_b $beside_ab, b_to_a $beside_ba; of them with their cursors" \
	"aside while the next began: $deferred_ab, $deferred_ba"
snk_stop || fail "snk exited non-zero on SIGTERM"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "tst wrote $tt rows (a=$ta b=$tb); both tables identical, nothing echoed, converged in ${SYNC_WAITED}s;" \
	"$beside_ab + $beside_ba windows beside a commit"
