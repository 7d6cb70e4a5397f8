#!/usr/bin/env bash
# Injects: a table "zoo" with a composite key (region text, id bigint) and a column of
# every type family of issue 14 (integers, numeric with 1,100 digits and NaN, float4/8
# with NaN, -0, +-Infinity and subnormals, text/varchar/char with unicode, quotes,
# backslashes and control characters, bytea with zero bytes, date/time types with
# infinity, BC and microseconds, uuid, json with duplicate keys and odd spacing, jsonb,
# network types, money, bit strings, ranges incl. empty, geometric types, tsvector/tsquery,
# xml, arrays with NULL elements, 2-D and with a lower bound of 0 or -5, a user enum and
# enum[], a domain, a user composite, an identity column GENERATED ALWAYS, a generated
# STORED column, a column with a DEFAULT that differs per database, NULL in every nullable
# column). In b the columns are in another order and the user types are created in another
# order (their OIDs differ); the identity of b starts at 1,000,000,001. The two databases
# get different defaults (ALTER DATABASE SET): TimeZone, DateStyle, IntervalStyle,
# extra_float_digits, bytea_output, search_path, and lc_monetary when de_DE.UTF-8 exists
# (scripts/deps.sh generates it). With snk running, four psql sessions per side insert
# 1,151 rows each concurrently under those defaults (keys disjoint: region 'a...' on a,
# 'b...' on b), one transaction holding its rows 4 s while the others commit, one taking
# its xid first and inserting last (commits out of order).
# Checks: both tables hold exactly the 2,302 rows inserted, and every row is identical by
# key, compared in one session of a (compare_by_key: b's rows copied with pinned settings;
# the identity, generated and defaulted columns compared like the others: a value snk left
# out would be b's own identity, expression or default); the generated column equals its
# expression on both sides; no reconcile repaired a row.
. "$(dirname "$0")/lib.sh"
it_init shape_types --no-migrate --no-trigger

# Columns in a's order; b gets the same definitions in another order (below).
cols_a=(
	"region text NOT NULL"
	"id bigint NOT NULL"
	"c_int2 smallint" "c_int4 integer" "c_int8 bigint" "c_num numeric" "c_f4 real" "c_f8 double precision"
	"c_bool boolean" "c_text text" "c_vc varchar(20)" "c_ch char(5)" "c_bytea bytea"
	"c_date date" "c_ts timestamp" "c_tstz timestamptz" "c_iv interval" "c_time time" "c_timetz timetz"
	"c_uuid uuid" "c_json json" "c_jsonb jsonb"
	"c_inet inet" "c_cidr cidr" "c_mac macaddr" "c_mac8 macaddr8" "c_money money" "c_bit bit(8)" "c_varbit varbit"
	"c_i4r int4range" "c_numr numrange" "c_tstzr tstzrange" "c_dater daterange"
	"c_point point" "c_line line" "c_lseg lseg" "c_box box" "c_path path" "c_poly polygon" "c_circle circle"
	"c_tsv tsvector" "c_tsq tsquery" "c_xml xml"
	"c_ia integer[]" "c_ta2 text[]" "c_lb integer[]"
	"c_enum mood" "c_enuma mood[]" "c_dom posint" "c_comp addr"
	"c_ident bigint GENERATED ALWAYS AS IDENTITY"
	"c_gen text GENERATED ALWAYS AS (region || '/' || id::text || '/' || coalesce(c_text, '-')) STORED"
	"c_dflt text DEFAULT 'default-a'"
)
table_sql() {
	local IFS=,
	echo "CREATE TABLE zoo ($*, PRIMARY KEY (region, id))"
}
q a "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'very ''happy''');
	CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
	CREATE TYPE addr AS (street text, zip integer, tags text[])"
q a "$(table_sql "${cols_a[@]}")"
# b: another creation order (and one type more first), so every user type's OID differs.
q b "CREATE TYPE unused_b AS ENUM ('x');
	CREATE TYPE addr AS (street text, zip integer, tags text[]);
	CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
	CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'very ''happy''')"
