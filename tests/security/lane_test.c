// SPDX-License-Identifier: MIT
/*
 * Lanes (on by default, PITH_LANES=0 off; sandbox/driver.c): fresh
 * instances handed to a
 * driver thread, forked by its own zygote on its CPU, attacked. Each
 * hostile fresh instance runs twice: alone on this thread (the engine's
 * lane) and in the driver's lane (handed over while one instance of this
 * thread runs), and must fail both times with the same status, signal,
 * system call and reason: seccomp's kill, the eBPF guard's kill with its
 * name of the call, the deadline's SIGKILL, a fault, a malformed output
 * found by the driver's collection. Then where the lanes run, and when
 * there is only one: never for a lone instance (-j 1), never on one CPU
 * (taskset -c 0). And a full lane (its zygote's PLAN_SLOTS at once) with
 * a failure and a kill amid it; lanes started ahead, the engine's lane
 * running while its driver starts.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <pith/abi.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "lib/clock.h"
#include "lib/probe.h"
#include "sandbox/internal.h"
#include "sandbox/plan.h"
#include "security/t_sandbox.h"

/* A sandbox with one driver and lanes on, made under `cpus` when not
 * NULL; NULL when pith may not use two CPUs there. */
static struct sandbox *lane_sandbox(const struct sandbox_opts *o,
				    const cpu_set_t *cpus, struct err *e)
{
	struct sandbox *sb = NULL;
	cpu_set_t before;
	int r;

	sched_getaffinity(0, sizeof(before), &before);
	if (cpus)
		sched_setaffinity(0, sizeof(*cpus), cpus);
	setenv("PITH_DRIVERS", "1", 1);
	setenv("PITH_LANES", "1", 1);
	r = sandbox_new(o, &sb, e);
	unsetenv("PITH_DRIVERS");
	unsetenv("PITH_LANES");
	if (cpus)
		sched_setaffinity(0, sizeof(before), &before);
	return r < 0 ? NULL : sb;
}

/* Whether pith may use two CPUs here (a lane per CPU). */
static bool two_cpus(void)
{
	cpu_set_t cpus;

	return sched_getaffinity(0, sizeof(cpus), &cpus) == 0 &&
	       CPU_COUNT(&cpus) >= 2;
}

FIXTURE(lane)
{
	struct sandbox *sb;
	bool held;
};

FIXTURE_VARIANT(lane)
{
	bool guard, no_seccomp;
};

FIXTURE_VARIANT_ADD(lane, seccomp) { .guard = false };
FIXTURE_VARIANT_ADD(lane, seccomp_and_the_ebpf_guard) { .guard = true };
/* The guard's own kills: nothing in front of it. */
FIXTURE_VARIANT_ADD(lane, the_ebpf_guard_alone)
{
	.guard = true, .no_seccomp = true,
};

FIXTURE_SETUP(lane)
{
	struct sandbox_opts o = { .no_guard = !variant->guard,
				  .no_seccomp = variant->no_seccomp };
	struct err e = { { 0 } };

	if (!two_cpus())
		SKIP(return, "lanes need two CPUs (taskset keeps them off)");
	self->sb = lane_sandbox(&o, NULL, &e);
	ASSERT_NE(NULL, self->sb) TH_LOG("%s", e.msg);
	if (variant->guard) {
		if (!t_layer_active(self->sb, "bpf-syscall"))
			SKIP(return, "no eBPF guard here (needs root and a cgroup v2 leaf)");
		ASSERT_EQ(0, sandbox_hold(self->sb, &e)) TH_LOG("%s", e.msg);
		self->held = true;
	}
	/* t_spawn_hostile() asks for fresh instances. */
	setenv("PITH_TEST_FRESH", "1", 1);
}

FIXTURE_TEARDOWN(lane)
{
	unsetenv("PITH_TEST_FRESH");
	if (self->held)
		sandbox_release(self->sb);
	sandbox_free(self->sb);
}

/* The hostile function's `inst`, fresh, to its end: alone on this thread,
 * or in the driver's lane (handed over while a spinning instance of this
 * thread runs). NULL with the reason logged when it cannot be spawned. */
static struct sandbox_proc *run(struct sandbox *sb, uint64_t inst,
				uint64_t timeout_ms, bool lane)
{
	struct sandbox_proc *hold = NULL, *p;

	if (lane && !(hold = t_spawn_hostile(sb, HOSTILE(H_LOOP, 0), 20000)))
		return NULL;
	p = t_spawn_hostile(sb, inst, timeout_ms);
	if (p && t_wait(p) != 1)
		p = sandbox_proc_free(p);
	sandbox_proc_free(hold);
	return p;
}

