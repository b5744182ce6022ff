#!/bin/sh
# Regenerate debian/libtide0.2.symbols from a built libtide.so: every
# exported tide_* function, at the version that first ships it.  Symbols
# already listed keep their version; new ones get the version of
# debian/changelog.  Usage: scripts/gen-symbols.sh [BUILD_DIR]
# (after merging a branch that adds public functions; see
# debian/README.source).
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
lib=$(readlink -f "$build/libtide.so")
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
pkg=libtide$(echo "$soname" | sed 's/^libtide\.so\.//')
out=debian/$pkg.symbols
ver=$(dpkg-parsechangelog -S Version 2>/dev/null ||
	sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)
old=$(mktemp)
trap 'rm -f "$old"' EXIT
[ -f "$out" ] && grep '^ ' "$out" >"$old" || true
{
	echo "$soname $pkg #MINVER#"
	echo "* Build-Depends-Package: libtide-dev"
	nm -D --defined-only "$lib" | awk '{ print $3 }' | grep '^tide_' |
		sort | while read -r sym; do
		v=$(awk -v s="$sym@Base" '$1 == s { print $2 }' "$old")
		echo " $sym@Base ${v:-$ver}"
	done
} >"$out"
echo "$out: $(grep -c '^ ' "$out") symbols"