cols_b=()
for ((i = ${#cols_a[@]} - 1; i >= 0; i--)); do
	c=${cols_a[$i]}
	case $c in
	c_ident*) c="c_ident bigint GENERATED ALWAYS AS IDENTITY (START WITH 1000000001)" ;;
	c_dflt*) c="c_dflt text DEFAULT 'default-b'" ;;
	esac
	cols_b+=("$c")
	# The key columns in the middle of b's table, in the other order.
	[ $i != 30 ] || cols_b+=("id bigint NOT NULL" "region text NOT NULL")
done
cols_b=("${cols_b[@]:0:$((${#cols_b[@]} - 2))}")
q b "$(table_sql "${cols_b[@]}")"
oid_a=$(q a "SELECT string_agg(typname || '=' || oid, ' ' ORDER BY typname) FROM pg_type WHERE typname IN ('mood', 'posint', 'addr')")
oid_b=$(q b "SELECT string_agg(typname || '=' || oid, ' ' ORDER BY typname) FROM pg_type WHERE typname IN ('mood', 'posint', 'addr')")
[ "$oid_a" != "$oid_b" ] || fail "the user types have the same OIDs in a and b ($oid_a): the test needs them to differ"
order_a=$(q a "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'zoo'::regclass AND attnum > 0")
order_b=$(q b "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'zoo'::regclass AND attnum > 0")
[ "$order_a" != "$order_b" ] || fail "zoo has the same column order in a and b"
log "types: a $oid_a; b $oid_b"

# Different defaults per database: every session (the application's, snk's unless it pins
# its own) starts with them.
lcmon_a=C
if locale -a 2>/dev/null | grep -qix 'de_DE\.utf-\?8'; then
	lcmon_a=de_DE.UTF-8
	log "lc_monetary: de_DE.UTF-8 in a, C in b"
else
	log "lc_monetary: only C locales here (run scripts/deps.sh to generate de_DE.UTF-8): C in both"
fi
q a "ALTER DATABASE \"$DB\" SET TimeZone = 'Pacific/Chatham'; ALTER DATABASE \"$DB\" SET DateStyle = 'SQL, DMY';
	ALTER DATABASE \"$DB\" SET IntervalStyle = 'sql_standard'; ALTER DATABASE \"$DB\" SET extra_float_digits = -15;
	ALTER DATABASE \"$DB\" SET bytea_output = 'escape'; ALTER DATABASE \"$DB\" SET lc_monetary = '$lcmon_a';
	ALTER DATABASE \"$DB\" SET search_path = public, pg_catalog"
q b "ALTER DATABASE \"$DB\" SET TimeZone = 'America/St_Johns'; ALTER DATABASE \"$DB\" SET DateStyle = 'German';
	ALTER DATABASE \"$DB\" SET IntervalStyle = 'iso_8601'; ALTER DATABASE \"$DB\" SET extra_float_digits = 3;
	ALTER DATABASE \"$DB\" SET bytea_output = 'hex'; ALTER DATABASE \"$DB\" SET lc_monetary = 'C.UTF-8'"
[ "$(q a "SHOW DateStyle")" = "SQL, DMY" ] && [ "$(q b "SHOW IntervalStyle")" = iso_8601 ] ||
	fail "the database defaults are not in force"

write_config '"table": "zoo", "notify_channel": "snk_zoo"'
"$SNK" -c "$CFG" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; fail "snk migrate of zoo failed"; }
for side in a b; do
	psql_side "$(port_of $side)" -d "$DB" -v table=zoo -v channel=snk_zoo \
		-f "$SNK_SRC_DIR/migrations/notify_trigger.sql" >/dev/null 2>&1
	# it_pick(array, n): element n modulo the array's length (a helper of the generator only).
	q $side 'CREATE FUNCTION it_pick(anyarray, bigint) RETURNS anyelement LANGUAGE sql IMMUTABLE
		AS $$ SELECT $1[1 + $2 % array_length($1, 1)] $$'
