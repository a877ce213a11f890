/* SPDX-License-Identifier: GPL-2.0-only */
/* Types shared by pith_snoop.bpf.c and pith_snoop.c (tools/trace/). */
#ifndef PITH_TOOLS_TRACE_PITH_SNOOP_H
#define PITH_TOOLS_TRACE_PITH_SNOOP_H

#define SNOOP_FN_LEN 32
#define SNOOP_TEXT_LEN 256

enum snoop_kind {
	SNOOP_FAILED = 1,    /* inst_failed: the reason pith reports */
	SNOOP_CANCELLED = 2, /* inst_exited with status cancelled */
};

struct snoop_event {
	__u64 ts;	/* CLOCK_MONOTONIC ns */
	__u64 job, instance;
	__u32 stage;
	__s32 pid;	/* the worker, 0 if it was never spawned */
	__s32 pith_pid;	/* the pith (or pithd) that ran it */
	__u32 pad;
	__s64 syscall;	/* forbidden syscall, or -1 */
	__u32 kind;	/* enum snoop_kind */
	__s32 reason;	/* probe_reason of a cancelled instance */
	char fn[SNOOP_FN_LEN];
	char text[SNOOP_TEXT_LEN];
};

#endif
