#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Where a CPU idles during a fresh job in lanes (issue 10): one `pith run`
of fresh_ab.py's N-instance no-op job under `perf record -e
sched:sched_switch -a`, and per CPU what ran there from pith's first
switch to its last, in B equal slices of that span: idle (the swapper),
pith's threads (comm "pith": the engine's thread, drivers, spawners),
its zygotes and workers (comm "pith-worker"), and anything else; then the
CPU of each pith thread, and the driver's instances (PITH_WARM_STATS).
The switches are exact (ns), unlike /proc/stat's 10 ms ticks. Runs at
nice -20 when root; the machine's other load shows as "other".

With --gaps (round 14), the switches are recorded with their kernel
stacks, and each stretch in which a CPU ran nothing of pith's (idle or
others) is put down to the task of pith's that left that CPU before it
(its state and first kernel frames: which sleep emptied the CPU), by
part of the run (first slice, middle, last), with what the other CPU
ran during the middle's stretches (round 14: the driver's CPU idled
after its lane ran dry while the engine's CPU ran the engine's lane's
workers, the engine's thread waiting its turn to hand the driver more).

  tools/bench/lane_idle.py [-n N] [-B SLICES] [--runs R] [--gaps] [DIR[:VAR=VALUE ...][@ARGS]]
"""
import argparse
import collections
import os
import re
import subprocess
import tempfile

from fresh_ab import build_spec, job

SW = re.compile(r"\[(\d+)\]\s+([\d.]+):.*prev_comm=(.*?) prev_pid=(\d+) .*"
                r"==> next_comm=(.*?) next_pid=(\d+) ")


def kind(comm, pid):
    if pid == 0:
        return "idle"
    if comm == "pith":
        return "pith"
    if comm == "pith-worker":
        return "worker"
    if comm.startswith("iou-"):
        # io_uring's workers (iou-wrk-PID), pith's or, rarely, another's
        return "io"
    return "other"


def ours(comm):
    return comm in ("pith", "pith-worker") or comm.startswith("iou-wrk")


SKIP = ("__schedule", "schedule", "schedule_hrtimeout_range",
        "schedule_timeout", "do_nanosleep", "io_schedule", "futex_do_wait",
        "__futex_wait", "futex_wait", "do_futex", "__x64_sys",
        "do_syscall_64", "entry_SYSCALL", "x64_sys_call", "[unknown]",
        "syscall")
HDR = re.compile(r"^\s*\S.*?\s+-?\d+\s+\[(\d+)\]\s+([\d.]+):\s+(.*)$")
SWS = re.compile(r"prev_comm=(.*?) prev_pid=(\d+) .*prev_state=(\S+) "
                 r"==> next_comm=(.*?) next_pid=(\d+)")


def gaps(data, slices):
    """Each CPU's stretches without pith, put down to the task of pith's
    that left it before (state, first kernel frames), by part."""
    out = subprocess.run(["perf", "script", "-i", data, "-F",
                          "comm,tid,cpu,time,trace,ip,sym"],
                         capture_output=True, text=True).stdout
    ev, cur = [], None
    for line in out.splitlines():
        m = HDR.match(line)
        if m and "prev_comm=" in line:
            s = SWS.search(m.group(3))
            if s:
                cur = (float(m.group(2)), int(m.group(1)), s.group(1),
                       int(s.group(2)), s.group(3), s.group(4), [])
                ev.append(cur)
        elif cur is not None and line.strip():
            f = line.split()
            if len(f) >= 2:
                cur[6].append(f[1])
    ev.sort(key=lambda e: e[0])
    p = [e[0] for e in ev if e[2] == "pith" or e[5] == "pith"]
    t0, t1 = p[0], p[-1]
    span = t1 - t0
    gap, last, run = {}, {}, {}
    acc = collections.defaultdict(float)
    cnt = collections.Counter()
    tot = collections.defaultdict(float)
    segs = collections.defaultdict(list)
    mids = []
    for t, cpu, pc, pp, st, nc, stack in ev:
        if cpu in run:
            segs[cpu].append((run[cpu][0], t, run[cpu][1], run[cpu][2]))
        run[cpu] = (t, nc, pp)
        if ours(pc):
            fr = [f for f in stack if not f.startswith(SKIP)]
            last[cpu] = "%s %s: %s" % ("pith/%d" % pp if pc == "pith"
                                       else pc, st, " < ".join(fr[:4]))
        if ours(pc) and not ours(nc):
            gap[cpu] = t
        if ours(nc) and cpu in gap:
            a, b = max(gap.pop(cpu), t0), min(t, t1)
            if b > a:
                k = min(int((a - t0) / span * slices), slices - 1)
                part = ("first" if k == 0 else
                        "last" if k == slices - 1 else "middle")
                acc[part, last.get(cpu, "?")] += b - a
                cnt[part, last.get(cpu, "?")] += 1
                tot[part, cpu] += b - a
                if part == "middle":
                    mids.append((cpu, a, b))
    for part in ("first", "middle", "last"):
        print("  %s: %s" % (part, ", ".join(
            "CPU %d %.2f ms" % (c, tot[part, c] * 1e3)
            for c in sorted(segs))))
        for (q, k), v in sorted(acc.items(), key=lambda x: -x[1])[:8]:
            if q == part and v > 2e-4:
                print("    %6.2f ms %4d x  %s" % (v * 1e3, cnt[q, k], k))
    other = collections.defaultdict(float)
    for cpu, a, b in mids:
        for c in segs:
            if c == cpu:
                continue
            for x, y, comm, _ in segs[c]:
                lo, hi = max(x, a), min(y, b)
                if hi > lo:
                    other[comm] += hi - lo
    if other:
        print("  the other CPU during the middle's stretches: " + ", ".join(
            "%s %.2f ms" % (k, v * 1e3) for k, v in
            sorted(other.items(), key=lambda x: -x[1])[:4]))


def one(spec, jobf, tmp, slices, stacks=False):
    d, _, env, args = build_spec(spec)
    data = os.path.join(tmp, "sw.data")
    p = subprocess.run(["perf", "record", "-q", "-o", data,
                        *(["-g"] if stacks else []), "-e",
                        "sched:sched_switch", "-a", "--",
                        os.path.join(d, "pith"), "run", "-q", *args.split(),
                        jobf, "-o", os.path.join(tmp, "out")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, env=env)
    drv = [int(m.group(1)) for m in
           re.finditer(r"driver on CPU \d+: (\d+) instances", p.stderr)]
    out = subprocess.run(["perf", "script", "-i", data, "-F",
                          "cpu,time,trace"], capture_output=True,
                         text=True).stdout
    ev = []
    for line in out.splitlines():
        m = SW.search(line)
        if m:
            t = m.group(2).split(".")
            ev.append((int(t[0]) * 10**9 + int(t[1].ljust(9, "0")),
                       int(m.group(1)), m.group(3),
                       int(m.group(4)), m.group(5), int(m.group(6))))
    ev.sort()
    pith = [e[0] for e in ev if e[2] == "pith" or e[4] == "pith"]
    t0, t1 = pith[0], pith[-1]
    span = t1 - t0
    # per CPU, per slice, per kind: seconds
    acc = collections.defaultdict(float)
    thr = collections.defaultdict(float)
    cur = {}
    for t, cpu, pc, pp, nc, np_ in ev:
        if cpu in cur:
            since, c, pid = cur[cpu]
            a, b = max(since, t0), min(t, t1)
            while a < b:
                # Integer ns: each step ends at a slice's end or at b.
                k = min((a - t0) * slices // span, slices - 1)
                end = min(b, t0 + -(-(k + 1) * span // slices))
                acc[cpu, k, kind(c, pid)] += end - a
                if c == "pith":
                    thr[pid, cpu] += end - a
                a = end
        cur[cpu] = (t, nc, np_)
    if stacks:
        gaps(data, slices)
    return span, acc, thr, drv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2000, help="instances")
    ap.add_argument("-B", type=int, default=10, help="slices of the run")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--fn", default="build/bench/fn/noop")
    ap.add_argument("--gaps", action="store_true",
                    help="stacks: which sleep of pith's left each CPU "
                    "without pith, by part of the run")
    ap.add_argument("build", nargs="?", default="build")
    a = ap.parse_args()
    if os.geteuid() == 0:
        os.nice(-20)
    tmp = tempfile.mkdtemp(prefix="lane_idle.")
    item = os.path.join(tmp, "x.txt")
    with open(item, "w") as f:
        f.write("x\n")
    jobf = os.path.join(tmp, "j.json")
    job(jobf, os.path.realpath(a.fn), a.n, item)
    for _ in range(a.runs):
        span, acc, thr, drv = one(a.build, jobf, tmp, a.B, a.gaps)
        cpus = sorted({k[0] for k in acc})
        print("run: %.1f ms, driver ran %s of %d instances" %
              (span / 1e6, drv, a.n))
        for cpu in cpus:
            tot = {k: sum(acc[cpu, s, k] for s in range(a.B)) / 1e6
                   for k in ("idle", "pith", "worker", "io", "other")}
            print("  CPU %d: idle %.1f  pith %.1f  workers %.1f  io %.1f  "
                  "other %.1f ms"
                  "; idle + other by slice: %s" %
                  (cpu, tot["idle"], tot["pith"], tot["worker"], tot["io"],
                   tot["other"],
                   " ".join("%.1f" % ((acc[cpu, s, "idle"] +
                                       acc[cpu, s, "other"]) / 1e6)
                            for s in range(a.B))))
        for (pid, cpu), s in sorted(thr.items()):
            if s > 10**6:
                print("  pith thread %d on CPU %d: %.1f ms" % (pid, cpu, s / 1e6))


if __name__ == "__main__":
    main()
