#!/bin/bash
# SPDX-License-Identifier: MIT
# Ingest holds a bounded number of files open: a job listing 100,000 input
# file paths (read by pith's own reader before any stage runs) runs under
# `ulimit -n 1024`, and an `all` instance sees every byte of every file.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
fn=$B/tests/functions
N=${PITH_SCALE_N:-100000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-ingest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 1

# N paths d<j>/<k> (j < N/1000, k < 1000) listed as the items of one
# input, merged by one `all` instance of count: "<items> <bytes> <sum>".
# d0 holds 1,000 files "u<k>"; d1... are symlinks to it, so the job opens
# N paths (an fd each while read) without this script creating N files.
python3 - "$N" "$tmp" "$fn" <<'PY'
import json, os, sys
n, tmp, fn = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.makedirs(os.path.join(tmp, "d0"))
for k in range(1000):
    with open(os.path.join(tmp, "d0", str(k)), "w") as f:
        f.write("u%d" % k)
for j in range(1, (n + 999) // 1000):
    os.symlink("d0", os.path.join(tmp, "d%d" % j))
items = [{"name": "i%d" % i, "file": "d%d/%d" % (i // 1000, i % 1000)}
         for i in range(n)]
job = {"version": 1, "name": "files",
       "functions": {"c": {"binary": fn + "/count", "memory": "64MiB", "timeout": "60s"}},
       "inputs": {"docs": items},
       "stages": [{"name": "m", "function": "c",
                   "inputs": {"in": {"from": "docs", "mode": "all"}}, "outputs": ["out"]}],
       "outputs": {"r": "m.out"}}
with open(os.path.join(tmp, "files.json"), "w") as f:
    json.dump(job, f)
PY
want=$(awk -v n="$N" 'BEGIN { b = s = 0
	for (i = 0; i < n; i++) { b += length("u" (i % 1000)); s += i % 1000 }
	printf "%d %d %.0f\n", n, b, s }')
name=job_of_100000_input_files_runs_under_ulimit_n_1024
if out=$(ulimit -n 1024 && "$pith" run -q "$tmp/files.json" -o "$tmp/out" 2>&1) &&
	[ "$(cat "$tmp/out/r/count" 2>/dev/null)" = "$want" ]; then
	t_ok "$name"
else
	t_fail "$name" "want '$want', got '$(cat "$tmp/out/r/count" 2>/dev/null)'; $(printf '%s\n' "$out" | grep -v '^    \[' | head -5)"
fi
t_done
