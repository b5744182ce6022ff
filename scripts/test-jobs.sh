#!/bin/sh
# How many tests `make check` and the sanitizer targets run at once: at most
# JOBS, and one per GiB of the memory the tests may use: the smaller of the
# machine's (MemTotal) and the cgroups' limit as tide-run --show reports it
# (docs/limit.md: the smallest limit of the group and the groups above it,
# cgroup v2 or v1).  Some tests fill a few hundred MiB on purpose
# (test_purge's 200 MiB heaps, test_preload's ~300 MiB programs, the
# demo's python story); two of them side by side in a 256 MiB container
# wake the OOM killer, one at a time they pass.
#
# Usage: scripts/test-jobs.sh TIDE_RUN JOBS
# TIDE_RUN is the build's tide-run (preload/tide-run), run with an empty
# environment so that no TIDE_* setting of the caller's counts; when it
# cannot run, only MemTotal counts, and without /proc/meminfo, JOBS.
# Prints the number.
set -u
run=$1
jobs=$2
lim=$(env -i "$run" --show 2>/dev/null | awk '$1 == "limit" { print $2; exit }')
n=$(awk -v jobs="$jobs" -v lim="${lim:-0}" '
	$1 == "MemTotal:" { mem = $2 * 1024 }
	END {
		if (lim ~ /^[0-9]+$/ && lim + 0 > 0 && (mem == 0 || lim + 0 < mem))
			mem = lim + 0
		n = mem > 0 ? int(mem / 1073741824) : jobs
		if (n > jobs) n = jobs
		if (n < 1) n = 1
		print n
	}' /proc/meminfo 2>/dev/null)
echo "${n:-$jobs}"
