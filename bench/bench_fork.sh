#!/bin/sh
# bench_fork without the preload shim, under it, and under it with
# TIDE_CONTROL=1, in alternating rounds (a fresh process each), as one
# Markdown section.  Usage: sh bench/bench_fork.sh BUILD [OTHER_SHIM]
# OTHER_SHIM: another libtide-preload.so (an earlier build), measured in
# the same rounds.  BENCH_FORK_ROUNDS (7) rounds.
set -eu
build=${1:?usage: bench/bench_fork.sh BUILD_DIR [OTHER_SHIM]}
other=${2:-}
bin=$build/bench/bench_fork
shim=$(cd "$build/preload" && pwd)/libtide-preload.so
rounds=${BENCH_FORK_ROUNDS:-7}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/run"

configs="none shim control"
[ -n "$other" ] && configs="$configs other"

run() { # config mode n
	case $1 in
	none) "$bin" "$2" "$3" ;;
	shim) LD_PRELOAD=$shim "$bin" "$2" "$3" ;;
	control) LD_PRELOAD=$shim TIDE_CONTROL=1 XDG_RUNTIME_DIR=$tmp/run \
		"$bin" "$2" "$3" ;;
	other) LD_PRELOAD=$other "$bin" "$2" "$3" ;;
	esac
}

r=0
while [ $r -lt "$rounds" ]; do
	for c in $configs; do
		run "$c" exit 300 >>"$tmp/$c.exit"
		run "$c" exec 150 >>"$tmp/$c.exec"
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
echo "without the shim, under it with its defaults, and under it with"
echo "TIDE_CONTROL=1; $rounds rounds, the configurations alternating, a fresh"
echo "process each; medians. The ratio is to the run without the shim."
[ -n "$other" ] && echo "*other*: \`$other\`, in the same rounds."
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
