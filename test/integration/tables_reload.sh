#!/usr/bin/env bash
# Injects: snk on 3 tables (r1 uuid key, r2 composite key, r3 text key; tables_lib.sh
# shapes) under pgbench load on both sides (2 clients each, random tables, small
# transactions, counted in a ledger); r4 (uuid key) holding 200,000 rows of 1 kB in a
# only and r5 (identity key) with 50 rows on each side, both migrated before snk starts.
# Then r4 and r5 added to "tables" by SIGHUP, and the load extended to them at once; during
# r4's first copy, probe rows one after the other into r1 in a and into r2 in b, and
# r4's initial_copy sampled from status every ~20 ms in the background. Then r3
# removed by SIGHUP (its load stopped first and it synced), and 5 rows inserted into r3 on
# each side afterwards, with probes into r1 and r2.
# Checks: snkctl status shows r4's a_to_b initial_copy (rows_copied, rows_estimate,
# progress in 0..1 and never going back, eta_s; at least once a progress strictly between
# 0 and 1 with a row estimate) and then null in both directions; every probe sent while r4 was
# copying arrived in the other database within 2 s (the other tables keep syncing); after
# the removal status lists 4 tables without r3, the probes still arrive, and none of r3's
# new rows reaches the other side; at the end r1, r2, r4 and r5 are identical with exactly
# the rows the ledgers counted (r4: the 200,000 and what the load added during its copy),
# r3 holds on each side its synced rows plus its own 5; no reconcile repaired a row.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tables_lib.sh"
it_init tables_reload --no-migrate --no-trigger

ALL=(public.r1:uuid public.r2:comp public.r3:text public.r4:uuid public.r5:ident)
for side in a b; do tables_setup $side "${ALL[@]}"; done
config_for() { # TABLE...: this test's config, syncing TABLE...
	write_config "\"tables\": $(tables_json "$@"), \"notify_channel\": \"snk_reload\""
}
config_for "${ALL[@]}"
"$SNK" -c "$CFG" migrate >"$WORK/migrate.log" 2>&1 || fail "snk migrate of r1-r5 failed: $(cat "$WORK/migrate.log")"
tables_install_triggers a snk_reload public.r1 public.r2 public.r3 public.r4 public.r5
tables_install_triggers b snk_reload public.r1 public.r2 public.r3 public.r4 public.r5
q a "INSERT INTO r4 SELECT gen_random_uuid(), 'a', repeat(md5(g::text), 30) FROM generate_series(1, 200000) g;
	INSERT INTO it_ledger VALUES ('public.r4', 200000); ANALYZE r4"
for side in a b; do
	q $side "SELECT it_ins('public.r5', 50); UPDATE it_tables SET active = name IN ('public.r1', 'public.r2', 'public.r3')" >/dev/null
done
log "r4: 200,000 rows ($(q a "SELECT pg_size_pretty(pg_table_size('r4'))")) in a; r5: 50 rows per side"

config_for public.r1:uuid public.r2:comp public.r3:text
snk_start
run_load a 30 2 40 "$WORK/load-a.out" &
pa=$!
run_load b 30 2 40 "$WORK/load-b.out" &
pb=$!
BG_PIDS+=("$pa" "$pb")
sleep 3
[ "$(status_field '.tables | length')" = 3 ] || fail "status lists $(status_field '[.tables[].table]') before the reload, want r1-r3"

# probe SRC DST TABLE: one row into TABLE in SRC (counted in SRC's ledger); sets PROBE_T0
# and PROBE_T1 (ms: sent, seen in DST); fails after 2 s.
PROBES=0
probe() {
	local src=$1 dst=$2 t=$3 id t0 t1
	PROBES=$((PROBES + 1))
	case $t in
	public.r1) id=$(cat /proc/sys/kernel/random/uuid) sql="INSERT INTO r1 VALUES ('$id', '$src', 'probe')" cond="id = '$id'" ;;
	public.r2) id=$((900000000 + PROBES)) sql="INSERT INTO r2 VALUES (999, $id, '$src', 0)" cond="tenant_id = 999 AND order_no = $id" ;;
	esac
	t0=$(date +%s%3N)
	q "$src" "BEGIN; $sql; INSERT INTO it_ledger VALUES ('$t', 1); COMMIT"
	until [ "$(q "$dst" "SELECT count(*) FROM $t WHERE $cond")" = 1 ]; do
		t1=$(date +%s%3N)
		[ $((t1 - t0)) -lt 2000 ] || fail "a probe row into $t in $src was not in $dst after 2 s ($(status_field "[.tables[] | {table, a_to_b: .a_to_b.lag_ms, b_to_a: .b_to_a.lag_ms}]" | tr -d ' \n'))"
		sleep 0.05
	done
	PROBE_T0=$t0
	PROBE_T1=$(date +%s%3N)
}
r4_copy() { # DIRECTION: r4's initial_copy in status, compact JSON
	status_field ".tables[] | select(.table == \"public.r4\") | .$1.initial_copy" | jq -c .
}

