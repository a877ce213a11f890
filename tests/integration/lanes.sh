#!/bin/bash
# SPDX-License-Identifier: MIT
# Lanes (on by default, PITH_LANES=0 off; sandbox/driver.c): fresh instances handed to a
# driver thread on another CPU, forked by its own zygote there. A fresh
# job's results are the same with and without lanes: the outputs, their
# order, the report (instances, states, reasons); so are those of
# instances killed at their deadline and of failing ones. -j 1 and
# taskset -c 0 keep one lane (PITH_WARM_STATS prints a line per driver
# that ran: none there). A lane holds fewer fresh instances of a function
# declaring much memory (SANDBOX_LANE_MEMORY): no more at once than
# without lanes, and no fewer of a small one.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"
. "$here/../harness/paths.sh"
pith=$B/pith
fnd=$B/tests/functions
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-lanes.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ "$(nproc)" -lt 2 ]; then
	t_skip_all "lanes need two CPUs (taskset keeps them off)"
fi
t_plan 9

job() {
	python3 - "$@" <<'PY'
import json, sys
path, fn, n, timeout = sys.argv[1:5]
memory = sys.argv[5] if len(sys.argv) > 5 else "1MiB"
json.dump({"version": 1, "name": "lanes",
           "functions": {"f": {"binary": fn, "memory": memory,
                               "timeout": timeout, "fresh": True}},
           "inputs": {"n": [{"name": "i%d" % i, "data": "item %d\n" % i}
                            for i in range(int(n))]},
           "stages": [{"name": "s", "function": "f",
                       "inputs": {"in": {"from": "n", "mode": "each"}},
                       "outputs": ["out"]}],
           "outputs": {"o": "s.out"}}, open(path, "w"))
PY
}
# job FILE FUNCTION N TIMEOUT [MEMORY]: N fresh instances, item i is "item i".
job "$tmp/forward.json" "$fnd/forward" 600 10s
job "$tmp/fail.json" "$fnd/slowfail" 12 10s
job "$tmp/spin.json" "$fnd/spin" 12 200ms
job "$tmp/heavy.json" "$fnd/lateheavy" 288 20s 64MiB
job "$tmp/small.json" "$fnd/forward" 600 10s 16MiB

# The report without what differs from run to run: times, pids, CPUs,
# the output directory; of a failed job its failures (which instances
# started before the job was cancelled, and so which failed first, depend
# on timing with or without lanes), each reason once.
report() {
	python3 -c '
import json, re, sys
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k != "dir" and
                not any(w in k for w in ("_ms", "_us", "_ns", "time", "pid", "cpu", "peak", "rss"))}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
r = strip(json.load(open(sys.argv[1])))
if r.get("status") != "ok":
    e = r.get("error", {})
    e["message"] = re.sub(r"\[[0-9]+\]", "[N]", e.get("message", ""))
    for s in r.get("stages", []):
        s["instance_results"] = sorted({json.dumps({k: v for k, v in i.items() if k != "index"}, sort_keys=True)
                                        for i in s.get("instance_results", [])
                                        if i.get("status") not in ("ok", "cancelled", "not-run")})
        for k in ("instances", "items_out", "bytes_out", "status"):
            s.pop(k, None)
print(json.dumps(r, sort_keys=True, indent=1))' "$1"
}

