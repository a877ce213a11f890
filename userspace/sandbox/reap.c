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
 * that child is reaped; pith needs no child's pid to hear its exit.
 *
 * A kernel without IORING_OP_WAITID (before 6.7), or io_uring refused:
 * reap_watch() fails and the caller opens a pidfd as before.
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/internal.h"

#ifndef IORING_OP_WAITID_NR
#define IORING_OP_WAITID_NR 50 /* IORING_OP_WAITID, Linux 6.7 */
#endif
#define REAP_ENTRIES 16

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
	if (!ok || sandbox_events_add(sb, sb->reap->ring_fd) < 0) {
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
	io_uring_prep_rw(IORING_OP_WAITID_NR, sqe, p->pid, NULL, P_PID, 0);
	sqe->file_index = WEXITED | WNOWAIT | __WALL; /* the options */
	io_uring_sqe_set_data64(sqe, ++sb->reap_seq);
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
	/* The kernel writes the exited child's siginfo to sqe->addr2
	 * (offset, in liburing's names). */
	io_uring_prep_rw(IORING_OP_WAITID_NR, sqe, pgid, NULL, P_PGID,
			 (uint64_t)(uintptr_t)info);
	sqe->file_index = WEXITED | WNOWAIT | __WALL;
	io_uring_sqe_set_data64(sqe, ++sb->reap_seq);
	r = io_uring_submit(sb->reap);
	if (r == 1) {
		*ret_seq = sb->reap_seq;
		return 0;
	}
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 0);
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

/* A completion names its request's proc by sequence number, never by
 * pid: a late one (its proc was killed and reaped by sandbox_proc_free(),
 * the pid maybe a new worker's) matches nobody. */
void reap_poll(struct sandbox *sb)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	if (!sb->reap || sb->reap_busy)
		return;
	sb->reap_busy = true;
	io_uring_for_each_cqe(sb->reap, head, cqe) {
		uint64_t seq = io_uring_cqe_get_data64(cqe);
		struct sandbox_proc *q;

		n++;
		for (q = sb->procs; q; q = q->next)
			if (q->reap_seq == seq) {
				/* Exited (res 0), or an error: step()'s
				 * waitid says which, and watches again. */
				q->exit_seen = true;
				q->reap_seq = 0;
				break;
			}
		/* A zygote's group's (zygote.c). */
		if (!q && seq)
			zygote_group_exited(sb, seq, cqe->res);
	}
	io_uring_cq_advance(sb->reap, n);
	sb->reap_busy = false;
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
}
