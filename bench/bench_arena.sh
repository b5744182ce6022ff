#!/bin/sh
# Driver for bench_arena: each allocator in its own process, interleaved,
# jemalloc preloaded from the path the build found; then the report.
# Usage: sh bench/bench_arena.sh BUILD_DIR   (RUNS=N to change the repeats)
set -eu
build=${1:?usage: bench_arena.sh BUILD_DIR}
bin=$build/bench/bench_arena
runs=${RUNS:-7}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT

je=$("$bin" --jemalloc-path)
if [ -n "$je" ] && [ ! -e "$je" ]; then
	je=
fi
lib() { # the peer's shared library, as CMake found it
	grep "^TIDE_$1_LIB:FILEPATH=" "$build/CMakeCache.txt" 2>/dev/null |
		cut -d= -f2 | grep -v NOTFOUND || true
}
mi=$(lib MIMALLOC)
tc=$(lib TCMALLOC)
peers() { # the same arguments for tide, glibc and every preloaded peer
	"$bin" --mode tide "$@" >>"$raw"
	"$bin" --mode malloc --name glibc "$@" >>"$raw"
	[ -z "$je" ] || LD_PRELOAD=$je "$bin" --mode malloc --name jemalloc "$@" >>"$raw"
	[ -z "$mi" ] || LD_PRELOAD=$mi "$bin" --mode malloc --name mimalloc "$@" >>"$raw"
	[ -z "$tc" ] || LD_PRELOAD=$tc "$bin" --mode malloc --name tcmalloc "$@" >>"$raw"
}
i=0
while [ "$i" -lt "$runs" ]; do
	peers
	peers --threads 2
	"$bin" --mode tide-own --threads 2 >>"$raw"
	peers --threads 4
	"$bin" --mode tide-own --threads 4 >>"$raw"
	i=$((i + 1))
done
"$bin" --report "$raw"
