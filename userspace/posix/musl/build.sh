#!/bin/sh
# SPDX-License-Identifier: MIT
# build.sh MUSL_SRC OUT: build musl's libc.a for POSIX functions with the
# pith architecture port (this directory's arch/pith and src/*/pith: x86-64
# with every system call turned into a call of __pith_syscall) and install
# it with its headers into OUT/{lib,include}. See
# Documentation/posix-functions.md ("musl").
set -eu

src=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
port=$(cd "$(dirname "$0")" && pwd)
tree=$out/tree

rm -rf "$tree" "$out/lib" "$out/include"
cp -a "$src" "$tree"
cd "$tree"

# arch/pith: x86-64's, with the system-call and thread-pointer headers
# replaced.
cp -a arch/x86_64 arch/pith
cp "$port"/arch/pith/*.h arch/pith/
# x86-64 assembly without system calls (string, math, fenv, setjmp,
# sigsetjmp, dlsym) is kept; the files that hold a `syscall` instruction
# (thread: clone, __set_thread_area, __unmapself, syscall_cp; process:
# vfork; signal: restore) fall back to musl's generic C, which calls
# __syscall, or to the port's own.
for d in src/*/x86_64; do
	p=${d%/x86_64}/pith
	case $d in
	src/thread/x86_64 | src/process/x86_64) continue ;;
	esac
	mkdir -p "$p"
	cp "$d"/* "$p"/
done
rm -f src/signal/pith/restore.s
cp -a "$port"/src/. src/

./configure --disable-shared --prefix="$out" --syslibdir=/nonexistent \
	CFLAGS="-O2 -fno-pie -fno-stack-protector" >configure.log 2>&1 || {
	tail -n 20 configure.log >&2
	exit 1
}
sed -i 's/^ARCH = .*/ARCH = pith/; s/^ADD_CFI = .*/ADD_CFI = no/' config.mak
make -j"$(nproc)" lib/libc.a >make.log 2>&1 || {
	tail -n 20 make.log >&2
	exit 1
}
make install-headers >>make.log 2>&1
mkdir -p "$out/lib"
cp lib/libc.a "$out/lib/libc.a"
# musl's libc.a holds libm, libpthread, ...: empty archives of those names
# keep a program's -lm from finding the host's glibc ones.
for l in m rt pthread crypt util xnet resolv dl; do
	rm -f "$out/lib/lib$l.a"
	ar rc "$out/lib/lib$l.a"
done

# The point of the port: no system-call instruction is left in libc.a.
insn='	(syscall|sysenter|int +\$0x80) *$'
if objdump -d "$out/lib/libc.a" | grep -qE "$insn"; then
	objdump -d "$out/lib/libc.a" | grep -E -B20 "$insn" | head -n 40 >&2
	echo "musl: a system-call instruction is left in libc.a" >&2
	rm -f "$out/lib/libc.a"
	exit 1
fi
