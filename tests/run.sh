#!/bin/bash
# SPDX-License-Identifier: MIT
# Run test programs and scripts and print one line per program, with its
# wall time:
#   lib_test                       3.2 s   41 passed, 0 failed, 0 skipped
# then, for each program that failed, its whole TAP output; then the skip
# reasons grouped with their counts, the five slowest programs (where
# make check's time goes), and one summary line:
#   pith: N passed, N failed, N skipped
# (.ci/run parses that last line: keep its shape). V=1 streams every
# program's TAP, prefixed with its name, as it runs.
#
# A program that crashes, hangs, exits non-zero without reporting a failed
# test, or prints no Totals line counts as one failure. Exit 1 if any failed.
#
#   tests/run.sh build/tests/lib_test tests/integration/cli.sh ...
#
# A test script NAME.sh may have an executable NAME.prepare beside it: its
# slow set-up (posix_programs.prepare builds three programs from Debian's
# sources), started before the first program in the background at nice 19,
# in a session of its own, on the CPU the programs before NAME.sh leave
# idle. It is set back to run.sh's own nice just before NAME.sh starts
# (which must still work without it: run alone, it does its own set-up),
# and ended at exit if still running.
#
# PITH_TEST_PROG_TIMEOUT (seconds, default 900 times PITH_TEST_TIMEOUT_SCALE,
# the harness's stretch of every test's timeout) bounds each program. Copies
# of every `pith --json` document the programs print are collected for the
# schema test (tests/integration/json_schema.sh, run last).
set -u

if [ $# -eq 0 ]; then
	echo "usage: $0 TEST_PROGRAM_OR_SCRIPT..." >&2
	exit 2
fi

scale=${PITH_TEST_TIMEOUT_SCALE:-1}
[[ $scale =~ ^[0-9]+$ ]] && [ "$scale" -ge 1 ] && [ "$scale" -le 1000 ] || scale=1
limit=${PITH_TEST_PROG_TIMEOUT:-$((900 * scale))}
verbose=${V:-0}
pass=0
fail=0
skip=0
failed_logs=()
problems=()
work=$(mktemp -d "${TMPDIR:-/tmp}/pith-run.XXXXXX")
declare -A prepared
# running PID: PID is a set-up still under way (a job of this shell)
running() { jobs -rp | grep -qx "$1"; }
stop_prepared() {
	local pg
	for pg in "${prepared[@]}"; do
		running "$pg" && kill -- -"$pg" 2>/dev/null
	done
}
trap 'stop_prepared; rm -rf "$work"' EXIT
mkdir "$work/json"
for t in "$@"; do
	case $t in *.sh) ;; *) continue ;; esac
	prep=${t%.sh}.prepare
	[ -x "$prep" ] || continue
	name=${t##*/}
	setsid nice -n 19 "$prep" </dev/null >"$work/$name.prepare.log" 2>&1 &
	prepared[$name]=$!
done
export PITH_TEST_JSON_DIR=$work/json PITH_SUITE_JSON_DIR=$work/json
: >"$work/skips"
: >"$work/times"

for t in "$@"; do
	name=${t##*/}
	log=$work/$name.log
	if [ ! -f "$t" ]; then
		printf '%-28s not found: %s\n' "$name" "$t"
		fail=$((fail + 1))
		problems+=("$name: not found (not built?)")
		continue
	fi
	if [ -x "$t" ]; then
		cmd=("$t")
	else
		cmd=(bash "$t")
	fi
	# Its set-up, if still under way, now at the tests' priority.
	[ -n "${prepared[$name]:-}" ] && running "${prepared[$name]}" &&
		renice -n "$(nice)" -g "${prepared[$name]}" >/dev/null 2>&1
	t0=$EPOCHREALTIME
	if [ "$verbose" = 1 ]; then
		timeout --kill-after=10 "$limit" "${cmd[@]}" </dev/null 2>&1 |
			tee "$log" | sed -u "s|^|$name: |"
		rc=${PIPESTATUS[0]}
	else
		timeout --kill-after=10 "$limit" "${cmd[@]}" </dev/null >"$log" 2>&1
		rc=$?
	fi

	# EPOCHREALTIME: seconds.microseconds (bash 5)
	secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	printf '%s\t%s\n' "$secs" "$name" >>"$work/times"
	totals=$(grep -a '^# Totals: ' "$log" | tail -n 1)
	if [[ $totals =~ pass:([0-9]+)\ fail:([0-9]+)\ xfail:([0-9]+)\ xpass:([0-9]+)\ skip:([0-9]+)\ error:([0-9]+) ]]; then
		p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} s=${BASH_REMATCH[5]}
		f=$((f + BASH_REMATCH[6] + BASH_REMATCH[4]))
		p=$((p + BASH_REMATCH[3]))
	else
		p=0 f=0 s=0
	fi
	grep -a -e '^ok .* # SKIP ' -e '^1\.\.0 # SKIP' "$log" |
		sed -e "s|^ok [0-9]* [^#]*# SKIP *|$name	|" \
			-e "s|^1\.\.0 # SKIP *|$name	|" >>"$work/skips"

	why=
	if { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; } && [ -z "$totals" ]; then
		why="timed out after ${limit} s (PITH_TEST_PROG_TIMEOUT) or killed (exit $rc)"
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
		problems+=("$name: $why")
		[ "$f" -eq 0 ] && f=1
	fi
	while IFS= read -r line; do
		problems+=("$name: $line")
	done < <(grep -a '^not ok ' "$log")
	printf '%-28s %6s s %4d passed, %d failed, %d skipped%s\n' "$name" \
		"$secs" "$p" "$f" "$s" "${why:+ ($why)}"
	[ "$f" -ne 0 ] && failed_logs+=("$name")
	pass=$((pass + p))
	fail=$((fail + f))
	skip=$((skip + s))
done

if [ "$verbose" != 1 ]; then
	for name in "${failed_logs[@]}"; do
		echo "--- $name (full output)"
		cat "$work/$name.log"
		echo "--- end of $name"
	done
fi
if [ -s "$work/skips" ]; then
	echo "skipped, by reason:"
	# "prog<TAB>reason" -> "  N  reason (prog, prog)"
	sort -t '	' -k2 "$work/skips" | awk -F '\t' '
		function flush() {
			if (n) printf "  %4d  %s (%s)\n", n, reason, progs
		}
		$2 != reason { flush(); reason = $2; n = 0; progs = "" }
		{ n++; if (index(", " progs ", ", ", " $1 ", ") == 0)
			progs = progs ? progs ", " $1 : $1 }
		END { flush() }'
fi
if [ -s "$work/times" ]; then
	printf 'slowest:'
	sort -t '	' -k1,1 -rn "$work/times" | head -n 5 |
		awk -F '\t' '{ printf "%s %s %s s", (NR > 1 ? "," : ""), $2, $1 } END { print "" }'
fi
if [ ${#problems[@]} -gt 0 ]; then
	echo "failures:"
	for p in "${problems[@]}"; do
		echo "  $p"
	done
fi
echo "pith: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
