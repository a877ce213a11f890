#!/bin/sh
# SPDX-License-Identifier: MIT
# `make systemdcheck`: boot a Debian bookworm image with systemd as PID 1
# and pith installed by `make install`, under qemu (TCG) with Debian's
# kernel, run tests/systemd/guest.sh in it and judge its TAP.
#
#   run.sh -B BUILDDIR -i INSTALLDIR [-k KERNEL] [-T SECONDS] [-S JOBS]
#
# -S JOBS: after test 2, JOBS first jobs of a new pithd while the guest
# execs without pause (guest.sh, pith.stress=): to provoke a rare hang;
# 40 s more of time limit per job (one took ~25 s at load 10-16).
# -T: the VM's time limit, 900 s unless given: a run took 468 s at load 16
# with one host thread for both vCPUs, and a lockup or hung task ends the
# VM by itself (tests/vm/kernel_args.sh), so the limit only bounds a slow
# host.
# INSTALLDIR is a `make install DESTDIR=INSTALLDIR PREFIX=/usr`. Without
# root (or without the tools) it says why and skips, unless PITH_CI=1 (set
# by .ci/run), where it fails. What it checks: Documentation/systemd.md.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
B= kernel= inst= secs=900 stress= extra=0
while getopts B:k:i:T:S: opt; do
	case $opt in
	B) B=$OPTARG ;;
	k) kernel=$OPTARG ;;
	i) inst=$OPTARG ;;
	T) secs=$OPTARG ;;
	S) stress=" pith.stress=$OPTARG" extra=$((40 * OPTARG)) ;;
	*) echo "usage: see the head of $0" >&2; exit 2 ;;
	esac
done
secs=$((secs + extra))
out=$B/systemd

skip() {
	if [ "${PITH_CI:-0}" = 1 ]; then
		echo "systemdcheck: FAILED: $*" >&2
		exit 1
	fi
	echo "systemdcheck: SKIPPED: $*"
	exit 0
}

[ "$(id -u)" -eq 0 ] ||
	skip "needs root (mmdebstrap builds a root-owned tree, mke2fs -d keeps its owners)"
"$top/tools/deps.sh" vm && "$top/tools/deps.sh" systemd ||
	skip "the packages above are missing (tools/deps.sh systemd)"
# Debian's kernel: the newest one in /boot whose modules are installed.
if [ -z "$kernel" ]; then
	for m in $(ls -d /lib/modules/*-amd64 2>/dev/null | sort -V); do
		[ -r "/boot/vmlinuz-${m##*/}" ] && kernel=/boot/vmlinuz-${m##*/}
	done
fi
[ -r "$kernel" ] || skip "no kernel image '$kernel' (tools/deps.sh vm)"
kver=$(basename "$kernel" | sed 's/^vmlinuz-//')
[ -d "/lib/modules/$kver" ] || skip "no modules for $kver in /lib/modules"

mkdir -p "$out"
# The test files the image carries (guest.sh puts them to use).
files=$out/files
rm -rf "$files"
mkdir -p "$files/fn"
cp "$here/guest.sh" "$here/pith-systemdcheck.service" \
	"$top/tests/harness/tap.sh" "$top/tests/harness/jobs.sh" "$files/"
for f in "$B/tests/functions/upper" "$B/tests/functions/fail" \
	"$B/tests/fn/daemon/slow"; do
	cp "$f" "$files/fn/" || exit 1
done
sed -n 's/.*Overall exposure level for pithd.service: \([0-9.]*\).*/\1/p' \
	"$top/Documentation/systemd.md" | head -n 1 >"$files/expected-exposure"
[ -s "$files/expected-exposure" ] || {
	echo "systemdcheck: Documentation/systemd.md gives no exposure figure" >&2
	exit 1
}

start=$(date +%s)
"$here/mkimage.sh" -o "$out/root.img" -c "$out" -i "$inst" -t "$files" \
	-p "$inst/usr/bin/pith" -p "$inst/usr/sbin/pithd" \
	-p "$inst/usr/libexec/pith/pith-worker" || {
	echo "systemdcheck: FAILED: the image did not build (see above)" >&2
	exit 1
}

# The initramfs: busybox and the modules for virtio-blk and ext4, in the
# order modprobe would load them.
mods=$out/modules
rm -rf "$mods"
mkdir -p "$mods"
margs=
for m in virtio_pci virtio_blk ext4; do
	modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' >"$mods/paths" || exit 1
while read -r ko; do
	cp "$ko" "$mods/" || exit 1
	basename "$ko" >>"$mods/order"
	margs="$margs -f $mods/$(basename "$ko"):/lib/modules/$(basename "$ko")"
done <"$mods/paths"
# shellcheck disable=SC2086 # one word per argument
"$top/tests/vm/mkinitramfs.sh" -o "$out/initrd.cpio.gz" \
	-f "$here/init.sh:/init" -f "$mods/order:/lib/modules/order" $margs ||
	exit 1
echo "systemdcheck: image ready after $(($(date +%s) - start)) s"

rm -f "$out/results.tap" "$out/console.log"
. "$top/tests/vm/kernel_args.sh"
echo "systemdcheck: booting $(basename "$kernel") with systemd under $vm_tcg_accel (${secs}s limit)"
start=$(date +%s)
timeout -k 5 "$secs" qemu-system-x86_64 -accel "$vm_tcg_accel" -cpu max \
	-smp 2 -m 1G -nodefaults -display none -no-reboot \
	-kernel "$kernel" -initrd "$out/initrd.cpio.gz" \
	-append "$vm_kernel_args systemd.show_status=0$stress" \
	-drive "file=$out/root.img,format=raw,if=virtio" \
	-serial "file:$out/console.log" -serial "file:$out/results.tap" \
	2>"$out/qemu.err"
rc=$?
echo "systemdcheck: qemu finished after $(($(date +%s) - start))s"
[ $rc -eq 124 ] && echo "systemdcheck: timed out after ${secs}s" >&2
grep -v '^# dmesg: ' "$out/results.tap" 2>/dev/null | tr -d '\r'
exec "$top/tests/vm/check.sh" "$out/results.tap" "$out/console.log"
