#!/usr/bin/env bash
# Builds the Debian package as README.md says (a tree configured for /usr, cpack -G DEB),
# in BUILD_DIR/package, and checks it:
# - dpkg-deb -c: snk and snkctl in /usr/bin, tst and the probe in /usr/libexec/snk and not
#   in /usr/bin; the unit, the sysusers entry, man pages, bash completion, docs, the
#   copyright file; the config /etc/snk/config.json mode 0640; nothing else outside /usr;
# - dpkg-deb -I: conffiles lists /etc/snk/config.json; Depends has Debian's names of the
#   libraries (dpkg-shlibdeps) and systemd-sysusers;
# - the config passes --check-config and names an sslrootcert wherever it verifies TLS;
# - the unit runs /usr/bin/snk on /etc/snk/config.json and its Documentation= pages are in
#   the package; the man pages format without warnings; the completions complete;
# - the postinst, run for real into a scratch root (DPKG_ROOT), creates user snk (home
#   /nonexistent) and leaves the config 0640 root:snk;
# - `cmake --install` twice keeps a config edited in between;
# - configured for /opt/snk, the unit goes to /opt/snk/lib/systemd/system with its paths;
# - lintian, when installed, reports no error (warnings are printed, not failures).
# Skips (exit 77) only when cpack or dpkg-deb is missing (scripts/deps.sh installs them).
set -euo pipefail
src=${1:?usage: package.sh SOURCE_DIR BUILD_DIR}
out=${2:?}/package
for t in cpack dpkg-deb dpkg-shlibdeps; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not installed (scripts/deps.sh installs dpkg-dev)"; exit 77; }
done
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
cmake -S "$src" -B "$out/build" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DSNK_TESTS=OFF >"$out/configure.log" 2>&1 || { cat "$out/configure.log"; fail "cmake configure"; }
cmake --build "$out/build" -j2 >"$out/build.log" 2>&1 || { tail -20 "$out/build.log"; fail "build"; }
(cd "$out/build" && cpack -G DEB) >"$out/cpack.log" 2>&1 || { cat "$out/cpack.log"; fail "cpack"; }
deb=$(ls "$out"/build/snk_*.deb)
echo "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

# --- contents
dpkg-deb -c "$deb" >"$out/contents"
has() {
	grep -qE "^$1 +root/root +[0-9]+ [0-9-]+ [0-9:]+ \./$2\$" "$out/contents" || fail "package lacks $1 $2"
}
has -rwxr-xr-x usr/bin/snk
has -rwxr-xr-x usr/bin/snkctl
has -rwxr-xr-x usr/libexec/snk/tst
has -rwxr-xr-x usr/libexec/snk/probe
has -rw-r--r-- usr/lib/systemd/system/snk.service
has -rw-r--r-- usr/lib/sysusers.d/snk.conf
has -rw-r----- etc/snk/config.json
for f in man/man8/snk.8.gz man/man1/snkctl.1.gz man/man5/snk.json.5.gz bash-completion/completions/snk \
	bash-completion/completions/snkctl doc/snk/README.md doc/snk/DESIGN.md doc/snk/copyright \
	doc/snk/changelog.gz snk/notify_trigger.sql snk/config.example.json; do
	has -rw-r--r-- "usr/share/$f"
done
! grep -qE '\./usr/bin/(tst|probe|naive)$' "$out/contents" || fail "a test or benchmark tool is in /usr/bin"
odd=$(awk '{print $6}' "$out/contents" | grep -vE '^\./(usr/|etc/$|etc/snk/$|etc/snk/config\.json$|$)' || true)
[ -z "$odd" ] || fail "files outside /usr and /etc/snk/config.json: $odd"

# --- control
dpkg-deb -I "$deb" conffiles >"$out/conffiles" || fail "the package has no conffiles: /etc/snk/config.json would be overwritten on upgrade"
[ "$(cat "$out/conffiles")" = /etc/snk/config.json ] || fail "conffiles: [$(cat "$out/conffiles")]"
depends=$(dpkg-deb -f "$deb" Depends)
for d in libpq5 libevent-2.1-7 libuuid1 libcjson1 libc6 systemd-sysusers; do
	grep -qE "(^|, )$d( |,|$)" <<<"$depends" || fail "Depends lacks $d: $depends"
done
[ "$(dpkg-deb -f "$deb" Package)" = snk ] || fail "package name"

# --- what is inside
root=$out/root
dpkg-deb -x "$deb" "$root"
mkdir -p "$out/control"
dpkg-deb -e "$deb" "$out/control"
unit=$root/usr/lib/systemd/system/snk.service
grep -qx "ExecStart=/usr/bin/snk -c /etc/snk/config.json" "$unit" || fail "unit ExecStart: $(grep ExecStart= "$unit")"
grep -qx "EnvironmentFile=-/etc/default/snk" "$unit" || fail "unit has no EnvironmentFile=-/etc/default/snk"
for doc in $(sed -n 's/^Documentation=//p' "$unit"); do
	case $doc in
	man:*) p=${doc#man:}; n=${p%(*}; s=${p#*(}; s=${s%)}
		[ -f "$root/usr/share/man/man$s/$n.$s.gz" ] || fail "Documentation=$doc is not in the package" ;;
	file://*) [ -f "$root${doc#file://}" ] || fail "Documentation=$doc is not in the package" ;;
	*) fail "Documentation=$doc: unknown scheme" ;;
	esac
