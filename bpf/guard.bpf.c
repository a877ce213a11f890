// SPDX-License-Identifier: GPL-2.0-only
/*
 * pith's second sandbox wall: kills (or audits) syscalls outside the
 * function's allow list at syscall entry, refuses sockets in the worker
 * cgroup, and, where BPF-LSM runs, denies hostile operations per cgroup.
 * Loaded by userspace/sandbox/guard.c; see Documentation/bpf.md.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "guard.h"

#define EPERM 1
#define SIGKILL 9
#define PROT_EXEC 0x4
#define NR_SOCKET 41 /* x86-64 */
#define TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h */

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load. */
const volatile __u64 allow_bits[GUARD_NR_MAX / 64] = {};
const volatile __s64 arm_nr = GUARD_ARM_NR_DEFAULT;
const volatile __u64 arm_arg0 = GUARD_ARM_ARG0_DEFAULT;
const volatile bool kill_syscalls = true; /* false: audit only */
const volatile bool deny_lsm = true;	  /* false: LSM hooks audit only */
const volatile bool deny_sock = true;
/* Bit (1 << enum guard_hook) set: that LSM hook is enforced/audited. */
const volatile __u32 lsm_hooks = ~0u;

/*
 * Calls allowed at one address each: ip is the address after the syscall
 * instruction (pt_regs->ip at entry). Filled by the loader after load and
 * frozen before anything is attached (bpf_guard.c, pin_calls()): neither a
 * program nor a process can change it afterwards, as .rodata. A lookup,
 * not a comparison per slot of .rodata settings: those were two states
 * per slot for the verifier to follow through the rest of the program,
 * ~0.5 ms of every start (benchmarks/startup.md, "The guard's start-up
 * cost (round 9, branch quality9)").
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GUARD_MAX_PINNED);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, struct guard_pinned);
	__type(value, __u8);
} pith_pinned SEC(".maps");

/* Events the ring buffer had no room for. */
__u64 dropped = 0;

/* Index 0: the worker cgroup; its descendants are covered too. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} pith_cgroup SEC(".maps");

/* tgid -> CLOCK_MONOTONIC ns of the marker: the process runs its function. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} pith_armed SEC(".maps");

/*
 * The armed state by slot, tgid % GUARD_ARMED_SLOTS: a process arms in
 * its slot's direct entry when the slot has none (one compare-and-swap
 * and a store, where an entry in pith_armed was a hash update of ~0.5
 * us, cold), else in pith_armed. cnt is at least the number of
 * pith_armed's entries of the slot's tgids: added to before an entry is
 * made, taken from only after a deletion that found one (here, or by
 * pith: bpf_guard.c, armed_forget()). So a call whose slot holds neither
 * its tgid nor a count learns from one line (8 consecutive pids share
 * it) that its process is not armed: every call of a process outside
 * the worker cgroup and of a worker before its marker ends there. A
 * direct entry is taken only by a compare-and-swap from 0 and cleared
 * only for its own tgid (its exit, a stale entry found by the next
 * process of that tgid, pith forgetting a dead worker), so no process
 * clears another's. A count left too high, or a dead worker's direct
 * entry never cleared (it died with the exit program detached) costs
 * only the lookup, or sends the slot's next arming to pith_armed.
 */
struct guard_armed_slot armed_slots[GUARD_ARMED_SLOTS] = {};
/* CLOCK_MONOTONIC ns of each direct entry's marker. */
__u64 armed_at[GUARD_ARMED_SLOTS] = {};

static __always_inline struct guard_armed_slot *armed_slot(__u32 tgid)
{
	return &armed_slots[tgid & (GUARD_ARMED_SLOTS - 1)];
}

/* Whether tgid may be armed: its slot's direct entry, or a count. */
static __always_inline bool maybe_armed(__u32 tgid)
{
	struct guard_armed_slot *s = armed_slot(tgid);

	return *(volatile __u32 *)&s->tgid == tgid ||
	       *(volatile __u32 *)&s->cnt;
}

/* Delete tgid's pith_armed entry; if there was one, take it from its
 * slot's count. */
static __always_inline void armed_delete(__u32 tgid)
{
	if (bpf_map_delete_elem(&pith_armed, &tgid) == 0)
		__sync_fetch_and_add(&armed_slot(tgid)->cnt, -1);
}

