#!/bin/bash
# SPDX-License-Identifier: MIT
# How many compute instances pith runs at once (instance.c, stage_slots()):
# by default one per CPU it may use (its affinity), and two per CPU once a
# stage's instances are short (ENGINE_SHORT_NS), so that a parked worker is
# ready when pith answers; -j N fixes it. Counted on `--trace`'s worker
# slot tracks: an instance takes the lowest free slot, so the tracks are
# the most instances that ran at once.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
fnd=$B/bench/fn
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-slots.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 6

# job FILE FUNCTION N ITEM
job() {
	python3 - "$@" <<'PY'
import json, sys
path, fn, n, item = sys.argv[1:5]
json.dump({"version": 1, "name": "slots",
           "functions": {"f": {"binary": fn, "memory": "1MiB", "timeout": "10s"}},
           "inputs": {"n": [{"name": "i%d" % i, "file": item} for i in range(int(n))]},
           "stages": [{"name": "s", "function": "f",
                       "inputs": {"n": {"from": "n", "mode": "each"}},
                       "outputs": ["o"]}],
           "outputs": {"o": "s.o"}}, open(path, "w"))
PY
}
# fresh FILE N: N fresh spin.c instances, the first 8 spinning ~3 ms
# each, then every other one: their average stays above ENGINE_SHORT_NS
# while half of them end at once.
fresh() {
	python3 - "$@" "$fnd/spin" "$tmp" <<'PY'
import json, sys
path, n, fn, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
for v in ("0", "3000000"):
    open("%s/spin%s" % (tmp, v), "w").write(v)
items = [{"name": "i%d" % i,
          "file": "%s/spin%s" % (tmp, "3000000" if i < 8 or i % 2 else "0")}
         for i in range(n)]
json.dump({"version": 1, "name": "slots",
           "functions": {"f": {"binary": fn, "memory": "1MiB", "timeout": "10s",
                               "fresh": True}},
           "inputs": {"n": items},
           "stages": [{"name": "s", "function": "f",
                       "inputs": {"n": {"from": "n", "mode": "each"}},
                       "outputs": ["o"]}],
           "outputs": {"o": "s.o"}}, open(path, "w"))
PY
}
echo x >"$tmp/x"
echo 5000000 >"$tmp/n" # ~5 ms of spin.c's loop: not short
job "$tmp/noop.json" "$fnd/noop" 3000 "$tmp/x"
job "$tmp/spin.json" "$fnd/spin" 24 "$tmp/n"
fresh "$tmp/mixed.json" 160

# slots JOB [prefix command...] [-- pith args]: prints the slot tracks used
slots() {
	local j=$1 pre=() args=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do pre+=("$1"); shift; done
	[ $# -gt 0 ] && shift && args=("$@")
	rm -f "$tmp/t.json"
	"${pre[@]}" "$pith" run -q "$j" -o "$tmp/out" --trace "$tmp/t.json" \
		"${args[@]}" >"$tmp/run.out" 2>&1 || { echo "run failed: $(cat "$tmp/run.out")"; return; }
	python3 -c '
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
print(len({e["tid"] for e in ev if e["ph"] == "X" and e.get("cat") == "instance"}))' "$tmp/t.json"
}

cpus=$(nproc)
got=$(slots "$tmp/noop.json")
if [ "$got" -gt "$cpus" ] 2>/dev/null && [ "$got" -le $((2 * cpus)) ]; then
	t_ok short_instances_run_two_per_cpu_by_default
else
	t_fail short_instances_run_two_per_cpu_by_default "$got slots on $cpus CPUs, wanted $((cpus + 1))..$((2 * cpus))"
fi
got=$(slots "$tmp/spin.json")
if [ "$got" -ge 1 ] 2>/dev/null && [ "$got" -le "$cpus" ]; then
	t_ok long_instances_run_one_per_cpu_by_default
else
	t_fail long_instances_run_one_per_cpu_by_default "$got slots on $cpus CPUs, wanted 1..$cpus"
fi
got=$(slots "$tmp/noop.json" taskset -c 0)
if [ "$got" = 2 ]; then
	t_ok the_cpus_are_those_of_the_affinity
else
	t_fail the_cpus_are_those_of_the_affinity "$got slots under taskset -c 0, wanted 2"
fi
got=$(slots "$tmp/spin.json" -- -j 3)
if [ "$got" = 3 ]; then
	t_ok parallel_fixes_the_slots_of_long_instances
else
	t_fail parallel_fixes_the_slots_of_long_instances "$got slots with -j 3, wanted 3"
fi
got=$(slots "$tmp/noop.json" -- -j 1)
if [ "$got" = 1 ]; then
	t_ok parallel_fixes_the_slots_of_short_instances
else
	t_fail parallel_fixes_the_slots_of_short_instances "$got slots with -j 1, wanted 1"
fi
# Fresh instances wait for their fork behind others on their lane's
# zygote, so their runs as pith sees them spread, and their average
# crossed ENGINE_SHORT_NS while they were short: a fresh stage is short
# while its shortest recent run is (instance.c, run_min()).
if [ "$cpus" -gt 1 ]; then
	got=$(slots "$tmp/mixed.json")
	if [ "$got" -gt $((2 * cpus)) ] 2>/dev/null; then
		t_ok fresh_instances_are_short_by_their_shortest_recent_run
	else
		t_fail fresh_instances_are_short_by_their_shortest_recent_run "$got slots on $cpus CPUs, wanted more than $((2 * cpus))"
	fi
else
	t_skip fresh_instances_are_short_by_their_shortest_recent_run "one CPU: no lanes"
fi
t_done
