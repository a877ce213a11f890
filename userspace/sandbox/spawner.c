// SPDX-License-Identifier: MIT
/*
 * The spawner thread and the clone child. Starting a worker: the plan and
 * its fds are in a socketpair (spawn.c); the spawner thread (which carries
 * the compiled seccomp program) runs
 * clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_INTO_CGROUP); the child, on
 * a small stack of its own and with raw system calls only (it shares pith's
 * memory), lowers its rlimits, drops every privilege and exec's the static
 * pith-worker loader with the socket as its only fd.
 *
 * Every system call instruction the spawner and the child execute is in the
 * pith_spawn section (SPAWN_TEXT): the seccomp program trusts calls from
 * there, and pith's memory never exists in a worker after its execve. This
 * is the only file with code in that section. Which CPU the child starts on
 * is place.c's decision, made by pith's thread around the request: the
 * spawner and the child make the same calls either way.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/internal.h"
#include "sandbox/raw.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define SPAWN_TEXT                                                  \
	__attribute__((section("pith_spawn"), noinline,              \
		       no_sanitize("address", "undefined")))

/* long pith_clone3(struct clone_args *, size_t, int (*fn)(void *), void *):
 * the child runs fn(arg) on the new stack and exits with its value. */
long pith_clone3(struct clone_args *args, size_t size, int (*fn)(void *),
		 void *arg);
__asm__(".pushsection pith_spawn,\"ax\",@progbits\n"
	".globl pith_clone3\n"
	".type pith_clone3,@function\n"
	"pith_clone3:\n"
	"	mov %rdx, %r9\n"	/* fn: kept by the kernel in the child */
	"	mov %rcx, %r8\n"	/* arg */
	"	mov $435, %eax\n"	/* __NR_clone3 */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	xor %ebp, %ebp\n"
	"	mov %r8, %rdi\n"
	"	call *%r9\n"
	"	mov %eax, %edi\n"
	"	mov $60, %eax\n"	/* exit: this task only */
	"	syscall\n"
	"	ud2\n"
	"1:	ret\n"
	".size pith_clone3, .-pith_clone3\n"
	".popsection\n");
_Static_assert(SYS_clone3 == 435, "clone3 number");

struct child_args {
	int sock, loader_fd;
	bool drop_ids;
	bool pgrp;		/* a process group of its own (a zygote's) */
	pid_t ppid;
	struct rlimit core, cpu, nofile, nproc;
	char *const *argv, *const *envp;
	/* Written by the child when it fails before exec. */
	const char *step;
	int err;
};

#define CHILD_TRY(a, what, expr)                \
	do {                                    \
		long _r = (expr);               \
		if (_r < 0) {                   \
			(a)->step = (what);     \
			(a)->err = (int)-_r;    \
			return 127;             \
		}                               \
	} while (0)

/*
 * Runs in the clone3 child, which shares pith's memory until execveat: raw
 * system calls only (no errno, no locks, no malloc), every signal blocked.
 */