# run NAME LANES JOB [prefix...] [-- args] (LANES "": PITH_LANES unset):
# outputs in $tmp/NAME, report
# in $tmp/NAME.json, the drivers' lines in $tmp/NAME.drv
run() {
	local name=$1 lanes=$2 j=$3 pre=() args=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do pre+=("$1"); shift; done
	[ $# -gt 0 ] && shift && args=("$@")
	local set=(-u PITH_LANES)
	[ -n "$lanes" ] && set=("PITH_LANES=$lanes")
	env "${set[@]}" PITH_WARM_STATS=1 "${pre[@]}" "$pith" run --json \
		"$j" -o "$tmp/$name" "${args[@]}" >"$tmp/$name.raw" 2>"$tmp/$name.err"
	grep '^pith: driver on CPU [0-9]*: [1-9]' "$tmp/$name.err" >"$tmp/$name.drv"
	report "$tmp/$name.raw" >"$tmp/$name.json" 2>>"$tmp/$name.err"
}

# same NAME A B: A's and B's outputs and reports are the same, and B ran
# instances in a lane; else why not.
same() {
	if [ ! -s "$tmp/$3.drv" ]; then
		echo "no instance ran in a lane: $(cat "$tmp/$3.err")"
	elif { [ -e "$tmp/$2" ] || [ -e "$tmp/$3" ]; } &&
		! diff -r "$tmp/$2" "$tmp/$3" >"$tmp/diff" 2>&1; then
		echo "outputs differ: $(head -20 "$tmp/diff")"
	elif ! diff "$tmp/$2.json" "$tmp/$3.json" >"$tmp/diff" 2>&1; then
		echo "reports differ: $(head -20 "$tmp/diff")"
	fi
}

run one 0 "$tmp/forward.json"
run lanes 1 "$tmp/forward.json"
why=$(same forward one lanes)
n=$(find "$tmp/lanes/o" -type f 2>/dev/null | wc -l)
if [ -z "$why" ] && [ "$n" = 600 ]; then
	t_ok a_fresh_jobs_outputs_and_report_are_the_same_in_lanes
else
	t_fail a_fresh_jobs_outputs_and_report_are_the_same_in_lanes "${why:-$n outputs, not 600}"
fi

# -j 12: the engine's lane holds 8 (PLAN_SLOTS) while the driver,
# started ahead, makes its sandbox; the next ones go to the driver.
run fail1 0 "$tmp/fail.json" -- -j 12
run fail2 1 "$tmp/fail.json" -- -j 12
why=$(same fail fail1 fail2)
if [ -z "$why" ] && grep -q 'exited with status 3' "$tmp/fail2.raw"; then
	t_ok a_failing_instance_is_reported_the_same_in_lanes
else
	t_fail a_failing_instance_is_reported_the_same_in_lanes "${why:-no status 3 in the report}"
fi

run spin1 0 "$tmp/spin.json" -- -j 12
run spin2 1 "$tmp/spin.json" -- -j 12
why=$(same spin spin1 spin2)
if [ -z "$why" ] && grep -q 'timed out after 200 ms' "$tmp/spin2.raw"; then
	t_ok instances_past_their_deadline_are_reported_the_same_in_lanes
else
	t_fail instances_past_their_deadline_are_reported_the_same_in_lanes "${why:-no timeout in the report: $(head -c 600 "$tmp/spin2.raw")}"
fi

run j1 1 "$tmp/forward.json" -- -j 1
if [ ! -s "$tmp/j1.drv" ] && diff -r "$tmp/one" "$tmp/j1" >/dev/null 2>&1; then
	t_ok j1_keeps_one_lane
else
	t_fail j1_keeps_one_lane "$(cat "$tmp/j1.drv" "$tmp/j1.err")"
fi

run cpu0 1 "$tmp/forward.json" taskset -c 0
if [ ! -s "$tmp/cpu0.drv" ] && diff -r "$tmp/one" "$tmp/cpu0" >/dev/null 2>&1; then
	t_ok one_cpu_keeps_one_lane
else
	t_fail one_cpu_keeps_one_lane "$(cat "$tmp/cpu0.drv" "$tmp/cpu0.err")"
fi

# Off: no lane, whatever the job.
run off 0 "$tmp/forward.json"
if [ ! -s "$tmp/off.drv" ]; then
	t_ok without_lanes_fresh_instances_stay_on_the_engines_thread
else
	t_fail without_lanes_fresh_instances_stay_on_the_engines_thread "$(cat "$tmp/off.drv")"
fi
# On unless PITH_LANES=0 says otherwise.
run default "" "$tmp/forward.json"
if [ -s "$tmp/default.drv" ] && diff -r "$tmp/one" "$tmp/default" >/dev/null 2>&1; then
	t_ok fresh_instances_run_in_lanes_by_default
else
	t_fail fresh_instances_run_in_lanes_by_default "$(cat "$tmp/default.err")"
fi

# at_once JOB [pith args]: "N PEAK": the most instances that ran at once
# (--trace's slot tracks: an instance takes the lowest free one) and the
# peak of its workers' resident memory together, in MiB, polled every ms
# (a poll can miss a peak, never make one up).
at_once() {
	local j=$1
	shift
	python3 - "$pith" "$j" "$tmp/at" "$@" <<'PY'
import json, os, subprocess, sys, time
pith, job, out = sys.argv[1:4]
p = subprocess.Popen([pith, "run", "-q", job, "-o", out, "--trace", out + ".trace",
                      *sys.argv[4:]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
page, peak = os.sysconf("SC_PAGE_SIZE"), 0
def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
while p.poll() is None:
    kids = set()
    for t in os.listdir("/proc/%d/task" % p.pid) if os.path.isdir("/proc/%d/task" % p.pid) else []:
        kids.update(read("/proc/%d/task/%s/children" % (p.pid, t)).split())
    peak = max(peak, sum(int((read("/proc/%s/statm" % c).split() or [0, 0])[1]) * page
                         for c in kids))
    time.sleep(0.001)
if p.returncode:
    print("failed", p.stderr.read().decode()[:300])
    sys.exit()
ev = json.load(open(out + ".trace"))["traceEvents"]
print(len({e["tid"] for e in ev if e["ph"] == "X" and e.get("cat") == "instance"}), peak >> 20)
PY
}

# 32 instances each holding 48 MiB of a 64 MiB function, after 256 that
# return at once: while the stage was short its lanes took 8 each (16 on
# 2 CPUs), and 16 of them held 768 MiB at once; now two per lane, never
# fewer than without lanes (two per CPU).
cpus=$(nproc)
want=$((2 * cpus))
read -r n peak <<<"$(at_once "$tmp/heavy.json")"
if [ "$n" -le "$want" ] 2>/dev/null && [ "$peak" -le $(((want + 1) * 48)) ]; then
	t_ok fresh_instances_declaring_much_memory_run_no_more_at_once_than_without_lanes
else
	t_fail fresh_instances_declaring_much_memory_run_no_more_at_once_than_without_lanes \
		"$n at once, their workers' peak $peak MiB; wanted at most $want and $(((want + 1) * 48)) MiB"
fi
# The default's 16 MiB: as many as the lanes' zygotes hold (8 each) and
# the driver's queue (8 more, round 15: 24 on 2 CPUs with one driver);
# fewer only where two per CPU are more (ENGINE_SLOTS_PER_CPU).
lanes=24
[ "$want" -gt "$lanes" ] && lanes=$want
read -r n peak <<<"$(at_once "$tmp/small.json")"
if [ "$n" -gt $((lanes / 2)) ] 2>/dev/null && [ "$n" -le "$lanes" ]; then
	t_ok fresh_instances_of_a_default_memory_function_keep_the_lanes_depth
else
	t_fail fresh_instances_of_a_default_memory_function_keep_the_lanes_depth \
		"$n at once, wanted $((lanes / 2 + 1))..$lanes"
fi
t_done
