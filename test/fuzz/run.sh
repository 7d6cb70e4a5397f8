#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS
# (default 20) from the corpus in test/fuzz/corpus, on a scratch copy so the repo's
# corpus stays as committed. Fails on any crash, leak or sanitizer report.
# snk's sources are compiled once, one job per core, and both targets fuzz at the same
# time: the wall time is about one compile of the tree plus SECONDS.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-20}
command -v clang >/dev/null || { echo "FAIL: clang not installed (scripts/deps.sh installs it)"; exit 1; }
out=$build/fuzz
obj=$out/obj
rm -rf "$obj"
mkdir -p "$obj"
cflags="-g -O1 -std=c11 -D_GNU_SOURCE -DSNK_VERSION=\"fuzz\" -fno-sanitize-recover=undefined -I$src/include"
cflags="$cflags $(pkg-config --cflags libpq libevent libcjson uuid)"
libs=$(pkg-config --libs libpq libevent libcjson uuid)
# shellcheck disable=SC2086
ls "$src"/src/*.c "$build/migrations.c" | grep -v '/main.c$' | FUZZ_CFLAGS=$cflags xargs -P "$(nproc)" -I{} \
	sh -c 'clang $FUZZ_CFLAGS -fsanitize=fuzzer-no-link,address,undefined -c "$1" -o "$2/$(basename "$1" .c).o"' \
	sh {} "$obj" || { echo "FAIL: the fuzz build of snk's sources failed"; exit 1; }
pids=()
for t in config ctl; do
	# shellcheck disable=SC2086
	clang $cflags -fsanitize=fuzzer,address,undefined "$src/test/fuzz/fuzz_$t.c" "$obj"/*.o $libs -lm \
		-o "$out/fuzz_$t"
	rm -rf "$out/corpus_$t"
	cp -r "$src/test/fuzz/corpus/$t" "$out/corpus_$t"
done
for t in config ctl; do
	echo "fuzzing $t for ${seconds}s"
	(cd "$out" && exec ./"fuzz_$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 "corpus_$t" \
		2>"fuzz_$t.log") &
	pids+=($!)
done
rc=0
for i in 0 1; do
	t=$([ $i = 0 ] && echo config || echo ctl)
	wait "${pids[$i]}" && continue
	tail -40 "$out/fuzz_$t.log"
	echo "FAIL: fuzz_$t found a crash (reproducer in $out)"
	rc=1
done
[ $rc = 0 ] || exit 1
for t in config ctl; do grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$out/fuzz_$t.log" | tail -1; done
echo "PASS: fuzz_config and fuzz_ctl ran ${seconds}s each without a finding"