SPAWN_TEXT static int child_main(void *arg)
{
	struct child_args *a = arg;

	/* The default persona, whatever pith runs under (execve of a 64-bit
	 * ELF already drops READ_IMPLIES_EXEC; the other flags persist). */
	CHILD_TRY(a, "personality",
		  raw_syscall1(SYS_personality, 0 /* PER_LINUX */));
	CHILD_TRY(a, "RLIMIT_CORE",
		  raw_syscall4(SYS_prlimit64, 0, RLIMIT_CORE, &a->core, 0));
	CHILD_TRY(a, "RLIMIT_CPU",
		  raw_syscall4(SYS_prlimit64, 0, RLIMIT_CPU, &a->cpu, 0));
	CHILD_TRY(a, "RLIMIT_NOFILE",
		  raw_syscall4(SYS_prlimit64, 0, RLIMIT_NOFILE, &a->nofile, 0));
	if (a->drop_ids) {
		/* One call instead of 41 PR_CAPBSET_DROPs (~25 us): uid 0
		 * never means privilege again, the uid change below clears
		 * every capability and nothing can keep or raise one. */
		CHILD_TRY(a, "PR_SET_SECUREBITS",
			  raw_syscall2(SYS_prctl, PR_SET_SECUREBITS,
				       SANDBOX_SECUREBITS));
		CHILD_TRY(a, "setgroups", raw_syscall2(SYS_setgroups, 0, 0));
		CHILD_TRY(a, "setresgid",
			  raw_syscall3(SYS_setresgid, SANDBOX_WORKER_GID,
				       SANDBOX_WORKER_GID, SANDBOX_WORKER_GID));
		CHILD_TRY(a, "setresuid",
			  raw_syscall3(SYS_setresuid, SANDBOX_WORKER_UID,
				       SANDBOX_WORKER_UID, SANDBOX_WORKER_UID));
	}
	/* After the uid change: set before it, the limit would make the
	 * kernel refuse our own execve (PF_NPROC_EXCEEDED). */
	CHILD_TRY(a, "RLIMIT_NPROC",
		  raw_syscall4(SYS_prlimit64, 0, RLIMIT_NPROC, &a->nproc, 0));
	CHILD_TRY(a, "PR_SET_NO_NEW_PRIVS",
		  raw_syscall5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	/* After the uid change, which clears it. */
	CHILD_TRY(a, "PR_SET_PDEATHSIG",
		  raw_syscall2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL));
	if (raw_syscall0(SYS_getppid) != a->ppid)
		CHILD_TRY(a, "parent died", -ESRCH);
	/* Before pith hears of it: pith waits for its children's exits by
	 * this group (reap.c, reap_watch_group()). */
	if (a->pgrp)
		CHILD_TRY(a, "setpgid", raw_syscall2(SYS_setpgid, 0, 0));
	if (a->sock != PLAN_SOCK_FD)
		CHILD_TRY(a, "dup3 socket",
			  raw_syscall3(SYS_dup3, a->sock, PLAN_SOCK_FD, 0));
	else
		CHILD_TRY(a, "F_SETFD socket",
			  raw_syscall3(SYS_fcntl, PLAN_SOCK_FD, F_SETFD, 0));
	CHILD_TRY(a, "dup3 loader",
		  raw_syscall3(SYS_dup3, a->loader_fd, 1, O_CLOEXEC));
	CHILD_TRY(a, "close_range",
		  raw_syscall3(SYS_close_range, 2, ~0U, 0));
	CHILD_TRY(a, "execveat",
		  raw_syscall5(SYS_execveat, 1, "", a->argv, a->envp,
			       AT_EMPTY_PATH));
	return 127;
}

/* What one request to the spawner carries. */
struct spawn_args {
	struct clone_args ca;
	struct child_args child;
};

RAW_INLINE long futex(uint32_t *word, int op, uint32_t val)
{
	return raw_syscall4(SYS_futex, word, op, val, 0);
}

/* The spawner thread: install the program once, then serve requests. */
SPAWN_TEXT static int spawner_main(void *arg)
{
	struct spawner *s = arg;
	uint32_t seen = 0;

	if (s->prog) {
		long r = raw_syscall5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0,
				      0);

		if (r >= 0)
			r = raw_syscall3(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
					 SECCOMP_FILTER_FLAG_NEW_LISTENER,
					 s->prog);
		s->listener = (int)r;
	}
	__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
	futex(&s->done, FUTEX_WAKE_PRIVATE, 1);
	if (s->listener < 0 && s->prog)
		return 0;
	for (;;) {
		uint32_t req = __atomic_load_n(&s->req, __ATOMIC_ACQUIRE);
		struct spawn_args *a;

		if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
			return 0;
		if (req == seen) {
			futex(&s->req, FUTEX_WAIT_PRIVATE, seen);
			continue;
		}
		seen = req;
		a = s->args;
		s->result = pith_clone3(&a->ca, sizeof(a->ca), child_main,
					&a->child);
		__atomic_store_n(&s->done, seen + 1, __ATOMIC_RELEASE);
		futex(&s->done, FUTEX_WAKE_PRIVATE, 1);
	}
}

static void wait_word(uint32_t *word, uint32_t want)
{
	uint32_t v;

	while ((v = __atomic_load_n(word, __ATOMIC_ACQUIRE)) != want)
		syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, v, NULL);
}

