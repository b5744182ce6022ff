#!/bin/sh
# Build every fuzz/fuzz_*.c as a libFuzzer target with ASan and UBSan.
# Usage: fuzz/build.sh [outdir]   (default: build-fuzz)
# Needs clang and libclang-rt-14-dev (scripts/deps.sh fuzz).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build-fuzz}
cc=${CC_FUZZ:-clang}
flags="-g -O1 -std=gnu11 -fno-omit-frame-pointer
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
	-Wall -Wextra -Wno-unused-parameter -Werror
	-I$root/include -I$root/src -I$root/fuzz -DTIDE_TEST_HOOKS"
mkdir -p "$out/obj"
# The library once, instrumented for coverage but without libFuzzer's main.
objs=""
for src in "$root"/src/*.c "$root"/src/*/*.c; do
	rel=${src#"$root/src/"}
	o="$out/obj/$(echo "${rel%.c}" | tr / _).o"
	$cc $flags -fsanitize=fuzzer-no-link -fvisibility=hidden \
		-DTIDE_BUILDING -c "$src" -o "$o"
	objs="$objs $o"
done
for src in "$root"/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	$cc $flags -D_GNU_SOURCE -fsanitize=fuzzer "$src" $objs -o "$out/$name" -lpthread
	echo "built $out/$name"
done
