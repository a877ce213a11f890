#!/bin/bash
# SPDX-License-Identifier: MIT
# The hostile-function suite with every instance fresh and forked by a
# zygote of its function (PITH_ZYGOTE=always: from the first instance on;
# PITH_TEST_FRESH: t_sandbox.c asks for "fresh": true):
# sandbox_security_test (seccomp, /proc, faults, the filter) and
# bpf_sandbox_test (the eBPF guard alone) must pass as they do for warm and
# exec'd workers. A worker forked by a zygote is no weaker; and the
# wordcount example gives the same outputs forked, exec'd and warm.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/paths.sh"

pass=0 fail=0 skip=0 rc=0
for t in sandbox_security_test bpf_sandbox_test; do
	out=$(PITH_TEST_FRESH=1 PITH_ZYGOTE=always "$B/tests/$t" 2>&1) || rc=1
	printf '%s\n' "$out" | sed "s/^/# $t: /"
	totals=$(printf '%s\n' "$out" | grep '^# Totals:' | tail -n 1)
	if [[ $totals =~ pass:([0-9]+)\ fail:([0-9]+).*skip:([0-9]+)\ error:([0-9]+) ]]; then
		pass=$((pass + BASH_REMATCH[1]))
		fail=$((fail + BASH_REMATCH[2] + BASH_REMATCH[4]))
		skip=$((skip + BASH_REMATCH[3]))
	else
		fail=$((fail + 1))
	fi
done
# A "fresh" job's results are those of the same job in warm workers: the
# wordcount example with every worker forked by a zygote, and exec'd.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-zygote.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
job=$root/examples/wordcount/job.json
jobs_ok=() jobs_failed=()
"$B/pith" run -q "$job" -o "$tmp/warm" >"$tmp/warm.log" 2>&1 ||
	sed 's/^/# warm run: /' "$tmp/warm.log"
for mode in forked:always execd:off; do
	name=wordcount_fresh_${mode%%:*}_equals_warm
	if [ -d "$tmp/warm" ] &&
		PITH_WARM=off PITH_ZYGOTE=${mode#*:} "$B/pith" run -q "$job" \
			-o "$tmp/${mode%%:*}" >"$tmp/log" 2>&1 &&
		diff -r "$tmp/warm" "$tmp/${mode%%:*}" >"$tmp/log" 2>&1; then
		jobs_ok+=("$name")
	else
		sed "s/^/# $name: /" "$tmp/log"
		jobs_failed+=("$name")
	fi
done
n=$((pass + fail + skip + ${#jobs_ok[@]} + ${#jobs_failed[@]}))
echo "TAP version 13"
echo "1..$n"
i=0
for _ in $(seq "$pass"); do i=$((i + 1)); echo "ok $i zygote_hostile_passed"; done
for x in "${jobs_ok[@]}"; do i=$((i + 1)); echo "ok $i $x"; done
for _ in $(seq "$skip"); do i=$((i + 1)); echo "ok $i zygote_hostile_skipped # SKIP see above"; done
for _ in $(seq "$fail"); do i=$((i + 1)); echo "not ok $i zygote_hostile_failed (see above)"; done
for x in "${jobs_failed[@]}"; do i=$((i + 1)); echo "not ok $i $x"; done
pass=$((pass + ${#jobs_ok[@]}))
fail=$((fail + ${#jobs_failed[@]}))
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
[ "$fail" -eq 0 ] && [ "$rc" -eq 0 ]
