#!/bin/sh
# Smoke test of tide-demo: run it in --quick mode and check its table.
# Usage: sh tools/demo_smoke.sh TIDE_DEMO OUT_DIR [SANITIZER]
# Under a sanitizer the resident figures include shadow memory, so the exact
# page counts are only checked in a plain build.
set -u
demo=$1
out=$2
san=${3:-}
log=$out.log
fail=0

"$demo" --quick --no-plot --out "$out" >"$log" 2>&1
rc=$?
cat "$log"
[ $rc -eq 0 ] || { echo "FAIL: tide-demo exited with $rc"; exit 1; }

check() { # description, then a grep -E pattern that must match
	if grep -Eq "$2" "$log"; then
		echo "ok - $1"
	else
		echo "not ok - $1"
		fail=1
	fi
}

# Part 1: the headline figure, 60 of 64 pages (93.75%), same pointer.
if [ -z "$san" ]; then
	check "tide gives back 60 of 64 pages (93.75%) per block" \
		'^ +tide_kvrealloc +60\.0 of 64 +93\.75% +0/64 '
	check "glibc after a free() gives nothing back" \
		'^ +glibc realloc, after a free\(\) +0\.0 of 64 +0\.00%'
elif [ "$san" = thread ]; then
	# TSan's shadow (several times the application memory) is released
	# with the pages: resident figures are not comparable.
	echo "ok - # SKIP page counts under ThreadSanitizer"
else
	# ASan's own allocations move the figure by a few KiB, and malloc is
	# ASan's, not glibc's.
	check "tide gives back about 60 of 64 pages per block, in place" \
		'^ +tide_kvrealloc +(59|6[0-9])\.[0-9] of 64 .* 0/64 '
fi

# Part 2: tide's registry ends below a quarter of its peak, malloc's at it.
awk '
$1 == "tide" && $(NF-1) == "->" { tpeak = $(NF-2); tend = $NF }
$1 == "malloc/realloc" && $(NF-1) == "->" { mpeak = $(NF-2); mend = $NF }
END {
	ok = tpeak >= 300000 && tend * 4 < tpeak && mend == mpeak && mpeak >= 300000
	printf "%s - registry: tide %d -> %d slots, malloc %d -> %d\n", \
		ok ? "ok" : "not ok", tpeak, tend, mpeak, mend
	exit !ok
}' "$log" || fail=1
[ "$san" = thread ] || awk '
$1 == "tide" && $3 == "MiB" { tend = $6 }
$1 == "malloc/realloc" && $3 == "MiB" { mend = $6 }
END {
	ok = tend > 0 && tend * 2 < mend
	printf "%s - RSS after the fall: tide %.1f MiB, malloc %.1f MiB\n", \
		ok ? "ok" : "not ok", tend, mend
	exit !ok
}' "$log" || fail=1

# Part 3: with the monitor the cache survives under the limit; without it
# is OOM-killed (cgroup) or exceeds the budget.  In the cgroup the monitor
# runs with its defaults and the demo prints what they found: the sources
# and the limit (a line "(monitor from the defaults: sources ..., limit
# ...)").  While the defaults find no limit in a limited cgroup ("limit
# none" or "limit not reported": tide_monitor_limit() is still the stub of
# this round's interface), they cannot save the cache: the survival checks
# are then TAP TODO, reported but not failing.  Once the limit watcher
# lands they are strict again.
grep -Eq '^ +\(monitor from (the defaults|an RSS budget): sources [a-z0-9+-]+, limit ' "$log" ||
	{ echo "not ok - the demo names the monitor's sources and limit"; fail=1; }
todo=""
if grep -Eq '^ +\(monitor from the defaults: .*limit (none|not reported)' "$log"; then
	todo=" # TODO the defaults found no limit (tide_monitor_limit() stub)"
fi
if grep -Eq '^ +with monitor +survived' "$log"; then
	echo "ok - the cache survives with the monitor"
else
	echo "not ok - the cache survives with the monitor$todo"
	[ -n "$todo" ] || fail=1
fi
check "the cache without the monitor is OOM-killed or over budget" \
	'^ +without +(OOM-killed|exceeded the budget)'
awk -v todo="$todo" '
/^3\. / { for (i = 1; i <= NF; i++) if ($i == "MiB") lim = $(i-1) }
$1 == "with" && $2 == "monitor" && $3 == "survived," { peak = $6 }
END {
	ok = peak > 0 && peak < lim
	printf "%s - cache peak RSS %.1f MiB under the %d MiB limit%s\n", \
		ok ? "ok" : "not ok", peak, lim, ok ? "" : todo
	exit !ok && todo == ""
}' "$log" || fail=1
exit $fail
