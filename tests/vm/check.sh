#!/bin/sh
# SPDX-License-Identifier: MIT
# Judge a VM run: fail on any failed or missing test, on a run that did not
# finish, and on any kernel report (BUG, WARNING, Oops, general protection,
# refcount, lockdep, hung task, panic) in the kernel log. On a failure it
# prints the console around each report (its stacks), or, with no report,
# the console's last lines: where a hung guest stood.
#
#   check.sh RESULTS.tap CONSOLE.log
set -u
results=$1 console=$2
bad=0

fail() {
	echo "vmcheck: $*" >&2
	bad=1
}

[ -s "$results" ] || { echo "vmcheck: no results in $results" >&2; exit 1; }
tr -d '\r' <"$results" >"$results.clean"
grep -q '^# pith-vm: done' "$results.clean" ||
	fail "the VM did not finish (crash, panic or timeout): see $console"

plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$results.clean" | tail -n 1)
ran=$(grep -c -E '^(not )?ok [0-9]+' "$results.clean")
failed=$(grep -c -E '^not ok [0-9]+' "$results.clean")
[ -n "$plan" ] || fail "no TAP plan line"
[ -n "$plan" ] && [ "$plan" != "$ran" ] && fail "planned $plan tests, ran $ran"
[ "$failed" -eq 0 ] || {
	fail "$failed failed:"
	grep -E '^not ok [0-9]+' "$results.clean" >&2
}
# A failed subtest is a failure even if its program's exit code said 0.
sub=$(grep -c -E '^# not ok [0-9]+' "$results.clean")
[ "$sub" -eq 0 ] || {
	fail "$sub subtests failed:"
	grep -E '^# not ok [0-9]+' "$results.clean" >&2
}

# Kernel reports, from the console and from the dmesg dump in the results.
pattern='BUG:|WARNING:|Oops|general protection|refcount_t|lockdep|'\
'possible (circular|recursive) locking|inconsistent lock state|'\
'blocked for more than|Kernel panic|soft lockup|hard LOCKUP|'\
'UBSAN:|KASAN:|list_(add|del) corruption|Bad page (state|map)|'\
'\*\*\* DEADLOCK \*\*\*'
reports=$( { tr -d '\r' <"$console" 2>/dev/null
	     sed -n 's/^# dmesg: //p' "$results.clean"; } |
	   grep -E "$pattern" | sort -u)
[ -z "$reports" ] || {
	fail "kernel reports in the log:"
	echo "$reports" >&2
}

# The console from each report on (100 lines: the report, its registers and
# stacks, the other CPUs' backtraces), at most 600 lines in all.
if [ $bad -ne 0 ] && [ -s "$console" ]; then
	if [ -n "$reports" ]; then
		echo "vmcheck: the console around the reports ($console):" >&2
		tr -d '\r' <"$console" |
			PAT=$pattern awk -v after=100 -v max=600 '
			{ line[NR] = $0 }
			$0 ~ ENVIRON["PAT"] { for (i = NR; i <= NR + after; i++) keep[i] = 1 }
			END {
				last = 0; n = 0
				for (i = 1; i <= NR; i++) {
					if (!keep[i]) continue
					if (last && i > last + 1) print "    ..."
					print "    " line[i]
					last = i
					if (++n >= max) { print "    ... (cut: see the file)"; break }
				}
			}' >&2
	else
		echo "vmcheck: the console's last lines ($console):" >&2
		tr -d '\r' <"$console" | tail -n 30 | sed 's/^/    /' >&2
	fi
fi

rm -f "$results.clean"
if [ $bad -eq 0 ]; then
	echo "vmcheck: $ran tests passed, kernel log clean"
fi
exit $bad