/* Both runs fail alike, the second in the lane; "" or what differs. */
static void same_in_a_lane(struct sandbox *sb, uint64_t inst,
			   uint64_t timeout_ms, char *why, size_t len)
{
	struct sandbox_proc *own = run(sb, inst, timeout_ms, false);
	struct sandbox_proc *laned = run(sb, inst, timeout_ms, true);
	const struct sandbox_result *a, *b;

	why[0] = 0;
	if (!own || !laned) {
		snprintf(why, len, "not run (%s)", own ? "lane" : "own");
		goto out;
	}
	a = sandbox_proc_result(own);
	b = sandbox_proc_result(laned);
	if (sandbox_proc_driven(own) || !sandbox_proc_driven(laned))
		snprintf(why, len, "driven: alone %d, behind another %d",
			 sandbox_proc_driven(own), sandbox_proc_driven(laned));
	else if (a->probe_reason == PROBE_REASON_SPAWN ||
		 b->probe_reason == PROBE_REASON_SPAWN)
		snprintf(why, len, "not started: %.200s / %.200s", a->reason,
			 b->reason);
	else if (a->status == SANDBOX_OK)
		snprintf(why, len, "the attack succeeded: %.200s", a->reason);
	else if (a->status != b->status || a->signal != b->signal ||
		 a->syscall != b->syscall || strcmp(a->reason, b->reason))
		snprintf(why, len,
			 "alone: status %d signal %d call %ld \"%.200s\"; in a lane: status %d signal %d call %ld \"%.200s\"",
			 a->status, a->signal, (long)a->syscall, a->reason,
			 b->status, b->signal, (long)b->syscall, b->reason);
out:
	sandbox_proc_free(own);
	sandbox_proc_free(laned);
}

TEST_F(lane, a_forbidden_call_in_a_lane_is_killed_and_named_as_alone)
{
	static const long calls[] = { __NR_getpid, __NR_openat, __NR_socket,
				      __NR_ptrace, __NR_clone, __NR_mmap };
	char why[1024];

	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		same_in_a_lane(self->sb, HOSTILE(H_SYSCALL, calls[i]),
			       T_TIMEOUT_MS, why, sizeof(why));
		EXPECT_STREQ("", why) TH_LOG("system call %ld", calls[i]);
	}
	/* Foreign ABIs: seccomp's architecture check, not the guard's. */
	if (!variant->no_seccomp) {
		same_in_a_lane(self->sb, HOSTILE(H_X32, 0), T_TIMEOUT_MS, why,
			       sizeof(why));
		EXPECT_STREQ("", why) TH_LOG("x32");
		same_in_a_lane(self->sb, HOSTILE(H_INT80, 0), T_TIMEOUT_MS,
			       why, sizeof(why));
		EXPECT_STREQ("", why) TH_LOG("int 0x80");
	}
}

/* A driver waits in its sandbox's exit ring (driver.c, driver_ring()),
 * where its listener's wake-ups are polled too: one completion may stand
 * for several forbidden calls that came at once. A full lane of them, each
 * call pending in its worker together: every one is killed and named as
 * alone, none left waiting until its deadline (with one notification read
 * per wake-up, the others time out). */
TEST_F(lane, forbidden_calls_of_a_full_lane_at_once_are_each_killed_and_named)
{
	enum { N = 2 * PLAN_SLOTS - 1 + SANDBOX_LANE_QUEUE };
	static const long calls[] = { __NR_getpid, __NR_openat, __NR_socket,
				      __NR_ptrace };
	struct sandbox_proc *alone[4], *hold, *p[N];
	unsigned driven = 0;

	for (int c = 0; c < 4; c++) {
		alone[c] = run(self->sb, HOSTILE(H_SYSCALL, calls[c]),
			       T_TIMEOUT_MS, false);
		ASSERT_NE(NULL, alone[c]);
		ASSERT_NE(SANDBOX_OK, sandbox_proc_result(alone[c])->status);
	}
	hold = t_spawn_hostile(self->sb, HOSTILE(H_LOOP, 0), 20000);
	ASSERT_NE(NULL, hold);
	for (int i = 0; i < N; i++) {
		p[i] = t_spawn_hostile(self->sb,
				       HOSTILE(H_SYSCALL, calls[i % 4]),
				       T_TIMEOUT_MS);
		ASSERT_NE(NULL, p[i]);
		driven += sandbox_proc_driven(p[i]);
	}
	EXPECT_EQ(PLAN_SLOTS + SANDBOX_LANE_QUEUE, driven);
	for (int i = 0; i < N; i++) {
		const struct sandbox_result *a = sandbox_proc_result(alone[i % 4]);

		ASSERT_EQ(1, t_wait(p[i])) TH_LOG("instance %d", i);
		EXPECT_STREQ(a->reason, t_reason(p[i]))
			TH_LOG("instance %d, driven %d", i,
			       sandbox_proc_driven(p[i]));
		EXPECT_EQ(a->syscall, sandbox_proc_result(p[i])->syscall);
		sandbox_proc_free(p[i]);
	}
	sandbox_proc_free(hold);
	for (int c = 0; c < 4; c++)
		sandbox_proc_free(alone[c]);
}

