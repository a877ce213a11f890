/* SPDX-License-Identifier: MIT */
/*
 * The plan pith hands to pith-worker over the worker's only fd (a
 * SOCK_SEQPACKET socket at fd 0): where to map the image, the context and
 * the inputs, and the seccomp program. Shared by pith and the freestanding
 * loader, so it uses fixed-width types only.
 */
#ifndef PITH_SANDBOX_PLAN_H
#define PITH_SANDBOX_PLAN_H

#include "pith/abi.h"

#define PLAN_MAGIC 0x4e4c5057u /* "WPLN" */
#define PLAN_VERSION 5

/* The worker's only fd: the socket to pith. Closing it is the last system
 * call before the function's first instruction. */
#define PLAN_SOCK_FD 0

/*
 * The trampoline page and the loader's own image (linked there with
 * -Ttext-segment, build.mk), together in one 2 MiB block of the context's
 * 512 GiB region, 256 GiB above the context (a context is at most 4 GiB:
 * job/validate.c; the loader refuses a plan whose context would reach
 * them). One region of the top-level page table for the context, the
 * trampoline and the loader, and one page-table page for the last two: a
 * forked worker allocates four page-table pages fewer than with each in a
 * region of its own (Documentation/benchmarks/fresh-early.md, "Fresh
 * instances: one region for the trampoline and the loader (round 7, branch
 * freshchild)").
 */
#define PLAN_TRAMPOLINE_BASE 0x204000000000ull
#define PLAN_TRAMPOLINE_SIZE 0x1000ull
#define PLAN_LOADER_BASE 0x204000010000ull
#define PLAN_LOADER_END 0x204000200000ull /* the loader's image ends below */
/* The largest context the loader maps: it ends below the trampoline. */
#define PLAN_CONTEXT_MAX (PLAN_TRAMPOLINE_BASE - PITH_CONTEXT_BASE)
/* End of the x86-64 user address space with 4-level paging. */
#define PLAN_USER_TOP 0x7ffffffff000ull

#define PLAN_MAX_SEGMENTS 16
#define PLAN_MAX_FILTER 1024	/* cBPF instructions (BPF_MAXINSNS: 4096) */
#define PLAN_MAX_INPUTS 4096	/* input mappings per instance (more items
				   are copied; see context.c) */
#define PLAN_FDS_PER_MSG 250	/* below SCM_MAX_FD (253) */

/* Signals whose handler records the fault in pith_context.reserved[]. */
#define PLAN_FAULT_MAGIC 0x544c5546ull /* "FULT", in reserved[0] >> 32 */

struct plan_segment {
	__u64 vaddr, memsz, file_off;
	__u32 prot, pad;
};

struct plan_input {
	__u64 addr, len; /* page-aligned; len 0: nothing to map */
	__u32 fd_index;	 /* index into the fds received after the plan */
	__u32 pad;
	__u64 file_off;	 /* page-aligned offset in that fd */
};

struct plan_filter_insn { /* struct sock_filter, for pith's filter.c */
	__u16 code;
	__u8 jt, jf;
	__u32 k;
};

/*
 * Message 1: struct plan, then inputs[n_inputs];
 * fds 0 (image) and 1 (context) and the first input fds ride along as
 * SCM_RIGHTS, more in following messages (PLAN_FDS_PER_MSG each) until
 * n_fds have been sent.
 */
struct plan {
	__u32 magic, version;
	__u32 n_fds;
	__u32 n_segments;
	__u32 n_inputs;
	__u32 n_slots;		/* a zygote's pooled contexts (below) */
	__u64 entry;
	/* The loader's executable segment, which the seccomp program trusts.
	 * The trampoline
	 * unmaps the loader's whole window, [PLAN_LOADER_BASE,
	 * PLAN_LOADER_END), in one call: the seccomp program allows no other
	 * munmap. */
	__u64 loader_text, loader_text_len;
	/* The context memfd maps at PITH_CONTEXT_BASE in two parts around a
	 * one-page guard hole: [0, guard_off) and [guard_off + 4096, size). */
	__u64 context_size;
	__u64 guard_off;
	__u64 altstack_off, altstack_size;
	__u64 inputs_lo, inputs_hi; /* the range the inputs occupy */
	__u32 flags;		/* PLAN_F_* */
	__u32 pad2;
	struct plan_segment segments[PLAN_MAX_SEGMENTS];
};

