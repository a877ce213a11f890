// SPDX-License-Identifier: MIT
/*
 * The eBPF layer alone stops the hostile function under the real sandbox:
 * seccomp off (test-only switch), the guard loaded on the sandbox's worker
 * cgroup and armed by the trampoline's last syscall (close of the plan
 * socket). Every forbidden call is killed at entry and reported;
 * well-behaved instances are untouched.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "sandbox/internal.h"
#include "sandbox/plan.h"
#include "security/bpf_worker.h"
#include "security/t_sandbox.h"

FIXTURE(alone)
{
	struct guard *g;
	struct sandbox *sb;
};

FIXTURE_VARIANT(alone)
{
	unsigned long long instance;
	long nr;	/* syscall the event names; -1: no event expected */
	bool compat;
	int exit_status; /* when no event is expected */
	bool input;	 /* give it one input set */
};

#define FORBIDDEN(name, nr_) \
	FIXTURE_VARIANT_ADD(alone, name) { \
		.instance = HOSTILE(H_SYSCALL, nr_), .nr = nr_ }
FORBIDDEN(openat, SYS_openat);
FORBIDDEN(socket, SYS_socket);
FORBIDDEN(execve, SYS_execve);
FORBIDDEN(mmap, SYS_mmap);
FORBIDDEN(mprotect, SYS_mprotect);
FORBIDDEN(ptrace, SYS_ptrace);
FORBIDDEN(kill, SYS_kill);
FORBIDDEN(bpf, SYS_bpf);
FORBIDDEN(perf_event_open, SYS_perf_event_open);
FORBIDDEN(io_uring_setup, SYS_io_uring_setup);
FORBIDDEN(userfaultfd, SYS_userfaultfd);
/* The warm reset path's calls, allowed at their trampoline addresses
 * only (pith_pinned): from the function's own code, killed. */
FORBIDDEN(munmap, SYS_munmap);
FORBIDDEN(madvise, SYS_madvise);
FORBIDDEN(close_range, SYS_close_range);
FORBIDDEN(pause, SYS_pause);
FIXTURE_VARIANT_ADD(alone, fork_bomb) {
	.instance = HOSTILE(H_FORK_BOMB, 0), .nr = SYS_fork };
FIXTURE_VARIANT_ADD(alone, x32) {
	.instance = HOSTILE(H_X32, 0), .nr = SYS_getpid | 0x40000000 };
FIXTURE_VARIANT_ADD(alone, int80) {
	.instance = HOSTILE(H_INT80, 0), .nr = 20, .compat = true };
FIXTURE_VARIANT_ADD(alone, close_handoff_again) {
	.instance = HOSTILE(H_CLOSE_FDS, 0), .nr = SYS_close };
FIXTURE_VARIANT_ADD(alone, exit_status_passes) {
	.instance = HOSTILE(H_EXIT, 3), .nr = -1, .exit_status = 3 };
FIXTURE_VARIANT_ADD(alone, outputs_pass) {
	.instance = HOSTILE(H_OUTPUTS, 0), .nr = -1, .input = true };

FIXTURE_SETUP(alone)
{
	struct guard_opts o = {
		.mode = GUARD_ENFORCE,
		.no_lsm = true,
		/* The trampoline's last syscall before the function. */
		.arm_nr = SYS_close,
		.arm_arg0 = PLAN_SOCK_FD,
	};
	struct err e = {};

	self->g = NULL;
	self->sb = NULL;
	if (geteuid() != 0)
		SKIP(return, "needs root to load BPF programs and make cgroups");
	self->sb = t_sandbox(true);
	o.cgroup_path = sandbox_cgroup_path(self->sb);
	if (!o.cgroup_path)
		SKIP(return, "the sandbox has no worker cgroup (see pith "
		     "doctor)");
	ASSERT_EQ(0, guard_new(&o, &self->g, &e)) TH_LOG("%s", e.msg);
	ASSERT_EQ(0, guard_hold(self->g, &e)) TH_LOG("%s", e.msg);
}

FIXTURE_TEARDOWN(alone)
{
	self->g = guard_free(self->g);
	self->sb = sandbox_free(self->sb);
}