done
"$root/usr/bin/snk" --version | grep -q "^snk " || fail "the packaged snk does not run"
"$root/usr/bin/snk" -c "$root/etc/snk/config.json" --check-config >/dev/null || fail "the packaged config is invalid"
# The service user's home is /nonexistent: libpq finds no ~/.postgresql/root.crt there.
n=$(grep -c "sslmode=verify-full" "$root/etc/snk/config.json" || true)
[ "$n" -gt 0 ] && [ "$(grep "sslmode=verify-full" "$root/etc/snk/config.json" | grep -c "sslrootcert=/")" = "$n" ] ||
	fail "the config's verify-full examples do not all name an sslrootcert"
if command -v groff >/dev/null; then
	for m in "$root"/usr/share/man/man*/*.gz; do
		w=$(zcat "$m" | groff -man -ww -z 2>&1 || true)
		[ -z "$w" ] || fail "$(basename "$m"): $w"
	done
fi
if [ -f /usr/share/bash-completion/bash_completion ]; then
	got=$(bash -c '. /usr/share/bash-completion/bash_completion; . "$1"; . "$2"
		comp() { local f=$1; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"
			COMP_POINT=${#COMP_LINE}; COMPREPLY=(); $f; echo "${COMPREPLY[*]}"; }
		comp _snkctl snkctl pa; comp _snk snk mig' _ \
		"$root/usr/share/bash-completion/completions/snkctl" "$root/usr/share/bash-completion/completions/snk")
	[ "$got" = $'pause\nmigrate' ] || fail "completion gave [$got]"
fi

# --- postinst, for real, into the scratch root: user first, then the config's group
sh -n "$out/control/postinst" || fail "postinst syntax"
mkdir -p "$root/etc"
: >"$root/etc/passwd"
: >"$root/etc/group"
DPKG_ROOT=$root sh "$out/control/postinst" configure "" >"$out/postinst.log" 2>&1 ||
	{ cat "$out/postinst.log"; fail "postinst configure failed"; }
grep -q '^snk:x:[0-9]*:[0-9]*:.*:/nonexistent:/usr/sbin/nologin$' "$root/etc/passwd" ||
	fail "postinst created no user snk: $(cat "$root/etc/passwd")"
gid=$(awk -F: '$1 == "snk" {print $3}' "$root/etc/group")
[ -n "$gid" ] || fail "postinst created no group snk"
[ "$(stat -c '%a %u %g' "$root/etc/snk/config.json")" = "640 0 $gid" ] ||
	fail "config after postinst: $(stat -c '%a %u %g' "$root/etc/snk/config.json"), want 640 0 $gid"

# --- cmake --install over an edited config keeps it
DESTDIR=$out/inst cmake --install "$out/build" >/dev/null
echo '{"edited": true}' >"$out/inst/etc/snk/config.json"
DESTDIR=$out/inst cmake --install "$out/build" >"$out/reinstall.log"
grep -q edited "$out/inst/etc/snk/config.json" || fail "cmake --install overwrote an edited config"
grep -q "Kept: .*/etc/snk/config.json" "$out/reinstall.log" || fail "the kept config is not mentioned"

# --- another prefix: the unit goes under it and names its paths (configure only)
cmake -S "$src" -B "$out/opt" -DCMAKE_INSTALL_PREFIX=/opt/snk -DSNK_TESTS=OFF >/dev/null
# GNUInstallDirs puts the config of an /opt prefix under /etc/opt (FHS).
grep -qx "ExecStart=/opt/snk/bin/snk -c /etc/opt/snk/snk/config.json" "$out/opt/dist/snk.service" ||
	fail "unit for /opt/snk: $(grep ExecStart= "$out/opt/dist/snk.service")"
grep -q "^Documentation=.*file:///opt/snk/share/doc/snk/README.md" "$out/opt/dist/snk.service" ||
	fail "Documentation= does not follow the prefix: $(grep Documentation= "$out/opt/dist/snk.service")"
grep -q '"/opt/snk/lib/systemd/system" TYPE FILE FILES "[^"]*/dist/snk.service"' "$out/opt/cmake_install.cmake" ||
	fail "the unit is not installed under /opt/snk/lib/systemd/system"

# --- lintian
if command -v lintian >/dev/null; then
	lintian --tag-display-limit 0 "$deb" >"$out/lintian.log" 2>&1 || true
	grep -v "running with root privileges" "$out/lintian.log" || true
	! grep -q "^E: " "$out/lintian.log" || fail "lintian reports errors"
	echo "lintian: no errors"
else
	echo "lintian not installed: not run (scripts/deps.sh installs it)"
fi
echo "PASS: $(basename "$deb"): contents, conffiles, depends, unit paths, man pages, completion, postinst, kept config"
