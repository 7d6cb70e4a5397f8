#!/usr/bin/env bash
# bench/load_tail.sh - where the tail of the latency under load goes (issue 19; not a test:
# it prints figures). bench/lib.sh's durable clusters (BENCH_WAL_SEGMENTS as there); snk at
# log level noise (every pass's start, the moment its last batch is sent, its commit);
# tst at full speed for LOAD_SECONDS (30) with the probe every 50 ms; and every 5 ms,
# pg_stat_activity on b: what each backend of snk's write sessions waits for.
# Prints, per direction: windows, rows per window, the time of a pass from its start to
# its commit, split at the moment its last batch was sent (read: the source's answers,
# and the earlier batches' commits the last one waits for; apply: the last batch with the
# cursors, to its commit), and the batches per pass (status; 1: a window commits once);
# then b.write's wait events, and the probe's slowest samples with the windows of their
# direction that committed while each waited.
# SNK_EXTRA_CONFIG: more members of snk's config, as in bench/run (e.g. '"batch_rows": 500').
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
LOAD_SECONDS=${LOAD_SECONDS:-30}
. bench/lib.sh
bench_setup
work=$SNK_IT_ROOT/tail
mkdir -p "$work"
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do P "$port" -d postgres -c "CREATE DATABASE bench"; done
cfg=$work/config.json
bench_config "$cfg" bench "$work/snk.sock" "\"log_level\": \"noise\"${SNK_EXTRA_CONFIG:+, $SNK_EXTRA_CONFIG}"
"$build/snk" -c "$cfg" migrate >/dev/null
for port in $SNK_IT_PORT_A $SNK_IT_PORT_B; do
	P "$port" -d bench -v table=records -v channel=snk_records -c "SET client_min_messages = warning" \
		-f migrations/notify_trigger.sql >/dev/null
done
"$build/snk" -c "$cfg" >"$work/snk.log" 2>&1 &
SNK_PID=$!
bench_wait_snk "$work/snk.sock"
sleep 1
waits="SELECT pg_catalog.clock_timestamp(), pid, backend_type, coalesce(wait_event_type, '-'),
	coalesce(wait_event, 'CPU') FROM pg_catalog.pg_stat_activity WHERE pid <> pg_catalog.pg_backend_pid()
	AND state = 'active'"
printf '%s\n\\watch 0.005\n' "$waits" |
	timeout "$LOAD_SECONDS" psql -X -q -At -h 127.0.0.1 -p "$SNK_IT_PORT_B" -U postgres -d bench >"$work/waits" 2>/dev/null &
sampler=$!
c0=$(cpu_snap)
"$build/tst" -c "$cfg" --seconds "$LOAD_SECONDS" --quiet >"$work/tst.out" &
tst_pid=$!
"$build/probe" -c "$cfg" --seconds "$LOAD_SECONDS" --gap-ms 50 --csv "$work/probe.csv" | head -1
wait "$tst_pid"
wait "$sampler" || true
echo "tst: $(sed -n 's/.*total=\([0-9]*\).*/\1/p' "$work/tst.out") rows in ${LOAD_SECONDS} s; steal / iowait % $(cpu_noise "$c0")"
status=$(bench_status "$work/snk.sock")
bench_snk_stop
bw=$(sed -n 's/.*\[b\.write\] connected .*backend pid \([0-9]*\).*/\1/p' "$work/snk.log" | tail -1)

# The log's stamps (2026-12-03T15:00:57.296Z) as seconds of the day; probe.csv's as epoch seconds.
for d in a_to_b b_to_a; do
	echo "$d: $(jq ".$d.batches" <<<"$status") batches for $(jq ".$d.passes" <<<"$status") passes;" \
		"$(jq ".$d.batches_beside_commit // 0" <<<"$status") windows' rows beside the previous commit"