/* Forget tgid's armed state, wherever it is. */
static __always_inline void armed_forget(__u32 tgid)
{
	struct guard_armed_slot *s = armed_slot(tgid);

	if (*(volatile __u32 *)&s->tgid == tgid)
		__sync_val_compare_and_swap(&s->tgid, tgid, 0);
	if (*(volatile __u32 *)&s->cnt)
		armed_delete(tgid);
}

/* Arm tgid at now: its slot's direct entry if free, else pith_armed.
 * 0, or -errno (pith_armed full). */
static __always_inline long arm(__u32 tgid, __u64 now)
{
	__u32 i = tgid & (GUARD_ARMED_SLOTS - 1);

	if (__sync_val_compare_and_swap(&armed_slots[i].tgid, 0, tgid) == 0) {
		armed_at[i] = now;
		return 0;
	}
	/* Counted before the entry exists. */
	__sync_fetch_and_add(&armed_slots[i].cnt, 1);
	return bpf_map_update_elem(&pith_armed, &tgid, &now, BPF_ANY);
}

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} pith_events SEC(".maps");

/* Violations per syscall number (index GUARD_NR_MAX: numbers beyond).
 * Shared counters added to atomically, not per-CPU ones: a violation is
 * rare, and a per-CPU array of 513 took ~1 ms to create (an allocation
 * per element), at every start of pith. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GUARD_NR_MAX + 1);
	__type(key, __u32);
	__type(value, __u64);
} pith_sys_cnt SEC(".maps");

/* Violations per LSM hook (enum guard_hook). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GUARD_HOOK_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pith_hook_cnt SEC(".maps");

/* Violations per function and syscall/hook: counted by pith as it reads
 * each event and names its worker (bpf_guard.c, on_event()); no program
 * writes it. Here so that it is created with the guard and found by name
 * (pith-top, bpftool) as before. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct guard_fn_key);
	__type(value, __u64);
} pith_fn_cnt SEC(".maps");

static __always_inline bool in_worker_cgroup(void)
{
	return bpf_current_task_under_cgroup(&pith_cgroup, 0) == 1;
}

/*
 * Is the current process armed (running its function)? An entry made
 * before this process started belongs to a dead process that had the same
 * pid and whose exit this program did not see (the guard is attached only
 * while a job holds it, and pids wrap at pid_max): it is dropped, or the
 * new worker would be treated as armed in its loader and killed at its own
 * arming call (seen as "forbidden syscall close" with pithd running jobs
 * at once). A genuine entry is always younger than its process: the
 * process's start time is fixed at fork and the entry made after it.
 * Workers are single-threaded (clone is never allowed), so the current
 * task's start time is the process's.
 */
static __always_inline bool armed(__u32 tgid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 i = tgid & (GUARD_ARMED_SLOTS - 1);
	__u64 *t;

	if (*(volatile __u32 *)&armed_slots[i].tgid == tgid) {
		if (armed_at[i] >= task->start_time)
			return true;
		__sync_val_compare_and_swap(&armed_slots[i].tgid, tgid, 0);
	}
	if (!*(volatile __u32 *)&armed_slots[i].cnt)
		return false;
	t = bpf_map_lookup_elem(&pith_armed, &tgid);
	if (!t)
		return false;
	if (*t < task->start_time) {
		armed_delete(tgid);
		return false;
	}
	return true;
}

/* An i386 syscall (int $0x80) numbers differently: none is allowed, or
 * i386 chmod (15) would pass as rt_sigreturn. */
static __always_inline bool compat_call(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	return task->thread_info.status & TS_COMPAT;
}

static __always_inline bool syscall_allowed(long nr)
{
	__u64 n = nr;

	__u64 i;

	if (nr < 0 || n >= GUARD_NR_MAX)
		return false;
	/* The mask bounds the index in the register that indexes, which
	 * 6.1's verifier needs when the compiler reloads nr from the stack
	 * after the check (it did with -mcpu=v3); the empty asm keeps the
	 * compiler from dropping the mask as redundant with the check. */
	i = n / 64;
	asm volatile("" : "+r"(i));
	return allow_bits[i & (GUARD_NR_MAX / 64 - 1)] & (1ull << (n % 64));
}

static __always_inline bool pinned_allowed(struct pt_regs *regs, long nr)
{
	struct guard_pinned k = { .ip = BPF_CORE_READ(regs, ip), .nr = nr };

	return bpf_map_lookup_elem(&pith_pinned, &k) != NULL;
}

static __always_inline void count(__u32 *slot, void *map)
{
	__u64 *c = bpf_map_lookup_elem(map, slot);

	if (c)
		__sync_fetch_and_add(c, 1);
}

