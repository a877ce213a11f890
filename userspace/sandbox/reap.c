// SPDX-License-Identifier: MIT
/*
 * Exits of forked fresh workers (a zygote's children) without a pidfd:
 * IORING_OP_WAITID requests on a small io_uring of the
 * sandbox's own, whose fd sits in sb->events (registered once), so that
 * the engine's one poll of sandbox_fd() hears of them as of any worker.
 *
 * A zygote's child is pith's (CLONE_PARENT) and pith reaps its children
 * only by their pid, pidfd or zygote's group (nothing in pith waits for
 * P_ALL): an unreaped
 * child's pid cannot be reused, so pith signals it by pid and needs no
 * pidfd. The request waits with WNOWAIT: it completes when the worker
 * has exited and leaves it a zombie; step() (proc.c) reaps it with
 * waitid(P_PID) as it did with P_PIDFD. Per instance this is one
 * io_uring_enter where there were pidfd_open, epoll_ctl and the pidfd's
 * close (Documentation/benchmarks/fresh-early.md, "pith's own share
 * (round 7)").
 *
 * A zygote's children (zygote.c) are heard by their process group, the
 * zygote's: one IORING_OP_WAITID(P_PGID, WNOWAIT) per zygote at a time,
 * whose completion names the exited child (its siginfo), made again once
 * that child is reaped; pith needs no child's pid to hear its exit. The
 * reap and the next request go in one io_uring_enter()
 * (reap_child_watch_group(): a WAITID(P_PID, WNOHANG), issued within the
 * call, hard-linked before the group's; round 13 reaped with a waitid()
 * and then submitted: two calls per instance where this is one).
 *
 * A caller may wait on the ring itself (sandbox_reap_own(): the engine's
 * loop, a driver's epoll set): its fd then leaves sb->events, so that an
 * exit wakes that caller through the ring's own poll, not through the
 * ring's and then the set's, and is read without an epoll_wait() of the
 * set (Documentation/benchmarks/lanes.md, round 13).
 *
 * A kernel without IORING_OP_WAITID (before 6.7), or io_uring refused:
 * reap_watch() fails and the caller opens a pidfd as before.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/internal.h"

#ifndef IORING_OP_WAITID_NR
#define IORING_OP_WAITID_NR 50 /* IORING_OP_WAITID, Linux 6.7 */
#endif
#define REAP_ENTRIES 16
/* A completion of a caller's poll (sandbox_reap_wait()), not of a request
 * for an exit: their sequence numbers count up from 1 and never reach it. */
#define REAP_TAGGED (1ull << 63)
/* A reap made inline (reap_child_watch_group()), read where it was made;
 * or a request that was never submitted, made a no-op. */
#define REAP_INLINE (UINT64_MAX - 1)
#define REAP_HEAD (UINT64_MAX - 2)	/* a reap issued apart: waited for */

/* The ring, made on first use; false (for good) when it cannot be. */
static bool reap_ring(struct sandbox *sb)
{
	struct io_uring_probe *probe;
	bool ok;

	if (sb->reap)
		return true;
	if (sb->reap_off || sb->events < 0)
		return false;
	sb->reap_off = true;
	if (getenv("PITH_REAP") && !strcmp(getenv("PITH_REAP"), "pidfd"))
		return false;
	sb->reap = calloc(1, sizeof(*sb->reap));
	if (!sb->reap)
		return false;
	if (io_uring_queue_init(REAP_ENTRIES, sb->reap, 0) < 0)
		goto fail;
	probe = io_uring_get_probe_ring(sb->reap);
	ok = probe && io_uring_opcode_supported(probe, IORING_OP_WAITID_NR);
	io_uring_free_probe(probe);
	if (!ok || (!sb->reap_own &&
		    sandbox_events_add(sb, sb->reap->ring_fd) < 0)) {
		io_uring_queue_exit(sb->reap);
		goto fail;
	}
	sb->reap_off = false;
	return true;
fail:
	free(sb->reap);
	sb->reap = NULL;
	return false;
}

