// SPDX-License-Identifier: MIT
/*
 * A running instance: hears from the loader when the function starts,
 * turns a forbidden system call (a notification on the spawner's listener,
 * shared by all workers) into a kill with the call's name, enforces the
 * wall-clock deadline, reaps the worker and states the exact reason it
 * ended, then collects its outputs.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <stddef.h>

#include "lib/macro.h"
#include "lib/probe.h"
#include "sandbox/bpf_guard.h"
#include "sandbox/internal.h"

/* Made on first use for a fresh instance (spawn_proc_epoll()); once the
 * instance finished, an empty set, as its own would be by then. */
static int proc_epoll(struct sandbox_proc *p)
{
	if (p->epfd >= 0)
		return 0;
	if (p->finished) {
		int r = reuse_take_epfd(p, NULL);

		p->epfd_empty = r >= 0;
		return r;
	}
	return spawn_proc_epoll(p, NULL);
}

int sandbox_proc_fd(const struct sandbox_proc *p)
{
	if (p->dj)
		return p->sb->drv_evfd;
	/* Not const in effect: its set is made lazily. */
	int r = proc_epoll((struct sandbox_proc *)p);

	return r < 0 ? r : p->epfd;
}

pid_t sandbox_proc_pid(const struct sandbox_proc *p)
{
	/* A zygote's child: from the ring, once forked (zygote.c). */
	zygote_proc_pid((struct sandbox_proc *)p, true);
	return p->pid;
}

pid_t sandbox_proc_pid_known(const struct sandbox_proc *p)
{
	zygote_proc_pid((struct sandbox_proc *)p, false);
	return p->pid;
}

bool sandbox_proc_warm(const struct sandbox_proc *p)
{
	return p->reused;
}

bool sandbox_proc_driven(const struct sandbox_proc *p)
{
	return p->dj != NULL;
}

uint64_t sandbox_proc_deadline_ns(const struct sandbox_proc *p)
{
	return p->deadline_ns;
}

const struct sandbox_result *sandbox_proc_result(const struct sandbox_proc *p)
{
	return &p->result;
}

/* A worker not reaped yet: a pidfd, or a zygote's child, pith's child
 * known by its pid alone until pith reaps it (reap.c). */
static bool has_worker(const struct sandbox_proc *p)
{
	return !p->finished && !p->zreaped && (p->pidfd >= 0 || p->pid > 0);
}

static void kill_worker(struct sandbox_proc *p)
{
	/* A zygote's child is killed by its pid: known by now. */
	zygote_proc_pid(p, true);
	if (!p->killed && has_worker(p)) {
		if (p->pidfd >= 0)
			pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
		else
			kill(p->pid, SIGKILL);
		p->killed = true;
	}
}

/* Reap p's worker: -errno, 0 still running (WNOHANG), else its pid. */
static int reap(struct sandbox_proc *p, siginfo_t *si, int flags)
{
	memset(si, 0, sizeof(*si));
	if (waitid(p->pidfd >= 0 ? P_PIDFD : P_PID,
		   (id_t)(p->pidfd >= 0 ? p->pidfd : p->pid), si,
		   WEXITED | __WALL | flags) < 0)
		return negative_errno();
	return si->si_pid;
}

static void unlink_proc(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;

	if (!p->pprev)
		return;
	for (unsigned i = 0; i < sb->n_orphans;)
		if (sb->orphans[i].pid == p->pid)
			sb->orphans[i] = sb->orphans[--sb->n_orphans];
		else
			i++;
	*p->pprev = p->next;
	if (p->next)
		p->next->pprev = p->pprev;
	p->next = NULL;
	p->pprev = NULL;
}

/* Closing an fd takes it out of the proc's epoll set as well. */
static void drop_fd(int *fd)
{
	*fd = safe_close(*fd);
}

/* Messages from the loader: a failure, or "ready" (with the time) just
 * before the jump to the trampoline. Then EOF, when the trampoline closes
 * the socket. Read without waking up for them: when the worker ends, or
 * when a caller steps anyway. pith holds the worker's end too while the
 * worker runs, to reuse the pair once it is reaped (reuse_release_sock());
 * a caller that steps a running worker and reads a message gets EOF as
 * before instead: pith lets go of that end, and that pair is not reused. */