TEST_F(lane, a_fork_bomb_in_a_lane_forks_nothing)
{
	char why[1024];

	same_in_a_lane(self->sb, HOSTILE(H_FORK_BOMB, 0), T_TIMEOUT_MS, why,
		       sizeof(why));
	EXPECT_STREQ("", why);
}

TEST_F(lane, an_instance_past_its_deadline_in_a_lane_is_killed_as_alone)
{
	struct sandbox_proc *p;
	char why[1024];

	same_in_a_lane(self->sb, HOSTILE(H_LOOP, 0), 300, why, sizeof(why));
	EXPECT_STREQ("", why);
	p = run(self->sb, HOSTILE(H_LOOP, 0), 300, true);
	ASSERT_NE(NULL, p);
	EXPECT_TRUE(sandbox_proc_driven(p));
	EXPECT_STREQ("timed out after 300 ms", t_reason(p));
	sandbox_proc_free(p);
}

TEST_F(lane, faults_in_a_lane_are_reported_as_alone)
{
	static const unsigned long long attacks[] = {
		HOSTILE(H_WRITE, 0), HOSTILE(H_READ, 0), HOSTILE(H_ILLEGAL, 0),
		HOSTILE(H_DIVIDE, 0), HOSTILE(H_STACK_OVERFLOW, 1ull << 40),
		HOSTILE(H_JUMP, PITH_CONTEXT_BASE + 0x10000),
		/* pith-worker's loader code: unmapped before the function. */
		HOSTILE(H_JUMP, PLAN_LOADER_BASE),
		HOSTILE(H_JUMP, PLAN_TRAMPOLINE_BASE),
	};
	char why[1024];

	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		same_in_a_lane(self->sb, attacks[i], T_TIMEOUT_MS, why,
			       sizeof(why));
		EXPECT_STREQ("", why) TH_LOG("attack %zu", i);
	}
}

/* Collected by the driver's thread: its checks are the engine's. */
TEST_F(lane, a_malformed_output_in_a_lane_is_refused_as_alone)
{
	char why[1024];

	for (int bad = BAD_ITEMS_OUTSIDE; bad <= BAD_NAME_CONTROL; bad++) {
		same_in_a_lane(self->sb, HOSTILE(H_BAD_OUTPUT, bad),
			       T_TIMEOUT_MS, why, sizeof(why));
		EXPECT_STREQ("", why) TH_LOG("variant %d", bad);
	}
}

/* The engine's lane: its workers (forked by its zygote, confined with
 * it) stay off the driver's CPU while it hands instances over; the
 * driver's run on the driver's CPU, so its worker is not on this
 * thread's CPUs. */
