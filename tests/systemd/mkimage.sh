#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the root file system `make systemdcheck` boots: a Debian bookworm
# minbase with systemd (mmdebstrap), the libraries `ldd` says pith, pithd and
# pith-worker need, curl and bpftool; then pith as `make install` laid it
# out, the test files, and an ext4 image of the lot (mke2fs -d, no mount).
#
#   mkimage.sh -o OUT.img -c CACHEDIR -i INSTALLDIR -t TESTFILESDIR
#              -p PROGRAM...
#
# The Debian part is cached as CACHEDIR/base-KEY.tar, KEY a hash of the
# package list and of this script, so a rerun only unpacks it (seconds).
# Needs root: the tree holds root-owned files and device nodes.
set -eu

out= cache= inst= files= progs=
while getopts o:c:i:t:p: opt; do
	case $opt in
	o) out=$OPTARG ;;
	c) cache=$OPTARG ;;
	i) inst=$OPTARG ;;
	t) files=$OPTARG ;;
	p) progs="$progs $OPTARG" ;;
	*) echo "usage: see the head of $0" >&2; exit 2 ;;
	esac
done
[ -n "$out" ] && [ -n "$cache" ] && [ -d "$inst" ] && [ -d "$files" ] || {
	echo "usage: see the head of $0" >&2
	exit 2
}

# The packages: systemd as PID 1, what the tests call, and the Debian
# package of every shared library the programs load.
pkgs="systemd systemd-sysv libsystemd0 dbus curl bpftool"
libs=$(for p in $progs; do ldd "$p" 2>/dev/null; done |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
for l in $libs; do
	pkg=$(dpkg -S "$l" 2>/dev/null || dpkg -S "$(readlink -f "$l")") || {
		echo "mkimage: no Debian package has $l" >&2
		exit 1
	}
	pkgs="$pkgs ${pkg%%:*}"
done
pkgs=$(echo "$pkgs" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//')
key=$( { echo "$pkgs"; cat "$0"; } | sha256sum | cut -c1-16)
base=$cache/base-$key.tar
mkdir -p "$cache"

if [ ! -s "$base" ]; then
	echo "systemdcheck: building the Debian image (mmdebstrap bookworm minbase: $pkgs)"
	rm -f "$cache"/base-*.tar
	# No documentation, man pages or translations: a smaller image.
	mmdebstrap --quiet --variant=minbase \
		--include="$(echo "$pkgs" | tr ' ' ',' | sed 's/,$//')" \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		bookworm "$cache/tmp.tar" >&2 || {
		rm -rf "$cache/tmp.tar"
		echo "mmdebstrap failed: no network, or no Debian mirror" >&2
		exit 1
	}
	# (mmdebstrap picks its output format from the name's extension.)
	mv "$cache/tmp.tar" "$base"
fi

root=$cache/root
rm -rf "$root"
mkdir -p "$root"
tar -C "$root" --numeric-owner -xpf "$base"

# pith, installed with `make install DESTDIR=... PREFIX=/usr`.
cp -a "$inst/." "$root/"
# The tests, run once by pith-systemdcheck.service after boot.
mkdir -p "$root/usr/lib/pith-systemdcheck"
cp -a "$files/." "$root/usr/lib/pith-systemdcheck/"
mv "$root/usr/lib/pith-systemdcheck/pith-systemdcheck.service" \
	"$root/etc/systemd/system/"
ln -sf ../pith-systemdcheck.service \
	"$root/etc/systemd/system/multi-user.target.wants/pith-systemdcheck.service"
# No login prompt on the console (it would hold the boot), nothing the
# tests do not need started under TCG.
for u in serial-getty@ttyS0.service getty@tty1.service apt-daily.timer \
	apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
	fstrim.timer; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done
echo pith-systemdcheck >"$root/etc/hostname"
: >"$root/etc/machine-id"
printf '/dev/vda / ext4 rw,relatime 0 0\n' >"$root/etc/fstab"

rm -f "$out.tmp"
# Room for pithd's state and the journal.
mke2fs -q -t ext4 -L pith-root -d "$root" "$out.tmp" 1G
rm -rf "$root"
mv "$out.tmp" "$out"
