#!/usr/bin/env bash
# Injects: each schema mismatch of issue 14, one table (and config) each. Before anything
# is migrated: a table present in a only, one present in b only, and one with no usable
# key (a UNIQUE over a nullable column, a partial unique index, a DEFERRABLE unique
# constraint, no primary key). Then tables migrated while equal, and changed in b
# afterwards (schema drift): a column dropped in b, a column added in b, a column's type
# changed (integer in a, bigint in b), the key changed (PRIMARY KEY (id) in a,
# (tenant_id, order_no) in b), and a primary key dropped on both sides; each with rows on
# both sides. Last, a composite type and an enum of the same names but other attributes
# or labels in a and b (the snk schema exists by then: the catalogs must not change).
# Checks: `snk migrate` refuses the first three with exit 65 and one line on stderr naming
# the table (and, for a missing table, the database that lacks it), and changes nothing
# in either database (same catalog of user objects, no snk schema); for the others,
# `snk verify` exits 65 with one line on stderr and the daemon, in the foreground, exits
# 65 with the line in its log, naming the column, both types or both keys and both
# databases; and neither wrote a row.
. "$(dirname "$0")/lib.sh"
it_init shape_mismatch --no-migrate --no-trigger

# catalog SIDE: every user schema, relation, column, index, trigger and function.
catalog() {
	q "$1" "WITH n AS (SELECT oid FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema')
	SELECT md5(string_agg(x, ' ' ORDER BY x)) || ' (' || count(*) || ' objects)' FROM (
		SELECT 'ns:' || nspname AS x FROM pg_namespace WHERE oid IN (SELECT oid FROM n)
		UNION ALL SELECT 'rel:' || oid::regclass || ':' || relkind::text FROM pg_class WHERE relnamespace IN (SELECT oid FROM n)
		UNION ALL SELECT 'col:' || attrelid::regclass || '.' || attname || ':' || format_type(atttypid, atttypmod) || attnotnull::text
			FROM pg_attribute WHERE attnum > 0 AND NOT attisdropped
			AND attrelid IN (SELECT oid FROM pg_class WHERE relnamespace IN (SELECT oid FROM n))
		UNION ALL SELECT 'trg:' || tgrelid::regclass || '.' || tgname FROM pg_trigger
		UNION ALL SELECT 'fn:' || oid::regprocedure FROM pg_proc WHERE pronamespace IN (SELECT oid FROM n)) c"
}
no_snk_schema() {
	local side
	for side in a b; do
		[ "$(q $side "SELECT count(*) FROM pg_namespace WHERE nspname = 'snk'")" = 0 ] ||
			fail "a refused migrate created the snk schema in $side"
	done
}
# has_all FILE PATTERN...: FILE has one line that contains every PATTERN (fixed strings).
has_all() {
	local f=$1 lines
	shift
	lines=$(cat "$f")
	for p in "$@"; do
		lines=$(grep -F -- "$p" <<<"$lines" || true)
	done
	[ -n "$lines" ]
}
# migrate_refuses TABLE PATTERN...: migrate exits 65, one line on stderr with every PATTERN,
# and both databases' catalogs are as before.
migrate_refuses() {
	local t=$1 ca cb
	shift
	CFG=$WORK/$t.json
	write_config "\"table\": \"$t\""
	ca=$(catalog a)
	cb=$(catalog b)
	expect_fixed 65 "$t" -- "$SNK" -c "$CFG" migrate
	has_all "$WORK/err" "$@" || fail "migrate of $t: [$(cat "$WORK/err")] lacks one of [$*]"
	[ "$(catalog a)" = "$ca" ] || fail "the refused migrate of $t changed database a"
	[ "$(catalog b)" = "$cb" ] || fail "the refused migrate of $t changed database b"
	[ -n "${SNK_SCHEMA_EXISTS:-}" ] || no_snk_schema
	log "migrate refuses $t: $(cat "$WORK/err")"
}
# migrated TABLE DDL: the table, equal in both databases, migrated, with rows on each side.
migrated() {
	local t=$1
	q a "$2"
	q b "$2"
	CFG=$WORK/$t.json
	write_config "\"table\": \"$t\""
	"$SNK" -c "$CFG" migrate >"$WORK/migrate-$t.log" 2>&1 || { cat "$WORK/migrate-$t.log" >&2; fail "snk migrate of the equal tables $t failed"; }
}
# refused_at_connect TABLE PATTERN...: `snk verify` and the daemon (foreground) both exit
# 65 with a line containing every PATTERN; neither wrote a row.
refused_at_connect() {
	local t=$1 rc=0 na nb
	shift
	na=$(q a "SELECT count(*) FROM $t")
	nb=$(q b "SELECT count(*) FROM $t")
	[ "$na" != "$nb" ] || fail "$t: the test needs different row counts in a and b"
	expect_fixed 65 "$1" -- "$SNK" -c "$CFG" verify
	has_all "$WORK/err" "$@" || fail "verify of $t: [$(cat "$WORK/err")] lacks one of [$*]"
	timeout 30 "$SNK" -c "$CFG" >"$WORK/daemon-$t.log" 2>&1 || rc=$?
	[ "$rc" = 65 ] || fail "snk on $t exited $rc, want 65: $(tail -5 "$WORK/daemon-$t.log")"
	has_all "$WORK/daemon-$t.log" "$@" || fail "snk's log on $t has no line with all of [$*]: $(tail -5 "$WORK/daemon-$t.log")"
	[ "$(q a "SELECT count(*) FROM $t")" = "$na" ] && [ "$(q b "SELECT count(*) FROM $t")" = "$nb" ] ||
		fail "rows were written to $t despite the mismatch"
	log "verify and snk refuse $t: $(cat "$WORK/err")"
}

