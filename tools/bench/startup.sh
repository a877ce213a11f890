#!/bin/bash
# SPDX-License-Identifier: MIT
# The fixed cost of one `pith run`: wall and CPU time of a whole run of a
# one-instance job (parse, sandbox and guard set-up, one instance, outputs
# written, tear-down), next to fork+exec of a static no-op and to bwrap of
# it, all in one run and launched alike (one subprocess each from the same
# Python), so that the ratios hold under load. Runs are interleaved (one of
# each, then again) and the table gives medians.
#
#   make && tools/bench/startup.sh [RUNS]     # default 21
#   OTHER=/path/to/another/build/pith tools/bench/startup.sh
#       adds the no-op rows run by that pith (another tree's build, e.g.
#       before a change), in the same interleaved run
#
# Rows: fork+exec of build/bench/noop-static (the baseline); bwrap
# --unshare-all with a seccomp filter around it (tools/deps.sh bench);
# `pith run` of a one-instance job of the freestanding no-op function
# (build/bench/fn/noop), the same with "fresh": true, and of a POSIX
# function that exits at once (build/posix/tests/probe exit 0: musl's
# start-up included). CPU is user+system of the process and its reaped
# children (pith's workers and spawner included).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-21}
B=${B:-$root/build}
PITH=$(realpath "$B/pith")
DRV=$(realpath "$B/instance-driver")
NOOP=$(realpath "$B/bench/noop-static")
FN=$(realpath "$B/bench/fn/noop")
PROBE=$B/posix/tests/probe
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-startup-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo x >"$tmp/x.txt"

# job NAME BINARY FRESH ARGS-JSON
job() {
	cat >"$tmp/$1.json" <<JOB
{ "version": 1, "name": "$1",
  "functions": { "f": { "binary": "$2", "memory": "1MiB", "timeout": "10s",
                        "fresh": $3, "args": $4 } },
  "inputs": { "n": [ { "name": "i0", "file": "$tmp/x.txt" } ] },
  "stages": [ { "name": "s", "function": "f",
                "inputs": { "n": { "from": "n", "mode": "each" } },
                "outputs": ["o"] } ],
  "outputs": { "o": "s.o" } }
JOB
}
job noop "$FN" false '[]'
job fresh "$FN" true '[]'
rows=(
	"fork+exec of a static no-op (baseline)|$NOOP"
)
if command -v bwrap >/dev/null; then
	"$DRV" seccomp "$tmp/filter.bpf"
	rows+=("bwrap --unshare-all --seccomp, static no-op|exec 9<$tmp/filter.bpf; exec $(command -v bwrap) --unshare-all --die-with-parent --ro-bind $NOOP /noop --seccomp 9 /noop")
else
	echo "startup: bwrap missing (tools/deps.sh bench): no bwrap row" >&2
fi
rows+=(
	"pith run, 1-instance job, no-op function (warm default)|$PITH run -q -o $tmp/out $tmp/noop.json"
	"pith run, 1-instance job, no-op function, \"fresh\": true|$PITH run -q -o $tmp/out $tmp/fresh.json"
)
if [ -n "${OTHER:-}" ]; then
	rows+=("the same, $OTHER|$OTHER run -q -o $tmp/out $tmp/noop.json")
fi
if [ -x "$PROBE" ]; then
	job posix "$(realpath "$PROBE")" false '["exit", "0"]'
	rows+=("pith run, 1-instance job, POSIX function exiting at once|$PITH run -q -o $tmp/out $tmp/posix.json")
else
	echo "startup: no POSIX SDK ($PROBE): no POSIX row" >&2
fi

printf '%s\n' "${rows[@]}" | python3 -c '
import resource, subprocess, sys, time
runs = int(sys.argv[1])
rows = [l.rstrip("\n").split("|", 1) for l in sys.stdin if l.strip()]

def once(cmd):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    t1 = time.monotonic()
    if r.returncode:
        sys.exit(f"{cmd}: exit {r.returncode}: {r.stderr}")
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return (t1 - t0) * 1e3, cpu * 1e3

# Every command through the same shell: "exec" keeps the shell from
# staying around, so the baseline is the shell exec-ing the program.
cmds = [c if c.startswith("exec ") else "exec " + c for _, c in rows]
for c in cmds:
    once(c)
m = [[] for _ in rows]
for _ in range(runs):
    for i, c in enumerate(cmds):
        m[i].append(once(c))

def med(v):
    v = sorted(v)
    return v[len(v) // 2]

w0 = med([w for w, _ in m[0]])
c0 = med([c for _, c in m[0]])
print(f"| start-up ({runs} runs, medians) | wall (ms) | CPU (ms) | wall / fork+exec | CPU / fork+exec |")
print("| --- | ---: | ---: | ---: | ---: |")
for (name, _), v in zip(rows, m):
    w, c = med([x for x, _ in v]), med([y for _, y in v])
    print(f"| {name} | {w:.2f} | {c:.2f} | {w / w0:.1f}x | {c / max(c0, 1e-3):.1f}x |")
' "$runs"
