#!/usr/bin/env bash
# bench/write_instructions.sh - what snk costs the application's inserts, counted in CPU
# instructions: a figure that does not drift with the machine (bench/write_overhead.sh
# measures time, which on a shared 2-core VM varies by a third between runs).
#
# One throwaway cluster; the server runs in single-user mode under callgrind, once per
# table layout and write path, with nothing else in the process:
#   plain     records(id uuid PRIMARY KEY, data text NOT NULL)
#   bare      + snk_xid bigint DEFAULT txid_current() and its BRIN index, no trigger (snk
#             before the trigger snk_xid_stamp)
#   brin      what `snk migrate` creates: + snk_xid bigint DEFAULT txid_current(), a BRIN
#             index, and the AFTER INSERT trigger snk_xid_stamp (its WHEN is false for
#             every row that takes the default)
#   before    the same with a BEFORE INSERT trigger instead (the design not chosen: it
#             turns COPY's batched inserts off)
#   btree     + snk_xid xid8 DEFAULT pg_current_xact_id(), btree index (older snk versions)
# Write paths: COPY of the same ROWS rows from a file; BATCHES single-statement
# transactions of INSERT ... SELECT 1000 rows (tst's shape). Instructions of the server
# starting and stopping are measured alone and subtracted.
# Prints instructions per row and the overhead over plain; writes bench/results/write_instructions.json.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
ROWS=${ROWS:-100000}
BATCHES=${BATCHES:-100}
. scripts/deps.sh
. bench/lib.sh
snk_install_deps
B=$(snk_pgbin)
build=${SNK_BUILD_DIR:-build-release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$build" -j"$(nproc)" >/dev/null
user=$(id -un)
[ "$(id -u)" != 0 ] || user=${SNK_TEST_USER:-nobody}
as() { if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi; }
D=$(mktemp -d /tmp/snk-instr.XXXXXX)
chmod 755 "$D"
[ "$(id -u)" != 0 ] || chown "$user" "$D"
pm=
cleanup() {
	[ -z "$pm" ] || as "$B/pg_ctl" -w -D "$D/data" stop >/dev/null 2>&1 || true
	rm -rf "$D"
}
trap cleanup EXIT
as "$B/initdb" -A trust -U postgres --nosync -E UTF8 --locale=C -D "$D/data" >/dev/null
as "$B/pg_ctl" -w -D "$D/data" -l "$D/log" -o "-k $D -c listen_addresses=''" start >/dev/null
pm=1
Q() { psql -X -q -v ON_ERROR_STOP=1 -h "$D" -U postgres "$@"; }
VARIANTS="plain bare brin before btree"
for v in $VARIANTS brin_peer; do Q -d postgres -c "CREATE DATABASE $v"; done
Q -d plain -c "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL)"
cat >"$D/brin.json" <<EOT
{"databases": {"a": "host=$D user=postgres dbname=brin", "b": "host=$D user=postgres dbname=brin_peer"},
 "control_socket": "$D/snk.sock"}
EOT
"$build/snk" -c "$D/brin.json" migrate >/dev/null
Q -d bare -c "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL, snk_xid bigint DEFAULT txid_current())" \
	-c "CREATE INDEX ON records USING brin (snk_xid) WITH (pages_per_range = 32)"
Q -d before -c "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL, snk_xid bigint DEFAULT txid_current())" \
	-c "CREATE INDEX ON records USING brin (snk_xid) WITH (pages_per_range = 32)" \
	-c "CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN NEW.snk_xid := pg_catalog.txid_current(); RETURN NEW; END'" \
	-c "CREATE TRIGGER snk_xid_stamp BEFORE INSERT ON records FOR EACH ROW WHEN (NEW.snk_xid IS DISTINCT FROM pg_catalog.txid_current() AND pg_catalog.current_setting('snk.copy', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION stamp()"
Q -d btree -c "CREATE TABLE records (id uuid PRIMARY KEY, data text NOT NULL, snk_xid xid8 DEFAULT pg_current_xact_id())" \
	-c "CREATE INDEX ON records (snk_xid)"
Q -d plain -c "COPY (SELECT gen_random_uuid(), md5(i::text) || repeat('x', i % 64) FROM generate_series(1, $ROWS) i) TO '$D/rows.copy'"
for i in $(seq 1 "$BATCHES"); do
	echo "INSERT INTO records (id, data) SELECT gen_random_uuid(), md5(i::text) || repeat('x', i % 64) FROM generate_series(1, 1000) i"
done >"$D/inserts.sql"
chmod 644 "$D/rows.copy" "$D/inserts.sql"
as "$B/pg_ctl" -w -D "$D/data" stop >/dev/null
pm=
# ir DB FILE: instructions of a single-user server that runs FILE's statements in DB.
ir() {
	as valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/postgres" --single -j -D "$D/data" "$1" \
		<"$2" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "SELECT 1;" >"$D/empty.sql"
printf "COPY records (id, data) FROM '%s';\n\n" "$D/rows.copy" >"$D/copy.sql"
sed 's/$/;\n/' "$D/inserts.sql" >"$D/inserts.j.sql" # -j: a statement ends at ';' and an empty line
base=$(ir plain "$D/empty.sql")
declare -A per
for v in $VARIANTS; do
	for kind in copy insert; do
		f=$D/copy.sql n=$ROWS
		[ "$kind" = copy ] || f=$D/inserts.j.sql n=$((BATCHES * 1000))
		per[$kind.$v]=$((($(ir "$v" "$f") - base) / n))
	done
done
pct() { echo "scale=1; (${per[$1.$2]} - ${per[$1.plain]}) * 100 / ${per[$1.plain]}" | bcx; }
printf '%-30s %8s %16s %16s %16s %16s\n' "instructions per row" plain "brin, no trigger" "brin (snk)" "before-trigger" \
	"btree (old)"
for k in copy insert; do
	what="COPY of $ROWS rows"
	[ $k = copy ] || what="$BATCHES x INSERT of 1000 rows"
	printf '%-30s %8s %16s %16s %16s %16s\n' "$what" "${per[$k.plain]}" "${per[$k.bare]} +$(pct $k bare)%" \
		"${per[$k.brin]} +$(pct $k brin)%" \
		"${per[$k.before]} +$(pct $k before)%" "${per[$k.btree]} +$(pct $k btree)%"
done
mkdir -p "$top/bench/results"
cat >"$top/bench/results/write_instructions.json" <<EOT
{"date": "$(date -u +%FT%TZ)", "rows": $ROWS, "batches": $BATCHES, "unit": "instructions per row",
 "copy": {"plain": ${per[copy.plain]}, "bare": ${per[copy.bare]}, "brin": ${per[copy.brin]}, "before": ${per[copy.before]}, "btree": ${per[copy.btree]},
          "brin_pct": $(pct copy brin), "before_pct": $(pct copy before), "btree_pct": $(pct copy btree)},
 "insert": {"plain": ${per[insert.plain]}, "bare": ${per[insert.bare]}, "brin": ${per[insert.brin]}, "before": ${per[insert.before]}, "btree": ${per[insert.btree]},
            "brin_pct": $(pct insert brin), "before_pct": $(pct insert before), "btree_pct": $(pct insert btree)}}
EOT