TEST_F(lane, each_lanes_workers_run_on_its_own_cpus)
{
	struct sandbox_proc *hold, *own, *laned;
	struct sandbox_proc *more[SANDBOX_LANE_QUEUE + 1];
	cpu_set_t mine, theirs;
	int n_more;

	/* A zygote of the function in each lane first. */
	for (int i = 0; i < 3; i++)
		sandbox_proc_free(run(self->sb, HOSTILE(H_EXIT, 0),
				      T_TIMEOUT_MS, true));
	hold = t_spawn_hostile(self->sb, HOSTILE(H_LOOP, 0), 20000);
	ASSERT_NE(NULL, hold);
	laned = t_spawn_hostile(self->sb, HOSTILE(H_LOOP, 0), 20000);
	ASSERT_NE(NULL, laned);
	ASSERT_TRUE(sandbox_proc_driven(laned));
	/* The driver's lane takes its queue's worth more (held in more[])
	 * before the engine's takes the next. */
	for (n_more = 0; n_more <= SANDBOX_LANE_QUEUE; n_more++) {
		own = t_spawn_hostile(self->sb, HOSTILE(H_LOOP, 0), 20000);
		ASSERT_NE(NULL, own);
		if (!sandbox_proc_driven(own))
			break;
		more[n_more] = own;
	}
	ASSERT_FALSE(sandbox_proc_driven(own));
	ASSERT_EQ(0, sched_getaffinity(0, sizeof(mine), &mine));
	ASSERT_EQ(0, sched_getaffinity(sandbox_proc_pid(own), sizeof(theirs),
				       &theirs));
	CPU_AND(&theirs, &theirs, &mine);
	EXPECT_EQ(CPU_COUNT(&theirs), CPU_COUNT(&mine))
		TH_LOG("the engine's worker may run off the engine's CPUs");
	while (n_more--)
		sandbox_proc_free(more[n_more]);
	sandbox_proc_free(laned);
	sandbox_proc_free(own);
	sandbox_proc_free(hold);
}

/* The hostile function's `inst`, fresh, behind a spinning one or alone,
 * with one input item "item <i>" (H_OUTPUTS forwards it), its output
 * sets named `outs`. */
static struct sandbox_proc *spawn_named(struct sandbox *sb, uint64_t inst,
					int i, const char *const *outs,
					size_t n_outs)
{
	struct sandbox_request req = {
		.image = t_hostile(),
		.limits = { .memory = T_MEMORY, .timeout_ms = 20000 },
		.n_inputs = 1, .outputs = outs, .n_outputs = n_outs,
		.instance = inst, .fresh = true,
	};
	struct sandbox_proc *p = NULL;
	struct err e = { { 0 } };
	char data[32];
	struct set *in;

	snprintf(data, sizeof(data), "item %d", i);
	in = t_text_set("in", "x", data);
	req.inputs = &in;
	if (sandbox_spawn(sb, &req, &p, &e) < 0)
		fprintf(stderr, "# sandbox_spawn: %s\n", e.msg);
	set_free(in);
	return p;
}

/* spawn_named() with one output set, "out". */
static struct sandbox_proc *spawn_item(struct sandbox *sb, uint64_t inst,
				       int i)
{
	static const char *const outs[] = { "out" };

	return spawn_named(sb, inst, i, outs, 1);
}

/* How instance i of a full lane ended against what it should: "" or
 * what differs. ref: the same attack alone, or NULL for one that
 * forwards its item; killed: its reason says SIGKILL (whether the kill
 * came before the function started or after, which is timing, is not
 * compared). */
static void check_item(struct sandbox_proc *p, int i,
		       const struct sandbox_result *ref, bool killed,
		       char *why, size_t len)
{
	const struct sandbox_result *r = sandbox_proc_result(p);
	struct set **o;
	const void *d;
	char data[32];
	size_t n = 0;

	why[0] = 0;
	if (ref) {
		if (r->status != ref->status || r->signal != ref->signal ||
		    (killed ? !strstr(r->reason, "SIGKILL") :
			      strcmp(r->reason, ref->reason) != 0))
			snprintf(why, len,
				 "instance %d: status %d signal %d \"%.200s\", alone: status %d signal %d \"%.200s\"",
				 i, r->status, r->signal, r->reason,
				 ref->status, ref->signal, ref->reason);
		return;
	}
	if (r->status != SANDBOX_OK) {
		snprintf(why, len, "instance %d failed: %.200s", i, r->reason);
		return;
	}
	snprintf(data, sizeof(data), "item %d", i);
	o = sandbox_proc_take_outputs(p, &n);
	if (n != 1 || o[0]->n != 4 || item_data(&o[0]->items[1], &d) < 0 ||
	    o[0]->items[1].len != strlen(data) ||
	    memcmp(d, data, strlen(data)))
		snprintf(why, len, "instance %d: not its own item forwarded", i);
	for (size_t k = 0; k < n; k++)
		set_free(o[k]);
	free(o);
}

/* Each of p[0..n) ran once, in a worker of its own: "" or the first two
 * that shared one. */
static void own_workers(struct sandbox_proc *const *p, int n, char *why,
			size_t len)
{
	why[0] = 0;
	for (int i = 0; i < n && !why[0]; i++)
		for (int k = 0; k < i && !why[0]; k++)
			if (sandbox_proc_pid(p[k]) == sandbox_proc_pid(p[i]))
				snprintf(why, len,
					 "instances %d and %d: one worker", k, i);
}