/* Reserve and fill the common part of an event; NULL when full. */
static __always_inline struct guard_event *
event_new(__u32 tgid, __u32 tid, __u32 kind, __u32 hook, __u32 action,
	  __s32 err, __s32 nr)
{
	struct guard_event *ev;

	ev = bpf_ringbuf_reserve(&pith_events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&dropped, 1);
		return NULL;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = bpf_ktime_get_ns();
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->tgid = tgid;
	ev->tid = tid;
	ev->kind = kind;
	ev->hook = hook;
	ev->action = action;
	ev->err = err;
	ev->nr = nr;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	return ev;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(pith_sys_enter, struct pt_regs *regs, long nr)
{
	__u64 id;
	__u32 tgid, slot;
	struct guard_event *ev;
	bool maybe, compat;

	id = bpf_get_current_pid_tgid();
	tgid = id >> 32;
	maybe = maybe_armed(tgid);
	/*
	 * What every call but a marker comes to below, without the cgroup
	 * check and the armed check, for a line or two: the caller's slot
	 * holds neither its tgid nor a count (armed_slots), so it is not
	 * armed, and an unarmed process's calls pass (how a call outside
	 * the cgroup, and a worker's before its marker, end); a call of the
	 * allow list passes armed or not. A marker goes on: it arms (or,
	 * armed, is checked as any call).
	 */
	if (nr != arm_nr &&
	    (!maybe || (!compat_call() && syscall_allowed(nr))))
		return 0;
	if (!in_worker_cgroup())
		return 0;
	if (!maybe || !armed(tgid)) {
		/* The loader's last syscall before the function: arm. Fail
		 * closed: a worker that cannot be armed (pith_armed full)
		 * never runs its function. */
		if (nr == arm_nr && BPF_CORE_READ(regs, di) == arm_arg0 &&
		    arm(tgid, bpf_ktime_get_ns()) < 0 && kill_syscalls)
			bpf_send_signal(SIGKILL);
		return 0;
	}
	compat = compat_call();
	if (!compat && (syscall_allowed(nr) || pinned_allowed(regs, nr)))
		return 0;

	/* Kill first: the signal is pending before the syscall body runs,
	 * which makes fork/clone fail and interruptible waits abort. */
	if (kill_syscalls)
		bpf_send_signal(SIGKILL);

	slot = !compat && nr >= 0 && nr < GUARD_NR_MAX ? nr : GUARD_NR_MAX;
	count(&slot, &pith_sys_cnt);
	ev = event_new(tgid, (__u32)id, GUARD_KIND_SYSCALL, GUARD_HOOK_NONE,
		       kill_syscalls ? GUARD_ACT_KILL : GUARD_ACT_AUDIT, 0, nr);
	if (!ev)
		return 0;
	if (compat) {
		ev->flags = GUARD_EV_COMPAT;
		ev->args[0] = (__u32)BPF_CORE_READ(regs, bx);
		ev->args[1] = (__u32)BPF_CORE_READ(regs, cx);
		ev->args[2] = (__u32)BPF_CORE_READ(regs, dx);
		ev->args[3] = (__u32)BPF_CORE_READ(regs, si);
		ev->args[4] = (__u32)BPF_CORE_READ(regs, di);
		ev->args[5] = (__u32)BPF_CORE_READ(regs, bp);
	} else {
		ev->args[0] = BPF_CORE_READ(regs, di);
		ev->args[1] = BPF_CORE_READ(regs, si);
		ev->args[2] = BPF_CORE_READ(regs, dx);
		ev->args[3] = BPF_CORE_READ(regs, r10);
		ev->args[4] = BPF_CORE_READ(regs, r8);
		ev->args[5] = BPF_CORE_READ(regs, r9);
	}
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

/* Forget a process's armed state when it dies, so its pid can be reused. */
SEC("raw_tp/sched_process_exit")
int BPF_PROG(pith_proc_exit)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	/* Only a group leader's exit ends a process. */
	if ((__u32)id == tgid)
		armed_forget(tgid);
	return 0;
}

SEC("cgroup/sock_create")
int pith_sock_create(struct bpf_sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, slot = GUARD_HOOK_SOCK_CREATE;
	struct guard_event *ev;

	count(&slot, &pith_hook_cnt);
	ev = event_new(tgid, (__u32)id, GUARD_KIND_SOCK,
		       GUARD_HOOK_SOCK_CREATE,
		       deny_sock ? GUARD_ACT_DENY : GUARD_ACT_AUDIT,
		       deny_sock ? EPERM : 0, NR_SOCKET);
	if (ev) {
		ev->args[0] = sk->family;
		ev->args[1] = sk->type;
		ev->args[2] = sk->protocol;
		bpf_ringbuf_submit(ev, 0);
	}
	return deny_sock ? 0 : 1;
}

/*
 * Verdict of an lsm_cgroup hook for the current task: 1 allows, 0 denies
 * with -EPERM. Only armed processes (running their function) are refused;
 * the loader before the marker maps and execs freely.
 */
static __always_inline int lsm_verdict(__u32 hook)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct guard_event *ev;
	struct pt_regs *regs;
	__s32 nr;

	if (!(lsm_hooks & (1u << hook)))
		return 1;
	/* Neither in its slot nor counted (armed_slots): not armed. */
	if (!maybe_armed(tgid) || !armed(tgid))
		return 1;

	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	nr = BPF_CORE_READ(regs, orig_ax);
	count(&hook, &pith_hook_cnt);
	ev = event_new(tgid, (__u32)id, GUARD_KIND_LSM, hook,
		       deny_lsm ? GUARD_ACT_DENY : GUARD_ACT_AUDIT,
		       deny_lsm ? EPERM : 0, nr);
	if (ev) {
		ev->args[0] = BPF_CORE_READ(regs, di);
		ev->args[1] = BPF_CORE_READ(regs, si);
		ev->args[2] = BPF_CORE_READ(regs, dx);
		ev->args[3] = BPF_CORE_READ(regs, r10);
		ev->args[4] = BPF_CORE_READ(regs, r8);
		ev->args[5] = BPF_CORE_READ(regs, r9);
		bpf_ringbuf_submit(ev, 0);
	}
	if (!deny_lsm)
		return 1;
	bpf_set_retval(-EPERM);
	return 0;
}

