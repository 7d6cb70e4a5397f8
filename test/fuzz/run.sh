#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS
# (default 20) from the corpus in test/fuzz/corpus, on a scratch copy so the repo's
# corpus stays as committed. Fails on any crash, leak or sanitizer report.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-20}
command -v clang >/dev/null || { echo "FAIL: clang not installed (scripts/deps.sh installs it)"; exit 1; }
out=$build/fuzz
mkdir -p "$out"
libs=$(pkg-config --cflags --libs libpq libevent libcjson uuid)
core=$(ls "$src"/src/*.c | grep -v '/main.c$')
for t in config ctl; do
	# shellcheck disable=SC2086
	clang -g -O1 -std=c11 -D_GNU_SOURCE -DSNK_VERSION='"fuzz"' -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I"$src/include" "$src/test/fuzz/fuzz_$t.c" $core \
		"$build/migrations.c" $libs -lm -o "$out/fuzz_$t"
	rm -rf "$out/corpus_$t"
	cp -r "$src/test/fuzz/corpus/$t" "$out/corpus_$t"
	echo "fuzzing $t for ${seconds}s"
	(cd "$out" && ./"fuzz_$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 "corpus_$t" 2>"fuzz_$t.log") || {
		tail -40 "$out/fuzz_$t.log"
		echo "FAIL: fuzz_$t found a crash (reproducer in $out)"
		exit 1
	}
	grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$out/fuzz_$t.log" | tail -1
done
echo "PASS: fuzz_config and fuzz_ctl ran ${seconds}s each without a finding"
