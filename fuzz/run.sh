#!/bin/sh
# Run every built fuzz target for a set time, starting from its seed corpus.
# Usage: fuzz/run.sh builddir seconds
# New inputs go to a scratch corpus in builddir, never into the repo; a
# crash leaves crash-* files in builddir/artifacts and fails the run.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
secs=${2:-60}
mkdir -p "$dir/artifacts"
status=0
for bin in "$dir"/fuzz_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	seeds="$root/fuzz/corpus/$name"
	work="$dir/corpus-$name"
	mkdir -p "$work"
	echo "=== $name: ${secs} s"
	# -rss_limit_mb: kv inputs map up to a few hundred MiB.
	if ! "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 \
		-max_len=4096 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/$name-" "$work" "$seeds" \
		>"$dir/$name.log" 2>&1; then
		echo "$name: FAILED, see $dir/$name.log"
		tail -40 "$dir/$name.log"
		status=1
	else
		grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' \
			"$dir/$name.log" | tail -2
	fi
done
exit $status
