/* SPDX-License-Identifier: MIT */
/* The io_uring event loop: completion callbacks, deadlines, fd polling. */
#ifndef PITH_LIB_URING_H
#define PITH_LIB_URING_H

#include <liburing.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

/*
 * Every SQE that wants its completion carries a `struct loop_op *` as
 * user_data: embed a loop_op in the structure that owns the operation and
 * recover it with container_of() in the callback. The op (and whatever
 * buffers the operation uses) must stay alive until its callback ran.
 * SQEs whose completion nobody needs (link timeouts, cancel requests) carry
 * no op; their CQEs are dropped.
 *
 * The loop is single-threaded and never blocks anywhere but in
 * loop_run_once() waiting for completions.
 */
struct loop_op;
typedef void (*loop_cb)(struct loop_op *op, int res, uint32_t cqe_flags);

struct loop_op {
	loop_cb cb;
};

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr)-offsetof(type, member)))
#endif

/* What the one-time probe found (same for every loop of the process). */
struct loop_features {
	unsigned setup_flags;	/* IORING_SETUP_* actually used */
	const char *mode;	/* "single-issuer+defer-taskrun", ... */
	bool ext_arg;		/* IORING_FEAT_EXT_ARG: waits with a timeout */
	bool op_openat2, op_statx, op_renameat, op_unlinkat, op_socket;
};

struct loop;

/*
 * A ring with at least `entries` SQEs. The first call probes the kernel
 * (DEFER_TASKRUN, then COOP_TASKRUN, then no flags). When io_uring is not
 * usable the message says why, e.g. "io_uring: disabled by sysctl
 * kernel.io_uring_disabled=2 (set it to 0 to run pith)".
 */
int loop_new(unsigned entries, struct loop **ret, struct err *e);
struct loop *loop_free(struct loop *l); /* NULL-safe; pending ops are dropped */
const struct loop_features *loop_features(const struct loop *l);

/*
 * `n` consecutive SQEs for one linked chain (n >= 1), submitting queued
 * ones first when the SQ is too full. Returns the first; the others follow
 * it in the SQ array (use loop_sqe_next()). NULL only when the submit to
 * make room failed with a ring error.
 */
struct io_uring_sqe *loop_sqe(struct loop *l, unsigned n);
struct io_uring_sqe *loop_sqe_next(struct loop *l, struct io_uring_sqe *sqe);
/* Attach `op` (may be NULL: completion ignored) and count it in flight. */
void loop_sqe_set_op(struct loop *l, struct io_uring_sqe *sqe,
		     struct loop_op *op);
/*
 * Prepare a timeout or linked timeout whose timespec lives in the loop
 * until the SQE is submitted: callers need no storage of their own.
 */
void loop_prep_timeout(struct loop *l, struct io_uring_sqe *sqe, uint64_t ms);
void loop_prep_link_timeout(struct loop *l, struct io_uring_sqe *sqe,
			    uint64_t ms);

/* Convenience operations; each queues one SQE (or a pair) and returns 0
 * or -EBUSY/-errno when no SQE could be had. */
int loop_timeout(struct loop *l, struct loop_op *op, uint64_t ms);
/* One-shot poll: the callback gets the revents mask or -errno. */
int loop_poll(struct loop *l, struct loop_op *op, int fd, unsigned events);
/* Ask the kernel to cancel every in-flight op carrying `op`; their
 * callbacks still run, usually with -ECANCELED. */
int loop_cancel(struct loop *l, struct loop_op *op);
/* Call op->cb(op, 0, 0) from the loop soon (a NOP): for "done" callbacks
 * that must not run inside the caller's frame. */
int loop_post(struct loop *l, struct loop_op *op);

/* Submit queued SQEs without waiting. */
int loop_submit(struct loop *l);
/*
 * Submit, wait up to timeout_ms (<0: forever, 0: no wait) for at least one
 * completion, run the callbacks of all available completions. Returns the
 * number of callbacks run, or -errno (-ETIME is not an error: returns 0).
 */
int loop_run_once(struct loop *l, int64_t timeout_ms);
/* Run until cond(data) is true. -EDEADLK when nothing is in flight and the
 * condition can never become true. */
int loop_run_until(struct loop *l, bool (*cond)(void *data), void *data);
/* Ops with a callback queued or in flight. */
unsigned loop_inflight(const struct loop *l);

/* Monotonic clock in milliseconds. */
uint64_t loop_now_ms(void);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct loop *, loop_free);
#define _cleanup_loop_ _cleanup_(loop_freep)

#endif
