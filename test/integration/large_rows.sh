#!/usr/bin/env bash
# Injects: one transaction of 300 rows of 1 MB each mixed with 3000 small rows in a, and
# 40 rows of 3 MB in b, while snk runs with its default batch settings.
# Checks: every value arrives byte for byte (md5 and length per id), and snk's peak RSS
# stays bounded (under 100 MB) although the rows add up to 420 MB: large values are
# fetched by id in bounded groups, never as one page.
. "$(dirname "$0")/lib.sh"
it_init large_rows
snk_start
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), CASE WHEN i % 11 = 0 THEN repeat(md5(i::text), 32768) ELSE 'small ' || i END FROM generate_series(1, 3300) i"
q b "INSERT INTO records (id, data) SELECT gen_random_uuid(), repeat(chr(65 + i % 26) || 'é', 1048576) FROM generate_series(1, 40) i"
wait_synced 120
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SNK_PID/status")
sum() { q "$1" "SELECT md5(string_agg(id::text || md5(data) || octet_length(data), ',' ORDER BY id)) FROM records"; }
[ "$(sum a)" = "$(sum b)" ] || fail "values differ"
[ "$(q b "SELECT count(*) FROM records WHERE octet_length(data) = 1048576")" = 300 ] || fail "1 MB rows missing in b"
[ "$(q a "SELECT count(*) FROM records WHERE octet_length(data) = 3145728")" = 40 ] || fail "3 MB rows missing in a"
log "snk peak RSS $((hwm / 1024)) MB for $(q a "SELECT pg_size_pretty(sum(octet_length(data))) FROM records") of data"
[ "$hwm" -lt $((100 * 1024)) ] || fail "peak RSS ${hwm} kB: large rows are not bounded"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "420 MB of 1-3 MB values synced byte for byte with peak RSS $((hwm / 1024)) MB"
