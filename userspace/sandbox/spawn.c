// SPDX-License-Identifier: MIT
/*
 * Starting a worker: the plan and its fds go into a socketpair; the spawner
 * thread (which carries the compiled seccomp program) runs
 * clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_INTO_CGROUP); the child, on
 * a small stack of its own and with raw system calls only (it shares pith's
 * memory), lowers its rlimits, drops every privilege and exec's the static
 * pith-worker loader with the socket as its only fd.
 *
 * Every system call instruction the spawner and the child execute is in the
 * pith_spawn section (SPAWN_TEXT): the seccomp program trusts calls from
 * there, and pith's memory never exists in a worker after its execve.
 *
 * CPU placement: an instance that runs alone (no other worker of this
 * sandbox alive, nor at the previous spawn: instances run one at a time)
 * is kept on the CPU of the thread that spawns it. Left to the scheduler,
 * the worker and the spawning thread end up on different CPUs (fork
 * balancing sends the child to an idle CPU; with only the spawner and its
 * child confined, the spawner's wake-up sends the waiting thread to the
 * idle CPU instead), and the vfork completion, the exit and the LRU drain
 * of sealing the context cross CPUs, which costs tens of microseconds on a
 * VM. So, for a lone instance only: the spawner is confined to the
 * caller's CPU, the child inherits that and execs there, the worker gets
 * the spawner's full CPU set back once exec'd (pith's side does that: the
 * child makes no extra call), and the calling thread stays on its CPU until
 * the worker is reaped (or another instance is spawned), then gets its own
 * affinity back. Otherwise the spawner has all of pith's CPUs and the
 * kernel spreads the workers as before: a thread kept on the CPU of a
 * running worker would wait there to spawn the next one. None of this is a
 * security layer; the child makes the same calls as without it.
 * PITH_CPU_PLACEMENT=off in the environment of sandbox_new() disables it
 * (for benchmarks).
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
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/bpf_guard.h"
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
	s->cpu = -1;
	/* The spawner inherits this thread's CPUs, and its workers do. */
	if (sched_getaffinity(0, sizeof(s->allowed), &s->allowed) == 0) {
		const char *v = secure_getenv("PITH_CPU_PLACEMENT");

		s->place = CPU_COUNT(&s->allowed) > 1 &&
			   !(v && !strcmp(v, "off"));
	}
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
	if (sb->has_spare_sock) {
		close(sb->spare_sock[0]);
		close(sb->spare_sock[1]);
		sb->has_spare_sock = false;
	}
	if (sb->has_spare_epfd)
		close(sb->spare_epfd);
	sb->has_spare_epfd = false;
	free((void *)s->prog);
	s->prog = NULL;
}

/* Confine the (sleeping) spawner to one CPU, or with cpu < 0 give it all
 * of its CPUs back; its clones inherit that. */
