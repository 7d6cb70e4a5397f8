#!/usr/bin/env bash
# Injects: three databases under tst's load (100-row batches at full speed into a random
# one); cluster c stopped (fast shutdown) for 20 s and started again, tst writing on into a
# and b meanwhile and back into c after; halfway through the outage snk itself is
# restarted (SIGTERM), so that it also starts with c down.
# Checks: probe rows inserted one at a time into a and into b reach the other within 5 s
# throughout, across snk's restart too, and while c is down their median delay is at most
# twice (plus 200 ms) what it was before (the median and largest delay of each phase are
# printed; psql's start and tst's full load on two cores are most of it); status says c is down and the four directions
# that touch it wait while a_to_b and b_to_a keep copying; after c's restart it catches up:
# all three identical with exactly the rows tst and the probes committed, and no reconcile
# repaired a row outside the outage. (During it a run may repair copies from c that had
# reached a, or b, and not yet the other when c stopped: nothing brings those while c is
# down, and c may be gone for good; docs/DESIGN.md, "More than two databases".)
. "$(dirname "$0")/lib.sh"
THREE=1
it_init three_one_down
C_DOWN=0
trap 'rc=$?; set +e; [ "$C_DOWN" = 0 ] || cluster_start c; (exit $rc); it_cleanup' EXIT
snk_start
wait_for c "SELECT count(*) FROM snk.cursor" 2 30

# probes SRC DST N FILE: N rows into SRC one at a time, each timed until it is in DST
# (polled by psql every 10 ms);
# appends the delays (ms) to FILE.
probes() {
	local src=$1 dst=$2 n=$3 out=$4 id t0 t1
	for _ in $(seq 1 "$n"); do
		id=$(cat /proc/sys/kernel/random/uuid)
		t0=$(date +%s%3N)
		q "$src" "INSERT INTO records (id, data) VALUES ('$id', 'probe $src')"
		until [ "$(q "$dst" "SELECT count(*) FROM records WHERE id = '$id'")" = 1 ]; do
			t1=$(date +%s%3N)
			[ $((t1 - t0)) -lt 5000 ] || fail "a probe into $src was not in $dst after 5 s ($(status_field '[.a_to_b.lag_ms, .b_to_a.lag_ms, .databases.c.connected]' | tr -d ' \n'))"
			sleep 0.01
		done
		echo $(($(date +%s%3N) - t0)) >>"$out"
		sleep 0.1
	done
}
stats() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "median %d ms, max %d ms over %d probes", v[int((NR + 1) / 2)], v[NR], NR }'; }
med() { cat "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# tst with a pause between batches: it only needs to keep every direction busy.
"$TST" -c "$CFG" --seconds 30 --batch-size 100 --quiet >"$WORK/tst.out" 2>"$WORK/tst.err" &
TST_PID=$!
BG_PIDS+=($TST_PID)
probes a b 15 "$WORK/before.ab"
probes b a 15 "$WORK/before.ba"
log "before: a->b $(stats "$WORK/before.ab"); b->a $(stats "$WORK/before.ba")"

stamp() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
down_stamp=$(stamp)
cluster_stop c fast
C_DOWN=1
down_at=$SECONDS
start=$SECONDS
until [ "$(status_field .databases.c.connected)" = false ]; do
	[ $((SECONDS - start)) -lt 10 ] || fail "status still says c is connected 10 s after it stopped"
	sleep 0.1
done
restarted=0
while [ $((SECONDS - down_at)) -lt 20 ]; do
	probes a b 3 "$WORK/during.ab"
	probes b a 3 "$WORK/during.ba"
	if [ "$restarted" = 0 ] && [ $((SECONDS - down_at)) -ge 8 ]; then
		snk_stop || fail "SIGTERM with c down did not exit 0"
		snk_start
		restarted=1
		log "snk restarted with c down"
	fi
done
[ "$restarted" = 1 ] || fail "the test did not restart snk during the outage"
st=$("$SNKCTL" -s "$SOCK" status --json || true)
jq -e '.a_to_b.state != "waiting" and .b_to_a.state != "waiting" and .a_to_c.state == "waiting" and .c_to_b.state == "waiting"
	and (.degraded_reason | test("database c"))' <<<"$st" >/dev/null ||
	fail "with c down status says: $(jq -c '{a_to_b: .a_to_b.state, b_to_a: .b_to_a.state, a_to_c: .a_to_c.state, c_to_b: .c_to_b.state, degraded_reason}' <<<"$st")"
log "c down for $((SECONDS - down_at)) s: a->b $(stats "$WORK/during.ab"); b->a $(stats "$WORK/during.ba")"
before=$(med "$WORK/before.ab" "$WORK/before.ba") during=$(med "$WORK/during.ab" "$WORK/during.ba")
[ "$during" -le $((2 * before + 200)) ] || fail "with c down a<->b took a median $during ms, against $before ms before"
cluster_start c
C_DOWN=0
up_stamp=$(stamp)
wait "$TST_PID" || fail "tst failed: $(tail -3 "$WORK/tst.err")"
tst_totals "$WORK/tst.out"
probes_n=$(($(wc -l <"$WORK/before.ab") + $(wc -l <"$WORK/before.ba") + $(wc -l <"$WORK/during.ab") + $(wc -l <"$WORK/during.ba")))
assert_exact $((tt + probes_n)) 120
# Every reconcile line says what its run repaired; those of the outage are left out (the
# status would count them too: only the log is read).
awk -v from="$down_stamp" -v to="$up_stamp" 'substr($1, 1, 24) < from || substr($1, 1, 24) > to' \
	"$WORK/snk.log" >"$WORK/snk-outside.log"
grep -q "holding the writer locks of c again" "$WORK/snk-outside.log" ||
	fail "the log's lines after the outage are missing from $WORK/snk-outside.log: the stamps did not compare"
SNK_PID= assert_tail_only "$WORK/snk-outside.log"
during=$(awk -v from="$down_stamp" -v to="$up_stamp" 'substr($1, 1, 24) >= from && substr($1, 1, 24) <= to' "$WORK/snk.log" |
	{ grep -oE '(stopped|finished) .*repaired [0-9]+ rows into a, [0-9]+ into b and [0-9]+ into c' || true; } |
	sed -E 's/.*repaired ([0-9]+) rows into a, ([0-9]+) into b and ([0-9]+) into c/\1 \2 \3/' |
	awk '{ a += $1; b += $2; c += $3 } END { printf "%d into a, %d into b, %d into c", a, b, c }')
log "reconcile runs that ended during the outage repaired $during"
snk_stop || fail "SIGTERM did not exit 0"
it_pass "c down 20 s under load: a<->b probes $(stats "$WORK/during.ab") while down (before: $(stats "$WORK/before.ab")); c caught up: $((tt + probes_n)) rows in all three, no repair outside the outage (during it: $during)"
