#!/bin/sh
# SPDX-License-Identifier: MIT
# Does this qemu run a guest kernel that patches its own code (text_poke)
# while its other CPU runs across the patched site? Boots Debian's kernel
# with a busybox initramfs (tests/vm/textpoke_init.sh) that flips the
# raw_syscalls:sys_enter tracepoint TOGGLES times while both CPUs make
# syscalls: the shape of the soft lockup systemdcheck met (pithd attaching
# its raw_tp/sys_enter program; Documentation/systemd.md, "A rare hang").
#
#   textpoke_race.sh -o OUTDIR [-t single|multi] [-n TOGGLES] [-T SECONDS]
#                    [-k KERNEL]
#
# -t: qemu's TCG threading (-accel tcg,thread=...), the guests' own unless
# given (tests/vm/kernel_args.sh: single). Exit 0 when every toggle ran, 1
# on a lockup, panic or timeout (the console's report printed). Round 12:
# thread=multi locked up at toggle 111-120 (~200 s); see
# Documentation/systemd.md, "A rare hang".
set -u
here=$(cd "$(dirname "$0")" && pwd)
out= thread= toggles=300 secs=1200 kernel=
while getopts o:t:n:T:k: opt; do
	case $opt in
	o) out=$OPTARG ;;
	t) thread=$OPTARG ;;
	n) toggles=$OPTARG ;;
	T) secs=$OPTARG ;;
	k) kernel=$OPTARG ;;
	*) echo "usage: see the head of $0" >&2; exit 2 ;;
	esac
done
[ -n "$out" ] || { echo "usage: see the head of $0" >&2; exit 2; }
if [ -z "$kernel" ]; then
	for m in $(ls -d /lib/modules/*-amd64 2>/dev/null | sort -V); do
		[ -r "/boot/vmlinuz-${m##*/}" ] && kernel=/boot/vmlinuz-${m##*/}
	done
fi
[ -r "$kernel" ] || { echo "textpoke: no kernel image '$kernel'" >&2; exit 2; }
mkdir -p "$out"
"$here/mkinitramfs.sh" -o "$out/initrd.cpio.gz" \
	-f "$here/textpoke_init.sh:/init" || exit 2
. "$here/kernel_args.sh"
accel=$vm_tcg_accel
[ -n "$thread" ] && accel=tcg,thread=$thread
rm -f "$out/results.txt" "$out/console.log"
start=$(date +%s)
timeout -k 5 "$secs" qemu-system-x86_64 -accel "$accel" -cpu max \
	-smp 2 -m 512M -nodefaults -display none -no-reboot \
	-kernel "$kernel" -initrd "$out/initrd.cpio.gz" \
	-append "$vm_kernel_args pith.toggles=$toggles" \
	-serial "file:$out/console.log" -serial "file:$out/results.txt" \
	2>"$out/qemu.err"
rc=$?
secs=$(($(date +%s) - start))
if grep -q "^textpoke: done $toggles" "$out/results.txt" 2>/dev/null; then
	echo "textpoke: $accel: $toggles toggles done in ${secs}s"
	exit 0
fi
echo "textpoke: $accel: FAILED after ${secs}s (qemu exit $rc):" \
	"$(tr -d '\r' <"$out/results.txt" 2>/dev/null | tail -n 1)"
tr -d '\r' <"$out/console.log" 2>/dev/null |
	grep -E -A 12 'soft lockup|Kernel panic|NMI backtrace' | head -n 60
exit 1
