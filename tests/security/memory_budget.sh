#!/bin/bash
# SPDX-License-Identifier: MIT
# The declared memory is the whole budget of an instance: a function whose
# writable segments (.data, .bss) alone exceed its "memory" is refused by
# `pith check` and `pith run` (exit 2) before anything runs; one that fits
# gets a context of what its segments leave, so that everything it can
# touch - segments, context, stack - stays within "memory".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-budget.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 5

# fn NAME BSS_BYTES: build tests/security/fn/bigbss.c with that .bss.
fn() {
	PITH_SDK=$B/sdk "$root/tools/pith-cc" -DBSS_BYTES="$2" \
		"$here/fn/bigbss.c" -o "$tmp/$1" >"$tmp/cc.log" 2>&1 ||
		t_fail "build_$1" "$(cat "$tmp/cc.log")"
}

# job NAME BINARY MEMORY
job() {
	cat >"$tmp/$1.json" <<EOF2
{ "version": 1, "name": "$1",
  "functions": { "f": { "binary": "$2", "memory": "$3" } },
  "inputs": { "x": [ { "name": "x", "data": "x" } ] },
  "stages": [ { "name": "s", "function": "f",
                "inputs": { "x": { "from": "x", "mode": "all" } },
                "outputs": ["sizes"] } ],
  "outputs": { "sizes": "s.sizes" } }
EOF2
}

fn huge $((512 << 20))
fn big $((2 << 20))
job huge "$tmp/huge" 64KiB
job big_in_1m "$tmp/big" 1MiB
job big_in_4m "$tmp/big" 4MiB

# The attack of issue 11: 64 KiB declared, 512 MiB of .bss.
out=$("$pith" check "$tmp/huge.json" 2>&1)
rc=$?
if [ $rc -eq 2 ] && [[ $out == *"writable segments (.data and .bss: 536"* ]]; then
	t_ok "check_refuses_512_mib_of_bss_in_64_kib"
else
	t_fail "check_refuses_512_mib_of_bss_in_64_kib" "exit $rc: $out"
fi

out=$("$pith" check "$tmp/big_in_1m.json" 2>&1)
rc=$?
if [ $rc -eq 2 ] && [[ $out == *"leave 0 bytes of its memory of 1048576"* ]]; then
	t_ok "check_refuses_segments_larger_than_memory"
else
	t_fail "check_refuses_segments_larger_than_memory" "exit $rc: $out"
fi

out=$("$pith" run -q "$tmp/big_in_1m.json" -o "$tmp/o1" 2>&1)
rc=$?
if [ $rc -eq 2 ] && [ ! -e "$tmp/o1" ]; then
	t_ok "run_refuses_it_before_anything_runs"
else
	t_fail "run_refuses_it_before_anything_runs" "exit $rc: $out"
fi

if out=$("$pith" run -q "$tmp/big_in_4m.json" -o "$tmp/o4" 2>&1); then
	t_ok "a_function_that_fits_runs_touching_all_it_has"
else
	t_fail "a_function_that_fits_runs_touching_all_it_has" "$out"
fi

# context + .bss (+ .data, a page at most here) within the 4 MiB declared
read -r ctx bss <"$tmp/o4/sizes/sizes" 2>/dev/null || ctx=0 bss=0
if [ "$ctx" -gt 0 ] && [ $((ctx + bss + 4096)) -le $((4 << 20)) ]; then
	t_ok "context_is_what_the_segments_leave"
else
	t_fail "context_is_what_the_segments_leave" "context $ctx, bss $bss"
fi

t_done