TEST_F(alone, ebpf_alone_stops_what_is_forbidden_and_only_that)
{
	struct t_events ev = {};
	const struct sandbox_result *res;
	const struct guard_violation *v;
	struct set *in = NULL;
	struct sandbox_proc *p;
	char reason[512];

	if (variant->input)
		in = t_text_set("in", "a", "hello");
	p = t_run_hostile(self->sb, variant->instance, T_MEMORY, T_TIMEOUT_MS,
			  in);
	set_free(in);
	ASSERT_NE(NULL, p);
	res = sandbox_proc_result(p);
	ASSERT_LE(0, guard_poll(self->g, 0, t_events_collect, &ev));
	v = t_events_find(&ev, GUARD_KIND_SYSCALL, GUARD_HOOK_MAX);
	if (variant->nr < 0) {
		EXPECT_NULL(v) TH_LOG("unexpected event nr %ld", v->nr);
		if (variant->exit_status) {
			EXPECT_EQ(variant->exit_status, res->exit_status)
				TH_LOG("%s", res->reason);
		} else {
			EXPECT_EQ(SANDBOX_OK, res->status)
				TH_LOG("%s", res->reason);
		}
	} else {
		EXPECT_EQ(SANDBOX_FAILED, res->status);
		EXPECT_EQ(SIGKILL, res->signal) TH_LOG("%s", res->reason);
		ASSERT_NE(NULL, v) TH_LOG("no event; sandbox says: %s",
					  res->reason);
		EXPECT_EQ(variant->nr, v->nr);
		EXPECT_EQ(variant->compat, v->compat);
		EXPECT_EQ(GUARD_ACT_KILL, v->action);
		guard_violation_format(v, reason, sizeof(reason));
		TH_LOG("%s", reason);
	}
	sandbox_proc_free(p);
}

/* The premise: with seccomp off and no guard, the same call goes through. */
TEST(without_the_guard_the_forbidden_call_goes_through)
{
	struct sandbox *sb = t_sandbox(true);
	struct sandbox_proc *p;

	p = t_run_hostile(sb, HOSTILE(H_SYSCALL, SYS_getppid), T_MEMORY,
			  T_TIMEOUT_MS, NULL);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(100, sandbox_proc_result(p)->exit_status)
		TH_LOG("%s", t_reason(p));
	sandbox_proc_free(p);
	sandbox_free(sb);
}

/* Step p to its end (1), or -errno. */
static int wait_one(struct sandbox_proc *p)
{
	int r;

	while ((r = sandbox_proc_step(p)) == 0) {
		struct pollfd pfd = { sandbox_proc_fd(p), POLLIN, 0 };

		poll(&pfd, 1, 1);
	}
	return r;
}

/*
 * A sandbox with a guard (seccomp off: the guard alone) and n runners
 * nested in it (sandbox_new_nested()), each held. 0; 1 when there is no
 * guard here (nothing is left made); -errno with e set. Every runner
 * must use the parent's one guard: its programs, not a copy.
 */
static int runners_new(struct sandbox **ret_parent, struct sandbox **sb,
		       int n, struct err *e)
{
	struct sandbox_opts o = { .no_seccomp = true, .no_drivers = true };
	struct sandbox *parent = NULL;
	int r = sandbox_new(&o, &parent, e);

	if (r < 0)
		return r;
	if (!parent->guard) {
		sandbox_free(parent);
		return 1;
	}
	*ret_parent = parent;
	for (int i = 0; i < n; i++) {
		r = sandbox_new_nested(parent, &o, &sb[i], e);
		if (r < 0)
			return r;
		if (sb[i]->guard != parent->guard)
			return err_set(e, EINVAL, "runner %d has a guard of its own", i);
		r = sandbox_hold(sb[i], e);
		if (r < 0)
			return r;
	}
	return 0;
}

static void runners_free(struct sandbox *parent, struct sandbox **sb, int n)
{
	for (int i = 0; i < n; i++) {
		sandbox_release(sb[i]);
		sandbox_free(sb[i]);
	}
	sandbox_free(parent);
}

/*
 * pithd's runners (sandbox_new_nested()): two sandboxes nested in a third
 * use its one guard, and one's worker never passes as the other's. The
 * guard kills a forbidden call in one while the other runs a clean
 * instance; the clean one is stepped first, so its poll meets the other's
 * event in the ring and must leave it: the clean instance ends as it
 * should, and the killed one is told the guard's reason. Then the other
 * way round.
 */