static void spawner_place(struct spawner *s, int cpu)
{
	cpu_set_t one;

	if (cpu == s->cpu)
		return;
	CPU_ZERO(&one);
	if (cpu >= 0)
		CPU_SET(cpu, &one);
	if (sched_setaffinity(s->tid, sizeof(one),
			      cpu >= 0 ? &one : &s->allowed) == 0)
		s->cpu = cpu;
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
	if (s->place)
		spawner_place(s, cpu);
	*ret_cpu = s->cpu;
	s->args = a;
	seq = __atomic_add_fetch(&s->req, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &s->req, FUTEX_WAKE_PRIVATE, 1);
	wait_word(&s->done, seq + 1);
	r = s->result;
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int send_plan(struct sandbox_proc *p, const struct sandbox_request *req,
		     int sock, struct err *e)
{
	const struct sandbox *sb = p->sb;
	size_t n_fds = 2 + p->n_input_fds, sent = 0;
	size_t size = sizeof(struct plan) +
		      p->n_inputs * sizeof(struct plan_input);
	_cleanup_free_ char *msg = calloc(1, size);
	_cleanup_free_ int *fds = malloc(n_fds * sizeof(int));
	const struct elf_image *img = req->image;
	struct plan *plan = (struct plan *)msg;
	struct plan_input *in;

	if (!msg || !fds)
		return err_set(e, ENOMEM, "out of memory");
	if (img->n_segments > PLAN_MAX_SEGMENTS)
		return err_set(e, E2BIG, "image has %zu segments",
			       img->n_segments);
	*plan = (struct plan){
		.magic = PLAN_MAGIC,
		.version = PLAN_VERSION,
		.n_fds = (uint32_t)n_fds,
		.n_segments = (uint32_t)img->n_segments,
		.loader_text = sb->loader_text.lo,
		.loader_text_len = sb->loader_text.hi - sb->loader_text.lo,
		.n_inputs = (uint32_t)p->n_inputs,
		.entry = img->entry,
		.context_size = p->layout.size,
		.guard_off = p->layout.guard_off,
		.altstack_off = p->layout.altstack_off,
		.altstack_size = CTX_ALTSTACK_SIZE,
		.inputs_lo = PITH_INPUT_BASE,
		.inputs_hi = PITH_INPUT_BASE,
		.flags = (p->warm ? PLAN_F_WARM : 0) |
			 (sb->fsgsbase ? PLAN_F_FSGSBASE : 0),
	};
	if (p->warm)
		plan->inputs_hi = PITH_INPUT_BASE + PLAN_INPUT_AREA;
	if (p->n_inputs)
		plan->inputs_hi = p->inputs[p->n_inputs - 1].addr +
				  p->inputs[p->n_inputs - 1].maplen;
	for (size_t i = 0; i < img->n_segments; i++)
		plan->segments[i] = (struct plan_segment){
			.vaddr = img->segments[i].vaddr,
			.memsz = img->segments[i].memsz,
			.file_off = img->segments[i].file_off,
			.prot = (uint32_t)img->segments[i].prot,
		};
	in = (struct plan_input *)(plan + 1);
	fds[0] = img->fd;
	fds[1] = p->ctx->fd;
	for (size_t i = 0; i < p->n_inputs; i++) {
		in[i] = (struct plan_input){
			.addr = p->inputs[i].addr,
			.len = p->inputs[i].maplen,
			.fd_index = 2 + p->inputs[i].fd_slot,
			.file_off = p->inputs[i].file_off,
		};
		int fd = buffer_share_fd(p->inputs[i].buf);

		if (fd < 0)
			return err_errno(e, -fd, "cannot share an input buffer");
		fds[2 + p->inputs[i].fd_slot] = fd;
	}

	while (sent < n_fds) {
		size_t k = MIN(n_fds - sent, (size_t)PLAN_FDS_PER_MSG);
		char ctl[CMSG_SPACE(PLAN_FDS_PER_MSG * sizeof(int))] = { 0 };
		char one = 0;
		struct iovec iov = sent ? (struct iovec){ &one, 1 }
					: (struct iovec){ msg, size };
		struct msghdr m = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl,
			.msg_controllen = CMSG_SPACE(k * sizeof(int)),
		};
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(k * sizeof(int));
		memcpy(CMSG_DATA(c), fds + sent, k * sizeof(int));
		if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
			return err_errno(e, errno, "cannot send the plan");
		sent += k;
	}
	return 0;
}

static int epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? negative_errno()
							   : 0;
}

/* Keep this thread on its CPU until the worker is reaped; *ret_cpu is that
 * CPU, or -1 when it cannot be pinned (then nothing is confined). */
static void pin_caller(struct sandbox_proc *p, int *ret_cpu)
{
	int cpu = sched_getcpu();
	cpu_set_t one;

	*ret_cpu = -1;
	if (cpu < 0 || sched_getaffinity(0, sizeof(p->caller_mask),
					 &p->caller_mask) < 0 ||
	    !CPU_ISSET(cpu, &p->caller_mask) ||
	    CPU_COUNT(&p->caller_mask) < 2)
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		return;
	p->pinned_tid = gettid();
	p->pinned_cpu = cpu;
	p->sb->spawner.pinner = p;
	*ret_cpu = cpu;
}

void spawn_unpin_caller(struct sandbox_proc *p)
{
	cpu_set_t now, one;

	if (!p->pinned_tid)
		return;
	/* Unless the thread has changed its affinity since. */
	CPU_ZERO(&one);
	CPU_SET(p->pinned_cpu, &one);
	if (sched_getaffinity(p->pinned_tid, sizeof(now), &now) == 0 &&
	    CPU_EQUAL(&now, &one))
		sched_setaffinity(p->pinned_tid, sizeof(p->caller_mask),
				  &p->caller_mask);
	p->pinned_tid = 0;
	if (p->sb->spawner.pinner == p)
		p->sb->spawner.pinner = NULL;
}

