# shellcheck shell=bash
# tables_lib.sh - sourced after lib.sh by the tests of many tables in one snk (tables_*.sh):
# the mixed shapes of issue 14 as a generator of tables, a load function that inserts into
# random tables in small transactions and counts what it committed in a ledger, the NOTIFY
# trigger on every table, a digest of every table in one query per side, and snk's sessions
# as pg_stat_activity sees them.

# The shapes (one of issue 14's each): uuid key, bigint identity key, composite key, text
# key (a's keys 'a<n>', b's 'A<n>': apart only by case), no variable-length column, a few
# of many types, and a key that is a unique constraint over a NOT NULL column (no primary key).
# shellcheck disable=SC2034 # used by the tests that source this file
TABLES_SHAPES=(uuid ident comp text fixed types uniq)

# shape_ddl SHAPE NAME SIDE: CREATE TABLE of NAME (schema-qualified) in that shape. The
# identity of b starts far from a's, as an operator's would (the two never collide).
shape_ddl() {
	local start=1
	[ "$3" = a ] || start=1000000000001
	case $1 in
	uuid) echo "CREATE TABLE $2 (id uuid PRIMARY KEY, side text NOT NULL, data text NOT NULL)" ;;
	ident) echo "CREATE TABLE $2 (id bigint GENERATED ALWAYS AS IDENTITY (START WITH $start) PRIMARY KEY, side text NOT NULL, data text)" ;;
	comp) echo "CREATE TABLE $2 (tenant_id int, order_no bigint, side text NOT NULL, amount numeric(12,2), PRIMARY KEY (tenant_id, order_no))" ;;
	text) echo "CREATE TABLE $2 (k text PRIMARY KEY, side text NOT NULL, v text)" ;;
	fixed) echo "CREATE TABLE $2 (id bigint PRIMARY KEY, n int NOT NULL, f float8, ts timestamptz, ok boolean)" ;;
	types) echo "CREATE TABLE $2 (id bigint PRIMARY KEY, side text NOT NULL, c_num numeric, c_jsonb jsonb, c_json json,
		c_bytea bytea, c_tstz timestamptz, c_ts timestamp, c_iv interval, c_ia int[], c_ta text[], c_inet inet, c_f4 real,
		c_date date, c_uuid uuid, c_vc varchar(30), c_ch char(4), c_bit varbit, c_r int4range, c_money money)" ;;
	uniq) echo "CREATE TABLE $2 (code text NOT NULL, side text NOT NULL, n bigint, CONSTRAINT ${2#*.}_code UNIQUE (code))" ;;
	*) fail "shape_ddl: no shape $1" ;;
	esac
}

# shape_key SHAPE: the key columns (what an object entry of "tables" names as "key").
shape_key() {
	case $1 in
	uuid | ident | fixed | types) echo id ;;
	comp) echo "tenant_id, order_no" ;;
	text) echo k ;;
	uniq) echo code ;;
	esac
}

# shape_insert SHAPE: the INSERT of $2 rows into table @T@ for side $1 (a template for
# EXECUTE ... USING side, n). Keys come from the database's own sequence it_seq, made
# disjoint per side: by sign, by tenant, by prefix, by identity start.
shape_insert() {
	case $1 in
	uuid) cat <<'EOS' ;;
INSERT INTO @T@ (id, side, data) SELECT gen_random_uuid(), $1, 'row ' || g || ' of ' || $1 FROM generate_series(1, $2) g
EOS
	ident) cat <<'EOS' ;;
INSERT INTO @T@ (side, data) SELECT $1, CASE WHEN g % 7 = 0 THEN NULL ELSE md5(random()::text) END FROM generate_series(1, $2) g
EOS
	comp) cat <<'EOS' ;;
INSERT INTO @T@ SELECT CASE WHEN $1 = 'a' THEN 1 ELSE 101 END + s % 5, s, $1, round((random() * 100000)::numeric, 2)
	FROM (SELECT nextval('it_seq') AS s FROM generate_series(1, $2)) g
EOS
	text) cat <<'EOS' ;;
INSERT INTO @T@ SELECT CASE WHEN $1 = 'a' THEN 'a' ELSE 'A' END || nextval('it_seq'), $1,
	CASE WHEN g % 5 = 0 THEN NULL ELSE repeat('ü', g) || E' \\ " '' \t' END FROM generate_series(1, $2) g
EOS
	fixed) cat <<'EOS' ;;
