#!/bin/bash
# SPDX-License-Identifier: MIT
# Ingest speed: `pith run` of a job whose input is 10,000 small files
# (1 KiB each) and of one whose input is a single 256 MiB file, both merged
# by one `all` instance of count (which reads only each item's last bytes,
# so the run is mostly ingest), page cache warm. Two pith binaries, run
# interleaved in the same script; median wall and CPU (pith and its
# workers: the rusage of the waited child) of ROUNDS runs each, and the
# ratio of the second to the first.
#
#   tools/bench/ingest_bench.sh OLD_PITH NEW_PITH [ROUNDS]
#
# Needs ~300 MiB free in $TMPDIR (default /tmp).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 OLD_PITH NEW_PITH [ROUNDS]" >&2; exit 2; }
old=$1 new=$2 rounds=${3:-7}
top=$(cd "$(dirname "$0")/../.." && pwd)
fn=${B:-$top/build}/tests/functions
[ -x "$fn/count" ] || { echo "build the test functions first: make" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pith-ingest-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Private copies: a concurrent `make` may relink them under us.
cp "$old" "$work/old"
cp "$new" "$work/new"
cp "$fn/count" "$work/count"
cp "${B:-$top/build}/pith-worker" "$work/pith-worker"

python3 - "$work" "$rounds" <<'PY'
import json, os, statistics, subprocess, sys, time

work, rounds = sys.argv[1], int(sys.argv[2])

def job(name, files):
    return {"version": 1, "name": name,
            "functions": {"c": {"binary": work + "/count", "memory": "64MiB",
                                "timeout": "120s"}},
            "inputs": {"docs": [{"name": "i%d" % k, "file": f}
                                for k, f in enumerate(files)]},
            "stages": [{"name": "m", "function": "c",
                        "inputs": {"in": {"from": "docs", "mode": "all"}},
                        "outputs": ["out"]}],
            "outputs": {"r": "m.out"}}

os.makedirs(work + "/small")
small = []
for k in range(10000):
    p = "small/%d" % k
    with open(os.path.join(work, p), "wb") as f:
        f.write((b"%d " % k) * 200 + b"%d" % k)
    small.append(p)
with open(work + "/big", "wb") as f:
    block = bytes(range(256)) * 4096  # 1 MiB
    for _ in range(256):
        f.write(block)
jobs = {"10000 x 1 KiB files": job("small", small),
        "1 x 256 MiB file": job("big", ["big"])}
for name, j in jobs.items():
    with open(os.path.join(work, j["name"] + ".json"), "w") as f:
        json.dump(j, f)

def run(pith, j):
    out = os.path.join(work, "out")
    subprocess.run(["rm", "-rf", out], check=True)
    t = time.monotonic()
    p = subprocess.Popen([os.path.join(work, pith), "run", "-q",
                          os.path.join(work, j + ".json"), "-o", out],
                         stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t
    if status != 0:
        sys.exit("%s %s failed: %d" % (pith, j, status))
    return wall, ru.ru_utime + ru.ru_stime

print("load: " + open("/proc/loadavg").read().strip())
print("| job | old wall | new wall | new/old | old CPU | new CPU | new/old |")
print("|---|---|---|---|---|---|---|")
for name, j in jobs.items():
    res = {"old": [], "new": []}
    for pith in ("old", "new"):  # warm the page cache and the binaries
        run(pith, j["name"])
    for r in range(rounds):
        for pith in (("old", "new") if r % 2 == 0 else ("new", "old")):
            res[pith].append(run(pith, j["name"]))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in res.items()}
    print("| %s | %.1f ms | %.1f ms | %.2f | %.1f ms | %.1f ms | %.2f |" % (
        name, med["old"][0] * 1e3, med["new"][0] * 1e3, med["new"][0] / med["old"][0],
        med["old"][1] * 1e3, med["new"][1] * 1e3, med["new"][1] / med["old"][1]))
print("load: " + open("/proc/loadavg").read().strip())
PY
