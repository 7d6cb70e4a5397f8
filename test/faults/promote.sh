#!/usr/bin/env bash
# Fault: a streaming standby of cluster a (pg_basebackup -R) falls behind (it is stopped)
# while snk syncs a and b under load; a then burns xids and writes more rows, so the
# a -> b cursor stored in b passes every xid the standby has seen. With snk running, a
# crashes (immediate) and the standby is started and promoted with default checkpoint
# settings, so the checkpoint that records the new timeline in pg_control is spread over
# minutes, while the application keeps writing into b. On the promoted standby, 500 marked
# rows take a reused xid below the cursor's xmax, and xids are burned past that xmax. The
# running snk's database "a" is pointed at the promoted standby (SIGHUP), so it reconnects
# within that window.
# Checked: the timeline in snk's identity of a is the new one at once, so snk discards the
# a -> b cursor (which claims the marked rows' xid had ended) and reconciles: the marked
# rows reach b, the rows the standby never received come back from b, and both tables
# end identical with every row, including tst's load on the promoted standby.
# Afterwards the standby is stopped (pg_ctl) and removed, and cluster a is started again.
. "$(dirname "$0")/../integration/lib.sh"
it_init faults_promote
A_PORT=$SNK_IT_PORT_A
SDIR=$SNK_IT_ROOT/promote
SPORT=
A_DOWN=0

standby_ctl() { as_pg_owner "$SNK_IT_PGBIN/pg_ctl" -D "$SDIR/data" "$@"; }
# qs SQL: like q, on the standby.
qs() { psql_side "$SPORT" -d "$DB" -At -c "$*"; }
# burn PORT N: N autocommit transactions that each take an xid and write no row.
burn() { seq "$2" | sed 's/.*/SELECT txid_current();/' | psql_side "$1" -d "$DB" >/dev/null; }

promote_cleanup() {
	local rc=$?
	set +e
	if [ "$rc" != 0 ] || [ "$IT_OK" != 1 ]; then
		echo "---- last 20 lines of the standby's log ----" >&2
		tail -n 20 "$SDIR/server.log" >&2
	fi
	[ ! -f "$SDIR/data/postmaster.pid" ] || standby_ctl -m immediate -w stop >/dev/null
	as_pg_owner rm -rf "$SDIR"
	SNK_IT_PORT_A=$A_PORT
	[ "$A_DOWN" = 0 ] || cluster_start a
	(exit "$rc")
	it_cleanup
}
trap promote_cleanup EXIT

grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' \
	"$SNK_IT_ROOT/a/data/pg_hba.conf" || fail "cluster a's pg_hba.conf does not let loopback replicate"
as_pg_owner mkdir -p "$SDIR"
as_pg_owner "$SNK_IT_PGBIN/pg_basebackup" -h 127.0.0.1 -p "$A_PORT" -U postgres -D "$SDIR/data" -R -X stream \
	-c fast >"$WORK/basebackup.log" 2>&1 || fail "pg_basebackup: $(tail -3 "$WORK/basebackup.log")"
# standby_start: with a's options (a standby needs max_connections and the like at least as
# high) on a port of its own. free_port's ports lie above the kernel's ephemeral range, but
# another process may still bind one between the check and the start: like clusters.sh,
# try another one.
standby_start() {
	local tries sopts
	for tries in 1 2 3 4 5; do
		SPORT=$(free_port)
		sopts=$(sed -e "s/-p [0-9]*/-p $SPORT/" -e "s#-k [^ ]*#-k $SDIR#" "$SNK_IT_ROOT/a/opts")
		standby_ctl -l "$SDIR/server.log" -w -t 60 -o "$sopts" start >/dev/null && return 0
		log "the standby did not start on port $SPORT (try $tries): $(grep -E 'FATAL|could not' "$SDIR/server.log" | tail -1)"
	done
	fail "the standby did not start"
}
standby_start
[ "$(qs "SELECT pg_is_in_recovery()")" = t ] || fail "the standby is not in recovery"
log "standby of a streaming on port $SPORT"

