#!/bin/bash
# SPDX-License-Identifier: MIT
# `make install DESTDIR=... PREFIX=...`, then with only what was installed
# (the source tree out of reach): build a function with the installed
# pith-cc and with pkg-config, run it with the installed pith (which finds
# pith-worker in its libexec directory), and find every documented file.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=/opt/pith-test
dest=$tmp/dest
p=$dest$prefix

t_plan 6
san=0
case ${B:-build} in */san) san=1 ;; esac
if out=$(make -C "$root" -s install SAN=$san DESTDIR="$dest" PREFIX="$prefix" 2>&1); then
	t_ok make_install_into_destdir
else
	t_fail make_install_into_destdir "$out"
	t_done
fi

missing=
for f in bin/pith bin/pith-cc sbin/pithd libexec/pith/pith-worker \
	include/pith/fn.h include/pith/abi.h lib/pith/crt.o \
	lib/pith/libpith_fn.a lib/pkgconfig/pith-sdk.pc \
	share/man/man1/pith.1 share/man/man1/pith-cc.1 \
	share/man/man5/pith-job.5 share/man/man5/pithd.conf.5 \
	share/man/man8/pithd.8 lib/systemd/system/pithd.service \
	lib/systemd/system/pithd.socket lib/sysusers.d/pith.conf \
	lib/tmpfiles.d/pith.conf; do
	[ -e "$p/$f" ] || missing="$missing $f"
done
grep -q "^ExecStart=$prefix/sbin/pithd$" "$p/lib/systemd/system/pithd.service" ||
	missing="$missing ExecStart=$prefix/sbin/pithd"
if [ -z "$missing" ]; then
	t_ok every_file_is_installed
else
	t_fail every_file_is_installed "missing:$missing"
fi

# The installed tree, moved to where it would be: a mount namespace binds
# it at $prefix, and the source tree is hidden, so nothing can come from it.
cat >"$tmp/shout.c" <<'C'
#include <pith/fn.h>

int main(void)
{
	pith_set_foreach(it, pith_input("text")) {
		const char *in = pith_item_data(it);
		size_t n = pith_item_len(it);
		char *out = pith_output_new("loud", pith_item_name(it), n);

		for (size_t i = 0; i < n; i++)
			out[i] = pith_toupper(in[i]);
	}
	return 0;
}
C
cat >"$tmp/job.json" <<'J'
{ "version": 1, "name": "shout",
  "functions": { "shout": { "binary": "shout" } },
  "inputs": { "text": [ { "name": "a", "data": "hello" } ] },
  "stages": [ { "name": "s", "function": "shout",
                "inputs": { "text": { "from": "text", "mode": "each" } },
                "outputs": ["loud"] } ],
  "outputs": { "loud": "s.loud" } }
J
cat >"$tmp/inside.sh" <<SH
set -e
mkdir -p $prefix && mount --bind "$p" $prefix
mount -t tmpfs none "$root"
cd "$tmp"
PATH=$prefix/bin:$prefix/sbin:/usr/bin:/bin
pith-cc shout.c -o shout
PKG_CONFIG_PATH=$prefix/lib/pkgconfig
export PKG_CONFIG_PATH
gcc \$(pkg-config --cflags pith-sdk) shout.c -o shout-pc \$(pkg-config --libs pith-sdk)
pith run job.json -o out >/dev/null 2>run.err
cat out/loud/a; echo
cp shout-pc shout
pith run job.json -o out2 >/dev/null 2>>run.err
cat out2/loud/a; echo
pithd --version
MANPATH=$prefix/share/man man -w pithd.conf
SH
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
	t_skip installed_pith_cc_builds_and_pith_runs "needs root for a mount namespace"
	t_skip pkg_config_builds_the_same_function "needs root for a mount namespace"
	t_skip installed_pithd_runs "needs root for a mount namespace"
	t_skip man_pages_are_found "needs root for a mount namespace"
	t_done
fi
out=$(unshare -m --propagation private sh "$tmp/inside.sh" 2>&1)
rc=$?
line() { echo "$out" | sed -n "${1}p"; }
if [ $rc -eq 0 ] && [ "$(line 1)" = HELLO ]; then
	t_ok installed_pith_cc_builds_and_pith_runs
else
	t_fail installed_pith_cc_builds_and_pith_runs "exit $rc: $out $(cat "$tmp/run.err" 2>/dev/null)"
fi
if [ "$(line 2)" = HELLO ]; then
	t_ok pkg_config_builds_the_same_function
else
	t_fail pkg_config_builds_the_same_function "$out"
fi
if line 3 | grep -q '^pithd [0-9]'; then
	t_ok installed_pithd_runs
else
	t_fail installed_pithd_runs "$out"
fi
if [ "$(line 4)" = "$prefix/share/man/man5/pithd.conf.5" ]; then
	t_ok man_pages_are_found
else
	t_fail man_pages_are_found "$out"
fi
t_done
