// SPDX-License-Identifier: MIT
/* The io_uring event loop: ring set-up with a one-time probe, dispatch. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/macro.h"
#include "lib/uring.h"

#define LOOP_BATCH 64

struct loop {
	struct io_uring ring;
	bool ring_ok;
	unsigned inflight;
	/* One timespec per SQ slot: valid until that slot is submitted. */
	struct __kernel_timespec *ts;
	unsigned sq_entries;
};

/* Probed by the first loop_new() of the process, under probe_lock: pithd's
 * runner threads each make their own loop, possibly at once. Written only
 * under the lock, before probed is set; read by a thread only after its own
 * loop_new() took the lock, so every reader sees the finished probe. */
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loop_features features;
static bool probed;

uint64_t loop_now_ms(void)
{
	return clock_now_ns() / 1000000;
}

/* The sysctl exists since 6.6: 0 allowed, 1 CAP_SYS_ADMIN/io_uring_group
 * only, 2 nobody. -1 when absent or unreadable. */
static int read_disabled_sysctl(void)
{
	char buf[16] = "";
	_cleanup_close_ int fd = -1;
	ssize_t n;

	fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	return atoi(buf);
}

static int explain_setup_error(int r, struct err *e)
{
	int disabled = read_disabled_sysctl();

	if ((r == -EPERM || r == -EACCES) && disabled > 0)
		return err_set(e, -r,
			       "io_uring: disabled by sysctl kernel.io_uring_disabled=%d (set it to 0%s to run pith)",
			       disabled,
			       disabled == 1 ?
				       ", or run pith with CAP_SYS_ADMIN or in kernel.io_uring_group" :
				       "");
	if (r == -EPERM || r == -EACCES)
		return err_set(e, -r,
			       "io_uring: io_uring_setup refused (seccomp or an LSM policy forbids io_uring for pith)");
	if (r == -ENOSYS)
		return err_set(e, ENOSYS,
			       "io_uring: not supported by this kernel (built without CONFIG_IO_URING)");
	if (r == -ENOMEM)
		return err_set(e, ENOMEM,
			       "io_uring: cannot allocate the ring (RLIMIT_MEMLOCK too low?)");
	return err_errno(e, r, "io_uring: cannot set up a ring");
}

static const struct {
	unsigned flags;
	const char *mode;
} setup_modes[] = {
	{ IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
		  IORING_SETUP_DEFER_TASKRUN,
	  "single-issuer+defer-taskrun" },
	{ IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
	  "coop-taskrun" },
	{ 0, "plain" },
};

static int ring_init(struct loop *l, unsigned entries, unsigned flags)
{
	struct io_uring_params p = {};

	p.flags = flags | IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 4;
	return io_uring_queue_init_params(entries, &l->ring, &p);
}

static void probe_ops(struct loop *l)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(&l->ring);

	if (!p)
		return;
	features.op_openat2 = io_uring_opcode_supported(p, IORING_OP_OPENAT2);
	features.op_statx = io_uring_opcode_supported(p, IORING_OP_STATX);
	features.op_renameat = io_uring_opcode_supported(p, IORING_OP_RENAMEAT);
	features.op_unlinkat = io_uring_opcode_supported(p, IORING_OP_UNLINKAT);
	features.op_socket = io_uring_opcode_supported(p, IORING_OP_SOCKET);
	io_uring_free_probe(p);
}

int loop_new(unsigned entries, struct loop **ret, struct err *e)
{
	_cleanup_loop_ struct loop *l = NULL;
	int r = -EINVAL;

	if (entries < 8)
		entries = 8;
	l = calloc(1, sizeof(*l));
	if (!l)
		return err_set(e, ENOMEM, "io_uring: out of memory");
	pthread_mutex_lock(&probe_lock);
	if (probed) {
		r = ring_init(l, entries, features.setup_flags);
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(setup_modes); i++) {
			r = ring_init(l, entries, setup_modes[i].flags);
			if (r != -EINVAL)
				break;
			features.setup_flags = 0;
		}
		if (r == 0) {
			for (size_t i = 0; i < ARRAY_SIZE(setup_modes); i++)
				if (l->ring.flags == (setup_modes[i].flags |
						      IORING_SETUP_CQSIZE)) {
					features.setup_flags =
						setup_modes[i].flags;
					features.mode = setup_modes[i].mode;
				}
			features.ext_arg =
				!!(l->ring.features & IORING_FEAT_EXT_ARG);
			probe_ops(l);
			probed = true;
		}
	}
	pthread_mutex_unlock(&probe_lock);
	if (r < 0)
		return explain_setup_error(r, e);
	l->ring_ok = true;
	/* Saves an fdget per io_uring_enter; harmless when unsupported. */
	(void)io_uring_register_ring_fd(&l->ring);
	l->sq_entries = l->ring.sq.ring_entries;
	l->ts = calloc(l->sq_entries, sizeof(*l->ts));
	if (!l->ts)
		return err_set(e, ENOMEM, "io_uring: out of memory");
	*ret = TAKE_PTR(l);
	return 0;
}

