#!/usr/bin/env bash
# Injects: 50 tables in one snk: 40 in public, listed in "tables" as "public.tNN", as "tNN"
# (schema public by default) and as {"table": ..., "key": [...]}, and 10 in schema app,
# given as "app.*", next to two tables of app that have no usable key (no key at all; a
# unique index over a nullable column), which "app.*" must leave out. The shapes of issue
# 14 in turn (tables_lib.sh): uuid key, bigint identity key (b's starting at 10^12),
# composite key, text key (a's and b's apart only by case), no variable-length column,
# many types, a unique constraint as the key; the NOTIFY trigger on all 50 on both sides.
# 100 transactions per side before snk starts (the first copy), then pgbench on both
# sides at once, 3 clients each, for 24 s: one transaction inserts 1-5 rows into a random
# table, or (3 in 10) into 2 to 4 random tables at once, counted in a ledger in the same
# transaction; snk killed with SIGKILL twice during the load and restarted; then one row
# into every table on each side.
# Checks: every one of the 50 tables ends identical on both sides (a digest of every row's
# text, bytewise sorted, in one query per side; compare_by_key names the keys of a table
# that differs) holding exactly the rows both ledgers say were committed (nothing lost,
# nothing duplicated, nothing invented); the keyless tables of app are not synced;
# snkctl status lists exactly the 50 tables, each with rows copied; snk verify says
# identical for all 50; no reconcile repaired a row; SIGTERM exits 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tables_lib.sh"
it_init tables_many --no-migrate --no-trigger

T=() # NAME:SHAPE of the 40 listed tables of public
for i in $(seq 1 40); do T+=("public.t$(printf %02d "$i"):${TABLES_SHAPES[$(((i - 1) % 7))]}"); done
APP=() # the 10 tables of app, found by "app.*"
for i in $(seq 1 10); do APP+=("app.a$(printf %02d "$i"):${TABLES_SHAPES[$(((i + 2) % 7))]}"); done
NAMES=()
for nt in "${T[@]}" "${APP[@]}"; do NAMES+=("${nt%:*}"); done
for side in a b; do
	tables_setup $side "${T[@]}" "${APP[@]}"
	q $side "CREATE TABLE app.z_nokey (x int, y text); CREATE TABLE app.z_nullable (u int UNIQUE, y text)"
done
q a "INSERT INTO app.z_nokey VALUES (1, 'a'), (2, 'a'); INSERT INTO app.z_nullable VALUES (1, 'a'), (NULL, 'a')"
write_config "\"tables\": $(tables_json "${T[@]}" 'app.*'), \"notify_channel\": \"snk_many\", \"write_connections\": 2"
jq -e '.tables | length == 41' "$CFG" >/dev/null || fail "the config is not what the test means: $(cat "$CFG")"
"$SNK" -c "$CFG" migrate >"$WORK/migrate.log" 2>&1 || fail "snk migrate of 50 tables failed: $(cat "$WORK/migrate.log")"
for side in a b; do
	n=$(q $side "SELECT count(*) FROM pg_attribute WHERE attname = 'snk_xid' AND attrelid IN
		(SELECT oid FROM pg_class WHERE relkind = 'r' AND relnamespace IN ('public'::regnamespace, 'app'::regnamespace))")
	[ "$n" = 50 ] || fail "snk migrate gave $n tables of $side a snk_xid column, want the 50"
	tables_install_triggers $side snk_many "${NAMES[@]}"
	# The first copy: rows in every side before snk starts, one transaction each.
	for _ in $(seq 1 100); do echo 'SELECT it_txn();'; done | psql_side "$(port_of $side)" -d "$DB" >/dev/null
done
log "50 tables of $(printf '%s\n' "${T[@]}" "${APP[@]}" | sed 's/.*://' | sort | uniq -c | tr -s ' \n' ' ')shapes, trigger on each; 100 transactions per side before start"

snk_start
run_load a 24 3 60 "$WORK/load-a.out" &
pa=$!
run_load b 24 3 60 "$WORK/load-b.out" &
pb=$!
BG_PIDS+=("$pa" "$pb")
sleep "$((6 + RANDOM % 3)).$((RANDOM % 10))"
snk_kill9
log "kill -9 of snk under load (1)"
snk_start
sleep "$((6 + RANDOM % 3)).$((RANDOM % 10))"
snk_kill9
log "kill -9 of snk under load (2)"
snk_start
wait $pa || fail "the load on a failed"
wait $pb || fail "the load on b failed"
log "load done: $(load_committed "$WORK/load-a.out") transactions on a, $(load_committed "$WORK/load-b.out") on b"
# One row into every table from each side, since the last start: every table has rows
# to copy in both directions in this snk's status.
q a "SELECT it_touch()" >/dev/null
q b "SELECT it_touch()" >/dev/null

tables_wait_synced 90 "${NAMES[@]}"
tables_assert_identical "${NAMES[@]}"
tables_assert_counts "${NAMES[@]}"
rows=$(q a "SELECT sum(n) FROM it_ledger")+$(q b "SELECT sum(n) FROM it_ledger")
log "all 50 tables identical, with exactly the $rows rows the ledgers of a+b counted"
[ "$(q b "SELECT count(*) FROM app.z_nokey") $(q b "SELECT count(*) FROM app.z_nullable")" = "0 0" ] ||
	fail "app.z_nokey or app.z_nullable (no usable key) got rows in b: \"app.*\" took them"

"$SNKCTL" -s "$SOCK" status --json >"$WORK/status.json" || [ $? = 2 ]
got=$(jq -r '[.tables[].table] | sort | join(" ")' "$WORK/status.json")
want=$(printf '%s\n' "${NAMES[@]}" | sort | tr '\n' ' ')
[ "$got" = "${want% }" ] || fail "snkctl status lists tables [$got], want [${want% }]"
idle=$(jq -r '[.tables[] | select((.a_to_b.rows_copied > 0 and .b_to_a.rows_copied > 0) | not) | .table] | join(" ")' "$WORK/status.json")
[ -z "$idle" ] || fail "snkctl status shows no rows copied in a direction for: $idle"
log "snkctl status: 50 tables, each with rows copied both ways (a_to_b total $(jq .a_to_b.rows_copied "$WORK/status.json"), b_to_a $(jq .b_to_a.rows_copied "$WORK/status.json"))"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row

rc=0
"$SNK" -c "$CFG" verify >"$WORK/verify.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "snk verify of the 50 identical tables exited $rc: $(head -40 "$WORK/verify.out")"
[ "$(grep -c '^table ' "$WORK/verify.out")" = 50 ] || fail "snk verify printed $(grep -c '^table ' "$WORK/verify.out") table blocks, want 50"
snk_stop || fail "SIGTERM did not exit 0"
it_pass "50 tables (7 shapes, public listed 3 ways + app.*), load on both sides with 2 kill -9: $rows rows, every table identical, every row once"
