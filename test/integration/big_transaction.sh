#!/usr/bin/env bash
# Injects: one transaction inserting 1,000,000 rows into a (all rows share one xid),
# while snk runs and tst writes 1000-row batches into b at the same time.
# Checks: all 1,000,000 rows reach b, b's rows reach a, the tables end identical, and
# snk's memory stays bounded while it streams the window (VmHWM below 64 MB); with
# write_connections = 3, every write session into b carried a share of the window.
. "$(dirname "$0")/lib.sh"
it_init big_transaction
write_config '"write_connections": 3'
snk_start
"$TST" -c "$CFG" --side b --seconds 8 --quiet >"$WORK/tst.out" &
BG_PIDS+=($!)
start=$SECONDS
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'big txn row ' || i || repeat('.', i % 50) FROM generate_series(1, 1000000) i"
log "1,000,000-row transaction committed in a after $((SECONDS - start)) s"
wait_for b "SELECT count(*) FROM records WHERE data LIKE 'big txn row %'" 1000000 240
log "all 1,000,000 rows in b $((SECONDS - start)) s after the transaction began"
wait "${BG_PIDS[0]}"
wait_synced 120
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SNK_PID/status")
log "snk peak RSS: $((hwm / 1024)) MB"
[ "$hwm" -lt $((64 * 1024)) ] || fail "snk peak RSS ${hwm} kB while streaming one big window"
[ "$(count a)" = "$(count b)" ] || fail "counts differ"
lanes=$(status_field '.databases.b.batches_by_write_session | map(tostring) | join(" ")')
log "batches committed by each write session into b: $lanes"
[ "$(status_field .databases.b.write_sessions_ready)" = 3 ] || fail "not all 3 write sessions into b are ready"
for n in $lanes; do
	# 200 batches of 5000 rows: an even spread gives each session about 66.
	[ "$n" -ge 20 ] || fail "a write session into b committed only $n batches of the 1,000,000-row window ($lanes)"
done
[ "$(wc -w <<<"$lanes")" = 3 ] || fail "batches_by_write_session has $(wc -w <<<"$lanes") entries, want 3"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "one 1,000,000-row transaction synced ($(count b) rows in all), peak RSS $((hwm / 1024)) MB"
