#!/usr/bin/env bash
# Builds the Debian package as README.md says (a tree configured for /usr, cpack -G DEB),
# in BUILD_DIR/package, and checks it:
# - dpkg-deb -c: snk and snkctl in /usr/bin, tst and the probe in /usr/libexec/snk and not
#   in /usr/bin; the unit and the template unit snk@.service, the sysusers entry, man
#   pages, bash completion, docs, the copyright file; the config /etc/snk/config.json mode
#   0640; nothing else outside /usr;
# - dpkg-deb -I: conffiles lists /etc/snk/config.json; Depends has Debian's names of the
#   libraries (dpkg-shlibdeps) and systemd-sysusers;
# - the config passes --check-config and names an sslrootcert wherever it verifies TLS;
# - the unit runs /usr/bin/snk on /etc/snk/config.json, an instance of the template on
#   /etc/snk/NAME.json with a runtime directory of its own, and their Documentation= pages
#   are in the package; the man pages format without warnings; the completions complete;
# - the postinst, run for real into a scratch root (DPKG_ROOT), creates user snk (home
#   /nonexistent) and leaves the config 0640 root:snk; run again as an upgrade after the
#   config was deleted, exits 0 and creates none; names the sysusers entry by its path;
# - prerm and postrm parse, stop/mask/reload on remove and purge/unmask on purge, the
#   running instances and the template too; run for real (deb-systemd-helper honours
#   DPKG_ROOT), a removal masks both units, an install again lifts the masks, a purge
#   removes the link `systemctl enable snk` made and the masks and leaves the user snk;
#   the operator's own mask of the template outlives an install;
# - snk.json(5) marks reload exactly the keys main.c's needs_restart() does not refuse;
# - `cmake --install` twice keeps a config edited in between;
# - configured for /opt/snk, the unit goes to /opt/snk/lib/systemd/system with its paths,
#   the sysusers entry to /opt/snk/lib/sysusers.d, and the postinst names it there;
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
has -rw-r--r-- usr/lib/systemd/system/snk@.service
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
template=$root/usr/lib/systemd/system/snk@.service
grep -qx "ExecStart=/usr/bin/snk -c /etc/snk/%i.json" "$template" ||
	fail "template ExecStart: $(grep ExecStart= "$template")"
grep -qx "ExecStartPre=/usr/bin/snk -c /etc/snk/%i.json --check-config" "$template" ||
	fail "template ExecStartPre: $(grep ExecStartPre= "$template")"
grep -qx "EnvironmentFile=-/etc/default/snk" "$template" || fail "template has no EnvironmentFile=-/etc/default/snk"
grep -qx "RuntimeDirectory=snk-%i" "$template" || fail "template: $(grep RuntimeDirectory= "$template")"
# The two units differ only where an instance must: its config, its environment file and
# its runtime directory (the control socket's), and what the comments say.
d=$(diff <(grep -v '^#' "$unit") <(grep -v '^#' "$template") | grep '^[<>]' |
	grep -vE '^. (Description=|ExecStart(Pre)?=|RuntimeDirectory=|EnvironmentFile=-/etc/default/snk-%i$)' || true)
[ -z "$d" ] || fail "snk@.service differs from snk.service in more than the instance's paths: $d"
for doc in $(sed -n 's/^Documentation=//p' "$unit" "$template" | sort -u); do
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
# dpkg names the package to every maintainer script; deb-systemd-helper refuses to run without it.
export DPKG_MAINTSCRIPT_PACKAGE=snk
DPKG_ROOT=$root sh "$out/control/postinst" configure "" >"$out/postinst.log" 2>&1 ||
	{ cat "$out/postinst.log"; fail "postinst configure failed"; }
grep -q '^snk:x:[0-9]*:[0-9]*:.*:/nonexistent:/usr/sbin/nologin$' "$root/etc/passwd" ||
	fail "postinst created no user snk: $(cat "$root/etc/passwd")"
gid=$(awk -F: '$1 == "snk" {print $3}' "$root/etc/group")
[ -n "$gid" ] || fail "postinst created no group snk"
[ "$(stat -c '%a %u %g' "$root/etc/snk/config.json")" = "640 0 $gid" ] ||
	fail "config after postinst: $(stat -c '%a %u %g' "$root/etc/snk/config.json"), want 640 0 $gid"

