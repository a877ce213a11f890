// SPDX-License-Identifier: MIT
/*
 * Warm workers: a worker whose function ended through the trampoline's exit
 * path is parked in a seccomp user notification (the park call), holding
 * nothing of its instance; the next instance of the same (image, memory,
 * owner) takes it: pith writes a fresh context (descriptor, input table,
 * an rt_sigreturn frame holding the initial register state), adds the
 * context and input fds to the worker and answers the notification. The
 * trampoline then resets everything the function could have changed and
 * enters the function again. The argument that this equals a fresh worker
 * is in Documentation/security.md, "Warm workers".
 */
#include <errno.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/macro.h"
#include "lib/probe.h"
#include "sandbox/bpf_guard.h"
#include "sandbox/internal.h"
#include "sandbox/worker/trampoline.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif

_Static_assert(sizeof(struct pith_context) == PITH_CONTEXT_SIZE_1_1,
	       "ABI 1.1 descriptor size");

static uint64_t tramp_addr(const char *label)
{
	return PLAN_TRAMPOLINE_BASE + (uint64_t)(label - tramp_start);
}

void warm_init(struct sandbox *sb)
{
	const char *v = secure_getenv("PITH_WARM");
	long n;

	sb->tramp_exit = tramp_addr(tramp_exit);
	sb->tramp_ip[TRAMP_EXIT_UNMAP] = tramp_addr(tramp_ip_exit_unmap);
	sb->tramp_ip[TRAMP_PARK] = tramp_addr(tramp_ip_park);
	sb->tramp_ip[TRAMP_UNMAP] = tramp_addr(tramp_ip_unmap);
	sb->tramp_ip[TRAMP_MADVISE] = tramp_addr(tramp_ip_madvise);
	sb->tramp_ip[TRAMP_MAP_CTX1] = tramp_addr(tramp_ip_map_ctx1);
	sb->tramp_ip[TRAMP_MAP_CTX2] = tramp_addr(tramp_ip_map_ctx2);
	sb->tramp_ip[TRAMP_MAP_INPUT] = tramp_addr(tramp_ip_map_input);
	sb->tramp_ip[TRAMP_CLOSE] = tramp_addr(tramp_ip_close);
	sb->fsgsbase = getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	sb->max_idle = (unsigned)MAX(32L, 8 * MAX(n, 1L));
	/* sandbox_new() also needs the notification listener. */
	sb->warm = !(v && !strcmp(v, "off"));
}

bool warm_is_park(const struct sandbox *sb, long nr, uint64_t ip)
{
	return nr == PLAN_PARK_NR && ip == sb->tramp_ip[TRAMP_PARK];
}

int warm_prepare(struct sandbox_proc *p)
{
	uint64_t exit = p->sb->tramp_exit;

	if (pwrite(p->ctx->fd, &exit, sizeof(exit),
		   offsetof(struct pith_context, exit)) != sizeof(exit))
		return -EIO;
	return 0;
}

static void worker_kill(struct warm_worker *w)
{
	siginfo_t si;

	pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0);
	while (waitid(P_PIDFD, (id_t)w->pidfd, &si, WEXITED | __WALL) < 0 &&
	       errno == EINTR)
		;
	close(w->pidfd);
	safe_close(w->epfd);
	elf_image_free(w->image);
	free(w);
}

int warm_put(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;
	struct warm_worker *w, **pp;

	w = calloc(1, sizeof(*w));
	if (!w || !p->image) {
		free(w);
		return -ENOMEM; /* the caller kills the worker */
	}
	*w = (struct warm_worker){
		.image = TAKE_PTR(p->image),
		.memory = p->layout.size,
		.owner = p->owner,
		.pid = p->pid,
		.pidfd = p->pidfd,
		.epfd = p->epfd,
		.park_id = p->park_id,
		.cpu_soft = p->cpu_soft,
	};
	p->pidfd = -1;
	p->epfd = -1;
	w->next = sb->idle;
	sb->idle = w;
	if (++sb->n_idle <= sb->max_idle)
		return 0;
	/* Full: the least recently parked one goes. */
	for (pp = &sb->idle; (*pp)->next; pp = &(*pp)->next)
		;
	w = *pp;
	*pp = NULL;
	sb->n_idle--;
	if (sb->guard)
		guard_worker_del(sb->guard, w->pid);
	worker_kill(w);
	return 0;
}

void warm_flush(struct sandbox *sb)
{
	while (sb->idle) {
		struct warm_worker *w = sb->idle;

		sb->idle = w->next;
		if (sb->guard)
			guard_worker_del(sb->guard, w->pid);
		worker_kill(w);
	}
	sb->n_idle = 0;
}

/* The rt_sigreturn frame (struct ucontext, x86-64) the trampoline's last
 * call loads: every register zero but %rdi, %rsp and %rip; fpstate NULL,
 * which the kernel takes as "the initial FPU state". */
