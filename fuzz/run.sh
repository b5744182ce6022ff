#!/bin/sh
# Run every built fuzz target for a set time, starting from its seed corpus.
# Usage: fuzz/run.sh builddir seconds
# Targets run $FUZZ_JOBS at a time (default 2, one per CI core); each
# still gets its full time.  New inputs go to a scratch corpus in builddir,
# never into the repo; a crash leaves crash-* files in builddir/artifacts
# and fails the run.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
secs=${2:-60}
jobs=${FUZZ_JOBS:-2}
mkdir -p "$dir/artifacts"

# One target; its exit status in $dir/$name.status.
run_one() {
	bin=$1
	name=$(basename "$bin")
	work="$dir/corpus-$name"
	mkdir -p "$work"
	# -rss_limit_mb: kv inputs map up to a few hundred MiB.
	if "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 \
		-max_len=4096 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/$name-" "$work" \
		"$root/fuzz/corpus/$name" >"$dir/$name.log" 2>&1; then
		echo 0 >"$dir/$name.status"
	else
		echo 1 >"$dir/$name.status"
	fi
}

running=0
for bin in "$dir"/fuzz_*; do
	[ -x "$bin" ] || continue
	rm -f "$dir/$(basename "$bin").status"
	echo "=== $(basename "$bin"): ${secs} s"
	run_one "$bin" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait

status=0
for bin in "$dir"/fuzz_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	if [ "$(cat "$dir/$name.status" 2>/dev/null)" != 0 ]; then
		echo "$name: FAILED, see $dir/$name.log"
		tail -40 "$dir/$name.log"
		status=1
	else
		echo "$name:"
		grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' \
			"$dir/$name.log" | tail -2
	fi
done
exit $status
