/* SPDX-License-Identifier: MIT */
/*
 * The eBPF layer of the sandbox: loads bpf/guard.bpf.c once, scoped to the
 * worker cgroup, kills (or audits) syscalls outside the function's allow
 * list, refuses sockets, denies hostile operations through BPF-LSM where
 * the kernel offers it, and delivers every violation as an event.
 * See Documentation/bpf.md.
 */
#ifndef PITH_SANDBOX_BPF_GUARD_H
#define PITH_SANDBOX_BPF_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>

#include "lib/err.h"
#include "../../bpf/guard.h"

enum guard_mode {
	GUARD_ENFORCE = 0, /* kill at syscall entry, deny in LSM/sock hooks */
	GUARD_AUDIT,	   /* record and count only */
};

enum guard_attach {
	/* The syscall-entry program is attached only between the first
	 * guard_hold() and the last guard_release(): the rest of the host
	 * pays nothing while no worker exists. */
	GUARD_ATTACH_WHILE_HELD = 0,
	GUARD_ATTACH_ALWAYS,
};

struct guard_opts {
	/* The worker cgroup (v2); its whole subtree is covered. cgroup_fd is
	 * used when cgroup_path is NULL and cgroup_fd > 0. */
	const char *cgroup_path;
	int cgroup_fd;
	enum guard_mode mode;
	enum guard_attach attach;
	/* Enforce in the LSM and sock hooks but only record at syscall
	 * entry, so a denial's errno can be observed (LSM tests). */
	bool syscall_audit_only;
	bool no_lsm; /* do not try BPF-LSM even where the kernel has it */
	/* Resolve CO-RE reads against the whole kernel BTF (as libbpf does
	 * alone) instead of bpf_btf.c's cut; tests compare the two. */
	bool full_btf;
	/* LSM hooks to act on, bits (1 << enum guard_hook); 0: all. */
	uint32_t lsm_hooks;
	/* The function's allow list; NULL: exit, exit_group, rt_sigreturn. */
	const int *allow;
	size_t n_allow;
	/* Marker syscall that arms a worker; arm_nr 0 (read) is not a valid
	 * marker and selects GUARD_ARM_NR_DEFAULT/GUARD_ARM_ARG0_DEFAULT. */
	long arm_nr;
	uint64_t arm_arg0;
	/* Calls an armed worker may make at one address each (the warm
	 * reset path): the instruction pointer after the syscall. */
	struct {
		uint64_t ip;
		long nr;
	} pinned[GUARD_MAX_PINNED];
	size_t n_pinned;
	/* Pin the counter maps in this bpffs directory (created if needed);
	 * removed by guard_free() unless keep_pins. */
	const char *pin_dir;
	bool keep_pins;
};

/* One eBPF layer as `pith doctor` shows it. */
struct guard_layer {
	const char *name; /* "bpf-syscall", "bpf-sock", "bpf-lsm" */
	bool active;
	char detail[256]; /* what is in force, or why it is unavailable */
};

#define GUARD_N_LAYERS 3

/* One violation, decoded from a guard_event. */
struct guard_violation {
	pid_t pid; /* worker process (tgid) */
	pid_t tid;
	enum guard_kind kind;
	enum guard_hook hook;
	enum guard_action action;
	int err;	     /* errno of a denial, else 0 */
	long nr;	     /* syscall number, -1 when unknown */
	bool compat;	     /* nr is an i386 number (int $0x80) */
	const char *syscall; /* its x86-64 name, or NULL */
	uint64_t args[6];
	char comm[GUARD_COMM_LEN];
	/* As given to guard_worker_add() for pid when pith read the event,
	 * or ""/0/0 when pith had not named it. */
	char fn[GUARD_FN_LEN];
	uint32_t stage;
	uint64_t instance;
	uint64_t cgroup_id;
	uint64_t ts_ns; /* CLOCK_MONOTONIC */
};

/* Return 0 to go on, negative to stop guard_poll() with that value. */
typedef int (*guard_event_fn)(const struct guard_violation *v, void *userdata);

struct guard;

int guard_new(const struct guard_opts *opts, struct guard **ret,
	      struct err *e);
/* Detach and unload everything; unpin unless keep_pins. NULL-safe. */
struct guard *guard_free(struct guard *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct guard *, guard_free);

/* Epoll fd, readable when events are waiting; for the event loop. */
int guard_fd(const struct guard *g);
/* Non-blocking: hand the waiting events of workers in the cgroup of id
 * cgroup_id (its inode number) to fn, or of every cgroup when cgroup_id
 * is 0; returns how many, -errno. An event is in the ring before its
 * worker dies, so polling after the worker's exit is seen never misses
 * its violation. One guard may serve several nested cgroups (a run's
 * drivers, pithd's runners, sandbox.c): a poll by cgroup reads the
 * events of the other cgroups added with guard_cgroup_add() (the guard's
 * own is added by guard_new()) into their own queues, where their own
 * poll finds them, at most one per worker (its first, the reason it
 * died) and none lost however many. A worker cannot change the cgroup
 * its events name, so one sandbox's worker never passes as another's.
 * fn runs with the guard's lock released, after the events are taken
 * (in their order): it may call the guard (guard_worker_add()). Those
 * after a stop go back first in their queues, for a later poll.
 * Thread-safe, as are guard_cgroup_add(), guard_cgroup_del(),
 * guard_hold(), guard_release(), guard_worker_add() and
 * guard_worker_reaped() on a shared guard. */
