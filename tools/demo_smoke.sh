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

# Usage: a stray argument is refused; --help names the four stories.
"$demo" extra >"$log" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "unexpected argument 'extra'" "$log" &&
	grep -q '^usage: tide-demo ' "$log"; then
	echo "ok - a stray argument: usage, exit 2"
else
	cat "$log"
	echo "FAIL: tide-demo extra exited with $rc"
	exit 1
fi
"$demo" --help >"$log" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c '^  [1-4]\. ' "$log")" -eq 4 ] &&
	grep -q -- '-h, --help' "$log"; then
	echo "ok - --help: the four stories, exit 0"
else
	cat "$log"
	echo "FAIL: tide-demo --help (exit $rc)"
	exit 1
fi

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
check "the cache survives with the monitor" '^ +with monitor +survived'
check "the cache without the monitor is OOM-killed or over budget" \
	'^ +without +(OOM-killed|exceeded the budget)'
awk '
/^3\. / { for (i = 1; i <= NF; i++) if ($i == "MiB") lim = $(i-1) }
$1 == "with" && $2 == "monitor" && $3 == "survived," { peak = $6 }
END {
	ok = peak > 0 && peak < lim
	printf "%s - cache peak RSS %.1f MiB under the %d MiB limit\n", \
		ok ? "ok" : "not ok", peak, lim
	exit !ok
}' "$log" || fail=1

# Part 4: an unmodified CPython under tide-run gives its fragmented heap back
# after one pressure event; without it, it keeps it.  Under a sanitizer the
# shim is instrumented and cannot be preloaded into an uninstrumented python3.
if [ -n "$san" ]; then
	echo "ok - # SKIP python3 under tide-run: the shim is built with a sanitizer"
elif ! [ -x /usr/bin/python3 ]; then
	echo "ok - # SKIP python3 under tide-run: /usr/bin/python3 not installed"
