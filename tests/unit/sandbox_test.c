// SPDX-License-Identifier: MIT
/*
 * The sandbox from pith's side: a function's outputs come back without a
 * copy, every malformed output descriptor is refused with a reason that
 * names the field, exit statuses, timeouts, limits and the layers report.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include <pith/abi.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "security/t_sandbox.h"
#include "sandbox/internal.h"

FIXTURE(sb)
{
	struct sandbox *sb;
	struct sandbox_proc *p;
	struct set *in;
};

FIXTURE_SETUP(sb)
{
	self->sb = t_sandbox(false);
	self->p = NULL;
	self->in = t_text_set("in", "greeting", "forwarded bytes");
}

FIXTURE_TEARDOWN(sb)
{
	sandbox_proc_free(self->p);
	set_free(self->in);
	sandbox_free(self->sb);
}

static const void *t_item_bytes(const struct item *it)
{
	const void *p = NULL;

	return item_data(it, &p) < 0 ? NULL : p;
}

TEST_F(sb, outputs_reference_context_and_forwarded_input_without_copy)
{
	const struct sandbox_result *res;
	struct set **outs;
	size_t n;

	self->p = t_run_hostile(self->sb, HOSTILE(H_OUTPUTS, 0), T_MEMORY,
				T_TIMEOUT_MS, self->in);
	ASSERT_NE(NULL, self->p);
	res = sandbox_proc_result(self->p);
	ASSERT_EQ(SANDBOX_OK, res->status) TH_LOG("reason: %s", res->reason);
	EXPECT_EQ(-1, res->syscall);
	outs = sandbox_proc_take_outputs(self->p, &n);
	ASSERT_EQ(1, n);
	ASSERT_STREQ("out", outs[0]->name);
	ASSERT_EQ(4, outs[0]->n);

	EXPECT_STREQ("hello", outs[0]->items[0].name);
	EXPECT_EQ(8, outs[0]->items[0].len);
	EXPECT_EQ(0, memcmp(t_item_bytes(&outs[0]->items[0]), "hi there", 8));
	/* The item lives in the (sealed) context buffer. */
	EXPECT_TRUE(outs[0]->items[0].buf->sealed);

	/* An empty name becomes the item's index; the forwarded bytes are
	 * the input buffer itself, not a copy. */
	EXPECT_STREQ("1", outs[0]->items[1].name);
	EXPECT_TRUE(outs[0]->items[1].buf == self->in->items[0].buf);
	EXPECT_EQ(0, outs[0]->items[1].off);
	EXPECT_EQ(15, outs[0]->items[1].len);

	EXPECT_STREQ("k", outs[0]->items[2].name);
	EXPECT_TRUE(outs[0]->items[2].keyed);
	EXPECT_EQ(7, outs[0]->items[2].key);
	EXPECT_EQ(0, outs[0]->items[2].len);

	for (size_t i = 0; i < n; i++)
		set_free(outs[i]);
	free(outs);
}

TEST_F(sb, items_of_many_input_buffers_are_forwarded_to_their_own_buffer)
{
	struct set *in = set_new("many");
	const struct sandbox_result *res;
	struct set **outs;
	size_t n;

	/* Five buffers of different sizes (one empty), placed back to back
	 * in the input range; each item forwarded must land on its own. */
	for (int i = 0; i < 5; i++) {
		struct buffer *b = NULL;
		size_t len = i == 2 ? 0 : 1000 * (size_t)i + 5000;
		char *data = malloc(len + 1);

		ASSERT_NE(NULL, data);
		memset(data, 'a' + i, len);
		ASSERT_EQ(0, buffer_new("t", len, &b));
		ASSERT_EQ(0, buffer_write(b, 0, data, len));
		ASSERT_EQ(0, buffer_seal(b));
		ASSERT_EQ(0, set_add(in, "x", false, 0, b, len ? 7 : 0,
				     len ? len - 7 : 0));
		buffer_unref(b);
		free(data);
	}
	self->p = t_run_hostile(self->sb, HOSTILE(H_FORWARD_ALL, 0), T_MEMORY,
				T_TIMEOUT_MS, in);
	ASSERT_NE(NULL, self->p);
	res = sandbox_proc_result(self->p);
	ASSERT_EQ(SANDBOX_OK, res->status) TH_LOG("reason: %s", res->reason);
	outs = sandbox_proc_take_outputs(self->p, &n);
	ASSERT_EQ(5, outs[0]->n);
	for (size_t i = 0; i < 5; i++) {
		const struct item *o = &outs[0]->items[i];
		char name[8];

		snprintf(name, sizeof(name), "%zu", i);
		EXPECT_STREQ(name, o->name);
		EXPECT_EQ(in->items[i].len, o->len);
		if (!o->len)
			continue;
		EXPECT_TRUE(o->buf == in->items[i].buf) TH_LOG("item %zu", i);
		EXPECT_EQ(7, o->off);
		EXPECT_EQ('a' + (int)i, ((const char *)t_item_bytes(o))[0]);
	}
	for (size_t i = 0; i < n; i++)
		set_free(outs[i]);
	free(outs);
	set_free(in);
}

