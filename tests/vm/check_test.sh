#!/bin/sh
# SPDX-License-Identifier: MIT
# The VM rig's judge (tests/vm/check.sh) on made-up runs: it passes a clean
# run and fails every kind of bad one. Runs on the host in `make check`.
. "$(dirname "$0")/../harness/tap.sh"
check=$(dirname "$0")/check.sh
dir=$(mktemp -d "${TMPDIR:-/tmp}/pith-vmcheck.XXXXXX")
trap 'rm -rf "$dir"' EXIT

clean_results() {
	cat <<'TAP'
TAP version 13
ok 1 insmod pith_xfer.ko
# ---- kmod/01-xfer_test
# ok 1 xfer.seal_is_idempotent
ok 2 kmod/01-xfer_test
ok 3 rmmod pith_xfer (no buffer left behind)
1..3
# ---- dmesg
# dmesg: [    1.7] pith_xfer: loading out-of-tree module taints kernel.
# pith-vm: done
TAP
}

# judge NAME EXPECTED_STATUS RESULTS CONSOLE
judge() {
	printf '%s' "$3" >"$dir/results.tap"
	printf '%s\n' "$4" >"$dir/console.log"
	"$check" "$dir/results.tap" "$dir/console.log" >"$dir/out" 2>&1
	rc=$?
	if [ "$rc" -eq "$2" ]; then
		t_ok "$1"
	else
		t_fail "$1" "exit $rc, expected $2: $(cat "$dir/out")"
	fi
}

t_plan 9
ok=$(clean_results)
console='[    0.0] Linux version 6.1.0-56-amd64'
judge clean_run_passes 0 "$ok" "$console"
judge failed_test_fails 1 "$(echo "$ok" | sed 's/^ok 2 /not ok 2 /')" \
	"$console"
judge failed_subtest_fails_even_with_exit_0 1 \
	"$(echo "$ok" | sed 's/^# ok 1 xfer/# not ok 1 xfer/')" "$console"
judge unfinished_run_fails 1 "$(echo "$ok" | grep -v 'pith-vm: done')" \
	"$console"
judge plan_mismatch_fails 1 "$(echo "$ok" | sed 's/^1\.\.3$/1..4/')" \
	"$console"
judge warning_on_console_fails 1 "$ok" \
	"$console
[    3.4] WARNING: CPU: 1 PID: 161 at mm/memory.c:2410 insert_pfn+0x1/0x2"
judge oops_in_dmesg_dump_fails 1 \
	"$(echo "$ok" | sed 's/^# pith-vm: done$/# dmesg: [ 3.4] general protection fault, probably for non-canonical address\n# pith-vm: done/')" \
	"$console"
judge refcount_report_fails 1 "$ok" \
	"$console
[    3.4] refcount_t: underflow; use-after-free."
judge lockdep_report_fails 1 "$ok" \
	"$console
[    3.4]  *** DEADLOCK ***"
t_done
