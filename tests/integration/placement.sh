#!/bin/bash
# SPDX-License-Identifier: MIT
# CPU placement of warm workers (sandbox/warm.c, warm_place()): two
# instances of a few milliseconds running at once get a CPU each, whatever
# else runs on the machine; the scheduler alone stacks warm workers beside
# pith's loop thread as soon as no CPU is idle.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
spin=$B/bench/fn/spin

[ "$(nproc)" -ge 2 ] || t_skip_all "one CPU: nothing to spread"
[ "${PITH_CPU_PLACEMENT:-}" != off ] || t_skip_all "PITH_CPU_PLACEMENT=off"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-placement.XXXXXX")
bg=
trap '[ -n "$bg" ] && kill $bg 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

t_plan 2

echo 3000000 >"$tmp/n" # ~3 ms of spin.c's loop
python3 - "$tmp/job.json" "$spin" "$tmp/n" <<'PY'
import json, sys
path, fn, item = sys.argv[1:4]
json.dump({"version": 1, "name": "place",
           "functions": {"f": {"binary": fn, "memory": "1MiB", "timeout": "10s"}},
           "inputs": {"n": [{"name": "i%d" % i, "file": item} for i in range(300)]},
           "stages": [{"name": "s", "function": "f",
                       "inputs": {"n": {"from": "n", "mode": "each"}},
                       "outputs": ["o"]}],
           "outputs": {"o": "s.o"}}, open(path, "w"))
PY

# A busy loop at nice 19 on CPU 0 keeps any CPU from being idle.
nice -n 19 taskset -c 0 sh -c 'while :; do :; done' &
bg=$!

"$pith" run -q -j 2 "$tmp/job.json" -o "$tmp/out" >"$tmp/run.out" 2>&1 &
pid=$!
seen= samples=
for _ in $(seq 400); do
	kill -0 "$pid" 2>/dev/null || break
	cpus=
	for w in $(pgrep -P "$pid" -x pith-worker); do
		c=$(sed -n 's/^Cpus_allowed_list:\t//p' "/proc/$w/status" 2>/dev/null)
		cpus="$cpus $c"
	done
	samples="$samples;$cpus"
	set -- $cpus
	if [ $# -eq 2 ] && [ "$1" != "$2" ] &&
		[[ $1 =~ ^[0-9]+$ ]] && [[ $2 =~ ^[0-9]+$ ]]; then
		seen=yes
	fi
	sleep 0.01
done
wait "$pid"
rc=$?
if [ $rc -eq 0 ]; then
	t_ok the_job_runs
else
	t_fail the_job_runs "exit $rc: $(cat "$tmp/run.out")"
fi
if [ -n "$seen" ]; then
	t_ok two_running_warm_workers_have_a_cpu_each
else
	t_fail two_running_warm_workers_have_a_cpu_each \
		"affinities sampled: $(echo "$samples" | tr ';' '\n' | sort | uniq -c | sort -rn | head -5)"
fi
t_done
