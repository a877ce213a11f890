#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Alternated A/B of builds on the fresh no-op job of instance_bench.sh's fresh
row: per instance, (X_N - X_1) / (N - 1), of the wall time, the CPU of
everything (RUSAGE_CHILDREN: pith, its zygotes and workers) and pith's loop
thread (perf stat --no-inherit -e task-clock) and of the driver threads
(PITH_WARM_STATS's lines; with lanes), and the idle time of pith's CPUs
(cpuidle's residency; the others' load fills it, so read it in quiet
rounds); medians and ranges over the
rounds, the builds' order reversed every other round, X_1 the median of
three 1-instance runs per round and build; "driven" is the share of the
N instances that the drivers' lanes ran; then each later build's wall
and CPU over the first's, paired by round (median [quartiles], and in how
many rounds below 1), which resolves a few per cent that the medians do
not. Runs at nice -20 when root.

  tools/bench/fresh_ab.py [-r ROUNDS] [-n N] [--fn NOOP] [--warm] [--memory SIZE] DIR[:VAR=VALUE][#procs][@ARGS] ...

Each DIR holds a build's pith and pith-worker; VAR=VALUE is set in that
build's environment (e.g. build:PITH_REAP=pidfd; several separated by
spaces); ARGS (split at spaces)
go to that build's `pith run` (e.g. "build@-j 16"), for the 1-instance
runs too. "#procs" runs that build as fresh_lanes.py's lanes: one `pith
run` per CPU at once, each pinned to its CPU with taskset and given N / CPUs
of the instances (for X_1 one instance each); its loop figure is the sum of
their loop threads.

It also prints what the rest of the machine used meanwhile ("others":
CPUs busy in /proc/stat during the N-instance runs, less their own CPU and
less the user time of niced processes, nice > 0, printed apart as
"niced": these still took over a CPU while the nice -20 runs ran, where
other engineers' builds ran), and, with --quiet X, the medians over the
rounds in which no build's run saw others and niced together above X
CPUs: other jobs come and go, and a round they load says more about them
than about the builds.
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import tempfile
import time


def job(path, fn, n, item, fresh=True, memory="1MiB"):
    j = {"version": 1, "name": "fresh",
         "functions": {"f": {"binary": fn, "memory": memory,
                             "timeout": "10s", "fresh": fresh}},
         "inputs": {"n": [{"name": "i%d" % i, "file": item}
                          for i in range(n)]},
         "stages": [{"name": "s", "function": "f",
                     "inputs": {"n": {"from": "n", "mode": "each"}},
                     "outputs": ["o"]}],
         "outputs": {"o": "s.o"}}
    with open(path, "w") as f:
        json.dump(j, f)


def busy_ns():
    """Nanoseconds the machine's CPUs were busy since boot, and of them
    at a positive nice value: /proc/stat's user nice system idle iowait
    irq softirq steal, all but nice, idle and iowait; and nice."""
    hz = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return ((sum(v[:8]) - v[1] - v[3] - v[4]) * 1e9 / hz, v[1] * 1e9 / hz)


def idle_ns(cpus):
    """Nanoseconds the given CPUs spent idle since boot, by cpuidle's
    per-state residency (microseconds: finer than /proc/stat's ticks);
    None where the kernel has no cpuidle."""
    t = 0
    for c in cpus:
        d = "/sys/devices/system/cpu/cpu%d/cpuidle" % c
        try:
            for st in os.listdir(d):
                with open(os.path.join(d, st, "time")) as f:
                    t += int(f.read())
        except OSError:
            return None
    return t * 1000


def build_spec(spec):
    """DIR[:VAR=VALUE ...][#procs][@ARGS] split: the directory, whether
    "#procs", pith's environment (PITH_WARM_STATS set) and ARGS."""
    spec, _, args = spec.partition("@")
    spec, procs, _ = spec.partition("#procs")
    d, _, ev = spec.partition(":")
    env = dict(os.environ, PITH_WARM_STATS="1")
    for kv in ev.split():
        k, v = kv.split("=", 1)
        env[k] = v
    return d, bool(procs), env, args


def ab_args(rounds, n, n_help="instances", memory=False):
    """The options of an alternated A/B of builds (this script's and
    startup_ab.py's; memory: this script's --memory too), parsed."""
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", type=int, default=rounds, help="rounds")
    ap.add_argument("-n", type=int, default=n, help=n_help)
    ap.add_argument("--fn", default="build/bench/fn/noop")
    ap.add_argument("--quiet", type=float, default=None,
                    help="also medians over the rounds with others + niced "
                    "<= X CPUs")
    ap.add_argument("--warm", action="store_true",
                    help="warm instances (instance_bench.sh's warm row: "
                    "-n 20000), not fresh ones")
    if memory:
        ap.add_argument("--memory", default="1MiB",
                        help="the function's declared memory (the job's "
                        "\"memory\"; lanes hold fewer of a larger one)")
    ap.add_argument("builds", nargs="+")
    return ap.parse_args()


def ab_start(prefix):
    """At nice -20 when root; a temporary directory and its one-line item
    file."""
    if os.geteuid() == 0:
        os.nice(-20)
    tmp = tempfile.mkdtemp(prefix=prefix)
    item = os.path.join(tmp, "x.txt")
    with open(item, "w") as f:
        f.write("x\n")
    return tmp, item


def main():
    a = ab_args(16, 2000, memory=True)
    tmp, item = ab_start("fresh_ab.")
    jobs = {}
    for n in (1, a.n):
        jobs[n] = os.path.join(tmp, "j%d.json" % n)
        job(jobs[n], os.path.realpath(a.fn), n, item, not a.warm, a.memory)

    cpus = sorted(os.sched_getaffinity(0))
    if a.n // len(cpus) not in jobs:
        jobs[a.n // len(cpus)] = os.path.join(tmp, "j%d.json" % (a.n // len(cpus)))
        job(jobs[a.n // len(cpus)], os.path.realpath(a.fn),
            a.n // len(cpus), item, not a.warm, a.memory)

    def run(spec, n):
        d, procs, env, args = build_spec(spec)
        # "#procs": fresh_lanes.py's lanes, a pith per CPU pinned there
        # with taskset, each with n / CPUs of the instances (n = 1: one
        # instance each), at once.
        lanes = [["taskset", "-c", str(c)] for c in cpus] if procs else [[]]
        per = n if not procs or n == 1 else n // len(cpus)
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        b0 = busy_ns()
        i0 = idle_ns(cpus)
        t0 = time.monotonic_ns()
        ps = [subprocess.Popen(["perf", "stat", "--no-inherit", "-x,", "-e",
                                "task-clock", *pin, os.path.join(d, "pith"),
                                "run", "-q", *args.split(), jobs[per], "-o",
                                os.path.join(tmp, "out%d" % i)],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=env)
              for i, pin in enumerate(lanes)]
        errs = [p.communicate()[1] for p in ps]
        t1 = time.monotonic_ns()
        i1 = idle_ns(cpus)
        b1 = busy_ns()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if any(p.returncode for p in ps):
            raise SystemExit("%s failed: %s" % (spec, errs))
        cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1e9
        # The loop threads of all of them.
        loop = sum(next(float(f[0]) * 1e6 for f in
                        (line.split(",") for line in e.splitlines())
                        if len(f) > 2 and "task-clock" in f[2])
                   for e in errs)
        # The drivers' threads (PITH_WARM_STATS: "... N us of CPU").
        drv = sum(float(m.group(1)) * 1e3 for e in errs for m in
                  re.finditer(r"driver on CPU \d+: .*?(\d+) us of CPU", e))
        # The drivers' lanes' share of the instances.
        lane = sum(int(m.group(1)) for e in errs for m in
                   re.finditer(r"driver on CPU \d+: (\d+) instances", e))
        return (t1 - t0, cpu, loop, max(b1[0] - b0[0] - cpu, 0) / (t1 - t0),
                (b1[1] - b0[1]) / (t1 - t0), drv,
                i1 - i0 if i0 is not None and i1 is not None else 0,
                lane / n)

    res = {b: ([], [], [], [], [], [], [], []) for b in a.builds}
    for r in range(a.r):
        for b in (a.builds if r % 2 == 0 else a.builds[::-1]):
            one = [run(b, 1) for _ in range(3)]
            many = run(b, a.n)
            for k in (0, 1, 2, 5, 6):
                x1 = statistics.median(x[k] for x in one)
                res[b][k].append((many[k] - x1) / (a.n - 1) / 1000)
            res[b][3].append(many[3])
            res[b][4].append(many[4])
            res[b][7].append(many[7] * 100)

    def f(v):
        if not v:
            return "-"
        return "%.1f [%.1f-%.1f]" % (statistics.median(v), min(v), max(v))

    def paired(rounds, what):
        """Each later build's wall and CPU over the first's in the same
        round (median [quartiles], and in how many rounds it was below 1):
        a round's load moves both builds, their ratio less, so this
        separates a few per cent that the medians above do not (40 quiet
        rounds, round 13: 0.956x paired where the medians gave 0.99x)."""
        if len(rounds) < 2:
            return
        for b in a.builds[1:]:
            parts = []
            for name, k in (("wall", 0), ("cpu", 1)):
                v = [res[b][k][r] / res[a.builds[0]][k][r] for r in rounds
                     if res[a.builds[0]][k][r] > 0]
                if len(v) < 2:
                    continue
                q = statistics.quantiles(v, n=4)
                parts.append("%s %.3f [%.3f-%.3f] below 1 in %d" % (
                    name, q[1], q[0], q[2], sum(x < 1 for x in v)))
            print("%-32s / first, paired by round: %s  (%s)" %
                  (b, "  ".join(parts), what))

    for b in a.builds:
        w, c, lp, o, ni, dv, idl, ln = res[b]
        print("%-32s wall %s  cpu %s  loop %s  drivers %s  idle %s  (us per "
              "instance)  driven %s %%  others %.2f [%.2f-%.2f] CPUs, niced "
              "%.2f [%.2f-%.2f]" %
              (b, f(w), f(c), f(lp), f(dv), f(idl), f(ln),
               statistics.median(o), min(o),
               max(o), statistics.median(ni), min(ni), max(ni)))
    paired(range(a.r), "%d rounds" % a.r)
    if a.quiet is not None:
        keep = [r for r in range(a.r)
                if all(res[b][3][r] + res[b][4][r] <= a.quiet
                       for b in a.builds)]
        print("rounds with others + niced <= %.2f CPUs: %d of %d" %
              (a.quiet, len(keep), a.r))
        for b in a.builds:
            w, c, lp, dv, idl, ln = ([res[b][k][r] for r in keep]
                                     for k in (0, 1, 2, 5, 6, 7))
            print("%-32s wall %s  cpu %s  loop %s  drivers %s  idle %s  "
                  "driven %s %%  (quiet rounds)" %
                  (b, f(w), f(c), f(lp), f(dv), f(idl), f(ln)))
        paired(keep, "%d quiet rounds" % len(keep))

if __name__ == "__main__":
    main()