/* plan.flags */
#define PLAN_F_WARM 0x1u	/* the worker may serve more instances */
#define PLAN_F_FSGSBASE 0x2u	/* the CPU lets user code write fs/gs base */
#define PLAN_F_ZYGOTE 0x4u	/* a zygote: load the image, then fork one
				   fresh worker per request (below) */
#define PLAN_F_WSEG 0x8u	/* warm: the writable segments are in the
				   context memfd (PLAN_WSEG_OFF) */
#define PLAN_F_AREA 0x10u	/* fresh: an input area past the context,
				   as a warm worker's (PLAN_INPUT_AREA) */

/*
 * Zygotes (see Documentation/security.md, "Zygotes"). A zygote's plan is
 * a fresh worker's plan with PLAN_F_ZYGOTE, no input, n_slots pooled
 * contexts, and 2 + 2 * n_slots fds: the image, the ring (a memfd of
 * PLAN_RING_SIZE bytes holding struct plan_ring), then each slot's
 * context memfd, read-write and read-only. The loader maps the image, the
 * trampoline (with the children's setup; at PLAN_ZTRAMP(guard_off),
 * below), the fault handlers and the ring
 * (at PLAN_RING_BASE, MADV_DONTFORK: no child has it), copies its fork
 * code to the end of PLAN_FORK_PAGE() (MADV_DONTFORK, as its whole text),
 * closes the image's and the ring's descriptors, keeps the slots' (it
 * maps none of them) and forks one child per request on the ring
 * (clone(CLONE_PARENT | CLONE_PARENT_SETTID | CLONE_FILES): pith's child,
 * its pid written into pid[slot] before it runs), the request's CPU limit
 * first written into its trampoline page. The child goes on at the
 * trampoline's first byte with its slot's two descriptors and the
 * context's layout in registers (it has no page of the zygote's but the
 * image and the trampoline), maps its slot's context and input area,
 * sets its limits, writes its readiness (or a failure) into the slot's
 * control page past the input area through the read-write descriptor,
 * leaves the shared descriptor table for an empty one and enters the
 * handoff (worker/main.c, zygote_fork(); worker/trampoline.c,
 * tramp_child).
 *
 * Each side sleeps on a futex only when the other has nothing for it:
 * the zygote on head when no request waits (z_wait), pith on a pid word
 * when the fork it needs has not happened yet (p_wait).
 */
#define PLAN_RING_BASE 0x204000004000ull /* in the trampoline's block */
/*
 * A zygote's trampoline is not at PLAN_TRAMPOLINE_BASE but in its
 * children's guard page: at PITH_CONTEXT_BASE + guard_off, between the
 * signal stack and the stack, read-only and executable (a stack overflow
 * writes into it and faults there as into the hole it replaces). A child
 * then touches one page-table page below the top level for its
 * trampoline, its descriptor and its stack's top page when its context
 * fits in 2 MiB (a stack that is not all in one 2 MiB block: one more),
 * where the trampoline's own block cost it two more
 * (Documentation/benchmarks/fresh-calls.md, round 15). Its address
 * follows the context's size, so the seccomp program pins its calls by
 * their offset in a page of the first 4 GiB above PITH_CONTEXT_BASE
 * (PLAN_ZTRAMP_HI), where no other page is executable (filter.c;
 * security.md, "Zygotes").
 */
#define PLAN_ZTRAMP(guard_off) (PITH_CONTEXT_BASE + (guard_off))
#define PLAN_ZTRAMP_HI (PITH_CONTEXT_BASE >> 32) /* its address's top half */
/* A zygote's fork page, right below its trampoline (worker/main.c,
 * zygote_fork_page()): its clone returns at the trampoline's first byte. */
