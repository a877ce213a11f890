// SPDX-License-Identifier: MIT
/*
 * Starting a worker: the plan and its fds go into a socketpair, then
 * clone3(CLONE_VM|CLONE_VFORK|CLONE_PIDFD|CLONE_INTO_CGROUP) runs a child on
 * a small stack of its own that, with raw system calls only (it shares
 * pith's memory), lowers its rlimits, drops every privilege and exec's the
 * static pith-worker loader with the socket as its only fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
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

/* long pith_clone3(struct clone_args *, size_t, int (*fn)(void *), void *):
 * the child runs fn(arg) on the new stack and exits with its value. */
long pith_clone3(struct clone_args *args, size_t size, int (*fn)(void *),
		 void *arg);
__asm__(".text\n"
	".globl pith_clone3\n"
	".type pith_clone3,@function\n"
	"pith_clone3:\n"
	"	mov %rdx, %r9\n"	/* fn: kept by the kernel in the child */
	"	mov %rcx, %r8\n"	/* arg */
	"	mov $" "435" ", %eax\n" /* __NR_clone3 */
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	xor %ebp, %ebp\n"
	"	mov %r8, %rdi\n"
	"	call *%r9\n"
	"	mov %eax, %edi\n"
	"	mov $60, %eax\n"	/* exit */
	"	syscall\n"
	"	ud2\n"
	"1:	ret\n"
	".size pith_clone3, .-pith_clone3\n");
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
__attribute__((no_sanitize("address", "undefined"), noinline)) static int
child_main(void *arg)
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

