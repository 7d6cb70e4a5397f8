#!/usr/bin/env bash
# Injects: tables whose names would break a cut-off index name: one with a two-byte
# character across byte 50, and two that share their first 50 bytes.
# Checks: `snk migrate` prepares each (its own xid index, named by PostgreSQL), and snk
# then syncs each of them, i.e. the schema check finds each table's own index.
. "$(dirname "$0")/lib.sh"
it_init names --no-migrate --no-trigger
long=$(printf 'p%.0s' $(seq 1 50))
for t in "$(printf 'x%.0s' $(seq 1 49))é_records" "${long}_one" "${long}_two"; do
	write_config "\"table\": \"$t\", \"notify_channel\": \"\""
	"$SNK" -c "$CFG" migrate >"$WORK/migrate.log" 2>&1 || fail "migrate of $t: $(cat "$WORK/migrate.log")"
done
[ "$(q a "SELECT count(DISTINCT indexrelid) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] WHERE a.attname = 'snk_xid'")" = 3 ] ||
	fail "the three tables do not have three xid indexes"
for t in "$(printf 'x%.0s' $(seq 1 49))é_records" "${long}_one" "${long}_two"; do
	write_config "\"table\": \"$t\", \"notify_channel\": \"\""
	q a "INSERT INTO \"$t\" (id, data) VALUES (gen_random_uuid(), 'row of $t')"
	: >"$WORK/snk.log"
	snk_start
	wait_for b "SELECT count(*) FROM \"$t\"" 1 15
	snk_stop || fail "snk on $t exited non-zero"
	assert_tail_only
done
it_pass "a multibyte name and two names sharing 50 bytes: each table migrated with its own index and synced"
