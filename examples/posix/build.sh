#!/bin/sh
# SPDX-License-Identifier: MIT
# build.sh PROGRAM [native]: build an unmodified program from its Debian
# source package as a POSIX function (tools/pith-posix-cc) into
# build/examples/PROGRAM/, or with plain gcc and glibc into
# build/posix/programs/PROGRAM/native/ (the benchmark's baseline: same
# source, same flags). Prints the binary's path. PROGRAM is lua, zlib or
# sqlite. The source tree and build log are kept in
# build/posix/programs/PROGRAM[/native]/.
#
# Only the compiler and build flags differ from a native build; no source
# file is changed. Concurrent calls for one program wait for each other.
# Exit 77 with the reason when the source package or the POSIX SDK cannot
# be had (tests then skip).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
prog=${1:?usage: build.sh lua|zlib|sqlite [native]}
mode=${2:-pith}

case $prog in
lua) pkg=lua5.4 bin=lua ;;
zlib) pkg=zlib bin=minigzip ;;
sqlite) pkg=sqlite3 bin=sqlite3 ;;
*) echo "build.sh: unknown program $prog" >&2; exit 2 ;;
esac

out=$root/build/examples/$prog
work=$root/build/posix/programs/$prog
if [ "$mode" = native ]; then
	out=$work/native
	work=$out
	cc=gcc
else
	cc=$root/tools/pith-posix-cc
	if [ ! -f "$root/build/posix/libpith_posix.a" ]; then
		why="not built (run make)"
		[ -f "$root/build/posix/unavailable" ] &&
			why=$(cat "$root/build/posix/unavailable")
		echo "build.sh: POSIX SDK unavailable: $why" >&2
		exit 77
	fi
fi
# One build of PROGRAM at a time (tests/run.sh may have one under way
# from tests/integration/posix_programs.prepare): a second caller waits
# for it, then finds the binary fresh below.
mkdir -p "$root/build/posix/programs"
exec 9>"$root/build/posix/programs/$prog.$mode.lock"
flock 9
# Rebuilt when this script or the POSIX SDK changed.
if [ -x "$out/$bin" ] && [ "$out/$bin" -nt "$0" ] &&
	{ [ "$mode" = native ] ||
		[ "$out/$bin" -nt "$root/build/posix/libpith_posix.a" ]; }; then
	echo "$out/$bin"
	exit 0
fi

src=$("$root/tools/debsrc.sh" "$pkg" "$root/build/debsrc") || exit $?
tree=$work/src
rm -rf "$tree"
mkdir -p "$out" "$work"
cp -a "$src" "$tree"
cd "$tree"
log=$work/build.log
: >"$log"

case $prog in
zlib)
	# zlib's own configure and Makefile.
	CC=$cc ./configure --static >>"$log" 2>&1
	make minigzip >>"$log" 2>&1
	;;
lua)
	# Debian's Makefile compiles through libtool (and a C++ copy of each
	# object); the same sources are compiled here in one command with
	# upstream's flags for the posix platform. debian/rules generates
	# lua5.4-deb-multiarch.h the same way.
	printf '#ifndef _LUA_DEB_MULTIARCH_\n#define _LUA_DEB_MULTIARCH_\n#define DEB_HOST_MULTIARCH "x86_64-linux-gnu"\n#endif\n' \
		>src/lua5.4-deb-multiarch.h
	(cd src && $cc -std=gnu99 -O2 -Wall -Wextra -DLUA_COMPAT_5_3 \
		-DLUA_USE_POSIX -o lua $(ls ./*.c | grep -v luac.c) -lm) \
		>>"$log" 2>&1
	cp src/lua .
	;;
sqlite)
	# SQLite's configure, cross-compiling (the host cannot run pith
	# binaries) with the build machine's gcc for its generators
	# (lemon, mkkeywordhash); no readline, threads, extensions or zlib.
	host=x86_64-pith-linux-musl
	[ "$mode" = native ] && host=x86_64-pc-linux-gnu
	CC=$cc BUILD_CC=gcc ac_cv_search_deflate=no ./configure \
		--host=$host --build=x86_64-pc-linux-gnu --disable-shared \
		--enable-static --disable-readline --disable-threadsafe \
		--disable-load-extension --disable-tcl >>"$log" 2>&1
	make CC=gcc lemon >>"$log" 2>&1
	make sqlite3 >>"$log" 2>&1
	;;
esac
cp "$bin" "$out/$bin"
echo "$out/$bin"
