#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench-vec-loaded.sh - the AUTOTRIM goal on a loaded machine, run after run.
#
# Runs bench_vec's spike/fall workload for tide_vec + AUTOTRIM and
# std::vector + shrink_to_fit BENCH_VEC_RUNS times (default 5), each run
# beside BENCH_VEC_LOAD CPU-spinning processes (default 1) that the
# benchmark starts itself, and prints each run's ratio, the worst RSS
# after a fall, and how many runs met the goal (AUTOTRIM >= 5x faster).
#
# Usage: scripts/bench-vec-loaded.sh [path/to/bench_vec]
# (default build-bench/bench/bench_vec; BENCH_VEC_REPS, BENCH_VEC_N and
# BENCH_VEC_CYCLES pass through, BENCH_VEC_REPS defaulting to 1).
set -eu

bin=${1:-build-bench/bench/bench_vec}
runs=${BENCH_VEC_RUNS:-5}
load=${BENCH_VEC_LOAD:-1}
met=0
i=1

echo "bench_vec spike/fall beside $load CPU-spinning process(es), $runs runs: $bin"
while [ "$i" -le "$runs" ]; do
	out=$(BENCH_VEC_LOAD=$load BENCH_VEC_REPS=${BENCH_VEC_REPS:-1} \
		BENCH_VEC_ONLY='AUTOTRIM,shrink_to_fit' "$bin" 2>/dev/null)
	speed=$(printf '%s\n' "$out" | grep 'at least 5×')
	rss=$(printf '%s\n' "$out" | grep 'RSS after a fall ≤')
	ratio=$(printf '%s\n' "$speed" | sed -n 's/.*, \([0-9.]*\)× — .*/\1/p')
	times=$(printf '%s\n' "$speed" | sed -n 's/.*shrink_to_fit: \([0-9.]* s vs [0-9.]* s\).*/\1/p')
	worst=$(printf '%s\n' "$rss" | sed -n 's/.*back[^:]*: worst \([0-9.]* MiB\).*/\1/p')
	raw=$(printf '%s\n' "$rss" | sed -n 's/.*, worst \([0-9.]* MiB\) ([0-9.]* × live)\.$/\1/p')
	verdict=$(printf '%s\n' "$speed" | sed -n 's/.*\*\*\(.*\)\*\*.*/\1/p')
	rssv=$(printf '%s\n' "$rss" | sed -n 's/.*\*\*\(.*\)\*\*.*/\1/p')
	loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "run $i: ${ratio}× ($times), $verdict; RSS after a fall worst $worst with malloc's free memory trimmed ($rssv), $raw untrimmed; load average $loadavg"
	[ "$verdict" = met ] && [ "$rssv" = met ] && met=$((met + 1))
	i=$((i + 1))
done
echo "AUTOTRIM ≥ 5× std::vector + shrink_to_fit with the RSS bound kept: met in $met of $runs runs"
[ "$met" -eq "$runs" ]