/* A spinning fresh instance of sb killed alone, to its end, for what a
 * kill reports; NULL when it cannot be run or does not end. */
static struct sandbox_proc *killed_alone(struct sandbox *sb)
{
	struct sandbox_proc *p = t_spawn_hostile(sb, HOSTILE(H_LOOP, 0), 20000);

	if (p) {
		sandbox_proc_kill(p);
		if (t_wait(p) != 1)
			p = sandbox_proc_free(p);
	}
	return p;
}

/* A lane holds its zygote's PLAN_SLOTS fresh instances at once (the
 * engine's thread hands them over while its own run): one that fails and
 * one killed in the middle of them are reported for themselves alone,
 * as alone; every other one ends well with its own item, once (a worker
 * of its own). */
TEST(a_failure_and_a_kill_amid_a_full_lane_touch_only_their_instances)
{
	enum { N = 2 * PLAN_SLOTS - 1 + SANDBOX_LANE_QUEUE, FAIL = 6,
	       KILL = 10 };
	struct sandbox_opts o = { .no_guard = true };
	struct sandbox_proc *hold, *p[N], *fail_alone, *kill_alone;
	struct err e = { { 0 } };
	unsigned driven = 0;
	struct sandbox *sb;
	char why[1024];

	if (!two_cpus())
		SKIP(return, "lanes need two CPUs (taskset keeps them off)");
	sb = lane_sandbox(&o, NULL, &e);
	ASSERT_NE(NULL, sb) TH_LOG("%s", e.msg);
	setenv("PITH_TEST_FRESH", "1", 1);
	/* Alone, for what the two should report. */
	fail_alone = t_spawn_hostile(sb, HOSTILE(H_EXIT, 7), 20000);
	ASSERT_NE(NULL, fail_alone);
	ASSERT_EQ(1, t_wait(fail_alone));
	kill_alone = killed_alone(sb);
	ASSERT_NE(NULL, kill_alone);
	ASSERT_FALSE(sandbox_proc_driven(fail_alone));
	ASSERT_FALSE(sandbox_proc_driven(kill_alone));
	hold = t_spawn_hostile(sb, HOSTILE(H_LOOP, 0), 20000);
	ASSERT_NE(NULL, hold);
	/* The lane with the fewest takes each, the driver's counting its
	 * queue (SANDBOX_LANE_QUEUE) as none: the driver the first nine,
	 * then every other one, until it holds PLAN_SLOTS and its queue. */
	for (int i = 0; i < N; i++) {
		p[i] = spawn_item(sb, i == FAIL ? HOSTILE(H_EXIT, 7) :
				  i == KILL ? HOSTILE(H_LOOP, 0) :
					      HOSTILE(H_OUTPUTS, 0), i);
		ASSERT_NE(NULL, p[i]);
		driven += sandbox_proc_driven(p[i]);
	}
	EXPECT_EQ(PLAN_SLOTS + SANDBOX_LANE_QUEUE, driven);
	ASSERT_TRUE(sandbox_proc_driven(p[FAIL]));
	ASSERT_TRUE(sandbox_proc_driven(p[KILL]));
	sandbox_proc_kill(p[KILL]);
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(1, t_wait(p[i])) TH_LOG("instance %d", i);
		check_item(p[i], i,
			   i == FAIL ? sandbox_proc_result(fail_alone) :
			   i == KILL ? sandbox_proc_result(kill_alone) : NULL,
			   i == KILL, why, sizeof(why));
		EXPECT_STREQ("", why);
	}
	own_workers(p, N, why, sizeof(why));
	EXPECT_STREQ("", why);
	for (int i = 0; i < N; i++)
		sandbox_proc_free(p[i]);
	sandbox_proc_free(hold);
	sandbox_proc_free(fail_alone);
	sandbox_proc_free(kill_alone);
	unsetenv("PITH_TEST_FRESH");
	sandbox_free(sb);
}

/* Whether every driven instance of p[0..n) is done (its driver's
 * completion), none stepped on this thread. */
static bool driven_done(struct sandbox_proc *const *p, int n)
{
	for (int i = 0; i < n; i++)
		if (sandbox_proc_driven(p[i]) && !driver_proxy_done(p[i]))
			return false;
	return true;
}

/* A driver's lane holds PLAN_SLOTS running and SANDBOX_LANE_QUEUE
 * queued (driver.c turn()): the queued ones start as its workers end,
 * each forked by the driver's zygote, while this thread (the engine's)
 * steps and frees nothing; one killed while queued ends killed as
 * alone, the others at their deadline as alone, each once with a worker
 * of its own. Before round 15 the driver held PLAN_SLOTS, and ran dry
 * until the engine's thread freed them and handed it more. */
