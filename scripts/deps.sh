# deps.sh - sourced by scripts/test, scripts/demo and bench/run: installs what is missing
# from Debian 12's repositories (as root, or through sudo) and finds PostgreSQL's binaries.

SNK_PACKAGES=(build-essential cmake pkg-config libpq-dev libevent-dev uuid-dev libcjson-dev
	postgresql-15 postgresql-client-15 jq bc netcat-openbsd util-linux iproute2 locales
	clang libclang-rt-14-dev valgrind
	dpkg-dev lintian groff-base man-db bash-completion python3-yaml)

snk_install_deps() {
	local missing=() p
	for p in "${SNK_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		snk_install_packages "${missing[@]}" || return 1
	fi
	snk_install_locale
}

snk_install_packages() {
	local missing=("$@") sudo=
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || {
			echo "missing packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
			return 1
		}
		sudo=sudo
	fi
	echo "installing: ${missing[*]}"
	$sudo apt-get update -qq
	# Debian's postgresql package starts a cluster of its own on 5432; ours never use it.
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A second locale besides C: shape_types.sh gives its two databases different lc_monetary
# defaults with it (money's text depends on it). Generated once; idempotent. A running
# PostgreSQL sees a locale generated after it started only once restarted.
SNK_LOCALE=de_DE.UTF-8
snk_install_locale() {
	local sudo=
	locale -a 2>/dev/null | grep -qix 'de_DE\.utf-\?8' && return 0
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || {
			# Not fatal: the test then gives both databases lc_monetary C and says so.
			echo "locale $SNK_LOCALE missing; generate it as root (localedef -i de_DE -f UTF-8 $SNK_LOCALE)" >&2
			return 0
		}
		sudo=sudo
	fi
	echo "generating locale $SNK_LOCALE"
	$sudo localedef -i de_DE -f UTF-8 "$SNK_LOCALE"
}

snk_pgbin() {
	local d
	for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	echo "PostgreSQL server binaries not found" >&2
	return 1
}
