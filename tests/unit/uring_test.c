// SPDX-License-Identifier: MIT
/* The io_uring event loop: probing, timeouts, polls, cancels, and refusals. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <sys/prctl.h>

#include "harness/harness.h"
#include "lib/uring.h"
#include "sandbox/sandbox.h"

struct rec {
	struct loop_op op;
	int id;
	int res;
	int *log;	/* ids in completion order */
	int *n_log;
	uint64_t at_ms;
};

static void rec_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct rec *r = container_of(op, struct rec, op);

	(void)flags;
	r->res = res;
	r->at_ms = loop_now_ms();
	r->log[(*r->n_log)++] = r->id;
}

static bool n_at_least_3(void *data)
{
	return *(int *)data >= 3;
}

static bool n_at_least_1(void *data)
{
	return *(int *)data >= 1;
}

static bool never(void *data)
{
	(void)data;
	return false;
}

TEST(probe_picks_a_setup_mode_and_sees_the_needed_opcodes)
{
	struct loop *l = NULL;
	struct err e = {};
	const struct loop_features *f;

	ASSERT_EQ(0, loop_new(64, &l, &e)) TH_LOG("%s", e.msg);
	f = loop_features(l);
	ASSERT_NE(NULL, f->mode);
	EXPECT_TRUE(!strcmp(f->mode, "single-issuer+defer-taskrun") ||
		    !strcmp(f->mode, "coop-taskrun") ||
		    !strcmp(f->mode, "plain"));
	TH_LOG("io_uring mode: %s", f->mode);
	EXPECT_TRUE(f->op_openat2);
	EXPECT_TRUE(f->op_statx);
	EXPECT_TRUE(f->op_renameat);
	loop_free(l);
}

TEST(timeouts_complete_in_deadline_order)
{
	struct loop *l = NULL;
	int log[3], n = 0;
	struct rec r[3] = {
		{ .op.cb = rec_cb, .id = 60, .log = log, .n_log = &n },
		{ .op.cb = rec_cb, .id = 20, .log = log, .n_log = &n },
		{ .op.cb = rec_cb, .id = 40, .log = log, .n_log = &n },
	};
	uint64_t t0 = loop_now_ms();

	ASSERT_EQ(0, loop_new(16, &l, NULL));
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(0, loop_timeout(l, &r[i].op, (uint64_t)r[i].id));
	EXPECT_EQ(3, loop_inflight(l));
	ASSERT_EQ(0, loop_run_until(l, n_at_least_3, &n));
	EXPECT_EQ(20, log[0]);
	EXPECT_EQ(40, log[1]);
	EXPECT_EQ(60, log[2]);
	EXPECT_EQ(-ETIME, r[0].res);
	EXPECT_LE(t0 + 60, r[0].at_ms);
	EXPECT_EQ(0, loop_inflight(l));
	loop_free(l);
}

