#!/usr/bin/env bash
# Injects: while tst writes at full speed, snk is killed with SIGKILL 12 times at random
# moments (often inside a commit), and restarted each time; once more with SIGTERM.
# Checks: both tables end identical with exactly tst's committed row count (nothing lost,
# nothing duplicated), the cursors exist, and SIGTERM exits 0.
. "$(dirname "$0")/lib.sh"
it_init restart_kill9
snk_start
"$TST" -c "$CFG" --seconds 14 --quiet >"$WORK/tst.out" &
TST_PID=$!
BG_PIDS+=($TST_PID)
kill9_restarts 12
wait "$TST_PID"
tst_totals "$WORK/tst.out"
assert_exact "$tt" 90
[ "$(q b "SELECT count(*) FROM snk.cursor WHERE source = 'a:public.records'")" = 1 ] || fail "no a->b cursor in b"
[ "$(q a "SELECT count(*) FROM snk.cursor WHERE source = 'b:public.records'")" = 1 ] || fail "no b->a cursor in a"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "12 kill -9 and 1 SIGTERM under load: $tt rows, identical, none lost or duplicated"