TEST_F(sb, function_starts_with_clear_registers_and_the_abi_stack)
{
	const struct sandbox_result *res;
	const uint64_t *regs;
	struct set **outs;
	size_t n;

	self->p = t_run_hostile(self->sb, HOSTILE(H_OUTPUTS, 0), T_MEMORY,
				T_TIMEOUT_MS, self->in);
	ASSERT_NE(NULL, self->p);
	res = sandbox_proc_result(self->p);
	ASSERT_EQ(SANDBOX_OK, res->status) TH_LOG("reason: %s", res->reason);
	outs = sandbox_proc_take_outputs(self->p, &n);
	ASSERT_STREQ("regs", outs[0]->items[3].name);
	ASSERT_EQ(128, outs[0]->items[3].len);
	regs = t_item_bytes(&outs[0]->items[3]);
	for (int i = 0; i < 16; i++) {
		if (i == 5) /* %rdi: the descriptor */
			EXPECT_EQ(PITH_CONTEXT_BASE, regs[i]);
		else if (i == 7) /* %rsp: the top of the context, which
				    is the memory the image's data leaves */
			EXPECT_EQ(PITH_CONTEXT_BASE + T_MEMORY -
					  elf_image_writable_size(t_hostile()),
				  regs[i]);
		else
			EXPECT_EQ(0, regs[i]) TH_LOG("register %d", i);
	}
	for (size_t i = 0; i < n; i++)
		set_free(outs[i]);
	free(outs);
}

TEST_F(sb, nonzero_exit_is_a_failure_with_the_status)
{
	const struct sandbox_result *res;

	self->p = t_run_hostile(self->sb, HOSTILE(H_EXIT, 3), T_MEMORY,
				T_TIMEOUT_MS, NULL);
	ASSERT_NE(NULL, self->p);
	res = sandbox_proc_result(self->p);
	EXPECT_EQ(SANDBOX_FAILED, res->status);
	EXPECT_STREQ("exited with status 3", res->reason);
	EXPECT_EQ(3, res->exit_status);
	EXPECT_EQ(0, res->n_outputs);
}

TEST_F(sb, exit_zero_without_outputs_gives_empty_sets)
{
	const struct sandbox_result *res;

	self->p = t_run_hostile(self->sb, HOSTILE(H_EXIT, 0), T_MEMORY,
				T_TIMEOUT_MS, NULL);
	ASSERT_NE(NULL, self->p);
	res = sandbox_proc_result(self->p);
	ASSERT_EQ(SANDBOX_OK, res->status) TH_LOG("reason: %s", res->reason);
	ASSERT_EQ(1, res->n_outputs);
	EXPECT_EQ(0, res->outputs[0]->n);
}

TEST_F(sb, infinite_loop_times_out_at_the_deadline)
{
	const struct sandbox_result *res;

	self->p = t_run_hostile(self->sb, HOSTILE(H_LOOP, 0), T_MEMORY, 200,
				NULL);
	ASSERT_NE(NULL, self->p);
	res = sandbox_proc_result(self->p);
	EXPECT_EQ(SANDBOX_FAILED, res->status);
	EXPECT_STREQ("timed out after 200 ms", res->reason);
	EXPECT_GE(res->spawn_ns + res->run_ns, 200000000ull);
	EXPECT_LT(res->spawn_ns + res->run_ns, 2000000000ull);
}

