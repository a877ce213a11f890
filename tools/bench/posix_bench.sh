#!/bin/bash
# SPDX-License-Identifier: MIT
# POSIX functions vs the same programs natively: Lua 5.4, zlib's minigzip
# and the sqlite3 shell, each built from Debian's sources twice by
# examples/posix/build.sh (pith-posix-cc on musl; gcc on glibc, same flags),
# on workloads of tens to hundreds of milliseconds. Each pith figure is a
# whole `pith run` of a one-instance job (parse, ingest, sandbox, output
# written); each native one is the program reading a file and writing
# /dev/null. Both come from one hyperfine run per program.
#
#   tools/bench/posix_bench.sh [RUNS]     # default 10
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-10}
pith=$root/build/pith
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-posix-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
command -v hyperfine >/dev/null || { echo "needs hyperfine" >&2; exit 1; }

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

native_lua="${nbin[lua]} $root/examples/lua/wordfreq.lua < $tmp/text4 > /dev/null"
native_zlib="${nbin[zlib]} < $tmp/text16 > /dev/null"
native_sqlite="${nbin[sqlite]} :memory: < $tmp/bench.sql > /dev/null"

printf '| program | workload | native (ms) | pith (ms) | ratio |\n'
printf '| --- | --- | ---: | ---: | ---: |\n'
for p in lua zlib sqlite; do
	case $p in
	lua) native=$native_lua what="wordfreq.lua over 4.2 MiB of text" ;;
	zlib) native=$native_zlib what="minigzip of 16.9 MiB of text" ;;
	sqlite) native=$native_sqlite what="200,000 inserts, an index, a join (:memory:)" ;;
	esac
	hyperfine -N --warmup 2 --runs "$runs" --export-json "$tmp/$p.h.json" \
		--command-name native "sh -c '$native'" \
		--command-name pith "$pith run -q -o $tmp/out-$p $tmp/$p.json" \
		>/dev/null 2>&1 || { echo "$p: hyperfine failed" >&2; exit 1; }
	python3 - "$tmp/$p.h.json" "$p" "$what" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
n, p = r["native"]["mean"] * 1e3, r["pith"]["mean"] * 1e3
print(f"| {sys.argv[2]} | {sys.argv[3]} | {n:.1f} ± {r['native']['stddev']*1e3:.1f} | {p:.1f} ± {r['pith']['stddev']*1e3:.1f} | {p / n:.2f}x |")
PY
done
