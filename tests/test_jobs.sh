#!/bin/sh
# scripts/test-jobs.sh, which sets how many tests `make check` runs at once:
# one per GiB of the memory the tests may use, at most JOBS.  Checked in
# real cgroup v1 memory groups (as root): 256 MiB gives 1 where JOBS is 2
# (two memory-filling tests side by side are OOM-killed there), 3 GiB gives
# 3 of 8 and 2 of 2; and without a limit, MemTotal's GiB, at most JOBS.
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
lim=$("$run" --show | awk '$1 == "limit" { print $2; exit }')
if [ "$lim" = 0 ]; then
	want=$((memgib < 1 ? 1 : memgib))
	check "no limit here, JOBS 1000: MemTotal's GiB" \
		"$(sh "$script" "$run" 1000)" "$want"
	check "no limit here, JOBS 1" "$(sh "$script" "$run" 1)" 1
fi
check "tide-run missing, JOBS 1: MemTotal only" \
	"$(sh "$script" /nonexistent/tide-run 1)" 1

v1=$(sed -n 's/^[0-9]*:memory:\(.*\)$/\1/p' /proc/self/cgroup)
cg=/sys/fs/cgroup/memory$v1/tide-jobs-$$
if [ "$(id -u)" -ne 0 ] || [ -z "$v1" ] || ! mkdir "$cg" 2>/dev/null; then
	echo "# SKIP the limits: needs root and a cgroup v1 memory controller"
	[ $fail = 0 ] && exit 77
	exit 1
fi
in_group() { # limit jobs
	echo "$1" >"$cg/memory.limit_in_bytes"
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
		sh "$script" "$run" "$2"
}
if [ "$memgib" -ge 3 ]; then
	check "256 MiB group, JOBS 2" "$(in_group 268435456 2)" 1
	check "3 GiB group, JOBS 8" "$(in_group 3221225472 8)" 3
	check "3 GiB group, JOBS 2" "$(in_group 3221225472 2)" 2
else
	echo "# SKIP the 3 GiB group: the machine has ${memgib} GiB"
	check "256 MiB group, JOBS 2" "$(in_group 268435456 2)" 1
fi
rmdir "$cg"
exit $fail