static int start_worker(struct sandbox_proc *p, int child_sock,
			struct err *e)
{
	struct sandbox *sb = p->sb;
	static char *const argv[] = { "pith-worker", NULL };
	static char *const envp[] = { NULL };
	/* The child's stack; the spawner is suspended (CLONE_VFORK) while the
	 * child uses it, and we wait for the spawner. */
	char stack[16384] __attribute__((aligned(64)));
	rlim_t cpu = (rlim_t)((p->timeout_ms + 999) / 1000);
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
			/* SIGXCPU at the soft limit names the reason;
			 * SIGKILL one second later if it is ignored. */
			.cpu = { MAX(cpu, (rlim_t)1), MAX(cpu, (rlim_t)1) + 1 },
			/* A warm worker gets its next instances' fds from
			 * pith (warm.c) and its CPU limit raised for each. */
			.nofile = { 2 + 2 + p->n_input_fds,
				    2 + 2 + p->n_input_fds },
			.nproc = { 0, 0 },
			.argv = argv,
			.envp = envp,
		},
	};
	long pid;
	int here = -1, confined;
	bool alone;

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
	/* Alone, and so was the previous one: this worker, the spawner and
	 * this thread share our CPU (see the top of the file). Not alone:
	 * the thread that a lone instance kept on its CPU is free again. */
	alone = sb->procs == p && !p->next;
	if (sb->spawner.place && alone && sb->spawner.last_alone)
		pin_caller(p, &here);
	else if (sb->spawner.pinner)
		spawn_unpin_caller(sb->spawner.pinner);
	sb->spawner.last_alone = alone;
	pid = spawner_call(&sb->spawner, &a, here, &confined);
	if (pid < 0 || confined != here)
		spawn_unpin_caller(p);
	if (pid < 0)
		return err_errno(e, (int)-pid, "clone3");
	p->pid = (pid_t)pid;
	/* Exec'd (CLONE_VFORK) on its CPU: free to move from now on. A
	 * failure leaves it on one CPU, which is safe. */
	if (confined >= 0 && !a.child.step)
		sched_setaffinity(p->pid, sizeof(sb->spawner.allowed),
				  &sb->spawner.allowed);
	if (a.child.step) {
		siginfo_t si;

		waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | __WALL);
		p->finished = true; /* reaped */
		return err_errno(e, a.child.err, "cannot start the worker: %s", a.child.step);
	}
	return 0;
}

/* Forks seen by this process, counted in each child (pthread_atfork), so
 * that sandbox_spawn() notices a fork without a getpid() per instance. */
static unsigned fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_child(void)
{
	fork_gen++;
}

static void fork_watch(void)
{
	pthread_atfork(NULL, NULL, fork_child);
}

unsigned sandbox_fork_gen(void)
{
	pthread_once(&fork_once, fork_watch);
	return fork_gen;
}

int sandbox_spawn(struct sandbox *sb, const struct sandbox_request *req,
		  struct sandbox_proc **ret, struct err *e)
{
	struct sandbox_request budget;
	struct sandbox_proc *p;
	int r;

