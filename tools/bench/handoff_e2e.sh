#!/bin/sh
# SPDX-License-Identifier: MIT
# The 64 MiB handoff through `pith run`: a producer instance writes one
# 64 MiB output (snoop's big64), a consumer instance reads a byte of each
# of its pages (snoop's touch). Each configuration is a pith binary and a
# snoop function built with some SDK; runs alternate between them so that
# the machine's drift hits each alike. Prints, per configuration, the
# median over REPS of the job's wall time and of the consumer stage's
# time, and their ratios to the first configuration (lower is better).
#
#   tools/bench/handoff_e2e.sh [-r REPS] LABEL=PITH:SNOOP...
#   tools/bench/handoff_e2e.sh -r 15 old=/tmp/old/pith:/tmp/old/snoop \
#       new=build/pith:build/tests/fn/snoop
set -eu

reps=11
if [ "${1:-}" = -r ]; then
	reps=$2
	shift 2
fi
[ $# -ge 1 ] || { echo "usage: $0 [-r REPS] LABEL=PITH:SNOOP..." >&2; exit 2; }
command -v python3 >/dev/null || { echo "missing python3" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pith-handoff-e2e.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

i=0
for cfg in "$@"; do
	label=${cfg%%=*}
	rest=${cfg#*=}
	pith=${rest%%:*}
	snoop=${rest#*:}
	snoop=$(cd "$(dirname "$snoop")" && pwd)/$(basename "$snoop")
	cat >"$work/job$i.json" <<EOF
{ "version": 1, "name": "handoff",
  "functions": {
    "make": { "binary": "$snoop", "memory": "80MiB", "timeout": "30s" },
    "read": { "binary": "$snoop", "memory": "4MiB", "timeout": "30s" } },
  "inputs": { "seed": [ { "name": "x", "data": "x" } ] },
  "stages": [
    { "name": "make", "function": "make", "inputs": { "s": { "from": "seed", "mode": "all" } }, "outputs": ["big64"] },
    { "name": "read", "function": "read", "inputs": { "b": { "from": "make.big64", "mode": "all" } }, "outputs": ["touch"] } ],
  "outputs": { "sum": "read.touch" } }
EOF
	echo "$label $pith" >>"$work/configs"
	i=$((i + 1))
done

r=0
while [ $r -lt "$reps" ]; do
	i=0
	while read -r label pith; do
		"$pith" run "$work/job$i.json" -o "$work/out$i" --json -q \
			>"$work/run$i.$r.json" 2>"$work/err$i" ||
			{ cat "$work/err$i" >&2; exit 1; }
		i=$((i + 1))
	done <"$work/configs"
	r=$((r + 1))
done

python3 - "$work" "$reps" <<'EOF'
import json, statistics, sys
work, reps = sys.argv[1], int(sys.argv[2])
labels = [l.split()[0] for l in open(work + "/configs")]
rows = []
for i, label in enumerate(labels):
    job, read = [], []
    for r in range(reps):
        d = json.load(open("%s/run%d.%d.json" % (work, i, r)))
        job.append(d["elapsed_ms"])
        read.append([s for s in d["stages"] if s["name"] == "read"][0]["elapsed_ms"])
    rows.append((label, statistics.median(job), statistics.median(read)))
b = rows[0]
print("# 64 MiB output handed from one instance to the next; medians of %d runs" % reps)
print("| configuration | job ms | consumer stage ms | job / %s | consumer / %s |" % (b[0], b[0]))
print("|---|---|---|---|---|")
for label, job, read in rows:
    print("| %s | %.2f | %.2f | %.2f | %.2f |" % (label, job, read, job / b[1], read / b[2]))
EOF
