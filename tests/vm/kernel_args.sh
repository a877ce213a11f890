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