struct warm_frame {
	uint64_t uc_flags, uc_link;
	uint64_t ss_sp;
	int32_t ss_flags, ss_pad;
	uint64_t ss_size;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2, fpstate;
	uint64_t reserved1[8];
	uint64_t sigmask;
	uint64_t pad[2];
};
_Static_assert(offsetof(struct warm_frame, r8) == 40, "uc_mcontext");
_Static_assert(offsetof(struct warm_frame, rsp) == 160, "rsp");
_Static_assert(offsetof(struct warm_frame, rip) == 168, "rip");
_Static_assert(offsetof(struct warm_frame, fpstate) == 224, "fpstate");
_Static_assert(offsetof(struct warm_frame, sigmask) == 296, "uc_sigmask");
_Static_assert(sizeof(struct warm_frame) == PLAN_FRAME_SIZE, "frame size");

#define UC_SIGCONTEXT_SS 0x2
#define UC_STRICT_RESTORE_SS 0x4

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *b = buf;

	while (len) {
		ssize_t n = pwrite(fd, b, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		b += n, len -= (size_t)n, off += (uint64_t)n;
	}
	return 0;
}

/* The input table, its slots in reserved[] and the frame, into p's new
 * context; -E2BIG when the table does not fit in the arena. */
static int write_start(struct sandbox_proc *p, uint64_t entry)
{
	const struct ctx_layout *l = &p->layout;
	_cleanup_free_ struct plan_inmap *t = NULL;
	uint64_t res[2], n = 0;
	struct warm_frame f = {
		.uc_flags = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
		.ss_sp = PITH_CONTEXT_BASE + l->altstack_off,
		.ss_size = CTX_ALTSTACK_SIZE,
		.rdi = PITH_CONTEXT_BASE,
		.rsp = PITH_CONTEXT_BASE + l->size,
		.rip = entry,
		.eflags = 0x2,
		.cs = 0x33, /* __USER_CS */
		.ss = 0x2b, /* __USER_DS */
	};
	int r;

	if (p->n_inputs) {
		t = calloc(p->n_inputs, sizeof(*t));
		if (!t)
			return -ENOMEM;
	}
	for (size_t i = 0; i < p->n_inputs; i++)
		if (p->inputs[i].maplen)
			t[n++] = (struct plan_inmap){
				.addr = p->inputs[i].addr,
				.len = p->inputs[i].maplen,
				.off = p->inputs[i].file_off,
				.fd = PLAN_WARM_INPUT_FD +
				      p->inputs[i].fd_slot,
			};
	if (n * sizeof(*t) > l->arena_size)
		return -E2BIG;
	res[0] = n ? PITH_CONTEXT_BASE + l->arena : 0;
	res[1] = n;
	if ((n && (r = pwrite_all(p->ctx->fd, t, n * sizeof(*t),
				  l->arena)) < 0) ||
	    (r = pwrite_all(p->ctx->fd, res, sizeof(res),
			    offsetof(struct pith_context, reserved) +
				    8 * PLAN_RES_INMAP)) < 0 ||
	    (r = pwrite_all(p->ctx->fd, &f, sizeof(f),
			    l->size - PLAN_FRAME_SIZE)) < 0)
		return r;
	return 0;
}

/* Undo write_start() before the context goes to a fresh worker instead. */
static void clear_start(struct sandbox_proc *p)
{
	static const char zero[4096];
	const struct ctx_layout *l = &p->layout;
	uint64_t n = MIN((uint64_t)(p->n_inputs * sizeof(struct plan_inmap)),
			 l->arena_size);

	for (uint64_t off = 0; off < n; off += sizeof(zero))
		pwrite_all(p->ctx->fd, zero, MIN(sizeof(zero), n - off),
			   l->arena + off);
	pwrite_all(p->ctx->fd, zero, 16,
		   offsetof(struct pith_context, reserved) +
			   8 * PLAN_RES_INMAP);
	pwrite_all(p->ctx->fd, zero, PLAN_FRAME_SIZE,
		   l->size - PLAN_FRAME_SIZE);
}

/*
 * RLIMIT_CPU cannot follow the instances: raising a limit of a worker of
 * another uid needs CAP_SYS_RESOURCE, which pith may lack. A warm worker
 * starts with one second more than a fresh one (security.md) and serves an
 * instance only while the rest of its soft limit still covers the whole
 * timeout; then it is retired (-EDQUOT) and the instance gets a fresh
 * worker. The deadline itself is pith's wall clock, as for any worker.
 */
