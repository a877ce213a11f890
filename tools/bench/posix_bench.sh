#!/bin/bash
# SPDX-License-Identifier: MIT
# POSIX functions vs the same programs natively: Lua 5.4, zlib's minigzip
# and the sqlite3 shell, each built from Debian's sources twice by
# examples/posix/build.sh (pith-posix-cc on musl; gcc on glibc, same flags),
# on workloads of a hundred milliseconds and more. A pith figure is a whole
# `pith run` of a one-instance job (parse, ingest, sandbox, output
# written); a native one is the program reading the file from stdin and
# writing /dev/null; `empty` is `pith run` of a POSIX function that exits
# at once, given the same input (pith's fixed cost: parse, ingest, sandbox,
# guard, musl start). Runs are interleaved (native, pith, empty,
# native, ...) so that the machine's drift hits each alike; the table
# gives medians of wall time and of CPU time (user+system of the process
# and its reaped children: pith's workers included), and two ratios:
# wall of pith run / native, and the function's own CPU (pith - empty) /
# native.
#
#   tools/bench/posix_bench.sh [RUNS]     # default 11
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-11}
pith=$root/build/pith
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-posix-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

declare -A pbin nbin
for p in lua zlib sqlite; do
	pbin[$p]=$("$root/examples/posix/build.sh" "$p")
	nbin[$p]=$("$root/examples/posix/build.sh" "$p" native)
done

# About 4 MiB of text (the wordcount documents, repeated) and 16 MiB.
for i in $(seq 800); do cat "$root"/examples/wordcount/data/*.txt; done >"$tmp/text4"
for i in 1 2 3 4; do cat "$tmp/text4"; done >"$tmp/text16"
cat >"$tmp/bench.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v REAL);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000)
INSERT INTO t(k, v) SELECT 'k' || (x * 7919 % 1000), x * 0.5 FROM n;
CREATE INDEX t_k ON t(k);
SELECT k, count(*), sum(v) FROM t GROUP BY k ORDER BY 3 DESC LIMIT 5;
SELECT count(*) FROM t a JOIN t b ON a.id = b.id + 1 WHERE a.k = b.k;
SQL

# job NAME BINARY ARGS-JSON INPUT-FILE
job() {
	cat >"$tmp/$1.json" <<JOB
{ "version": 1, "name": "$1",
  "functions": { "f": { "binary": "$2", "memory": "256MiB", "timeout": "60s",
                        "args": $3, "env": { "HOME": "/tmp" } } },
  "inputs": { "in": [ { "name": "in", "file": "$4" } ],
              "script": [ { "name": "wordfreq.lua", "file": "$root/examples/lua/wordfreq.lua" } ] },
  "stages": [ { "name": "s", "function": "f",
                "inputs": { "stdin": { "from": "in", "mode": "each" },
                            "script": { "from": "script", "mode": "all" } },
                "outputs": ["stdout"] } ],
  "outputs": { "out": "s.stdout" } }
JOB
}
job lua "${pbin[lua]}" '["/in/script/wordfreq.lua"]' "$tmp/text4"
job zlib "${pbin[zlib]}" '[]' "$tmp/text16"
job sqlite "${pbin[sqlite]}" '[":memory:"]' "$tmp/bench.sql"
job empty-lua "$root/build/posix/tests/probe" '["exit", "0"]' "$tmp/text4"
job empty-zlib "$root/build/posix/tests/probe" '["exit", "0"]' "$tmp/text16"
job empty-sqlite "$root/build/posix/tests/probe" '["exit", "0"]' "$tmp/bench.sql"

python3 - "$runs" "$tmp" "$pith" "${nbin[lua]}" "${nbin[zlib]}" \
	"${nbin[sqlite]}" "$root/examples/lua/wordfreq.lua" <<'PY'
import resource, subprocess, sys, time
runs, tmp, pith = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lua, zlib, sqlite, script = sys.argv[4:8]
progs = [
    ("lua", "wordfreq.lua over 4.2 MiB of text",
     f"{lua} {script} < {tmp}/text4 > /dev/null"),
    ("zlib", "minigzip of 16.9 MiB of text",
     f"{zlib} < {tmp}/text16 > /dev/null"),
    ("sqlite", "200,000 inserts, an index, a join (:memory:)",
     f"{sqlite} :memory: < {tmp}/bench.sql > /dev/null"),
]

def once(cmd):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode:
        sys.exit(f"{cmd}: exit {r.returncode}: {r.stderr}")
    t1 = time.monotonic()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return (t1 - t0) * 1e3, cpu * 1e3

def med(v):
    v = sorted(v)
    return v[len(v) // 2]

print("| program | workload | native wall / CPU (ms) | pith run wall / CPU (ms) | empty CPU (ms) | wall ratio | function CPU ratio |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
for name, what, native in progs:
    pcmd = f"{pith} run -q -o {tmp}/out-{name} {tmp}/{name}.json"
    ecmd = f"{pith} run -q -o {tmp}/out-empty {tmp}/empty-{name}.json"
    m = {"n": [], "p": [], "e": []}
    for cmd in (native, pcmd, ecmd):   # warm-up
        once(cmd)
    for _ in range(runs):
        m["n"].append(once(native))
        m["p"].append(once(pcmd))
        m["e"].append(once(ecmd))
    nw, nc = med([w for w, _ in m["n"]]), med([c for _, c in m["n"]])
    pw, pc = med([w for w, _ in m["p"]]), med([c for _, c in m["p"]])
    ec = med([c for _, c in m["e"]])
    print(f"| {name} | {what} | {nw:.0f} / {nc:.0f} | {pw:.0f} / {pc:.0f} | "
          f"{ec:.0f} | {pw / nw:.2f}x | {(pc - ec) / nc:.2f}x |")
PY