snk_start
"$TST" -c "$CFG" --seconds 4 --quiet >"$WORK/tst1.out" 2>&1 || fail "tst: $(tail -3 "$WORK/tst1.out")"
wait_reconciled 0
wait_synced 30
# The first start's debt is settled, and the standby has replayed that too: otherwise the
# debt alone would reconcile after the switch, with or without the new timeline.
wait_for b "SELECT bool_or(reconcile_pending) FROM snk.cursor" f 10
wait_for a "SELECT bool_or(reconcile_pending) FROM snk.cursor" f 10
lsn=$(q a "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 200); do
	[ "$(qs "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = f ] || break
	sleep 0.05
done
[ "$(qs "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] || fail "the standby did not replay up to $lsn"
[ "$(qs "SELECT bool_or(reconcile_pending) FROM snk.cursor")" = f ] || fail "the standby still owes a reconcile"
standby_xmax=$(qs "SELECT pg_snapshot_xmax(pg_current_snapshot())")
standby_ctl -m fast -w stop >/dev/null
log "standby stopped at xid $standby_xmax; a goes on"

"$TST" -c "$CFG" --seconds 2 --quiet >"$WORK/tst2.out" 2>&1 || fail "tst: $(tail -3 "$WORK/tst2.out")"
burn "$A_PORT" 3000
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'a after the burn ' || i FROM generate_series(1, 200) i"
wait_synced 30
# The cursor row takes a snapshot once a's WAL is flushed past it (the test clusters
# commit asynchronously): a later row, once the WAL writer has flushed, moves it past the burn.
sleep 1
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'a after the flush')"
wait_synced 30
cx=$(q b "SELECT pg_snapshot_xmax(snapshot) FROM snk.cursor WHERE source = 'a:public.records'")
[ "$cx" -gt $((standby_xmax + 3000)) ] || fail "the a->b cursor's xmax $cx is not past the standby's $standby_xmax"
base=$(count b)
log "a->b cursor at xmax $cx, $base rows in b; crashing a"
cluster_stop a immediate
A_DOWN=1
# The application goes on writing into b through the failover: 20 x 100 rows.
(for i in $(seq 1 20); do q b "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'b during failover $i ' || j FROM generate_series(1, 100) j"; sleep 0.2; done) &
B_LOAD=$!
BG_PIDS+=($B_LOAD)

standby_start
standby_ctl -w promote >/dev/null
[ "$(qs "SELECT pg_is_in_recovery()")" = f ] || fail "the standby was not promoted"
ctl_tli=$(qs "SELECT timeline_id FROM pg_control_checkpoint()")
wal_tli=$(qs "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")
log "promoted: pg_control_checkpoint() says timeline $ctl_tli, the WAL file $wal_tli"
[ "$ctl_tli" = 1 ] && [ "$wal_tli" = 00000002 ] ||
	fail "no window between the promotion and its checkpoint (timelines $ctl_tli, $wal_tli): nothing to test"
qs "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'promoted ' || i FROM generate_series(1, 500) i"
mx=$(qs "SELECT max(snk_xid) FROM records WHERE data LIKE 'promoted %'")
# The stored cursor claims the marked rows' (reused) xid had ended before it: no window reads them.
[ "$(q b "SELECT pg_visible_in_snapshot('$mx'::xid8, snapshot) FROM snk.cursor WHERE source = 'a:public.records'")" = t ] ||
	fail "the marked rows' xid $mx is not behind the a->b cursor (xmax $cx)"
burn "$SPORT" $((cx - $(qs "SELECT txid_current()") + 100))
[ "$(qs "SELECT pg_snapshot_xmax(pg_current_snapshot())")" -gt "$cx" ] || fail "the promoted standby's xids are not past $cx"
log "500 marked rows on reused xid $mx, xids burned past $cx; snk now syncs the promoted standby with b"

SNK_IT_PORT_A=$SPORT
write_config
runs=$(status_field .reconcile.runs)
into_a=$(status_field .reconcile.rows_repaired_into_a)
into_b=$(status_field .reconcile.rows_repaired_into_b)
kill -HUP "$SNK_PID"
wait "$B_LOAD" || fail "the load on b failed"
"$TST" -c "$CFG" --seconds 3 --quiet >"$WORK/tst3.out" 2>&1 &
TST_PID=$!
BG_PIDS+=($TST_PID)
wait_for b "SELECT count(*) FROM records WHERE data LIKE 'promoted %'" 500 30
wait "$TST_PID" || fail "tst: $(tail -3 "$WORK/tst3.out")"
tst_totals "$WORK/tst3.out"
wait_reconciled "$runs"
assert_exact $((base + 2000 + 500 + tt)) 60
grep -q "\[a->b\] database a is not the one the cursor .* was taken in" "$WORK/snk.log" ||
	fail "the new timeline of a was not noticed in the log"
[[ "$(q b "SELECT source_identity FROM snk.cursor WHERE source = 'a:public.records'")" == */2/* ]] ||
	fail "the a->b cursor does not record timeline 2"
# Over every run since the switch (a run that saw a cursor change is followed by another).
[ $(( $(status_field .reconcile.rows_repaired_into_b) - into_b )) -ge 500 ] || fail "the reconcile did not repair the marked rows"
[ $(( $(status_field .reconcile.rows_repaired_into_a) - into_a )) -gt 0 ] || fail "the reconcile repaired nothing into a"
snk_stop || fail "snk exit $?"
SNK_IT_PORT_A=$A_PORT
it_pass "a standby promoted on timeline 2 (pg_control still on 1) under load on b, snk repointed by SIGHUP: cursor discarded, the 500 marked rows on reused xids reached b, $((base + 2000 + 500 + tt)) rows identical"
