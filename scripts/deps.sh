#!/bin/sh
# Install the Debian packages a make target needs, when they are missing.
# Usage: scripts/deps.sh build|test|bench|demo|fuzz|valgrind|lint
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu
need=""
add() { need="$need $*"; }
case "${1:-build}" in
build) add cmake gcc make pkg-config libc6-dev ;;
bench) add cmake gcc g++ make pkg-config libjemalloc-dev libmimalloc-dev \
	libgoogle-perftools-dev libglib2.0-dev ;;
# Optional: test_purge re-runs itself under LD_PRELOAD of each allocator
# (skipped when absent); the SQLite shrinker example needs libsqlite3-dev;
# test_preload runs Debian's python3 under the shim, alone and with each.
test) add libjemalloc2 libmimalloc2.0 libgoogle-perftools4 libsqlite3-dev python3 ;;
demo) add cmake gcc make pkg-config gnuplot-nox ;;
fuzz) add clang libclang-rt-14-dev ;;
valgrind) add valgrind ;;
lint) add clang-format clang-tidy ;;
*) echo "deps.sh: unknown target $1" >&2; exit 2 ;;
esac
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Lists may be stale or absent on a fresh machine.
	apt-get update -qq >/dev/null 2>&1 || true
	apt-get install -y -qq $missing >/dev/null 2>&1 || {
		echo "deps: could not install:$missing" >&2
		# Optional packages (peers, gnuplot): the caller decides.
		exit 1
	}
	exit 0
fi
echo "deps: missing packages; run: sudo apt-get install$missing" >&2
exit 1