# ---- add r4 and r5. A sampler writes r4's a_to_b initial_copy with a timestamp every
# few tens of ms to r4-copy.log, from before the SIGHUP to the end of the copy; probes go
# both ways meanwhile, and each one sent and arrived between the first sample of the copy
# and the first null after it counts as sent during the copy.
( set +e; while :; do echo "$(date +%s%3N) $(r4_copy a_to_b)"; sleep 0.02; done ) >"$WORK/r4-copy.log" 2>/dev/null &
SAMPLER=$!
BG_PIDS+=("$SAMPLER")
config_for public.r1:uuid public.r2:comp public.r3:text public.r4:uuid public.r5:ident
kill -HUP "$SNK_PID"
for side in a b; do q $side "UPDATE it_tables SET active = true"; done
log "SIGHUP: r4 and r5 added"
start=$SECONDS
until [ "$(status_field '.tables | length')" = 5 ]; do
	[ $((SECONDS - start)) -lt 10 ] || fail "status lists $(status_field '[.tables[].table]') 10 s after the SIGHUP, want r1-r5"
	sleep 0.05
done
# copy_span: "FIRST END" ms of r4's copy in the sampler's log (END empty while it runs).
copy_span() {
	awk '$2 != "" && $2 != "null" && !s { s = $1 } s && $2 == "null" { print s, $1; f = 1; exit } END { if (!f && s) print s }' "$WORK/r4-copy.log"
}
PROBE_LOG=()
start=$SECONDS
while :; do
	read -r c0 c1 <<<"$(copy_span)"
	[ -z "${c1:-}" ] || break
	[ $((SECONDS - start)) -lt 120 ] || fail "r4's first copy did not end within 120 s: $(tail -1 "$WORK/r4-copy.log")"
	probe a b public.r1
	PROBE_LOG+=("$PROBE_T0 $PROBE_T1 r1:a->b")
	probe b a public.r2
	PROBE_LOG+=("$PROBE_T0 $PROBE_T1 r2:b->a")
	sleep 0.1
done
kill "$SAMPLER"
wait "$SAMPLER" 2>/dev/null || true
[ -n "${c0:-}" ] || fail "status never showed r4's initial_copy"
samples=$(awk -v s="$c0" -v e="$c1" '$1 >= s && $1 < e { print $2 }' "$WORK/r4-copy.log")
jq -se 'all(.[]; (.progress >= 0 and .progress <= 1) and (.rows_copied | type == "number")
	and (.rows_estimate | type == "number") and (.eta_s | type == "number"))' <<<"$samples" >/dev/null ||
	fail "r4's initial_copy is not what status promises: $(echo "$samples" | head -3)"
jq -se '[.[].progress] as $p | all(range(1; $p | length); $p[.] >= $p[. - 1])' <<<"$samples" >/dev/null ||
	fail "r4's progress went back: $(echo "$samples" | jq -c .progress | tr '\n' ' ')"
# jq picks the first itself: a `| head -1` here can end jq by SIGPIPE, and pipefail then
# ends the test without a word.
shown=$(jq -sc 'map(select(.progress > 0 and .progress < 1 and .rows_estimate > 0)) | first // empty' <<<"$samples")
[ -n "$shown" ] || fail "status never showed r4's progress strictly between 0 and 1 with a row estimate: $(echo "$samples" | sed -n '1p;$p')"
during=0 slowest=0
for pl in "${PROBE_LOG[@]}"; do
	read -r t0 t1 _ <<<"$pl"
	[ "$t0" -ge "$c0" ] && [ "$t1" -le "$c1" ] || continue
	during=$((during + 1))
	[ $((t1 - t0)) -le "$slowest" ] || slowest=$((t1 - t0))