# An upgrade after the operator deleted the config: dpkg does not bring a conffile back, and
# the postinst must neither fail on it nor create it.
rm "$root/etc/snk/config.json"
DPKG_ROOT=$root sh "$out/control/postinst" configure 0.0.1 >"$out/postinst-upgrade.log" 2>&1 ||
	{ cat "$out/postinst-upgrade.log"; fail "postinst configure (upgrade) fails when the config was deleted"; }
[ ! -e "$root/etc/snk/config.json" ] || fail "the upgrade's postinst created a config the operator had deleted"
# The sysusers entry by its full path, which follows the prefix (bare, systemd-sysusers
# would search only its own directories).
grep -q 'systemd-sysusers .*"$DPKG_ROOT/usr/lib/sysusers.d/snk.conf"' "$out/control/postinst" ||
	fail "postinst does not name the sysusers entry by the path the package installs"

# --- prerm and postrm: the unit's links. The remove and purge branches, and for real
# into the scratch root where deb-systemd-helper is installed (it honours DPKG_ROOT).
for s in prerm postrm; do sh -n "$out/control/$s" || fail "$s syntax"; done
branch() { # SCRIPT ARG: the commands run when $1 is ARG, one a line
	awk -v a="$2" '/^if / { on = index($0, "\"$1\" = " a) > 0; next } /^fi/ { on = 0 } on' "$out/control/$1"
}
branch prerm remove | grep -q "deb-systemd-invoke stop snk.service" || fail "prerm remove does not stop snk"
branch prerm remove | grep -qF "deb-systemd-invoke stop 'snk@*.service'" || fail "prerm remove does not stop the instances of snk@.service"
grep -qF "systemctl --no-block try-restart 'snk@*.service'" "$out/control/postinst" ||
	fail "an upgrade does not restart the running instances of snk@.service"
