#!/usr/bin/env bash
# Injects: transaction T1 inserts x and stays open while T2 inserts and commits y; snk
# ships y; then T1 commits. Also a transaction that rolls back, and a long transaction
# that spans several of snk's passes in the other direction.
# Checks: x arrives after T1's commit (a "greater than the last id" cursor misses it),
# the rolled-back row never appears, and y is not held back by T1.
. "$(dirname "$0")/lib.sh"
it_init out_of_order
snk_start

x=11111111-1111-1111-1111-111111111111
y=22222222-2222-2222-2222-222222222222
r=33333333-3333-3333-3333-333333333333
mkfifo "$WORK/t1.in"
psql_side "$SNK_IT_PORT_A" -d "$DB" <"$WORK/t1.in" >"$WORK/t1.out" 2>&1 &
BG_PIDS+=($!)
exec 7>"$WORK/t1.in"
echo "BEGIN; INSERT INTO records (id, data) VALUES ('$x', 'x from T1'); SELECT 'T1 open';" >&7
for _ in $(seq 1 100); do grep -q "T1 open" "$WORK/t1.out" 2>/dev/null && break; sleep 0.05; done
# T1 has its xid now; T2 starts after and commits first.
q a "INSERT INTO records (id, data) VALUES ('$y', 'y from T2')"
wait_for b "SELECT count(*) FROM records WHERE id = '$y'" 1 10
log "y arrived in b while T1 is still open"
[ "$(q b "SELECT count(*) FROM records WHERE id = '$x'")" = 0 ] || fail "x visible in b before T1 committed"
# Several more passes go by, in both directions, while T1 stays open.
"$TST" -c "$CFG" --batches 20 --batch-size 100 --quiet >/dev/null
wait_synced 30
[ "$(q b "SELECT count(*) FROM records WHERE id = '$x'")" = 0 ] || fail "x in b before commit"
q a "BEGIN; INSERT INTO records (id, data) VALUES ('$r', 'rolled back'); ROLLBACK" >/dev/null
echo "COMMIT;" >&7
exec 7>&-
wait_for b "SELECT count(*) FROM records WHERE id = '$x'" 1 10
log "x arrived in b after T1 committed"
wait_synced 30
[ "$(q b "SELECT count(*) FROM records WHERE id = '$r'")" = 0 ] || fail "rolled-back row appeared in b"
[ "$(q a "SELECT count(*) FROM records WHERE id = '$r'")" = 0 ] || fail "rolled-back row appeared in a"
[ "$(q b "SELECT data FROM records WHERE id = '$x'")" = "x from T1" ] || fail "x's data differs"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "an out-of-order commit was shipped after its later sibling; rolled-back row never appeared"
