#!/bin/sh
# The hand-written man pages (the tools': man/*.N and man/manN/*.N outside
# man3) render as they are meant to: groff finds nothing to warn about
# (-ww), and no text falls out of an option's entry to the section's left
# margin between two options (a .PP inside an entry ended it: tidectl.1's
# --dir entry, up to 0.2.27).  Paragraphs before the first option and
# after the last stay at the margin on purpose.  Exit 77 (skip) without groff.
# Usage: man_layout.sh ROOT
set -u
root=$1
command -v groff >/dev/null 2>&1 || { echo "no groff: skipped"; exit 77; }
fail=0
for page in "$root"/man/*.[1-9] "$root"/man/man[1-9]/*.[1-9]; do
	case $page in
	*/man3/*) continue ;;
	esac
	[ -f "$page" ] || continue
	warn=$(groff -man -ww -z "$page" 2>&1)
	if [ -n "$warn" ]; then
		printf 'not ok - %s: groff warns:\n%s\n' "$page" "$warn"
		fail=1
		continue
	fi
	# Sections start at column 0, text at the margin (7 columns), an
	# option's tag at the margin with its body right under it, deeper.
	loose=$(groff -man -Tascii -P-cbou -rLL=78n "$page" 2>/dev/null |
		awk 'function tag() { return prev ~ /^       -/ && $0 ~ /^        / }
		     /^[A-Z]/ { sec = $0; seen = 0; loose = ""; next }
		     sec != "OPTIONS" { prev = $0; next }
		     tag() && loose != "" { print loose; exit }
		     tag() { seen = 1 }
		     /^       [^ -]/ && seen && loose == "" { loose = $0 }
		     { prev = $0 }')
	if [ -n "$loose" ]; then
		printf 'not ok - %s: text at the margin between two options: %s\n' \
			"$page" "$loose"
		fail=1
	else
		echo "ok - $page"
	fi
done
exit $fail
