// SPDX-License-Identifier: MIT
/*
 * The eBPF guard stands alone on the host (no seccomp): a process placed in
 * a fresh cgroup v2 leaf is killed at the entry of a forbidden syscall once
 * armed, the violation arrives as an event naming the syscall and its
 * arguments, inet sockets are refused in the cgroup, and nothing outside
 * the cgroup is touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "security/bpf_worker.h"

static const char probe_path[] = "/proc/self/status";

FIXTURE(guard)
{
	struct t_cgroup cg;
	struct guard *g;
	struct t_worker w;
	struct t_events ev;
	char *tmp;
};

FIXTURE_VARIANT(guard)
{
	enum guard_mode mode;
};

FIXTURE_VARIANT_ADD(guard, enforce)
{
	.mode = GUARD_ENFORCE,
};

FIXTURE_VARIANT_ADD(guard, audit)
{
	.mode = GUARD_AUDIT,
};

FIXTURE_SETUP(guard)
{
	struct guard_opts o = { .mode = variant->mode, .no_lsm = true };
	struct err e = {};
	int r;

	if (geteuid() != 0)
		SKIP(return, "needs root to load BPF programs and make cgroups");
	r = t_cgroup_new(&self->cg);
	if (r == -ENOENT)
		SKIP(return, "no cgroup v2 hierarchy mounted");
	ASSERT_EQ(0, r) TH_LOG("cgroup: %s", strerror(-r));
	o.cgroup_fd = self->cg.fd;
	r = guard_new(&o, &self->g, &e);
	ASSERT_EQ(0, r) TH_LOG("guard_new: %s", e.msg);
	ASSERT_EQ(0, guard_hold(self->g, &e)) TH_LOG("hold: %s", e.msg);
	self->w.pid = 0;
	self->tmp = t_tmpdir();
	ASSERT_NE(NULL, self->tmp);
}

FIXTURE_TEARDOWN(guard)
{
	if (self->w.pid > 0)
		kill(self->w.pid, SIGKILL), t_worker_wait(&self->w);
	if (self->g)
		guard_release(self->g);
	self->g = guard_free(self->g);
	t_cgroup_done(&self->cg);
	if (self->tmp)
		t_rm_rf(self->tmp);
}

/* Spawn fn in the cgroup, name it, let it run, wait, drain its events. */
static int run_worker(FIXTURE_DATA(guard) *self, int (*fn)(void *),
		      void *arg)
{
	int status;

	ASSERT_EQ(0, t_worker_spawn(self->cg.fd, fn, arg, &self->w));
	ASSERT_EQ(0, guard_worker_add(self->g, self->w.pid, "hostile", 2, 7));
	ASSERT_EQ(0, t_worker_go(&self->w));
	status = t_worker_wait(&self->w);
	ASSERT_LE(0, status);
	self->ev.pid = self->w.pid;
	ASSERT_LE(0, guard_poll(self->g, 0, t_events_collect, &self->ev));
	guard_worker_del(self->g, self->w.pid);
	self->w.pid = 0;
	return status;
}

static int open_after_arming(void *arg)
{
	int fd;

	(void)arg;
	t_arm();
	fd = syscall(SYS_openat, AT_FDCWD, probe_path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? 0 : 1;
}

TEST_F(guard, forbidden_openat_is_reported_and_killed_when_enforcing)
{
	const struct guard_violation *v;
	char reason[512];
	int status = run_worker(self, open_after_arming, NULL);

	v = t_events_find(&self->ev, GUARD_KIND_SYSCALL, GUARD_HOOK_MAX);
	ASSERT_NE(NULL, v) TH_LOG("no event for pid %d", self->ev.pid);
	EXPECT_EQ(SYS_openat, v->nr);
	EXPECT_STREQ("openat", v->syscall);
	EXPECT_EQ((uint32_t)AT_FDCWD, (uint32_t)v->args[0]);
	EXPECT_EQ((uint64_t)(O_RDONLY | O_CLOEXEC), v->args[2]);
	EXPECT_STREQ("hostile", v->fn);
	EXPECT_EQ(2, v->stage);
	EXPECT_EQ(7, v->instance);
	guard_violation_format(v, reason, sizeof(reason));
	if (variant->mode == GUARD_ENFORCE) {
		ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("status %#x", status);
		EXPECT_EQ(SIGKILL, WTERMSIG(status));
		EXPECT_EQ(GUARD_ACT_KILL, v->action);
		EXPECT_NE(NULL, strstr(reason, "killed by eBPF: forbidden "
					       "syscall openat (257)"))
			TH_LOG("%s", reason);
	} else {
		/* Audit: recorded, the open succeeded, the worker lived. */
		ASSERT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status));
		EXPECT_EQ(GUARD_ACT_AUDIT, v->action);
	}
}