# 1. Refused by migrate, before anything is migrated.
q a "CREATE TABLE t_only_a (id bigint PRIMARY KEY, v text)"
migrate_refuses t_only_a public.t_only_a "database a" "not in database b"
q b "CREATE TABLE t_only_b (id bigint PRIMARY KEY, v text)"
migrate_refuses t_only_b public.t_only_b "database b" "not in database a"
nokey="CREATE TABLE t_nokey (id bigint NOT NULL, v text UNIQUE, u int NOT NULL, w int NOT NULL UNIQUE DEFERRABLE);
	CREATE UNIQUE INDEX t_nokey_u ON t_nokey (u) WHERE u > 0; CREATE INDEX t_nokey_id ON t_nokey (id)"
q a "$nokey"
q b "$nokey"
migrate_refuses t_nokey public.t_nokey "no primary key" "unique index"

# 2. Refused at connect: migrated while equal, then changed in b.
migrated t_col "CREATE TABLE t_col (id bigint PRIMARY KEY, v text, note text)"
q b "ALTER TABLE t_col DROP COLUMN note"
q a "INSERT INTO t_col VALUES (1, 'x', 'n'), (2, 'y', NULL), (3, 'z', '')"
q b "INSERT INTO t_col VALUES (11, 'b')"
refused_at_connect t_col '"note"' public.t_col "database a" "database b"

migrated t_extra "CREATE TABLE t_extra (id bigint PRIMARY KEY, v text)"
q b "ALTER TABLE t_extra ADD COLUMN extra int"
q a "INSERT INTO t_extra VALUES (1, 'x')"
q b "INSERT INTO t_extra VALUES (11, 'b', 7), (12, 'c', NULL)"
refused_at_connect t_extra '"extra"' public.t_extra "database a" "database b"

migrated t_type "CREATE TABLE t_type (id bigint PRIMARY KEY, qty integer NOT NULL)"
q b "ALTER TABLE t_type ALTER COLUMN qty TYPE bigint"
q a "INSERT INTO t_type VALUES (1, 5), (2, 6)"
q b "INSERT INTO t_type VALUES (11, 5000000000)"
refused_at_connect t_type '"qty"' public.t_type "integer in database a" "bigint in database b"

migrated t_key "CREATE TABLE t_key (id bigint NOT NULL, tenant_id int NOT NULL, order_no bigint NOT NULL, v text,
	PRIMARY KEY (id))"
q b "ALTER TABLE t_key DROP CONSTRAINT t_key_pkey, ADD PRIMARY KEY (tenant_id, order_no)"
q a "INSERT INTO t_key VALUES (1, 7, 1042, 'a')"
q b "INSERT INTO t_key VALUES (2, 7, 1043, 'b'), (3, 8, 1, 'b')"
refused_at_connect t_key key public.t_key "(tenant_id, order_no)" "(id)"

migrated t_lost "CREATE TABLE t_lost (id bigint PRIMARY KEY, v text)"
q a "ALTER TABLE t_lost DROP CONSTRAINT t_lost_pkey"
q b "ALTER TABLE t_lost DROP CONSTRAINT t_lost_pkey"
q a "INSERT INTO t_lost VALUES (1, 'a')"
q b "INSERT INTO t_lost VALUES (2, 'b'), (3, 'b')"
refused_at_connect t_lost public.t_lost "no primary key"

# User-defined types of the same name but not the same type: their text would be read
# back with another meaning (a composite's attributes in another order swap values).
q a "CREATE TYPE pair AS (x int, y int); CREATE TYPE mood AS ENUM ('sad', 'ok')"
q b "CREATE TYPE pair AS (y int, x int); CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')"
q a "CREATE TABLE t_pair (id bigint PRIMARY KEY, p pair)"
q b "CREATE TABLE t_pair (id bigint PRIMARY KEY, p pair)"
SNK_SCHEMA_EXISTS=1
migrate_refuses t_pair '"p"' public.pair "composite (x integer, y integer)" "composite (y integer, x integer)"
q a "CREATE TABLE t_mood (id bigint PRIMARY KEY, m mood[])"
q b "CREATE TABLE t_mood (id bigint PRIMARY KEY, m mood[])"
migrate_refuses t_mood '"m"' "enum ('sad', 'ok')" "enum ('sad', 'ok', 'happy')"

it_pass "missing table (either side), no usable key, missing and extra column, other type, other key, key dropped, same-named user types that differ: exit 65 with the message, nothing changed"
