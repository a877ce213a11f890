# SPDX-License-Identifier: MIT
# Sourced by tests/vm/run.sh and tests/systemd/run.sh: the kernel command
# line both guests share. A kernel report ends the VM at once (panic=-1 with
# qemu's -no-reboot) instead of at the harness's time limit, and says why:
#   softlockup_panic=1, hung_task_panic=1: a soft lockup or a task blocked
#     for 120 s panics (the guests only report them otherwise, and a lockup
#     held systemdcheck until its 420 s limit);
#   softlockup_all_cpu_backtrace=1: the lockup report carries every CPU's
#     stack, not only the stuck one's;
#   panic_print=0x1: the panic lists every task with its stack (who holds
#     what a stuck CPU waits for);
#   loglevel=7: the console shows those stacks (they are printed at the
#     default level, 4, which loglevel=4 hid).
# tests/vm/check.sh prints the reports' stacks from the console log.
vm_kernel_args="console=ttyS0 panic=-1 oops=panic loglevel=7 \
softlockup_panic=1 softlockup_all_cpu_backtrace=1 hung_task_panic=1 \
panic_print=0x1 lsm=lockdown,capability,landlock,yama,apparmor,bpf"
# qemu's TCG (no KVM here), for both guests: one thread for both vCPUs.
# With one thread per vCPU (thread=multi), qemu 7.2 kept running a stale
# translation of kernel text that text_poke had changed (the int3 of its
# patching protocol, gone from memory), and the guest's int3 handler,
# which re-executes an int3 it no longer finds, looped on both CPUs: the
# soft lockup of Documentation/systemd.md, "A rare hang" (any tracepoint
# or static key the guard's attach enables patches text the same way).
# vmcheck (tests/vm/run.sh) moved to thread=single in round 13, once
# kmod/01-xfer_test's seal race waited for its writers' revocation with a
# deadline instead of a fixed 20 ms, which a single-threaded guest at load
# 16 had missed. PITH_VM_TCG_THREAD=single|multi chooses for both.
vm_tcg_thread=${PITH_VM_TCG_THREAD:-}
vm_tcg_accel="tcg,thread=${vm_tcg_thread:-single}"
