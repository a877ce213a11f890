#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the VM rig's initramfs: busybox-static, /init, the module, the test
# programs and (dynamically linked) pith with the libraries it needs.
#
#   mkinitramfs.sh -o OUT.cpio.gz [-m MODULE.ko] [-t TEST]... [-d TESTDIR]...
#                  [-p PROG[:DST]]... [-f SRC:DST]...
#
# -t: a test program run in order under /tests/kmod (static or dynamic);
# -d: every executable in TESTDIR, run under /tests/<basename of TESTDIR>
#     (none there: /init reports the directory's tests as missing);
# -p PROG[:DST]: a program with its libraries, in /usr/bin or at DST;
# -f SRC:DST: any file or directory at DST.
set -eu

out= module=
tests= dirs= progs= files=
while getopts o:m:t:d:p:f: opt; do
	case $opt in
	o) out=$OPTARG ;;
	m) module=$OPTARG ;;
	t) tests="$tests $OPTARG" ;;
	d) dirs="$dirs $OPTARG" ;;
	p) progs="$progs $OPTARG" ;;
	f) files="$files $OPTARG" ;;
	*) echo "usage: see the head of $0" >&2; exit 2 ;;
	esac
done
[ -n "$out" ] || { echo "mkinitramfs: -o OUT is required" >&2; exit 2; }

# busybox-static installs a static /bin/busybox: nothing else to copy.
busybox=/bin/busybox
if ! ldd "$busybox" 2>&1 | grep -q 'not a dynamic'; then
	echo "mkinitramfs: $busybox is not static; run tools/deps.sh vm" >&2
	exit 1
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/pith-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" \
	"$root/run" "$root/lib/modules" "$root/tests" "$root/usr/bin" \
	"$root/etc"
cp "$busybox" "$root/bin/busybox"
cp "$(dirname "$0")/init.sh" "$root/init"
chmod 0755 "$root/init"
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
echo "nobody:x:65534:65534:nobody:/:/bin/false" >>"$root/etc/passwd"
echo "nogroup:x:65534:" >>"$root/etc/group"

# Copy a program and, when it is dynamically linked, its libraries and the
# dynamic loader at the paths ldd names.
install_prog() {
	src=$1 dst=$2
	mkdir -p "$(dirname "$root$dst")"
	cp -L "$src" "$root$dst"
	ldd "$src" 2>/dev/null | while read -r a b c _; do
		if [ "$b" = "=>" ]; then lib=${c:-}; else lib=$a; fi
		case "$lib" in /*) ;; *) continue ;; esac
		[ -e "$root$lib" ] && continue
		mkdir -p "$(dirname "$root$lib")"
		cp -L "$lib" "$root$lib"
	done
}

[ -n "$module" ] && cp "$module" "$root/lib/modules/"
n=0
for t in $tests; do
	n=$((n + 1))
	mkdir -p "$root/tests/kmod"
	install_prog "$t" "/tests/kmod/$(printf %02d $n)-$(basename "$t")"
done
# A -d directory without programs is recorded, so /init reports it.
for d in $dirs; do
	found=
	for t in "$d"/*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		install_prog "$t" "/tests/$(basename "$d")/$(basename "$t")"
		found=1
	done
	[ -n "$found" ] || : >"$root/tests/$(basename "$d").missing"
done
for p in $progs; do
	case $p in
	*:*) install_prog "${p%%:*}" "${p#*:}" ;;
	*) install_prog "$p" "/usr/bin/$(basename "$p")" ;;
	esac
done
for f in $files; do
	src=${f%%:*} dst=${f#*:}
	mkdir -p "$(dirname "$root$dst")"
	cp -a "$src" "$root$dst"
done

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) |
	gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