#define PLAN_FORK_PAGE(guard_off) (PLAN_ZTRAMP(guard_off) - 0x1000ull)
/* Its clone's flags: CLONE_PARENT | CLONE_PARENT_SETTID | CLONE_FILES. */
#define PLAN_ZYGOTE_CLONE_FLAGS 0x108400u
#define PLAN_RING_SIZE 0x1000ull
/* z_wait names the head it saw, so that a post the zygote had already
 * seen does not take the flag of its next sleep (zygote.c,
 * zygote_ring_post()). head runs at most PLAN_RING_REQS ahead of tail:
 * 31 bits tell the values apart. */
#define PLAN_Z_WAIT(t) (((__u32)(t) & 0x7fffffffu) | 0x80000000u)
#define PLAN_SLOTS 8		/* pooled contexts per zygote, at most */
/* Where the zygote keeps its slots' descriptors (slot s: base + 2s, + 2s
 * + 1): NR_OPEN_DEFAULT (BITS_PER_LONG), the entries a child's
 * close_range(CLOSE_RANGE_UNSHARE) of the shared table copies whatever
 * its range; above it, none (worker/main.c, zygote()). Its socket to pith
 * follows them, once its setup is done (fd 0 is left empty): a child
 * copies no descriptor at all. */
#define PLAN_ZYGOTE_FD_BASE 64
#define PLAN_ZYGOTE_SOCK_FD (PLAN_ZYGOTE_FD_BASE + 2 * PLAN_SLOTS)
#define PLAN_RING_REQS 32
enum { PLAN_REQ_FORK = 1,	/* a child for slot */
       PLAN_REQ_SWAP = 2 };	/* slot's two descriptors are replaced by
				   the two that come on its socket
				   (one message, PLAN_SWAP_MAGIC) */
#define PLAN_SWAP_MAGIC 0x50415753u /* "SWAP" */
struct plan_req {
	__u32 op, slot;
	__u64 cpu_cur, cpu_max;	/* the child's RLIMIT_CPU */
};
struct plan_ring {
	__u32 head;		/* requests posted (pith) */
	__u32 tail;		/* requests served (the zygote) */
	__u32 z_wait;		/* the zygote sleeps on head: PLAN_Z_WAIT(t)
				   while it waits for head to leave t, or 0 */
	__u32 p_wait;		/* pith sleeps on a pid word */
	__s32 pid[PLAN_SLOTS];	/* the slot's child, or -errno */
	struct plan_req req[PLAN_RING_REQS];
};
/* A pooled slot's memfd: the context, the input area (PLAN_INPUT_AREA),
 * and one control page that only pith maps: the child writes into it
 * with pwrite before it closes its descriptors, the function never can. */
#define PLAN_CTRL_OFF(context_size) ((context_size) + PLAN_INPUT_AREA)
#define PLAN_CTRL_SIZE 0x1000ull
#define PLAN_CTRL_READY 0x59444552u /* "REDY" */
struct plan_ctrl {
	__u32 magic;		/* PLAN_CTRL_READY: the function starts */
	__u32 pad;
	__u64 tsc;		/* then, the child's TSC (rdtsc): pith
				   converts it (zygote_read_ctrl()) */
	char error[200];	/* else a setup failure, NUL-terminated */
};

/*
 * Warm workers (see Documentation/security.md, "Warm workers"). The loader
 * leaves this block at PLAN_TRAMP_DATA in the trampoline page before the
 * page becomes read-only and executable: everything the reset path needs
 * that must not come from memory the function can write.
 */
#define PLAN_TRAMP_DATA 0xc00ull
struct plan_tramp_data {
	__u64 flags;		/* PLAN_F_* */
	__u64 ctx_len1;		/* [PITH_CONTEXT_BASE, + ctx_len1): descriptor..altstack */
	__u64 ctx_addr2, ctx_len2, ctx_off2; /* the stack part, above the guard */
	__u64 frame;		/* the rt_sigreturn frame pith writes per instance */
	__u64 n_wseg;		/* writable image segments, reset to the file */
	struct { __u64 addr, len; } wseg[PLAN_MAX_SEGMENTS];
};

/*
 * What pith writes into the context for a warm worker's next instance,
 * besides the descriptor: the input mappings (in the arena, zeroed by the
 * trampoline after use; address and count in reserved[] slots below), the
 * reset's flags and an rt_sigreturn frame at the top of the stack that
 * starts the function with every register zero, the initial FPU/vector
 * state, an empty signal mask and the fault handler's signal stack. The
 * context is the worker's own, kept mapped across its instances: pith
 * zeroes it (a hole punched over all of it) when the worker parks.
 */