TEST(nested_sandboxes_share_one_guard_and_each_gets_only_its_own_kills)
{
	struct sandbox *parent = NULL, *sb[2] = { NULL, NULL };
	struct err e = {};
	int r;

	if (geteuid() != 0)
		SKIP(return, "needs root to load BPF programs and make cgroups");
	r = runners_new(&parent, sb, 2, &e);
	ASSERT_LE(0, r) TH_LOG("%s", e.msg);
	if (r > 0)
		SKIP(return, "no eBPF guard here (needs a cgroup v2 leaf)");
	for (int i = 0; i < 2; i++)
		ASSERT_NE(NULL, strstr(sandbox_cgroup_path(sb[i]), "/runner-"));
	for (int round = 0; round < 2; round++) {
		struct sandbox *bad = sb[round], *good = sb[!round];
		struct sandbox_proc *pb, *pg;

		pb = t_spawn_hostile(bad, HOSTILE(H_SYSCALL, SYS_openat),
				     T_TIMEOUT_MS);
		pg = t_spawn_hostile(good, HOSTILE(H_EXIT, 3), T_TIMEOUT_MS);
		ASSERT_NE(NULL, pb);
		ASSERT_NE(NULL, pg);
		/* The bad worker killed (its event in the ring) before the
		 * good one's end is read. */
		usleep(200 * 1000);
		ASSERT_EQ(1, wait_one(pg));
		EXPECT_EQ(3, sandbox_proc_result(pg)->exit_status)
			TH_LOG("round %d: the clean instance: %s", round,
			       t_reason(pg));
		EXPECT_NULL(strstr(t_reason(pg), "openat"))
			TH_LOG("round %d: the clean instance was told %s",
			       round, t_reason(pg));
		ASSERT_EQ(1, wait_one(pb));
		EXPECT_EQ(SANDBOX_FAILED, sandbox_proc_result(pb)->status);
		EXPECT_NE(NULL, strstr(t_reason(pb), "openat"))
			TH_LOG("round %d: the killed instance: %s", round,
			       t_reason(pb));
		sandbox_proc_free(pg);
		sandbox_proc_free(pb);
	}
	runners_free(parent, sb, 2);
}

/*
 * Many runners, one guard: every event read from the ring by a sandbox
 * that is not its worker's is kept for that worker's sandbox, however
 * many. Two runners' 40 hostile instances each (80, more than the 64 the
 * shared guard used to keep) are all killed by the guard before a third
 * runner's clean instance is stepped: its poll reads the 80 events and
 * must keep each for its own runner, and every killed instance is then
 * told the guard's reason, not a plain SIGKILL.
 */
#define MANY_BAD 40

TEST(every_runner_is_told_each_kill_the_others_read_first)
{
	struct sandbox *parent = NULL, *sb[3] = { NULL, NULL, NULL };
	struct sandbox_proc *bad[2][MANY_BAD] = { { NULL } }, *pg;
	struct err e = {};
	int told = 0, r;

	if (geteuid() != 0)
		SKIP(return, "needs root to load BPF programs and make cgroups");
	r = runners_new(&parent, sb, 3, &e);
	ASSERT_LE(0, r) TH_LOG("%s", e.msg);
	if (r > 0)
		SKIP(return, "no eBPF guard here (needs a cgroup v2 leaf)");
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < MANY_BAD; i++) {
			bad[s][i] = t_spawn_hostile(sb[s],
						    HOSTILE(H_SYSCALL, SYS_openat),
						    T_TIMEOUT_MS);
			ASSERT_NE(NULL, bad[s][i]);
		}
	/* All killed, their events in the ring, none of them polled. */
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < MANY_BAD; i++) {
			struct pollfd pfd = { sandbox_proc_fd(bad[s][i]),
					      POLLIN, 0 };

			ASSERT_EQ(1, poll(&pfd, 1, T_TIMEOUT_MS));
		}
	pg = t_spawn_hostile(sb[2], HOSTILE(H_EXIT, 3), T_TIMEOUT_MS);
	ASSERT_NE(NULL, pg);
	ASSERT_EQ(1, wait_one(pg));
	EXPECT_EQ(3, sandbox_proc_result(pg)->exit_status)
		TH_LOG("the clean instance: %s", t_reason(pg));
	sandbox_proc_free(pg);
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < MANY_BAD; i++) {
			struct sandbox_proc *p = bad[s][i];

			ASSERT_EQ(1, wait_one(p));
			EXPECT_EQ(SANDBOX_FAILED,
				  sandbox_proc_result(p)->status);
			if (strstr(t_reason(p), "forbidden syscall openat"))
				told++;
			else
				TH_LOG("runner %d, instance %d: %s", s, i,
				       t_reason(p));
			sandbox_proc_free(p);
		}
	EXPECT_EQ(2 * MANY_BAD, told);
	runners_free(parent, sb, 3);
}

TEST_HARNESS_MAIN
