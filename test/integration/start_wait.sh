#!/usr/bin/env bash
# Injects: cluster b stopped before snk starts, with NOTIFY_SOCKET pointing at a helper
# that plays systemd's end of the protocol; b started again 3 s later.
# Checks: while b is down snk sends EXTEND_TIMEOUT_USEC (so systemd's start timeout does
# not fail a snk that waits for its database) and no READY=1; once b is up, READY=1
# arrives, the extensions stop, and rows sync.
. "$(dirname "$0")/lib.sh"
it_init start_wait
SINK=$SNK_BIN_DIR/test/notify_sink
cluster_stop b fast
B_DOWN=1
# Whatever happens, b is started again for the tests after this one; it_cleanup sees the
# test's own exit status.
trap 'rc=$?; set +e; [ "$B_DOWN" = 0 ] || cluster_start b; (exit $rc); it_cleanup' EXIT
"$SINK" "$WORK/notify.sock" 60 >"$WORK/notify.out" &
BG_PIDS+=($!)
for _ in $(seq 1 50); do [ -S "$WORK/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$WORK/notify.sock snk_start
sleep 3
grep -q "^EXTEND_TIMEOUT_USEC=[1-9][0-9]*$" "$WORK/notify.out" || fail "no EXTEND_TIMEOUT_USEC while b is down: $(cat "$WORK/notify.out")"
! grep -q "^READY=1$" "$WORK/notify.out" || fail "READY=1 while b is down"
usec=$(sed -n 's/^EXTEND_TIMEOUT_USEC=//p' "$WORK/notify.out" | sed -n 1p)
[ "$usec" -ge 15000000 ] || fail "EXTEND_TIMEOUT_USEC=$usec is shorter than the 10 s between extensions"
cluster_start b
B_DOWN=0
for _ in $(seq 1 150); do grep -q "^READY=1$" "$WORK/notify.out" && break; sleep 0.1; done
grep -q "^READY=1$" "$WORK/notify.out" || fail "no READY=1 after b came back: $(cat "$WORK/notify.out")"
# Nothing extends the start once READY is sent.
tail_after=$(sed -n '/^READY=1$/,$p' "$WORK/notify.out" | grep -c "^EXTEND_TIMEOUT_USEC" || true)
sleep 11
[ "$(sed -n '/^READY=1$/,$p' "$WORK/notify.out" | grep -c "^EXTEND_TIMEOUT_USEC" || true)" = "$tail_after" ] &&
	[ "$tail_after" = 0 ] || fail "EXTEND_TIMEOUT_USEC after READY=1"
q a "INSERT INTO records (id, data) VALUES (gen_random_uuid(), 'after the wait')"
wait_for b "SELECT count(*) FROM records WHERE data = 'after the wait'" 1 10
snk_stop || fail "SIGTERM did not exit 0"
assert_tail_only
it_pass "snk extends systemd's start timeout while b is down, sends READY=1 once it is up"
