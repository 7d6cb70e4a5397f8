#!/usr/bin/env bash
# Checks the built units, dist/snk.service and the template dist/snk@.service, with
# `systemd-analyze verify` (syntax, directives, executables, and that the man pages in
# Documentation= exist); the template as an instance, snk@verify.service, which is what
# systemd loads. The units' paths are pointed at this build's binary and man pages, since
# nothing is installed here. Both are Type=notify with the same RestartPreventExitStatus=;
# the template reads NAME.json and has a runtime directory (the control socket's) per
# instance.
# Skips (exit 77) with a message when systemd-analyze is absent.
set -euo pipefail
bin=${1:?usage: systemd_verify.sh SNK_BINARY BUILT_MANDIR BUILT_UNIT...}
[ -z "${2:-}" ] || export MANPATH=$2
shift 2
[ $# -gt 0 ] || { echo "usage: systemd_verify.sh SNK_BINARY BUILT_MANDIR BUILT_UNIT..."; exit 64; }
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze not installed; the units were not verified"
	exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for unit in "$@"; do
	name=$(basename "$unit")
	sed -e "s|^ExecStartPre=[^ ]*/snk |ExecStartPre=$bin |" -e "s|^ExecStart=[^ ]*/snk |ExecStart=$bin |" \
		"$unit" >"$dir/$name"
	f=$dir/$name
	grep -q "^Type=notify$" "$f" || fail "$name: not Type=notify"
	grep -q "^RestartPreventExitStatus=64 65 66 78$" "$f" || fail "$name: RestartPreventExitStatus"
	case $name in
	*@.service)
		load=${name%@.service}@verify.service
		grep -q "^ExecStart=$bin -c /.*/%i\.json$" "$f" || fail "$name: ExecStart does not read %i.json: $(grep ^ExecStart= "$f")"
		grep -q "^ExecStartPre=$bin -c /.*/%i\.json --check-config$" "$f" || fail "$name: ExecStartPre"
		# Its own directory per instance, not one below another unit's RuntimeDirectory=.
		grep -q "^RuntimeDirectory=snk-%i$" "$f" || fail "$name: RuntimeDirectory is not per instance" ;;
	*)
		load=$name ;;
	esac
	out=$(systemd-analyze verify "$dir/$load" 2>&1 || true)
	# Lines about other units on this machine are not ours to judge.
	mine=$(grep -F -e "$name" -e "$load" <<<"$out" | grep -v "User=snk\|Group=snk" || true)
	if [ -n "$mine" ]; then
		echo "$mine"
		fail "systemd-analyze verify found problems in $name"
	fi
	echo "PASS: systemd-analyze verify accepts $load"
done