struct loop *loop_free(struct loop *l)
{
	if (!l)
		return NULL;
	if (l->ring_ok)
		io_uring_queue_exit(&l->ring);
	free(l->ts);
	free(l);
	return NULL;
}

const struct loop_features *loop_features(const struct loop *l)
{
	(void)l;
	return &features;
}

unsigned loop_inflight(const struct loop *l)
{
	return l->inflight;
}

int loop_submit(struct loop *l)
{
	int r;

	do
		r = io_uring_submit(&l->ring);
	while (r == -EINTR);
	return r < 0 ? r : 0;
}

struct io_uring_sqe *loop_sqe(struct loop *l, unsigned n)
{
	struct io_uring_sqe *first, *sqe;

	if (n == 0 || n > l->sq_entries)
		return NULL;
	if (io_uring_sq_space_left(&l->ring) < n && loop_submit(l) < 0)
		return NULL;
	first = io_uring_get_sqe(&l->ring);
	if (!first)
		return NULL;
	io_uring_prep_nop(first);
	for (unsigned i = 1; i < n; i++) {
		sqe = io_uring_get_sqe(&l->ring);
		if (!sqe)
			return NULL; /* cannot happen: space was checked */
		io_uring_prep_nop(sqe);
	}
	return first;
}

struct io_uring_sqe *loop_sqe_next(struct loop *l, struct io_uring_sqe *sqe)
{
	unsigned idx = (unsigned)(sqe - l->ring.sq.sqes);

	return &l->ring.sq.sqes[(idx + 1) & l->ring.sq.ring_mask];
}

void loop_sqe_set_op(struct loop *l, struct io_uring_sqe *sqe,
		     struct loop_op *op)
{
	io_uring_sqe_set_data(sqe, op);
	if (op)
		l->inflight++;
}

static struct __kernel_timespec *slot_ts(struct loop *l,
					 struct io_uring_sqe *sqe, uint64_t ms)
{
	struct __kernel_timespec *ts =
		&l->ts[(unsigned)(sqe - l->ring.sq.sqes) & l->ring.sq.ring_mask];

	ts->tv_sec = (long long)(ms / 1000);
	ts->tv_nsec = (long long)(ms % 1000) * 1000000;
	return ts;
}

void loop_prep_timeout(struct loop *l, struct io_uring_sqe *sqe, uint64_t ms)
{
	io_uring_prep_timeout(sqe, slot_ts(l, sqe, ms), 0, 0);
}

void loop_prep_link_timeout(struct loop *l, struct io_uring_sqe *sqe,
			    uint64_t ms)
{
	io_uring_prep_link_timeout(sqe, slot_ts(l, sqe, ms), 0);
}

int loop_timeout(struct loop *l, struct loop_op *op, uint64_t ms)
{
	struct io_uring_sqe *sqe = loop_sqe(l, 1);

	if (!sqe)
		return -EBUSY;
	loop_prep_timeout(l, sqe, ms);
	loop_sqe_set_op(l, sqe, op);
	return 0;
}

int loop_poll(struct loop *l, struct loop_op *op, int fd, unsigned events)
{
	struct io_uring_sqe *sqe = loop_sqe(l, 1);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, events);
	loop_sqe_set_op(l, sqe, op);
	return 0;
}

int loop_cancel(struct loop *l, struct loop_op *op)
{
	struct io_uring_sqe *sqe = loop_sqe(l, 1);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel(sqe, op, IORING_ASYNC_CANCEL_ALL);
	loop_sqe_set_op(l, sqe, NULL);
	return 0;
}

int loop_post(struct loop *l, struct loop_op *op)
{
	struct io_uring_sqe *sqe = loop_sqe(l, 1);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_nop(sqe);
	loop_sqe_set_op(l, sqe, op);
	return 0;
}

int loop_run_once(struct loop *l, int64_t timeout_ms)
{
	struct { void *data; int res; uint32_t flags; } done[LOOP_BATCH];
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts;
	unsigned head, n = 0;
	int r, ran = 0;

	if (timeout_ms < 0) {
		r = io_uring_submit_and_wait(&l->ring, 1);
	} else {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (timeout_ms % 1000) * 1000000;
		r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts,
						     NULL);
	}
	if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY)
		return r;

	for (;;) {
		n = 0;
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			done[n].data = io_uring_cqe_get_data(cqe);
			done[n].res = cqe->res;
			done[n].flags = cqe->flags;
			if (++n == LOOP_BATCH)
				break;
		}
		if (!n)
			break;
		io_uring_cq_advance(&l->ring, n);
		for (unsigned i = 0; i < n; i++) {
			struct loop_op *op = done[i].data;

			if (!op)
				continue;
			if (!(done[i].flags & IORING_CQE_F_MORE))
				l->inflight--;
			op->cb(op, done[i].res, done[i].flags);
			ran++;
		}
	}
	return ran;
}

int loop_run_until(struct loop *l, bool (*cond)(void *data), void *data)
{
	while (!cond(data)) {
		int r;

		if (l->inflight == 0)
			return -EDEADLK;
		r = loop_run_once(l, -1);
		if (r < 0)
			return r;
	}
	return 0;
}
