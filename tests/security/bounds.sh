#!/bin/bash
# SPDX-License-Identifier: MIT
# pith's own bounds through `pith check` and `pith run`, attacked with job
# files: instances per stage are counted before any is made (a cross
# product of millions builds no state up front; past --max-instances the
# job fails naming the limit; `pith check` refuses counts the file shows);
# a chain of 10,000 stages is checked and run under the default stack (no
# recursion along the graph); bytes written per job are bounded
# (--max-disk) before any is written.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
fns=$B/tests/functions
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-bounds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 10

# measure OUT ERR CMD...: run CMD with stdout in OUT, stderr in ERR; print
# its exit status and its peak RSS in KiB.
measure() {
	python3 - "$@" <<'PY'
import resource, subprocess, sys
out, err = open(sys.argv[1], "w"), open(sys.argv[2], "w")
rc = subprocess.run(sys.argv[3:], stdout=out, stderr=err).returncode
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}

# items N PREFIX: N inline items, the body of a JSON array.
items() {
	python3 -c '
import sys
n, p = int(sys.argv[1]), sys.argv[2]
print(",".join("{\"name\": \"%s%d\", \"data\": \"%d\"}" % (p, i, i) for i in range(n)))' "$1" "$2"
}

# jq-free look into --json: python3 EXPR over the document as d.
json_true() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}

# 1: a cross product of two 2,000-item job input sets (4 * 10^6
# instances) whose instance 1 fails: pith starts a few, stops, and holds no
# state for the millions it never started (the old engine reserved a
# report entry of some 600 bytes per instance when the stage closed: 2 GiB).
cat >"$tmp/cross.json" <<JSON
{ "version": 1, "name": "cross",
  "functions": { "fail": { "binary": "$fns/fail", "memory": "1MiB" } },
  "inputs": { "a": [ $(items 2000 a) ], "b": [ $(items 2000 b) ] },
  "stages": [ { "name": "x", "function": "fail",
                "inputs": { "a": { "from": "a", "mode": "each" },
                            "b": { "from": "b", "mode": "each" } },
                "outputs": [] } ] }
JSON
read -r rc rss < <(measure "$tmp/cross.stdout" "$tmp/cross.log" "$pith" run \
	"$tmp/cross.json" -o "$tmp/cross.out" --max-instances 10000000 --json)
if [ "$rc" = 1 ] && [ "$rss" -lt $((256 * 1024)) ] &&
	json_true "$tmp/cross.stdout" 'd["stages"][0]["instances"] == 4000000 and len(d["stages"][0]["instance_results"]) < 1000'; then
	t_ok cross_product_of_4_million_builds_no_state_before_running
else
	t_fail cross_product_of_4_million_builds_no_state_before_running \
		"exit $rc, peak RSS $rss KiB; $(tail -c 600 "$tmp/cross.log")"
fi

# 2: the same count against a limit: `pith check` sees it in the file
# (exit 2, the stage's position, the limit named), and so does `pith run`.
"$pith" check "$tmp/cross.json" --max-instances 1000000 >"$tmp/check.log" 2>&1
rc=$?
if [ $rc = 2 ] &&
	grep -q 'stages\[0\]: 4000000 instances exceed the limit of 1000000 per stage (--max-instances' "$tmp/check.log" &&
	"$pith" check "$tmp/cross.json" --max-instances 4000000 >/dev/null 2>&1; then
	t_ok check_refuses_a_cross_product_over_the_limit
else
	t_fail check_refuses_a_cross_product_over_the_limit "exit $rc: $(cat "$tmp/check.log")"
fi

# 3: a cross product of a stage's 1,000 outputs with themselves (10^6,
# unknown to `pith check`): the engine counts it when the stage starts and
# fails the job naming the limit, before any of its instances ran, writing
# nothing.
cat >"$tmp/selfcross.json" <<JSON
{ "version": 1, "name": "selfcross",
  "functions": { "fwd": { "binary": "$fns/forward", "memory": "1MiB" } },
  "inputs": { "a": [ $(items 1000 a) ] },
  "stages": [ { "name": "make", "function": "fwd",
                "inputs": { "in": { "from": "a", "mode": "all" } },
                "outputs": ["out"] },
              { "name": "x", "function": "fwd",
                "inputs": { "in": { "from": "make.out", "mode": "each" },
                            "b": { "from": "make.out", "mode": "each" } },
                "outputs": ["out"] } ],
  "outputs": { "x": "x.out" } }
