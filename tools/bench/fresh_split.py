#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Where a fresh no-op instance's CPU goes, by process: pith's own threads,
its zygotes and the forked workers, per instance ((X_N - X_1) / (N - 1)),
builds alternated round by round (the order reversed every other round),
medians [ranges]; fresh_ab.py's job (its job() and ab_start()), at nice -20
when root.

  tools/bench/fresh_split.py [-r ROUNDS] [-n N] [--fn NOOP]
                             [--proto DESIGN] [--fork-static] [--quiet X]
                             DIR ...

"pith" is the sum of its threads' /proc/PID/task/TID/schedstat run time,
"zygote" that of each child of pith seen alive in three polls or more (a
zygote lives for the job; a forked worker for ~100 us), polled every 2 ms,
their last values before they ended; "total" is wait4()'s rusage of the
`pith run` (pith, its zygotes and workers: every process reaped under it),
and "workers" the rest: total - pith - zygote. The polling runs beside the
job, on the same CPUs: compare builds within one run only.

--proto DESIGN adds the prototype of the cheapest process per instance
(the first DIR's bench/fresh-proto N 1 - DESIGN, one round each time, in
the same alternation; DESIGN without "L": its own split, P / zygote /
children, as "pith" / "zygote" / "workers"); --fork-static the floor, a
bare fork+exit+wait of a zygote-sized static in two lanes (bench/fork-static
N 2: its CPU as "total", parent and children not split). Both are their
whole run / N, not (X_N - X_1) / (N - 1): a start of ~1 ms is ~0.5 us.
Each DIR after the first is also given as its ratios to the first, round
by round (total, zygote + workers, workers: medians [ranges]): a round's
load moves both builds, their ratio less.
--quiet X: also the medians over the rounds in which the rest of the
machine (others' and niced CPU, as fresh_ab.py counts them: busy_ns()
less the run's and this script's own, over each N-instance run of pith,
the most of a round's) used at most X CPUs.
"""
import argparse
import collections
import os
import resource
import statistics
import subprocess
import time

from fresh_ab import ab_start, busy_ns, job


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def once(pith, jobfile, out):
    """One `pith run`: (CPU ns of pith's threads, of its zygotes, of all)."""
    b0, t0, s0 = busy_ns(), time.monotonic_ns(), self_cpu_ns()
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
    b1, t1, s1 = busy_ns(), time.monotonic_ns(), self_cpu_ns()
    tot = (ru.ru_utime + ru.ru_stime) * 1e9
    # The rest of the machine meanwhile: others' CPU and niced CPU.
    others = (max(b1[0] - b0[0] - tot - (s1 - s0), 0) + b1[1] - b0[1]) / (
        t1 - t0)
    return sum(threads.values()), sum(zygotes.values()), tot, others


def self_cpu_ns():
    """This script's own CPU (its polling), in ns."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1e9


def proto(build, n, design):
    """fresh-proto's one round: (CPU, P, zygote, children) us per instance."""
    out = subprocess.run([os.path.join(build, "bench/fresh-proto"), str(n),
                          "1", "-", design], capture_output=True, text=True,
                         check=True).stdout
    cpu = split = None
    for line in out.splitlines():
        f = line.split()
        if f[:1] == ["round"]:
            cpu = float(f[3].split("/")[1])
        elif f[:1] == [design] and len(f) == 8 and f[2] == "/":
            split = [float(f[i]) for i in (1, 3, 7)]
    if cpu is None or split is None:
        raise SystemExit("fresh-proto %s: no figures in %r" % (design, out))
    return {"total": cpu, "pith": split[0], "zygote": split[1],
            "workers": split[2]}


def fork_static(build, n):
    """fork-static N 2: its CPU us per fork (parent, lanes, children)."""
    out = subprocess.run([os.path.join(build, "bench/fork-static"), str(n),
                          "2"], capture_output=True, text=True,
                         check=True).stdout.split()
    nan = float("nan")
    return {"total": float(out[1]), "pith": nan, "zygote": nan,
            "workers": nan}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", type=int, default=6, help="rounds")
    ap.add_argument("-n", type=int, default=2000, help="instances")
    ap.add_argument("--fn", default="build/bench/fn/noop")
    ap.add_argument("--proto", metavar="DESIGN",
                    help="also fresh-proto's DESIGN (a1w4: the closest)")
    ap.add_argument("--fork-static", action="store_true",
                    help="also fork-static N 2, the bare fork's floor")
    ap.add_argument("--quiet", type=float, default=None,
                    help="also medians over the rounds with others + "
                    "niced <= X CPUs")
    ap.add_argument("builds", nargs="+")
    a = ap.parse_args()
    tmp, item = ab_start("fresh_split.")
    jobs = {}
    for n in (1, a.n):
        jobs[n] = os.path.join(tmp, "j%d.json" % n)
        job(jobs[n], os.path.realpath(a.fn), n, item, True)
    keys = ("total", "pith", "zygote", "workers")
    runs = list(a.builds)
    if a.proto:
        runs.append("fresh-proto " + a.proto)
    if a.fork_static:
        runs.append("fork-static 2")
    res = {b: {k: [] for k in keys} for b in runs}
    others = []
    for r in range(a.r):
        busy = 0.0
        for b in (runs if r % 2 == 0 else runs[::-1]):
            if b.startswith("fresh-proto "):
                for k, v in proto(a.builds[0], a.n, a.proto).items():
                    res[b][k].append(v)
                continue
            if b == "fork-static 2":
                for k, v in fork_static(a.builds[0], a.n).items():
                    res[b][k].append(v)
                continue
            x = {}
            for n in (1, a.n):
                pt, zt, tot, o = once(os.path.join(b, "pith"), jobs[n],
                                      os.path.join(tmp, "out"))
                if n == a.n:
                    busy = max(busy, o)
                x[n] = {"total": tot, "pith": pt, "zygote": zt,
                        "workers": tot - pt - zt}
            for k in keys:
                res[b][k].append((x[a.n][k] - x[1][k]) / (a.n - 1) / 1000)
        others.append(busy)
    def show(b, rounds, what):
        print("%-32s %s  (%s)" % (b, "  ".join(
            "%s %.1f [%.1f-%.1f]" % (k, statistics.median(v), min(v), max(v))
            for k, v in ((k, [v[r] for r in rounds])
                         for k, v in res[b].items()) if v[0] == v[0]), what))

    def paired(rounds, what):
        """Each later build's figures over the first's in the same round:
        the round's load moves both, the ratio less (medians [ranges])."""
        zw = ("zygote", "workers")
        for b in a.builds[1:]:
            parts = []
            for name, keys in (("total", ("total",)),
                               ("zygote+workers", zw), ("workers", ("workers",))):
                v = [sum(res[b][k][r] for k in keys) /
                     sum(res[a.builds[0]][k][r] for k in keys)
                     for r in rounds
                     if sum(res[a.builds[0]][k][r] for k in keys) > 0]
                if v:
                    parts.append("%s %.3f [%.3f-%.3f]" % (
                        name, statistics.median(v), min(v), max(v)))
            print("%-32s / first, paired by round: %s  (%s)" %
                  (b, "  ".join(parts), what))

    for b in runs:
        show(b, range(a.r), "us per instance")
    paired(range(a.r), "%d rounds" % a.r)
    print("others + niced: %.2f [%.2f-%.2f] CPUs" %
          (statistics.median(others), min(others), max(others)))
    if a.quiet is not None:
        keep = [r for r in range(a.r) if others[r] <= a.quiet]
        print("rounds with others + niced <= %.2f CPUs: %d of %d" %
              (a.quiet, len(keep), a.r))
        for b in runs if keep else []:
            show(b, keep, "quiet rounds")
        if keep:
            paired(keep, "%d quiet rounds" % len(keep))


if __name__ == "__main__":
    main()
