#!/usr/bin/env bash
# Injects: two-phase commit, without the NOTIFY trigger (its pg_notify makes PREPARE
# TRANSACTION fail). On a, two transactions insert rows and are prepared, p1 (300 rows) and
# p2 (200); snk passes them while they are prepared (rows committed after them reach b),
# is killed with SIGKILL and restarted; then p1 is committed and p2 rolled back. On b, a
# prepared transaction of 250 rows is committed while snk runs. Then the trigger is
# installed on a and one more transaction tries to prepare.
# Checks: the stored cursors hold the prepared xids as in progress; p1's and b's rows reach
# the other side once committed, p2's rows exist nowhere, both tables hold exactly 750
# rows; with the trigger, PREPARE TRANSACTION fails with PostgreSQL's error (what README
# and migrations/notify_trigger.sql say) and leaves nothing; no reconcile repaired a row.
. "$(dirname "$0")/lib.sh"
it_init two_phase --no-trigger
# The test clusters commit asynchronously, and a cursor row takes a snapshot only once the
# source's WAL is flushed past it (docs/DESIGN.md): this test reads the stored cursors.
for s in a b; do q $s "ALTER DATABASE \"$DB\" SET synchronous_commit = on"; done

# A prepared transaction outlives its session and blocks DROP DATABASE: none stays behind.
two_phase_cleanup() {
	local rc=$? s g
	set +e
	for s in a b; do
		for g in $(q $s "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()" 2>/dev/null); do
			q $s "ROLLBACK PREPARED '$g'"
		done
	done
	(exit "$rc")
	it_cleanup
}
trap two_phase_cleanup EXIT

rows() { echo "INSERT INTO records (id, data) SELECT gen_random_uuid(), '$1 ' || i FROM generate_series(1, $2) i"; }
# prepare SIDE GID LABEL N: a transaction that inserts N rows labelled LABEL, left prepared.
prepare() {
	psql_side "$(port_of "$1")" -d "$DB" -c "BEGIN" -c "$(rows "$3" "$4")" -c "PREPARE TRANSACTION '$2'" >/dev/null
}
n_of() { q "$1" "SELECT count(*) FROM records WHERE data LIKE '$2 %'"; }
# in_cursor SIDE GID: whether the cursor of the direction from SIDE lists GID's xid as in
# progress (the test clusters are in xid epoch 0, so the 32-bit xid is the xid8).
in_cursor() {
	local other=b xid
	[ "$1" = a ] || other=a
	xid=$(q "$1" "SELECT transaction FROM pg_prepared_xacts WHERE gid = '$2'")
	q $other "SELECT '$xid'::xid8 IN (SELECT pg_snapshot_xip(snapshot) FROM snk.cursor WHERE source = '$1:public.records')"
}

snk_start
prepare a snk_it_p1 p1 300
prepare a snk_it_p2 p2 200
# The cursor row takes a pass's snapshot once a's WAL is flushed past it, else an earlier
# safe one: the last row comes in a pass of its own, after passes that saw p1 and p2.
q a "$(rows 'a plain' 99)"
wait_for b "SELECT count(*) FROM records WHERE data LIKE 'a plain %'" 99 10
sleep 0.5
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'a plain 100')"
wait_for b "SELECT count(*) FROM records WHERE data LIKE 'a plain %'" 100 10
[ "$(in_cursor a snk_it_p1)" = t ] && [ "$(in_cursor a snk_it_p2)" = t ] ||
	fail "the a->b cursor does not hold the prepared xids as in progress"
[ "$(n_of b p1)" = 0 ] && [ "$(n_of b p2)" = 0 ] || fail "rows of a prepared transaction reached b before its commit"
log "snk passed p1 and p2 while prepared; kill -9"
snk_kill9
snk_start
q a "COMMIT PREPARED 'snk_it_p1'"
q a "ROLLBACK PREPARED 'snk_it_p2'"
wait_for b "SELECT count(*) FROM records WHERE data LIKE 'p1 %'" 300 10
log "p1 committed after the restart and reached b"

prepare b snk_it_pb pb 250
q b "$(rows 'b plain' 100)"
wait_for a "SELECT count(*) FROM records WHERE data LIKE 'b plain %'" 100 10
[ "$(in_cursor b snk_it_pb)" = t ] || fail "the b->a cursor does not hold the prepared xid as in progress"
[ "$(n_of a pb)" = 0 ] || fail "rows of b's prepared transaction reached a before its commit"
q b "COMMIT PREPARED 'snk_it_pb'"
wait_for a "SELECT count(*) FROM records WHERE data LIKE 'pb %'" 250 10
assert_exact 750 30
for s in a b; do
	[ "$(n_of $s p2)" = 0 ] || fail "rows of the rolled-back p2 in $s"
	[ "$(q $s "SELECT count(*) FROM pg_prepared_xacts")" = 0 ] || fail "a prepared transaction is left in $s"
done

# With the trigger, the application cannot prepare: its transaction has executed NOTIFY.
install_trigger a
[ "$(q a "SELECT count(*) FROM pg_trigger WHERE tgname = 'snk_notify'")" = 1 ] || fail "the trigger was not installed"
rc=0
psql_side "$SNK_IT_PORT_A" -d "$DB" -c "BEGIN" -c "$(rows p3 10)" -c "PREPARE TRANSACTION 'snk_it_p3'" \
	>"$WORK/p3.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "cannot PREPARE a transaction that has executed LISTEN, UNLISTEN, or NOTIFY" "$WORK/p3.out" ||
	fail "PREPARE TRANSACTION with the trigger installed (exit $rc): $(cat "$WORK/p3.out")"
[ "$(q a "SELECT count(*) FROM pg_prepared_xacts")" = 0 ] || fail "the failed PREPARE left a prepared transaction"
assert_exact 750 10
[ "$(n_of b p3)" = 0 ] || fail "rows of the failed PREPARE reached b"
assert_tail_only
snk_stop || fail "snk exit $?"
it_pass "2PC without the trigger: p1 (300) and b's (250) shipped after COMMIT PREPARED across a kill -9, p2 rolled back nowhere, 750 rows each; with the trigger PREPARE TRANSACTION fails"