static void read_socket(struct sandbox_proc *p, bool reaped)
{
	/* A zygote's child reports in its slot's control page instead. */
	zygote_read_ctrl(p);
	while (p->sock >= 0) {
		char data[sizeof(p->setup_error)];
		char ctl[CMSG_SPACE(4 * sizeof(int))];
		struct iovec iov = { data, sizeof(data) - 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl,
				    .msg_controllen = sizeof(ctl) };
		struct cmsghdr *c;
		ssize_t n;

		n = recvmsg(p->sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			drop_fd(&p->sock);
			return;
		}
		if (!reaped)
			drop_fd(&p->sock_peer);
		/* The loader sends none; close whatever came. */
		for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_RIGHTS)
				for (size_t i = 0; i < (c->cmsg_len -
							CMSG_LEN(0)) /
							       sizeof(int);
				     i++) {
					int f;

					memcpy(&f, CMSG_DATA(c) +
							   i * sizeof(int),
					       sizeof(int));
					close(f);
				}
		if (n == sizeof(struct plan_ready) && !p->setup_error[0] &&
		    ((struct plan_ready *)data)->magic == PLAN_READY_MAGIC) {
			uint64_t t = ((struct plan_ready *)data)->now_ns;

			if (!p->handed_off) {
				p->handed_off = true;
				p->handoff_ns = t >= p->start_ns ? t
								 : p->start_ns;
				PROBE_INST_STARTED(p->pid, p->stage, p->instance, p->fn_name, p->handoff_ns, p->handoff_ns - p->start_ns);
			}
			/* The loader's last message; after it the trampoline
			 * closed the socket, and the function never has a
			 * descriptor. Reaped: nothing can follow, no read to
			 * find the queue empty. */
			if (reaped)
				return;
		} else if (!p->setup_error[0]) {
			data[n] = 0;
			snprintf(p->setup_error, sizeof(p->setup_error), "%s",
				 data);
		}
	}
}

/* The instance ended through the trampoline's exit path: its worker is
 * parked, holding nothing of it, until pith answers (warm.c). A park from
 * an instance that is not warm, or a second one, is a violation. */
static void note_park(struct sandbox_proc *p, uint64_t id, int status)
{
	if (!p->warm || p->parked || p->killed) {
		if (p->bad_syscall < 0)
			p->bad_syscall = PLAN_PARK_NR;
		kill_worker(p);
		return;
	}
	p->parked = true;
	p->park_id = id;
	p->park_status = status;
}

static void note_syscall(struct sandbox_proc *p, long nr)
{
	if (p->bad_syscall < 0)
		p->bad_syscall = nr;
	PROBE_GUARD_KILL(p->pid, nr, 0, p->fn_name);
	kill_worker(p);
}

/*
 * A forbidden call is pending in some worker: note it on its proc and kill
 * it. The call never runs; the worker dies before returning to user mode.
 * The listener is shared by every worker of the sandbox; a notification
 * for a pid no proc knows yet is kept for that proc's next step.
 *
 * ready: the caller's epoll_wait() just reported the listener readable, so
 * the first RECV needs no poll: nothing else reads the listener in between
 * (a sandbox is used by one thread), and the kernel counts a notification
 * when it is queued, so RECV does not block even if its worker was killed
 * since (it returns ENOENT then).
 *
 * once: one notification only; sandbox_poll()'s caller polls sb->events
 * again, which stays readable while more wait (the listener is
 * level-triggered there, and polling an epoll fd checks its items): no
 * poll(2) per park to find the queue empty.
 */
static void read_listener(struct sandbox *sb, bool ready, bool once)
{
	int fd = sb->spawner.listener;
	struct pollfd pfd = { fd, POLLIN, 0 };

	while (fd >= 0 &&
	       (ready || (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)))) {
		struct seccomp_notif n;
		struct sandbox_proc *q;

		ready = false;
		memset(&n, 0, sizeof(n));
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0) {
			if (errno == ENOENT && !once)
				continue; /* its worker died meanwhile */
			return;
		}
		bool park = n.data.arch == AUDIT_ARCH_X86_64 &&
			    warm_is_park(sb, n.data.nr,
					 n.data.instruction_pointer);
		int status = (int)(n.data.args[0] & 0xff);

		for (q = sb->procs; q; q = q->next)
			if (q->pid == (pid_t)n.pid)
				break;
		if (q && park)
			note_park(q, n.id, status);
		else if (q)
			note_syscall(q, n.data.nr);
		else if (sb->n_orphans < ARRAY_SIZE(sb->orphans))
			sb->orphans[sb->n_orphans++] =
				(typeof(sb->orphans[0])){ (pid_t)n.pid,
							  n.data.nr, park,
							  n.id, status };
		if (once)
			return;
	}
}

