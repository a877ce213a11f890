#!/bin/bash
# SPDX-License-Identifier: MIT
# `pith run --trace FILE`: the file is Chrome trace-event JSON whose slices
# match the job's --json summary (one instance slice per instance, one I/O
# slice per item, stage spans, counters), for a job that succeeds and for
# one that fails.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
fn=$B/tests/functions
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-trace.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 4

. "$here/shape_job.sh"
shape_job "$tmp" "$fn"
sed -e 's|/upper"|/fail"|' "$tmp/job.json" >"$tmp/fail.json"

# check JOB TRACE SUMMARY: compares the trace with the summary; prints why not.
check() {
	python3 - "$@" <<'PY'
import json, sys
from collections import Counter
trace = json.load(open(sys.argv[1]))
summ = json.load(open(sys.argv[2]))
ev = trace["traceEvents"]
bad = []
inst = [e for e in ev if e["ph"] == "X" and e.get("cat") == "instance"]
ran = sum(1 for s in summ["stages"] if s["kind"] == "compute"
          for r in s.get("instance_results", []) if r["status"] != "not-run")
if len(inst) != ran:
    bad.append(f"{len(inst)} instance slices, the summary ran {ran}")
keys = Counter((e["args"]["stage"], e["args"]["instance"]) for e in inst)
if any(n != 1 for n in keys.values()):
    bad.append(f"an instance has several slices: {keys}")
for e in inst:
    if e["dur"] < 0 or e["ts"] < 0:
        bad.append(f"negative time in {e}")
failed = [e for e in inst if e["args"]["status"] == "failed"]
want_failed = sum(1 for s in summ["stages"] if s["kind"] == "compute"
                  for r in s.get("instance_results", []) if r["status"] == "failed")
if len(failed) != want_failed:
    bad.append(f"{len(failed)} failed slices, summary has {want_failed}")
for e in failed:
    if not e["args"]["error"]:
        bad.append(f"failed slice without its error: {e}")
# One async slice per I/O item of a job's I/O stage, begin and end.
io = [s for s in summ["stages"] if s["kind"] == "io" and s["status"] != "not-run"]
b = Counter(e["id"] for e in ev if e.get("cat") == "io" and e["ph"] == "b" and e["pid"] != 0)
en = Counter(e["id"] for e in ev if e.get("cat") == "io" and e["ph"] == "e" and e["pid"] != 0)
if sum(b.values()) != sum(s["instances"] for s in io) or b != en:
    bad.append(f"I/O slices {dict(b)} / {dict(en)} vs {[s['instances'] for s in io]}")
own = [e for e in ev if e.get("cat") == "io" and e["pid"] == 0 and e["ph"] == "b"]
if not own:
    bad.append("no slice for pith's own reads (inputs, binaries)")
ran_stages = [s for s in summ["stages"] if s["status"] != "not-run"]
sb = [e for e in ev if e.get("cat") == "stage" and e["ph"] == "b"]
se = [e for e in ev if e.get("cat") == "stage" and e["ph"] == "e"]
if len(sb) != len(ran_stages) or len(se) != len(ran_stages):
    bad.append(f"{len(sb)}/{len(se)} stage spans, {len(ran_stages)} stages ran")
names = {e["name"] for e in ev if e["ph"] == "C"}
for n in ("memory held", "buffers in flight", "queued instances"):
    if n not in names:
        bad.append(f"no counter {n!r}")
slots = {e["tid"] for e in inst}
if len(slots) > int(sys.argv[3]):
    bad.append(f"{len(slots)} slot tracks for -j {sys.argv[3]}")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
}

# t_trace NAME JOB WANT_RC
t_trace() {
	local name=$1 job=$2 want=$3 rc
	"$pith" run "$job" -j 2 -o "$tmp/out" --json --trace "$tmp/$name.trace" \
		>"$tmp/$name.sum" 2>"$tmp/$name.err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		t_fail "$name" "exit $rc, wanted $want: $(cat "$tmp/$name.err")"
	elif why=$(check "$tmp/$name.trace" "$tmp/$name.sum" 2 2>&1); then
		t_ok "$name"
	else
		t_fail "$name" "$why"
	fi
}

t_trace trace_of_a_job_has_one_slice_per_instance_and_io_item "$tmp/job.json" 0
t_trace trace_of_a_failed_job_names_the_failure "$tmp/fail.json" 1

# The trace file cannot be written: the job is not run.
"$pith" run "$tmp/job.json" -o "$tmp/out" --trace "$tmp/no/such/dir/t.json" \
	>/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -ne 0 ] && grep -q "trace: $tmp/no/such/dir/t.json: No such file" "$tmp/err"; then
	t_ok unwritable_trace_file_fails_before_the_job_runs
else
	t_fail unwritable_trace_file_fails_before_the_job_runs "exit $rc: $(cat "$tmp/err")"
fi

# trace2html draws the file: one slice per instance, each with its name.
n=$(python3 -c 'import json,sys; print(sum(1 for e in json.load(open(sys.argv[1]))["traceEvents"] if e.get("cat") == "instance"))' \
	"$tmp/trace_of_a_job_has_one_slice_per_instance_and_io_item.trace")
"$root/tools/trace/trace2html" \
	"$tmp/trace_of_a_job_has_one_slice_per_instance_and_io_item.trace" \
	>"$tmp/t.html"
got=$(grep -o '<title>up\[[0-9]*\]</title>\|<title>fwd\[0\]</title>' "$tmp/t.html" | wc -l)
if [ "$n" -gt 0 ] && [ "$got" -eq "$n" ] && grep -q '</svg></body></html>' "$tmp/t.html"; then
	t_ok trace2html_draws_every_instance
else
	t_fail trace2html_draws_every_instance "$got instance slices drawn, $n in the trace"
fi
t_done