/* sqe: a WAITID request for (idtype, id) with options; the kernel writes
 * the siginfo of the child it finds to info (sqe->addr2, "offset" in
 * liburing's names) when info is not NULL. */
static void prep_waitid(struct io_uring_sqe *sqe, idtype_t idtype, id_t id,
			siginfo_t *info, int options, uint64_t data)
{
	io_uring_prep_rw(IORING_OP_WAITID_NR, sqe, (int)id, NULL, idtype,
			 (uint64_t)(uintptr_t)info);
	sqe->file_index = (uint32_t)options;
	io_uring_sqe_set_data64(sqe, data);
}

int reap_watch(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;
	struct io_uring_sqe *sqe;
	int r;

	if (p->pid <= 0 || !reap_ring(sb))
		return -EOPNOTSUPP;
	/* Completions first (exit_seen on their procs): the CQ stays short
	 * also for callers that poll each instance's fd instead. */
	reap_poll(sb);
	sqe = io_uring_get_sqe(sb->reap);
	if (!sqe)
		return -EBUSY; /* cannot be: each call submits its one */
	prep_waitid(sqe, P_PID, (id_t)p->pid, NULL, WEXITED | WNOWAIT | __WALL,
		    ++sb->reap_seq);
	r = io_uring_submit(sb->reap);
	if (r == 1) {
		p->reap_seq = sb->reap_seq;
		return 0;
	}
	/* Not submitted: it stays queued for the next submission, where
	 * it must do nothing (the caller opens a pidfd instead). */
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 0);
	return r < 0 ? r : -EIO;
}

int reap_watch_group(struct sandbox *sb, pid_t pgid, siginfo_t *info,
		     uint64_t *ret_seq)
{
	struct io_uring_sqe *sqe;
	int r;

	if (!reap_ring(sb))
		return -EOPNOTSUPP;
	sqe = io_uring_get_sqe(sb->reap);
	if (!sqe)
		return -EBUSY;
	prep_waitid(sqe, P_PGID, (id_t)pgid, info, WEXITED | WNOWAIT | __WALL,
		    ++sb->reap_seq);
	r = io_uring_submit(sb->reap);
	if (r == 1) {
		*ret_seq = sb->reap_seq;
		return 0;
	}
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 0);
	return r < 0 ? r : -EIO;
}

/* Whether the completion of the reap in flight (REAP_HEAD, one at a
 * time) is in the queue: then marked read (reap_poll() passes over it). */
static bool reap_head_done(struct sandbox *sb)
{
	struct io_uring_cqe *cqe;
	unsigned head;

	io_uring_for_each_cqe(sb->reap, head, cqe)
		if (cqe->user_data == REAP_HEAD) {
			cqe->user_data = REAP_INLINE;
			return true;
		}
	return false;
}

/* Until it is (the other completions stay for reap_poll()). */
static void reap_wait_head(struct sandbox *sb)
{
	while (!reap_head_done(sb)) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe_nr(sb->reap, &cqe,
					     io_uring_cq_ready(sb->reap) + 1);

		if (r < 0 && r != -EINTR && r != -ETIME)
			usleep(1000);
	}
}