TEST_F(sb, step_kills_at_the_deadline_when_polled_with_the_proc_fd)
{
	struct set *inputs[1] = { NULL };
	const char *outputs[] = { "out" };
	struct sandbox_request req = {
		.image = t_hostile(),
		.limits = { .memory = T_MEMORY, .timeout_ms = 100 },
		.inputs = inputs,
		.outputs = outputs,
		.n_outputs = 1,
		.instance = HOSTILE(H_LOOP, 0),
	};
	struct err e = { { 0 } };
	int r, rounds = 0;

	ASSERT_EQ(0, sandbox_spawn(self->sb, &req, &self->p, &e))
		TH_LOG("%s", e.msg);
	EXPECT_EQ(SANDBOX_RUNNING, sandbox_proc_result(self->p)->status);
	EXPECT_GE(sandbox_proc_fd(self->p), 0);
	/* An engine's loop: poll the fd until the deadline, then step. */
	while ((r = sandbox_proc_step(self->p)) == 0 && rounds++ < 1000) {
		struct pollfd pfd = { sandbox_proc_fd(self->p), POLLIN, 0 };

		poll(&pfd, 1, 20);
	}
	ASSERT_EQ(1, r);
	EXPECT_STREQ("timed out after 100 ms",
		     sandbox_proc_result(self->p)->reason);
}

