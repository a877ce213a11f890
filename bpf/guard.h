/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Types shared by the guard BPF programs (bpf/guard.bpf.c) and their
 * userspace loader (userspace/sandbox/guard.c). No includes: the includer
 * provides __u32/__u64 (vmlinux.h in BPF, <linux/types.h> in userspace).
 */
#ifndef PITH_BPF_GUARD_H
#define PITH_BPF_GUARD_H

/*
 * The worker loader arms the guard for its process with one marker syscall,
 * its last before it jumps to the function: close(GUARD_ARM_ARG0). No fd can
 * have that number (it is far above fs.nr_open's limit), so the call is an
 * EBADF no-op. From that syscall on, the process is held to the function's
 * allow list; before it, the loader's own syscalls pass. The marker can be
 * changed with guard_opts.arm_nr/arm_arg0.
 */
#define GUARD_ARM_NR_DEFAULT 3 /* __NR_close on x86-64 */
#define GUARD_ARM_ARG0_DEFAULT 0x70697468ull /* "pith" */

/* Syscall numbers the allow bitmap covers; anything above is forbidden. */
#define GUARD_NR_MAX 512
/* Calls allowed only at one instruction pointer each (the warm reset path
 * of pith's trampoline). */
#define GUARD_MAX_PINNED 8
/* Slots of armed_cnt (guard.bpf.c): a power of two. */
#define GUARD_ARMED_SLOTS 4096
#define GUARD_FN_LEN 32
#define GUARD_COMM_LEN 16

enum guard_kind {
	GUARD_KIND_SYSCALL = 1, /* raw_tp/sys_enter: call outside the list */
	GUARD_KIND_LSM = 2,	/* lsm_cgroup hook refused an operation */
	GUARD_KIND_SOCK = 3,	/* cgroup/sock_create refused a socket */
};

enum guard_action {
	GUARD_ACT_AUDIT = 0, /* recorded only */
	GUARD_ACT_KILL = 1,  /* SIGKILL sent to the worker's thread group */
	GUARD_ACT_DENY = 2,  /* operation failed with -err */
};

/* LSM hooks, in the order of the lsm_cgroup programs. */
enum guard_hook {
	GUARD_HOOK_NONE = 0,
	GUARD_HOOK_FILE_OPEN,
	GUARD_HOOK_SOCKET_CREATE,
	GUARD_HOOK_BPRM_CHECK,
	GUARD_HOOK_TASK_ALLOC,
	GUARD_HOOK_MMAP_FILE,
	GUARD_HOOK_FILE_MPROTECT,
	GUARD_HOOK_PTRACE,
	GUARD_HOOK_TASK_KILL,
	GUARD_HOOK_BPF,
	GUARD_HOOK_PERF_EVENT_OPEN,
	GUARD_HOOK_SOCK_CREATE, /* cgroup/sock_create, not an LSM hook */
	GUARD_HOOK_MAX,
};

/* guard_event.flags */
#define GUARD_EV_COMPAT 0x1 /* i386 syscall (int $0x80): nr is an i386 number */

/* One ring buffer record. */
struct guard_event {
	__u64 ts_ns;	 /* CLOCK_MONOTONIC */
	__u64 cgroup_id;
	__u64 args[6];	 /* syscall arguments; sock_create: family, type,
			    protocol */
	__u32 tgid;	 /* pith names the worker by it as it reads the
			    event (function, stage, instance) */
	__u32 tid;
	__s32 nr;	 /* syscall number, -1 when unknown */
	__u32 kind;	 /* enum guard_kind */
	__u32 hook;	 /* enum guard_hook */
	__u32 action;	 /* enum guard_action */
	__s32 err;	 /* errno of a denial (positive), else 0 */
	__u32 flags;	 /* GUARD_EV_* */
	char comm[GUARD_COMM_LEN];
};

/* Key of pith_pinned: a call allowed at one address (the instruction
 * pointer after its syscall instruction). */
struct guard_pinned {
	__u64 ip;
	__s64 nr;
};

/* One slot of the armed state by tgid % GUARD_ARMED_SLOTS (guard.bpf.c,
 * armed_slots): shared with pith, which forgets dead workers. */
struct guard_armed_slot {
	__u32 tgid; /* the process armed here (direct entry), or 0 */
	__u32 cnt;  /* pith_armed's entries of this slot's tgids, at least */
};

/* Key of pith_fn_cnt: violations per function and syscall/hook. */
struct guard_fn_key {
	char fn[GUARD_FN_LEN];
	__s32 nr;
	__u32 hook;
};

#endif
