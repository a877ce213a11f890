#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
The bound of a fresh "lane" per CPU: pith's loop thread, its zygote and its
forked workers all on one CPU, one such lane per CPU, as the warm driver
thread does for warm instances (architecture.md "Threads"). Measured
without changing pith: one `pith run` of N fresh no-op instances on every
CPU (since round 10 in lanes of its own: PITH_LANES=0 in the environment
for round 9's one loop thread) against one run of N / CPUS instances per CPU at once,
each pinned to its CPU with taskset (so its loop, its zygote and its
workers stay there). Alternated, the order reversed every other round; per
instance, (X_N - X_1) / (N - 1) of the wall time and of the CPU of
everything (RUSAGE_CHILDREN), X_1 the median of three 1-instance runs (for
the lanes: one per CPU at once); next to fork+exec of a static no-op
(instance-driver, as instance_bench.sh) from the same round; "others" is
what the rest of the machine used meanwhile, and "niced" that of niced
processes, as in fresh_ab.py. Runs at
nice -20 when root.

With --unpinned also the same runs at once without taskset: what two loop
threads give without the pinning.

  tools/bench/fresh_lanes.py [-r ROUNDS] [-n N] [-B BUILD] [--unpinned]
"""
import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time

from fresh_ab import busy_ns, job  # the same job file and CPU count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", type=int, default=12, help="rounds")
    ap.add_argument("-n", type=int, default=2000, help="instances")
    ap.add_argument("-B", default="build", help="build directory")
    ap.add_argument("--unpinned", action="store_true",
                    help="also as many runs at once without taskset")
    a = ap.parse_args()
    if os.geteuid() == 0:
        os.nice(-20)
    b = os.path.realpath(a.B)
    pith = os.path.join(b, "pith")
    cpus = sorted(os.sched_getaffinity(0))
    lanes = len(cpus)
    n_lane = a.n // lanes
    tmp = tempfile.mkdtemp(prefix="fresh_lanes.")
    item = os.path.join(tmp, "x.txt")
    with open(item, "w") as f:
        f.write("x\n")
    jobs = {}
    for n in (1, n_lane, a.n):
        jobs[n] = os.path.join(tmp, "j%d.json" % n)
        job(jobs[n], os.path.join(b, "bench/fn/noop"), n, item)

    def go(cmds):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        b0 = busy_ns()
        t0 = time.monotonic_ns()
        ps = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in cmds]
        for p in ps:
            if p.wait() != 0:
                raise SystemExit("%s failed" % " ".join(p.args))
        t1 = time.monotonic_ns()
        b1 = busy_ns()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1e9
        return (t1 - t0, cpu, max(b1[0] - b0[0] - cpu, 0) / (t1 - t0),
                (b1[1] - b0[1]) / (t1 - t0))

    def run(n, i):
        return [pith, "run", "-q", jobs[n], "-o",
                os.path.join(tmp, "out%d" % i)]

    def pinned(n):
        return [["taskset", "-c", str(c)] + run(n, i)
                for i, c in enumerate(cpus)]

    def unpinned(n):
        return [run(n, i) for i in range(lanes)]

    kinds = {"one run, all CPUs": (lambda: [run(1, 0)],
                                   lambda: [run(a.n, 0)]),
             "a lane per CPU": (lambda: pinned(1),
                                lambda: pinned(n_lane))}
    if a.unpinned:
        kinds["as many runs, unpinned"] = (lambda: unpinned(1),
                                          lambda: unpinned(n_lane))
    res = {k: ([], [], [], []) for k in kinds}
    fe = []
    for r in range(a.r):
        fe.append(float(subprocess.run(
            [os.path.join(b, "instance-driver"), "exec", str(a.n),
             os.path.join(b, "bench/noop-static")],
            capture_output=True, text=True, check=True).stdout))
        for k in (list(kinds) if r % 2 == 0 else list(kinds)[::-1]):
            one, many = kinds[k]
            x1 = [go(one()) for _ in range(3)]
            xn = go(many())
            for i in range(2):
                res[k][i].append((xn[i] - statistics.median(x[i] for x in x1))
                                 / (a.n - 1) / 1000)
            res[k][2].append(xn[2])
            res[k][3].append(xn[3])

    def f(v):
        return "%.1f [%.1f-%.1f]" % (statistics.median(v), min(v), max(v))

    print("fork+exec of a static no-op: %s us" % f(fe))
    for k, (w, c, o, ni) in res.items():
        ratio = [x / y for x, y in zip(w, fe)]
        print("%-18s wall %s us (%.3f [%.3f-%.3f]x fork+exec)  cpu %s us"
              "  others %.2f [%.2f-%.2f] CPUs, niced %.2f [%.2f-%.2f]" %
              (k, f(w), statistics.median(ratio), min(ratio), max(ratio),
               f(c), statistics.median(o), min(o), max(o),
               statistics.median(ni), min(ni), max(ni)))


if __name__ == "__main__":
    main()
