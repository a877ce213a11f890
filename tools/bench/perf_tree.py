#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Where one command's process tree spent its samples, from a system-wide
perf.data (system-wide, so that perf adds no inherited counter to each
fork), by role and by what each sample is under:

  perf record -a -g -F 10000 -o cpu.data -- build/pith run -q JOB -o OUT
  tools/bench/perf_tree.py -n 2000 cpu.data
  perf record -a -e page-faults -c 1 -d -o pf.data -- build/pith run -q JOB -o OUT
  tools/bench/perf_tree.py -n 2000 --faults pf.data

The command is the process perf exec'd (perf-exec); a process of its tree
that forked 10 children or more is a "forker" (a zygote, a driver), their
children "child of" it, the command itself "root". Without --faults: per
role, samples as µs per instance (samples / HZ / N; perf inflates what it
samples: compare shares, or runs under the same perf), by the system call
(__x64_sys_*), page fault or fork return they are under, else the leaf
symbol ("user:" when no such frame). With --faults (one sample per
fault, -d): faults per child by the page they hit and the code that hit
it.
"""
import argparse
import collections
import re
import subprocess

FORK = re.compile(r'PERF_RECORD_FORK\((\d+):(\d+)\):\((\d+):(\d+)\)')
COMM = re.compile(r'PERF_RECORD_COMM(?: exec)?: (.*):(\d+)/(\d+)')
HEAD = re.compile(r'\s*(\S.*?)\s+(\d+)/(\d+)(?:\s+(.*))?$')


def parse(data, fields):
    """Fork tree, comms, root pid and samples (pid, lines) of perf.data."""
    out = subprocess.run(["perf", "script", "-i", data,
                          "--show-task-events", "-F", fields],
                         capture_output=True, text=True, check=True).stdout
    parent, comm, samples = {}, {}, []
    for line in out.splitlines():
        m = FORK.search(line)
        if m:
            if m.group(1) != m.group(3):
                parent.setdefault(int(m.group(1)), int(m.group(3)))
            continue
        m = COMM.search(line)
        if m:
            comm[int(m.group(2))] = m.group(1)
            continue
        if "PERF_RECORD" in line:
            continue
        m = HEAD.match(line)
        if m and not line.startswith("\t"):
            samples.append((int(m.group(2)), [m.group(4) or ""]))
        elif samples and line.strip():
            samples[-1][1].append(line.split()[1] if len(line.split()) > 1
                                  else "?")
    root = int(re.search(r'PERF_RECORD_COMM: perf-exec:(\d+)/', out).group(1))
    return parent, comm, root, samples


def roles(parent, comm, root):
    kids = collections.Counter(parent.values())

    def under(p):
        while p in parent and p != root:
            p = parent[p]
        return p == root
    role = {root: "root"}
    for p in parent:
        if p == root or not under(p):
            continue
        if kids[p] >= 10:
            role[p] = "forker %s:%d" % (comm.get(p, "?"), p)
        elif parent[p] != root and kids[parent[p]] >= 10:
            role[p] = "child of %s:%d" % (comm.get(parent[p], "?"), parent[p])
        else:
            role[p] = "other"
    return role


def what(chain):
    """The system call, fault or fork return a callchain (leaf first) is
    under, else its leaf."""
    for f in reversed(chain):
        if f.startswith("__x64_sys_") or f.startswith("__do_sys_"):
            return "sys_" + re.sub(r'^__(x64|do)_sys_', "", f)
        if f in ("exc_page_fault", "asm_exc_page_fault"):
            return "page fault"
        if f.startswith("ret_from_fork"):
            return "ret_from_fork"
    return "user:" + (chain[0] if chain else "?")


def region(a):
    if a < 0x1000000:
        return "image %#x" % (a & ~0xfff)
    if 0x200000000000 <= a < 0x204000000000:
        return "context +%#x" % ((a - 0x200000000000) & ~0xfff)
    if 0x204000000000 <= a < 0x204000200000:
        return "trampoline/loader %#x" % (a & ~0xfff)
    if 0x300000000000 <= a < 0x400000000000:
        return "inputs +%#x" % ((a - 0x300000000000) & ~0xfff)
    return "other %#x" % (a & ~0xfff)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, required=True, help="instances")
    ap.add_argument("-F", type=float, default=10000, help="perf's -F")
    ap.add_argument("--faults", action="store_true",
                    help="perf.data of -e page-faults -c 1 -d")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("data")
    a = ap.parse_args()
    if a.faults:
        parent, comm, root, samples = parse(a.data, "comm,pid,tid,addr,ip,sym")
        role = roles(parent, comm, root)
        procs = collections.Counter(role.values())
        by = collections.defaultdict(collections.Counter)
        for pid, lines in samples:
            f = lines[0].split()
            if pid in role and len(f) >= 1:
                by[role[pid]][(region(int(f[0], 16)),
                               f[-1] if len(f) > 2 else "?")] += 1
        for r in sorted(by, key=lambda r: -sum(by[r].values())):
            t = sum(by[r].values())
            print("%s: %d processes, %d faults, %.2f per process" %
                  (r, procs[r], t, t / max(procs[r], 1)))
            for (reg, sym), v in by[r].most_common(a.top):
                print("  %7.3f  %-28s %s" % (v / max(procs[r], 1), reg, sym))
        return
    parent, comm, root, samples = parse(a.data, "comm,pid,tid,ip,sym")
    role = roles(parent, comm, root)
    by = collections.defaultdict(collections.Counter)
    for pid, lines in samples:
        if pid in role:
            by[role[pid]][what(lines[1:])] += 1
            if "bpf_trace_run2" in lines:
                by[role[pid]]["  (of which the BPF programs at sys_enter)"] += 1
    us = 1e6 / a.F / a.n
    for r in sorted(by, key=lambda r: -sum(by[r].values())):
        t = sum(v for k, v in by[r].items() if not k.startswith("  "))
        print("%-36s %6d samples %8.1f us per instance" % (r, t, t * us))
        for k, v in by[r].most_common(a.top):
            print("  %7.1f us %5.1f%%  %s" % (v * us, 100.0 * v / t, k))


if __name__ == "__main__":
    main()
