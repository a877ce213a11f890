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

  tools/bench/lane_idle.py [-n N] [-B SLICES] [--runs R] [DIR[:VAR=VALUE ...][@ARGS]]
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


def one(spec, jobf, tmp, slices):
    d, _, env, args = build_spec(spec)
    data = os.path.join(tmp, "sw.data")
    p = subprocess.run(["perf", "record", "-q", "-o", data, "-e",
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
    return span, acc, thr, drv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2000, help="instances")
    ap.add_argument("-B", type=int, default=10, help="slices of the run")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--fn", default="build/bench/fn/noop")
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
        span, acc, thr, drv = one(a.build, jobf, tmp, a.B)
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