int reap_child_watch_group(struct sandbox *sb, pid_t pid, siginfo_t *si,
			   pid_t pgid, siginfo_t *info, uint64_t *ret_seq)
{
	struct io_uring_sqe *reap, *watch;
	int r;

	memset(si, 0, sizeof(*si));
	if (!reap_ring(sb))
		return -EOPNOTSUPP;
	if (io_uring_sq_space_left(sb->reap) < 2)
		return -EBUSY; /* cannot be: each call submits its own */
	reap = io_uring_get_sqe(sb->reap);
	watch = io_uring_get_sqe(sb->reap);
	/* The exited child, reaped as the call issues it (WNOHANG: it never
	 * waits, and the kernel writes si before the call returns): si_signo
	 * SIGCHLD and its pid when it was, zeros when there was nothing to
	 * reap. Hard-linked, so that the group's request is issued after it
	 * whatever it found: a WNOWAIT request issued first would find the
	 * same zombie and complete at once. */
	prep_waitid(reap, P_PID, (id_t)pid, si, WEXITED | WNOHANG | __WALL,
		    REAP_HEAD);
	reap->flags |= IOSQE_IO_HARDLINK;
	prep_waitid(watch, P_PGID, (id_t)pgid, info,
		    WEXITED | WNOWAIT | __WALL, ++sb->reap_seq);
	r = io_uring_submit(sb->reap);
	if (r == 2) {
		/* Completed within the call, as WNOHANG does, or else
		 * waited for: no reap that pith has not read. */
		if (!reap_head_done(sb))
			reap_wait_head(sb);
		*ret_seq = sb->reap_seq;
		return 0;
	}
	/* What was not submitted stays queued for the next submission,
	 * where it must do nothing: above all no reap that pith would not
	 * read at once (a child reaped unknown to pith could have its pid
	 * reused before pith signals it). The kernel takes them in order. */
	if (r < 1) {
		io_uring_prep_nop(reap);
		io_uring_sqe_set_data64(reap, REAP_INLINE);
	}
	io_uring_prep_nop(watch);
	io_uring_sqe_set_data64(watch, REAP_INLINE);
	if (r == 1) {
		/* The reap went in without its link (the kernel could not
		 * take the second request): then the kernel issues it on
		 * its own workers, not inline. pith waits for it, so as to
		 * know whether the child is reaped before anything could
		 * signal its pid; the group is not watched. */
		reap_wait_head(sb);
	}
	return r < 0 ? r : -EIO;
}

int reap_pidfd(struct sandbox_proc *p)
{
	if (p->pidfd < 0 &&
	    (p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0)) < 0)
		return negative_errno();
	return 0;
}

int reap_watch_exit(struct sandbox_proc *p)
{
	int r;

	if (p->pidfd < 0 && reap_watch(p) == 0)
		return 0;
	r = reap_pidfd(p);
	return r < 0 ? r : sandbox_events_add(p->sb, p->pidfd);
}

/* A caller's poll fired (its tag noted), or ended (made again at the
 * next sandbox_reap_wait_submit(); noted as fired: whatever ended it,
 * the caller looks). */
static void tagged(struct sandbox *sb, const struct io_uring_cqe *cqe)
{
	unsigned tag = (unsigned)(io_uring_cqe_get_data64(cqe) & ~REAP_TAGGED);

	sb->reap_tags |= tag;
	if (cqe->res < 0 && cqe->res != -ECANCELED && !sb->reap_fd_err)
		sb->reap_fd_err = cqe->res;
	if (!(cqe->flags & IORING_CQE_F_MORE))
		for (unsigned i = 0; i < sb->n_reap_fds; i++)
			if (sb->reap_fds[i].tag == tag)
				sb->reap_fds[i].armed = false;
}

/* A completion names its request's proc by sequence number, never by
 * pid: a late one (its proc was killed and reaped by sandbox_proc_free(),
 * the pid maybe a new worker's) matches nobody. */
void reap_poll(struct sandbox *sb)
{
	struct io_uring_cqe *cqe;

	if (!sb->reap || sb->reap_busy)
		return;
	sb->reap_busy = true;
	/* Each completion taken off the queue before it is handled: what
	 * it starts (a group's next request, an inline reap) completes
	 * into a queue that holds only what is still to read. */
	for (;;) {
		int r = io_uring_peek_cqe(sb->reap, &cqe);
		struct io_uring_cqe c;
		struct sandbox_proc *q;
		uint64_t seq;

		/* A liburing timeout's completion (kernels before 5.11) is
		 * taken by the peek, which returns its -ETIME: go on. */
		if (r == -ETIME)
			continue;
		if (r < 0 || !cqe)
			break;
		c = *cqe;
		seq = io_uring_cqe_get_data64(&c);
		io_uring_cqe_seen(sb->reap, cqe);
		if (seq & REAP_TAGGED) {
			/* liburing's own timeouts (LIBURING_UDATA_TIMEOUT,
			 * all ones) are not the caller's, nor inline reaps. */
			if (seq < REAP_HEAD)
				tagged(sb, &c);
			continue;
		}
		if (!seq)
			continue; /* a request made a no-op */
		for (q = sb->procs; q; q = q->next)
			if (q->reap_seq == seq) {
				/* Exited (res 0), or an error: step()'s
				 * waitid says which, and watches again. */
				q->exit_seen = true;
				q->reap_seq = 0;
				break;
			}
		/* A zygote's group's (zygote.c). */
		if (!q)
			zygote_group_exited(sb, seq, c.res);
	}
	sb->reap_busy = false;
}

