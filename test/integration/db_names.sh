#!/usr/bin/env bash
# Injects: the two databases named "eu" and "us" in "databases" instead of a and b; 500
# rows inserted into eu and 300 into us while snk runs; then a reload that renames one, and
# configs that name one database, or nine.
# Checks: every row reaches the other side by the tail alone (exact counts, no reconcile
# repair); the names are what status shows (databases, directions eu_to_us and us_to_eu
# with their source and destination, the lease, the reconcile's counters), what snkctl's
# table and exit code read, what /metrics labels, what the logs and the cursors' keys in
# snk.cursor say, and what `snk verify` reports; a reload that renames a database is
# refused and the old names stay; one or nine databases are refused at start with exit 78.
. "$(dirname "$0")/lib.sh"
DB_NAME_A=eu DB_NAME_B=us
it_init db_names
MPORT=$(free_port)
write_config "\"metrics_listen\": \"127.0.0.1:$MPORT\""
snk_start
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'eu ' || g FROM generate_series(1, 500) g"
q b "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'us ' || g FROM generate_series(1, 300) g"
wait_for a "SELECT count(*) FROM records" 800 30
wait_for b "SELECT count(*) FROM records" 800 30

st=$("$SNKCTL" -s "$SOCK" status --json) || fail "snkctl status exited $? with both databases up"
jq -e '.directions == ["eu_to_us", "us_to_eu"] and (.databases | keys) == ["eu", "us"]
	and .eu_to_us.source == "eu" and .eu_to_us.destination == "us" and .us_to_eu.source == "us"
	and .eu_to_us.rows_copied == 500 and .us_to_eu.rows_copied == 300
	and .lease.held == ["eu", "us"] and .databases.eu.connected and .databases.us.connected
	and (.reconcile | has("rows_repaired_into_eu") and has("rows_repaired_into_us") and has("owed_eu_to_us"))
	and (.tables[0] | has("eu_to_us") and has("us_to_eu")) and (has("a_to_b") | not)' <<<"$st" >/dev/null ||
	fail "status does not carry the names: $(jq -c '{directions, dbs: (.databases | keys), eu_to_us: .eu_to_us.rows_copied, us_to_eu: .us_to_eu.rows_copied, lease: .lease.held}' <<<"$st")"
human=$("$SNKCTL" -s "$SOCK" status) || fail "snkctl status (text) exited $?"
grep -qE '^eu_to_us +(idle|copying) +500 ' <<<"$human" && grep -qE '^us +yes ' <<<"$human" ||
	fail "snkctl's table lacks the named rows: $human"
metrics=$(http_get "$MPORT" /metrics)
grep -q '^snk_rows_copied_total{direction="eu_to_us"} 500$' <<<"$metrics" &&
	grep -q '^snk_database_connected{database="us"} 1$' <<<"$metrics" ||
	fail "/metrics does not label by the names: $(grep -E '^snk_(rows_copied_total|database_connected)' <<<"$metrics")"
grep -q '\[eu->us\]' "$WORK/snk.log" && grep -q '\[us\.write\]' "$WORK/snk.log" ||
	fail "the log does not name the direction eu->us and the session us.write"
[ "$(q b "SELECT string_agg(source, ',') FROM snk.cursor")" = "eu:public.records" ] &&
	[ "$(q a "SELECT string_agg(source, ',') FROM snk.cursor")" = "us:public.records" ] ||
	fail "the cursors' keys are not by name: a has $(q a "SELECT string_agg(source, ',') FROM snk.cursor"), b $(q b "SELECT string_agg(source, ',') FROM snk.cursor")"
log "status, snkctl, /metrics, logs and cursors name eu and us"

"$SNK" -c "$CFG" verify >"$WORK/verify.out" 2>&1 || fail "verify exited $?: $(cat "$WORK/verify.out")"
grep -qx 'eu: 800 rows' "$WORK/verify.out" && grep -qx 'only in us: 0' "$WORK/verify.out" ||
	fail "verify does not report by name: $(cat "$WORK/verify.out")"
"$SNK" -c "$CFG" verify --json >"$WORK/verify.json" 2>&1 || fail "verify --json exited $?"
jq -e '.rows.eu == 800 and .rows.us == 800 and .differences.only_in_eu.count == 0' "$WORK/verify.json" >/dev/null ||
	fail "verify --json does not report by name: $(cat "$WORK/verify.json")"

# A reload that renames a database: refused, the old names stay.
DB_NAME_B=na write_config "\"metrics_listen\": \"127.0.0.1:$MPORT\""
kill -HUP "$SNK_PID"
start=$SECONDS
until [ "$(status_field .config_reload.successful)" = false ]; do
	[ $((SECONDS - start)) -lt 10 ] || fail "a reload that renames us was not refused: $(status_field .config_reload)"
	sleep 0.05
done
status_field .config_reload.error | grep -q 'the names of "databases" changed; that takes a restart' ||
	fail "the refusal does not say why: $(status_field .config_reload.error)"
[ "$(status_field '.directions | join(" ")')" = "eu_to_us us_to_eu" ] || fail "the refused reload changed the directions"
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), 'eu after' FROM generate_series(1, 10) g"
wait_for b "SELECT count(*) FROM records" 810 30
assert_tail_only
snk_stop || fail "SIGTERM did not exit 0"

# One database, or nine: refused at start.
for dbs in '{"eu": "dbname=x"}' "{$(for i in 1 2 3 4 5 6 7 8 9; do printf '"d%s": "dbname=%s",' $i $i; done | sed 's/,$//')}"; do
	echo "{\"databases\": $dbs, \"control_socket\": \"$SOCK\"}" >"$WORK/bad.json"
	rc=0
	"$SNK" -c "$WORK/bad.json" >"$WORK/bad.out" 2>&1 || rc=$?
	[ "$rc" = 78 ] && grep -qE 'databases: (1 given|more than 8)' "$WORK/bad.out" ||
		fail "databases $dbs: exit $rc, $(cat "$WORK/bad.out"), want 78 and the count"
done
it_pass "eu and us: rows both ways by the tail alone; names in status, snkctl, /metrics, logs, cursors and verify; renaming refused on reload; 1 or 9 databases refused (78)"