/* CPU time the process pid has used, in ms; -1 if it cannot be read. */
static int64_t cpu_ms_of(pid_t pid)
{
	struct timespec ts;
	clockid_t clk;

	if (clock_getcpuclockid(pid, &clk) || clock_gettime(clk, &ts))
		return -1;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

TEST_F(sb, cpu_limit_is_the_reason_when_pith_does_not_step_in_time)
{
	int64_t cpu = 0;
	int ready = 0;

	/* RLIMIT_CPU (1 s soft for a 1000 ms timeout) is the backstop for a
	 * pith that stopped stepping: wait for the exit without stepping.
	 * The deadline is in the loop's CPU time, not in wall time (a
	 * loaded machine gave it 1 s of CPU in more than the 20 s it
	 * had): past the hard limit (2 s) and a margin, it should be dead. */
	self->p = t_spawn_hostile(self->sb, HOSTILE(H_LOOP, 0), 1000);
	ASSERT_NE(NULL, self->p);
	while (!ready && cpu <= 2500) {
		struct pollfd pfd = { sandbox_proc_fd(self->p), POLLIN, 0 };

		ready = poll(&pfd, 1, 100);
		ASSERT_LE(0, ready);
		/* The zombie's clock reads until the step reaps it. */
		cpu = cpu_ms_of(sandbox_proc_pid(self->p));
		ASSERT_LE(0, cpu);
	}
	ASSERT_EQ(1, ready) TH_LOG("still running after %" PRId64 " ms of CPU", cpu);
	EXPECT_LE(1000, cpu);
	ASSERT_EQ(1, sandbox_proc_step(self->p));
	EXPECT_STREQ("CPU time limit exceeded", t_reason(self->p));
	EXPECT_EQ(SIGXCPU, sandbox_proc_result(self->p)->signal);
}

/*
 * A SIGTERM once the function runs is named as such. The signal goes once
 * pith has the loader's last message (handed_off), not after a sleep: a
 * worker that a loaded machine had not yet given the CPU to finish its
 * set-up in 20 ms was "killed by signal SIGTERM before the function
 * started", a setup failure, not what this test is about.
 */
TEST_F(sb, signal_from_outside_is_named)
{
	int r = 0;

	self->p = t_spawn_hostile(self->sb, HOSTILE(H_LOOP, 0), T_TIMEOUT_MS);
	ASSERT_NE(NULL, self->p);
	while (!self->p->handed_off &&
	       (r = sandbox_proc_step(self->p)) == 0) {
		struct pollfd pfd = { sandbox_proc_fd(self->p), POLLIN, 0 };

		poll(&pfd, 1, 10);
	}
	ASSERT_EQ(0, r) TH_LOG("ended before the function started: %s",
			       t_reason(self->p));
	ASSERT_EQ(0, kill(sandbox_proc_pid(self->p), SIGTERM));
	do {
		struct pollfd pfd = { sandbox_proc_fd(self->p), POLLIN, 0 };

		poll(&pfd, 1, 1000);
	} while ((r = sandbox_proc_step(self->p)) == 0);
	ASSERT_EQ(1, r);
	EXPECT_STREQ("killed by signal SIGTERM", t_reason(self->p));
}

TEST_F(sb, memory_below_the_minimum_is_refused)
{
	struct set *inputs[1] = { NULL };
	const char *outputs[] = { "out" };
	struct sandbox_request req = {
		.image = t_hostile(),
		.limits = { .memory = 4096, .timeout_ms = 1000 },
		.inputs = inputs,
		.outputs = outputs,
		.n_outputs = 1,
	};
	struct err e = { { 0 } };

	EXPECT_EQ(-E2BIG, sandbox_spawn(self->sb, &req, &self->p, &e));
	EXPECT_NE(NULL, strstr(e.msg, "of its memory of 4096 for the context, which needs at least 64 KiB"))
		TH_LOG("%s", e.msg);
}

TEST_F(sb, context_descriptor_that_does_not_fit_is_refused)
{
	struct set *big = set_new("big");
	struct set *inputs[1] = { big };
	const char *outputs[] = { "out" };
	struct sandbox_request req = {
		.image = t_hostile(),
		/* 64 KiB of context, after the image's writable pages. */
		.limits = { .memory = (64 << 10) +
				      elf_image_writable_size(t_hostile()),
			    .timeout_ms = 1000 },
		.inputs = inputs,
		.n_inputs = 1,
		.outputs = outputs,
		.n_outputs = 1,
	};
	struct err e = { { 0 } };

	/* 2000 items need 80 KB of item table: more than 64 KiB. */
	for (int i = 0; i < 2000; i++)
		ASSERT_EQ(0, set_add_item(big, &self->in->items[0]));
	EXPECT_EQ(-E2BIG, sandbox_spawn(self->sb, &req, &self->p, &e));
	EXPECT_NE(NULL, strstr(e.msg, "cannot hold the input descriptor"))
		TH_LOG("%s", e.msg);
	set_free(big);
}

TEST_F(sb, unsealed_input_buffer_is_refused)
{
	struct buffer *b = NULL;
	struct set *s = set_new("raw");
	struct set *inputs[1] = { s };
	const char *outputs[] = { "out" };
	struct sandbox_request req = {
		.image = t_hostile(),
		.limits = { .memory = T_MEMORY, .timeout_ms = 1000 },
		.inputs = inputs,
		.n_inputs = 1,
		.outputs = outputs,
		.n_outputs = 1,
	};
	struct err e = { { 0 } };

	ASSERT_EQ(0, buffer_new("t", 16, &b));
	ASSERT_EQ(0, set_add(s, "x", false, 0, b, 0, 16));
	buffer_unref(b);
	EXPECT_EQ(-EINVAL, sandbox_spawn(self->sb, &req, &self->p, &e));
	EXPECT_NE(NULL, strstr(e.msg, "is not sealed")) TH_LOG("%s", e.msg);
	set_free(s);
}

TEST(layers_report_every_layer_with_a_detail)
{
	struct sandbox *sb = t_sandbox(false);
	struct sandbox_layer layers[16];
	size_t n = sandbox_layers(sb, layers, 16);
	const char *want[] = { "address-space", "seccomp", "no-new-privs",
			       "uid", "rlimits", "cgroup", "deadline",
			       "warm-workers",
			       "bpf-syscall", "bpf-sock", "bpf-lsm" };

	ASSERT_EQ(ARRAY_SIZE(want), n);
	for (size_t i = 0; i < n; i++) {
		EXPECT_STREQ(want[i], layers[i].name);
		EXPECT_NE(0, layers[i].detail[0]);
		TH_LOG("%s: %s: %s", layers[i].name,
		       layers[i].active ? "on" : "OFF", layers[i].detail);
	}
	EXPECT_TRUE(layers[1].active);
	sandbox_free(sb);
}

/* Malformed output descriptors: each refused with the field it names. */
FIXTURE(bad)
{
	struct sandbox *sb;
	struct sandbox_proc *p;
};

FIXTURE_VARIANT(bad)
{
	int variant;
	const char *reason;
};

FIXTURE_VARIANT_ADD(bad, items_outside_the_context)
{
	.variant = BAD_ITEMS_OUTSIDE,
	.reason = "bad output descriptor: outputs[0].items: 0x1ffffffff000+40 outside the context",
};
FIXTURE_VARIANT_ADD(bad, items_array_wrapping_around)
{
	.variant = BAD_ITEMS_OVERFLOW,
	.reason = "bad output descriptor: outputs[0].items: 0xffffffffffffffef+40 outside the context",
};
FIXTURE_VARIANT_ADD(bad, data_past_the_context_end)
{
	.variant = BAD_DATA_OUTSIDE,
	.reason = "bad output descriptor: outputs[0].items[0].data: 0x2000000ff000+4 outside the context and the inputs", /* 1 MiB less the image's data page */
};
FIXTURE_VARIANT_ADD(bad, length_wrapping_around)
{
	.variant = BAD_LEN_OVERFLOW,
	.reason = "outputs[0].items[0].data: ",
};
FIXTURE_VARIANT_ADD(bad, name_with_slash)
{
	.variant = BAD_NAME_SLASH,
	.reason = "bad output descriptor: outputs[0].items[0].name: byte 0 is '/'",
};
FIXTURE_VARIANT_ADD(bad, name_too_long)
{
	.variant = BAD_NAME_TOO_LONG,
	.reason = "bad output descriptor: outputs[0].items[0].name_len: 256 exceeds 255 bytes",
};
FIXTURE_VARIANT_ADD(bad, name_dotdot)
{
	.variant = BAD_NAME_DOTDOT,
	.reason = "bad output descriptor: outputs[0].items[0].name: '..' is not a name",
};
FIXTURE_VARIANT_ADD(bad, name_with_newline)
{
	.variant = BAD_NAME_CONTROL,
	.reason = "bad output descriptor: outputs[0].items[0].name: byte 1 is a control character",
};
FIXTURE_VARIANT_ADD(bad, too_many_items)
{
	.variant = BAD_TOO_MANY_ITEMS,
	.reason = "bad output descriptor: outputs[0].n_items: 1000001 exceeds the maximum of 1000000",
};
FIXTURE_VARIANT_ADD(bad, unknown_flags)
{
	.variant = BAD_FLAGS,
	.reason = "bad output descriptor: outputs[0].items[0].flags: unknown bits 0x80",
};
FIXTURE_VARIANT_ADD(bad, data_in_the_trampoline_page)
{
	.variant = BAD_DATA_IN_TRAMPOLINE,
	.reason = "bad output descriptor: outputs[0].items[0].data: 0x204000000000+4 outside the context and the inputs",
};

FIXTURE_SETUP(bad)
{
	self->sb = t_sandbox(false);
	self->p = NULL;
}

FIXTURE_TEARDOWN(bad)
{
	sandbox_proc_free(self->p);
	sandbox_free(self->sb);
}

TEST_F(bad, is_refused_naming_the_field)
{
	const struct sandbox_result *res;

	self->p = t_run_hostile(self->sb,
				HOSTILE(H_BAD_OUTPUT, variant->variant),
				T_MEMORY, T_TIMEOUT_MS, NULL);
	ASSERT_NE(NULL, self->p);
	res = sandbox_proc_result(self->p);
	EXPECT_EQ(SANDBOX_FAILED, res->status);
	EXPECT_NE(NULL, strstr(res->reason, variant->reason))
		TH_LOG("reason: %s", res->reason);
	EXPECT_EQ(0, res->n_outputs);
	EXPECT_NULL(res->outputs);
}

/*
 * A warm worker's pinning (warm.c, warm_place()) from its run times: the
 * runs of one worker, in ns, each parked into the average and the decision
 * taken at the next start; how many times the decision changed, and the
 * last one.
 */
static size_t pin_flips(const uint64_t *runs, size_t n, bool *ret_pinned)
{
	uint64_t avg = 0;
	bool pinned = false;
	size_t flips = 0;

	for (size_t i = 0; i < n; i++) {
		bool next;

		avg = place_warm_avg(avg, runs[i]);
		next = place_warm_spread(avg, pinned);
		flips += next != pinned;
		pinned = next;
	}
	*ret_pinned = pinned;
	return flips;
}

#define PIN_RUNS 20000

TEST(a_warm_worker_s_pinning_follows_its_average_run_time_not_its_last)
{
	static uint64_t runs[PIN_RUNS];
	uint32_t x = 2463534242u;
	size_t flips;
	bool pinned;

	/* Runs of 70-136 us (round 6's straddling worker): the last run
	 * alone flipped it at about every other start; now it is pinned
	 * once and stays. */
	for (size_t i = 0; i < PIN_RUNS; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		runs[i] = 70000 + x % 66001;
	}
	flips = pin_flips(runs, PIN_RUNS, &pinned);
	EXPECT_GE(1, flips) TH_LOG("%zu flips", flips);
	EXPECT_TRUE(pinned);
	/* Alternating 60 and 140 us: the same. */
	for (size_t i = 0; i < PIN_RUNS; i++)
		runs[i] = i % 2 ? 140000 : 60000;
	EXPECT_GE(1, pin_flips(runs, PIN_RUNS, &pinned));
	/* A no-op of 5 us preempted for 4 ms at every 20th run: never. */
	for (size_t i = 0; i < PIN_RUNS; i++)
		runs[i] = i % 20 == 19 ? 4000000 : 5000;
	EXPECT_EQ(0, pin_flips(runs, PIN_RUNS, &pinned));
	EXPECT_FALSE(pinned);
	/* A 3 ms function: pinned from its first run. */
	runs[0] = 3000000;
	EXPECT_EQ(1, pin_flips(runs, 1, &pinned));
	EXPECT_TRUE(pinned);
	/* Long, then short: unpinned within 10 short runs (and no sooner
	 * than the 3rd), then never pinned again. */
	for (size_t i = 0; i < 100; i++)
		runs[i] = i < 50 ? 3000000 : 10000;
	EXPECT_EQ(1, pin_flips(runs, 52, &pinned));
	EXPECT_EQ(2, pin_flips(runs, 60, &pinned));
	EXPECT_EQ(2, pin_flips(runs, 100, &pinned));
	EXPECT_FALSE(pinned);
	/* Short, then long: pinned within 6 long runs. */
	for (size_t i = 0; i < 100; i++)
		runs[i] = i < 50 ? 10000 : 3000000;
	EXPECT_EQ(0, pin_flips(runs, 50, &pinned));
	EXPECT_EQ(1, pin_flips(runs, 56, &pinned));
	EXPECT_TRUE(pinned);
}

/* The descriptor table's slots (/proc/self/status' FDSize). */
static long fd_table_size(void)
{
	char *status = t_read_file("/proc/self/status", NULL);
	const char *f = status ? strstr(status, "FDSize:\t") : NULL;
	long n = f ? strtol(f + 8, NULL, 10) : -1;

	free(status);
	return n;
}

/* pith's descriptor table is grown while the process has one thread
 * (sandbox.c, grow_fd_table()): grown later, with the drivers', spawners'
 * and io_uring's threads sharing it, the thread that passes 64
 * descriptors sleeps an RCU grace period (17 ms at a fresh job's second
 * lane, benchmarks/lanes.md round 14). */
TEST(a_new_sandbox_grows_the_descriptor_table_before_its_threads_start)
{
	struct sandbox_opts o = { .no_guard = true };
	struct err e = { { 0 } };
	struct sandbox *sb;
	struct rlimit rl;
	long want = 1024;

	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur < (rlim_t)want)
		want = (long)rl.rlim_cur;
	if (want <= 64)
		SKIP(return, "RLIMIT_NOFILE %ld: nothing to grow", want);
	/* A test's process starts with the table fork gave it. */
	ASSERT_LT(fd_table_size(), want);
	ASSERT_EQ(0, sandbox_new(&o, &sb, &e)) TH_LOG("%s", e.msg);
	EXPECT_LE(want, fd_table_size());
	sandbox_free(sb);
}

TEST_HARNESS_MAIN
