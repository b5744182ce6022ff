#!/bin/sh
# Install the Debian packages a make target needs, when they are missing.
# Usage: scripts/deps.sh build|test|bench|demo|examples|fuzz|valgrind|lint|package|m32
# (make and make install: build; make check: build, test, examples; make
# demo: build, demo; the sanitizer, portable and valgrind runs: build, test)
# It prints what it installs (and apt-get's own error when that fails).  As
# root it runs apt-get; otherwise it prints the exact command and fails.
set -eu
need=""
add() { need="$need $*"; }

# The compiler-rt package (libFuzzer, sanitizer runtimes) that the installed
# clang needs: libclang-rt-N-dev from LLVM 14 on, libclang-common-N-dev
# before.  Empty when clang is not installed (yet).
clang_rt() {
	command -v clang >/dev/null 2>&1 || return 0
	v=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
	[ -n "$v" ] || return 0
	if apt-cache show "libclang-rt-$v-dev" >/dev/null 2>&1; then
		echo "libclang-rt-$v-dev"
	else
		echo "libclang-common-$v-dev"
	fi
}

case "${1:-build}" in
build) add cmake gcc make pkg-config libc6-dev ;;
bench) add cmake gcc g++ make pkg-config libjemalloc-dev libmimalloc-dev \
	libgoogle-perftools-dev libglib2.0-dev ;;
# Optional: test_purge re-runs itself under LD_PRELOAD of each allocator
# (skipped when absent); the SQLite shrinker example needs libsqlite3-dev;
# test_preload runs Debian's python3 under the shim, alone and with each.
test) add libjemalloc2 libmimalloc2.0 libgoogle-perftools4 libsqlite3-dev python3 ;;
# gnuplot for the picture; story 4 runs Debian's python3 (skipped without)
demo) add cmake gcc make pkg-config gnuplot-nox python3 ;;
# the event-loop examples of docs/integrations.md (make check)
examples) add libglib2.0-dev libuv1-dev libsystemd-dev ;;
# clang first; its compiler-rt package once its version is known
fuzz) add clang; [ "$(id -u)" = 0 ] || add "$(clang_rt)" ;;
valgrind) add valgrind ;;
# make portable's 32-bit build and tests (C++: cxx_headers, install_consumer)
m32) add gcc-multilib g++-multilib ;;
lint) add clang-format clang-tidy ;;
# dpkg-buildpackage and debian/control's Build-Depends; lintian;
# package-test.sh's consumer (pkg-config) and its story-4 run (python3)
package) add build-essential debhelper lintian fakeroot dpkg-dev \
	cmake pkg-config python3 ;;
*) echo "deps.sh: unknown target $1" >&2; exit 2 ;;
esac

missing() {
	m=""
	for p in $need; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || m="$m $p"
	done
	echo "$m"
}

apt_install() { # packages...
	echo "deps: installing $* (apt-get install -y $*)" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Lists may be stale or absent on a fresh machine.
	apt-get update -qq >/dev/null 2>&1 || true
	out=$(apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" 2>&1) || {
		echo "$out" | tail -n 5 >&2
		echo "deps: could not install: $*" >&2
		# Optional packages (peers, gnuplot): the caller decides.
		exit 1
	}
	echo "deps: installed $*" >&2
}

m=$(missing)
if [ -n "$m" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		echo "deps: missing packages; run: sudo apt-get install$m" >&2
		exit 1
	fi
	# shellcheck disable=SC2086
	apt_install $m
fi
if [ "${1:-build}" = fuzz ]; then
	rt=$(clang_rt)
	need="$rt"
	m=$(missing)
	# shellcheck disable=SC2086
	[ -z "$m" ] || apt_install $m
fi
exit 0
