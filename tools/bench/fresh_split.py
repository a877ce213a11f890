#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Where a fresh no-op instance's CPU goes, by process: pith's own threads,
its zygotes and the forked workers, per instance ((X_N - X_1) / (N - 1)),
builds alternated round by round (the order reversed every other round),
medians [ranges]; fresh_ab.py's job (its job() and ab_start()), at nice -20
when root.

  tools/bench/fresh_split.py [-r ROUNDS] [-n N] [--fn NOOP] DIR ...

"pith" is the sum of its threads' /proc/PID/task/TID/schedstat run time,
"zygote" that of each child of pith seen alive in three polls or more (a
zygote lives for the job; a forked worker for ~100 us), polled every 2 ms,
their last values before they ended; "total" is wait4()'s rusage of the
`pith run` (pith, its zygotes and workers: every process reaped under it),
and "workers" the rest: total - pith - zygote. The polling runs beside the
job, on the same CPUs: compare builds within one run only.
"""
import argparse
import collections
import os
import statistics
import subprocess
import time

from fresh_ab import ab_start, job


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def once(pith, jobfile, out):
    """One `pith run`: (CPU ns of pith's threads, of its zygotes, of all)."""
    p = subprocess.Popen([pith, "run", "-q", jobfile, "-o", out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    threads, zygotes, seen = {}, {}, collections.Counter()
    while True:
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        tasks = "/proc/%d/task" % p.pid
        for t in os.listdir(tasks) if os.path.isdir(tasks) else []:
            s = read("%s/%s/schedstat" % (tasks, t))
            if s:
                threads[t] = int(s.split()[0])
            for c in (read("%s/%s/children" % (tasks, t)) or "").split():
                seen[c] += 1
                s = read("/proc/%s/schedstat" % c) if seen[c] >= 3 else None
                if s:
                    zygotes[c] = int(s.split()[0])
        time.sleep(0.002)
    p.returncode = os.waitstatus_to_exitcode(st)
    if p.returncode:
        raise SystemExit("%s failed: exit %d" % (pith, p.returncode))
    return (sum(threads.values()), sum(zygotes.values()),
            (ru.ru_utime + ru.ru_stime) * 1e9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", type=int, default=6, help="rounds")
    ap.add_argument("-n", type=int, default=2000, help="instances")
    ap.add_argument("--fn", default="build/bench/fn/noop")
    ap.add_argument("builds", nargs="+")
    a = ap.parse_args()
    tmp, item = ab_start("fresh_split.")
    jobs = {}
    for n in (1, a.n):
        jobs[n] = os.path.join(tmp, "j%d.json" % n)
        job(jobs[n], os.path.realpath(a.fn), n, item, True)
    keys = ("total", "pith", "zygote", "workers")
    res = {b: {k: [] for k in keys} for b in a.builds}
    for r in range(a.r):
        for b in (a.builds if r % 2 == 0 else a.builds[::-1]):
            x = {}
            for n in (1, a.n):
                pt, zt, tot = once(os.path.join(b, "pith"), jobs[n],
                                   os.path.join(tmp, "out"))
                x[n] = {"total": tot, "pith": pt, "zygote": zt,
                        "workers": tot - pt - zt}
            for k in keys:
                res[b][k].append((x[a.n][k] - x[1][k]) / (a.n - 1) / 1000)
    for b in a.builds:
        print("%-32s %s  (us per instance)" % (b, "  ".join(
            "%s %.1f [%.1f-%.1f]" % (k, statistics.median(v), min(v), max(v))
            for k, v in res[b].items())))


if __name__ == "__main__":
    main()
