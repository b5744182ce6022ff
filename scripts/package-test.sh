#!/bin/sh
# Build the Debian packages from a clean clone of this repository's HEAD
# (uncommitted changes are left out, with a warning on stderr),
# check them with lintian, unpack them into a scratch root (dpkg -x) and
# build and run a consumer against that root, with pkg-config and with
# CMake.  Usage: scripts/package-test.sh WORK_DIR   (make package)
# The .deb files stay in WORK_DIR.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
work=$1
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
start=$(date +%s)
step() { echo "=== package: $* ($(($(date +%s) - start)) s)"; }

# Only what is committed is packaged: say so when the tree has more.
dirty=$(git -C "$root" status --porcelain 2>/dev/null | head -n 5)
if [ -n "$dirty" ]; then
	{
		echo "package: warning: uncommitted changes are not packaged (HEAD is):"
		echo "$dirty" | sed 's/^/package:   /'
		echo "package:   (git status lists them all; commit first to package them)"
	} >&2
fi
step "clean clone of $(git -C "$root" rev-parse --short HEAD)"
git clone -q --no-hardlinks "$root" "$work/src"

step "dpkg-buildpackage -us -uc -b"
(cd "$work/src" &&
	DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || {
	tail -n 40 "$work/build.log"
	echo "package: dpkg-buildpackage failed (log: $work/build.log)"
	exit 1
}
ls "$work"/*.deb

step "lintian (errors fail)"
rc=0
lintian --fail-on error "$work"/*.changes >"$work/lintian.log" 2>&1 || rc=$?
cat "$work/lintian.log"
if [ $rc -ne 0 ] || grep -q '^E: ' "$work/lintian.log"; then
	echo "not ok - lintian reports errors (exit $rc)"
	exit 1
fi
echo "ok - lintian: no errors"

step "unpack into $work/root"
for deb in "$work"/*.deb; do
	dpkg -x "$deb" "$work/root"
done
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
lib=$work/root/usr/lib/$ma
version=$(cd "$work/src" && dpkg-parsechangelog -S Version)
for f in "$lib/libtide.so.0.2" "$lib/libtide.a" "$lib/pkgconfig/tide.pc" \
	"$lib/pkgconfig/tide-static.pc" \
	"$lib/cmake/tide/tideConfig.cmake" "$work/root/usr/include/tide.h" \
	"$work/root/usr/share/man/man3/tide_kvmalloc.3.gz" \
	"$work/root/usr/bin/tide-demo" \
	"$work/root/usr/share/man/man1/tide-demo.1.gz" \
	"$work/root/usr/share/doc/libtide-dev/guide.md" \
	"$work/root/usr/share/doc/libtide-dev/benchmarks.md" \
	"$work/root/usr/share/doc/libtide-dev/img/tide-demo.png"; do
	[ -e "$f" ] || { echo "package: missing ${f#"$work/root"}"; exit 1; }
done

# libtide-dev's docs are flat: README.md, CHANGELOG.md and docs/*.md in one
# directory (debian/rules rewrites the installed copies' links to match).
step "links in libtide-dev's Markdown docs"
doc=$work/root/usr/share/doc/libtide-dev
bad=$(for md in "$doc"/*.md; do
	grep -o '](\([^)#][^)]*\))' "$md" | sed 's/^](//; s/)$//; s/#.*//' |
		grep -v '^[a-z][a-z+.-]*:' | while read -r t; do
			[ -e "$doc/$t" ] || echo "${md##*/} -> $t"
		done
done)
if [ -n "$bad" ]; then
	echo "$bad"
	echo "not ok - links in the installed docs point nowhere"
	exit 1
fi
echo "ok - every relative link in $(ls "$doc"/*.md | wc -l) installed docs resolves"

cat >"$work/use.c" <<'C'
#include <tide.h>
#include <stdio.h>
int main(void)
{
	char *p = tide_kvmalloc(1 << 20, TIDE_ZERO);
	if (!p || !tide_kv_is_paged(p))
		return 1;
	p = tide_kvrealloc(p, 4096, 0);
	printf("%s %zu\n", tide_version(), tide_kvsize(p));
	tide_kvfree(p);
	return 0;
}
C
expect="$version 4096"
check() { # what, output
	if [ "$2" = "$expect" ]; then
		echo "ok - $1: $2"
	else
		echo "not ok - $1 printed '$2', expected '$expect'"
		exit 1
	fi
}

