#!/bin/sh
# The examples as a program that copies one compiles it: each file with gcc
# and clang (those installed), as -std=c11 and -std=gnu11, with -Wall
# -Wextra -Werror.  The event-loop examples need their loop's -dev package
# (pkg-config); they are left out without it.
# Usage: sh examples/strict.sh SOURCE_DIR   (ctest: examples_strict)
set -u
src=$1
fail=0
n=0
ccs=
for cc in gcc clang; do
	command -v $cc >/dev/null && ccs="$ccs $cc"
done
[ -n "$ccs" ] || { echo "# SKIP neither gcc nor clang"; exit 77; }
for f in "$src"/examples/*.c "$src"/examples/sqlite/*.c "$src"/examples/loops/*.c; do
	case $f in
	*/loops/glib.c) mod=glib-2.0 ;;
	*/loops/libuv.c) mod=libuv ;;
	*/loops/sd-event.c) mod=libsystemd ;;
	*/sqlite/*) mod=sqlite3 ;;
	*) mod= ;;
	esac
	flags=
	if [ -n "$mod" ]; then
		if ! flags=$(pkg-config --cflags "$mod" 2>/dev/null); then
			echo "ok - ${f#"$src"/} # SKIP $mod not found"
			continue
		fi
	fi
	for cc in $ccs; do
		for std in c11 gnu11; do
			n=$((n + 1))
			# shellcheck disable=SC2086
			if out=$($cc -std=$std -Wall -Wextra -Werror -fsyntax-only \
				-I"$src/include" $flags "$f" 2>&1); then
				echo "ok - $cc -std=$std ${f#"$src"/}"
			else
				echo "not ok - $cc -std=$std ${f#"$src"/}"
				echo "$out" | sed 's/^/# /'
				fail=1
			fi
		done
	done
done
echo "# $n compilations"
exit $fail