JSON
"$pith" check "$tmp/selfcross.json" --max-instances 100000 >"$tmp/sc.check" 2>&1
crc=$?
read -r rc rss < <(measure "$tmp/sc.stdout" "$tmp/sc.log" "$pith" run \
	"$tmp/selfcross.json" -o "$tmp/sc.out" --max-instances 100000 --json)
if [ $crc = 0 ] && [ "$rc" = 1 ] && [ ! -e "$tmp/sc.out" ] &&
	grep -q 'stage x: 1000000 instances exceed the limit of 100000 per stage (--max-instances' "$tmp/sc.log" &&
	json_true "$tmp/sc.stdout" 'd["stages"][1]["instance_results"] == []'; then
	t_ok run_fails_a_stage_over_the_limit_before_it_runs_and_names_it
else
	t_fail run_fails_a_stage_over_the_limit_before_it_runs_and_names_it \
		"check exit $crc, run exit $rc: $(cat "$tmp/sc.check" "$tmp/sc.log")"
fi

# 4: an `each` stage growing past the limit as its input streams in:
# 150 items crossed with 2, counted as the items come.
cat >"$tmp/grow.json" <<JSON
{ "version": 1, "name": "grow",
  "functions": { "fwd": { "binary": "$fns/forward", "memory": "1MiB" } },
  "inputs": { "a": [ $(items 150 a) ], "two": [ $(items 2 t) ] },
  "stages": [ { "name": "make", "function": "fwd",
                "inputs": { "in": { "from": "a", "mode": "each" } },
                "outputs": ["out"] },
              { "name": "x", "function": "fwd",
                "inputs": { "in": { "from": "make.out", "mode": "each" },
                            "b": { "from": "two", "mode": "each" } },
                "outputs": ["out"] } ] }
JSON
"$pith" run "$tmp/grow.json" -o "$tmp/grow.out" --max-instances 200 >"$tmp/grow.log" 2>&1
rc=$?
if [ $rc = 1 ] && [ ! -e "$tmp/grow.out" ] &&
	grep -q 'stage x: [0-9]* instances exceed the limit of 200 per stage (--max-instances' "$tmp/grow.log" &&
	"$pith" run "$tmp/grow.json" -o "$tmp/grow.out" --max-instances 300 --json \
		>"$tmp/grow.json.out" 2>"$tmp/grow.log" &&
	json_true "$tmp/grow.json.out" 'd["stages"][1]["instances"] == 300'; then
	t_ok streaming_stage_past_the_limit_fails_and_the_flag_raises_it
else
	t_fail streaming_stage_past_the_limit_fails_and_the_flag_raises_it \
		"exit $rc: $(cat "$tmp/grow.log")"
fi

# 5-7: a chain of 10,000 stages, each forwarding its input to the next,
# under the default 8 MiB stack: validated, checked and run.
python3 - "$tmp/chain.json" "$fns/forward" 10000 <<'PY'
import json, sys
path, fn, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
stages = [{"name": "s0", "function": "fwd",
           "inputs": {"in": {"from": "seed", "mode": "all"}}, "outputs": ["out"]}]
for i in range(1, n):
    stages.append({"name": "s%d" % i, "function": "fwd",
                   "inputs": {"in": {"from": "s%d.out" % (i - 1), "mode": "all"}},
                   "outputs": ["out"]})
# Written in reverse: the topological order is the engine's to find.
stages.reverse()
json.dump({"version": 1, "name": "chain",
           "functions": {"fwd": {"binary": fn, "memory": "1MiB"}},
           "inputs": {"seed": [{"name": "x", "data": "end of the chain"}]},
           "stages": stages, "outputs": {"last": "s%d.out" % (n - 1)}},
          open(path, "w"))
PY
ulimit -s 8192
if "$pith" check "$tmp/chain.json" >"$tmp/chain.check" 2>&1; then
	t_ok chain_of_10000_stages_is_checked_under_the_default_stack
else
	t_fail chain_of_10000_stages_is_checked_under_the_default_stack "$(tail -c 600 "$tmp/chain.check")"