INSERT INTO @T@ SELECT CASE WHEN $1 = 'a' THEN 1 ELSE -1 END * nextval('it_seq'), (random() * 1e6)::int,
	CASE WHEN g % 3 = 0 THEN '-0'::float8 WHEN g % 3 = 1 THEN random() END,
	'2000-01-01 00:00:00+00'::timestamptz + random() * interval '9000 days', random() < 0.5 FROM generate_series(1, $2) g
EOS
	types) cat <<'EOS' ;;
INSERT INTO @T@ SELECT CASE WHEN $1 = 'a' THEN 1 ELSE -1 END * nextval('it_seq'), $1,
	(ARRAY['NaN', '-0.000000000000000000001', ('9' || repeat('0', 300))::numeric, NULL, 1.10])[1 + g % 5],
	(ARRAY['{"a": 1, "b": [null, true, {}]}', '"ü \u00e9"', '[]', NULL]::jsonb[])[1 + g % 4],
	(ARRAY['{"a":1,  "a" : 2}', E'  [ ]\n', NULL]::json[])[1 + g % 3],
	(ARRAY['\x00', '\x', '\x00ff5c27', NULL]::bytea[])[1 + g % 4],
	(ARRAY['infinity', '-infinity', '2024-03-31 02:30:00.123456+13:45', NULL]::timestamptz[])[1 + g % 4],
	(ARRAY['4713-01-01 00:00:00 BC', '2000-02-29 12:34:56.000001', NULL]::timestamp[])[1 + g % 3],
	(ARRAY['1 year 2 mons -3 days 04:05:06.000007', '-178000000 years', NULL]::interval[])[1 + g % 3],
	CASE g % 3 WHEN 0 THEN '{1,NULL,3}'::int[] WHEN 1 THEN '[0:1]={7,8}' END,
	CASE g % 3 WHEN 0 THEN '{{"","\\"},{"\"q\"",NULL}}'::text[] WHEN 1 THEN '{}' END,
	(ARRAY['::ffff:1.2.3.4', '192.168.0.1/24', NULL]::inet[])[1 + g % 3],
	(ARRAY['NaN', '-0', 'Infinity', '1.4e-45', NULL]::real[])[1 + g % 5],
	(ARRAY['infinity', '0044-03-15 BC', '2000-02-29', NULL]::date[])[1 + g % 4],
	gen_random_uuid(), repeat('x', g % 30), (ARRAY['', 'ab', 'äöü', NULL]::char(4)[])[1 + g % 4],
	(ARRAY[B'', B'101', NULL]::varbit[])[1 + g % 3], (ARRAY['empty', '[1,10)', '(,5]', NULL]::int4range[])[1 + g % 4],
	(ARRAY[-92233720368547758.08, 0.01, NULL]::numeric[])[1 + g % 3]::money
	FROM generate_series(1, $2) g
EOS
	uniq) cat <<'EOS' ;;
INSERT INTO @T@ SELECT $1 || '-' || nextval('it_seq'), $1, g FROM generate_series(1, $2) g
EOS
	*) fail "shape_insert: no shape $1" ;;
	esac
}

