#!/usr/bin/env bash
# Checks dist/snk.service with `systemd-analyze verify` (syntax, directives, executables,
# and that the man pages in Documentation= exist). The unit's paths are pointed at this
# build's binary and man pages, since nothing is installed here.
# Skips (exit 77) with a message when systemd-analyze is absent.
set -euo pipefail
unit=${1:?usage: systemd_verify.sh BUILT_UNIT SNK_BINARY [BUILT_MANDIR]}
bin=${2:?}
[ -z "${3:-}" ] || export MANPATH=$3
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze not installed; the unit was not verified"
	exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed -e "s|^ExecStartPre=[^ ]*/snk |ExecStartPre=$bin |" -e "s|^ExecStart=[^ ]*/snk |ExecStart=$bin |" \
	"$unit" >"$dir/snk.service"
grep -q "^Type=notify$" "$dir/snk.service" || { echo "FAIL: not Type=notify"; exit 1; }
grep -q "^RestartPreventExitStatus=64 65 66 78$" "$dir/snk.service" || { echo "FAIL: RestartPreventExitStatus"; exit 1; }
out=$(systemd-analyze verify "$dir/snk.service" 2>&1 || true)
# Lines about other units on this machine are not ours to judge.
mine=$(grep "snk.service" <<<"$out" | grep -v "User=snk\|Group=snk" || true)
if [ -n "$mine" ]; then
	echo "$mine"
	echo "FAIL: systemd-analyze verify found problems in snk.service"
	exit 1
fi
echo "PASS: systemd-analyze verify accepts snk.service"
