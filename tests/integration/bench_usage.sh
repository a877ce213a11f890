#!/bin/bash
# SPDX-License-Identifier: MIT
# tools/bench/instance_bench.sh's arguments: -h prints its help and runs
# nothing (it used to take any argument but -q as none and run the whole
# benchmark, minutes of both CPUs), an unknown one is refused.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"
. "$here/../harness/paths.sh"
bench=$root/tools/bench/instance_bench.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-bench-usage.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 2

# B points nowhere: a run that went past the arguments fails at once.
B=$tmp/none timeout 20 bash "$bench" --help >"$tmp/help" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q 'instance_bench.sh \[-q\]' "$tmp/help" &&
	! grep -q 'realpath\|^| figure' "$tmp/help"; then
	t_ok help_prints_the_usage_and_runs_nothing
else
	t_fail help_prints_the_usage_and_runs_nothing "exit $rc: $(head -c 400 "$tmp/help")"
fi

B=$tmp/none timeout 20 bash "$bench" --bogus >"$tmp/bad" 2>&1
rc=$?
if [ "$rc" -eq 2 ] && grep -q '^usage: ' "$tmp/bad"; then
	t_ok an_unknown_argument_is_refused_with_the_usage
else
	t_fail an_unknown_argument_is_refused_with_the_usage "exit $rc: $(head -c 400 "$tmp/bad")"
fi
t_done
