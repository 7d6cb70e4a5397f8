#!/usr/bin/env bash
# Injects: side a as an older snk left it (snk_xid xid8 NOT NULL with a btree index, its
# migrations 001-003 recorded, 3000 rows of its own and 2000 copies marked 0), side b new
# (migrated from scratch: snk_xid bigint with a BRIN index). Then tst into both sides.
# Checks: migrate upgrades a without touching its rows (the column stays xid8, only NOT
# NULL goes); snk syncs both ways across the two layouts with no echo (new copies carry
# NULL on both sides; a's old copies keep 0 and are not re-read); and the filled BRIN
# ranges of b are summarized by snk itself (summarizing them again finds nothing to do).
# a's read session (btree) plans its windows at every pass, b's (BRIN) keeps generic plans.
# Last, with "xid_index": "btree", migrate gives a new table a btree on the bigint column.
. "$(dirname "$0")/lib.sh"
it_init layouts --no-migrate --no-trigger
qa() { q a "$1"; }
qa "CREATE SCHEMA snk; CREATE TABLE snk.migrations (name text, target text, applied_at timestamptz DEFAULT now(), PRIMARY KEY (name, target))"
qa "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL, snk_xid xid8 NOT NULL DEFAULT pg_current_xact_id())"
qa "CREATE INDEX records_snk_xid ON records (snk_xid)"
qa "CREATE TABLE snk.cursor (source text PRIMARY KEY, snapshot pg_snapshot NOT NULL, rows_copied bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now())"
qa "INSERT INTO snk.migrations (name, target) VALUES ('001_snk_schema', 'public.records'), ('002_table', 'public.records')"
qa "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'own ' || i FROM generate_series(1, 3000) i"
qa "INSERT INTO records (id, data, snk_xid) SELECT gen_random_uuid(), 'old copy ' || i, '0' FROM generate_series(1, 2000) i"
"$SNK" -c "$CFG" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; fail "snk migrate failed"; }
# b already holds a's old copies, as copies (they came from b once), written as snk writes
# them (snk.copy: the stamp trigger leaves their NULL alone).
psql_side "$SNK_IT_PORT_A" -d "$DB" -c "COPY (SELECT id, data, NULL FROM records WHERE snk_xid = '0') TO STDOUT" |
	psql_side "$SNK_IT_PORT_B" -d "$DB" -c "SET snk.copy = on" -c "COPY records (id, data, snk_xid) FROM STDIN" >/dev/null
install_trigger a
install_trigger b
[ "$(qa "SELECT format_type(atttypid, atttypmod) || ' ' || attnotnull FROM pg_attribute WHERE attrelid = 'records'::regclass AND attname = 'snk_xid'")" = "xid8 false" ] ||
	fail "a's snk_xid is not xid8 and nullable after migrate"
[ "$(qa "SELECT count(*) FROM records WHERE snk_xid = '0'")" = 2000 ] || fail "migrate changed a's old copies"
[ "$(q b "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'records'::regclass AND attname = 'snk_xid'")" = bigint ] ||
	fail "b's snk_xid is not bigint"
[ "$(q b "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'records_snk_xid_idx'")" = brin ] ||
	fail "b's snk_xid index is not BRIN"

snk_start
wait_for b "SELECT count(*) FROM records" 5000 20
"$TST" -c "$CFG" --batches 40 --quiet >"$WORK/tst.out" || fail "tst failed"
wait_synced 30
tst_totals "$WORK/tst.out"
total=$((5000 + ta + tb))
[ "$(count a)" = "$total" ] || fail "a has $(count a) rows, want $total"
[ "$(count b)" = "$total" ] || fail "b has $(count b) rows, want $total"
[ "$(qa "SELECT count(*) FROM records WHERE snk_xid IS NULL")" = "$tb" ] || fail "a's new copies are not marked NULL"
[ "$(q b "SELECT count(*) FROM records WHERE snk_xid IS NULL")" = "$((5000 + ta))" ] || fail "b's copies are not marked NULL"
[ "$(q b "SELECT count(*) FROM records WHERE snk_xid IS NOT NULL")" = "$tb" ] || fail "b's own rows are not tst's b rows"
[ "$(status_field .a_to_b.rows_read)" = "$((3000 + ta))" ] || fail "a->b read $(status_field .a_to_b.rows_read) rows, want $((3000 + ta)): old copies re-read?"
[ "$(status_field .b_to_a.rows_read)" = "$tb" ] || fail "b->a read $(status_field .b_to_a.rows_read) rows, want $tb: echo?"

# The filled ranges of b's BRIN index: snk summarizes them within SUMMARIZE_EVERY_MS of a
# pass of b -> a. The last copies into b may fill a range after b -> a's last pass: the
# timer's safety net passes over a notified table every 10 ticks (2 s here).
ranges=$(q b "SELECT pg_relation_size('records') / 8192 / 32")
[ "$ranges" -ge 3 ] || fail "b has only $ranges filled BRIN ranges: the test needs more rows"
for _ in $(seq 1 50); do
	[ "$(status_field .b_to_a.brin_summarized_to_block)" -ge $((ranges * 32)) ] && break
	sleep 0.1
done
left=$(q b "SELECT sum(brin_summarize_range('records_snk_xid_idx', r * 32)) FROM generate_series(0, $ranges - 1) r")
[ "$left" = 0 ] || fail "$left of b's $ranges filled BRIN ranges were not summarized by snk"
grep -q "cannot summarize" "$WORK/snk.log" && fail "snk could not summarize"
[ "$(status_field .a_to_b.source_xid_index)" = btree ] || fail "status: a's index is not reported as btree"
[ "$(status_field .b_to_a.source_xid_index)" = brin ] || fail "status: b's index is not reported as brin"
[ "$(status_field .b_to_a.brin_summarized_to_block)" -ge $((ranges * 32)) ] ||
	fail "status: summarized to block $(status_field .b_to_a.brin_summarized_to_block), want >= $((ranges * 32))"
[ "$(status_field .b_to_a.brin_summarize_failed)" = false ] || fail "status: summarizing reported as failed"
# A btree's generic plan for a window is a scan of the whole index: a's read session plans
# every execution with its values, b's (BRIN) keeps generic plans.
grep -q "\[a.read\] windows and probes planned at every pass (custom plans" "$WORK/snk.log" ||
	fail "a's read session (btree) does not plan its windows with their values"
grep -q "\[b.read\] windows and probes planned once (generic plans" "$WORK/snk.log" ||
	fail "b's read session (BRIN) does not keep generic plans"

# "xid_index": "btree": migrate gives a new table a btree on the bigint column instead.
cfg_main=$CFG
CFG=$WORK/btree.json
sed 's/"reconnect_max_ms": 1000/"reconnect_max_ms": 1000, "schema": "bt", "xid_index": "btree"/' "$cfg_main" >"$CFG"
"$SNK" -c "$CFG" migrate >"$WORK/migrate-btree.log" 2>&1 || { cat "$WORK/migrate-btree.log" >&2; fail "snk migrate (btree) failed"; }
for side in a b; do
	got=$(q $side "SELECT format_type(a.atttypid, a.atttypmod) || ' ' || am.amname FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = 'bt.records'::regclass AND a.attname = 'snk_xid'")
	[ "$got" = "bigint btree" ] || fail "xid_index btree: $side's bt.records has [$got], want a btree on bigint"
done
CFG=$cfg_main
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "xid8+btree side and bigint+BRIN side sync both ways ($ta + $tb rows), no echo, $ranges BRIN ranges summarized by snk"
