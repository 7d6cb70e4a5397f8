# deps.sh - sourced by scripts/test, scripts/demo and bench/run: installs what is missing
# from Debian 12's repositories (as root, or through sudo) and finds PostgreSQL's binaries.

SNK_PACKAGES=(build-essential cmake pkg-config libpq-dev libevent-dev uuid-dev libcjson-dev
	postgresql-15 postgresql-client-15 jq bc netcat-openbsd util-linux iproute2
	clang libclang-rt-14-dev valgrind
	dpkg-dev lintian groff-base man-db bash-completion)

snk_install_deps() {
	local missing=() p sudo=
	for p in "${SNK_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
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

snk_pgbin() {
	local d
	for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	echo "PostgreSQL server binaries not found" >&2
	return 1
}
