#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the VM rig: load pith_xfer, run the tests, unload it, report TAP
# on the second serial port (ttyS1); the kernel log goes to ttyS0.
# Kernel command line: pith.mode=check|bench|probe, pith.bench="ARGS".
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null

OUT=/dev/ttyS1
mode=check bench_args=
for arg in $(cat /proc/cmdline); do
	case $arg in
	pith.mode=*) mode=${arg#pith.mode=} ;;
	pith.bench=*) bench_args=$(echo "${arg#pith.bench=}" | tr , ' ') ;;
	esac
done

n=0
result() { # result OK|FAIL|SKIP DESCRIPTION [REASON]
	n=$((n + 1))
	case $1 in
	OK) echo "ok $n $2" ;;
	SKIP) echo "ok $n $2 # SKIP $3" ;;
	*) echo "not ok $n $2${3:+ # $3}" ;;
	esac >"$OUT"
}

# Run one program, its output indented as comments, pass/fail by exit code.
run_prog() { # run_prog NAME TIMEOUT PROG [ARGS...]
	name=$1 secs=$2
	shift 2
	echo "# ---- $name" >"$OUT"
	{ timeout -s KILL "$secs" "$@"; echo $? >/tmp/rc; } 2>&1 |
		sed 's/^/# /' >"$OUT"
	rc=$(cat /tmp/rc)
	case $rc in
	0) result OK "$name" ;;
	137) result FAIL "$name" "killed after ${secs}s" ;;
	*) result FAIL "$name" "exit status $rc" ;;
	esac
}

finish() {
	echo "1..$n" >"$OUT"
	echo "# ---- dmesg" >"$OUT"
	dmesg | sed 's/^/# dmesg: /' >"$OUT"
	echo "# pith-vm: done" >"$OUT"
	sync
	poweroff -f
}

echo "TAP version 13" >"$OUT"
echo "# pith-vm: $(uname -r), mode $mode, $(nproc) cpus," \
	"lsm=$(cat /sys/kernel/security/lsm 2>/dev/null)" >"$OUT"

if [ "$mode" = probe ]; then
	result OK "boot"
	finish
fi

if insmod /lib/modules/pith_xfer.ko && [ -c /dev/pith_xfer ]; then
	result OK "insmod pith_xfer.ko"
else
	result FAIL "insmod pith_xfer.ko"
	finish
fi

if [ "$mode" = bench ]; then
	run_prog "bench handoff" 1200 /usr/bin/handoff_bench $bench_args
else
	for t in /tests/kmod/*; do
		[ -x "$t" ] && run_prog "kmod/${t##*/}" 300 "$t"
	done
	if [ -x /tests/e2e.sh ]; then
		run_prog "e2e: a job through the module" 300 /tests/e2e.sh
	else
		result FAIL "e2e: a job through the module" \
			"pith was not built on the host: see make's output"
	fi
	for t in /tests/bpf/*; do
		[ -x "$t" ] && run_prog "bpf/${t##*/}" 300 "$t"
	done
	[ -e /tests/bpf.missing ] && result FAIL "bpf tests" \
		"none were built on the host: see make's output"
fi

if rmmod pith_xfer; then
	result OK "rmmod pith_xfer (no buffer left behind)"
else
	result FAIL "rmmod pith_xfer (no buffer left behind)"
fi
finish
