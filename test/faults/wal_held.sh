# Sourced by the tests of a crash that loses a's unflushed WAL (after integration/lib.sh
# and it_init). hold_wal_of_a: every commit of this test's databases waits for the flush
# but those that set synchronous_commit off; a's WAL writer sleeps 10 s, and nothing else
# writes WAL or flushes it early (autovacuum, the background writer, checkpoints). On exit
# a's settings are reset, its WAL writer continued, and a started again if a crash left it
# down. crash_a: stops a with -m immediate (its unflushed WAL is lost) and starts it again.
# stop_walwriter / cont_walwriter: SIGSTOP and SIGCONT a's WAL writer, so that nothing but
# a synchronous commit flushes a's WAL meanwhile.
a_system() { psql_side "$SNK_IT_PORT_A" -d postgres -c "$1" -c "SELECT pg_catalog.pg_reload_conf()" >/dev/null; }
WAL_HELD_SETTINGS=(wal_writer_delay autovacuum bgwriter_lru_maxpages checkpoint_timeout)
A_DOWN=0
WALWRITER_STOPPED=
stop_walwriter() {
	WALWRITER_STOPPED=$(q a "SELECT pid FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walwriter'")
	[ -n "$WALWRITER_STOPPED" ] || fail "no WAL writer in cluster a"
	kill -STOP "$WALWRITER_STOPPED"
}
cont_walwriter() {
	[ -z "$WALWRITER_STOPPED" ] || kill -CONT "$WALWRITER_STOPPED"
	WALWRITER_STOPPED=
}
wal_held_cleanup() {
	local rc=$?
	set +e
	cont_walwriter
	[ "$A_DOWN" = 0 ] || cluster_start a
	for g in "${WAL_HELD_SETTINGS[@]}"; do
		a_system "ALTER SYSTEM RESET $g" || echo "could not reset $g on cluster a" >&2
	done
	(exit "$rc")
	it_cleanup
}
hold_wal_of_a() {
	for s in a b; do q $s "ALTER DATABASE \"$DB\" SET synchronous_commit = on"; done
	trap wal_held_cleanup EXIT
	a_system "ALTER SYSTEM SET wal_writer_delay = '10s'"
	a_system "ALTER SYSTEM SET autovacuum = off"
	a_system "ALTER SYSTEM SET bgwriter_lru_maxpages = 0"
	a_system "ALTER SYSTEM SET checkpoint_timeout = '1h'"
}
# first_sync: 100 rows into a, snk started, its first copy and reconcile over, and every
# cursor into a stored (a direction whose first copy ended before any snapshot was safe
# writes its cursor at a later pass; left owed, the next start would write it into a with
# a synchronous commit, flushing a's WAL behind the test's back).
first_sync() {
	q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'before ' || i FROM generate_series(1, 100) i"
	snk_start
	wait_reconciled 0
	wait_synced 30
	wait_for a "SELECT count(*) > 0 AND bool_and(snapshot::text <> '1:1:') FROM snk.cursor" t 30
}
# cursor_ahead: what a restore of a would leave, b's cursor of a ahead of every xid a
# handed out.
cursor_ahead() {
	q b "UPDATE snk.cursor SET snapshot = '4000000000:4000000000:'::pg_snapshot WHERE source = 'a:public.records'"
	[ "$(q b "SELECT count(*) FROM snk.cursor WHERE source = 'a:public.records' AND snapshot::text = '4000000000:4000000000:'")" = 1 ] ||
		fail "no cursor of a:public.records in b to replace"
}
crash_a() {
	cont_walwriter
	A_DOWN=1
	cluster_stop a immediate
	cluster_start a
	A_DOWN=0
}