# tables_setup SIDE NAME:SHAPE...: creates the tables on SIDE (schemas as named), the
# sequence it_seq, the side marker it_conf, the ledger it_ledger (table, rows) and it_tables
# (each table's insert template; the load picks from the active ones), it_ins(table, n)
# and it_touch(n) (n rows into one table, into every active one), and it_txn(): one transaction of
# 1 to 5 rows into one random table, or (3 in 10) into 2 to 4 random tables at once, each
# insert counted in the ledger in the same transaction. None of it_* is synced.
tables_setup() {
	local side=$1 nt shape sql
	shift
	sql="SET client_min_messages = warning; CREATE SEQUENCE it_seq; CREATE TABLE it_conf (side text NOT NULL);
		INSERT INTO it_conf VALUES ('$side');
		CREATE TABLE it_ledger (name text NOT NULL, n int NOT NULL);
		CREATE TABLE it_tables (name text PRIMARY KEY, ins text NOT NULL, active boolean NOT NULL DEFAULT true);"
	for nt in "$@"; do
		shape=${nt##*:}
		nt=${nt%:*}
		case $nt in *.*) sql="$sql CREATE SCHEMA IF NOT EXISTS ${nt%%.*};" ;; esac
		sql="$sql $(shape_ddl "$shape" "$nt" "$side"); INSERT INTO it_tables VALUES ('$nt', \$it\$$(shape_insert "$shape")\$it\$);"
	done
	q "$side" "$sql" >/dev/null
	psql_side "$(port_of "$side")" -d "$DB" >/dev/null <<'EOS'
CREATE FUNCTION it_txn() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	s text := (SELECT side FROM it_conf);
	ntab int := CASE WHEN random() < 0.3 THEN 2 + floor(random() * 3)::int ELSE 1 END;
	t record;
	n int;
BEGIN
	FOR t IN SELECT name, ins FROM it_tables WHERE active ORDER BY random() LIMIT ntab LOOP
		n := 1 + floor(random() * 5)::int;
		EXECUTE replace(t.ins, '@T@', t.name) USING s, n;
		INSERT INTO it_ledger VALUES (t.name, n);
	END LOOP;
END $$;
-- it_ins(table, n): n rows into one table of it_tables, counted.
CREATE FUNCTION it_ins(tname text, n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE replace((SELECT ins FROM it_tables WHERE name = tname), '@T@', tname) USING (SELECT side FROM it_conf), n;
	INSERT INTO it_ledger VALUES (tname, n);
END $$;
-- it_touch(n): n rows (default 1) into every active table of it_tables, counted.
CREATE FUNCTION it_touch(n int DEFAULT 1) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM it_ins(name, n) FROM it_tables WHERE active;
END $$;
EOS
}

# tables_install_triggers SIDE CHANNEL TABLE...: migrations/notify_trigger.sql on every
# TABLE (schema-qualified), in one psql session; for a table outside public with that
# schema first in search_path, as the trigger file's users do.
tables_install_triggers() {
	local side=$1 channel=$2 t
	shift 2
	for t in "$@"; do
		printf 'SET search_path = %s, public;\n\\set table %s\n\\i %s\n' "${t%%.*}" "${t#*.}" "$SNK_SRC_DIR/migrations/notify_trigger.sql"
	done | PGOPTIONS='-c client_min_messages=warning' psql_side "$(port_of "$side")" -d "$DB" -v channel="$channel" >/dev/null ||
		fail "installing the notify trigger on $side failed"
	local n
	n=$(q "$side" "SELECT count(*) FROM pg_trigger WHERE tgname = 'snk_notify'")
	[ "$n" -ge "$#" ] || fail "$side has $n snk_notify triggers, want $#"
}

# tables_digest_sql TABLE...: (from a's catalog) one query printing "table|rows|md5" for
# each TABLE, the md5 over the sorted md5s of every row's text (every column but snk_xid,
# in a's order, by name): two databases print the same line for a table only if they hold
# the same rows. Run under IT_PINNED, so the text does not depend on the session.
tables_digest_sql() {
	psql_side "$SNK_IT_PORT_A" -d "$DB" -At -v tables="$*" <<'EOS'
SELECT string_agg(format($f$SELECT %L AS t, count(*) AS n, md5(coalesce(string_agg(h, '' ORDER BY h), '')) AS h
	FROM (SELECT md5(row(%s)::text) AS h FROM %s) s$f$, t.name,
	(SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
	 WHERE attrelid = t.name::regclass AND attnum > 0 AND NOT attisdropped AND attname <> 'snk_xid'),
	t.name::regclass), E'\nUNION ALL ' ORDER BY t.ord) || E'\nORDER BY 1'
FROM unnest(string_to_array(:'tables', ' ')) WITH ORDINALITY t(name, ord)
EOS
}

# tables_digest SIDE SQL: the digest lines of one side (SQL from tables_digest_sql).
tables_digest() {
	PGOPTIONS=$IT_PINNED q "$1" "$2"
}

# tables_wait_synced TIMEOUT_S TABLE...: until every TABLE holds the same rows on both
# sides (digests equal); fails naming the tables that still differ.
tables_wait_synced() {
	local timeout=$1 start=$SECONDS sql da db
	shift
	sql=$(tables_digest_sql "$@")
	while :; do
		da=$(tables_digest a "$sql")
		db=$(tables_digest b "$sql")
		[ "$da" != "$db" ] || return 0
		if [ $((SECONDS - start)) -ge "$timeout" ]; then
			echo "tables that differ after ${timeout}s (table|rows|md5, a then b):" >&2
			diff <(echo "$da") <(echo "$db") | grep '^[<>]' | head -20 >&2
			fail "$(diff <(echo "$da") <(echo "$db") | grep -c '^<') of $# tables still differ after ${timeout}s"
		fi
		sleep 0.5
	done
}

# tables_assert_identical TABLE...: every TABLE identical on both sides, by digest, and by
# key (compare_by_key, which names the differing keys) for each one that is not.
tables_assert_identical() {
	local sql da db t key
	sql=$(tables_digest_sql "$@")
	da=$(tables_digest a "$sql")
	db=$(tables_digest b "$sql")
	[ "$(echo "$da" | wc -l)" = "$#" ] || fail "the digest of a has $(echo "$da" | wc -l) lines for $# tables"
	[ "$da" != "$db" ] || return 0
	for t in $(diff <(echo "$da") <(echo "$db") | sed -n 's/^< \([^|]*\)|.*/\1/p'); do
		key=$(table_key "$t")
		compare_by_key "$t" "$key"
	done
	fail "digests differ but compare_by_key found no difference: $(diff <(echo "$da") <(echo "$db") | head -4)"
}

# table_key TABLE: its primary key's columns in a, else its unique constraint's.
table_key() {
	q a "SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.i) FROM (
		SELECT indkey, indrelid FROM pg_index WHERE indrelid = '$1'::regclass AND indisunique
		ORDER BY indisprimary DESC LIMIT 1) x CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY k(attnum, i)
		JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum"
}

