#!/bin/bash
# SPDX-License-Identifier: MIT
# Run test programs and scripts, stream their TAP prefixed with their name,
# add up their "# Totals:" lines and end with one summary line:
#   pith: N passed, N failed, N skipped
# A program that crashes, hangs, exits non-zero without reporting a failed
# test, or prints no Totals line counts as one failure. Exit 1 if any failed.
#
#   tests/run.sh build/tests/lib_test tests/integration/cli.sh ...
#
# PITH_TEST_PROG_TIMEOUT (seconds, default 900) bounds each program.
set -u

if [ $# -eq 0 ]; then
	echo "usage: $0 TEST_PROGRAM_OR_SCRIPT..." >&2
	exit 2
fi

limit=${PITH_TEST_PROG_TIMEOUT:-900}
pass=0
fail=0
skip=0
problems=()
totals_file=$(mktemp "${TMPDIR:-/tmp}/pith-run.XXXXXX")
trap 'rm -f "$totals_file"' EXIT

for t in "$@"; do
	name=${t##*/}
	if [ ! -f "$t" ]; then
		echo "$name: not found: $t"
		fail=$((fail + 1))
		problems+=("$name: not found (not built?)")
		continue
	fi
	if [ -x "$t" ]; then
		cmd=("$t")
	else
		cmd=(bash "$t")
	fi
	: >"$totals_file"
	timeout --kill-after=10 "$limit" "${cmd[@]}" </dev/null 2>&1 |
		while IFS= read -r line || [ -n "$line" ]; do
			printf '%s: %s\n' "$name" "$line"
			case $line in
			"# Totals: "*) printf '%s\n' "$line" >"$totals_file" ;;
			"not ok "*) printf '%s\n' "$line" >>"$totals_file.fail" ;;
			esac
		done
	rc=${PIPESTATUS[0]}
	if [ -s "$totals_file.fail" ]; then
		while IFS= read -r line || [ -n "$line" ]; do
			problems+=("$name: $line")
		done <"$totals_file.fail"
		rm -f "$totals_file.fail"
	fi

	totals=$(cat "$totals_file")
	if [[ $totals =~ pass:([0-9]+)\ fail:([0-9]+)\ xfail:([0-9]+)\ xpass:([0-9]+)\ skip:([0-9]+)\ error:([0-9]+) ]]; then
		p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} s=${BASH_REMATCH[5]}
		f=$((f + BASH_REMATCH[6] + BASH_REMATCH[4]))
		p=$((p + BASH_REMATCH[3]))
	else
		p=0 f=0 s=0
	fi

	why=
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && [ -z "$totals" ]; then
		why="timed out or killed (exit $rc)"
	elif [ "$rc" -gt 128 ]; then
		why="crashed: $(kill -l $((rc - 128)) 2>/dev/null || echo "exit $rc")"
	elif [ -z "$totals" ]; then
		why="printed no Totals line (exit $rc)"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		why="exited $rc without a failed test"
	elif [ "$rc" -eq 0 ] && [ "$f" -ne 0 ]; then
		why="reported $f failed but exited 0"
	fi
	if [ -n "$why" ]; then
		echo "$name: $why"
		problems+=("$name: $why")
		[ "$f" -eq 0 ] && f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	skip=$((skip + s))
done
rm -f "$totals_file.fail"

if [ ${#problems[@]} -gt 0 ]; then
	echo "failures:"
	for p in "${problems[@]}"; do
		echo "  $p"
	done
fi
echo "pith: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