step "consumer with pkg-config"
export PKG_CONFIG_SYSROOT_DIR="$work/root"
export PKG_CONFIG_LIBDIR="$lib/pkgconfig"
flags=$(pkg-config --cflags --libs tide)
echo "pkg-config --cflags --libs tide: $flags"
case "$flags" in *..*) echo "not ok - pkg-config flags are not normalised"; exit 1 ;; esac
[ "$(pkg-config --modversion tide)" = "$version" ] ||
	{ echo "not ok - tide.pc version differs from $version"; exit 1; }
# shellcheck disable=SC2086
${CC:-cc} -o "$work/use-pc" "$work/use.c" $flags
resolved=$(LD_LIBRARY_PATH=$lib ldd "$work/use-pc" | awk '/libtide/ { print $3 }')
[ "$resolved" = "$lib/libtide.so.0.2" ] ||
	{ echo "not ok - libtide resolved to '$resolved'"; exit 1; }
check "pkg-config consumer (libtide.so.0.2 of the package)" \
	"$(LD_LIBRARY_PATH=$lib "$work/use-pc")"
# tide-static.pc: libtide.a although libtide.so is beside it; the program
# needs no libtide at run time.
flags=$(pkg-config --cflags --libs tide-static)
echo "pkg-config --cflags --libs tide-static: $flags"
case "$flags" in *..*) echo "not ok - pkg-config flags are not normalised"; exit 1 ;; esac
[ "$(pkg-config --modversion tide-static)" = "$version" ] ||
	{ echo "not ok - tide-static.pc version differs from $version"; exit 1; }
# shellcheck disable=SC2086
${CC:-cc} -o "$work/use-static-pc" "$work/use.c" $flags
if readelf -d "$work/use-static-pc" | grep -q 'NEEDED.*libtide' ||
	ldd "$work/use-static-pc" | grep -q libtide; then
	echo "not ok - the tide-static.pc consumer needs libtide.so"
	exit 1
fi
check "pkg-config consumer with tide-static.pc (libtide.a, no libtide.so needed)" \
	"$("$work/use-static-pc")"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR

step "consumer with CMake find_package(tide)"
mkdir "$work/cm"
cat >"$work/cm/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.18)
project(use C)
find_package(tide 0.2 REQUIRED)
add_executable(use-shared ../use.c)
target_link_libraries(use-shared PRIVATE tide::tide)
add_executable(use-static ../use.c)
target_link_libraries(use-static PRIVATE tide::tide_static)
C
cmake -S "$work/cm" -B "$work/cm/b" -DCMAKE_PREFIX_PATH="$work/root/usr" \
	-DCMAKE_FIND_ROOT_PATH="$work/root" >"$work/cm.log" 2>&1 ||
	{ cat "$work/cm.log"; exit 1; }
cmake --build "$work/cm/b" >>"$work/cm.log" 2>&1 || { cat "$work/cm.log"; exit 1; }
check "CMake consumer, tide::tide" "$(LD_LIBRARY_PATH=$lib "$work/cm/b/use-shared")"
check "CMake consumer, tide::tide_static" "$("$work/cm/b/use-static")"
if ldd "$work/cm/b/use-static" | grep -q libtide; then
	echo "not ok - tide::tide_static links libtide.so"
	exit 1
fi

step "tide-tools"
"$work/root/usr/bin/tide-demo" --help | head -n 1
ls "$work/root/usr/bin"
# tide-demo's story 4 runs the packaged tide-run beside it (no build tree,
# nothing in PATH), which preloads the packaged shim into python3.
if [ -x /usr/bin/python3 ]; then
	mkdir -p "$work/empty"
	rc=0
	PATH=$work/empty "$work/root/usr/bin/tide-demo" --quick --no-plot \
		--story 4 --out "$work/demo" >"$work/demo.log" 2>&1 || rc=$?
	if [ $rc -ne 0 ] ||
		! grep -q "^tide-run: $work/root/usr/bin/tide-run\$" "$work/demo.log"; then
		cat "$work/demo.log"
		echo "not ok - tide-demo --story 4 with the packaged tide-run (exit $rc)"
		exit 1
	fi
	echo "ok - tide-demo story 4 runs the packaged tide-run: $(grep '^tide-run python3' "$work/demo.log")"
else
	echo "ok - # SKIP tide-demo story 4: /usr/bin/python3 not installed"
fi
echo "package: ok ($(ls "$work"/*.deb | wc -l) packages in $work, $(($(date +%s) - start)) s)"
