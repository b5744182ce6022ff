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
i=0
while [ "$i" -lt "$runs" ]; do
	"$bin" --mode tide >>"$raw"
	"$bin" --mode malloc --name glibc >>"$raw"
	if [ -n "$je" ]; then
		LD_PRELOAD=$je "$bin" --mode malloc --name jemalloc >>"$raw"
	fi
	i=$((i + 1))
done
"$bin" --report "$raw"
