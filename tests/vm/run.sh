#!/bin/sh
# SPDX-License-Identifier: MIT
# Boot the Debian kernel under qemu with the rig's initramfs and collect the
# results (ttyS1) and the kernel log (ttyS0) into OUTDIR.
#
#   run.sh -k KERNEL -i INITRD -o OUTDIR [-m check|bench] [-M MEM]
#          [-T SECONDS] [-b BENCH_ARGS]
#
# PITH_VM_ACCEL=tcg|kvm|auto (default auto: KVM only if a probe boot under
# it finishes within 20 s; the answer is cached in OUTDIR/../accel, next to
# the other runs' directories).
set -u

kernel= initrd= out= mode=check mem=1G secs=240 bench=
while getopts k:i:o:m:M:T:b: opt; do
	case $opt in
	k) kernel=$OPTARG ;;
	i) initrd=$OPTARG ;;
	o) out=$OPTARG ;;
	m) mode=$OPTARG ;;
	M) mem=$OPTARG ;;
	T) secs=$OPTARG ;;
	b) bench=$OPTARG ;;
	*) echo "usage: see the head of $0" >&2; exit 2 ;;
	esac
done
[ -r "$kernel" ] || {
	echo "vm: no kernel image '$kernel'; run tools/deps.sh vm" >&2
	exit 1
}
command -v qemu-system-x86_64 >/dev/null || {
	echo "vm: qemu-system-x86_64 missing; run tools/deps.sh vm" >&2
	exit 1
}
mkdir -p "$out"
. "$(dirname "$0")/kernel_args.sh"

boot() { # boot ACCEL MODE SECONDS RESULTS CONSOLE
	case $1 in
	kvm) accel="-accel kvm -cpu host" ;;
	*) # check: kernel_args.sh's (one host thread); bench: one per
	   # vCPU, as its figures were measured
	   t=$vm_tcg_accel
	   [ "$mode" = bench ] && t=tcg,thread=${vm_tcg_thread:-multi}
	   accel="-accel $t -cpu max" ;;
	esac
	rm -f "$4" "$5"
	# shellcheck disable=SC2086
	timeout -k 5 "$3" qemu-system-x86_64 $accel -smp 2 -m "$mem" \
		-nodefaults -display none -no-reboot \
		-kernel "$kernel" -initrd "$initrd" \
		-append "$vm_kernel_args pith.mode=$2 pith.bench=$bench" \
		-serial "file:$5" -serial "file:$4" \
		2>"$out/qemu.err"
}

accel=${PITH_VM_ACCEL:-auto}
cache=$(dirname "$out")/accel
if [ "$accel" = auto ]; then
	if [ -s "$cache" ]; then
		accel=$(cat "$cache")
	elif [ -w /dev/kvm ] && boot kvm probe 20 "$out/probe.tap" \
		"$out/probe.log" && grep -q '^# pith-vm: done' "$out/probe.tap"
	then
		accel=kvm
	else
		accel=tcg
	fi
	echo "$accel" >"$cache"
fi

echo "vm: booting $(basename "$kernel") under $accel ($mode, ${secs}s limit)"
start=$(date +%s)
boot "$accel" "$mode" "$secs" "$out/results.tap" "$out/console.log"
rc=$?
echo "vm: qemu finished after $(($(date +%s) - start))s"
[ $rc -eq 124 ] && echo "vm: timed out after ${secs}s" >&2
grep -v '^# dmesg: ' "$out/results.tap" 2>/dev/null | tr -d '\r'
exec "$(dirname "$0")/check.sh" "$out/results.tap" "$out/console.log"