#define PLAN_RES_INMAP 4	/* pith_context.reserved[4]: table address */
#define PLAN_RES_NINMAP 5	/* reserved[5]: entries */
struct plan_inmap {
	__u64 addr, len, off, fd;
};
#define PLAN_FRAME_SIZE 320ull	/* struct ucontext (304) rounded to 16 */
/* pith's answer to a park (the park call's return value): the same
 * context and no fd added; the same context and inputs added from fd 2.
 * (1, once a new context at fd 1, is no answer any more.) */
#define PLAN_WARM_GO 0
#define PLAN_WARM_CTX_FD 1
#define PLAN_WARM_INPUT_FD 2
/*
 * A warm instance's input area: the context memfd holds PLAN_INPUT_AREA
 * more bytes past the context, which the loader maps read-only at
 * PITH_INPUT_BASE for the worker's whole life. pith copies an instance's
 * small items there (when they fit) instead of into a buffer of their
 * own: no fd, no mapping per instance. Zeroed with the context at the
 * park. Mapped inputs start past it. A fresh instance's context has one
 * too (PLAN_F_AREA): zeroed with the context when a reaped instance's
 * context is reused (reuse.c).
 */
#define PLAN_INPUT_AREA 0x10000ull
/* Of it, items use at most PLAN_INPUT_ITEMS bytes; its last two words are
 * the reset path's (worker/trampoline.c), which only pith writes:
 * PLAN_INPUT_MAPPED non-zero when the running instance has mapped inputs
 * (the exit path unmaps them before the park), PLAN_INPUT_UNMAP non-zero
 * when the instance that parked had some (the reset unmaps them after the
 * park, in case the function jumped to the park past the first unmapping). */
#define PLAN_INPUT_ITEMS (PLAN_INPUT_AREA - 64)
#define PLAN_INPUT_MAPPED (PLAN_INPUT_AREA - 8)
#define PLAN_INPUT_UNMAP (PLAN_INPUT_AREA - 16)
/*
 * With PLAN_F_WSEG, a warm worker maps its image's writable segments
 * (.data, .bss) MAP_SHARED from the context memfd instead of MAP_PRIVATE
 * from the image: the writable segments in address order, each its memsz,
 * from PLAN_WSEG_OFF(context_size) on. pith keeps their pristine bytes
 * right after them (never mapped by the worker) and copies those back over
 * them at each park, as it zeroes the context: the reset path makes no
 * madvise and the next instance's first stores take no fault.
 */
#define PLAN_WSEG_OFF(context_size) ((context_size) + PLAN_INPUT_AREA)
/* The call that ends an instance of a warm worker and parks it: a user
 * notification (never allowed) at the trampoline's park address. */
#define PLAN_PARK_NR 34		/* pause */

/*
 * The block the loader leaves at the top of the context stack: its last
 * code unmaps the unmap[] ranges (everything but what the function keeps
 * and the loader's window), then the trampoline unmaps the loader's window
 * (its code and data: loader_text, loader_text_len here), closes fd 0 and
 * zeroes the block before jumping to the function. A zygote's child has
 * neither to unmap (its zygote unmapped the rest once, and no page of the
 * loader is passed on): its setup enters the trampoline at tramp_close.
 */
struct plan_handoff {
	__u64 n_unmap;
	__u64 entry;
	__u64 stack_top;
	__u64 loader_text;
	__u64 loader_text_len;
	__u64 block;		/* address of this block */
	__u64 block_size;	/* bytes to zero, a multiple of 8 */
	__u64 unmap[];		/* n_unmap pairs of (addr, len) */
};

#define PLAN_MAX_UNMAP (PLAN_MAX_SEGMENTS + 8)

/* The loader's last message before the trampoline: the function is about
 * to start, at this CLOCK_MONOTONIC time. */
#define PLAN_READY_MAGIC 0x59444552u /* "REDY" */
struct plan_ready {
	__u32 magic;
	__u32 pad;
	__u64 now_ns;
};

#endif