int guard_poll(struct guard *g, uint64_t cgroup_id, guard_event_fn fn,
	       void *userdata);
/* Keep the events of cgroup_id for its poll / drop them and its queue
 * (when its sandbox ends). 0 or -ENOMEM. */
int guard_cgroup_add(struct guard *g, uint64_t cgroup_id);
void guard_cgroup_del(struct guard *g, uint64_t cgroup_id);

/* Call before spawning a worker / after reaping it (attach policy). */
int guard_hold(struct guard *g, struct err *e);
void guard_release(struct guard *g);
/* Whether the syscall-entry program is attached right now. */
bool guard_attached(const struct guard *g);

/* Name a worker in events and per-function counters; forget it at reap.
 * The name is kept in pith's memory, no system call, and given to the
 * worker's events as pith reads them from the ring (no program reads
 * it). pith names a warm worker again only when its function or stage
 * changes: its events then carry the instance it was named with (pith
 * reads them at each instance's end). 0 or -ENOMEM. */
int guard_worker_add(struct guard *g, pid_t pid, const char *fn,
		     uint32_t stage, uint64_t instance);
/* Forget a worker pith reaped (its pid may be a new process's from now
 * on): its armed state only while the programs are detached (a system
 * call then; attached, the exit program forgot it at its exit, and a
 * deletion after the reap could disarm a new worker of that pid). Its
 * events are all in the ring (each is there before its worker dies):
 * they are read now, named, into their cgroups' queues for their polls,
 * and the name goes; a new worker of that pid is never given it. When
 * another worker's event still being written stops the reader, the name
 * goes once the reader is past it. */
void guard_worker_reaped(struct guard *g, pid_t pid);
/* The same, for a worker pith ends (warm.c, proc.c's kill path). */
void guard_worker_del(struct guard *g, pid_t pid);

/* Fill up to max layers (GUARD_N_LAYERS). g may be NULL: then each layer is
 * unavailable and says why (probed once, cached). Returns how many. */
size_t guard_layers(const struct guard *g, struct guard_layer *layers,
		    size_t max);

/* Violations per syscall (per_nr[GUARD_NR_MAX + 1], the last slot counts
 * numbers beyond) and per hook (per_hook[GUARD_HOOK_MAX]); either NULL. */
int guard_counts(const struct guard *g, uint64_t *per_nr, uint64_t *per_hook);
/* Violations of the function named fn (as given to guard_worker_add(), ""
 * for unnamed workers) at syscall nr / hook; 0 when none. i386 syscalls
 * count under nr -1. pith counts an event as it reads it and names its
 * worker: the events still in the ring are read first (into their
 * cgroups' queues). One dropped for a full ring (guard_dropped()) is in
 * guard_counts() but in no function's count. */
uint64_t guard_fn_count(struct guard *g, const char *fn, long nr,
			enum guard_hook hook);
/* Kernel ids of the loaded programs (for `bpftool prog show id N`);
 * returns how many were written. */
size_t guard_prog_ids(const struct guard *g, unsigned int *ids, size_t max);
/* Whether the programs' CO-RE reads were resolved against the few kernel
 * structures bpf_btf.c cuts out (true) or the whole kernel BTF. */
bool guard_small_btf(const struct guard *g);
/* Events lost because the ring buffer was full. */
uint64_t guard_dropped(const struct guard *g);

/* What the kernel and our privileges allow, read once and cached
 * (bpf_guard_probe.c). The load attempt itself is the final word; these facts
 * explain a failure. */
struct guard_probe {
	bool privileged;   /* CAP_BPF+CAP_PERFMON, or CAP_SYS_ADMIN */
	bool btf;	   /* /sys/kernel/btf/vmlinux */
	int config_bpf_lsm; /* CONFIG_BPF_LSM: 1 y, 0 not set, -1 unknown */
	int lsm_has_bpf;   /* "bpf" in the active LSMs: 1, 0, -1 unknown */
	char lsm_list[160]; /* /sys/kernel/security/lsm, or why unreadable */
	char lockdown[48];  /* "none", "integrity", "confidentiality", "" */
};
const struct guard_probe *guard_probe(void);

const char *guard_syscall_name(long nr); /* NULL when unknown */
const char *guard_hook_name(enum guard_hook hook);
/* "killed: forbidden syscall openat (257) args (...)"; returns
 * snprintf's result. */
int guard_violation_format(const struct guard_violation *v, char *buf,
			   size_t len);

#endif