branch postrm remove | grep -q "deb-systemd-helper mask snk@.service" || fail "postrm remove does not mask the template"
branch postrm purge | grep -q "deb-systemd-helper unmask snk@.service" || fail "postrm purge leaves the template's mask"
branch postrm remove | grep -q "deb-systemd-helper mask snk.service" || fail "postrm remove does not mask the unit"
branch postrm remove | grep -q "systemctl --system daemon-reload" || fail "postrm remove does not reload systemd"
branch postrm purge | grep -q "deb-systemd-helper purge snk.service" || fail "postrm purge does not remove the unit's links"
branch postrm purge | grep -q "deb-systemd-helper unmask snk.service" || fail "postrm purge leaves the mask"
! grep -qE "(^|[^a-z_-])(rm|userdel|deluser|delgroup) " "$out/control/postrm" || fail "postrm deletes what dpkg or policy leaves"
if [ -x /usr/bin/deb-systemd-helper ]; then
	wants=$root/etc/systemd/system/multi-user.target.wants/snk.service
	grep -qx /etc/systemd/system/multi-user.target.wants/snk.service \
		"$root/var/lib/systemd/deb-systemd-helper-enabled/snk.service.dsh-also" ||
		fail "postinst did not record the unit's links, so a purge cannot remove them"
	# What `systemctl enable snk` makes; dpkg removes the package's files before postrm.
	mkdir -p "${wants%/*}"
	ln -s /usr/lib/systemd/system/snk.service "$wants"
	remove_units() { rm -f "$unit" "$template"; }
	unpack_units() { dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$root" ./usr/lib/systemd/system/; }
	remove_units
	DPKG_ROOT=$root sh "$out/control/prerm" remove || fail "prerm remove failed"
	DPKG_ROOT=$root sh "$out/control/postrm" remove || fail "postrm remove failed"
	[ "$(readlink "$root/etc/systemd/system/snk.service")" = /dev/null ] || fail "postrm remove did not mask snk.service"
	[ "$(readlink "$root/etc/systemd/system/snk@.service")" = /dev/null ] || fail "postrm remove did not mask snk@.service"
	# Installed again after the removal: the postinst lifts both masks and keeps the link.
	unpack_units
	DPKG_ROOT=$root sh "$out/control/postinst" configure "" >"$out/postinst-reinstall.log" 2>&1 ||
		{ cat "$out/postinst-reinstall.log"; fail "postinst configure after a removal failed"; }
	[ ! -L "$root/etc/systemd/system/snk.service" ] || fail "postinst after a removal left snk.service masked"
	[ ! -L "$root/etc/systemd/system/snk@.service" ] || fail "postinst after a removal left snk@.service masked"
	[ -L "$wants" ] || fail "postinst after a removal lost $wants"
	# Removed again, and purged.
	remove_units
	DPKG_ROOT=$root sh "$out/control/prerm" remove || fail "prerm remove (again) failed"
	DPKG_ROOT=$root sh "$out/control/postrm" remove || fail "postrm remove (again) failed"
	DPKG_ROOT=$root sh "$out/control/postrm" purge || fail "postrm purge failed"
	[ ! -L "$wants" ] || fail "postrm purge left $wants"
	[ ! -L "$root/etc/systemd/system/snk.service" ] || fail "postrm purge left the mask"
	[ ! -L "$root/etc/systemd/system/snk@.service" ] || fail "postrm purge left the template's mask"
	grep -q '^snk:' "$root/etc/passwd" || fail "postrm purge removed the user snk"
	# The operator's own mask of the template outlives an install (deb-systemd-helper
	# lifts only the masks it made).
	ln -s /dev/null "$root/etc/systemd/system/snk@.service"
	unpack_units
	DPKG_ROOT=$root sh "$out/control/postinst" configure "" >>"$out/postinst-reinstall.log" 2>&1 ||
		{ cat "$out/postinst-reinstall.log"; fail "postinst configure after a purge failed"; }
	[ "$(readlink "$root/etc/systemd/system/snk@.service")" = /dev/null ] || fail "postinst lifted the operator's mask of snk@.service"
fi

# --- snk.json(5) marks reload exactly the keys main.c's needs_restart() does not refuse
# (xid_index, read by snk migrate only, is neither and unmarked).
refused=$(sed -n '/^static bool needs_restart(/,/^}/p' "$src/src/main.c" | grep -o 'a->[a-z_]*' | sed 's/^a->//' | sort -u)
[ -n "$refused" ] || fail "found no needs_restart() in src/main.c"
keys=$(sed -n '/^\.SH KEYS/,/^\.SH TLS/p' "$src/man/snk.json.5.in" | awk '
	prev == ".TP" { r = index($0, "\\fIreload\\fP") ? "reload" : "restart"
		k = substr($0, 5); sub(/ *" \(.*/, "", k); n = split(k, ks, /" *, *"/)
		for (i = 1; i <= n; i++) { gsub(/[ "]/, "", ks[i]); print ks[i], r } }
	{ prev = $0 }')
unmarked=$(awk '$2 == "restart" && $1 != "xid_index" { print $1 }' <<<"$keys" | sort -u)
[ "$unmarked" = "$refused" ] || fail "snk.json(5) marks as needing a restart [$(echo $unmarked)]; main.c refuses [$(echo $refused)]"
awk '$1 == "reconcile_interval_s" && $2 == "reload"' <<<"$keys" | grep -q . || fail "parsing snk.json(5)'s keys: $keys"

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
# (one file(INSTALL) over several lines, joined here)
tr -s '\n ' ' ' <"$out/opt/cmake_install.cmake" |
	grep -q '"/opt/snk/lib/systemd/system" TYPE FILE FILES "[^"]*/dist/snk.service" "[^"]*/dist/snk@.service" )' ||
	fail "the units are not installed under /opt/snk/lib/systemd/system"
grep -qx "ExecStart=/opt/snk/bin/snk -c /etc/opt/snk/snk/%i.json" "$out/opt/dist/snk@.service" ||
	fail "template for /opt/snk: $(grep ExecStart= "$out/opt/dist/snk@.service")"
grep -q '"/opt/snk/lib/sysusers.d" TYPE FILE .*RENAME "snk.conf"' "$out/opt/cmake_install.cmake" ||
	fail "the sysusers entry is not installed under /opt/snk/lib/sysusers.d"
grep -q 'systemd-sysusers .*"$DPKG_ROOT/opt/snk/lib/sysusers.d/snk.conf"' "$out/opt/deb/postinst" ||
	fail "the postinst for /opt/snk does not name /opt/snk/lib/sysusers.d/snk.conf: $(grep systemd-sysusers "$out/opt/deb/postinst")"

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
