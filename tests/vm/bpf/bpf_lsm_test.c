// SPDX-License-Identifier: MIT
/*
 * BPF-LSM layer of the guard, run inside the qemu VM (Debian kernel booted
 * with lsm=...,bpf): each lsm_cgroup hook, alone, denies its hostile
 * operation with EPERM and an event once the worker is armed, lets the
 * same operation through before, and guard_free() leaves no program.
 * Elsewhere it skips, saying why BPF-LSM is unavailable.
 */
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/harness.h"
#include "security/bpf_worker.h"

/* Worker exit codes. */
#define W_DENIED 0     /* armed operation failed with EPERM */
#define W_ALLOWED 1    /* armed operation succeeded */
#define W_UNARMED_FAILED 2 /* the control before the marker failed */
#define W_OTHER_ERRNO 3

static int open_probe(void)
{
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int unix_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int do_fork(void)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return 0;
}

static int map_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	munmap(p, 4096);
	return 0;
}

static int bpf_map_create(void)
{
	union bpf_attr attr = {
		.map_type = BPF_MAP_TYPE_ARRAY,
		.key_size = 4, .value_size = 4, .max_entries = 1,
	};
	int fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int perf_open(void)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_TASK_CLOCK,
		.exclude_kernel = 1,
	};
	int fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1,
			 PERF_FLAG_FD_CLOEXEC);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* A sibling process that lives until its creator dies (pipe EOF). */
static pid_t spawn_target(void)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		/* Never hold the runner's output pipe open. */
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		close(p[1]);
		while (read(p[0], &c, 1) < 0)
			;
		_exit(0);
	}
	close(p[0]);
	return pid; /* p[1] stays open in the worker until it exits */
}

static pid_t target;

static int attach_target(void)
{
	/* SEIZE, unlike ATTACH, does not stop the target: it carries on and
	 * is untraced when the worker exits. */
	return ptrace(PTRACE_SEIZE, target, 0, 0) < 0 ? -1 : 0;
}

static int signal_target(void)
{
	return kill(target, SIGCONT);
}

static int exec_true(void)
{
	char *argv[] = { "true", NULL };

	execv("/bin/busybox", argv);
	return -1;
}

