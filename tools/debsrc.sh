#!/bin/sh
# SPDX-License-Identifier: MIT
# debsrc.sh PACKAGE DIR: unpack Debian's source package PACKAGE (the
# version of this machine's suites, Debian patches applied) under DIR once,
# and print the path of its tree. Used to build musl for POSIX functions and
# the unmodified programs of examples/{lua,zlib,sqlite}.
#
# Needs a deb-src line: as root this adds one for every Debian `deb` URI
# of /etc/apt but the security archive, whose mirrors may lack sources (in
# /etc/apt/sources.list.d/pith-src.sources), and runs apt-get update; otherwise it says which line to add. Exits 77 with the
# reason on stderr when the sources cannot be had (tests then skip).
set -eu

[ $# -eq 2 ] || { echo "usage: $0 PACKAGE DIR" >&2; exit 2; }
pkg=$1
dir=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
stamp=$dir/$pkg.tree

if [ -f "$stamp" ] && [ -d "$(cat "$stamp")" ]; then
	cat "$stamp"
	exit 0
fi

fail() {
	echo "debsrc: $pkg: $*" >&2
	exit 77
}

command -v apt-get >/dev/null || fail "no apt-get (not Debian)"
command -v dpkg-source >/dev/null ||
	fail "dpkg-source is missing (apt-get install dpkg-dev)"

has_src() {
	grep -rqsE '^(deb-src |Types:.*deb-src)' /etc/apt/sources.list \
		/etc/apt/sources.list.d/
}

if ! has_src; then
	[ "$(id -u)" -eq 0 ] ||
		fail "no deb-src line in /etc/apt; as root, add one such as 'deb-src http://deb.debian.org/debian bookworm main' and run apt-get update"
	# The URIs and suites of the enabled Debian deb entries, as deb-src.
	src=/etc/apt/sources.list.d/pith-src.sources
	tmp=$src.tmp
	: >"$tmp"
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			/^Types:/ { deb = ($0 ~ /[ \t]deb([ \t]|$)/) }
			/^URIs:/ && /debian/ && !/security/ { uri = $0 }
			/^$/ { flush() }
			{ block = block $0 "\n" }
			function flush() {
				if (deb && uri != "") {
					b = block
					sub(/Types:[^\n]*/, "Types: deb-src", b)
					printf "%s\n", b
				}
				block = ""; deb = 0; uri = ""
			}
			END { flush() }
		' "$f" >>"$tmp"
	done
	if [ -f /etc/apt/sources.list ]; then
		grep -v security /etc/apt/sources.list |
			sed -n 's/^deb \(.*debian.*\)/Types: deb-src\nURIs: \1\n/p' |
			awk '
			/^URIs:/ { n = split($0, w, " "); printf "URIs: %s\nSuites: %s\nComponents:", w[2], w[3]; for (i = 4; i <= n; i++) printf " %s", w[i]; printf "\n"; next } { print }' >>"$tmp"
	fi
	[ -s "$tmp" ] || { rm -f "$tmp"; fail "found no Debian deb entry in /etc/apt to mirror as deb-src"; }
	mv "$tmp" "$src"
	echo "debsrc: added $src; running apt-get update" >&2
	apt-get update -qq >/dev/null 2>&1 || fail "apt-get update failed"
fi

work=$dir/$pkg.dl
rm -rf "$work"
mkdir -p "$work"
if ! (cd "$work" && apt-get source -qq "$pkg" >log 2>&1); then
	# A deb-src line added by someone else may still need an update.
	if [ "$(id -u)" -eq 0 ] && apt-get update -qq >/dev/null 2>&1 &&
		(cd "$work" && apt-get source -qq "$pkg" >log 2>&1); then
		:
	else
		fail "apt-get source failed: $(tail -n 2 "$work/log" | tr '\n' ' ')"
	fi
fi
tree=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[ -n "$tree" ] || fail "apt-get source unpacked nothing"
echo "$tree" >"$stamp"
echo "$tree"