TEST(a_drivers_queue_runs_without_the_engines_thread)
{
	enum { N = 2 * PLAN_SLOTS - 1 + SANDBOX_LANE_QUEUE, MS = 300 };
	struct sandbox_opts o = { .no_guard = true };
	struct sandbox_proc *hold, *p[N], *late_alone, *kill_alone;
	struct err e = { { 0 } };
	int driven = 0, killed = -1;
	uint64_t end;
	struct sandbox *sb;
	char why[1024];

	if (!two_cpus())
		SKIP(return, "lanes need two CPUs (taskset keeps them off)");
	sb = lane_sandbox(&o, NULL, &e);
	ASSERT_NE(NULL, sb) TH_LOG("%s", e.msg);
	setenv("PITH_TEST_FRESH", "1", 1);
	late_alone = t_spawn_hostile(sb, HOSTILE(H_LOOP, 0), MS);
	ASSERT_NE(NULL, late_alone);
	ASSERT_EQ(1, t_wait(late_alone));
	kill_alone = killed_alone(sb);
	ASSERT_NE(NULL, kill_alone);
	hold = t_spawn_hostile(sb, HOSTILE(H_LOOP, 0), 20000);
	ASSERT_NE(NULL, hold);
	for (int i = 0; i < N; i++) {
		p[i] = t_spawn_hostile(sb, HOSTILE(H_LOOP, 0), MS);
		ASSERT_NE(NULL, p[i]);
		if (sandbox_proc_driven(p[i])) {
			driven++;
			killed = i; /* the last, queued behind 8 spinning */
		}
	}
	ASSERT_EQ(PLAN_SLOTS + SANDBOX_LANE_QUEUE, driven);
	sandbox_proc_kill(p[killed]);
	end = clock_now_ns() + 10000000000ull;
	while (!driven_done(p, N) && clock_now_ns() < end)
		usleep(1000);
	ASSERT_TRUE(driven_done(p, N))
		TH_LOG("the driver's queue waited for this thread");
	/* Forked by its zygote, none exec'd past its slots: all but its
	 * first (the zygote's start) and the one killed while queued
	 * (started at once, as on this thread). */
	EXPECT_LE((uint64_t)driven - 2, driver_zygote_forks(sb, 0));
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(1, t_wait(p[i])) TH_LOG("instance %d", i);
		check_item(p[i], i,
			   sandbox_proc_result(i == killed ? kill_alone
							   : late_alone),
			   i == killed, why, sizeof(why));
		EXPECT_STREQ("", why);
	}
	own_workers(p, N, why, sizeof(why));
	EXPECT_STREQ("", why);
	for (int i = 0; i < N; i++)
		sandbox_proc_free(p[i]);
	sandbox_proc_free(hold);
	sandbox_proc_free(late_alone);
	sandbox_proc_free(kill_alone);
	unsetenv("PITH_TEST_FRESH");
	sandbox_free(sb);
}

/* A sandbox keeps freed procs (and their arrays) for its next instances
 * (spawn.c, SANDBOX_PROC_POOL), in each lane. After a full lane of
 * instances that each failed their own way (a forbidden call, a fault, an
 * exit status, a malformed output, a kill) went back to the pools, a full
 * lane of good ones, with more and longer output names, each ends well
 * with its own item under its own names: nothing of a failure before it
 * (a reason, a system call, a signal, an output name) reaches it, and
 * each has a worker of its own. */
