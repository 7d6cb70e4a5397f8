#!/usr/bin/env bash
# Injects: text values that break naive quoting, escaping, array literals and encodings:
# empty, quotes, backslashes, braces, commas, NULL-looking words, newlines, tabs, CR,
# emoji and other multi-byte UTF-8, and values of 1 MB and 3 MB; inserted on both sides.
# Checks: every value arrives byte for byte (md5 and length per id compared across).
. "$(dirname "$0")/lib.sh"
it_init awkward_text
snk_start
q a "INSERT INTO records (id, data) VALUES
 (gen_random_uuid(), ''),
 (gen_random_uuid(), 'it''s \"quoted\"'),
 (gen_random_uuid(), E'back\\\\slash \\\\N \\\\x41'),
 (gen_random_uuid(), '{braces,and,commas}'),
 (gen_random_uuid(), '{\"json\": [1, 2, {\"k\": null}]}'),
 (gen_random_uuid(), 'NULL'),
 (gen_random_uuid(), E'line1\\nline2\\r\\nline3\\ttab'),
 (gen_random_uuid(), 'emoji 😀🏳️‍🌈 and ümlaut, 漢字, €'),
 (gen_random_uuid(), E'\\x01\\x02 control \\x7f'),
 (gen_random_uuid(), '   leading and trailing   '),
 (gen_random_uuid(), repeat('x', 1024 * 1024)),
 (gen_random_uuid(), repeat('é😀', 300000))"
q b "INSERT INTO records (id, data) VALUES
 (gen_random_uuid(), '\"'),
 (gen_random_uuid(), E'\\\\'),
 (gen_random_uuid(), ','),
 (gen_random_uuid(), repeat('{\"}', 1000)),
 (gen_random_uuid(), repeat(E'ab\\tc\\n', 200000))"
wait_synced 30
sum() { q "$1" "SELECT string_agg(id::text || ' ' || md5(data) || ' ' || octet_length(data), ',' ORDER BY id) FROM records"; }
[ "$(sum a)" = "$(sum b)" ] || fail "some value differs byte-wise"
[ "$(q b "SELECT count(*) FROM records WHERE octet_length(data) >= 1000000")" = 3 ] || fail "big values missing"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
it_pass "17 awkward values (up to $(q b "SELECT max(octet_length(data)) FROM records") bytes) identical byte for byte"