static void take_orphan(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;

	for (unsigned i = 0; i < sb->n_orphans; i++)
		if (sb->orphans[i].pid == p->pid) {
			if (sb->orphans[i].park)
				note_park(p, sb->orphans[i].id,
					  sb->orphans[i].status);
			else
				note_syscall(p, sb->orphans[i].nr);
			sb->orphans[i] = sb->orphans[--sb->n_orphans];
			return;
		}
}

static const char *signal_name(int sig, char *buf, size_t len)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		snprintf(buf, len, "SIG%s", abbrev);
	else
		snprintf(buf, len, "%d", sig);
	return buf;
}

static void set_reason(struct sandbox_proc *p, const char *fmt, ...)
	_printf_(2, 3);
static void set_reason(struct sandbox_proc *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->result.reason, sizeof(p->result.reason), fmt, ap);
	va_end(ap);
}

/* The fault the trampoline's handler recorded, if it matches the signal the
 * kernel reports. */
static void fault_reason(struct sandbox_proc *p, int sig)
{
	uint64_t rep[4] = { 0 }, addr, guard;
	bool known;
	char name[32];

	/* reserved[0..3], written by the trampoline's handler. */
	if (pread(p->ctx->fd, rep, sizeof(rep),
		  offsetof(struct pith_context, reserved)) != sizeof(rep))
		memset(rep, 0, sizeof(rep));
	known = rep[0] == (PLAN_FAULT_MAGIC << 32 | (unsigned)sig);
	addr = rep[1];
	guard = PITH_CONTEXT_BASE + p->layout.guard_off;
	switch (sig) {
	case SIGSEGV:
		if (!known)
			set_reason(p, "segmentation fault");
		else if (addr >= guard && addr - guard < CTX_PAGE)
			set_reason(p, "stack overflow (segmentation fault at 0x%" PRIx64 ")",
				   addr);
		else
			set_reason(p, "segmentation fault at 0x%" PRIx64, addr);
		break;
	case SIGBUS:
		set_reason(p, known ? "bus error at 0x%" PRIx64 : "bus error",
			   addr);
		break;
	case SIGILL:
		set_reason(p, known ? "illegal instruction at 0x%" PRIx64
				    : "illegal instruction", addr);
		break;
	case SIGFPE:
		set_reason(p, known ? "arithmetic exception at 0x%" PRIx64
				    : "arithmetic exception", addr);
		break;
	default:
		set_reason(p, "killed by signal %s",
			   signal_name(sig, name, sizeof(name)));
	}
}

/* A violation the eBPF guard saw: give it to the worker it names.
 * guard_poll() calls it without the guard's lock: reading a pid names the
 * worker (zygote_lock, then the guard's lock in guard_worker_add()). */
static int on_violation(const struct guard_violation *v, void *data)
{
	struct sandbox *sb = data;

	for (struct sandbox_proc *q = sb->procs; q; q = q->next) {
		zygote_proc_pid(q, false);
		if (q->pid != v->pid || q->guard_reason[0])
			continue;
		q->guard_nr = v->nr;
		PROBE_GUARD_KILL(q->pid, v->nr, 1, q->fn_name);
		guard_violation_format(v, q->guard_reason,
				       sizeof(q->guard_reason));
		break;
	}
	return 0;
}