SEC("lsm_cgroup/file_open")
int BPF_PROG(pith_file_open, struct file *file)
{
	return lsm_verdict(GUARD_HOOK_FILE_OPEN);
}

SEC("lsm_cgroup/socket_create")
int BPF_PROG(pith_socket_create, int family, int type, int protocol, int kern)
{
	if (kern)
		return 1;
	return lsm_verdict(GUARD_HOOK_SOCKET_CREATE);
}

SEC("lsm_cgroup/bprm_check_security")
int BPF_PROG(pith_bprm_check, struct linux_binprm *bprm)
{
	return lsm_verdict(GUARD_HOOK_BPRM_CHECK);
}

SEC("lsm_cgroup/task_alloc")
int BPF_PROG(pith_task_alloc, struct task_struct *task,
	     unsigned long clone_flags)
{
	return lsm_verdict(GUARD_HOOK_TASK_ALLOC);
}

SEC("lsm_cgroup/mmap_file")
int BPF_PROG(pith_mmap_file, struct file *file, unsigned long reqprot,
	     unsigned long prot, unsigned long flags)
{
	if (!(prot & PROT_EXEC))
		return 1;
	return lsm_verdict(GUARD_HOOK_MMAP_FILE);
}

SEC("lsm_cgroup/file_mprotect")
int BPF_PROG(pith_file_mprotect, struct vm_area_struct *vma,
	     unsigned long reqprot, unsigned long prot)
{
	if (!(prot & PROT_EXEC))
		return 1;
	return lsm_verdict(GUARD_HOOK_FILE_MPROTECT);
}

SEC("lsm_cgroup/ptrace_access_check")
int BPF_PROG(pith_ptrace, struct task_struct *child, unsigned int mode)
{
	return lsm_verdict(GUARD_HOOK_PTRACE);
}

SEC("lsm_cgroup/task_kill")
int BPF_PROG(pith_task_kill, struct task_struct *p,
	     struct kernel_siginfo *info, int sig, const struct cred *cred)
{
	/* A worker may still signal itself (abort, raise). */
	if ((__u32)p->tgid == bpf_get_current_pid_tgid() >> 32)
		return 1;
	return lsm_verdict(GUARD_HOOK_TASK_KILL);
}

SEC("lsm_cgroup/bpf")
int BPF_PROG(pith_bpf, int cmd, union bpf_attr *attr, unsigned int size)
{
	return lsm_verdict(GUARD_HOOK_BPF);
}

SEC("lsm_cgroup/perf_event_open")
int BPF_PROG(pith_perf_open, struct perf_event_attr *attr, int type)
{
	return lsm_verdict(GUARD_HOOK_PERF_EVENT_OPEN);
}
