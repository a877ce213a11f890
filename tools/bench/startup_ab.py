#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Alternated A/B of builds on the fixed cost of a `pith run`: the wall time
and the CPU of everything (RUSAGE_CHILDREN: pith, its spawner, zygotes and
workers) of whole runs of a 1-instance and of an N-instance job of the
no-op function (warm default, as startup.sh's row), each build's runs
back to back, the builds' order reversed every other round; medians and
ranges over the rounds. Runs at nice -20 when root. With --quiet X, also
the medians over the rounds in which no build's runs saw the rest of the
machine (others and niced, as fresh_ab.py counts them) above X CPUs.

  tools/bench/startup_ab.py [-r ROUNDS] [-n N] [--quiet X] DIR ...

Each DIR holds a build's pith (e.g. /work/main/build and build).
"""
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fresh_ab import ab_args, ab_start, busy_ns  # noqa: E402


def job(path, fn, n, item):
    with open(path, "w") as f:
        f.write('{ "version": 1, "name": "startup", "functions": { "f": '
                '{ "binary": "%s", "memory": "1MiB", "timeout": "10s" } }, '
                '"inputs": { "n": [ %s ] }, "stages": [ { "name": "s", '
                '"function": "f", "inputs": { "n": { "from": "n", '
                '"mode": "each" } }, "outputs": ["o"] } ], '
                '"outputs": { "o": "s.o" } }\n' %
                (fn, ", ".join('{ "name": "i%d", "file": "%s" }' % (i, item)
                               for i in range(n))))


def main():
    a = ab_args(20, 10, "instances of the larger job")
    tmp, item = ab_start("startup_ab.")
    sizes = (1, a.n)
    jobs = {}
    for n in sizes:
        jobs[n] = os.path.join(tmp, "j%d.json" % n)
        job(jobs[n], os.path.realpath(a.fn), n, item)

    def run(d, n):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        b0 = busy_ns()
        t0 = time.monotonic_ns()
        subprocess.run([os.path.join(d, "pith"), "run", "-q", jobs[n], "-o",
                        os.path.join(tmp, "out")], stdout=subprocess.DEVNULL,
                       check=True)
        t1 = time.monotonic_ns()
        b1 = busy_ns()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1e9
        return ((t1 - t0) / 1e6, cpu / 1e6,
                max(b1[0] - b0[0] - cpu, 0) / (t1 - t0)
                + (b1[1] - b0[1]) / (t1 - t0))

    for b in a.builds:  # warm the page cache
        for n in sizes:
            run(b, n)
    # res[build][n] = (walls, cpus, loads)
    res = {b: {n: ([], [], []) for n in sizes} for b in a.builds}
    for r in range(a.r):
        for b in (a.builds if r % 2 == 0 else a.builds[::-1]):
            for n in sizes:
                for k, v in enumerate(run(b, n)):
                    res[b][n][k].append(v)

    def f(v):
        return "%.2f [%.2f-%.2f]" % (statistics.median(v), min(v), max(v))

    def table(keep, title):
        print(title)
        for n in sizes:
            for b in a.builds:
                w, c, o = ([res[b][n][k][r] for r in keep] for k in range(3))
                print("  %2d instance(s) %-28s wall %s ms  cpu %s ms  "
                      "others+niced %.2f CPUs" %
                      (n, b, f(w), f(c), statistics.median(o)))
            if len(a.builds) == 2:
                x, y = a.builds
                for k, name in ((0, "wall"), (1, "cpu")):
                    q = [res[y][n][k][r] / res[x][n][k][r] for r in keep]
                    print("  %2d instance(s) %s %s / %s per round: %s" %
                          (n, name, y, x, f(q)))

    table(range(a.r), "all %d rounds (medians [ranges])" % a.r)
    if a.quiet is not None:
        keep = [r for r in range(a.r)
                if all(res[b][n][2][r] <= a.quiet
                       for b in a.builds for n in sizes)]
        if keep:
            table(keep, "rounds with others + niced <= %.2f CPUs: %d of %d"
                  % (a.quiet, len(keep), a.r))
        else:
            print("no round with others + niced <= %.2f CPUs" % a.quiet)


if __name__ == "__main__":
    main()
