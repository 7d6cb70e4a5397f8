#!/usr/bin/env bash
# Fault: a pass's rows sent beside the previous pass's commit, with its cursors put aside
# until they commit (docs/DESIGN.md, "The event loop", write sessions), and the session
# that holds those rows terminated before they commit. To keep batches in flight long
# enough to be caught, every statement snk's copies make into records sleeps 0-100 ms
# (random) in a statement trigger (sessions with snk.copy = on; the application's are not
# slowed), so that a pass's rows sent beside often commit after the batch they went
# beside. Under tst at full speed, the test watches snk's write sessions and, at most every
# 0.3 s, terminates on one side the write sessions that sleep there with rows while
# another of that side's write sessions is idle, its commit done: the moment a cursor
# committed ahead of the rows in flight would skip them for good.
# Checked: the cursors put aside went out only after their rows committed, so
# nothing is lost: both tables end with exactly tst's committed count, no reconcile
# repaired a row, and both directions put cursors aside (the path was exercised).
. "$(dirname "$0")/../integration/lib.sh"
it_init faults_deferred_cursors
for s in a b; do
	q $s "CREATE FUNCTION it_slow_copies() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN
		IF pg_catalog.current_setting('snk.copy', true) = 'on' THEN
			PERFORM pg_catalog.pg_sleep(0.1 * pg_catalog.random());
		END IF;
		RETURN NULL;
	END \$\$;
	CREATE TRIGGER it_slow_copies AFTER INSERT ON records FOR EACH STATEMENT EXECUTE FUNCTION it_slow_copies()"
done
snk_start
"$TST" -c "$CFG" --seconds 14 --quiet >"$WORK/tst.out" &
TST_PID=$!
BG_PIDS+=($TST_PID)
sleep 1
killed=0 tries=0
while kill -0 "$TST_PID" 2>/dev/null; do
	side=$([ $((RANDOM % 2)) = 0 ] && echo a || echo b)
	n=$(q "$side" "WITH w AS (SELECT pid, state, wait_event FROM pg_catalog.pg_stat_activity
		WHERE datname = pg_catalog.current_database() AND application_name LIKE 'snk $side.write%')
		SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM w WHERE wait_event = 'PgSleep'
		AND EXISTS (SELECT FROM w AS o WHERE o.state = 'idle')")
	killed=$((killed + n))
	tries=$((tries + 1))
	if [ "$n" -gt 0 ]; then sleep 0.3; else sleep 0.01; fi
done
log "terminated $killed write sessions of snk while a batch of rows slept in its insert ($tries looks)"
[ "$killed" -ge 6 ] || fail "only $killed write sessions were caught with rows in flight"
wait "$TST_PID"
tst_totals "$WORK/tst.out"
assert_exact "$tt" 120
deferred_ab=$(status_field .a_to_b.cursors_deferred) deferred_ba=$(status_field .b_to_a.cursors_deferred)
[ "$deferred_ab" -gt 0 ] && [ "$deferred_ba" -gt 0 ] ||
	fail "cursors put aside: a->b $deferred_ab, b->a $deferred_ba; the path under test did not run"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "$killed write sessions terminated with rows in flight, cursors put aside $deferred_ab / $deferred_ba times: $tt rows identical, none lost"