static int mprotect_exec(void)
{
	static void *p;

	if (!p) {
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -1;
	}
	return mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

FIXTURE(lsm)
{
	struct t_cgroup cg;
	struct guard *g;
};

FIXTURE_VARIANT(lsm)
{
	enum guard_hook hook;
	int (*op)(void *);
	bool control;	    /* op runs before the marker too, and passes */
	bool needs_target;
	long nr;	    /* syscall the event must name */
};

static int op_trampoline(int (*fn)(void))
{
	return fn() < 0 ? -1 : 0;
}

#define OP(name, fn) \
	static int name(void *a) { (void)a; return op_trampoline(fn); }
OP(op_open, open_probe)
OP(op_socket, unix_socket)
OP(op_exec, exec_true)
OP(op_fork, do_fork)
OP(op_mmap, map_exec)
OP(op_mprotect, mprotect_exec)
OP(op_ptrace, attach_target)
OP(op_kill, signal_target)
OP(op_bpf, bpf_map_create)
OP(op_perf, perf_open)

FIXTURE_VARIANT_ADD(lsm, file_open) {
	.hook = GUARD_HOOK_FILE_OPEN, .op = op_open, .control = true,
	.nr = SYS_openat };
FIXTURE_VARIANT_ADD(lsm, socket_create) {
	.hook = GUARD_HOOK_SOCKET_CREATE, .op = op_socket, .control = true,
	.nr = SYS_socket };
FIXTURE_VARIANT_ADD(lsm, bprm_check_security) {
	.hook = GUARD_HOOK_BPRM_CHECK, .op = op_exec, .nr = SYS_execve };
FIXTURE_VARIANT_ADD(lsm, task_alloc) {
	.hook = GUARD_HOOK_TASK_ALLOC, .op = op_fork, .control = true,
	.nr = SYS_clone };
FIXTURE_VARIANT_ADD(lsm, mmap_file) {
	.hook = GUARD_HOOK_MMAP_FILE, .op = op_mmap, .control = true,
	.nr = SYS_mmap };
FIXTURE_VARIANT_ADD(lsm, file_mprotect) {
	.hook = GUARD_HOOK_FILE_MPROTECT, .op = op_mprotect, .control = true,
	.nr = SYS_mprotect };
FIXTURE_VARIANT_ADD(lsm, ptrace_access_check) {
	.hook = GUARD_HOOK_PTRACE, .op = op_ptrace, .control = true,
	.needs_target = true, .nr = SYS_ptrace };
FIXTURE_VARIANT_ADD(lsm, task_kill) {
	.hook = GUARD_HOOK_TASK_KILL, .op = op_kill, .control = true,
	.needs_target = true, .nr = SYS_kill };
FIXTURE_VARIANT_ADD(lsm, bpf) {
	.hook = GUARD_HOOK_BPF, .op = op_bpf, .control = true,
	.nr = SYS_bpf };
FIXTURE_VARIANT_ADD(lsm, perf_event_open) {
	.hook = GUARD_HOOK_PERF_EVENT_OPEN, .op = op_perf, .control = true,
	.nr = SYS_perf_event_open };

/* Probe once whether this kernel runs lsm_cgroup programs at all. */
static void require_bpf_lsm(const char *cgroup, bool *ret_skip)
{
	struct guard_opts o = { .cgroup_path = cgroup };
	struct guard_layer l[GUARD_N_LAYERS];
	const struct guard_probe *p = guard_probe();
	struct guard *g = NULL;
	struct err e = {};

	*ret_skip = false;
	ASSERT_EQ(0, guard_new(&o, &g, &e)) TH_LOG("%s", e.msg);
	guard_layers(g, l, GUARD_N_LAYERS);
	guard_free(g);
	if (l[2].active)
		return;
	/* Where bpf is an active LSM, failing to load is a bug. */
	ASSERT_NE(1, p->lsm_has_bpf) TH_LOG("bpf-lsm: %s", l[2].detail);
	TH_LOG("bpf-lsm unavailable: %s", l[2].detail);
	*ret_skip = true;
}

FIXTURE_SETUP(lsm)
{
	struct guard_opts o = {
		.mode = GUARD_ENFORCE,
		.attach = GUARD_ATTACH_ALWAYS,
		.syscall_audit_only = true,
		.lsm_hooks = 1u << variant->hook,
	};
	struct err e = {};
	bool skip;
	int r;

	self->g = NULL;
	if (geteuid() != 0)
		SKIP(return, "needs root to load BPF programs and make cgroups");
	r = t_cgroup_new(&self->cg);
	if (r == -ENOENT)
		SKIP(return, "no cgroup v2 hierarchy mounted");
	ASSERT_EQ(0, r);
	require_bpf_lsm(self->cg.path, &skip);
	if (skip)
		SKIP(return, "kernel does not run BPF-LSM (see log)");
	o.cgroup_fd = self->cg.fd;
	ASSERT_EQ(0, guard_new(&o, &self->g, &e)) TH_LOG("%s", e.msg);
}

FIXTURE_TEARDOWN(lsm)
{
	self->g = guard_free(self->g);
	t_cgroup_done(&self->cg);
}

static const FIXTURE_VARIANT(lsm) *cur;

static int worker(void *arg)
{
	(void)arg;
	if (cur->needs_target && (target = spawn_target()) < 0)
		return W_UNARMED_FAILED;
	if (cur->control && cur->op(NULL) < 0)
		return W_UNARMED_FAILED;
	t_arm();
	if (cur->op(NULL) == 0)
		return W_ALLOWED;
	return errno == EPERM ? W_DENIED : W_OTHER_ERRNO;
}

TEST_F(lsm, hook_denies_armed_worker_with_eperm_and_event)
{
	struct t_worker w;
	struct t_events ev = {};
	const struct guard_violation *v;
	char reason[512];
	int status;

	cur = variant;
	ASSERT_EQ(0, t_worker_spawn(self->cg.fd, worker, NULL, &w));
	ASSERT_EQ(0, guard_worker_add(self->g, w.pid, "hostile", 0, 0));
	ASSERT_EQ(0, t_worker_go(&w));
	status = t_worker_wait(&w);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(W_DENIED, WEXITSTATUS(status));
	ev.pid = w.pid;
	ASSERT_LE(0, guard_poll(self->g, 0, t_events_collect, &ev));
	v = t_events_find(&ev, GUARD_KIND_LSM, variant->hook);
	ASSERT_NE(NULL, v)
		TH_LOG("no %s event", guard_hook_name(variant->hook));
	EXPECT_EQ(GUARD_ACT_DENY, v->action);
	EXPECT_EQ(EPERM, v->err);
	EXPECT_EQ(variant->nr, v->nr);
	EXPECT_STREQ("hostile", v->fn);
	EXPECT_EQ(1, guard_fn_count(self->g, "hostile", variant->nr,
				    variant->hook));
	guard_violation_format(v, reason, sizeof(reason));
	TH_LOG("%s", reason);
}

static int unix_socket_after_arming(void *arg)
{
	(void)arg;
	t_arm();
	unix_socket();
	return 0;
}

/* The default configuration: the hook refuses the socket (it never
 * exists) and the syscall-entry program kills the worker. */
TEST(default_enforce_denies_the_operation_and_kills_the_worker)
{
	struct t_cgroup cg;
	struct guard_opts o = { .attach = GUARD_ATTACH_ALWAYS };
	struct t_events ev = {};
	struct guard *g = NULL;
	struct t_worker w;
	struct err e = {};
	const struct guard_violation *v;
	bool skip;
	int r, status;

	if (geteuid() != 0)
		SKIP(return, "needs root to load BPF programs and make cgroups");
	r = t_cgroup_new(&cg);
	if (r == -ENOENT)
		SKIP(return, "no cgroup v2 hierarchy mounted");
	ASSERT_EQ(0, r);
	require_bpf_lsm(cg.path, &skip);
	if (skip) {
		t_cgroup_done(&cg);
		SKIP(return, "kernel does not run BPF-LSM (see log)");
	}
	o.cgroup_fd = cg.fd;
	ASSERT_EQ(0, guard_new(&o, &g, &e)) TH_LOG("%s", e.msg);
	ASSERT_EQ(0, t_worker_spawn(cg.fd, unix_socket_after_arming, NULL,
				    &w));
	ASSERT_EQ(0, t_worker_go(&w));
	status = t_worker_wait(&w);
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("status %#x", status);
	ev.pid = w.pid;
	ASSERT_LE(0, guard_poll(g, 0, t_events_collect, &ev));
	v = t_events_find(&ev, GUARD_KIND_SYSCALL, GUARD_HOOK_MAX);
	ASSERT_NE(NULL, v);
	EXPECT_EQ(SYS_socket, v->nr);
	EXPECT_EQ(GUARD_ACT_KILL, v->action);
	v = t_events_find(&ev, GUARD_KIND_LSM, GUARD_HOOK_SOCKET_CREATE);
	ASSERT_NE(NULL, v);
	EXPECT_EQ(GUARD_ACT_DENY, v->action);
	g = guard_free(g);
	t_cgroup_done(&cg);
}

TEST(free_unloads_every_program_lsm_included)
{
	struct t_cgroup cg;
	struct guard_opts o = { .attach = GUARD_ATTACH_ALWAYS };
	struct guard *g = NULL;
	unsigned int ids[32];
	struct err e = {};
	bool skip;
	size_t n;
	int r;

	if (geteuid() != 0)
		SKIP(return, "needs root to load BPF programs and make cgroups");
	r = t_cgroup_new(&cg);
	if (r == -ENOENT)
		SKIP(return, "no cgroup v2 hierarchy mounted");
	ASSERT_EQ(0, r);
	require_bpf_lsm(cg.path, &skip);
	if (skip) {
		t_cgroup_done(&cg);
		SKIP(return, "kernel does not run BPF-LSM (see log)");
	}
	o.cgroup_fd = cg.fd;
	ASSERT_EQ(0, guard_new(&o, &g, &e)) TH_LOG("%s", e.msg);
	n = guard_prog_ids(g, ids, ARRAY_SIZE(ids));
	EXPECT_EQ(13, n); /* 3 host programs + 10 lsm_cgroup hooks */
	g = guard_free(g);
	t_cgroup_done(&cg);
	for (size_t i = 0; i < n; i++) {
		for (int ms = 0; ms < 10000 && t_prog_id_loaded(ids[i]);
		     ms += 10)
			usleep(10000);
		EXPECT_FALSE(t_prog_id_loaded(ids[i])) TH_LOG("id %u", ids[i]);
	}
}

TEST_HARNESS_MAIN
