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
for i in $(seq 1 12); do
	sleep "0.$((RANDOM % 9 + 1))"
	snk_kill9
	snk_start
done
sleep 0.5
snk_stop || fail "SIGTERM under load did not exit 0"
snk_start
wait "$TST_PID"
read -r ta tb tt <<<"$(sed -n 's/^tst: a=\([0-9]*\) b=\([0-9]*\) total=\([0-9]*\)$/\1 \2 \3/p' "$WORK/tst.out")"
[ -n "${tt:-}" ] || fail "tst printed no total"
wait_synced 90
[ "$(count a)" = "$tt" ] || fail "a has $(count a) rows, tst committed $tt"
[ "$(count b)" = "$tt" ] || fail "b has $(count b) rows, tst committed $tt"
[ "$(q b "SELECT count(*) FROM snk.cursor WHERE source = 'a:public.records'")" = 1 ] || fail "no a->b cursor in b"
[ "$(q a "SELECT count(*) FROM snk.cursor WHERE source = 'b:public.records'")" = 1 ] || fail "no b->a cursor in a"
it_pass "12 kill -9 and 1 SIGTERM under load: $tt rows, identical, none lost or duplicated"
