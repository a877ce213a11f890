#!/bin/sh
# SPDX-License-Identifier: MIT
# Run systemdcheck's VM again and again to catch a rare failure (the soft
# lockup of Documentation/systemd.md, "A rare hang"): one line per run, and
# a failed run's output, console.log and results.tap kept in LOGDIR/fail-N/.
# Run `make systemdcheck` once first: it installs pith into
# build/systemd/install and caches the Debian image, which each run reuses.
#
#   repeat.sh [-n RUNS] [-l LOGDIR] [-w WORKDIR] [-S JOBS]
#
# -w: the VM's files go to WORKDIR/systemd, not build/systemd, so that two
# loops can run at once (which also keeps the host's CPUs busy, as CI's
# were when the lockup struck). -S: run.sh -S JOBS (first jobs of a new
# pithd while the guest execs). Runs at nice 10 (others measure speed on
# the host). Exit status: the number of failed runs (at most 125).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
B=$top/build
runs=25 logs=$B/systemd-repeat work=$B stress=
while getopts n:l:w:S: opt; do
	case $opt in
	n) runs=$OPTARG ;;
	l) logs=$OPTARG ;;
	w) work=$OPTARG ;;
	S) stress="-S $OPTARG" ;;
	*) echo "usage: see the head of $0" >&2; exit 2 ;;
	esac
done
inst=$B/systemd/install
[ -x "$inst/usr/sbin/pithd" ] || {
	echo "repeat: no $inst: run make systemdcheck first" >&2
	exit 2
}
if [ "$work" != "$B" ]; then
	# run.sh takes the test functions from WORKDIR/tests, the cached
	# Debian part from WORKDIR/systemd.
	mkdir -p "$work/systemd"
	ln -sfn "$B/tests" "$work/tests"
	for t in "$B"/systemd/base-*.tar; do
		[ -e "$work/systemd/${t##*/}" ] || ln "$t" "$work/systemd/" ||
			cp "$t" "$work/systemd/"
	done
fi
mkdir -p "$logs"
failed=0
i=1
while [ "$i" -le "$runs" ]; do
	start=$(date +%s)
	# shellcheck disable=SC2086 # $stress: none or two words
	nice -n 10 "$top/tests/systemd/run.sh" -B "$work" -i "$inst" $stress \
		>"$logs/run-$i.log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	load=$(cut -d' ' -f1 /proc/loadavg)
	if [ $rc -eq 0 ]; then
		echo "run $i: ok in ${secs}s (load $load)"
	else
		failed=$((failed + 1))
		mkdir -p "$logs/fail-$i"
		mv "$logs/run-$i.log" "$logs/fail-$i/"
		cp "$work/systemd/console.log" "$work/systemd/results.tap" \
			"$logs/fail-$i/" 2>/dev/null
		echo "run $i: FAILED (exit $rc) in ${secs}s (load $load): $logs/fail-$i/"
		grep -E 'soft lockup|Kernel panic|vmcheck:' "$logs/fail-$i/run-$i.log" |
			head -n 5 | sed 's/^/    /'
	fi
	i=$((i + 1))
done
echo "systemdcheck repeated: $runs runs, $failed failed"
[ $failed -gt 125 ] && failed=125
exit $failed
