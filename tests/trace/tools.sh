#!/bin/bash
# SPDX-License-Identifier: MIT
# The tracing tools against jobs of known shape: pith-top's counts, bytes
# and guard counters, pith-snoop's lines, pith-lat's histograms and the
# pith-perf table must match the job's --json summary; -p attaches to a
# running pith. Skips where uprobes, root, bpftrace or perf are missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
fn=$B/tests/functions
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-tools.XXXXXX")
bg=
. "$root/tests/servers/hostile.sh"
cleanup() {
	for p in $bg; do kill -KILL "$p" 2>/dev/null; done
	hostile_stop
	rm -rf "$tmp"
}
trap cleanup EXIT

t_plan 10
[ "$(id -u)" -eq 0 ] || t_skip_all "needs root (CAP_BPF, CAP_PERFMON)"
[ -e /sys/bus/event_source/devices/uprobe/type ] ||
	t_skip_all "the kernel has no uprobes (CONFIG_UPROBE_EVENTS)"

# A copy of pith: uprobes are per file, so only the runs of this test
# fire the tools, not other pith processes on the host.
pith=$tmp/pith
cp "$B/pith" "$pith"
export PITH_WORKER=$B/pith-worker

. "$here/shape_job.sh"
shape_job "$tmp" "$fn"
sed -e 's|/upper"|/fail"|' "$tmp/job.json" >"$tmp/fail.json"
sed -e 's|/upper"|/opener"|' "$tmp/job.json" >"$tmp/opener.json"
sed -e 's|/upper", "timeout": "5s"|/spin", "timeout": "6s"|' "$tmp/job.json" \
	>"$tmp/spin.json"

# start NAME CMD...: runs CMD in the background (stdout NAME.out, stderr
# NAME.err) and waits until it says it is tracing; sets $pid.
start() {
	local name=$1 i
	shift
	"$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid=$!
	bg="$bg $pid"
	for i in $(seq 300); do
		grep -qs "tracing" "$tmp/$name.out" "$tmp/$name.err" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	why="$name did not start: $(cat "$tmp/$name.err")"
	return 1
}

# finish PID: SIGINT, and wait for it to print its totals. bpftrace once
# ignored a SIGINT that came while it was still attaching (the test hung):
# the signal is repeated every 2 s, and after 30 s the tracer is killed, so
# its check fails on what it printed instead of the test never ending.
finish() {
	local i
	for i in $(seq 300); do
		kill -0 "$1" 2>/dev/null || break
		[ $((i % 20)) = 1 ] && kill -INT "$1" 2>/dev/null
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1"
}

# run NAME JOB [ARGS]: the job, its summary in NAME.sum.
run() {
	"$pith" run "$2" -j 2 -o "$tmp/out" --json >"$tmp/$1.sum" 2>/dev/null
}

# check SCRIPT FILES...: a python check; prints why it failed.
check() {
	local py=$1
	shift
	python3 -c "$py" "$@"
}

COMMON='
import json, sys
def summary(path):
    return json.load(open(path))
def stage(s, name):
    return next(x for x in s["stages"] if x["name"] == name)
def n_status(st, status):
    return sum(1 for r in st.get("instance_results", []) if r["status"] == status)
bad = []
def expect(what, got, want):
    if got != want:
        bad.append(f"{what}: {got}, wanted {want}")
def done():
    print("\n".join(bad))
    sys.exit(1 if bad else 0)
'

