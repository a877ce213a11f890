// SPDX-License-Identifier: MIT
/*
 * Nothing of a POSIX function reaches the kernel but its end: the probe
 * function (tests/posix/fn/probe.c, tools/pith-cc --posix) reads stdin and
 * files, writes stdout, stderr and /out files, allocates, reads clocks and
 * randomness, raises a signal and tries sockets, fork and exec, with
 * seccomp off (test-only) and the eBPF guard in audit mode, which counts
 * every system call outside exit, exit_group, rt_sigreturn and the
 * trampoline's pinned calls. The counters stay at zero. A freestanding
 * call of getppid in the same setup is counted: the counters see calls.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "sandbox/plan.h"
#include "security/bpf_worker.h"
#include "security/hostile.h"
#include "security/t_sandbox.h"

#define FN "posix-probe"

static struct elf_image *probe_image(void)
{
	struct elf_image *img = NULL;
	struct err e = {};
	char path[512];

	/* Always build/posix, also when B is build/san. */
	snprintf(path, sizeof(path), "%s/build/posix/tests/probe",
		 t_repo_root());
	if (elf_image_load(AT_FDCWD, path, &img, &e) < 0)
		return NULL;
	return img;
}

FIXTURE(counted)
{
	struct guard *g;
	struct sandbox *sb;
	struct elf_image *img;
};

FIXTURE_SETUP(counted)
{
	struct guard_opts o = {
		.mode = GUARD_AUDIT, /* count, do not kill: a leak would run */
		.no_lsm = true,
		.arm_nr = SYS_close,
		.arm_arg0 = PLAN_SOCK_FD,
	};
	struct err e = {};

	self->g = NULL;
	self->sb = NULL;
	self->img = probe_image();
	if (!self->img)
		SKIP(return, "the POSIX probe is not built (POSIX SDK "
			     "unavailable: see build/posix/unavailable)");
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

FIXTURE_TEARDOWN(counted)
{
	self->g = guard_free(self->g);
	self->sb = sandbox_free(self->sb);
	elf_image_free(self->img);
}

static uint64_t violations(struct guard *g, const char *fn)
{
	uint64_t n = 0;

	for (long nr = -1; nr < GUARD_NR_MAX; nr++)
		n += guard_fn_count(g, fn, nr, GUARD_HOOK_NONE);
	return n;
}

static int run_probe(struct __th_data_counted *self, const char *const *args,
		     size_t n_args, int *ret_exit, char *reason, size_t rlen)
{
	static const char *const outputs[] = { "stdout", "stderr", "files" };
	struct set *in[2] = { t_text_set("stdin", "in.txt", "one\ntwo\n"),
			      t_text_set("data", "a.txt", "alpha\n") };
	struct sandbox_request req = {
		.image = self->img,
		.limits = { .memory = 32 << 20, .timeout_ms = 5000 },
		.inputs = in,
		.n_inputs = 2,
		.outputs = outputs,
		.n_outputs = 3,
		.params = { .args = args, .n_args = n_args, .seed = 7,
			    .time_ns = 1700000000ull * 1000000000ull },
		.fn_name = FN,
	};
	struct sandbox_proc *p = NULL;
	struct err e = {};
	int r;

	r = sandbox_run(self->sb, &req, &p, &e);
	set_free(in[0]);
	set_free(in[1]);
	if (r < 0) {
		snprintf(reason, rlen, "%s", e.msg);
		return r;
	}
	*ret_exit = sandbox_proc_result(p)->status == SANDBOX_OK
			    ? 0
			    : sandbox_proc_result(p)->exit_status
				      ? sandbox_proc_result(p)->exit_status
				      : -1;
	snprintf(reason, rlen, "%s", sandbox_proc_result(p)->reason);
	sandbox_proc_free(p);
	return 0;
}

TEST_F(counted, posix_function_makes_no_syscall_but_its_end)
{
	static const char *const modes[][3] = {
		{ "echo", "x", NULL }, { "files", NULL, NULL },
		{ "world", NULL, NULL }, { "mem", "8", NULL },
		{ "signal", NULL, NULL }, { "cat", "/in/data/a.txt", NULL },
		{ "mmap-exec", NULL, NULL }, { "exit", "3", NULL },
		{ "abort", NULL, NULL },
	};
	static const int want[] = { 0, 0, 0, 0, 0, 0, 0, 3, 134 };
	struct t_events ev = {};
	char reason[512];

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		size_t n = modes[i][1] ? 2 : 1;
		int status = -2;

		ASSERT_EQ(0, run_probe(self, modes[i], n, &status, reason,
				       sizeof(reason)))
			TH_LOG("%s: %s", modes[i][0], reason);
		EXPECT_EQ(want[i], status)
			TH_LOG("%s: %s", modes[i][0], reason);
	}
	ASSERT_LE(0, guard_poll(self->g, 0, t_events_collect, &ev));
	EXPECT_EQ(0, ev.n) TH_LOG("first event: syscall %ld", ev.v[0].nr);
	EXPECT_EQ(0, violations(self->g, FN));
}

/* The premise: the same counters see a call that does reach the kernel. */
TEST_F(counted, a_raw_syscall_in_the_same_setup_is_counted)
{
	struct sandbox_proc *p;

	p = t_run_hostile(self->sb, HOSTILE(H_SYSCALL, SYS_getppid), T_MEMORY,
			  T_TIMEOUT_MS, NULL);
	ASSERT_NE(NULL, p);
	/* Audit mode: the call ran and returned; hostile then exits 100. */
	EXPECT_EQ(100, sandbox_proc_result(p)->exit_status)
		TH_LOG("%s", t_reason(p));
	sandbox_proc_free(p);
	EXPECT_EQ(1, guard_fn_count(self->g, "", SYS_getppid, GUARD_HOOK_NONE));
}

TEST_HARNESS_MAIN
