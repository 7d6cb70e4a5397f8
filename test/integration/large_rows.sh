#!/usr/bin/env bash
# Injects: one transaction of 300 rows of 1 MB each mixed with 3000 small rows in a, and
# 40 rows of 3 MB in b, while snk runs with its default batch settings.
# Then, in a table of another shape (a composite key, text, bytea and jsonb), 24 rows that
# each hold 1 MB of text, 10 MB of bytea and about 1 MB of jsonb, half in a, half in b.
# Checks: every value arrives byte for byte (md5 and length per id), and snk's peak RSS
# stays bounded (under 100 MB) although the rows add up to 420 MB: large values are
# fetched by id in bounded groups, never as one page. The wide rows (290 MB in all) keep
# snk under 150 MB: their keys queue, each row travels alone, and the batches held at once
# stay within max_batches_in_flight * batch_max_bytes (190 MB without that bound).
# First, a window of 500 small rows and 5 over the inline limit (1 KiB) commits as one
# batch: the large rows, fetched by key after the page, join it (one commit, not two).
. "$(dirname "$0")/lib.sh"
it_init large_rows
snk_start
b0=$(status_field .a_to_b.batches) r0=$(status_field .a_to_b.rows_copied) # batches with rows, committed
q a "INSERT INTO records (id, data) SELECT gen_random_uuid(), CASE WHEN i % 100 = 0 THEN repeat('L', 4000) ELSE 'row ' || i END FROM generate_series(1, 500) i"
wait_for b "SELECT count(*) FROM records" 500 20
# snk counts a batch when it hears of its commit, as it counts the rows it copied
for _ in $(seq 1 100); do [ "$(status_field .a_to_b.rows_copied)" -ge $((r0 + 500)) ] && break; sleep 0.1; done
[ "$(status_field .a_to_b.batches)" = $((b0 + 1)) ] ||
	fail "the window of 495 small and 5 large rows took $(($(status_field .a_to_b.batches) - b0)) batches, want 1"
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
snk_stop || fail "snk did not stop cleanly"

# A table of another shape: the large values of a row are left out of the page and the
# row is fetched by its composite key.
for side in a b; do
	q $side "CREATE TABLE blobs (tenant int, id bigint, t text, b bytea, j jsonb, PRIMARY KEY (tenant, id))"
done
write_config '"table": "blobs", "notify_channel": ""'
"$SNK" -c "$CFG" migrate >"$WORK/migrate.log" 2>&1 || fail "migrate of blobs: $(cat "$WORK/migrate.log")"
snk_start
for side in a b; do
	q $side "INSERT INTO blobs SELECT $([ $side = a ] && echo 1 || echo 2), i, repeat(md5(i::text), 32768),
		decode(repeat(md5(i::text), 655360), 'hex'),
		(SELECT pg_catalog.jsonb_agg(md5((i * 100000 + k)::text)) FROM generate_series(1, 30000) k)
		FROM generate_series(1, 12) i"
done
wait_for a "SELECT count(*) FROM blobs" 24 120
wait_for b "SELECT count(*) FROM blobs" 24 120
whwm=$(awk '/VmHWM/ {print $2}' "/proc/$SNK_PID/status")
bsum() { q "$1" "SELECT md5(string_agg(tenant || ':' || id || md5(t) || md5(b) || md5(j::text) || octet_length(b), ',' ORDER BY tenant, id)) FROM blobs"; }
[ "$(bsum a)" = "$(bsum b)" ] || fail "the wide rows differ"
[ "$(q b "SELECT count(*) FROM blobs WHERE octet_length(b) = 10485760 AND octet_length(t) = 1048576")" = 24 ] ||
	fail "10 MB bytea or 1 MB text values are missing"
log "snk peak RSS $((whwm / 1024)) MB for $(q a "SELECT pg_size_pretty(sum(octet_length(t) + octet_length(b) + octet_length(j::text))) FROM blobs") of wide rows"
[ "$whwm" -lt $((150 * 1024)) ] || fail "peak RSS ${whwm} kB for the wide rows: not bounded"
assert_tail_only
it_pass "420 MB of 1-3 MB values synced byte for byte with peak RSS $((hwm / 1024)) MB; 24 rows of 1 MB text, 10 MB bytea, 1 MB jsonb by a composite key with peak RSS $((whwm / 1024)) MB"
