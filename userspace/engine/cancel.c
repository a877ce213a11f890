// SPDX-License-Identifier: MIT
/*
 * Cancelling runs: engine_cancel() for every run (a signal handler's),
 * engine_stop() for one, both polled on each run's loop.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine/internal.h"
#include "lib/macro.h"

/* engine_cancel(): a flag for runs not started yet, and one eventfd, made
 * by the first run and never closed, that every running one polls (a poll
 * does not consume its count). engine_stop(): an eventfd of one run. */
static volatile sig_atomic_t cancel_requested;
static int cancel_fd = -1;

void engine_cancel(void)
{
	int saved = errno, fd = __atomic_load_n(&cancel_fd, __ATOMIC_ACQUIRE);
	uint64_t one = 1;

	cancel_requested = 1;
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the runs are woken. */
	}
	errno = saved;
}

int engine_stop_init(struct engine_stop *s, struct err *e)
{
	s->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->fd < 0)
		return err_errno(e, errno, "cannot create an eventfd");
	return 0;
}

void engine_stop(struct engine_stop *s)
{
	int saved = errno;
	uint64_t one = 1;

	if (s->fd >= 0 && write(s->fd, &one, sizeof(one)) < 0) {
		/* Already non-zero: the run is woken. */
	}
	errno = saved;
}

void engine_stop_done(struct engine_stop *s)
{
	s->fd = safe_close(s->fd);
}

static void cancelled(struct run *run)
{
	run_error(run, err_set(run->e, ECANCELED,
			       "interrupted: instances killed, nothing written"));
}

static void on_cancel(struct loop_op *op, int res, _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, cancel_op);

	run->cancel_armed = false;
	if (res >= 0 || cancel_requested)
		cancelled(run);
}

static void on_stop(struct loop_op *op, int res, _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, stop_op);

	run->stop_armed = false;
	if (res >= 0)
		cancelled(run);
}

/* Arm the cancel polls: a cancellation fails the run with -ECANCELED. */
int cancel_arm(struct run *run)
{
	int fd = __atomic_load_n(&cancel_fd, __ATOMIC_ACQUIRE);
	int r;

	if (fd < 0) {
		int expected = -1;

		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			return err_errno(run->e, errno,
					 "cannot create an eventfd");
		if (!__atomic_compare_exchange_n(&cancel_fd, &expected, fd,
						 false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			close(fd); /* another run made it first */
			fd = expected;
		}
	}
	run->cancel_op.cb = on_cancel;
	r = loop_poll(run->loop, &run->cancel_op, fd, POLLIN);
	if (r < 0)
		return err_errno(run->e, r, "cannot poll the cancel eventfd");
	run->cancel_armed = true;
	if (cancel_requested)
		engine_cancel();
	if (run->opts->stop && run->opts->stop->fd >= 0) {
		run->stop_op.cb = on_stop;
		r = loop_poll(run->loop, &run->stop_op, run->opts->stop->fd,
			      POLLIN);
		if (r < 0)
			return err_errno(run->e, r,
					 "cannot poll the stop eventfd");
		run->stop_armed = true;
	}
	return 0;
}

void cancel_disarm(struct run *run)
{
	if (run->cancel_armed)
		loop_cancel(run->loop, &run->cancel_op);
	if (run->stop_armed)
		loop_cancel(run->loop, &run->stop_op);
}