static void finish(struct sandbox_proc *p, const siginfo_t *si)
{
	struct sandbox_result *res = &p->result;
	uint64_t now = clock_now_ns();
	bool exited = si->si_code == CLD_EXITED;
	struct err e = { { 0 } };
	char name[64];

	/* The guard's event is in its ring before the worker dies. A
	 * parked worker stays known (and armed) for its next instance. */
	if (p->sb->guard) {
		/* Only its own workers' events (a run's sandboxes share
		 * one guard: sandbox.c, setup_guard()); all of them when
		 * its leaf could not be named (then the guard is its own). */
		guard_poll(p->sb->guard, p->sb->cgroup_id, on_violation,
			   p->sb);
		if (!p->parked && p->pid > 0)
			guard_worker_reaped(p->sb->guard, p->pid);
	}
	p->finished = true;
	/* Its zygote's group is watched again. */
	zygote_child_reaped(p);
	res->status = SANDBOX_FAILED;
	res->exit_status = exited ? si->si_status : 0;
	res->signal = exited ? 0 : si->si_status;
	if (p->handed_off) {
		res->spawn_ns = p->handoff_ns - p->start_ns;
		res->run_ns = now - p->handoff_ns;
	} else {
		res->spawn_ns = now - p->start_ns;
	}

	if (p->bad_syscall >= 0) {
		res->syscall = p->bad_syscall;
		res->probe_reason = PROBE_REASON_SECCOMP;
		set_reason(p, "killed: forbidden syscall %s (%ld)",
			   filter_syscall_name(p->bad_syscall, name,
					       sizeof(name)),
			   p->bad_syscall);
	} else if (p->guard_reason[0] && !exited) {
		res->syscall = p->guard_nr;
		res->probe_reason = PROBE_REASON_GUARD;
		set_reason(p, "%s", p->guard_reason);
	} else if (p->timed_out && !exited) {
		res->probe_reason = PROBE_REASON_TIMEOUT;
		set_reason(p, "timed out after %" PRIu64 " ms", p->timeout_ms);
	} else if (!p->handed_off) {
		res->probe_reason = PROBE_REASON_SETUP;
		if (p->setup_error[0])
			set_reason(p, "sandbox setup failed: %s",
				   p->setup_error);
		else if (exited)
			set_reason(p, "sandbox setup failed: the worker exited with status %d before the function started",
				   si->si_status);
		else
			set_reason(p, "sandbox setup failed: the worker was killed by signal %s before the function started",
				   signal_name(si->si_status, name,
					       sizeof(name)));
	} else if (!exited) {
		res->probe_reason = si->si_status == SIGSYS ? PROBE_REASON_SECCOMP :
				    si->si_status == SIGXCPU ? PROBE_REASON_TIMEOUT :
							       PROBE_REASON_SIGNAL;
		if (si->si_status == SIGSYS)
			set_reason(p, "killed: syscall from a foreign ABI (int 0x80 or x32)");
		else if (si->si_status == SIGXCPU)
			set_reason(p, "CPU time limit exceeded");
		else
			fault_reason(p, si->si_status);
	} else if (si->si_status != 0) {
		res->probe_reason = PROBE_REASON_EXIT;
		set_reason(p, "exited with status %d", si->si_status);
		outputs_note(p, si->si_status);
	} else if (outputs_collect(p, &e) < 0) {
		res->probe_reason = PROBE_REASON_OUTPUT;
		set_reason(p, "%s", e.msg[0] ? e.msg : "cannot collect outputs");
		for (size_t i = 0; i < res->n_outputs; i++)
			set_free(res->outputs[i]);
		free(res->outputs);
		res->outputs = NULL;
		res->n_outputs = 0;
	} else {
		res->status = SANDBOX_OK;
	}
	/* A parked worker goes back to the pool now, with its pidfd and
	 * its epoll set, for the next instance (warm_put()). */
	if (p->parked && warm_put(p) < 0) {
		siginfo_t dead;

		if (p->sb->guard)
			guard_worker_del(p->sb->guard, p->pid);
		pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
		while (waitid(P_PIDFD, (id_t)p->pidfd, &dead,
			      WEXITED | __WALL) < 0 && errno == EINTR)
			;
	}
	if (p->epfd >= 0)
		p->epfd_empty = p->sb->spawner.listener < 0 ||
				epoll_ctl(p->epfd, EPOLL_CTL_DEL,
					  p->sb->spawner.listener, NULL) == 0;
	/* Read up to EAGAIN just before: kept for the next instance, or
	 * closed. */
	reuse_release_sock(p);
	drop_fd(&p->pidfd);
	/* Reaped (or parked): the pid may be another worker's from now on,
	 * or this worker's next instance's. */
	unlink_proc(p);
	/* After sealing the context, whose LRU drain stays on this CPU. */
	place_unpin_caller(p);
}

