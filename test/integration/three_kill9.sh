#!/usr/bin/env bash
# Injects: three databases (a, b, c: three clusters), tst writing 1000-row batches at full
# speed into a random one of the three, and snk killed with SIGKILL 8 times at random
# moments and restarted each time; then SIGTERM.
# Checks: the three tables end identical with exactly tst's committed row count (nothing
# lost, nothing duplicated: a copied row is never shipped on by another direction), each
# database holds the cursors of the two directions into it, snk holds 1 read and
# write_connections write sessions per database (not one per direction), status lists the
# six directions, and no reconcile repaired a row.
. "$(dirname "$0")/lib.sh"
THREE=1
it_init three_kill9
snk_start
"$TST" -c "$CFG" --seconds 14 --quiet >"$WORK/tst.out" &
TST_PID=$!
BG_PIDS+=($TST_PID)
sleep 1
[ "$(status_field '.directions | join(" ")')" = "a_to_b a_to_c b_to_a b_to_c c_to_a c_to_b" ] ||
	fail "status lists the directions $(status_field .directions)"
sessions=$(q a "SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('snk a.read', 'snk a.write')")
[ "$sessions" = 2 ] || fail "a has $sessions of snk's tail sessions, want a.read and a.write (one each, shared by all directions)"
kill9_restarts 8
wait "$TST_PID"
tst_totals "$WORK/tst.out"
[ "$ta" -gt 0 ] && [ "$tb" -gt 0 ] && [ "$tc" -gt 0 ] || fail "tst did not write into all three: a=$ta b=$tb c=$tc"
assert_exact "$tt" 120
for d in a b c; do
	want=$(for s in a b c; do [ "$s" = "$d" ] || printf '%s:public.records\n' "$s"; done | paste -sd,)
	got=$(q "$d" "SELECT string_agg(source, ',' ORDER BY source) FROM snk.cursor")
	[ "$got" = "$want" ] || fail "the cursors in $d are $got, want $want"
done
assert_tail_only
it_pass "three databases, 8 kill -9 and 1 SIGTERM under load into all three: $tt rows (a=$ta b=$tb c=$tc), identical, none lost or duplicated, no repair"