static int open_before_arming_then_exit(void *arg)
{
	int fd;

	(void)arg;
	/* The loader's own syscalls, before the marker, pass. */
	fd = open(probe_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	close(fd);
	/* close() on another fd is not the marker and does not arm. */
	syscall(SYS_close, 1000);
	fd = open(probe_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 2;
	t_arm();
	syscall(SYS_exit_group, 42);
	return 3;
}

TEST_F(guard, loader_runs_freely_until_marker_then_exit_group_passes)
{
	int status = run_worker(self, open_before_arming_then_exit, NULL);

	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(42, WEXITSTATUS(status));
	EXPECT_EQ(0, self->ev.n);
}

static int fork_after_arming(void *arg)
{
	int *pipe_w = arg;

	t_arm();
	if (syscall(SYS_fork) == 0) {
		/* Must never run: fork fails once SIGKILL is pending. */
		(void)!write(*pipe_w, "c", 1);
		_exit(0);
	}
	return 0;
}

TEST_F(guard, armed_worker_cannot_fork_a_survivor)
{
	int p[2], status;
	char c;

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	status = run_worker(self, fork_after_arming, &p[1]);
	close(p[1]);
	if (variant->mode == GUARD_ENFORCE) {
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		/* No child ever wrote: EOF once every writer is gone. */
		EXPECT_EQ(0, read(p[0], &c, 1));
		EXPECT_NE(NULL, t_events_find(&self->ev, GUARD_KIND_SYSCALL,
					      GUARD_HOOK_MAX));
	} else {
		EXPECT_EQ(1, read(p[0], &c, 1));
	}
	close(p[0]);
}

static int create_after_arming(void *arg)
{
	t_arm();
	syscall(SYS_mkdir, (const char *)arg, 0700);
	return 0;
}

/*
 * Documented limit: the kill is pending when the syscall body runs, so
 * what that body does without checking for signals still happens.
 */
TEST_F(guard, kill_at_entry_does_not_undo_the_killed_mkdir)
{
	char *path = t_strdupf("%s/made", self->tmp);
	struct stat st;
	int status;

	ASSERT_NE(NULL, path);
	status = run_worker(self, create_after_arming, path);
	if (variant->mode == GUARD_ENFORCE)
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	EXPECT_EQ(0, stat(path, &st));
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	free(path);
}

static int create_file_after_arming(void *arg)
{
	t_arm();
	syscall(SYS_openat, AT_FDCWD, (const char *)arg,
		O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	return 0;
}

TEST_F(guard, kill_at_entry_does_not_undo_the_killed_o_creat)
{
	char *path = t_strdupf("%s/created", self->tmp);
	struct stat st;
	int status;

	ASSERT_NE(NULL, path);
	status = run_worker(self, create_file_after_arming, path);
	if (variant->mode == GUARD_ENFORCE)
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	EXPECT_EQ(0, stat(path, &st));
	free(path);
}

static int write_after_arming(void *arg)
{
	int fd = *(int *)arg;

	t_arm();
	syscall(SYS_write, fd, "landed", 6);
	return 0;
}

/* The other side: a write that checks for fatal signals never lands. */
TEST_F(guard, killed_write_to_a_tmp_file_does_not_land)
{
	char *path = t_strdupf("%s/out", self->tmp);
	struct stat st;
	int fd, status;

	ASSERT_NE(NULL, path);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	status = run_worker(self, write_after_arming, &fd);
	close(fd);
	ASSERT_EQ(0, stat(path, &st));
	if (variant->mode == GUARD_ENFORCE) {
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		EXPECT_EQ(0, st.st_size);
	} else {
		EXPECT_EQ(6, st.st_size);
	}
	free(path);
}

static int i386_chmod_after_arming(void *arg)
{
	long ret;

	(void)arg;
	t_arm();
	/* i386 chmod(NULL, 0): 15 is rt_sigreturn in the x86-64 table. */
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(15), "b"(0), "c"(0)
			 : "memory");
	return ret == -EFAULT ? 0 : 1;
}

TEST_F(guard, i386_syscall_is_not_read_as_an_allowed_x86_64_one)
{
	const struct guard_violation *v;
	char reason[512];
	int status = run_worker(self, i386_chmod_after_arming, NULL);

	v = t_events_find(&self->ev, GUARD_KIND_SYSCALL, GUARD_HOOK_MAX);
	if (!v && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
		SKIP(return, "kernel without IA-32 emulation (int $0x80)");
	ASSERT_NE(NULL, v);
	EXPECT_TRUE(v->compat);
	EXPECT_EQ(15, v->nr);
	EXPECT_NULL(v->syscall);
	guard_violation_format(v, reason, sizeof(reason));
	EXPECT_NE(NULL, strstr(reason, "forbidden syscall i386 15 "))
		TH_LOG("%s", reason);
	if (variant->mode == GUARD_ENFORCE)
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	else
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int inet_socket_unarmed(void *arg)
{
	int fd;

	(void)arg;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		return 0;
	return errno == EPERM ? 10 : 11;
}

TEST_F(guard, inet_socket_in_worker_cgroup_is_refused)
{
	const struct guard_violation *v;
	int status = run_worker(self, inet_socket_unarmed, NULL);

	ASSERT_TRUE(WIFEXITED(status));
	v = t_events_find(&self->ev, GUARD_KIND_SOCK, GUARD_HOOK_SOCK_CREATE);
	ASSERT_NE(NULL, v);
	EXPECT_EQ(AF_INET, v->args[0]);
	EXPECT_EQ(SOCK_STREAM, v->args[1]);
	if (variant->mode == GUARD_ENFORCE) {
		EXPECT_EQ(10, WEXITSTATUS(status));
		EXPECT_EQ(GUARD_ACT_DENY, v->action);
		EXPECT_EQ(EPERM, v->err);
	} else {
		EXPECT_EQ(0, WEXITSTATUS(status));
	}
}

TEST_F(guard, processes_outside_the_cgroup_are_untouched)
{
	struct t_events ev = { .pid = getpid() };
	int fd, s;

	/* This test process runs openat and socket while the guard holds. */
	t_arm();
	fd = open(probe_path, O_RDONLY | O_CLOEXEC);
	EXPECT_LE(0, fd);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	EXPECT_LE(0, s);
	close(fd);
	close(s);
	ASSERT_LE(0, guard_poll(self->g, 0, t_events_collect, &ev));
	EXPECT_EQ(0, ev.n);
}

/*
 * One guard for a run's sandboxes (sandbox.c, setup_guard()): a driver's
 * workers live in a cgroup nested in the engine's, which the one guard
 * covers, and each sandbox polls only its own cgroup's events. Two
 * workers, one in each cgroup, both break the rules: the nested one is
 * held to the rules as the other (killed when enforcing), and neither
 * sandbox's poll is given the other's event, whichever polls first (the
 * first keeps the other's for it); a worker cannot make its events name
 * another cgroup, so it cannot pass as another sandbox's worker.
 */
TEST_F(guard, a_shared_guard_gives_each_cgroup_only_its_own_events)
{
	struct t_worker in_parent = { 0 }, in_nested = { 0 };
	struct t_events ev_parent = { 0 }, ev_nested = { 0 };
	struct stat st_parent, st_nested;
	char nested[4096];
	int fd, sp, sn;

	snprintf(nested, sizeof(nested), "%s/driver-1", self->cg.path);
	ASSERT_EQ(0, mkdir(nested, 0755)) TH_LOG("%s: %m", nested);
	fd = open(nested, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(self->cg.fd, &st_parent));
	ASSERT_EQ(0, fstat(fd, &st_nested));
	ASSERT_EQ(0, guard_cgroup_add(self->g, st_nested.st_ino));
	ASSERT_EQ(0, t_worker_spawn(self->cg.fd, open_after_arming, NULL,
				    &in_parent));
	ASSERT_EQ(0, t_worker_spawn(fd, open_after_arming, NULL, &in_nested));
	ASSERT_EQ(0, guard_worker_add(self->g, in_parent.pid, "engine", 0, 1));
	ASSERT_EQ(0, guard_worker_add(self->g, in_nested.pid, "driver", 0, 2));
	ASSERT_EQ(0, t_worker_go(&in_parent));
	ASSERT_EQ(0, t_worker_go(&in_nested));
	sp = t_worker_wait(&in_parent);
	sn = t_worker_wait(&in_nested);
	close(fd);
	/* The nested cgroup's poller first: the parent's event is kept. */
	ASSERT_LE(0, guard_poll(self->g, st_nested.st_ino, t_events_collect,
				&ev_nested));
	ASSERT_LE(0, guard_poll(self->g, st_parent.st_ino, t_events_collect,
				&ev_parent));
	guard_worker_del(self->g, in_parent.pid);
	guard_worker_del(self->g, in_nested.pid);
	/* A killed worker leaves its cgroup shortly after it is reaped. */
	for (int i = 0; i < 1000 && rmdir(nested) < 0 && errno == EBUSY; i++)
		usleep(1000);
	ASSERT_EQ(1, ev_nested.n);
	EXPECT_EQ(in_nested.pid, ev_nested.v[0].pid);
	EXPECT_STREQ("driver", ev_nested.v[0].fn);
	EXPECT_EQ(st_nested.st_ino, ev_nested.v[0].cgroup_id);
	ASSERT_EQ(1, ev_parent.n);
	EXPECT_EQ(in_parent.pid, ev_parent.v[0].pid);
	EXPECT_STREQ("engine", ev_parent.v[0].fn);
	EXPECT_EQ(st_parent.st_ino, ev_parent.v[0].cgroup_id);
	if (variant->mode == GUARD_ENFORCE) {
		EXPECT_TRUE(WIFSIGNALED(sp) && WTERMSIG(sp) == SIGKILL);
		EXPECT_TRUE(WIFSIGNALED(sn) && WTERMSIG(sn) == SIGKILL)
			TH_LOG("the nested cgroup's worker was not held to the rules");
	}
	/* Nothing left for anyone. */
	ev_parent.n = 0;
	ASSERT_LE(0, guard_poll(self->g, 0, t_events_collect, &ev_parent));
	EXPECT_EQ(0, ev_parent.n);
}

TEST_F(guard, violations_are_counted_per_syscall_and_function)
{
	uint64_t per_nr[GUARD_NR_MAX + 1], per_hook[GUARD_HOOK_MAX];

	run_worker(self, open_after_arming, NULL);
	run_worker(self, inet_socket_unarmed, NULL);
	ASSERT_EQ(0, guard_counts(self->g, per_nr, per_hook));
	EXPECT_EQ(1, per_nr[SYS_openat]);
	EXPECT_EQ(0, per_nr[SYS_read]);
	EXPECT_EQ(1, per_hook[GUARD_HOOK_SOCK_CREATE]);
	EXPECT_EQ(1, guard_fn_count(self->g, "hostile", SYS_openat,
				    GUARD_HOOK_NONE));
	EXPECT_EQ(1, guard_fn_count(self->g, "hostile", SYS_socket,
				    GUARD_HOOK_SOCK_CREATE));
	EXPECT_EQ(0, guard_fn_count(self->g, "other", SYS_openat,
				    GUARD_HOOK_NONE));
	EXPECT_EQ(0, guard_dropped(self->g));
}

/* flag[0]: the parent says "exit"; flag[1]: the child says "armed". */
static int arm_then_wait(void *arg)
{
	volatile int *flag = arg;

	/* Not a copy of the test's BPF link fds: they would keep the programs
	 * attached until this process is gone (a worker execs, so has none). */
	syscall(SYS_close_range, 3, ~0U, 0);
	t_arm();
	flag[1] = 1;
	while (!flag[0])
		;
	syscall(SYS_exit_group, 0);
	return 1;
}

/*
 * A worker that dies while the guard is detached (between two jobs of a
 * long-lived sandbox) leaves its armed entry behind; pids wrap (pid_max is
 * 32768 here), and the next worker with that pid must start unarmed.
 * Before the entry was checked against the process's start time, pithd
 * running jobs at once killed ~4 in 1,000 jobs' workers at their arming
 * call ("forbidden syscall close (3)").
 */
TEST_F(guard, a_dead_workers_armed_state_does_not_pass_to_its_pid)
{
	volatile int *flag;
	struct err e = {};
	pid_t pid;
	int status, r;

	flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, flag);
	ASSERT_EQ(0, t_worker_spawn(self->cg.fd, arm_then_wait, (void *)flag,
				    &self->w));
	ASSERT_EQ(0, t_worker_go(&self->w));
	for (int i = 0; !flag[1] && i < 5000; i++)
		usleep(1000);
	ASSERT_EQ(1, flag[1]);
	/* Detached: the exit goes unseen, the entry stays (nobody calls
	 * guard_worker_del: the path that missed it is what is tested). */
	guard_release(self->g);
	ASSERT_FALSE(guard_attached(self->g));
	usleep(100 * 1000); /* the detach is complete after an RCU grace period */
	flag[0] = 1;
	status = t_worker_wait(&self->w);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	pid = self->w.pid;
	self->w.pid = 0;
	ASSERT_EQ(0, guard_hold(self->g, &e)) TH_LOG("hold: %s", e.msg);

	/* A new worker with the same pid runs its loader (open, close of a
	 * non-marker fd), arms, exits: nothing is killed or reported. */
	r = t_worker_spawn_pid(self->cg.fd, pid, open_before_arming_then_exit,
			       NULL, &self->w);
	if (r == -EEXIST)
		SKIP(return, "pid %d was taken by another process", pid);
	ASSERT_EQ(0, r) TH_LOG("clone3 set_tid: %s", strerror(-r));
	ASSERT_EQ(pid, self->w.pid);
	ASSERT_EQ(0, t_worker_go(&self->w));
	status = t_worker_wait(&self->w);
	self->ev.pid = pid;
	ASSERT_LE(0, guard_poll(self->g, 0, t_events_collect, &self->ev));
	self->w.pid = 0;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(42, WEXITSTATUS(status));
	EXPECT_EQ(0, self->ev.n);
	munmap((void *)flag, 4096);
}

/*
 * pith names its workers in its own memory and reads their events after
 * they died (bpf_guard.c): a worker reaped before pith reads its
 * violation is still named as it was, and its name does not pass to the
 * next process of its pid, whose violation pith did not name. Each is
 * counted for its own function.
 */
TEST_F(guard, a_reaped_workers_violation_keeps_its_name_not_its_pids_next)
{
	const struct guard_violation *first, *next;
	struct t_worker w2 = {};
	pid_t pid;
	int r;

	ASSERT_EQ(0, t_worker_spawn(self->cg.fd, open_after_arming, NULL,
				    &self->w));
	pid = self->w.pid;
	ASSERT_EQ(0, guard_worker_add(self->g, pid, "hostile", 2, 7));
	ASSERT_EQ(0, t_worker_go(&self->w));
	ASSERT_LE(0, t_worker_wait(&self->w));
	self->w.pid = 0;
	/* Reaped and forgotten before any poll. */
	guard_worker_reaped(self->g, pid);

	r = t_worker_spawn_pid(self->cg.fd, pid, open_after_arming, NULL,
			       &w2);
	if (r == -EEXIST)
		SKIP(return, "pid %d was taken by another process", pid);
	ASSERT_EQ(0, r) TH_LOG("clone3 set_tid: %s", strerror(-r));
	ASSERT_EQ(pid, w2.pid);
	ASSERT_EQ(0, t_worker_go(&w2));
	ASSERT_LE(0, t_worker_wait(&w2));

	self->ev.pid = pid;
	ASSERT_LE(0, guard_poll(self->g, 0, t_events_collect, &self->ev));
	ASSERT_EQ(2, self->ev.n);
	first = &self->ev.v[0];
	next = &self->ev.v[1];
	EXPECT_LT(first->ts_ns, next->ts_ns);
	EXPECT_EQ(SYS_openat, first->nr);
	EXPECT_STREQ("hostile", first->fn);
	EXPECT_EQ(2, first->stage);
	EXPECT_EQ(7, first->instance);
	EXPECT_EQ(SYS_openat, next->nr);
	EXPECT_STREQ("", next->fn);
	EXPECT_EQ(0, next->stage);
	EXPECT_EQ(0, next->instance);
	EXPECT_EQ(1, guard_fn_count(self->g, "hostile", SYS_openat,
				    GUARD_HOOK_NONE));
	EXPECT_EQ(1, guard_fn_count(self->g, "", SYS_openat,
				    GUARD_HOOK_NONE));
}

/*
 * What proc.c's on_violation() does for each event guard_poll() hands it:
 * read the pids of its sandbox's other workers posted to a zygote, which
 * names each (zygote.c, proc_pid_locked(): guard_worker_add()). The poll
 * runs on a thread of its own, so that a poll holding the guard's lock
 * around its callback is reported as a deadlock, not a hang.
 */
struct naming_poll {
	struct guard *g;
	struct t_events ev;
	pid_t sibling;	/* the worker the callback names */
	int added;	/* guard_worker_add()'s return in the callback */
	int r;		/* guard_poll()'s */
	int done;
};

static int name_a_sibling_then_collect(const struct guard_violation *v,
				       void *userdata)
{
	struct naming_poll *np = userdata;

	np->added = guard_worker_add(np->g, np->sibling, "sibling", 3, 9);
	return t_events_collect(v, &np->ev);
}

static void *naming_poll_run(void *arg)
{
	struct naming_poll *np = arg;

	np->r = guard_poll(np->g, 0, name_a_sibling_then_collect, np);
	__atomic_store_n(&np->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* 0 once the poll returned, -EDEADLK if it did not within 10 s. */
static int naming_poll(struct naming_poll *np)
{
	pthread_t t;

	np->done = 0;
	if (pthread_create(&t, NULL, naming_poll_run, np))
		return -EAGAIN;
	for (int i = 0; i < 10000; i++) {
		if (__atomic_load_n(&np->done, __ATOMIC_ACQUIRE))
			return pthread_join(t, NULL) ? -EINVAL : 0;
		usleep(1000);
	}
	/* Stuck on the guard's lock: the test's process ends with it. */
	pthread_detach(t);
	return -EDEADLK;
}

/* Poll for pid's event, the callback naming sibling; the event. */
static const struct guard_violation *
naming_poll_event(struct naming_poll *np, pid_t pid, pid_t sibling)
{
	const struct guard_violation *v;

	np->ev = (struct t_events){ .pid = pid };
	np->sibling = sibling;
	np->added = -1;
	ASSERT_EQ(0, naming_poll(np)) TH_LOG("deadlock: guard_poll() still "
					     "holds the guard's lock while "
					     "its callback names a worker "
					     "(guard_worker_add())");
	EXPECT_EQ(0, np->added);
	ASSERT_LE(1, np->r);
	v = t_events_find(&np->ev, GUARD_KIND_SYSCALL, GUARD_HOOK_MAX);
	ASSERT_NE(NULL, v) TH_LOG("no event for pid %d", pid);
	return v;
}

/*
 * A violation read while another worker of the same sandbox is posted to
 * a zygote, its pid not read yet: the poll's callback names that worker
 * (guard_worker_add()) and must not wait for the lock its own poll holds.
 * Both ways an event comes to a poll are tried: out of its cgroup's queue
 * (read from the ring at a reap, guard_worker_reaped()) and out of the
 * ring. The worker named in the callback is named so in its own event.
 */
TEST_F(guard, a_poll_callback_naming_a_worker_does_not_deadlock)
{
	struct naming_poll np = { .g = self->g };
	const struct guard_violation *v;
	struct t_worker w2 = {};

	ASSERT_EQ(0, t_worker_spawn(self->cg.fd, open_after_arming, NULL,
				    &self->w));
	ASSERT_EQ(0, t_worker_spawn(self->cg.fd, open_after_arming, NULL,
				    &w2));
	ASSERT_EQ(0, guard_worker_add(self->g, self->w.pid, "hostile", 2, 7));
	ASSERT_EQ(0, t_worker_go(&self->w));
	ASSERT_LE(0, t_worker_wait(&self->w));
	/* Its event goes to its cgroup's queue as it is reaped. */
	guard_worker_reaped(self->g, self->w.pid);
	v = naming_poll_event(&np, self->w.pid, w2.pid);
	EXPECT_STREQ("hostile", v->fn);
	EXPECT_EQ(SYS_openat, v->nr);
	self->w.pid = 0;

	/* The sibling's event is read from the ring by the poll itself;
	 * its callback names a third worker (above pid_max: nobody's). */
	ASSERT_EQ(0, t_worker_go(&w2));
	ASSERT_LE(0, t_worker_wait(&w2));
	v = naming_poll_event(&np, w2.pid, 4000000);
	EXPECT_STREQ("sibling", v->fn);
	EXPECT_EQ(3, v->stage);
	EXPECT_EQ(9, v->instance);
	guard_worker_reaped(self->g, w2.pid);
	guard_worker_reaped(self->g, 4000000);
}

static int stop_after_one(const struct guard_violation *v, void *userdata)
{
	t_events_collect(v, userdata);
	return -ECANCELED;
}

/*
 * A callback that stops the poll gets no more events from it; the events
 * the poll had taken and not handed are handed by the next poll, first
 * and in their order: none is lost for having been taken before the
 * callback ran (the callback runs with the guard's lock released).
 */
TEST_F(guard, events_after_a_callbacks_stop_are_handed_by_the_next_poll)
{
	struct t_worker w[2] = {};
	struct t_events ev = {};

	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, t_worker_spawn(self->cg.fd, open_after_arming,
					    NULL, &w[i]));
		ASSERT_EQ(0, guard_worker_add(self->g, w[i].pid,
					      i ? "second" : "first", 0, i));
		ASSERT_EQ(0, t_worker_go(&w[i]));
		ASSERT_LE(0, t_worker_wait(&w[i]));
	}
	EXPECT_EQ(-ECANCELED, guard_poll(self->g, 0, stop_after_one, &ev));
	ASSERT_EQ(1, ev.n);
	EXPECT_STREQ("first", ev.v[0].fn);
	ASSERT_EQ(1, guard_poll(self->g, 0, t_events_collect, &ev));
	ASSERT_EQ(2, ev.n);
	EXPECT_STREQ("second", ev.v[1].fn);
	EXPECT_EQ(w[1].pid, ev.v[1].pid);
	EXPECT_EQ(0, guard_poll(self->g, 0, t_events_collect, &ev));
	for (int i = 0; i < 2; i++)
		guard_worker_reaped(self->g, w[i].pid);
}

/*
 * pith forgets the names of reaped workers (guard_worker_reaped()): 5,000
 * workers named and reaped one after another, none of them polled, are
 * each named without failing.
 */
TEST_F(guard, reaped_workers_names_are_forgotten)
{
	for (int i = 0; i < 5000; i++) {
		pid_t pid = 4000000 + i; /* above pid_max: nobody's */

		ASSERT_EQ(0, guard_worker_add(self->g, pid, "f", 0, i))
			TH_LOG("worker %d", i);
		guard_worker_reaped(self->g, pid);
	}
}

/* flag[0]: the parent says "go on"; flag[1]: the child says "armed".
 * Armed, it opens a file once told to (forbidden). */
static int arm_wait_then_open(void *arg)
{
	volatile int *flag = arg;
	int fd;

	/* No copy of the test's BPF link fds (arm_then_wait()). */
	syscall(SYS_close_range, 3, ~0U, 0);
	t_arm();
	flag[1] = 1;
	while (!flag[0])
		;
	fd = syscall(SYS_openat, AT_FDCWD, probe_path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? 0 : 1;
}

/* Spawn fn with a pid in pid's armed slot (guard.bpf.c, armed_slots): pid
 * +- k * GUARD_ARMED_SLOTS, the first free one; -EEXIST if none is. */
static int spawn_in_slot_of(int cgroup_fd, pid_t pid, int (*fn)(void *),
			    void *arg, struct t_worker *w)
{
	long pid_max = 32768;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");

	if (f) {
		if (fscanf(f, "%ld", &pid_max) != 1)
			pid_max = 32768;
		fclose(f);
	}
	for (long k = 1; k < 64; k++) {
		for (int sign = -1; sign <= 1; sign += 2) {
			long want = pid + sign * k * GUARD_ARMED_SLOTS;
			int r;

			if (want < 300 || want >= pid_max)
				continue;
			r = t_worker_spawn_pid(cgroup_fd, want, fn, arg, w);
			if (r != -EEXIST)
				return r;
		}
	}
	return -EEXIST;
}

/* Wait for an armed worker's flag[1]; 0 or -ETIMEDOUT. */
static int wait_armed(volatile int *flag)
{
	for (int i = 0; !flag[1] && i < 5000; i++)
		usleep(1000);
	return flag[1] ? 0 : -ETIMEDOUT;
}

/* The armed worker's forbidden openat after its slot's other process
 * went: killed and named when enforcing, recorded when auditing. */
static void expect_openat_held(FIXTURE_DATA(guard) *self,
			       enum guard_mode mode, volatile int *flag)
{
	const struct guard_violation *v;
	int status;

	flag[0] = 1;
	status = t_worker_wait(&self->w);
	self->ev.pid = self->w.pid;
	ASSERT_LE(0, guard_poll(self->g, 0, t_events_collect, &self->ev));
	guard_worker_reaped(self->g, self->w.pid);
	self->w.pid = 0;
	v = t_events_find(&self->ev, GUARD_KIND_SYSCALL, GUARD_HOOK_MAX);
	ASSERT_NE(NULL, v) TH_LOG("the armed worker's openat passed unseen");
	EXPECT_EQ(SYS_openat, v->nr);
	if (mode == GUARD_ENFORCE) {
		ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("status %#x", status);
		EXPECT_EQ(SIGKILL, WTERMSIG(status));
		EXPECT_EQ(GUARD_ACT_KILL, v->action);
	} else {
		ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
		EXPECT_EQ(0, WEXITSTATUS(status));
	}
}

/*
 * Two armed workers in one slot (guard.bpf.c, armed_slots: pids
 * GUARD_ARMED_SLOTS apart): the first armed holds the slot's direct
 * entry, the second is in pith_armed and counted. The other one goes
 * (other_first: it armed first, so held the direct entry), by its exit
 * seen by the exit program or, unseen (the programs detached, as between
 * two jobs), by pith forgetting it (guard_worker_reaped()); the worker
 * that stays is still held: its forbidden openat is killed and named.
 * A slot that said "none armed" once one of its two went, or a direct
 * entry cleared by another process's exit, would let it through.
 */
static void slot_pair(FIXTURE_DATA(guard) *self, enum guard_mode mode,
		      bool other_first, bool other_unseen)
{
	struct t_worker other = {};
	volatile int *flag, *oflag;
	struct err e = {};
	int status, r;

	flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, flag);
	oflag = flag + 64;
	ASSERT_EQ(0, t_worker_spawn(self->cg.fd, arm_wait_then_open,
				    (void *)flag, &self->w));
	r = spawn_in_slot_of(self->cg.fd, self->w.pid, arm_then_wait,
			     (void *)oflag, &other);
	if (r == -EEXIST)
		SKIP(return, "no free pid in the slot of %d", self->w.pid);
	ASSERT_EQ(0, r) TH_LOG("clone3 set_tid: %s", strerror(-r));
	for (int i = 0; i < 2; i++) {
		bool go_other = other_first == (i == 0);

		ASSERT_EQ(0, t_worker_go(go_other ? &other : &self->w));
		ASSERT_EQ(0, wait_armed(go_other ? oflag : flag));
	}
	if (other_unseen) {
		guard_release(self->g);
		ASSERT_FALSE(guard_attached(self->g));
		usleep(100 * 1000); /* the detach is complete after an RCU grace period */
	}
	oflag[0] = 1;
	status = t_worker_wait(&other);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status));
	guard_worker_reaped(self->g, other.pid);
	if (other_unseen)
		ASSERT_EQ(0, guard_hold(self->g, &e)) TH_LOG("hold: %s", e.msg);
	expect_openat_held(self, mode, flag);
	munmap((void *)flag, 4096);
}

TEST_F(guard, an_armed_worker_stays_held_when_its_slots_counted_one_exits)
{
	slot_pair(self, variant->mode, false, false);
}

TEST_F(guard, a_counted_worker_stays_held_when_its_slots_direct_one_exits)
{
	slot_pair(self, variant->mode, true, false);
}

TEST_F(guard, an_armed_worker_stays_held_when_pith_forgets_its_slots_counted_one)
{
	slot_pair(self, variant->mode, false, true);
}

TEST_F(guard, a_counted_worker_stays_held_when_pith_forgets_its_slots_direct_one)
{
	slot_pair(self, variant->mode, true, true);
}

/*
 * pith forgets a worker by pid after it reaped it (warm.c retires a
 * parked worker so); by then the pid may be a new worker's that armed.
 * The forgetting must not disarm it: modelled by forgetting the pid of
 * a live armed worker, whose openat is still killed and named.
 */
TEST_F(guard, a_late_forget_does_not_disarm_a_worker_of_that_pid)
{
	volatile int *flag;

	flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, flag);
	ASSERT_EQ(0, t_worker_spawn(self->cg.fd, arm_wait_then_open,
				    (void *)flag, &self->w));
	ASSERT_EQ(0, t_worker_go(&self->w));
	ASSERT_EQ(0, wait_armed(flag));
	guard_worker_del(self->g, self->w.pid);
	expect_openat_held(self, variant->mode, flag);
	munmap((void *)flag, 4096);
}