TEST(procs_recycled_from_failed_instances_start_clean)
{
	enum { N = 2 * PLAN_SLOTS - 1 + SANDBOX_LANE_QUEUE };
	static const char *const short_outs[] = { "o" };
	static const char *const long_outs[] = {
		"an-output-name-longer-than-any-before", "out" };
	const uint64_t bad[] = { HOSTILE(H_SYSCALL, 39), HOSTILE(H_WRITE, 16),
				 HOSTILE(H_EXIT, 9),
				 HOSTILE(H_BAD_OUTPUT, BAD_NAME_SLASH),
				 HOSTILE(H_LOOP, 0) };
	struct sandbox_opts o = { .no_guard = true };
	struct sandbox_proc *hold, *p[N];
	struct err e = { { 0 } };
	unsigned driven = 0, failed = 0;
	struct sandbox *sb;
	pid_t pids[N];

	if (!two_cpus())
		SKIP(return, "lanes need two CPUs (taskset keeps them off)");
	sb = lane_sandbox(&o, NULL, &e);
	ASSERT_NE(NULL, sb) TH_LOG("%s", e.msg);
	setenv("PITH_TEST_FRESH", "1", 1);
	hold = t_spawn_hostile(sb, HOSTILE(H_LOOP, 0), 20000);
	ASSERT_NE(NULL, hold);
	for (int i = 0; i < N; i++) {
		uint64_t h = bad[i % ARRAY_SIZE(bad)];

		p[i] = spawn_named(sb, h, i, short_outs, 1);
		ASSERT_NE(NULL, p[i]);
		if ((h & 0xffff) == H_LOOP)
			sandbox_proc_kill(p[i]);
	}
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(1, t_wait(p[i])) TH_LOG("instance %d", i);
		failed += sandbox_proc_result(p[i])->status != SANDBOX_OK &&
			  sandbox_proc_result(p[i])->reason[0];
		driven += sandbox_proc_driven(p[i]);
		sandbox_proc_free(p[i]);
	}
	ASSERT_EQ(N, failed);
	EXPECT_LT(0, driven);
	/* The engine's sandbox has procs to give again. */
	ASSERT_LT(0, sb->n_proc_pool);
	driven = 0;
	for (int i = 0; i < N; i++) {
		p[i] = spawn_named(sb, HOSTILE(H_OUTPUTS, 0), i, long_outs, 2);
		ASSERT_NE(NULL, p[i]);
		driven += sandbox_proc_driven(p[i]);
	}
	EXPECT_EQ(PLAN_SLOTS + SANDBOX_LANE_QUEUE, driven);
	for (int i = 0; i < N; i++) {
		const struct sandbox_result *r;
		struct set **out;
		const void *d;
		char data[32];
		size_t n = 0;

		ASSERT_EQ(1, t_wait(p[i])) TH_LOG("instance %d", i);
		r = sandbox_proc_result(p[i]);
		EXPECT_EQ(SANDBOX_OK, r->status) TH_LOG("instance %d: %s", i,
							 r->reason);
		EXPECT_STREQ("", r->reason) TH_LOG("instance %d", i);
		EXPECT_EQ(-1, r->syscall) TH_LOG("instance %d", i);
		EXPECT_EQ(0, r->signal) TH_LOG("instance %d", i);
		EXPECT_EQ(0, r->exit_status) TH_LOG("instance %d", i);
		out = sandbox_proc_take_outputs(p[i], &n);
		ASSERT_EQ(2, n) TH_LOG("instance %d", i);
		EXPECT_STREQ(long_outs[0], out[0]->name);
		EXPECT_STREQ(long_outs[1], out[1]->name);
		snprintf(data, sizeof(data), "item %d", i);
		ASSERT_EQ(4, out[0]->n) TH_LOG("instance %d", i);
		ASSERT_EQ(0, item_data(&out[0]->items[1], &d));
		EXPECT_EQ(strlen(data), out[0]->items[1].len);
		EXPECT_EQ(0, memcmp(d, data, strlen(data)))
			TH_LOG("instance %d: not its own item", i);
		EXPECT_EQ(0, out[1]->n);
		for (size_t k = 0; k < n; k++)
			set_free(out[k]);
		free(out);
		pids[i] = sandbox_proc_pid(p[i]);
		for (int k = 0; k < i; k++)
			EXPECT_NE(pids[k], pids[i])
				TH_LOG("instances %d and %d: one worker", k, i);
	}
	for (int i = 0; i < N; i++)
		sandbox_proc_free(p[i]);
	sandbox_proc_free(hold);
	unsetenv("PITH_TEST_FRESH");
	sandbox_free(sb);
}

/* The engine starts the lanes ahead (sandbox_lanes_start(), at a fresh
 * stage with more instances waiting): its thread does not wait while the
 * driver makes its sandbox (a spawner, a cgroup leaf: ms) but keeps its
 * own lane running, up to its zygote's PLAN_SLOTS; the next one waits for
 * the driver and is driven. Before, the first hand-over (here the second
 * instance) waited for the driver, its CPU idle. Counted, not timed: the
 * second spawn comes microseconds after the start, the driver's sandbox
 * takes milliseconds, and longer on a loaded machine. Each ends killed,
 * as alone. */
