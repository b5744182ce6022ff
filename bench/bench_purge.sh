#!/bin/sh
# bench_purge under glibc and each allocator peer preloaded in turn (one
# process each), as one Markdown section.  Usage: sh bench/bench_purge.sh BUILD
set -eu
build=${1:?usage: bench/bench_purge.sh BUILD_DIR}
bin=$build/bench/bench_purge
lib=/usr/lib/x86_64-linux-gnu
echo "## purge: one tide_drop_caches() against the allocator's own purge"
echo
echo "200 MiB in 200-byte blocks, all freed but one allocated last; MiB given"
echo "back is Anonymous: (smaps_rollup) before minus after the call.  The floor"
echo "is the allocator's purge called directly (malloc_trim(0);"
echo "mallctl(\"arena.4096.purge\") after a tcache flush; mi_collect(true);"
echo "MallocExtension_ReleaseFreeMemory()).  tide_drop_caches() runs the"
echo "passes (no shrinkers here), then tide_purge(), which also reads"
echo "/proc/self/statm before and after.  Medians of 7 alternating rounds per"
echo "allocator.  Goal (issue 13): >= 95% of the floor's bytes in <= 1.2x its"
echo "time."
echo
echo "Command: \`sh bench/bench_purge.sh $build\`."
echo
"$bin" --header
"$bin"
for so in libjemalloc.so.2 libmimalloc.so.2 libtcmalloc.so.4; do
	if [ -r "$lib/$so" ]; then
		LD_PRELOAD=$lib/$so "$bin"
	else
		echo "| $so | not installed (scripts/deps.sh test) | | | | | |"
	fi
done