else
	awk '
	$1 == "python3" && $NF ~ /%$/ { plain = $(NF) + 0; seen1 = 1 }
	$1 == "tide-run" && $2 == "python3" && $NF ~ /%$/ { shim = $(NF) + 0; seen2 = 1 }
	END {
		ok1 = seen1 && plain >= 80; ok2 = seen2 && shim <= 40
		printf "%s - python3 alone keeps %d%% (>= 80%%)\n", ok1 ? "ok" : "not ok", plain
		printf "%s - python3 under tide-run keeps %d%% (<= 40%%)\n", ok2 ? "ok" : "not ok", shim
		exit !(ok1 && ok2)
	}' "$log" || fail=1
	# As installed: tide-run is looked for next to tide-demo (the same
	# bin/) before the build tree and $PATH.  A copy of tide-demo with a
	# tide-run beside it (a script running the build's), no build tree,
	# an empty $PATH: story 4 alone runs that tide-run.  Without it the
	# story fails, and so does tide-demo (exit 1).
	inst=$out.installed
	rm -rf "$inst"
	mkdir -p "$inst/bin" "$inst/empty"
	cp "$demo" "$inst/bin/tide-demo"
	printf '#!/bin/sh\nexec "%s" "$@"\n' \
		"$(cd "$(dirname "$demo")/.." && pwd)/preload/tide-run" \
		>"$inst/bin/tide-run"
	chmod +x "$inst/bin/tide-run"
	PATH=$inst/empty "$inst/bin/tide-demo" --quick --no-plot --story 4 \
		--build-dir "$inst/nothing" --out "$inst/out" >"$inst/log" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && grep -q "^tide-run: $inst/bin/tide-run\$" "$inst/log"; then
		echo "ok - installed layout: story 4 runs the tide-run next to tide-demo"
	else
		cat "$inst/log"
		echo "not ok - installed layout: story 4 (exit $rc)"
		fail=1
	fi
	rm "$inst/bin/tide-run"
	PATH=$inst/empty "$inst/bin/tide-demo" --quick --no-plot --story 4 \
		--build-dir "$inst/nothing" --out "$inst/out" >"$inst/log" 2>&1
	rc=$?
	if [ $rc -eq 1 ] && grep -q "tide-run not found" "$inst/log" &&
		grep -q "story 4 FAILED" "$inst/log"; then
		echo "ok - no tide-run anywhere: story 4 fails, exit 1"
	else
		cat "$inst/log"
		echo "not ok - no tide-run anywhere: exit $rc"
		fail=1
	fi
	# python3 killed from outside (as the OOM killer does in a small
	# container) once its heap is built and it waits for its next
	# question: the demo's next write to it meets a pipe without a
	# reader.  The story says how python3 ended and fails; tide-demo
	# still prints its summary and exits 1 (up to 0.2.20 SIGPIPE ended
	# it: exit 141, no summary).
	"$demo" --quick --no-plot --story 4 --out "$inst/out" >"$inst/log" 2>&1 &
	dpid=$!
	victim=
	i=0
	while [ -z "$victim" ] && [ $i -lt 600 ] && kill -0 "$dpid" 2>/dev/null; do
		for f in /proc/[0-9]*/stat; do
			{ read -r pid comm state ppid rest <"$f"; } 2>/dev/null ||
				continue
			[ "$ppid" = "$dpid" ] && [ "$comm" = "(python3)" ] &&
				[ "$state" = S ] || continue
			rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
			# at least 40k objects of 1 KiB (story_python.c)
			[ "${rss:-0}" -gt 40000 ] && victim=$pid
		done
		[ -n "$victim" ] || sleep 0.05
		i=$((i + 1))
	done
	[ -n "$victim" ] && kill -KILL "$victim"
	wait "$dpid"
	rc=$?
	if [ -n "$victim" ] && [ $rc -eq 1 ] &&
		grep -q '^python3 *(did not finish: python3 killed by signal 9' "$inst/log" &&
		grep -q '^tide-demo summary' "$inst/log" &&
		grep -q "story 4 FAILED" "$inst/log"; then
		echo "ok - python3 killed during story 4: the story says so, summary, exit 1"
	else
		cat "$inst/log"
		echo "not ok - python3 killed during story 4 (pid ${victim:-none found}): exit $rc"
		fail=1
	fi
	# In a memory cgroup limited to 256 MiB (cgroup v1, as root), where
	# 300k objects were OOM-killed: a quarter of the limit's worth, said
	# under the heading, and the story passes.
	v1=$(sed -n 's/^[0-9]*:memory:\(.*\)$/\1/p' /proc/self/cgroup)
	cg=/sys/fs/cgroup/memory$v1/tide-smoke-$$
	if [ "$(id -u)" -ne 0 ] || [ -z "$v1" ] || ! mkdir "$cg" 2>/dev/null; then
		echo "ok - # SKIP story 4 in a 256 MiB group: needs root and a cgroup v1 memory controller"
	else
		echo 268435456 >"$cg/memory.limit_in_bytes"
		sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
			"$demo" --quick --no-plot --story 4 --out "$inst/out" \
			>"$inst/log" 2>&1
		rc=$?
		rmdir "$cg" 2>/dev/null
		if [ $rc -eq 0 ] && awk '
			/^\([0-9]+k, not 300k: a quarter of the cgroups. limit, [0-9]+ MiB\)$/ {
				n = substr($1, 2) + 0; mib = $(NF - 1) + 0
				# limit / 4 / 1100 objects, at least 40k; in
				# thousands, the limit printed rounded to a MiB
				lo = int((mib - 0.5) * 1048576 / 4400 / 1000)
				hi = int((mib + 0.5) * 1048576 / 4400 / 1000)
				if (lo < 40) lo = 40
				if (hi < 40) hi = 40
				ok = n >= lo && n <= hi
			}
			END { exit !ok }' "$inst/log"; then
			echo "ok - story 4 in a 256 MiB group: $(sed -n 's/^(\([0-9]*k\), not 300k.*/\1/p' "$inst/log") objects, exit 0"
		else
			cat "$inst/log"
			echo "not ok - story 4 in a 256 MiB group (exit $rc)"
			fail=1
		fi
	fi
	rm -rf "$inst"
fi
exit $fail