# tables_ledger SIDE: "table|rows" lines, what the load committed on SIDE per table.
tables_ledger() {
	q "$1" "SELECT t.name || '|' || coalesce(sum(l.n), 0) FROM it_tables t LEFT JOIN it_ledger l USING (name) GROUP BY t.name ORDER BY 1"
}

# tables_assert_counts TABLE...: each TABLE holds, on both sides, exactly the rows the two
# ledgers say were committed into it (nothing lost, nothing duplicated, nothing invented).
tables_assert_counts() {
	local t want ga gb
	declare -A la lb
	while IFS='|' read -r t n; do la[$t]=$n; done < <(tables_ledger a)
	while IFS='|' read -r t n; do lb[$t]=$n; done < <(tables_ledger b)
	for t in "$@"; do
		want=$((${la[$t]:-0} + ${lb[$t]:-0}))
		ga=$(q a "SELECT count(*) FROM $t")
		gb=$(q b "SELECT count(*) FROM $t")
		[ "$ga" = "$want" ] && [ "$gb" = "$want" ] ||
			fail "$t holds $ga rows in a and $gb in b; the load committed $want (${la[$t]:-0} on a, ${lb[$t]:-0} on b)"
	done
}

# snk_sessions SIDE: "count names" of snk's sessions in this test's database on SIDE.
snk_sessions() {
	q "$1" "SELECT count(*) || ' ' || coalesce(string_agg(application_name, ',' ORDER BY application_name), '-')
		FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'snk %'"
}

# run_load SIDE SECONDS CLIENTS RATE OUT: pgbench calling it_txn() (one transaction each)
# on SIDE; fails unless every transaction committed.
run_load() {
	local side=$1 out=$5
	echo 'SELECT it_txn();' >"$WORK/load-$side.sql"
	"$SNK_IT_PGBIN/pgbench" -n -h 127.0.0.1 -p "$(port_of "$side")" -U postgres -c "$3" -j 1 -T "$2" -R "$4" \
		-f "$WORK/load-$side.sql" "$DB" >"$out" 2>&1 || { cat "$out" >&2; return 1; }
	grep -q '^number of failed transactions: 0 ' "$out" || { cat "$out" >&2; return 1; }
}

# load_committed OUT: the transactions pgbench committed, from its output.
load_committed() {
	sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1"
}

# tables_json TABLE...: the value of "tables" for the config, as JSON lines: every third
# table as "schema.table", every third as "table" (schema public by default), every third
# as {"table": ..., "key": [...]}; TABLE is NAME:SHAPE or a literal entry ("app.*").
tables_json() {
	local i=0 nt t shape out=
	for nt in "$@"; do
		case $nt in
		*:*)
			t=${nt%:*}
			shape=${nt##*:}
			case $((i % 3)) in
			0) out="$out\"$t\"" ;;
			1) [ "${t%%.*}" = public ] && out="$out\"${t#public.}\"" || out="$out\"$t\"" ;;
			2) out="$out{\"table\": \"$t\", \"key\": [$(shape_key "$shape" | sed 's/ //g; s/,/", "/g; s/^/"/; s/$/"/')]}" ;;
			esac
			i=$((i + 1))
			;;
		*) out="$out\"$nt\"" ;;
		esac
		out="$out, "
	done
	echo "[${out%, }]"
}