static int check_cpu_budget(pid_t pid, uint64_t timeout_ms, uint64_t soft_s)
{
	struct timespec ts;
	clockid_t clk = (clockid_t)((~(unsigned)pid << 3) | 2);
	uint64_t used;

	if (clock_gettime(clk, &ts) < 0)
		return -errno;
	used = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (used + timeout_ms * 1000000ull > soft_s * 1000000000ull)
		return -EDQUOT;
	return 0;
}

static struct warm_worker *take(struct sandbox *sb,
				const struct sandbox_request *req,
				uint64_t memory)
{
	for (struct warm_worker **pp = &sb->idle; *pp; pp = &(*pp)->next) {
		struct warm_worker *w = *pp;

		if (w->image == req->image && w->memory == memory &&
		    w->owner == req->owner) {
			*pp = w->next;
			sb->n_idle--;
			return w;
		}
	}
	return NULL;
}

static int addfd(int listener, uint64_t id, int src, int newfd, bool send)
{
	struct seccomp_notif_addfd a = {
		.id = id,
		.flags = SECCOMP_ADDFD_FLAG_SETFD |
			 (send ? SECCOMP_ADDFD_FLAG_SEND : 0),
		.srcfd = (uint32_t)src,
		.newfd = (uint32_t)newfd,
	};
	int r;

	do
		r = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

int warm_start(struct sandbox_proc *p, const struct sandbox_request *req,
	       struct err *e)
{
	struct sandbox *sb = p->sb;
	int listener = sb->spawner.listener;
	struct warm_worker *w;
	int r;

	w = take(sb, req, p->layout.size);
	if (!w)
		return 0;
	/* Spent its CPU slack: retire it, a fresh worker runs this one. */
	if (check_cpu_budget(w->pid, p->timeout_ms, w->cpu_soft) < 0) {
		if (sb->guard)
			guard_worker_del(sb->guard, w->pid);
		worker_kill(w);
		return 0;
	}
	r = write_start(p, req->image->entry);
	if (r < 0) {
		/* Keep the worker for an instance that fits. */
		w->next = sb->idle;
		sb->idle = w;
		sb->n_idle++;
		clear_start(p);
		return r == -E2BIG ? 0 : err_errno(e, r, "cannot write the context");
	}
	p->pid = w->pid;
	p->pidfd = w->pidfd;
	p->epfd = w->epfd;
	w->pidfd = -1;
	w->epfd = -1;
	p->reused = true;
	p->cpu_soft = w->cpu_soft;
	/* Known before the worker runs, so that its notifications find it. */
	p->next = sb->procs;
	if (p->next)
		p->next->pprev = &p->next;
	p->pprev = &sb->procs;
	sb->procs = p;
	if (sb->guard)
		guard_worker_add(sb->guard, p->pid,
				 req->fn_name ? req->fn_name : "", req->stage,
				 req->instance);
	r = 0;
	/* One fd per distinct buffer (context.c places an item's pages at
	 * a file offset; entries of one buffer are adjacent). */
	for (size_t i = 0; i < p->n_inputs && r >= 0; i++)
		if (p->inputs[i].maplen &&
		    (i == 0 || p->inputs[i].fd_slot != p->inputs[i - 1].fd_slot))
		{
			int fd = buffer_share_fd(p->inputs[i].buf);

			/* A failed share ends this worker (below); the
			 * fresh one's spawn reports it. */
			r = fd < 0 ? fd
				   : addfd(listener, w->park_id, fd,
					   PLAN_WARM_INPUT_FD +
						   (int)p->inputs[i].fd_slot,
					   false);
		}
	p->handoff_ns = clock_now_ns();
	if (r >= 0)
		r = addfd(listener, w->park_id, p->ctx->fd, PLAN_WARM_CTX_FD,
			  true);
	elf_image_free(w->image);
	free(w);
	if (r < 0) {
		/* It died while idle (or pith could not add an fd): the
		 * caller spawns a fresh worker for this instance. */
		siginfo_t si;

		pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
		while (waitid(P_PIDFD, (id_t)p->pidfd, &si,
			      WEXITED | __WALL) < 0 && errno == EINTR)
			;
		if (sb->guard)
			guard_worker_del(sb->guard, p->pid);
		p->pidfd = safe_close(p->pidfd);
		p->epfd = safe_close(p->epfd);
		*p->pprev = p->next;
		if (p->next)
			p->next->pprev = p->pprev;
		p->next = NULL;
		p->pprev = NULL;
		PROBE_WARM_RESET(p->pid, p->fn_name, 0, 0);
		p->pid = 0;
		p->reused = false;
		clear_start(p);
		return 0;
	}
	p->handed_off = true;
	sb->warm_reused++;
	PROBE_WARM_RESET(p->pid, p->fn_name, p->handoff_ns - p->start_ns, 1);
	PROBE_INST_STARTED(p->pid, p->stage, p->instance, p->fn_name, p->handoff_ns, p->handoff_ns - p->start_ns);
	return 1;
}
