#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Alternated A/B of builds on the fresh no-op job of instance_bench.sh's fresh
row: per instance, (X_N - X_1) / (N - 1), of the wall time, the CPU of
everything (RUSAGE_CHILDREN: pith, its zygotes and workers) and pith's loop
thread (perf stat --no-inherit -e task-clock); medians and ranges over the
rounds, the builds' order reversed every other round, X_1 the median of
three 1-instance runs per round and build. Runs at nice -20 when root.

  tools/bench/fresh_ab.py [-r ROUNDS] [-n N] [--fn NOOP] DIR[:VAR=VALUE] ...

Each DIR holds a build's pith and pith-worker; VAR=VALUE is set in that
build's environment (e.g. build:PITH_REAP=pidfd).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time


def job(path, fn, n, item):
    j = {"version": 1, "name": "fresh",
         "functions": {"f": {"binary": fn, "memory": "1MiB",
                             "timeout": "10s", "fresh": True}},
         "inputs": {"n": [{"name": "i%d" % i, "file": item}
                          for i in range(n)]},
         "stages": [{"name": "s", "function": "f",
                     "inputs": {"n": {"from": "n", "mode": "each"}},
                     "outputs": ["o"]}],
         "outputs": {"o": "s.o"}}
    with open(path, "w") as f:
        json.dump(j, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", type=int, default=16, help="rounds")
    ap.add_argument("-n", type=int, default=2000, help="instances")
    ap.add_argument("--fn", default="build/bench/fn/noop")
    ap.add_argument("builds", nargs="+")
    a = ap.parse_args()
    if os.geteuid() == 0:
        os.nice(-20)
    tmp = tempfile.mkdtemp(prefix="fresh_ab.")
    item = os.path.join(tmp, "x.txt")
    with open(item, "w") as f:
        f.write("x\n")
    jobs = {}
    for n in (1, a.n):
        jobs[n] = os.path.join(tmp, "j%d.json" % n)
        job(jobs[n], os.path.realpath(a.fn), n, item)

    def run(spec, n):
        d, _, ev = spec.partition(":")
        env = dict(os.environ)
        if ev:
            k, v = ev.split("=", 1)
            env[k] = v
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic_ns()
        p = subprocess.run(["perf", "stat", "--no-inherit", "-x,", "-e",
                            "task-clock", os.path.join(d, "pith"), "run",
                            "-q", jobs[n], "-o", os.path.join(tmp, "out")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, check=True, env=env)
        t1 = time.monotonic_ns()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1e9
        loop = next(float(f[0]) * 1e6 for f in
                    (line.split(",") for line in p.stderr.splitlines())
                    if len(f) > 2 and "task-clock" in f[2])
        return t1 - t0, cpu, loop

    res = {b: ([], [], []) for b in a.builds}
    for r in range(a.r):
        for b in (a.builds if r % 2 == 0 else a.builds[::-1]):
            one = [run(b, 1) for _ in range(3)]
            many = run(b, a.n)
            for k in range(3):
                x1 = statistics.median(x[k] for x in one)
                res[b][k].append((many[k] - x1) / (a.n - 1) / 1000)

    def f(v):
        return "%.1f [%.1f-%.1f]" % (statistics.median(v), min(v), max(v))

    for b in a.builds:
        w, c, lp = res[b]
        print("%-32s wall %s  cpu %s  loop %s  (us per instance)" %
              (b, f(w), f(c), f(lp)))


if __name__ == "__main__":
    main()