TEST(poll_reports_readable_only_after_a_write)
{
	struct loop *l = NULL;
	int p[2], log[2], n = 0;
	struct rec poll_rec = { .op.cb = rec_cb, .id = 1, .log = log,
				.n_log = &n };
	struct rec timer = { .op.cb = rec_cb, .id = 2, .log = log,
			     .n_log = &n };

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	ASSERT_EQ(0, loop_new(16, &l, NULL));
	ASSERT_EQ(0, loop_poll(l, &poll_rec.op, p[0], POLLIN));
	ASSERT_EQ(0, loop_timeout(l, &timer.op, 30));
	ASSERT_EQ(0, loop_run_until(l, n_at_least_1, &n));
	/* Nothing to read yet: the timer came first. */
	EXPECT_EQ(2, log[0]);
	ASSERT_EQ(1, write(p[1], "x", 1));
	while (n < 2)
		ASSERT_LE(0, loop_run_once(l, 1000));
	EXPECT_EQ(1, log[1]);
	EXPECT_TRUE(poll_rec.res & POLLIN);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

TEST(linked_timeout_cancels_a_read_that_never_completes)
{
	struct loop *l = NULL;
	int p[2], log[1], n = 0;
	char buf[8];
	struct rec rd = { .op.cb = rec_cb, .id = 1, .log = log, .n_log = &n };
	struct io_uring_sqe *sqe;
	uint64_t t0;

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	ASSERT_EQ(0, loop_new(16, &l, NULL));
	sqe = loop_sqe(l, 2);
	ASSERT_NE(NULL, sqe);
	io_uring_prep_read(sqe, p[0], buf, sizeof(buf), 0);
	sqe->flags |= IOSQE_IO_LINK;
	loop_sqe_set_op(l, sqe, &rd.op);
	loop_prep_link_timeout(l, loop_sqe_next(l, sqe), 50);
	loop_sqe_set_op(l, loop_sqe_next(l, sqe), NULL);
	t0 = loop_now_ms();
	ASSERT_EQ(0, loop_run_until(l, n_at_least_1, &n));
	EXPECT_EQ(-ECANCELED, rd.res);
	EXPECT_LE(t0 + 50, rd.at_ms);
	EXPECT_GT(t0 + 2000, rd.at_ms);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

TEST(cancel_ends_an_op_with_ecanceled)
{
	struct loop *l = NULL;
	int p[2], log[1], n = 0;
	struct rec pr = { .op.cb = rec_cb, .id = 1, .log = log, .n_log = &n };

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	ASSERT_EQ(0, loop_new(16, &l, NULL));
	ASSERT_EQ(0, loop_poll(l, &pr.op, p[0], POLLIN));
	ASSERT_EQ(0, loop_submit(l));
	ASSERT_EQ(0, loop_cancel(l, &pr.op));
	ASSERT_EQ(0, loop_run_until(l, n_at_least_1, &n));
	EXPECT_EQ(-ECANCELED, pr.res);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

TEST(post_runs_the_callback_from_the_loop_not_inline)
{
	struct loop *l = NULL;
	int log[1], n = 0;
	struct rec r = { .op.cb = rec_cb, .id = 7, .log = log, .n_log = &n };

	ASSERT_EQ(0, loop_new(16, &l, NULL));
	ASSERT_EQ(0, loop_post(l, &r.op));
	EXPECT_EQ(0, n);
	ASSERT_EQ(0, loop_run_until(l, n_at_least_1, &n));
	EXPECT_EQ(7, log[0]);
	loop_free(l);
}

TEST(run_until_with_nothing_in_flight_is_a_deadlock_not_a_hang)
{
	struct loop *l = NULL;

	ASSERT_EQ(0, loop_new(16, &l, NULL));
	EXPECT_EQ(-EDEADLK, loop_run_until(l, never, NULL));
	loop_free(l);
}

TEST(chains_never_straddle_a_full_submission_queue)
{
	struct loop *l = NULL;
	int log[64], n = 0;
	struct rec r[40];

	/* 8 SQ entries: reserving pairs must submit before the SQ splits one. */
	ASSERT_EQ(0, loop_new(8, &l, NULL));
	for (int i = 0; i < 20; i++) {
		struct io_uring_sqe *sqe = loop_sqe(l, 2);

		ASSERT_NE(NULL, sqe);
		r[i] = (struct rec){ .op.cb = rec_cb, .id = i, .log = log,
				     .n_log = &n };
		io_uring_prep_nop(sqe);
		sqe->flags |= IOSQE_IO_LINK;
		loop_sqe_set_op(l, sqe, &r[i].op);
		io_uring_prep_nop(loop_sqe_next(l, sqe));
		loop_sqe_set_op(l, loop_sqe_next(l, sqe), NULL);
	}
	while (n < 20)
		ASSERT_LT(0, loop_run_once(l, 1000));
	for (int i = 0; i < 20; i++)
		EXPECT_EQ(0, r[i].res);
	loop_free(l);
}

static int sysctl_disabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
	int v = 0;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/* io_uring_setup refused by seccomp (as in a container that forbids it):
 * the message says so instead of a bare EPERM. */
TEST(setup_refused_by_policy_is_explained)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	struct loop *l = NULL;
	struct err e = {};

	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(0, seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
				      SCMP_SYS(io_uring_setup), 0));
	ASSERT_EQ(0, seccomp_load(ctx));
	seccomp_release(ctx);
	EXPECT_EQ(-EPERM, loop_new(16, &l, &e));
	EXPECT_NULL(l);
	if (sysctl_disabled() > 0)
		/* The sysctl is the likelier cause, and named first. */
		EXPECT_EQ(0, strncmp(e.msg, "io_uring: disabled by sysctl kernel.io_uring_disabled=", 54));
	else
		EXPECT_STREQ("io_uring: io_uring_setup refused (seccomp or an LSM policy forbids io_uring for pith)",
			     e.msg);
}

/*
 * Workers never get a ring: the workers' seccomp program refuses the three
 * io_uring calls (in a real worker pith then kills it and names the call;
 * here, without a listener, the refusal shows as ENOSYS).
 */
TEST(worker_seccomp_filter_refuses_io_uring_syscalls)
{
	struct sandbox_opts opts = {};
	struct sandbox *sb = NULL;
	struct err e = {};
	const void *insns;
	size_t n;
	pid_t pid;
	int status;

	ASSERT_EQ(0, sandbox_new(&opts, &sb, &e)) TH_LOG("%s", e.msg);
	ASSERT_EQ(0, sandbox_filter(sb, &insns, &n));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct sock_fprog prog = {
			.len = (unsigned short)n,
			.filter = (struct sock_filter *)insns,
		};
		struct io_uring_params p = {};
		long a, b, c;
		int ea, eb, ec;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			syscall(SYS_exit_group, 10);
		a = syscall(__NR_io_uring_setup, 8, &p);
		ea = errno;
		b = syscall(__NR_io_uring_enter, 0, 0, 0, 0, NULL, 0);
		eb = errno;
		c = syscall(__NR_io_uring_register, 0, 0, NULL, 0);
		ec = errno;
		syscall(SYS_exit_group, a == -1 && ea == ENOSYS ?
						(b == -1 && eb == ENOSYS ?
							 (c == -1 && ec == ENOSYS ? 0 : 3) :
							 2) :
						1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("io_uring call %d was not refused (10: filter not installed)",
		       WEXITSTATUS(status));
	sandbox_free(sb);
}

TEST_HARNESS_MAIN
