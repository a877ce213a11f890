#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pithd under load: N small jobs from C concurrent clients, each job
`pith submit --wait` (submit to result written), against `pith run` of the
same job as a process per job, C at once, in the same run. Prints jobs/s and
p50/p99 latency of both, and their ratios (Documentation/benchmarks/pithd.md).

    tools/bench/pithd_load.py [--jobs 1000] [--clients 16] [--build build]
                              [--pithd-jobs N]   # pithd's Jobs= (default: 4 x CPUs, pithd's own)
                              [--warm-idle D]    # pithd's WarmIdleTime= (0s: idle warm workers end with each job)
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--jobs", type=int, default=1000)
ap.add_argument("--clients", type=int, default=16)
ap.add_argument("--build", default="build")
ap.add_argument("--pithd-jobs", type=int, default=4 * os.cpu_count())
ap.add_argument("--warm-idle", default=None)
a = ap.parse_args()
build = os.path.abspath(a.build)
pith, pithd = f"{build}/pith", f"{build}/pithd"
tmp = tempfile.mkdtemp(prefix="pith-load.")
job = os.path.join(tmp, "job.json")
with open(job, "w") as f:
    f.write(f'''{{ "version": 1, "name": "small",
  "functions": {{ "f": {{ "binary": "{build}/tests/functions/upper", "timeout": "5s" }} }},
  "inputs": {{ "x": [ {{ "name": "a", "data": "one" }}, {{ "name": "b", "data": "two" }} ] }},
  "stages": [ {{ "name": "s", "function": "f",
                "inputs": {{ "in": {{ "from": "x", "mode": "each" }} }},
                "outputs": ["out"] }} ],
  "outputs": {{ "r": "s.out" }} }}''')

def drive(cmd_of, label):
    lat, fails = [], []
    lock = threading.Lock()
    per = [a.jobs // a.clients + (1 if i < a.jobs % a.clients else 0) for i in range(a.clients)]
    def client(c):
        for k in range(per[c]):
            out = os.path.join(tmp, f"{label}-{c}")
            t0 = time.monotonic()
            r = subprocess.run(cmd_of(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            dt = time.monotonic() - t0
            with lock:
                (lat if r.returncode == 0 else fails).append(dt)
                if r.returncode != 0 and len(fails) <= 3:
                    print(f"{label}: exit {r.returncode}: {r.stderr.decode(errors='replace').strip()[:300]}", file=sys.stderr)
    t0 = time.monotonic()
    th = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
    for t in th: t.start()
    for t in th: t.join()
    wall = time.monotonic() - t0
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3
    return {"ok": len(lat), "failed": len(fails), "jobs_s": len(lat) / wall,
            "p50": p(0.50), "p99": p(0.99), "wall": wall}

sock = os.path.join(tmp, "pithd.sock")
conf = os.path.join(tmp, "pithd.conf")
with open(conf, "w") as f:
    f.write(f"[Daemon]\nJobs={a.pithd_jobs}\nMaxRunningJobsPerUser={a.pithd_jobs}\n"
            f"MaxJobsPerUser={a.jobs}\nMaxQueuedJobs={a.jobs}\n")
    if a.warm_idle is not None:
        f.write(f"WarmIdleTime={a.warm_idle}\n")
d = subprocess.Popen([pithd, "--socket", sock, "--state-dir", os.path.join(tmp, "state"),
                      "--config", conf], stderr=subprocess.DEVNULL)
for _ in range(200):
    if os.path.exists(sock): break
    time.sleep(0.05)
env = dict(os.environ, PITH_SOCKET=sock)
os.environ["PITH_SOCKET"] = sock
try:
    daemon = drive(lambda out: [pith, "submit", "--wait", "-q", job, "-o", out], "d")
finally:
    d.terminate(); d.wait()
run = drive(lambda out: [pith, "run", "-q", job, "-o", out], "r")
shutil.rmtree(tmp, ignore_errors=True)
print(f"{a.jobs} jobs (2 instances each), {a.clients} clients, {os.cpu_count()} CPUs, pithd Jobs={a.pithd_jobs}"
      + (f" WarmIdleTime={a.warm_idle}" if a.warm_idle is not None else ""))
for name, r in (("pith submit --wait (pithd)", daemon), ("pith run per job", run)):
    print(f"{name:28s} {r['jobs_s']:7.1f} jobs/s  p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  ({r['ok']} ok, {r['failed']} failed, {r['wall']:.1f} s)")
print(f"ratio pithd/run: throughput {daemon['jobs_s'] / run['jobs_s']:.2f}x, p50 {daemon['p50'] / run['p50']:.2f}x, p99 {daemon['p99'] / run['p99']:.2f}x")
sys.exit(0 if daemon["failed"] == 0 and run["failed"] == 0 else 1)