TEST(lanes_started_ahead_keep_the_engines_lane_running_until_a_driver_is_ready)
{
	enum { N = PLAN_SLOTS + 1 };
	struct sandbox_opts o = { .no_guard = true };
	struct sandbox_proc *p[N] = { 0 }, *alone;
	struct err e = { { 0 } };
	unsigned own = 0, first_driven = N;
	struct sandbox *sb;

	if (!two_cpus())
		SKIP(return, "lanes need two CPUs (taskset keeps them off)");
	sb = lane_sandbox(&o, NULL, &e);
	ASSERT_NE(NULL, sb) TH_LOG("%s", e.msg);
	setenv("PITH_TEST_FRESH", "1", 1);
	alone = killed_alone(sb);
	ASSERT_NE(NULL, alone);
	/* The function's zygote is up: the spawns below are forks. */
	p[0] = t_spawn_hostile(sb, HOSTILE(H_LOOP, 0), 20000);
	ASSERT_NE(NULL, p[0]);
	sandbox_lanes_start(sb);
	for (unsigned i = 1; i < N && first_driven == N; i++) {
		p[i] = t_spawn_hostile(sb, HOSTILE(H_LOOP, 0), 20000);
		ASSERT_NE(NULL, p[i]);
		if (sandbox_proc_driven(p[i]))
			first_driven = i;
	}
	for (unsigned i = 0; i < N; i++)
		own += p[i] && !sandbox_proc_driven(p[i]);
	EXPECT_FALSE(sandbox_proc_driven(p[0]));
	EXPECT_FALSE(sandbox_proc_driven(p[1]))
		TH_LOG("the second instance waited for the driver's sandbox");
	EXPECT_GT(N, first_driven) TH_LOG("no instance reached the driver");
	EXPECT_GE(PLAN_SLOTS, own) TH_LOG("%u in the engine's own lane", own);
	for (unsigned i = 0; i < N; i++) {
		if (!p[i])
			continue;
		sandbox_proc_kill(p[i]);
		ASSERT_EQ(1, t_wait(p[i])) TH_LOG("instance %u", i);
		EXPECT_EQ(sandbox_proc_result(alone)->status,
			  sandbox_proc_result(p[i])->status);
		EXPECT_EQ(sandbox_proc_result(alone)->signal,
			  sandbox_proc_result(p[i])->signal);
		sandbox_proc_free(p[i]);
	}
	sandbox_proc_free(alone);
	unsetenv("PITH_TEST_FRESH");
	sandbox_free(sb);
}

/* n instances of sb, each alone or behind a spinning one: all succeed
 * and none leaves this thread; "" or why not. */
static void one_lane(struct sandbox *sb, int n, bool behind, char *why,
		     size_t len)
{
	why[0] = 0;
	setenv("PITH_TEST_FRESH", "1", 1);
	for (int i = 0; i < n && !why[0]; i++) {
		struct sandbox_proc *p = run(sb, HOSTILE(H_EXIT, 0),
					     T_TIMEOUT_MS, behind);

		if (!p)
			snprintf(why, len, "instance %d not run", i);
		else if (sandbox_proc_result(p)->status != SANDBOX_OK)
			snprintf(why, len, "%.200s", t_reason(p));
		else if (sandbox_proc_driven(p))
			snprintf(why, len, "instance %d ran in a driver", i);
		sandbox_proc_free(p);
	}
	unsetenv("PITH_TEST_FRESH");
}

TEST(a_lone_instance_stays_in_the_engines_lane)
{
	struct sandbox_opts o = { .no_guard = true };
	struct err e = { { 0 } };
	struct sandbox *sb;
	char why[256];

	if (!two_cpus())
		SKIP(return, "lanes need two CPUs (taskset keeps them off)");
	sb = lane_sandbox(&o, NULL, &e);
	ASSERT_NE(NULL, sb) TH_LOG("%s", e.msg);
	/* -j 1: one instance at a time, each alone. */
	one_lane(sb, 20, false, why, sizeof(why));
	EXPECT_STREQ("", why);
	sandbox_free(sb);
}

TEST(one_cpu_has_one_lane)
{
	struct sandbox_opts o = { .no_guard = true };
	struct err e = { { 0 } };
	struct sandbox *sb;
	cpu_set_t one;
	char why[256];

	/* taskset -c 0 */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sb = lane_sandbox(&o, &one, &e);
	ASSERT_NE(NULL, sb) TH_LOG("%s", e.msg);
	one_lane(sb, 10, true, why, sizeof(why));
	EXPECT_STREQ("", why);
	sandbox_free(sb);
}

TEST_HARNESS_MAIN