done
[ "$during" -gt 0 ] || fail "no probe was sent and arrived during r4's copy ($((c1 - c0)) ms; probes: ${PROBE_LOG[*]})"
log "r4's first copy: $((c1 - c0)) ms in status, $(echo "$samples" | wc -l) samples, e.g. $shown; progress $(echo "$samples" | jq -r .progress | uniq | tr '\n' ' ')"
log "$during of ${#PROBE_LOG[@]} probes (r1 a->b, r2 b->a) were sent and arrived during it, the slowest in $slowest ms (all within 2 s)"
start=$SECONDS
until [ "$(r4_copy b_to_a)" = null ] && [ "$(status_field '.tables[] | select(.table == "public.r5") | [.a_to_b.initial_copy, .b_to_a.initial_copy] | map(. == null) | all')" = true ]; do
	[ $((SECONDS - start)) -lt 60 ] || fail "r4 b_to_a or r5 still in their first copy: $(status_field '[.tables[] | {table, a: .a_to_b.initial_copy, b: .b_to_a.initial_copy}]')"
	sleep 0.1
done

# ---- remove r3: its load stops, it syncs, then the SIGHUP
for side in a b; do q $side "UPDATE it_tables SET active = (name <> 'public.r3')"; done
tables_wait_synced 30 public.r3
config_for public.r1:uuid public.r2:comp public.r4:uuid public.r5:ident
kill -HUP "$SNK_PID"
start=$SECONDS
until [ "$(status_field '[.tables[].table] | sort | join(" ")')" = "public.r1 public.r2 public.r4 public.r5" ]; do
	[ $((SECONDS - start)) -lt 10 ] || fail "status lists $(status_field '[.tables[].table]') 10 s after removing r3"
	sleep 0.05
done
[ "$(status_field .config_reload.successful)" = true ] || fail "the reload was not successful: $(status_field .config_reload)"
log "SIGHUP: r3 removed"
q a "INSERT INTO r3 SELECT 'a-after-removal-' || g, 'a', 'after removal' FROM generate_series(1, 5) g"
q b "INSERT INTO r3 SELECT 'A-after-removal-' || g, 'b', 'after removal' FROM generate_series(1, 5) g"
for _ in 1 2 3 4; do
	probe a b public.r1
	probe b a public.r2
	sleep 0.5
done
[ "$(q b "SELECT count(*) FROM r3 WHERE k LIKE 'a-after-removal-%'")" = 0 ] && [ "$(q a "SELECT count(*) FROM r3 WHERE k LIKE 'A-after-removal-%'")" = 0 ] ||
	fail "rows inserted into r3 after its removal were copied"
log "rows into r3 after its removal stayed where they were inserted; probes into r1 and r2 still arrive"

wait $pa || fail "the load on a failed"
wait $pb || fail "the load on b failed"
KEPT=(public.r1 public.r2 public.r4 public.r5)
tables_wait_synced 60 "${KEPT[@]}"
tables_assert_identical "${KEPT[@]}"
tables_assert_counts "${KEPT[@]}"
synced=$((($(tables_ledger a | sed -n 's/^public\.r3|//p')) + $(tables_ledger b | sed -n 's/^public\.r3|//p')))
[ "$(q a "SELECT count(*) FROM r3")" = $((synced + 5)) ] && [ "$(q b "SELECT count(*) FROM r3")" = $((synced + 5)) ] ||
	fail "r3 holds $(q a "SELECT count(*) FROM r3") rows in a and $(q b "SELECT count(*) FROM r3") in b, want $synced + its own 5 each"
assert_tail_only
snk_stop || fail "SIGTERM did not exit 0"
it_pass "r4 (200,000 rows) and r5 added under load, copied while $during probes into r1/r2 arrived within ${slowest} ms; r3 removed: its later rows stayed; r4: $(q b "SELECT count(*) FROM r4") rows, all identical"
