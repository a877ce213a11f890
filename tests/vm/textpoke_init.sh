#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of tests/vm/textpoke_race.sh: the kernel patches its own code (the
# raw_syscalls:sys_enter tracepoint's jump label in syscall_trace_enter,
# through text_poke's int3 protocol) pith.toggles= times while a loop on
# the other CPU makes syscalls across the patched site; ttyS1 gets "textpoke: done N".
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tracefs tracefs /sys/kernel/tracing
n=200
for arg in $(cat /proc/cmdline); do
	case $arg in pith.toggles=*) n=${arg#pith.toggles=} ;; esac
done
ev=/sys/kernel/tracing/events/raw_syscalls/sys_enter/enable
echo "textpoke: $(nproc) cpus, $n toggles" >/dev/ttyS1
(while :; do read -r _ </proc/uptime; done) &
i=0
while [ $i -lt "$n" ]; do
	echo 1 >$ev
	echo 0 >$ev
	i=$((i + 1))
	[ $((i % 10)) -eq 0 ] && echo "textpoke: $i" >/dev/ttyS1
done
echo "textpoke: done $i" >/dev/ttyS1
poweroff -f
