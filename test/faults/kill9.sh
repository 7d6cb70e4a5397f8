#!/usr/bin/env bash
# Fault: snk is killed with SIGKILL 20 times while tst writes at full speed. Ten times at a
# random moment; ten times from inside snk right after it sent a commit that carries
# rows and the cursor (SNK_TEST_CRASH_AFTER_COMMITS), so the commit's outcome is unknown.
# Checked: both tables identical, exactly tst's committed count (nothing lost, nothing
# duplicated), and the restarted snk resumed from the cursor each time.
. "$(dirname "$0")/../integration/lib.sh"
it_init faults_kill9
# A first copy's cursor row is written once the source's WAL is flushed past the copy's
# first snapshot (docs/DESIGN.md). On the test clusters, which commit asynchronously, the
# WAL writer flushes every 200 ms, and a snk killed sooner after a first start copies
# again: this test is about resuming, so its commits flush.
for s in a b; do q $s "ALTER DATABASE \"$DB\" SET synchronous_commit = on"; done
"$TST" -c "$CFG" --seconds 30 --quiet >"$WORK/tst.out" &
TST_PID=$!
BG_PIDS+=($TST_PID)
injected=0
for i in $(seq 1 20); do
	if [ $((i % 2)) = 0 ]; then
		snk_start
		sleep "0.$((RANDOM % 9 + 1))"
		snk_kill9
	else
		SNK_TEST_CRASH_AFTER_COMMITS=$((RANDOM % 6 + 1)) snk_start_quiet
		for _ in $(seq 1 100); do kill -0 "$SNK_PID" 2>/dev/null || break; sleep 0.05; done
		if ! kill -0 "$SNK_PID" 2>/dev/null; then
			wait "$SNK_PID" 2>/dev/null || true
			injected=$((injected + 1))
		else
			snk_kill9
		fi
		SNK_PID=
	fi
done
log "20 kills done, $injected of them from inside a commit"
[ "$injected" -ge 5 ] || fail "only $injected of 10 injected mid-commit crashes happened"
snk_start
wait "$TST_PID"
tst_totals "$WORK/tst.out"
assert_exact "$tt" 120
resumes=$(grep -c "resuming from cursor" "$WORK/snk.log")
[ "$resumes" -ge 30 ] || fail "only $resumes resumes from a stored cursor logged"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "20 SIGKILLs ($injected inside a commit) under load: $tt rows, identical, none lost or duplicated"