static int send_plan(struct sandbox_proc *p, const struct sandbox_request *req,
		     int sock, struct err *e)
{
	const struct sandbox *sb = p->sb;
	size_t n_fds = 2 + p->n_inputs, sent = 0;
	size_t size = sizeof(struct plan) +
		      sb->n_filter * sizeof(struct plan_filter_insn) +
		      p->n_inputs * sizeof(struct plan_input);
	_cleanup_free_ char *msg = calloc(1, size);
	_cleanup_free_ int *fds = malloc(n_fds * sizeof(int));
	const struct elf_image *img = req->image;
	struct plan *plan = (struct plan *)msg;
	struct plan_input *in;

	if (!msg || !fds)
		return -ENOMEM;
	if (img->n_segments > PLAN_MAX_SEGMENTS)
		return err_set(e, E2BIG, "image has %zu segments",
			       img->n_segments);
	*plan = (struct plan){
		.magic = PLAN_MAGIC,
		.version = PLAN_VERSION,
		.n_fds = (uint32_t)n_fds,
		.n_segments = (uint32_t)img->n_segments,
		.n_filter = (uint32_t)sb->n_filter,
		.n_inputs = (uint32_t)p->n_inputs,
		.entry = img->entry,
		.context_size = p->layout.size,
		.guard_off = p->layout.guard_off,
		.altstack_off = p->layout.altstack_off,
		.altstack_size = CTX_ALTSTACK_SIZE,
		.inputs_lo = PITH_INPUT_BASE,
		.inputs_hi = p->n_inputs ? p->inputs[p->n_inputs - 1].addr +
						   p->inputs[p->n_inputs - 1].maplen
					 : PITH_INPUT_BASE,
	};
	for (size_t i = 0; i < img->n_segments; i++)
		plan->segments[i] = (struct plan_segment){
			.vaddr = img->segments[i].vaddr,
			.memsz = img->segments[i].memsz,
			.file_off = img->segments[i].file_off,
			.prot = (uint32_t)img->segments[i].prot,
		};
	if (sb->n_filter)
		memcpy(plan + 1, sb->filter,
		       sb->n_filter * sizeof(struct plan_filter_insn));
	in = (struct plan_input *)((char *)(plan + 1) +
				   sb->n_filter * sizeof(struct plan_filter_insn));
	fds[0] = img->fd;
	fds[1] = p->ctx->fd;
	for (size_t i = 0; i < p->n_inputs; i++) {
		in[i] = (struct plan_input){ p->inputs[i].addr,
					     p->inputs[i].maplen,
					     (uint32_t)(2 + i) };
		fds[2 + i] = p->inputs[i].buf->fd;
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
			return err_set(e, errno, "cannot send the plan: %m");
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

static int start_worker(struct sandbox_proc *p, int child_sock,
			struct err *e)
{
	struct sandbox *sb = p->sb;
	static char *const argv[] = { "pith-worker", NULL };
	static char *const envp[] = { NULL };
	/* The child's stack; the parent is suspended (CLONE_VFORK) while the
	 * child uses it. */
	char stack[16384] __attribute__((aligned(64)));
	rlim_t cpu = (rlim_t)((p->timeout_ms + 999) / 1000);
	struct child_args a = {
		.sock = child_sock,
		.loader_fd = sb->loader_fd,
		.drop_ids = sb->drop_ids,
		.ppid = sb->pid,
		.core = { 0, 0 },
		/* SIGXCPU at the soft limit names the reason; SIGKILL one
		 * second later if it is ignored. */
		.cpu = { MAX(cpu, (rlim_t)1), MAX(cpu, (rlim_t)1) + 1 },
		.nofile = { 2 + 2 + p->n_inputs, 2 + 2 + p->n_inputs },
		.nproc = { 0, 0 },
		.argv = argv,
		.envp = envp,
	};
	struct clone_args ca = {
		.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD,
		.pidfd = (uintptr_t)&p->pidfd,
		.exit_signal = 0, /* no SIGCHLD: pith's handlers stay out */
		.stack = (uintptr_t)stack,
		.stack_size = sizeof(stack),
	};
	sigset_t all, old;
	long pid;

	if (sb->cgroup_fd >= 0) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)sb->cgroup_fd;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = pith_clone3(&ca, sizeof(ca), child_main, &a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return err_set(e, (int)-pid, "clone3: %s", strerror((int)-pid));
	p->pid = (pid_t)pid;
	if (a.step) {
		siginfo_t si;

		waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | __WALL);
		p->finished = true; /* reaped */
		return err_set(e, a.err, "cannot start the worker: %s: %s",
			       a.step, strerror(a.err));
	}
	return 0;
}

int sandbox_spawn(struct sandbox *sb, const struct sandbox_request *req,
		  struct sandbox_proc **ret, struct err *e)
{
	struct sandbox_proc *p;
	int sv[2] = { -1, -1 };
	int r;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct sandbox_proc){
		.sb = sb, .pidfd = -1, .sock = -1, .listener = -1, .epfd = -1,
		.bad_syscall = -1, .timeout_ms = req->limits.timeout_ms,
		.start_ns = sandbox_now_ns(),
	};
	p->result.status = SANDBOX_RUNNING;
	p->result.syscall = -1;
	p->deadline_ns = p->start_ns + req->limits.timeout_ms * 1000000ull;
	if (!req->image || req->image->fd < 0) {
		r = err_set(e, EINVAL, "no function image");
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
	r = context_new(req, p, e);
	if (r < 0)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = err_set(e, errno, "socketpair: %m");
		goto fail;
	}
	p->sock = sv[0];
	r = send_plan(p, req, p->sock, e);
	if (r < 0)
		goto fail;
	r = start_worker(p, sv[1], e);
	sv[1] = safe_close(sv[1]);
	if (r < 0)
		goto fail;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0) {
		r = err_set(e, errno, "epoll_create1: %m");
		goto fail;
	}
	if ((r = epoll_add(p->epfd, p->pidfd, 'P')) < 0 ||
	    (r = epoll_add(p->epfd, p->sock, 'S')) < 0) {
		r = err_set(e, -r, "epoll_ctl: %s", strerror(-r));
		goto fail;
	}
	*ret = p;
	return 0;
fail:
	safe_close(sv[1]);
	sandbox_proc_free(p);
	return r;
}
