#!/bin/bash
# SPDX-License-Identifier: MIT
# The systemd files of pithd: `systemd-analyze verify` is clean, the
# hardening exposure stays at what Documentation/systemd.md records, the
# sysusers.d snippet makes group pith and the tmpfiles.d one the directories.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"
. "$here/../harness/paths.sh"
command -v systemd-analyze >/dev/null || t_skip_all "no systemd-analyze"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 5
sed "s|@SBINDIR@|$B|g" "$root/tools/systemd/pithd.service" >"$tmp/pithd.service"
cp "$root/tools/systemd/pithd.socket" "$tmp/"
if out=$(systemd-analyze verify --man=no "$tmp/pithd.service" \
	"$tmp/pithd.socket" 2>&1) && [ -z "$out" ]; then
	t_ok units_verify_clean
else
	t_fail units_verify_clean "$out"
fi

# The figure Documentation/systemd.md records; a change must update both.
recorded=$(sed -n 's/.*Overall exposure level for pithd.service: \([0-9.]*\).*/\1/p' \
	"$root/Documentation/systemd.md" | head -n 1)
got=$(systemd-analyze security --offline=yes "$tmp/pithd.service" 2>&1 |
	sed -n 's/.*Overall exposure level for pithd.service: \([0-9.]*\).*/\1/p')
if [ -n "$got" ] && [ "$got" = "$recorded" ]; then
	t_ok security_exposure_is_the_documented_one
else
	t_fail security_exposure_is_the_documented_one \
		"systemd-analyze says '$got', Documentation/systemd.md says '$recorded'"
fi

grep -Eq '^(Type=notify|NotifyAccess=main|Delegate=yes|StateDirectory=pith|RuntimeDirectory=pith|WatchdogSec=[0-9]+s)$' \
	"$tmp/pithd.service" &&
	[ "$(grep -cE '^(Type=notify|NotifyAccess=main|Delegate=yes|StateDirectory=pith|RuntimeDirectory=pith|WatchdogSec=[0-9]+s)$' "$tmp/pithd.service")" -eq 6 ] &&
	grep -q '^SocketMode=0660$' "$tmp/pithd.socket" &&
	grep -q '^SocketGroup=pith$' "$tmp/pithd.socket" &&
	grep -q '^ListenStream=/run/pith/pithd.sock$' "$tmp/pithd.socket"
t_check units_say_what_pithd_needs test $? -eq 0

r=$tmp/root
mkdir -p "$r/usr/lib/sysusers.d" "$r/usr/lib/tmpfiles.d" "$r/etc"
: >"$r/etc/group"
: >"$r/etc/passwd"
cp "$root/tools/systemd/sysusers.d/pith.conf" "$r/usr/lib/sysusers.d/"
cp "$root/tools/systemd/tmpfiles.d/pith.conf" "$r/usr/lib/tmpfiles.d/"
systemd-sysusers --root="$r" >/dev/null 2>&1
t_check sysusers_makes_group_pith grep -q '^pith:x:[0-9]*:$' "$r/etc/group"
systemd-tmpfiles --root="$r" --create >/dev/null 2>&1
modes=$(stat -c '%a' "$r/var/lib/pith" "$r/run/pith" 2>&1 | tr '\n' ' ')
if [ "$modes" = "700 755 " ]; then
	t_ok tmpfiles_makes_the_directories
else
	t_fail tmpfiles_makes_the_directories "modes: $modes"
fi
t_done
