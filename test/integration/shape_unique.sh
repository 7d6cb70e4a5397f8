#!/usr/bin/env bash
# Injects: a table whose key is id and which has a second unique index (email NOT NULL
# UNIQUE). a and b each insert 3000 rows of their own, and one row each whose email is the
# same ('same@x') under different ids, before snk starts; then 500 more rows each while it
# runs.
# Checks: the two clashing rows cannot be copied (the other side's email index refuses
# each): each is a conflict, counted and logged with its key and the database that refuses
# it, and stays on its own side only; every other row arrives, before and after them (a
# batch holding a refused row is not retried for ever); no reconcile repaired a row.
. "$(dirname "$0")/lib.sh"
it_init shape_unique --no-migrate --no-trigger
for side in a b; do
	q $side "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, v text)"
done
write_config '"table": "users", "notify_channel": ""'
"$SNK" -c "$CFG" migrate >"$WORK/migrate.log" 2>&1 || fail "migrate: $(cat "$WORK/migrate.log")"
# The clashing rows go in before snk starts: once a's is copied, b's application could not
# insert its own (b's index would refuse it there).
q a "INSERT INTO users SELECT i, 'a' || i || '@x', 'a' FROM generate_series(1, 3000) i"
q a "INSERT INTO users VALUES (100001, 'same@x', 'a')"
q b "INSERT INTO users SELECT i, 'b' || i || '@x', 'b' FROM generate_series(5001, 8000) i"
q b "INSERT INTO users VALUES (100002, 'same@x', 'b')"
snk_start
q a "INSERT INTO users SELECT i, 'a' || i || '@x', 'a' FROM generate_series(3001, 3500) i"
q b "INSERT INTO users SELECT i, 'b' || i || '@x', 'b' FROM generate_series(8001, 8500) i"
wait_for a "SELECT count(*) FROM users WHERE id < 100000" 7000 30
wait_for b "SELECT count(*) FROM users WHERE id < 100000" 7000 30
[ "$(q a "SELECT string_agg(id::text, ',' ORDER BY id) FROM users WHERE id > 100000")" = 100001 ] ||
	fail "a holds $(q a "SELECT string_agg(id::text, ',') FROM users WHERE id > 100000"), want its own 100001 only"
[ "$(q b "SELECT string_agg(id::text, ',' ORDER BY id) FROM users WHERE id > 100000")" = 100002 ] ||
	fail "b holds $(q b "SELECT string_agg(id::text, ',') FROM users WHERE id > 100000"), want its own 100002 only"
for _ in $(seq 1 50); do [ "$(status_field .b_to_a.conflicts)" -ge 1 ] && [ "$(status_field .a_to_b.conflicts)" -ge 1 ] && break; sleep 0.1; done
[ "$(status_field .a_to_b.conflicts)" -ge 1 ] && [ "$(status_field .b_to_a.conflicts)" -ge 1 ] ||
	fail "conflicts a_to_b=$(status_field .a_to_b.conflicts) b_to_a=$(status_field .b_to_a.conflicts), want at least 1 each"
grep -q "\[a->b\] conflict: id 100001 is refused by b: another row there holds one of its values" "$WORK/snk.log" &&
	grep -q "\[b->a\] conflict: id 100002 is refused by a: another row there holds one of its values" "$WORK/snk.log" ||
	fail "the refused rows are not logged with their keys: $(grep conflict "$WORK/snk.log" | head -3)"
! grep -q "duplicate key value" "$WORK/snk.log" || fail "a batch failed on the email index: $(grep -m1 'duplicate key' "$WORK/snk.log")"
q a "INSERT INTO users VALUES (4000, 'late-a@x', 'a')"
wait_for b "SELECT count(*) FROM users WHERE id = 4000" 1 10
assert_tail_only
it_pass "two rows refused by the other side's unique email index: conflicts, logged with their keys; 7000 other rows and a later one copied both ways"
