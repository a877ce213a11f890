#!/bin/bash
# SPDX-License-Identifier: MIT
# What tracing costs a no-op instance, black box (`pith run`), as ratios
# to a baseline in the same run (Documentation/benchmarks/tracing.md):
#   noprobes   pith built with -DPITH_NO_PROBES: no probe in the binary
#   idle       pith as built: probes are NOPs, nobody attached
#   pith-top   the same binary with build/pith-top attached (-b)
#   trace      the idle binary recording --trace FILE
# The cost of one instance is the slope between a job of N1 and one of N2
# no-op instances (-j 1), so pith's start-up cancels out: wall time, and
# CPU time of pith and the workers it reaped (wait4). Methods are
# interleaved in every round; a ratio is the median over rounds of each
# round's method/noprobes.
#
#   tools/trace/overhead_bench.sh [-r ROUNDS] [-a N1] [-b N2]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-$root/build}
rounds=11 n1=100 n2=600
while getopts r:a:b: o; do
	case $o in
	r) rounds=$OPTARG ;;
	a) n1=$OPTARG ;;
	b) n2=$OPTARG ;;
	*) sed -n 's/^#   //p' "$0" >&2; exit 2 ;;
	esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-overhead.XXXXXX")
top=
cleanup() {
	[ -z "$top" ] || kill -INT "$top" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# The baseline binary: the same sources without probes.
make -s -C "$root" B=build/noprobes CC="gcc -DPITH_NO_PROBES" \
	build/noprobes/pith build/noprobes/pith-worker >/dev/null
np=$root/build/noprobes/pith
if readelf -n "$np" | grep -q 'Provider: pith'; then
	echo "overhead: $np still has probes" >&2
	exit 1
fi
cp "$B/pith" "$tmp/pith"      # pith-top attaches to this file
cp "$B/pith" "$tmp/pith-idle" # and not to this one

job() { # job N FILE
	local i items=
	for i in $(seq "$1"); do
		items="$items{ \"name\": \"i$i\", \"data\": \"x\" },"
	done
	cat >"$2" <<JSON
{ "version": 1, "name": "noop$1",
  "functions": { "noop": { "binary": "$B/tools/trace/noop", "timeout": "5s" } },
  "inputs": { "x": [ ${items%,} ] },
  "stages": [ { "name": "s", "function": "noop",
                "inputs": { "in": { "from": "x", "mode": "each" } },
                "outputs": ["out"] } ],
  "outputs": { "r": "s.out" } }
JSON
}
job "$n1" "$tmp/a.json"
job "$n2" "$tmp/b.json"

"$B/pith-top" -b "$tmp/pith" --json -i 1000 >"$tmp/top.json" 2>"$tmp/top.err" &
top=$!
for _ in $(seq 100); do
	grep -q tracing "$tmp/top.err" && break
	sleep 0.1
done
grep -q tracing "$tmp/top.err" || { cat "$tmp/top.err" >&2; exit 1; }

python3 - "$tmp" "$rounds" "$np" "$root/build/noprobes/pith-worker" \
	"$B/pith-worker" >"$tmp/raw" <<'PY'
import os, sys, time
tmp, rounds, np, np_worker, worker = sys.argv[1:6]
methods = {
    "noprobes": (np, np_worker, []),
    "idle": (tmp + "/pith-idle", worker, []),
    "pith-top": (tmp + "/pith", worker, []),
    "trace": (tmp + "/pith-idle", worker, ["--trace", tmp + "/t.json"]),
}
def sample(m, job):
    exe, w, extra = methods[m]
    argv = [exe, "run", job, "-j", "1", "-q", "-o", tmp + "/out"] + extra
    env = dict(os.environ, PITH_WORKER=w)
    null = os.open(os.devnull, os.O_WRONLY)
    t0 = time.monotonic_ns()
    pid = os.posix_spawn(exe, argv, env, file_actions=[
        (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
    _, status, ru = os.wait4(pid, 0)
    t1 = time.monotonic_ns()
    os.close(null)
    if status:
        sys.exit(f"{m}: pith failed ({status})")
    return t1 - t0, int((ru.ru_utime + ru.ru_stime) * 1e9)
order = list(methods)
for r in range(int(rounds)):
    for m in order:
        wa, ca = sample(m, tmp + "/a.json")
        wb, cb = sample(m, tmp + "/b.json")
        print(r, m, wb - wa, cb - ca, flush=True)
    order = order[1:] + order[:1]
PY
kill -INT "$top"
wait "$top" || true
top=
python3 - "$tmp/raw" "$tmp/top.json" "$rounds" "$n1" "$n2" <<'PY'
import json, statistics, sys
n = int(sys.argv[5]) - int(sys.argv[4])
wall, cpu = {}, {}
for l in open(sys.argv[1]):
    r, m, w, c = l.split()
    wall.setdefault(m, {})[int(r)] = int(w) / n
    cpu.setdefault(m, {})[int(r)] = int(c) / n
top = json.load(open(sys.argv[2]))
seen = sum(f["instances"] for f in top["functions"] if f["function"] == "noop")
print(f"{sys.argv[3]} rounds; per instance = (job of {sys.argv[5]} - job of {sys.argv[4]}) / {n}, -j 1")
def q(xs):  # median and interquartile range
    a = statistics.quantiles(xs, n=4)
    return a[1], a[0], a[2]
print(f"{'method':10} {'wall us':>8} {'ratio':>6} {'(IQR)':>13}"
      f" {'cpu us':>8} {'ratio':>6} {'(IQR)':>13}")
for m in ("noprobes", "idle", "pith-top", "trace"):
    rs = sorted(wall[m])
    wr = q([wall[m][r] / wall["noprobes"][r] for r in rs])
    cr = q([cpu[m][r] / cpu["noprobes"][r] for r in rs])
    print(f"{m:10} {statistics.median(wall[m].values())/1000:8.1f}"
          f" {wr[0]:6.3f} ({wr[1]:.3f}-{wr[2]:.3f})"
          f" {statistics.median(cpu[m].values())/1000:8.1f}"
          f" {cr[0]:6.3f} ({cr[1]:.3f}-{cr[2]:.3f})")
print(f"pith-top counted {seen} noop instances")
PY
