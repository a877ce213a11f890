#!/bin/sh
# SPDX-License-Identifier: MIT
# The one list of Debian packages pith needs: check them, install what is
# missing (as root on Debian), or print the apt-get line to run.
#
#   tools/deps.sh build|test|vm|systemd|bench|doc|all
#
# To add a package, append it to the list of the mode that needs it.
set -eu

# Compilers, libraries and headers for `make`. dpkg-dev: `apt-get source`
# of musl for POSIX functions (tools/debsrc.sh adds the deb-src line).
BUILD="
gcc
binutils
make
clang
llvm
bpftool
libbpf-dev
libelf-dev
zlib1g-dev
liburing-dev
libseccomp-dev
libjansson-dev
libsystemd-dev
systemtap-sdt-dev
pkg-config
dpkg-dev
"

# Extra programs `make check` runs. lua5.4, sqlite3, gzip: the host's
# builds the POSIX example programs are compared with; tcl: SQLite's build
# generates its amalgamation with tclsh. On Debian 12 the `nginx` package is the
# server itself (nginx-core/-light are transitional) and has
# ngx_http_dav_module (PUT, DELETE, MKCOL) built in; libnginx-mod-http-dav-ext
# only adds PROPFIND/OPTIONS, which pith does not use.
TEST="
nginx
lua5.4
sqlite3
gzip
tcl
curl
wrk
hyperfine
python3
python3-jsonschema
bsdutils
coreutils
bpftrace
linux-perf
"

# Booting a test kernel for `make vmcheck`.
VM="
qemu-system-x86
busybox-static
linux-image-amd64
linux-headers-amd64
cpio
kmod
"

# `make systemdcheck` (with the VM list): the Debian image it boots is
# built by mmdebstrap and made an ext4 image by mke2fs -d.
SYSTEMD="
mmdebstrap
e2fsprogs
"

# The baselines tools/bench/instance_bench.sh compares pith with; time:
# /usr/bin/time, the peak RSS meter of scale.sh and thesis/jobparse.sh.
BENCH="
bubblewrap
crun
nodejs
time
"

# tools/trace/screenshot.sh renders tracing.md's screenshot headless.
DOC="
chromium
"

usage() {
	echo "usage: $0 build|test|vm|systemd|bench|doc|all" >&2
	exit 2
}

[ $# -eq 1 ] || usage
case "$1" in
build) want=$BUILD ;;
test) want=$TEST ;;
vm) want=$VM ;;
systemd) want=$SYSTEMD ;;
bench) want=$BENCH ;;
doc) want=$DOC ;;
all) want="$BUILD $TEST $VM $SYSTEMD" ;;
*) usage ;;
esac

missing=
for pkg in $want; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) ||
		status=
	[ "$status" = installed ] || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ] && [ -r /etc/debian_version ] &&
	command -v apt-get >/dev/null; then
	echo "deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# shellcheck disable=SC2086 # one word per package
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	exit 0
fi
echo "deps: missing Debian packages; install them with:" >&2
echo "  sudo apt-get install --no-install-recommends$missing" >&2
exit 1
