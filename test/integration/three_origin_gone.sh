#!/usr/bin/env bash
# Injects: three databases; c stopped; 300 rows inserted into a, which a->b copies into
# b; then a stopped for good (immediate shutdown, as a lost host) before a->c could ever
# copy them, and c started again; then `snkctl reconcile`.
# Checks: the rows are in b only (snk's copies carry snk_xid NULL, so b->c never ships
# them: no echo); the reconcile compares b and c, passes over the pairs with a (its run
# says a was down) and brings the 300 rows into c; b and c are then identical and c's
# repairs are counted in status. Afterwards a comes back and nothing is duplicated.
. "$(dirname "$0")/lib.sh"
THREE=1
it_init three_origin_gone
A_DOWN=0 C_DOWN=0
trap 'rc=$?; set +e; [ "$A_DOWN" = 0 ] || cluster_start a; [ "$C_DOWN" = 0 ] || cluster_start c; (exit $rc); it_cleanup' EXIT
snk_start
wait_for c "SELECT count(*) FROM snk.cursor" 2 30
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'before ' || g FROM generate_series(1, 50) g"
wait_for c "SELECT count(*) FROM records" 50 30

cluster_stop c fast
C_DOWN=1
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'only via b ' || g FROM generate_series(1, 300) g"
wait_for b "SELECT count(*) FROM records" 350 30
cluster_stop a immediate
A_DOWN=1
cluster_start c
C_DOWN=0
start=$SECONDS
until [ "$(status_field .databases.c.connected)" = true ] && [ "$(status_field .b_to_c.state)" != waiting ]; do
	[ $((SECONDS - start)) -lt 30 ] || fail "c did not come back: $(status_field '.databases.c')"
	sleep 0.1
done
sleep 1
[ "$(q c "SELECT count(*) FROM records")" = 50 ] || fail "c has $(q c "SELECT count(*) FROM records") rows before the reconcile: a copy was shipped on (echo)"
[ "$(q b "SELECT count(*) FROM records WHERE snk_xid IS NOT NULL")" = 0 ] || fail "b holds rows with an snk_xid: they were not all snk's copies"
log "a is gone: its 300 rows are in b only (copies, snk_xid NULL), c has the 50 from before"

runs=$(status_field .reconcile.runs)
"$SNKCTL" -s "$SOCK" reconcile >"$WORK/rc.out" || fail "snkctl reconcile: $(cat "$WORK/rc.out")"
start=$SECONDS
until [ "$(status_field .reconcile.runs)" -gt "$runs" ] && [ "$(status_field .reconcile.state)" != running ]; do
	[ $((SECONDS - start)) -lt 60 ] || fail "the reconcile did not end: $(status_field .reconcile)"
	sleep 0.2
done
last=$(status_field .reconcile.last)
jq -e '.rows_repaired_into_c == 300 and .rows_repaired_into_b == 0 and (.result | test("database a was down"))' <<<"$last" >/dev/null ||
	fail "the reconcile did not bring a's rows from b into c: $last"
[ "$(digest b)" = "$(digest c)" ] && [ "$(q c "SELECT count(*) FROM records")" = 350 ] ||
	fail "b and c differ after the reconcile: c has $(q c "SELECT count(*) FROM records")"
grep -q "reconcile.*stopped after .*a and b not compared: database a was down" "$WORK/snk.log" ||
	fail "the log does not say which pairs were passed over"
log "reconcile: $(jq -c '{result, rows_repaired_into_c}' <<<"$last")"

# a comes back: it has every row already; the other 300 rows' copies are not sent back.
cluster_start a
A_DOWN=0
start=$SECONDS
until [ "$(status_field .databases.a.connected)" = true ]; do
	[ $((SECONDS - start)) -lt 30 ] || fail "a did not come back"
	sleep 0.1
done
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'after' FROM generate_series(1, 10) g"
wait_synced 60
assert_exact 360
snk_stop || fail "SIGTERM did not exit 0"

# verify compares every pair: identical, then one row written into c alone.
"$SNK" -c "$CFG" verify >"$WORK/verify.out" 2>&1 || fail "verify of three identical databases exited $?: $(cat "$WORK/verify.out")"
grep -qx 'all 3 databases IDENTICAL (3 pairs)' "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
q c "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'c alone')"
rc=0
"$SNK" -c "$CFG" verify >"$WORK/verify.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -qx 'a and b: IDENTICAL' "$WORK/verify.out" && grep -qx 'a and c: DIFFERENT' "$WORK/verify.out" &&
	grep -qx '2 of 3 pairs of databases DIFFERENT: a and c, b and c' "$WORK/verify.out" ||
	fail "verify with a row in c alone exited $rc: $(cat "$WORK/verify.out")"
"$SNK" -c "$CFG" verify --json >"$WORK/verify.json" 2>&1 || true
jq -e '.result == "different" and ([.pairs[] | select(.result == "different") | .databases | join("-")] == ["a-c", "b-c"])
	and .pairs[1].tables[0].differences.only_in_c.count == 1' "$WORK/verify.json" >/dev/null ||
	fail "verify --json: $(cat "$WORK/verify.json")"
it_pass "a gone after 300 of its rows reached b only: the b-c reconcile brought them to c (300 repaired, pairs with a passed over); with a back, 360 rows in all three; verify names the pairs that differ"
