#!/bin/sh
# scripts/test-jobs.sh, which sets how many tests `make check` runs at once:
# one per GiB of the memory the tests may use, at most JOBS.  Checked in
# real cgroup v1 memory groups (as root): 256 MiB gives 1 where JOBS is 2
# (two memory-filling tests side by side are OOM-killed there), 3 GiB gives
# 3 of 8 and 2 of 2 (where nothing above the group limits it to less); and
# without a limit, MemTotal's GiB, at most JOBS.
# Usage: test_jobs.sh SCRIPT TIDE_RUN
set -u
script=$1
run=$2
fail=0

check() { # what got expected
	if [ "$2" = "$3" ]; then
		echo "ok - $1: $2"
	else
		echo "not ok - $1: $2, expected $3"
		fail=1
	fi
}

memgib=$(awk '$1 == "MemTotal:" { print int($2 / 1048576) }' /proc/meminfo)
lim=$(env -i "$run" --show | awk '$1 == "limit" { print $2; exit }')
# what a limit of $1 bytes counts as: its whole GiB, no more than the
# machine's, at least 1
counted() {
	g=$(($1 / 1073741824))
	[ "$memgib" -lt "$g" ] && g=$memgib
	[ "$g" -lt 1 ] && g=1
	echo "$g"
}
memjobs=$(counted $((memgib * 1073741824)))
if [ "$lim" = 0 ]; then
	check "no limit here, JOBS 1000: MemTotal's GiB" \
		"$(sh "$script" "$run" 1000)" "$memjobs"
	check "no limit here, JOBS 2" "$(sh "$script" "$run" 2)" \
		"$((memjobs < 2 ? memjobs : 2))"
elif [ "$lim" -gt 0 ] 2>/dev/null; then
	check "a limit of $lim here, JOBS 1000" "$(sh "$script" "$run" 1000)" \
		"$(counted "$lim")"
else
	echo "not ok - tide-run --show printed no limit line: '$lim'"
	fail=1
fi
check "tide-run missing, JOBS 1000: MemTotal's GiB only" \
	"$(sh "$script" /nonexistent/tide-run 1000)" "$memjobs"
check "TIDE_LIMIT=300M set by the caller does not count, JOBS 1000" \
	"$(TIDE_LIMIT=300M sh "$script" "$run" 1000)" \
	"$(sh "$script" "$run" 1000)"

v1=$(sed -n 's/^[0-9]*:memory:\(.*\)$/\1/p' /proc/self/cgroup)
cg=/sys/fs/cgroup/memory$v1/tide-jobs-$$
if [ "$(id -u)" -ne 0 ] || [ -z "$v1" ] || ! mkdir "$cg" 2>/dev/null; then
	echo "# SKIP the limits: needs root and a cgroup v1 memory controller"
	[ $fail = 0 ] && exit 77
	exit 1
fi
# the group goes away if the test is stopped (ctest's timeout) too
trap 'rmdir "$cg" 2>/dev/null' EXIT
trap 'exit 1' INT TERM
in_group() { # limit jobs
	echo "$1" >"$cg/memory.limit_in_bytes"
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
		sh "$script" "$run" "$2"
}
check "256 MiB group, JOBS 2" "$(in_group 268435456 2)" 1
# The group is a child of ours: a smaller limit of ours, or a smaller
# machine, is what counts there.
in3=3221225472
[ "$lim" -gt 0 ] 2>/dev/null && [ "$lim" -lt $in3 ] && in3=$lim
gib3=$(counted $in3)
check "3 GiB group, counted as ${gib3} GiB, JOBS 8" "$(in_group 3221225472 8)" "$gib3"
check "3 GiB group, counted as ${gib3} GiB, JOBS 2" "$(in_group 3221225472 2)" \
	"$((gib3 < 2 ? gib3 : 2))"
# Removed here and the trap dropped: dash loses the string of an EXIT trap
# it runs (valgrind, make valgrind, reports it as definitely lost).
rmdir "$cg"
trap - EXIT INT TERM
exit $fail
