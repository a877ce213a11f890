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

# judge NAME EXPECTED_STATUS RESULTS CONSOLE [PRINTED [NOT_PRINTED]]: the
# exit status, and the judge's output holds PRINTED (and not NOT_PRINTED).
judge() {
	printf '%s' "$3" >"$dir/results.tap"
	printf '%s\n' "$4" >"$dir/console.log"
	"$check" "$dir/results.tap" "$dir/console.log" >"$dir/out" 2>&1
	rc=$?
	if [ "$rc" -ne "$2" ]; then
		t_fail "$1" "exit $rc, expected $2: $(cat "$dir/out")"
	elif [ -n "${5:-}" ] && ! grep -qF -- "$5" "$dir/out"; then
		t_fail "$1" "'$5' not in the output: $(cat "$dir/out")"
	elif [ -n "${6:-}" ] && grep -qF -- "$6" "$dir/out"; then
		t_fail "$1" "'$6' in the output: $(cat "$dir/out")"
	else
		t_ok "$1"
	fi
}

# A soft lockup as softlockup_all_cpu_backtrace=1 and softlockup_panic=1
# print it: the stuck CPU's stack, the other CPU's, then the panic.
lockup='[    0.0] Linux version 6.1.0-56-amd64
[    3.1] systemd[1]: Started pithd.service.
[   44.6] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [date:241]
[   44.6] CPU: 1 PID: 241 Comm: date Not tainted 6.1.0-56-amd64 #1
[   44.6] RIP: 0010:smp_call_function_many_cond+0x12e/0x3c0
[   44.6] Call Trace:
[   44.6]  <TASK>
[   44.6]  on_each_cpu_cond_mask+0x24/0x40
[   44.6]  text_poke_bp_batch+0x1a3/0x2a0
[   44.6]  </TASK>
[   44.6] Sending NMI from CPU 1 to CPUs 0:
[   44.6] NMI backtrace for cpu 0
[   44.6] CPU: 0 PID: 231 Comm: pithd Not tainted 6.1.0-56-amd64 #1
[   44.6]  bpf_trampoline_update+0x2f1/0x6b0
[   44.6] Kernel panic - not syncing: softlockup: hung tasks'

t_plan 13
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
# The guests' command line (tests/vm/kernel_args.sh) at loglevel=7 is on the
# console of every good run: none of its words is a report.
judge clean_run_with_the_lockup_arguments_on_the_console_passes 0 "$ok" \
	"$console
[    0.0] Kernel command line: console=ttyS0 panic=-1 oops=panic loglevel=7 softlockup_panic=1 softlockup_all_cpu_backtrace=1 hung_task_panic=1 panic_print=0x1
[    0.1] watchdog: Disabling watchdog on nohz_full cores by default" \
	"kernel log clean" "console"
judge soft_lockup_fails_and_prints_both_cpus_stacks 1 \
	"$(echo "$ok" | grep -v 'pith-vm: done')" "$lockup" \
	"[   44.6]  bpf_trampoline_update+0x2f1/0x6b0" "Started pithd"
# The panic's window overlaps the lockup's: each console line once.
"$check" "$dir/results.tap" "$dir/console.log" >"$dir/out" 2>&1
if [ "$(grep -c 'text_poke_bp_batch+0x1a3' "$dir/out")" -eq 1 ] &&
	[ "$(grep -c 'CPU: 0 PID: 231 Comm: pithd' "$dir/out")" -eq 1 ]; then
	t_ok overlapping_reports_print_each_console_line_once
else
	t_fail overlapping_reports_print_each_console_line_once "$(cat "$dir/out")"
fi
judge hung_run_without_a_report_prints_the_console_tail 1 \
	"$(echo "$ok" | grep -v 'pith-vm: done')" \
	"$console
[    9.9] systemd[1]: Starting pith-systemdcheck.service..." \
	"Starting pith-systemdcheck.service"
t_done
