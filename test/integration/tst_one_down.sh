#!/usr/bin/env bash
# Injects: tst started with database b's conninfo pointing at a closed port; then with
# both pointing at closed ports.
# Checks: with b unreachable from the start, tst writes to a for the whole run, says it
# retries b, exits 0 and prints totals that match a's rows exactly (b=0); with neither
# database reachable, tst exits 69 at once and says so.
. "$(dirname "$0")/lib.sh"
it_init tst_one_down
CLOSED=$(free_port)
cat >"$WORK/one_down.json" <<EOT
{
  "databases": {
    "a": "host=127.0.0.1 port=$SNK_IT_PORT_A user=postgres dbname=$DB",
    "b": "host=127.0.0.1 port=$CLOSED user=postgres dbname=$DB connect_timeout=2"
  }
}
EOT
rc=0
"$TST" -c "$WORK/one_down.json" --seconds 3 --batch-size 100 --quiet >"$WORK/tst.out" 2>"$WORK/tst.err" || rc=$?
[ "$rc" = 0 ] || fail "tst exited $rc with b down at start: $(tail -3 "$WORK/tst.err")"
tst_totals "$WORK/tst.out"
[ "$tb" = 0 ] || fail "tst claims $tb rows on b, which is down"
[ "$ta" -gt 0 ] || fail "tst wrote nothing to a while b was down"
[ "$(count a)" = "$ta" ] || fail "a holds $(count a) rows, tst says $ta"
grep -q "database b: .*writing to a meanwhile, retrying b every second" "$WORK/tst.err" ||
	fail "tst did not say it keeps writing to a: $(head -3 "$WORK/tst.err")"
log "b down at start: tst wrote $ta rows to a and exited 0"

sed -i "s/port=$SNK_IT_PORT_A /port=$CLOSED /" "$WORK/one_down.json"
rc=0
timeout 20 "$TST" -c "$WORK/one_down.json" --seconds 3 --quiet >"$WORK/tst2.out" 2>"$WORK/tst2.err" || rc=$?
[ "$rc" = 69 ] || fail "tst exited $rc with both databases down, want 69: $(cat "$WORK/tst2.err")"
grep -q "no database to write to is reachable" "$WORK/tst2.err" || fail "no message: $(cat "$WORK/tst2.err")"
it_pass "tst keeps writing to a while b is down from the start ($ta rows, exact); both down: exit 69"
