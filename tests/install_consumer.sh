#!/bin/sh
# Install tide into a temporary prefix and build a consumer against it,
# once through pkg-config and once through find_package(tide).  CFLAGS and
# CXXFLAGS (ctest passes the build's word-size flag, -m32 for a 32-bit
# build) go to every compile, the CMake consumer's too.
set -eu
src=$1
build=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
command -v pkg-config >/dev/null || { echo "# SKIP pkg-config missing"; exit 77; }
cmake --install "$build" --prefix "$prefix" >/dev/null
cat >"$prefix/use.c" <<'C'
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
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
# shellcheck disable=SC2086
${CC:-cc} ${CFLAGS:-} -o "$prefix/use" "$prefix/use.c" $(pkg-config --cflags --libs tide)
out=$(LD_LIBRARY_PATH="$prefix/lib:$prefix/lib/x86_64-linux-gnu" "$prefix/use")
[ "$out" = "$(pkg-config --modversion tide) 4096" ] || { echo "pkg-config consumer printed: $out"; exit 1; }
# tide-static.pc links libtide.a although libtide.so lies next to it: the
# program needs no libtide at run time (no NEEDED entry, no library path).
# shellcheck disable=SC2086
${CC:-cc} ${CFLAGS:-} -o "$prefix/use-static" "$prefix/use.c" $(pkg-config --cflags --libs tide-static)
if readelf -d "$prefix/use-static" | grep -q 'NEEDED.*libtide'; then
	echo "tide-static.pc consumer needs libtide.so: $(readelf -d "$prefix/use-static" | grep NEEDED)"
	exit 1
fi
out=$("$prefix/use-static")
[ "$out" = "$(pkg-config --modversion tide-static) 4096" ] || { echo "tide-static.pc consumer printed: $out"; exit 1; }
# The inline fast paths of kv.h and vec.h, as C11 (gcc and clang), C++17
# (g++ and clang++), and C99 and C++03 (which get the exported functions
# only), warnings as errors.
cat >"$prefix/vec.c" <<'C'
#include <tide.h>
#include <stdint.h>
#include <stdio.h>
int main(void)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	uint64_t x, sum = 0;
	char *p;

	for (uint64_t i = 0; i < 100000; i++)
		if (tide_vec_push_val(&v, uint64_t, i))
			return 1;
	while (v.len) {
		if (tide_vec_pop_val(&v, uint64_t, &x))
			return 2;
		sum += x;
	}
	tide_vec_destroy(&v);
	p = (char *)tide_kvmalloc(100, 0);
	if (!p)
		return 3;
	p = (char *)tide_kvrealloc(p, 200, 0);
	tide_kvfree(p);
	printf("%llu\n", (unsigned long long)sum);
	return 0;
}
C
cp "$prefix/vec.c" "$prefix/vec.cc"
# (C++03 without -pedantic: the headers end enumerator lists with commas.)
for c in "${CC:-cc} -std=c11 -pedantic:vec.c" \
	"${CC:-cc} -std=c99 -pedantic:vec.c" "clang -std=c11 -pedantic:vec.c" \
	"${CXX:-c++} -std=c++17 -pedantic:vec.cc" \
	"clang++ -std=c++17 -pedantic:vec.cc" "${CXX:-c++} -std=c++03:vec.cc"; do
	comp=${c%%:*}
	command -v "${comp%% *}" >/dev/null || continue
	case ${c#*:} in
	*.cc) flags=${CXXFLAGS:-} ;;
	*) flags=${CFLAGS:-} ;;
	esac
	# shellcheck disable=SC2086
	$comp $flags -Wall -Wextra -Werror -O2 -o "$prefix/vec" \
		"$prefix/${c#*:}" $(pkg-config --cflags --libs tide)
	out=$(LD_LIBRARY_PATH="$prefix/lib:$prefix/lib/x86_64-linux-gnu" "$prefix/vec")
	[ "$out" = 4999950000 ] || { echo "$comp consumer printed: $out"; exit 1; }
done
mkdir "$prefix/cm"
cat >"$prefix/cm/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.18)
project(use C)
find_package(tide REQUIRED)
add_executable(use ../use.c)
target_link_libraries(use PRIVATE tide::tide_static)
C
cmake -S "$prefix/cm" -B "$prefix/cm/b" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cm/b" -v >"$prefix/cm/build.log"
out=$("$prefix/cm/b/use")
[ "$out" = "$(pkg-config --modversion tide) 4096" ] || { echo "find_package consumer printed: $out"; exit 1; }
# tide::tide_static links what libtide.a needs, as tide-static.pc does:
# -ldl (dlsym/dladdr before glibc 2.34; glibc 2.34 and later link without
# it, so only the link line shows it missing).
link=$(grep -- 'libtide\.a' "$prefix/cm/build.log" | grep -- '-o ')
if pkg-config --libs tide-static | grep -q -- ' -ldl'; then
	case " $link " in
	*" -ldl "*) ;;
	*) echo "tide::tide_static link line lacks -ldl: $link"; exit 1 ;;
	esac
fi
# Only TIDE_API symbols are exported from the shared library.
lib=$(ls "$prefix"/lib*/libtide.so.0.* "$prefix"/lib/*/libtide.so.0.* 2>/dev/null | head -n 1)
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^tide_' | grep -v '^_' || true)
[ -z "$bad" ] || { echo "unexpected exported symbols: $bad"; exit 1; }
# One private symbol is exported on purpose: the inline kv fast paths of
# kv.h read it (docs/abi.md).
intern=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep '^tide__' | grep -vx 'tide__kv_fast_limit' || true)
[ -z "$intern" ] || { echo "internal symbols exported: $intern"; exit 1; }
echo "1 passed, 0 failed"