fi
# A cycle through all of them is found and named, without recursion.
sed 's/"from": "seed"/"from": "s9999.out"/' "$tmp/chain.json" >"$tmp/cycle.json"
"$pith" check "$tmp/cycle.json" >"$tmp/cycle.check" 2>&1
rc=$?
if [ $rc = 2 ] && grep -q 'cycle: ' "$tmp/cycle.check"; then
	t_ok cycle_through_10000_stages_is_found_under_the_default_stack
else
	t_fail cycle_through_10000_stages_is_found_under_the_default_stack "exit $rc: $(tail -c 600 "$tmp/cycle.check")"
fi
if "$pith" run "$tmp/chain.json" -o "$tmp/chain.out" -q >"$tmp/chain.log" 2>&1 &&
	[ "$(cat "$tmp/chain.out/last/x")" = "end of the chain" ]; then
	t_ok chain_of_10000_stages_runs_under_the_default_stack
else
	t_fail chain_of_10000_stages_runs_under_the_default_stack "$(tail -c 600 "$tmp/chain.log")"
fi

# 8-10: bytes written to disk per job. Three 1 MiB files, forwarded to a
# job output (aliased to a second output: 6 MiB written) and written by
# file.write (3 MiB more).
mkdir -p "$tmp/disk/data"
for i in 1 2 3; do
	head -c $((1 << 20)) /dev/zero | tr '\0' "$i" >"$tmp/disk/data/f$i"
done
cat >"$tmp/disk/job.json" <<JSON
{ "version": 1, "name": "disk",
  "functions": { "fwd": { "binary": "$fns/forward", "memory": "1MiB" } },
  "inputs": { "files": [ { "name": "f1", "file": "data/f1" },
                         { "name": "f2", "file": "data/f2" },
                         { "name": "f3", "file": "data/f3" } ] },
  "stages": [ { "name": "fwd", "function": "fwd",
                "inputs": { "in": { "from": "files", "mode": "all" } },
                "outputs": ["out"] } ],
  "outputs": { "a": "fwd.out", "b": "fwd.out" } }
JSON
"$pith" run "$tmp/disk/job.json" -o "$tmp/disk/out" --max-disk 5MiB >"$tmp/disk.log" 2>&1
rc=$?
if [ $rc = 1 ] && [ ! -e "$tmp/disk/out" ] &&
	grep -q -- 'output [ab]: the job would write [0-9]*+ bytes, more than its limit of 5242880 (--max-disk' "$tmp/disk.log" &&
	"$pith" run "$tmp/disk/job.json" -o "$tmp/disk/out" --max-disk 6MiB >"$tmp/disk.log" 2>&1 &&
	cmp -s "$tmp/disk/out/b/f3" "$tmp/disk/data/f3"; then
	t_ok job_outputs_over_max_disk_fail_the_job_and_write_nothing
else
	t_fail job_outputs_over_max_disk_fail_the_job_and_write_nothing "exit $rc: $(cat "$tmp/disk.log")"
fi

# file.write: charged whole before its first item is written.
cat >"$tmp/disk/write.json" <<JSON
{ "version": 1, "name": "write",
  "inputs": { "files": [ { "name": "f1", "file": "data/f1" },
                         { "name": "f2", "file": "data/f2" },
                         { "name": "f3", "file": "data/f3" } ] },
  "stages": [ { "name": "put", "io": "file.write",
                "inputs": { "o": { "from": "files", "mode": "each" } } } ] }
JSON
"$pith" run "$tmp/disk/write.json" -o "$tmp/disk/wout" --max-disk 3000000 >"$tmp/write.log" 2>&1
rc=$?
if [ $rc = 1 ] && [ -z "$(ls -A "$tmp/disk/wout" 2>/dev/null)" ] &&
	grep -q -- 'stage put: the job would write 3145728+ bytes, more than its limit of 3000000 (--max-disk' "$tmp/write.log"; then
	t_ok file_write_over_max_disk_writes_no_item
else
	t_fail file_write_over_max_disk_writes_no_item "exit $rc: $(cat "$tmp/write.log"; ls -A "$tmp/disk/wout")"
fi
if "$pith" run "$tmp/disk/write.json" -o "$tmp/disk/wout" --max-disk 3MiB >"$tmp/write.log" 2>&1 &&
	cmp -s "$tmp/disk/wout/f2" "$tmp/disk/data/f2"; then
	t_ok max_disk_flag_lets_the_job_write
else
	t_fail max_disk_flag_lets_the_job_write "$(cat "$tmp/write.log")"
fi

t_done