done
awk -v bw="$bw" '
function abs(x) { return x < 0 ? -x : x }
function sec(s) { split(substr(s, 12, 12), p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
function pct(a, n, q,   i, j, t, k) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	k = int(q * n); if (k < q * n) k++; if (k < 1) k = 1; if (k > n) k = n; return a[k] # nearest rank, as probe
}
FILENAME ~ /snk.log$/ {
	if (match($0, /\[(a->b|b->a)\] /) == 0) next
	d = substr($0, RSTART + 1, 4); t = sec($1)
	# every pass: its start and when it was over (its last batch sent); an empty pass is
	# over without a commit, so a commit finds its own pass by its start
	if ($0 ~ /idle -> copying/) { ps[d, ++npass[d]] = t; po[d, npass[d]] = -1 }
	else if ($0 ~ /copying -> idle: pass over/ && po[d, npass[d]] < 0) { po[d, npass[d]] = t }
	else if ($0 ~ /copied a window of/) {
		match($0, /of [0-9]+ rows in [0-9]+ ms/); split(substr($0, RSTART, RLENGTH), w, " ")
		n = ++nw[d]; cm[d, n] = t; rows[d, n] = w[2]
		if (w[2] > 0) {
			k = ++nr[d]; R[d, k] = w[2]; T[d, k] = w[5]
			s0 = t - w[5] / 1000; best = 0
			for (j = npass[d]; j >= 1 && j > npass[d] - 16; j--)
				if (po[d, j] >= 0 && (best == 0 || abs(ps[d, j] - s0) < abs(ps[d, best] - s0))) best = j
			if (best && abs(ps[d, best] - s0) <= 0.0025 && po[d, best] <= t) {
				rd[d, k] = (po[d, best] - s0) * 1000; ap[d, k] = (t - po[d, best]) * 1000
			} else { rd[d, k] = 0; ap[d, k] = w[5] }
		}
	}
	next
}
FILENAME ~ /waits$/ {
	split($0, f, "|"); if (bw != "" && f[2] == bw) { ev[f[4] " " f[5]]++; nev++ }
	next
}
FILENAME ~ /probe.csv$/ {
	split($0, f, ","); np++; pt[np] = f[1]; pr[np] = f[2]; pl[np] = f[3]
}
END {
	for (d in nw) {
		n = nr[d]
		for (i = 1; i <= n; i++) { a1[i] = R[d, i]; a2[i] = T[d, i]; a3[i] = rd[d, i]; a4[i] = ap[d, i] }
		printf "%s: %d windows with rows; rows per window p50 %d, max %d\n", d, n, pct(a1, n, 0.5), pct(a1, n, 1)
		printf "  pass, start to commit, ms: p50 %d, p90 %d, p99 %d, max %d\n", pct(a2, n, 0.5), pct(a2, n, 0.9), pct(a2, n, 0.99), pct(a2, n, 1)
		printf "  read (start to the last batch sent), ms: p50 %.0f, p99 %.0f, max %.0f\n", pct(a3, n, 0.5), pct(a3, n, 0.99), pct(a3, n, 1)
		printf "  apply (the last batch to its commit), ms: p50 %.0f, p99 %.0f, max %.0f\n", pct(a4, n, 0.5), pct(a4, n, 0.99), pct(a4, n, 1)
	}
	printf "b.write (backend %s), %d samples of pg_stat_activity while active:\n", bw, nev
	for (e in ev) printf "  %6d  %5.1f%%  %s\n", ev[e], 100 * ev[e] / (nev ? nev : 1), e | "sort -rn"
	close("sort -rn")
	# the slowest probe samples: their direction`s windows that committed while they waited
	for (i = 1; i <= np; i++) idx[i] = i
	for (i = 1; i <= np && i <= 8; i++) {
		m = i
		for (j = i + 1; j <= np; j++) if (pl[idx[j]] + 0 > pl[idx[m]] + 0) m = j
		t = idx[i]; idx[i] = idx[m]; idx[m] = t
		k = idx[i]; seen = pt[k] % 86400; ins = seen - pl[k] / 1000; d = pr[k]; line = ""
		for (j = 1; j <= nw[d]; j++)
			if (cm[d, j] >= ins - 0.002 && cm[d, j] <= seen + 0.002) line = line sprintf(" %d rows at +%.0f ms;", rows[d, j], (cm[d, j] - ins) * 1000)
		printf "probe %.1f ms %s:%s\n", pl[k], d, line
	}
}' "$work/snk.log" "$work/waits" "$work/probe.csv"
