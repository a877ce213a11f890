/* SPDX-License-Identifier: GPL-2.0-only */
/* Types shared by pith_top.bpf.c and pith_top.c (tools/trace/). */
#ifndef PITH_TOOLS_TRACE_PITH_TOP_H
#define PITH_TOOLS_TRACE_PITH_TOP_H

#define TOP_FN_LEN 32
/* Log-linear latency buckets: 4 per power of two of nanoseconds, up to
 * 2^48 ns (three days). */
#define TOP_SUB 4
#define TOP_BUCKETS (48 * TOP_SUB)

/* kind of a row */
#define TOP_COMPUTE 0
#define TOP_IO 1 /* a job's I/O stage; < 0: pith's own I/O (PROBE_IO_*) */

/* struct probe_inst of userspace/lib/probe.h (the inst_done probe), in BPF
 * types; pith_top.c checks that the layouts agree. */
struct top_probe_inst {
	__u64 job;
	__u64 instance;
	__u32 stage;
	__s32 status;
	__s32 reason;
	__s32 pid;
	__s64 syscall;
	__u64 start_ns;
	__u64 spawn_ns;
	__u64 run_ns;
	__u64 bytes_in, bytes_out;
	__u32 warm;
	__u32 pad;
	__u64 function; /* const char * in pith */
	__u64 text;
};

struct top_key {
	char fn[TOP_FN_LEN];
	__s32 kind;
	__u32 pad;
};

struct top_stats {
	__u64 instances;  /* compute: inst_done; I/O: items ended */
	__u64 failures;	  /* failed instances, I/O items with an error */
	__u64 cancelled;
	__u64 warm;	  /* spawned on a reused warm worker */
	__u64 bytes_in;
	__u64 bytes_out;
	__u64 lat_sum;	  /* ns */
	__u32 hist[TOP_BUCKETS];
};

#endif
