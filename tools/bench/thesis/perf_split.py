#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Where a pith run's CPU goes, by what each sample's stack holds: the
# function's own code in the workers, their kernel time and faults; pith's
# TCP receive and send under io_uring, the sandbox calls the engine makes,
# the store, start-up, the rest of the loop. Reads `perf script` of a
# `perf record --call-graph dwarf` run (Documentation/benchmarks/thesis.md,
# "Where pith's CPU per log goes against 64 threads"); prints a markdown
# table.
#   perf script -i perf.data | tools/bench/thesis/perf_split.py
import sys, collections
samples=[]; cur=None; comm=None
for line in sys.stdin:
    if not line.strip():
        if cur is not None: samples.append((comm,cur))
        cur=None; continue
    if not line.startswith((' ','\t')):
        comm=line.split()[0]; cur=[]; continue
    p=line.split(None,2)
    if len(p)>=2: cur.append((p[1].split('+')[0], p[2] if len(p)>2 else ''))
if cur is not None: samples.append((comm,cur))
N=len(samples)
c=collections.Counter()
def has(st, names): return any(f in names for f,_ in st)
for comm, st in samples:
    fs=[f for f,_ in st]
    leafdso=st[0][1] if st else ''
    if comm.startswith('pith-worker'):
        if 'pith-image' in leafdso: k='worker: the function (user)'
        elif 'asm_exc_page_fault' in fs: k='worker: page faults'
        else: k='worker: kernel (syscalls, entry, scheduling)'
    elif comm=='pith' or comm.startswith('iou'):
        if has(st,{'io_recv','tcp_recvmsg','io_recvmsg'}): k='pith: TCP receive (io_uring recv)'
        elif has(st,{'io_send','tcp_sendmsg','io_connect','io_async_cancel','io_queue_linked_timeout','io_timeout'}): k='pith: TCP send, connect, timeouts'
        elif has(st,{'keep_ctx','warm_put','zero_ctx'}): k='pith: sandbox, context reset at the park'
        elif has(st,{'sandbox_spawn','sandbox_proc_step','inst_step','on_inst_poll','outputs_collect','warm_start','context_new','guard_poll','sandbox_proc_free','inst_finish','finish','collect','stage_collect'}): k='pith: sandbox, start/step/collect'
        elif has(st,{'arena_seal_idle','buffer_shrink','buffer_seal','pool_put','pool_take','buffer_new_mapped','buffer_unref','buffer_destroy','arena_reserve','arena_put','buffer_pack','set_free','free_outs','outs_free'}): k='pith: store (buffers, arena, release)'
        elif has(st,{'ingest_run','job_load','engine_prepare','load_images','elf_image_load','bpf_guard','guard_new','sandbox_new','main'}) and not has(st,{'loop_run_once'}): k='pith: start-up and ingest'
        elif has(st,{'loop_run_once'}): k='pith: engine loop, other (io_uring wait, progress, http parse)'
        else: k='pith: other'
    else: k='other: '+comm
    c[k]+=1
for k,v in sorted(c.items(), key=lambda x:-x[1]): print("| %s | %.1f%% |" % (k, 100*v/N))
print("samples", N)