int sandbox_reap_own(struct sandbox *sb, bool own)
{
	int fd, r;

	if (!reap_ring(sb))
		return -EOPNOTSUPP;
	fd = sb->reap->ring_fd;
	if (own == sb->reap_own)
		return fd;
	if (own)
		r = epoll_ctl(sb->events, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno
									: 0;
	else
		r = sandbox_events_add(sb, fd);
	if (r < 0)
		return r;
	sb->reap_own = own;
	return fd;
}

void sandbox_poll_reap(struct sandbox *sb)
{
	reap_poll(sb);
}

int sandbox_reap_watch_fd(struct sandbox *sb, int fd, unsigned tag)
{
	if (!sb->reap || !sb->reap_own)
		return -EINVAL;
	if (sb->n_reap_fds == REAP_FDS_MAX || !tag || tag > (1u << 30))
		return -ENOSPC;
	sb->reap_fds[sb->n_reap_fds++] = (typeof(sb->reap_fds[0])){ fd, tag,
								      false };
	return 0;
}

int sandbox_reap_wait_submit(struct sandbox *sb)
{
	int r;

	if (!sb->reap || !sb->reap_own)
		return -EINVAL;
	/* A poll the kernel refused would end every wait at once. */
	if (sb->reap_fd_err)
		return sb->reap_fd_err;
	for (unsigned i = 0; i < sb->n_reap_fds; i++) {
		struct io_uring_sqe *sqe;

		if (sb->reap_fds[i].armed)
			continue;
		sqe = io_uring_get_sqe(sb->reap);
		if (!sqe) {
			r = io_uring_submit(sb->reap);
			if (r < 0)
				return r;
			if (!(sqe = io_uring_get_sqe(sb->reap)))
				return -EBUSY;
		}
		io_uring_prep_poll_multishot(sqe, sb->reap_fds[i].fd, POLLIN);
		io_uring_sqe_set_data64(sqe, REAP_TAGGED | sb->reap_fds[i].tag);
		sb->reap_fds[i].armed = true;
	}
	r = io_uring_sq_ready(sb->reap) ? io_uring_submit(sb->reap) : 0;
	return r < 0 ? r : 0;
}

int sandbox_reap_wait(struct sandbox *sb, uint64_t timeout_ns)
{
	struct __kernel_timespec ts = {
		.tv_sec = (long long)(timeout_ns / 1000000000ull),
		.tv_nsec = (long long)(timeout_ns % 1000000000ull),
	};
	struct io_uring_cqe *cqe;
	int r;

	if (!sb->reap || !sb->reap_own)
		return -EINVAL;
	if (io_uring_cq_ready(sb->reap))
		return 0;
	r = io_uring_wait_cqe_timeout(sb->reap, &cqe,
				      timeout_ns == UINT64_MAX ? NULL : &ts);
	return r == -ETIME || r == -EINTR ? 0 : r;
}

unsigned sandbox_reap_wait_tags(struct sandbox *sb)
{
	unsigned t = sb->reap_tags;

	sb->reap_tags = 0;
	return t;
}

bool reap_is_fd(const struct sandbox *sb, int fd)
{
	return sb->reap && sb->reap->ring_fd == fd;
}

void reap_close(struct sandbox *sb)
{
	if (sb->reap) {
		io_uring_queue_exit(sb->reap);
		free(sb->reap);
		sb->reap = NULL;
	}
	sb->reap_off = false;
	sb->reap_own = false;
	sb->n_reap_fds = 0;
	sb->reap_tags = 0;
	sb->reap_fd_err = 0;
}