bool sandbox_proc_pending(const struct sandbox_proc *p)
{
	if (p && p->dj)
		return !p->finished && driver_proxy_done(p);
	return p && !p->finished &&
	       ((p->parked && !p->killed) || p->exit_seen);
}

int sandbox_fd(const struct sandbox *sb)
{
	return sb->events;
}

int sandbox_listener_fd(const struct sandbox *sb)
{
	return sb->spawner.listener;
}

/*
 * What sb->events has: the pidfds of exited workers (their procs'
 * exit_seen; an idle worker that died is reaped and dropped).
 */
int sandbox_poll(struct sandbox *sb)
{
	struct epoll_event ev[16];
	int n;

	/* Its ring, the drivers' eventfd out of the set
	 * (sandbox_reap_own(), sandbox_done_own()): read as well. */
	if (sb->reap_own)
		reap_poll(sb);
	if (sb->drv_own)
		driver_polled(sb);
	n = epoll_wait(sb->events, ev, ARRAY_SIZE(ev), 0);
	if (n < 0)
		return errno == EINTR ? 0 : negative_errno();
	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd;
		struct sandbox_proc *q;

		if (reap_is_fd(sb, fd)) {
			reap_poll(sb);
			continue;
		}
		if (fd == sb->drv_evfd) {
			driver_polled(sb);
			continue;
		}
		for (q = sb->procs; q; q = q->next)
			if (q->pidfd == fd)
				break;
		if (q)
			q->exit_seen = true;
		else if (!warm_reap_idle(sb, fd))
			/* Nobody's (cannot happen): stop it waking us. */
			epoll_ctl(sb->events, EPOLL_CTL_DEL, fd, NULL);
	}
	return n;
}

/* One notification of the listener, if one waits (a park, a forbidden
 * call: noted on its proc); ready: a poll just said one does. The caller
 * polls the listener again, which stays readable while more wait: no
 * poll(2) per park to find the queue empty. */
int sandbox_poll_listener(struct sandbox *sb, bool ready)
{
	read_listener(sb, ready, true);
	return 0;
}

void sandbox_poll_listener_all(struct sandbox *sb)
{
	read_listener(sb, false, false);
}

static int step(struct sandbox_proc *p, bool pid_ready, bool notified);

int sandbox_proc_step(struct sandbox_proc *p)
{
	struct epoll_event ev[4];
	bool pid_ready = false, notified = false;
	int n;

	if (p->dj)
		return driver_proxy_step(p);
	if (p->finished)
		return 1;
	n = proc_epoll(p);
	if (n < 0)
		return n;
	n = epoll_wait(p->epfd, ev, ARRAY_SIZE(ev), 0);
	if (n < 0 && errno != EINTR)
		return negative_errno();
	for (int i = 0; i < n; i++) {
		pid_ready |= ev[i].data.u32 == 'P';
		notified |= ev[i].data.u32 == 'L';
	}
	return step(p, pid_ready, notified);
}

int sandbox_proc_step_polled(struct sandbox_proc *p)
{
	if (p->dj)
		return driver_proxy_step(p);
	if (p->finished)
		return 1;
	return step(p, p->exit_seen, false);
}