/*
 * The marker arms even where the function's allow list has the marker's
 * own call (a call of the list ends at one load, but not the marker):
 * an openat after it is killed and named.
 */
TEST_F(guard, the_marker_arms_even_where_the_allow_list_has_its_call)
{
	static const int allow[] = {
		SYS_exit, SYS_exit_group, SYS_rt_sigreturn, SYS_close,
	};
	struct guard_opts o = { .cgroup_fd = self->cg.fd,
				.mode = variant->mode, .allow = allow,
				.n_allow = ARRAY_SIZE(allow), .no_lsm = true };
	struct guard *fixture = self->g;
	const struct guard_violation *v;
	struct err e = {};
	int status;

	/* The fixture's guard, whose list has no close, detached: this
	 * one alone judges the worker. */
	guard_release(fixture);
	self->g = NULL;
	ASSERT_EQ(0, guard_new(&o, &self->g, &e)) TH_LOG("guard_new: %s",
							 e.msg);
	ASSERT_EQ(0, guard_hold(self->g, &e)) TH_LOG("hold: %s", e.msg);
	status = run_worker(self, open_after_arming, NULL);
	guard_release(self->g);
	guard_free(self->g);
	self->g = fixture;
	v = t_events_find(&self->ev, GUARD_KIND_SYSCALL, GUARD_HOOK_MAX);
	ASSERT_NE(NULL, v) TH_LOG("no event: the marker did not arm");
	EXPECT_EQ(SYS_openat, v->nr);
	if (variant->mode == GUARD_ENFORCE) {
		ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("status %#x", status);
		EXPECT_EQ(SIGKILL, WTERMSIG(status));
	} else {
		ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	}
}

TEST(guard_refuses_a_missing_cgroup)
{
	struct guard_opts o = { .cgroup_path = "/nonexistent/pith-cgroup" };
	struct guard *g = NULL;
	struct err e = {};

	EXPECT_EQ(-ENOENT, guard_new(&o, &g, &e));
	EXPECT_NULL(g);
	EXPECT_NE(NULL, strstr(e.msg, "/nonexistent/pith-cgroup"));
}

TEST_HARNESS_MAIN