done

# The generator: rows :lo..:hi of region prefix :'side', with every awkward value of each
# type spread over the rows (array lengths differ, so the combinations vary); every 13th
# row names only the key: NULL in every nullable column and c_dflt from the DEFAULT.
cat >"$WORK/gen.sql" <<'EOS'
INSERT INTO zoo (region, id, c_int2, c_int4, c_int8, c_num, c_f4, c_f8, c_bool, c_text, c_vc, c_ch,
	c_bytea, c_date, c_ts, c_tstz, c_iv, c_time, c_timetz, c_uuid, c_json, c_jsonb, c_inet, c_cidr,
	c_mac, c_mac8, c_money, c_bit, c_varbit, c_i4r, c_numr, c_tstzr, c_dater, c_point, c_line,
	c_lseg, c_box, c_path, c_poly, c_circle, c_tsv, c_tsq, c_xml, c_ia, c_ta2, c_lb, c_enum, c_enuma,
	c_dom, c_comp, c_dflt)
SELECT :'side' || it_pick(ARRAY['', ' ', 'é', '"q"', E'\\', '😀', 'Ä-ä', 'x''y'], g), g,
	it_pick(ARRAY[-32768, 32767, 0, -1, NULL]::int2[], g),
	it_pick(ARRAY[-2147483648, 2147483647, 0, NULL, 42]::int4[], g + 1),
	it_pick(ARRAY[-9223372036854775808, 9223372036854775807, 0, NULL]::int8[], g + 2),
	it_pick(ARRAY[('9' || repeat('0', 1100) || '.' || repeat('7', 200))::numeric, 'NaN', 'Infinity',
		'-Infinity', '-0.000000000000000000001', 0, 1.10, ('-' || repeat('1', 20000))::numeric, NULL], g),
	it_pick(ARRAY['NaN', '-0', 'Infinity', '-Infinity', '1.4e-45', '1e-40', '3.4028235e38', '0.1', NULL]::float4[], g + 3),
	it_pick(ARRAY['NaN', '-0', 'Infinity', '-Infinity', '1e-308', '5e-324', '2.2250738585072014e-308',
		'0.1', '1.7976931348623157e308', NULL]::float8[], g),
	it_pick(ARRAY[true, false, NULL], g),
	it_pick(ARRAY['', 'ünïcødé 😀 中文 ' || g, 'it''s "quoted"', 'back\slash \N \\N', E'ctl\x01\x7f tab\there nl\nend cr\r',
		' lead and trail ', repeat('long ', 400), NULL], g + 1),
	it_pick(ARRAY['', 'ä😀', 'twenty chars exactly', ' ', NULL], g),
	it_pick(ARRAY['', 'ab', 'ä😀 x', 'abcde', NULL]::char(5)[], g + 2),
	it_pick(ARRAY['\x00', '\x', '\x00ff00fe5c', decode(repeat('00ff', 500), 'hex'), E'\\x5c27', NULL]::bytea[], g),
	it_pick(ARRAY['infinity', '-infinity', '4713-01-01 BC', '0044-03-15 BC', '5874897-12-31', '2000-02-29', NULL]::date[], g),
	it_pick(ARRAY['infinity', '-infinity', '4713-01-01 00:00:00 BC', '294276-12-31 23:59:59.999999',
		'2000-02-29 12:34:56.000001', '1999-12-31 23:59:60', NULL]::timestamp[], g + 1),
	it_pick(ARRAY['infinity', '-infinity', '2024-03-31 02:30:00.123456+13:45', '0001-01-01 00:00:00+00 BC',
		'1970-01-01 00:00:00 America/St_Johns', '2024-04-07 02:45:00', '2000-01-01 00:00:00.000001', NULL]::timestamptz[], g),
	it_pick(ARRAY['178000000 years', '-178000000 years', '1 year 2 mons -3 days 04:05:06.000007',
		'P1Y2M3DT4H5M6.000007S', '-1 day +01:02:03', '00:00:00.000001', '0', '-2147483648 days', NULL]::interval[], g),
	it_pick(ARRAY['00:00:00', '23:59:59.999999', '24:00:00', '12:34:56.000001', NULL]::time[], g + 1),
	it_pick(ARRAY['00:00:00+15:59', '23:59:59.999999-15:59', '24:00:00+00', '12:00:00+05:30', NULL]::timetz[], g),
	it_pick(ARRAY['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
		gen_random_uuid(), NULL]::uuid[], g),
	it_pick(ARRAY['{"a":1,  "a" : 2,"b":[ 1 , 2 ]}', E'  [ ]\n\t', '"\u00e9 \u0000"', 'null',
		'{"n": 1.000000000000000000000001e400, "s": "\\ \" \/"}', NULL]::json[], g),
	it_pick(ARRAY['{"a":1,"a":2}', '{"k": "ü\u00e9 \"q\"", "n": 1.000000000000000000001, "arr": [null, true, {}]}',
		'[]', '"str"', 'null', '1e400', NULL]::jsonb[], g + 1),
	it_pick(ARRAY['192.168.0.1/24', '::ffff:1.2.3.4', '2001:db8::1/128', '0.0.0.0/0', NULL]::inet[], g),
	it_pick(ARRAY['10.0.0.0/8', '2001:db8::/32', '192.168.1.0/24', NULL]::cidr[], g),
	it_pick(ARRAY['08:00:2b:01:02:03', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00', NULL]::macaddr[], g + 2),
	it_pick(ARRAY['08:00:2b:01:02:03:04:05', '08:00:2b:01:02:03', NULL]::macaddr8[], g),
	it_pick(ARRAY[-92233720368547758.08, 92233720368547758.07, 0, 1234567.89, -0.01, NULL]::numeric[], g)::money,
	it_pick(ARRAY[B'10101010', B'00000000', B'11111111', NULL]::bit(8)[], g),
	it_pick(ARRAY[B'', B'1', B'1010101010101010101010101', NULL]::varbit[], g + 1),
	it_pick(ARRAY['[1,10)', 'empty', '(,5]', '[-2147483648,)', '(,)', NULL]::int4range[], g),
	it_pick(ARRAY['(,1.5]', '[0.000001,1e30)', 'empty', '[-1e-20,-1e-20]', NULL]::numrange[], g),
	it_pick(ARRAY['[2024-01-01 00:00+00,infinity)', '(-infinity,2000-01-01 00:00:00.000001+05:45]', 'empty', NULL]::tstzrange[], g),
	it_pick(ARRAY['[-infinity,2024-01-01)', '[0044-03-15 BC,2000-02-29]', 'empty', NULL]::daterange[], g + 1),
	it_pick(ARRAY['(1.5,-2e-300)', '(NaN,Infinity)', '(-0,0)', NULL]::point[], g),
	it_pick(ARRAY['{1,-1,0}', '{0,1,-5e-300}', NULL]::line[], g),
	it_pick(ARRAY['[(0,0),(1,1)]', '[(-1e300,1e300),(0.1,-0)]', NULL]::lseg[], g),
	it_pick(ARRAY['((1,1),(0,0))', '((-0,-0),(0.1,0.2))', NULL]::box[], g + 1),
	it_pick(ARRAY['[(0,0),(1,1),(2,0)]', '((0,0),(1,1))', NULL]::path[], g),
	it_pick(ARRAY['((0,0),(1,0),(0,1))', '((0.1,0.2))', NULL]::polygon[], g + 2),
	it_pick(ARRAY['<(0,0),1.5>', '<(1e-300,-1e300),0>', NULL]::circle[], g),
	it_pick(ARRAY['a:1A fat:2B,4C cat:5D', $$'it''s' 'a b':3 fat:1$$, '', NULL]::tsvector[], g),
	it_pick(ARRAY['fat & (rat | !cat) <-> dog', $$'a b':* & !x$$, NULL]::tsquery[], g + 1),
	it_pick(ARRAY['<a b="1">x &amp; y</a>', 'text only', '<?xml version="1.0"?><r/>', '<x/>  <y>ü</y>', NULL]::xml[], g),
	CASE g % 5 WHEN 0 THEN '{1,NULL,3}'::int[] WHEN 1 THEN '{}' WHEN 2 THEN '{NULL}' WHEN 3 THEN '{-2147483648}' END,
	CASE g % 4 WHEN 0 THEN '{{"a","b"},{"c",NULL}}'::text[] WHEN 1 THEN '{{"","\\"},{"\"q\"","😀"}}'
		WHEN 2 THEN '{}' END,
	CASE g % 4 WHEN 0 THEN '[0:2]={1,2,3}'::int[] WHEN 1 THEN '[-5:-4][1:1]={{7},{8}}' WHEN 2 THEN '[1:1]={NULL}' END,
	it_pick(ARRAY['sad', 'ok', 'very ''happy''', NULL]::mood[], g),
	CASE g % 3 WHEN 0 THEN ARRAY['sad', 'very ''happy''', NULL]::mood[] WHEN 1 THEN '{}' END,
	it_pick(ARRAY[1, 2147483647, NULL]::posint[], g),
	CASE g % 4 WHEN 0 THEN ROW('Main St. "1", \ back', 12345, ARRAY['x', NULL, ''])::addr
		WHEN 1 THEN ROW(NULL, NULL, NULL)::addr WHEN 2 THEN ROW('', 0, '{}')::addr END,
	CASE WHEN g % 2 = 0 THEN NULL ELSE 'explicit ' || g END
FROM generate_series(:lo, :hi) g WHERE g % 13 <> 0;
INSERT INTO zoo (region, id) SELECT :'side' || 'null', g FROM generate_series(:lo, :hi) g WHERE g % 13 = 0;
EOS
[ "$(psql_side "$SNK_IT_PORT_A" -d "$DB" -v side=probe -v lo=1 -v hi=0 -f "$WORK/gen.sql" 2>&1)" = "" ] ||
	fail "the generator does not run: $(psql_side "$SNK_IT_PORT_A" -d "$DB" -v side=probe -v lo=1 -v hi=0 -f "$WORK/gen.sql" 2>&1)"

# The sessions of one side (all started at once): two committing 15 transactions of 30
# rows each, one holding 200 rows uncommitted for 4 s while the others commit, one taking
# its xid first and inserting last; then one row of large values (300 kB text, 1 MB bytea).
load_side() {
	local side=$1 port f i
	port=$(port_of "$side")
	for s in 1 2; do
		f=$WORK/load-$side-$s.sql
		: >"$f"
		for i in $(seq 0 14); do
			printf 'BEGIN;\n\\set lo %d\n\\set hi %d\n\\i %s\nCOMMIT;\nSELECT pg_sleep(0.1);\n' \
				$((s * 1000 + i * 30 + 1)) $((s * 1000 + i * 30 + 30)) "$WORK/gen.sql" >>"$f"
		done
		psql_side "$port" -d "$DB" -v side="$side" -f "$f" >/dev/null &
		LOAD_PIDS+=($!)
	done
	psql_side "$port" -d "$DB" -v side="$side" >/dev/null <<EOT &
BEGIN;
\\set lo 3001
\\set hi 3100
\\i $WORK/gen.sql
SELECT pg_sleep(4);
\\set lo 3101
\\set hi 3200
\\i $WORK/gen.sql
COMMIT;
EOT
	LOAD_PIDS+=($!)
	psql_side "$port" -d "$DB" -v side="$side" >/dev/null <<EOT &
BEGIN;
SELECT pg_current_xact_id();
SELECT pg_sleep(3);
\\set lo 4001
\\set hi 4050
\\i $WORK/gen.sql
COMMIT;
INSERT INTO zoo (region, id, c_text, c_bytea, c_jsonb, c_num)
	SELECT '${side}big', 9000, repeat('ü', 150000), decode(repeat('00ab', 500000), 'hex'),
		jsonb_build_object('k', repeat('x', 100000)), ('1' || repeat('0', 5000))::numeric;
EOT
	LOAD_PIDS+=($!)
}
inserted_per_side=$((2 * 15 * 30 + 200 + 50 + 1))
total=$((2 * inserted_per_side))

snk_start
LOAD_PIDS=()
load_side a
load_side b
BG_PIDS+=("${LOAD_PIDS[@]}")
for p in "${LOAD_PIDS[@]}"; do wait "$p" || fail "a load session failed"; done
log "inserted $inserted_per_side rows on each side"
[ "$(q a "SELECT count(*) FROM zoo WHERE region LIKE 'a%'")" = "$inserted_per_side" ] || fail "a does not hold its own $inserted_per_side rows"
[ "$(q b "SELECT count(*) FROM zoo WHERE region LIKE 'b%'")" = "$inserted_per_side" ] || fail "b does not hold its own $inserted_per_side rows"
wait_for a "SELECT count(*) FROM zoo" "$total" 60
wait_for b "SELECT count(*) FROM zoo" "$total" 60
compare_by_key zoo "region, id"
[ "$CMP_ROWS" = "$total" ] || fail "b has $CMP_ROWS rows, want $total"
for side in a b; do
	n=$(q $side "SELECT count(*) FROM zoo WHERE c_gen IS DISTINCT FROM region || '/' || id::text || '/' || coalesce(c_text, '-')")
	[ "$n" = 0 ] || fail "$n rows of $side have a c_gen that is not its expression"
done
# Each side's identity sequence only numbered its own rows: the copies kept theirs.
[ "$(q b "SELECT count(*) FROM zoo WHERE region LIKE 'a%' AND c_ident >= 1000000001")" = 0 ] ||
	fail "rows from a got b's identity values"
# Each side's DEFAULT filled only its own rows: the copies kept the other side's value.
[ "$(q b "SELECT count(*) FROM zoo WHERE region LIKE 'a%' AND c_dflt = 'default-b'")" = 0 ] &&
	[ "$(q a "SELECT count(*) FROM zoo WHERE region LIKE 'b%' AND c_dflt = 'default-a'")" = 0 ] ||
	fail "the DEFAULT of c_dflt replaced copied values"
[ "$(q b "SELECT count(*) FROM zoo WHERE region LIKE 'a%' AND c_dflt = 'default-a'")" -gt 0 ] ||
	fail "no row of a has c_dflt from its DEFAULT: the check above would check nothing"
assert_tail_only # nothing changed the tables behind snk's back: no reconcile repaired a row
# verify hashes every row's text inside each database, under each one's own defaults but
# for the settings snk pins: it must find the identical tables identical, and one changed
# value (-0 for 0: equal under =, not as text) different.
"$SNK" -c "$CFG" verify >"$WORK/verify.out" 2>&1 || fail "verify of the identical zoo: $(cat "$WORK/verify.out")"
grep -q '^IDENTICAL' "$WORK/verify.out" || fail "verify did not say IDENTICAL: $(cat "$WORK/verify.out")"
snk_stop || fail "snk did not stop cleanly"
key=$(q a "SELECT region || ',' || id FROM zoo WHERE c_f8 = 0 AND region LIKE 'a%' LIMIT 1")
[ -n "$key" ] || fail "no row of a with c_float8 = 0 to change"
q b "SET snk.copy = on; UPDATE zoo SET c_f8 = CASE WHEN c_f8::text = '-0' THEN '0'::float8 ELSE '-0'::float8 END WHERE region || ',' || id = '$key'"
rc=0
"$SNK" -c "$CFG" verify >"$WORK/verify.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "different data: 1" "$WORK/verify.out" ||
	fail "verify did not find the one changed float ($key), exit $rc: $(cat "$WORK/verify.out")"
it_pass "zoo of $(echo "$order_a" | tr ',' '\n' | grep -c .) columns, $total rows inserted concurrently on both sides under different defaults (lc_monetary $lcmon_a/C.UTF-8): identical by key"