int spawner_start(struct sandbox *sb, struct err *e)
{
	struct spawner *s = &sb->spawner;
	struct sock_fprog *prog = NULL;
	sigset_t all, old;
	long r;

	s->stack_size = 64 << 10;
	s->stack = mmap(NULL, s->stack_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (s->stack == MAP_FAILED) {
		s->stack = NULL;
		return err_errno(e, errno, "cannot map the spawner's stack");
	}
	if (sb->n_filter) {
		prog = malloc(sizeof(*prog));
		if (!prog)
			return err_set(e, ENOMEM, "out of memory");
		prog->len = (unsigned short)sb->n_filter;
		prog->filter = (struct sock_filter *)sb->filter;
	}
	s->prog = prog;
	s->listener = -1;
	zygote_init(sb);
	place_init(s);
	pthread_mutex_init(&s->lock, NULL);
	/* A raw thread: every signal blocked (inherited from us, kept for
	 * good, and passed on to the workers until their loader resets it). */
	struct clone_args ca = {
		.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			 CLONE_THREAD | CLONE_SYSVSEM | CLONE_PARENT_SETTID |
			 CLONE_CHILD_CLEARTID,
		.parent_tid = (uintptr_t)&s->tid,
		.child_tid = (uintptr_t)&s->tid,
		.stack = (uintptr_t)s->stack,
		.stack_size = s->stack_size,
	};
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pith_clone3(&ca, sizeof(ca), spawner_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return err_errno(e, (int)-r, "cannot start the spawner thread");
	s->started = true;
	wait_word(&s->done, 1);
	if (prog && s->listener < 0)
		return err_errno(e, s->listener, "cannot install the seccomp program");
	return 0;
}

void spawner_stop(struct sandbox *sb)
{
	struct spawner *s = &sb->spawner;
	pid_t tid;

	/* Before the spawner ends: its end would PDEATHSIG them anyway. */
	zygote_stop(sb);
	if (s->started) {
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		__atomic_add_fetch(&s->req, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &s->req, FUTEX_WAKE_PRIVATE, 1);
		/* CLONE_CHILD_CLEARTID: 0 and a wake-up once it is gone. */
		while ((tid = __atomic_load_n(&s->tid, __ATOMIC_ACQUIRE)))
			syscall(SYS_futex, &s->tid, FUTEX_WAIT, tid, NULL);
		pthread_mutex_destroy(&s->lock);
		s->started = false;
	}
	if (s->stack)
		munmap(s->stack, s->stack_size);
	s->stack = NULL;
	if (s->listener >= 0)
		close(s->listener);
	s->listener = -1;
	free((void *)s->prog);
	s->prog = NULL;
}

/* Have the spawner run clone3 for us, its child starting on cpu (or where
 * the kernel puts it, cpu < 0); returns clone3's result and, in *ret_cpu,
 * the CPU the child was confined to (-1: none). */
static long spawner_call(struct spawner *s, struct spawn_args *a, int cpu,
			 int *ret_cpu)
{
	uint32_t seq;
	long r;

	pthread_mutex_lock(&s->lock);
	place_spawner(s, cpu);
	*ret_cpu = s->cpu;
	s->args = a;
	seq = __atomic_add_fetch(&s->req, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &s->req, FUTEX_WAKE_PRIVATE, 1);
	wait_word(&s->done, seq + 1);
	r = s->result;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void spawner_cpu_limit(const struct sandbox_proc *p, uint64_t lim[2])
{
	rlim_t cpu = (rlim_t)((p->timeout_ms + 999) / 1000);

	/* SIGXCPU at the soft limit names the reason; SIGKILL one second
	 * later if it is ignored. */
	lim[0] = MAX(cpu, (rlim_t)1);
	lim[1] = lim[0] + 1;
}

/* A clone child that failed before exec: reap it, say which step. */
static int child_failed(int pidfd, const struct child_args *c, struct err *e)
{
	siginfo_t si;

	waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | __WALL);
	return err_errno(e, c->err, "cannot start the worker: %s", c->step);
}

/*
 * A zygote (zygote.c) starts as a worker does, with the limits it needs to
 * fork its children: pith's own RLIMIT_CPU and RLIMIT_NPROC (a child sets
 * its instance's CPU limit and RLIMIT_NPROC 0 before anything else of it
 * runs), room for its slots' descriptors (its soft limit then 0, which
 * its children inherit: worker/main.c zygote_nofile()), and a
 * process group of its own, which its children join (CLONE_PARENT keeps
 * the caller's group): pith hears their exits by that group.
 */
int spawner_start_zygote(struct sandbox *sb, int sock, pid_t *ret_pid,
			 int *ret_pidfd, struct err *e)
{
	static char *const argv[] = { "pith-worker", NULL };
	static char *const envp[] = { NULL };
	char stack[16384] __attribute__((aligned(64)));
	struct rlimit cpu, nproc, nofile_max;
	rlim_t nofile = 2 + 3 + PLAN_MAX_INPUTS;
	int pidfd = -1, confined;
	long pid;

	if (getrlimit(RLIMIT_CPU, &cpu) < 0 ||
	    getrlimit(RLIMIT_NPROC, &nproc) < 0 ||
	    getrlimit(RLIMIT_NOFILE, &nofile_max) < 0)
		return err_errno(e, errno, "getrlimit");
	nofile = MIN(nofile, nofile_max.rlim_max);
	struct spawn_args a = {
		.ca = {
			.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD,
			.pidfd = (uintptr_t)&pidfd,
			.exit_signal = 0,
			.stack = (uintptr_t)stack,
			.stack_size = sizeof(stack),
		},
		.child = {
			.sock = sock,
			.loader_fd = sb->loader_fd,
			.drop_ids = sb->drop_ids,
			.pgrp = true,
			.ppid = sb->pid,
			.core = { 0, 0 },
			.cpu = cpu,
			.nofile = { nofile, nofile },
			.nproc = nproc,
			.argv = argv,
			.envp = envp,
		},
	};

	if (sb->cgroup_fd >= 0) {
		a.ca.flags |= CLONE_INTO_CGROUP;
		a.ca.cgroup = (uint64_t)sb->cgroup_fd;
	}
	pid = spawner_call(&sb->spawner, &a, -1, &confined);
	if (pid < 0)
		return err_errno(e, (int)-pid, "clone3");
	if (a.child.step)
		return child_failed(pidfd, &a.child, e);
	*ret_pid = (pid_t)pid;
	*ret_pidfd = pidfd;
	return 0;
}

int spawner_start_worker(struct sandbox_proc *p, int child_sock,
			 struct err *e)
{
	struct sandbox *sb = p->sb;
	static char *const argv[] = { "pith-worker", NULL };
	static char *const envp[] = { NULL };
	/* The child's stack; the spawner is suspended (CLONE_VFORK) while the
	 * child uses it, and we wait for the spawner. */
	char stack[16384] __attribute__((aligned(64)));
	uint64_t cpu[2];
	struct rlimit nofile_max;
	struct spawn_args a = {
		.ca = {
			.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD,
			.pidfd = (uintptr_t)&p->pidfd,
			/* No SIGCHLD: pith's handlers stay out of it. */
			.exit_signal = 0,
			.stack = (uintptr_t)stack,
			.stack_size = sizeof(stack),
		},
		.child = {
			.sock = child_sock,
			.loader_fd = sb->loader_fd,
			.drop_ids = sb->drop_ids,
			.ppid = sb->pid,
			.core = { 0, 0 },
			/* .cpu: spawner_cpu_limit(), below */
			/* A warm worker gets its next instances' fds from
			 * pith (warm.c); its CPU limit is set once, here, and
			 * it serves while its CPU so far and the next
			 * instance's timeout fit (check_cpu_budget()). */
			/* (+ 1: a fresh instance's input area's.) */
			.nofile = { 2 + 2 + proc_area_fd(p) + p->n_input_fds,
				    2 + 2 + proc_area_fd(p) + p->n_input_fds },
			.nproc = { 0, 0 },
			.argv = argv,
			.envp = envp,
		},
	};
	long pid;
	int here, confined;

	spawner_cpu_limit(p, cpu);
	a.child.cpu = (struct rlimit){ cpu[0], cpu[1] };
	if (p->warm) {
		/* One second of slack: the instances it serves share it
		 * (warm.c, check_cpu_budget()). */
		a.child.cpu.rlim_cur++;
		a.child.cpu.rlim_max++;
		p->cpu_soft = a.child.cpu.rlim_cur;
		a.child.nofile.rlim_cur = a.child.nofile.rlim_max =
			PLAN_WARM_INPUT_FD + 2 + PLAN_MAX_INPUTS;
	}
	/* Never above pith's own hard limit: raising it needs a privilege the
	 * child has dropped, and the spawn would fail (ulimit -n 1024). */
	if (getrlimit(RLIMIT_NOFILE, &nofile_max) == 0 &&
	    a.child.nofile.rlim_max > nofile_max.rlim_max)
		a.child.nofile.rlim_cur = a.child.nofile.rlim_max =
			nofile_max.rlim_max;
	if (sb->cgroup_fd >= 0) {
		a.ca.flags |= CLONE_INTO_CGROUP;
		a.ca.cgroup = (uint64_t)sb->cgroup_fd;
	}
	/* On our CPU for a lone instance (place.c). */
	here = place_before_spawn(p);
	pid = spawner_call(&sb->spawner, &a, here, &confined);
	place_after_spawn(p, pid, here, confined, !a.child.step);
	if (pid < 0)
		return err_errno(e, (int)-pid, "clone3");
	p->pid = (pid_t)pid;
	if (a.child.step) {
		p->finished = true; /* reaped */
		return child_failed(p->pidfd, &a.child, e);
	}
	return 0;
}