static int step(struct sandbox_proc *p, bool pid_ready, bool notified)
{
	siginfo_t si;

	/* Notifications before the exit: a call made just before the
	 * worker was killed for another reason is still named. */
	if (notified)
		read_listener(p->sb, true, false);
	/* A zygote's child: its pid, for its notifications and its kill;
	 * no child at all: it could not be forked. */
	if (zygote_proc_pid(p, false) < 0 && p->fork_failed) {
		memset(&si, 0, sizeof(si));
		si.si_code = CLD_EXITED;
		si.si_status = 127;
		finish(p, &si);
		return 1;
	}
	if (p->bad_syscall < 0 && p->sb->n_orphans)
		take_orphan(p);
	/* Parked: the worker ended the instance through the trampoline and
	 * waits, with nothing of it mapped, for a next one. Unless it was
	 * killed meanwhile (the deadline): then its exit says why. */
	if (p->parked && !p->killed) {
		memset(&si, 0, sizeof(si));
		si.si_code = CLD_EXITED;
		si.si_status = p->park_status;
		read_socket(p, false);
		finish(p, &si);
		return 1;
	}
	if (pid_ready || p->zreaped) {
		int r = p->zreaped ? 1 : reap(p, &si, WNOHANG);

		/* A zygote's child its group's request named: reaped then. */
		if (p->zreaped)
			si = p->zsi;
		if (r < 0)
			return r;
		if (r > 0) {
			/* Everything it sent is queued by now. */
			read_socket(p, true);
			finish(p, &si);
			return 1;
		}
		/* Not exited (an exit request that failed): no longer
		 * pending (or step_pending() would step it forever), and
		 * watched again, or through a pidfd from now on. */
		p->exit_seen = false;
		if (p->pidfd < 0 && (r = reap_watch_exit(p)) < 0)
			return r;
	}
	read_socket(p, false);
	if (!p->killed && clock_now_ns() >= p->deadline_ns) {
		p->timed_out = true;
		kill_worker(p);
	}
	return 0;
}

void sandbox_proc_kill(struct sandbox_proc *p)
{
	if (p->dj && !p->finished) {
		driver_proxy_kill(p);
		return;
	}
	kill_worker(p);
}

struct set **sandbox_proc_take_outputs(struct sandbox_proc *p, size_t *ret_n)
{
	struct set **s = p->result.outputs;

	*ret_n = p->result.n_outputs;
	p->result.outputs = NULL;
	p->result.n_outputs = 0;
	return s;
}

struct sandbox_proc *sandbox_proc_free(struct sandbox_proc *p)
{
	if (!p)
		return NULL;
	/* A driver's proxy: back to its sandbox's list, not freed (driver.c). */
	if (p->dj) {
		driver_proxy_free(p);
		return NULL;
	}
	zygote_proc_pid(p, true);
	if (has_worker(p)) {
		siginfo_t si;

		kill_worker(p);
		while (reap(p, &si, 0) == -EINTR)
			;
		/* Reaped: its pid may be a new worker's, which must not find
		 * itself armed in the guard (guard_worker_reaped()). */
		if (p->sb->guard)
			guard_worker_reaped(p->sb->guard, p->pid);
		zygote_child_reaped(p);
	}
	unlink_proc(p);
	place_unpin_caller(p);
	warm_drop(p);
	/* A fresh instance's context, zeroed, for the next one: its
	 * zygote's pooled one (zygote.c), else a spare (reuse.c). */
	zygote_release_slot(p);
	reuse_release_ctx(p);
	if (p->ctx_map)
		munmap(p->ctx_map, p->ctx->size);
	safe_close(p->ctx_ro);
	safe_close(p->sock);
	safe_close(p->sock_peer);
	safe_close(p->pidfd);
	reuse_release_epfd(p);
	for (size_t i = 0; i < p->result.n_outputs; i++)
		set_free(p->result.outputs[i]);
	free(p->result.outputs);
	/* Their storage (p->keep) goes to the pool with the proc. */
	p->output_names = NULL;
	p->n_outputs = 0;
	context_done(p);
	buffer_unref(p->ctx);
	elf_image_free(p->image);
	/* Pooled for the next sandbox_spawn(), which sets every field. */
	spawn_proc_put(p);
	return NULL;
}

int sandbox_run(struct sandbox *sb, const struct sandbox_request *req,
		struct sandbox_proc **ret, struct err *e)
{
	struct sandbox_proc *p;
	int r;

	r = sandbox_spawn(sb, req, &p, e);
	if (r < 0)
		return r;
	do {
		uint64_t now = clock_now_ns();
		struct pollfd pfd = { sandbox_proc_fd(p), POLLIN, 0 };
		int ms = -1;

		if (!p->killed)
			ms = now >= p->deadline_ns
				     ? 0
				     : (int)MIN((p->deadline_ns - now + 999999) /
							1000000,
						(uint64_t)INT32_MAX);
		poll(&pfd, 1, ms);
	} while ((r = sandbox_proc_step(p)) == 0);
	if (r < 0) {
		sandbox_proc_free(p);
		return err_errno(e, r, "sandbox");
	}
	*ret = p;
	return 0;
}