	p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(e, ENOMEM, "out of memory");
	*p = (struct sandbox_proc){
		.sb = sb, .pidfd = -1, .sock = -1, .sock_peer = -1, .epfd = -1,
		.bad_syscall = -1, .guard_nr = -1, .timeout_ms = req->limits.timeout_ms,
		.start_ns = clock_now_ns(),
	};
	p->result.status = SANDBOX_RUNNING;
	p->result.syscall = -1;
	snprintf(p->fn_name, sizeof(p->fn_name), "%s", req->fn_name ? req->fn_name : "");
	p->stage = req->stage;
	p->instance = req->instance;
	p->deadline_ns = p->start_ns + req->limits.timeout_ms * 1000000ull;
	if (!req->image || req->image->fd < 0) {
		r = err_set(e, EINVAL, "no function image");
		goto fail;
	}
	/* The spawner thread exists only in the process that made it. */
	if (sandbox_fork_gen() != sb->fork_gen) {
		r = err_set(e, ECHILD,
			    "a sandbox cannot be used after fork(): create one in this process");
		goto fail;
	}
	if (req->n_outputs) {
		p->output_names = calloc(req->n_outputs, sizeof(char *));
		if (!p->output_names) {
			r = -ENOMEM;
			goto fail;
		}
		p->n_outputs = req->n_outputs;
		for (size_t i = 0; i < req->n_outputs; i++)
			if (!(p->output_names[i] = strdup(req->outputs[i]))) {
				r = -ENOMEM;
				goto fail;
			}
	}
	/* The declared memory is the whole budget: the context gets what the
	 * image's writable segments leave of it. */
	r = elf_image_check_memory(req->image, req->limits.memory, e);
	if (r < 0) {
		err_prefix(e, r, "function image");
		goto fail;
	}
	budget = *req;
	budget.limits.memory -= elf_image_writable_size(req->image);
	req = &budget;
	/* Warm unless the job says fresh: the function may end through the
	 * trampoline and its worker serve the next instance. An idle worker
	 * of the function gives the instance its (zeroed) context. */
	p->warm = sb->warm && !req->fresh;
	if (p->warm) {
		p->image = elf_image_ref((struct elf_image *)req->image);
		p->owner = req->owner;
		warm_take(p, req, ALIGN_UP(req->limits.memory, CTX_PAGE));
	}
	r = context_new(req, p, e);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < p->n_inputs; i++)
		p->in_mapped |= p->inputs[i].maplen != 0;
	if (p->warm) {
		r = warm_prepare(p);
		if (r < 0) {
			r = err_set(e, -r, "cannot write the context");
			goto fail;
		}
		r = warm_start(p, req, e);
		if (r < 0)
			goto fail;
		if (r > 0) {
			/* Its epoll set, with its pidfd and the listener. */
			*ret = p;
			return 0;
		}
	}
	/* The pair a reaped instance left, drained, or a new one; pith keeps
	 * the worker's end too, to reuse the pair (spawn_release_sock()). */
	if (sb->has_spare_sock) {
		p->sock = sb->spare_sock[0];
		p->sock_peer = sb->spare_sock[1];
		sb->has_spare_sock = false;
	} else {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
			       sv) < 0) {
			r = err_errno(e, errno, "socketpair");
			goto fail;
		}
		p->sock = sv[0];
		p->sock_peer = sv[1];
	}
	r = send_plan(p, req, p->sock, e);
	if (r < 0)
		goto fail;
	/* Known before the worker exists, so that its notifications find it. */
	p->next = sb->procs;
	if (p->next)
		p->next->pprev = &p->next;
	p->pprev = &sb->procs;
	sb->procs = p;
	r = start_worker(p, p->sock_peer, e);
	if (r < 0)
		goto fail;
	if (p->warm)
		sb->warm_started++;
	if (sb->guard)
		guard_worker_add(sb->guard, p->pid,
				 req->fn_name ? req->fn_name : "", req->stage,
				 req->instance);
	if (sb->has_spare_epfd) {
		p->epfd = sb->spare_epfd;
		sb->has_spare_epfd = false;
	} else {
		p->epfd = epoll_create1(EPOLL_CLOEXEC);
	}
	if (p->epfd < 0) {
		r = err_errno(e, errno, "epoll_create1");
		goto fail;
	}
	/* Not the socket: its messages are read when the worker ends, so a
	 * normal instance wakes pith once. */
	if ((r = epoll_add(p->epfd, p->pidfd, 'P')) < 0 ||
	    (sb->spawner.listener >= 0 &&
	     (r = epoll_add(p->epfd, sb->spawner.listener, 'L')) < 0)) {
		r = err_errno(e, r, "epoll_ctl");
		goto fail;
	}
	*ret = p;
	return 0;
fail:
	sandbox_proc_free(p);
	return r;
}

/*
 * Reuse of the plan socketpair. Once the worker is reaped, nothing but pith
 * holds either end: the worker's fd 0 died with it (the trampoline closed
 * it before the function's first instruction; only the loader, trusted
 * code, ever used it), and the clone child closed its copies before exec.
 * The pair carries nothing of the instance when both queues are empty:
 * read_socket() read the worker's messages up to EAGAIN (p->sock is still
 * open), and a peek at the worker's end finds no unread part of the plan
 * (a loader that failed early leaves some, with its fds: such a pair is
 * closed). The next instance then gets a pair in the state socketpair()
 * gives, without creating and freeing two sockets per instance.
 */
void spawn_release_sock(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;
	char c;

	if (p->finished && p->sock >= 0 && p->sock_peer >= 0 &&
	    !sb->has_spare_sock &&
	    recv(p->sock_peer, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0 &&
	    errno == EAGAIN) {
		sb->spare_sock[0] = p->sock;
		sb->spare_sock[1] = p->sock_peer;
		sb->has_spare_sock = true;
		p->sock = p->sock_peer = -1;
		return;
	}
	p->sock = safe_close(p->sock);
	p->sock_peer = safe_close(p->sock_peer);
}

/* The epoll fd, once finish() took the listener out of it and closed the
 * pidfd (which removes it), is empty: the next instance can use it. */
void spawn_release_epfd(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;

	if (p->epfd >= 0 && p->epfd_empty && !sb->has_spare_epfd) {
		sb->spare_epfd = p->epfd;
		sb->has_spare_epfd = true;
		p->epfd = -1;
		return;
	}
	p->epfd = safe_close(p->epfd);
}
