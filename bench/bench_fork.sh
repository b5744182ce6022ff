#!/bin/sh
# bench_fork without the preload shim, under it, under it with
# TIDE_CONTROL=1 and under it with TIDE_LIMIT=1G, in alternating rounds (a
# fresh process each); then /bin/true started by tide-run, with and
# without --limit: two Markdown sections.
# Usage: sh bench/bench_fork.sh BUILD [OTHER_SHIM]
# OTHER_SHIM: another libtide-preload.so (an earlier build), measured in
# the same rounds, with the tide-run next to it.  BENCH_FORK_ROUNDS (7)
# rounds.
set -eu
build=${1:?usage: bench/bench_fork.sh BUILD_DIR [OTHER_SHIM]}
other=${2:-}
bin=$build/bench/bench_fork
shim=$(cd "$build/preload" && pwd)/libtide-preload.so
runner=$(cd "$build/preload" && pwd)/tide-run
other_run=
[ -n "$other" ] && other_run=$(dirname "$other")/tide-run
rounds=${BENCH_FORK_ROUNDS:-7}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/run"

configs="none shim control limit"
[ -n "$other" ] && configs="$configs other other-limit"
runs="none run run-limit"
[ -n "$other" ] && runs="$runs other-run other-run-limit"

run() { # config mode n
	case $1 in
	none) "$bin" "$2" "$3" ;;
	shim) LD_PRELOAD=$shim "$bin" "$2" "$3" ;;
	control) LD_PRELOAD=$shim TIDE_CONTROL=1 XDG_RUNTIME_DIR=$tmp/run \
		"$bin" "$2" "$3" ;;
	limit) LD_PRELOAD=$shim TIDE_LIMIT=1G "$bin" "$2" "$3" ;;
	other) LD_PRELOAD=$other "$bin" "$2" "$3" ;;
	other-limit) LD_PRELOAD=$other TIDE_LIMIT=1G "$bin" "$2" "$3" ;;
	esac
}

start() { # config n: /bin/true started n times, by tide-run or not
	case $1 in
	none) "$bin" run "$2" /bin/true ;;
	run) "$bin" run "$2" "$runner" /bin/true ;;
	run-limit) "$bin" run "$2" "$runner" --limit 1G /bin/true ;;
	other-run) "$bin" run "$2" "$other_run" /bin/true ;;
	other-run-limit) "$bin" run "$2" "$other_run" --limit 1G /bin/true ;;
	esac
}

r=0
while [ $r -lt "$rounds" ]; do
	for c in $configs; do
		run "$c" exit 300 >>"$tmp/$c.exit"
		run "$c" exec 150 >>"$tmp/$c.exec"
	done
	for c in $runs; do
		start "$c" 40 >>"$tmp/$c.start"
	done
	r=$((r + 1))
done

# median of column $2 of file $1
med() { awk -v c="$2" '{print $c}' "$1" | sort -n |
	awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

echo "## preload shim: what a fork costs"
echo
echo "A program forks N times and waits for each child: *exit*, the child"
echo "calls exit(0) at once (N = 300); *exec*, it execs /bin/true (N = 150)."
echo "Per fork: wall time from fork() to the child reaped, and the children's"
echo "CPU time (user + system) and minor page faults (getrusage()). Run"
echo "without the shim, under it with its defaults, under it with"
echo "TIDE_CONTROL=1 and under it with TIDE_LIMIT=1G; $rounds rounds, the"
echo "configurations alternating, a fresh process each; medians. The ratio"
echo "is to the run without the shim."
[ -n "$other" ] && echo "*other*: \`$other\`, in the same rounds;" \
	"*other-limit*: the same with TIDE_LIMIT=1G."
echo
echo "Command: \`sh bench/bench_fork.sh $build${other:+ $other}\`."
echo
echo "| configuration | exit: µs per fork | child CPU µs | child faults | exec: µs per fork | child CPU µs | child faults |"
echo "|---|---:|---:|---:|---:|---:|---:|"
b_exit=$(med "$tmp/none.exit" 2)
b_exec=$(med "$tmp/none.exec" 2)
for c in $configs; do
	we=$(med "$tmp/$c.exit" 2)
	wx=$(med "$tmp/$c.exec" 2)
	awk -v c="$c" -v we="$we" -v ce="$(med "$tmp/$c.exit" 3)" \
		-v fe="$(med "$tmp/$c.exit" 4)" -v wx="$wx" \
		-v cx="$(med "$tmp/$c.exec" 3)" -v fx="$(med "$tmp/$c.exec" 4)" \
		-v be="$b_exit" -v bx="$b_exec" 'BEGIN {
		printf "| %s | %.0f (%.2fx) | %.0f | %.1f | %.0f (%.2fx) | %.0f | %.1f |\n",
			c, we, we / be, ce, fe, wx, wx / bx, cx, fx }'
done
echo

echo "### tide-run: what starting a program costs"
echo
echo "A program (bench_fork, without the shim) starts /bin/true 40 times, one"
echo "after the other, and waits for each: directly (*none*), through"
echo "\`tide-run\` (*run*) and through \`tide-run --limit 1G\` (*run-limit*),"
echo "in the same rounds as above; medians. /bin/true is the first process"
echo "under the shim here: it makes its monitor at once, and the kernel closes"
echo "its triggers when it exits."
[ -n "$other" ] && echo "*other-run*, *other-run-limit*: \`$other_run\`."
echo
echo "| configuration | ms per start | child CPU ms |"
echo "|---|---:|---:|"
b_start=$(med "$tmp/none.start" 2)
for c in $runs; do
	w=$(med "$tmp/$c.start" 2)
	awk -v c="$c" -v w="$w" -v cpu="$(med "$tmp/$c.start" 3)" \
		-v b="$b_start" 'BEGIN {
		printf "| %s | %.2f (%.1fx) | %.2f |\n", c, w / 1000, w / b,
			cpu / 1000 }'
done
echo