# --- pith-top: the counts of a good and a failing job
if start top "$B/pith-top" -b "$pith" --json -i 0.2; then
	run ok "$tmp/job.json"
	run fail "$tmp/fail.json"
	finish "$pid"
	if why=$(check "$COMMON"'
top = {(f["function"], f["kind"]): f for f in json.load(open(sys.argv[1]))["functions"]}
ok, fail = summary(sys.argv[2]), summary(sys.argv[3])
s, m, rd = stage(ok, "s"), stage(ok, "m"), stage(ok, "rd")
fs = stage(fail, "s")
up, fwd = top.get(("up", "compute"), {}), top.get(("fwd", "compute"), {})
ran = lambda st: sum(1 for r in st["instance_results"] if r["status"] != "not-run")
expect("up instances", up.get("instances"), ran(s) + ran(fs))
expect("up failures", up.get("failures"), n_status(fs, "failed"))
expect("up cancelled", up.get("cancelled"), n_status(fs, "cancelled"))
# inputs: abc d ef g hij + "hello\n" + "world!\n" (ok job only: the failing
# one collects its successful instances too)
expect("up bytes_out >= ok job", up.get("bytes_out", 0) >= s["bytes_out"], True)
expect("fwd instances", fwd.get("instances"), ran(m))
expect("fwd bytes_in", fwd.get("bytes_in"), s["bytes_out"])
expect("fwd bytes_out", fwd.get("bytes_out"), m["bytes_out"])
io = top.get(("file.read", "io"), {})
frd = stage(fail, "rd")
expect("file.read stage items", io.get("instances"), ran(rd) + ran(frd))
# the summary of the failing job counts no bytes of the stage it cut short
expect("file.read stage bytes >= ok job", io.get("bytes_out", 0) >= rd["bytes_out"], True)
inp = top.get(("file.read", "pith:inputs"), {})
expect("pith input files read", inp.get("instances"), 4)
expect("pith input bytes", inp.get("bytes_out"), 26)
binr = top.get(("file.read", "pith:binaries"), {})
expect("binaries read", binr.get("instances"), 4)
done()
' "$tmp/top.out" "$tmp/ok.sum" "$tmp/fail.sum"); then
		t_ok pith_top_counts_match_the_job_summaries
	else
		t_fail pith_top_counts_match_the_job_summaries "$why"
	fi
else
	t_fail pith_top_counts_match_the_job_summaries "$why"
fi

# --- pith-top: exact bytes of one job
if start top2 "$B/pith-top" -b "$pith" --json -i 0.2; then
	run ok2 "$tmp/job.json"
	finish "$pid"
	if why=$(check "$COMMON"'
top = {(f["function"], f["kind"]): f for f in json.load(open(sys.argv[1]))["functions"]}
ok = summary(sys.argv[2])
up = top.get(("up", "compute"), {})
expect("up instances", up.get("instances"), stage(ok, "s")["instances"])
expect("up bytes_in", up.get("bytes_in"), 3 + 1 + 2 + 1 + 3 + 6 + 7)
expect("up bytes_out", up.get("bytes_out"), stage(ok, "s")["bytes_out"])
expect("up p50 <= p99", 0 < up.get("p50_ns", 0) <= up.get("p99_ns", 0), True)
io = top.get(("file.read", "io"), {})
expect("file.read items", io.get("instances"), stage(ok, "rd")["instances"])
expect("file.read bytes", io.get("bytes_out"), stage(ok, "rd")["bytes_out"])
fwd = top.get(("fwd", "compute"), {})
expect("fwd bytes_in", fwd.get("bytes_in"), stage(ok, "s")["bytes_out"])
outs = [i for o in ok["outputs"].values() for i in o["items"]]
wr = top.get(("file.write", "pith:outputs"), {})
expect("output files written", wr.get("instances"), len(outs))
expect("output bytes written", wr.get("bytes_out"), sum(i["bytes"] for i in outs))
done()
' "$tmp/top2.out" "$tmp/ok2.sum"); then
		t_ok pith_top_bytes_in_and_out_are_the_items_bytes
	else
		t_fail pith_top_bytes_in_and_out_are_the_items_bytes "$why"
	fi
else
	t_fail pith_top_bytes_in_and_out_are_the_items_bytes "$why"
fi

# --- pith-top reads the guard's counters (a map like the guard's, found
# by name as pith-top finds the guard's own; pinned in a private bpffs).
# pith-top sums the pith_fn_cnt maps of every pith on the host: the
# function's name is this run's own ("evil-PID"), so another run of this
# test at the same time (its own map, its own "evil-PID") is not counted.
evil=evil-$$
guard_top() {
	local key
	mount -t bpf bpf /sys/fs/bpf || exit 3
	bpftool map create /sys/fs/bpf/g type hash key 40 value 8 entries 8 \
		name pith_fn_cnt || exit 3
	# fn "$evil" (32 bytes, NUL-padded), nr 257 (openat), hook 0: 5
	# violations
	key=$(printf '%s' "$evil" | od -An -tx1 -v)
	key="$key$(printf ' 00%.0s' $(seq $((32 - ${#evil}))))"
	bpftool map update pinned /sys/fs/bpf/g key hex $key \
		01 01 00 00 00 00 00 00 value 5 0 0 0 0 0 0 0 || exit 3
	"$B/pith-top" -b "$pith" --json -n 1 -i 0.1
}
export -f guard_top
export B pith evil
out=$(unshare -m bash -c guard_top 2>"$tmp/guard.err")
rc=$?
if [ $rc -eq 3 ]; then
	t_skip pith_top_shows_the_guard_counters_per_function \
		"cannot mount bpffs or create a map: $(tail -1 "$tmp/guard.err")"
elif why=$(printf '%s' "$out" | check "$COMMON"'
import os
top = json.load(sys.stdin)
evil = os.environ["evil"]
g = [x for x in top["guard"] if x["function"] == evil]
expect("guard rows", [(x["nr"], x["hook"], x["count"]) for x in g], [(257, 0, 5)])
row = [f for f in top["functions"] if f["function"] == evil]
expect("evil row guard", [f["guard"] for f in row], [5])
done()
'); then
	t_ok pith_top_shows_the_guard_counters_per_function
else
	t_fail pith_top_shows_the_guard_counters_per_function "$why $(cat "$tmp/guard.err")"
fi

# --- pith-snoop: one line per failed or cancelled instance
if start snoop "$B/pith-snoop" -b "$pith" --json; then
	run sfail "$tmp/fail.json"
	run sopen "$tmp/opener.json"
	sleep 0.3
	finish "$pid"
	if why=$(check "$COMMON"'
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
piths = list(dict.fromkeys(l["pith_pid"] for l in lines))
expect("pith processes", len(piths), 2)
for p, path in zip(piths, (sys.argv[2], sys.argv[3])):
    st = stage(summary(path), "s")
    job = path
    mine = [l for l in lines if l["pith_pid"] == p]
    failed = {l["instance"]: l for l in mine if l["status"] == "failed"}
    want = {r["index"]: r for r in st["instance_results"] if r["status"] == "failed"}
    expect(f"job {job} failed instances", sorted(failed), sorted(want))
    for i, r in want.items():
        if i in failed:
            expect(f"job {job} [{i}] reason", failed[i]["reason"], r["reason"])
            expect(f"job {job} [{i}] pid", failed[i]["pid"] > 0, True)
    expect(f"job {job} cancelled", sum(l["status"] == "cancelled" for l in mine),
           n_status(st, "cancelled"))
op = [l for l in lines if piths[1:] and l["pith_pid"] == piths[1] and l["status"] == "failed"]
expect("opener syscall", {l["syscall"] for l in op}, {257})
done()
' "$tmp/snoop.out" "$tmp/sfail.sum" "$tmp/sopen.sum"); then
		t_ok pith_snoop_lines_match_the_failed_instances
	else
		t_fail pith_snoop_lines_match_the_failed_instances "$why"
	fi
else
	t_fail pith_snoop_lines_match_the_failed_instances "$why"
fi

# --- -p: attached to a pith that already runs (as to pithd)
"$pith" run "$tmp/spin.json" -j 1 -o "$tmp/out" --json >"$tmp/spin.sum" 2>/dev/null &
spin=$!
bg="$bg $spin"
sleep 0.2
if start ptop "$B/pith-top" -p "$spin" --json -i 0.2 &&
	topp=$pid && start psnoop "$B/pith-snoop" -p "$spin" --json; then
	wait "$spin"
	finish "$pid"
	finish "$topp"
	if why=$(check "$COMMON"'
top = {(f["function"], f["kind"]): f for f in json.load(open(sys.argv[1]))["functions"]}
lines = [json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")]
st = stage(summary(sys.argv[3]), "s")
expect("spin failures (pith-top -p)", top.get(("up", "compute"), {}).get("failures"),
       n_status(st, "failed"))
expect("snoop -p reasons", [l["reason"] for l in lines if l["status"] == "failed"],
       [r["reason"] for r in st["instance_results"] if r["status"] == "failed"])
expect("one failure", len([l for l in lines if l["status"] == "failed"]), 1)
done()
' "$tmp/ptop.out" "$tmp/psnoop.out" "$tmp/spin.sum"); then
		t_ok tools_attach_by_pid_to_a_running_pith
	else
		t_fail tools_attach_by_pid_to_a_running_pith "$why"
	fi
else
	t_fail tools_attach_by_pid_to_a_running_pith "$why"
fi

# --- against pithd: pith-top -p the daemon, a job submitted to it
if [ ! -x "$B/pithd" ]; then
	t_skip tools_trace_jobs_run_by_pithd "no $B/pithd"
else
	cp "$B/pithd" "$tmp/pithd"
	chmod 755 "$tmp"
	"$tmp/pithd" --socket "$tmp/d.sock" --state-dir "$tmp/state" \
		>"$tmp/pithd.log" 2>&1 &
	dpid=$!
	bg="$bg $dpid"
	for _ in $(seq 200); do
		curl -sf --unix-socket "$tmp/d.sock" http://pith/v1/health \
			>/dev/null 2>&1 && break
		sleep 0.05
	done
	# pithd takes no file.read: inline items only
	cat >"$tmp/djob.json" <<JSON
{ "version": 1, "name": "daemon",
  "functions": { "up": { "binary": "$fn/upper", "timeout": "5s" },
                 "fwd": { "binary": "$fn/forward", "timeout": "5s" } },
  "inputs": { "x": [ { "name": "a", "data": "abc" }, { "name": "b", "data": "d" },
                     { "name": "c", "data": "ef" } ] },
  "stages": [ { "name": "s", "function": "up",
                "inputs": { "in": { "from": "x", "mode": "each" } },
                "outputs": ["out"] },
              { "name": "m", "function": "fwd",
                "inputs": { "in": { "from": "s.out", "mode": "all" } },
                "outputs": ["out"] } ],
  "outputs": { "r": "m.out" } }
JSON
	if start dtop "$B/pith-top" -p "$dpid" --json -i 0.2; then
		PITH_SOCKET=$tmp/d.sock "$pith" submit --wait "$tmp/djob.json" \
			-o "$tmp/dout" >/dev/null 2>"$tmp/submit.err"
		src=$?
		finish "$pid"
		run dref "$tmp/djob.json"
		if [ $src -ne 0 ]; then
			t_fail tools_trace_jobs_run_by_pithd "submit: $(cat "$tmp/submit.err" "$tmp/pithd.log")"
		elif why=$(check "$COMMON"'
top = {(f["function"], f["kind"]): f for f in json.load(open(sys.argv[1]))["functions"]}
ok = summary(sys.argv[2])
expect("up instances", top.get(("up", "compute"), {}).get("instances"), stage(ok, "s")["instances"])
expect("up bytes_out", top.get(("up", "compute"), {}).get("bytes_out"), stage(ok, "s")["bytes_out"])
expect("fwd instances", top.get(("fwd", "compute"), {}).get("instances"), stage(ok, "m")["instances"])
expect("fwd bytes_in", top.get(("fwd", "compute"), {}).get("bytes_in"), stage(ok, "s")["bytes_out"])
done()
' "$tmp/dtop.out" "$tmp/dref.sum"); then
			t_ok tools_trace_jobs_run_by_pithd
		else
			t_fail tools_trace_jobs_run_by_pithd "$why"
		fi
	else
		t_fail tools_trace_jobs_run_by_pithd "$why"
	fi
	kill -TERM "$dpid" 2>/dev/null
	wait "$dpid" 2>/dev/null
fi

# --- pith-lat (bpftrace)
if ! command -v bpftrace >/dev/null; then
	t_skip pith_lat_histograms_count_every_instance_and_item "no bpftrace"
elif start lat "$root/tools/trace/pith-lat" -b "$pith" --json; then
	run lat "$tmp/job.json"
	finish "$pid"
	if why=$(check "$COMMON"'
maps = {}
for l in open(sys.argv[1]):
    try:
        o = json.loads(l)
    except ValueError:
        continue
    if o.get("type") in ("map", "hist"):
        maps.update(o["data"])
ok = summary(sys.argv[2])
n = {"up": stage(ok, "s")["instances"], "fwd": stage(ok, "m")["instances"]}
expect("@instances", maps.get("@instances"), n)
for h in ("@spawn_us", "@run_us", "@queue_us", "@collect_us"):
    got = {k: sum(b["count"] for b in v) for k, v in maps.get(h, {}).items()}
    expect(h, got, n)
items = maps.get("@io_items", {})
expect("file.read items of stage 1", items.get("file.read,1"), stage(ok, "rd")["instances"])
expect("input files (stage -2)", items.get("file.read,-2"), 2)
done()
' "$tmp/lat.out" "$tmp/lat.sum"); then
		t_ok pith_lat_histograms_count_every_instance_and_item
	else
		t_fail pith_lat_histograms_count_every_instance_and_item "$why"
	fi
else
	t_fail pith_lat_histograms_count_every_instance_and_item "$why"
fi

# --- every probe site still fires: a job that reuses a warm worker, maps
# a large item and copies small ones, has an I/O stage; one killed for a
# syscall; an http stage that retries a 503 (tests/servers/hostile.py).
if ! command -v bpftrace >/dev/null; then
	t_skip every_probe_fires "no bpftrace"
else
	head -c 150000 /dev/zero | tr '\0' x >"$tmp/big"
	cat >"$tmp/cov.json" <<JSON
{ "version": 1, "name": "coverage",
  "functions": { "up": { "binary": "$fn/upper", "timeout": "5s" } },
  "inputs": { "x": [ { "name": "a", "data": "abc" }, { "name": "b", "data": "d" },
                     { "name": "c", "data": "e" }, { "name": "big", "file": "big" } ],
              "paths": [ { "name": "p", "data": "big" } ] },
  "stages": [ { "name": "s", "function": "up",
                "inputs": { "in": { "from": "x", "mode": "each" } },
                "outputs": ["out"] },
              { "name": "rd", "io": "file.read",
                "inputs": { "paths": { "from": "paths", "mode": "each" } },
                "outputs": ["data"] } ],
  "outputs": { "r": "s.out", "d": "rd.data" } }
JSON
	if start cov bpftrace -e "BEGIN { printf(\"tracing\\n\"); }
		usdt:$pith:pith:* { @[probe] = count(); }"; then
		"$pith" run "$tmp/cov.json" -j 1 -o "$tmp/out" -q >/dev/null 2>&1
		"$pith" run "$tmp/opener.json" -j 1 -o "$tmp/out" -q >/dev/null 2>&1
		hostile_start "$tmp"
		port=$hostile_port
		cat >"$tmp/http.json" <<JSON
{ "version": 1, "name": "http", "allow_hosts": [ "127.0.0.1:$port" ],
  "inputs": { "req": [ { "name": "0",
      "data": "GET http://127.0.0.1:$port/flaky/503/c/1/4000 HTTP/1.1\\r\\n\\r\\n" } ] },
  "stages": [ { "name": "fetch", "io": "http", "retries": 2, "backoff": "1ms",
                "inputs": { "r": { "from": "req", "mode": "each" } },
                "outputs": ["status", "body"] } ],
  "outputs": { "status": "fetch.status", "body": "fetch.body" } }
JSON
		"$pith" run "$tmp/http.json" -o "$tmp/out" -q >/dev/null 2>&1
		hostile_stop
		finish "$pid"
		missing=
		for p in $(readelf -n "$pith" | sed -n 's/^ *Name: //p' | sort -u); do
			grep -q "pith:$p\]: [1-9]" "$tmp/cov.out" || missing="$missing $p"
		done
		if [ -z "$missing" ]; then
			t_ok every_probe_fires
		else
			t_fail every_probe_fires "never fired:$missing"
		fi
	else
		t_fail every_probe_fires "$why"
	fi
fi

# --- perf: perf list shows the probes, perf record + the table
# The sdt_pith:* uprobe events are global kernel state (tracefs): this
# replaces any the host had and removes them at the end, even on failure;
# a lock keeps two runs of this test (other checkouts) apart.
perf_steps() {
	export HOME=$tmp/home # perf's build-id cache: $HOME/.debug
	mkdir -p "$HOME"
	trap '"$root/tools/trace/pith-perf" clean >/dev/null 2>&1' EXIT
	[ -e /sys/kernel/tracing/uprobe_events ] ||
		mount -t tracefs nodev /sys/kernel/tracing 2>"$tmp/perf.setup" ||
		exit 3
	"$root/tools/trace/pith-perf" setup "$pith" >"$tmp/perf.setup" 2>&1 || exit 4
	perf list sdt 2>/dev/null >"$tmp/perf.list"
	"$root/tools/trace/pith-perf" record -o "$tmp/perf.data" -- \
		"$pith" run "$tmp/job.json" -j 2 -o "$tmp/out" --json \
		>"$tmp/perf.sum" 2>/dev/null
	"$root/tools/trace/pith-perf" table -i "$tmp/perf.data"
}
export -f perf_steps
export tmp root
if ! command -v perf >/dev/null; then
	t_skip perf_lists_the_probes_after_setup "no perf"
	t_skip perf_record_table_has_one_line_per_instance "no perf"
else
	# One at a time on the host: the sdt_pith:* events are global, and
	# every worktree's make check runs this test.
	out=$(flock -w 600 /tmp/pith-perf-test.lock unshare -m bash -c perf_steps)
	rc=$?
	if [ $rc -eq 3 ]; then
		t_skip perf_lists_the_probes_after_setup "cannot mount tracefs: $(tail -1 "$tmp/perf.setup")"
		t_skip perf_record_table_has_one_line_per_instance "cannot mount tracefs"
	elif [ $rc -eq 4 ]; then
		t_fail perf_lists_the_probes_after_setup "pith-perf setup: $(cat "$tmp/perf.setup")"
		t_fail perf_record_table_has_one_line_per_instance "pith-perf setup failed"
	else
		missing=
		for p in job_start job_end stage_start stage_end inst_queued \
			inst_spawned inst_started inst_exited inst_failed inst_bytes \
			buffer_alloc buffer_release io_item_start io_item_end; do
			grep -q "sdt_pith:$p " "$tmp/perf.list" || missing="$missing $p"
		done
		if [ -z "$missing" ]; then
			t_ok perf_lists_the_probes_after_setup
		else
			t_fail perf_lists_the_probes_after_setup "missing:$missing"
		fi
		if why=$(printf '%s\n' "$out" | check "$COMMON"'
rows = [l.split() for l in sys.stdin if l[:1].isdigit()]
ok = summary(sys.argv[1])
want = [(str(i), str(r["index"])) for i, st in enumerate(ok["stages"])
        if st["kind"] == "compute" for r in st["instance_results"]]
expect("instances", sorted((r[1], r[2]) for r in rows), sorted(want))
expect("statuses", {r[-1] for r in rows}, {"ok"})
ins = {(r[1], r[2]): r[8] for r in rows}
expect("bytes in of stage 0", sum(int(v) for (s, i), v in ins.items() if s == "0"), 23)
done()
' "$tmp/perf.sum"); then
			t_ok perf_record_table_has_one_line_per_instance
		else
			t_fail perf_record_table_has_one_line_per_instance "$why"
		fi
	fi
fi
t_done
