#!/bin/sh
# Driver for bench_kv: one fresh process per allocator and run, allocators
# interleaved so that machine noise hits them alike; then the report.
# Usage: sh bench/bench_kv.sh BUILD_DIR   (BENCH_REPS, default 7)
# BENCH_KV_SMALL=only: part (c) alone; BENCH_KV_WATCH=only: part (d) alone
# (BENCH_KV_WATCH_REPS processes per allocator, default 3).
set -eu
build=$1
bin=$build/bench/bench_kv
reps=${BENCH_REPS:-5}
lib() { # the peer's shared library, as CMake found it
	grep "^TIDE_$1_LIB:FILEPATH=" "$build/CMakeCache.txt" 2>/dev/null |
		cut -d= -f2 | grep -v NOTFOUND || true
}
je=$(lib JEMALLOC)
mi=$(lib MIMALLOC)
tc=$(lib TCMALLOC)
results=$(mktemp)
small=$(mktemp)
watch=$(mktemp)
trap 'rm -f "$results" "$small" "$watch"' EXIT
# (d) heap-sized blocks while the sensor watches them, in the same order
watch_runs() {
	i=0
	while [ $i -lt "${BENCH_KV_WATCH_REPS:-3}" ]; do
		"$bin" watch glibc >>"$watch"
		[ -n "$je" ] && LD_PRELOAD=$je "$bin" watch jemalloc >>"$watch"
		[ -n "$mi" ] && LD_PRELOAD=$mi "$bin" watch mimalloc >>"$watch"
		[ -n "$tc" ] && LD_PRELOAD=$tc "$bin" watch tcmalloc >>"$watch"
		i=$((i + 1))
	done
}
if [ "${BENCH_KV_WATCH:-}" = only ]; then
	watch_runs
	"$bin" watch-report <"$watch"
	exit 0
fi
# (c) heap-sized blocks: tide on top of each allocator against that allocator
i=0
while [ $i -lt "${BENCH_KV_SMALL_REPS:-3}" ]; do
	"$bin" small glibc >>"$small"
	[ -n "$je" ] && LD_PRELOAD=$je "$bin" small jemalloc >>"$small"
	[ -n "$mi" ] && LD_PRELOAD=$mi "$bin" small mimalloc >>"$small"
	[ -n "$tc" ] && LD_PRELOAD=$tc "$bin" small tcmalloc >>"$small"
	i=$((i + 1))
done
if [ "${BENCH_KV_SMALL:-}" = only ]; then
	"$bin" small-report <"$small"
	exit 0
fi
i=0
while [ $i -lt "$reps" ]; do
	"$bin" run tide >>"$results"
	"$bin" run glibc >>"$results"
	[ -n "$je" ] && LD_PRELOAD=$je "$bin" run jemalloc >>"$results"
	[ -n "$mi" ] && LD_PRELOAD=$mi "$bin" run mimalloc >>"$results"
	[ -n "$tc" ] && LD_PRELOAD=$tc "$bin" run tcmalloc >>"$results"
	i=$((i + 1))
done
"$bin" report <"$results"
echo
"$bin" small-report <"$small"
watch_runs
echo
"$bin" watch-report <"$watch"
for p in jemalloc:$je mimalloc:$mi tcmalloc:$tc; do
	[ -n "${p#*:}" ] || echo "\n(${p%%:*} not installed: skipped)"
done
