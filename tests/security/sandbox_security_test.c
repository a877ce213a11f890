// SPDX-License-Identifier: MIT
/*
 * Death tests of the sandbox: a hostile function tries every class of
 * forbidden system call, foreign ABIs, faults, a fork bomb and reads of
 * pith's memory, and each attempt must end with its exact reason; a running
 * worker is inspected through /proc; and the exported seccomp program is
 * simulated for every syscall number, the x32 bit and a foreign arch.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pith/abi.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "sandbox/internal.h"
#include "sandbox/plan.h"
#include "sandbox/worker/trampoline.h"
#include "security/t_sandbox.h"

/* ---- every class of forbidden system call ------------------------------ */

FIXTURE(forbidden)
{
	struct sandbox *sb;
	struct sandbox_proc *p;
};

FIXTURE_VARIANT(forbidden)
{
	long nr;
	const char *name;
};

#define FORBID(n, nr_)                                  \
	FIXTURE_VARIANT_ADD(forbidden, n)               \
	{                                               \
		.nr = nr_, .name = #n,                  \
	}
/* files */
FORBID(openat, 257);
FORBID(open, 2);
FORBID(read, 0);
FORBID(write, 1);
FORBID(ioctl, 16);
FORBID(dup, 32);
FORBID(memfd_create, 319);
/* network */
FORBID(socket, 41);
FORBID(connect, 42);
/* processes and signals */
FORBID(fork, 57);
FORBID(vfork, 58);
FORBID(clone, 56);
FORBID(clone3, 435);
FORBID(execve, 59);
FORBID(execveat, 322);
FORBID(kill, 62);
FORBID(getppid, 110);
FORBID(getpid, 39);
FORBID(pidfd_open, 434);
FORBID(rt_sigaction, 13);
FORBID(sigaltstack, 131);
FORBID(prctl, 157);
FORBID(seccomp, 317);
/* memory */
FORBID(mmap, 9);
FORBID(mprotect, 10);
FORBID(munmap, 11);
FORBID(brk, 12);
FORBID(mremap, 25);
FORBID(madvise, 28);
FORBID(process_vm_readv, 310);
/* kernel attack surface */
FORBID(ptrace, 101);
FORBID(io_uring_setup, 425);
FORBID(bpf, 321);
FORBID(userfaultfd, 323);
FORBID(perf_event_open, 298);
FORBID(keyctl, 250);
FORBID(unshare, 272);
/* time: the vDSO is gone, and so is the syscall */
FORBID(clock_gettime, 228);
FORBID(nanosleep, 35);

FIXTURE_SETUP(forbidden)
{
	self->sb = t_sandbox(false);
	self->p = NULL;
}

FIXTURE_TEARDOWN(forbidden)
{
	sandbox_proc_free(self->p);
	sandbox_free(self->sb);
}

TEST_F(forbidden, call_kills_with_its_name_and_number)
{
	const struct sandbox_result *res;
	char want[128];

	self->p = t_run_hostile(self->sb, HOSTILE(H_SYSCALL, variant->nr),
				T_MEMORY, T_TIMEOUT_MS, NULL);
	ASSERT_NE(NULL, self->p);
	res = sandbox_proc_result(self->p);
	snprintf(want, sizeof(want), "killed: forbidden syscall %s (%ld)",
		 variant->name, variant->nr);
	EXPECT_EQ(SANDBOX_FAILED, res->status);
	EXPECT_STREQ(want, res->reason);
	EXPECT_EQ(variant->nr, res->syscall);
	EXPECT_EQ(SIGKILL, res->signal);
}

/* ---- everything else a hostile function does --------------------------- */

FIXTURE(hostile)
{
	struct sandbox *sb;
	struct sandbox_proc *p;
};

FIXTURE_SETUP(hostile)
{
	self->sb = t_sandbox(false);
	self->p = NULL;
}

FIXTURE_TEARDOWN(hostile)
{
	sandbox_proc_free(self->p);
	sandbox_free(self->sb);
}

static const char *run(struct __th_data_hostile *self, uint64_t instance)
{
	self->p = t_run_hostile(self->sb, instance, T_MEMORY, T_TIMEOUT_MS,
				NULL);
	return self->p ? t_reason(self->p) : "(spawn failed)";
}

TEST_F(hostile, x32_syscall_is_killed_as_a_foreign_abi)
{
	EXPECT_STREQ("killed: syscall from a foreign ABI (int 0x80 or x32)",
		     run(self, HOSTILE(H_X32, 0)));
	EXPECT_EQ(SIGSYS, sandbox_proc_result(self->p)->signal);
}

TEST_F(hostile, int80_syscall_is_killed_as_a_foreign_abi)
{
	EXPECT_STREQ("killed: syscall from a foreign ABI (int 0x80 or x32)",
		     run(self, HOSTILE(H_INT80, 0)));
}

TEST_F(hostile, fork_bomb_dies_at_the_first_fork)
{
	EXPECT_STREQ("killed: forbidden syscall fork (57)",
		     run(self, HOSTILE(H_FORK_BOMB, 0)));
}

TEST_F(hostile, null_write_reports_a_segfault_at_0x0)
{
	EXPECT_STREQ("segmentation fault at 0x0", run(self, HOSTILE(H_WRITE, 0)));
}

TEST_F(hostile, wild_write_reports_the_address)
{
	EXPECT_STREQ("segmentation fault at 0x1234560008",
		     run(self, HOSTILE(H_WRITE, 0x1234560008ull)));
}

TEST_F(hostile, write_to_an_input_faults)
{
	struct set *in = t_text_set("in", "x", "read only");

	self->p = t_run_hostile(self->sb,
				HOSTILE(H_WRITE, PITH_INPUT_BASE + 3),
				T_MEMORY, T_TIMEOUT_MS, in);
	ASSERT_NE(NULL, self->p);
	EXPECT_STREQ("segmentation fault at 0x300000000003",
		     t_reason(self->p));
	set_free(in);
}

TEST_F(hostile, stack_overflow_hits_the_guard_page)
{
	const char *r = run(self, HOSTILE(H_STACK_OVERFLOW, 1ull << 40));
	/* The context is T_MEMORY less the image's writable pages; its
	 * stack a quarter of that (page-rounded), the guard page below. */
	unsigned long long ctx = T_MEMORY - elf_image_writable_size(t_hostile());
	unsigned long long stack = (ctx / 4) & ~4095ull;
	char want[96];

	snprintf(want, sizeof(want),
		 "stack overflow (segmentation fault at 0x%llx)",
		 PITH_CONTEXT_BASE + ctx - stack - 4096);
	EXPECT_EQ(0, strncmp(r, want, strlen(want) - 4)) TH_LOG("%s", r);
}

TEST_F(hostile, illegal_instruction_reports_its_address)
{
	const char *r = run(self, HOSTILE(H_ILLEGAL, 0));
	unsigned long long addr = 0;

	ASSERT_EQ(1, sscanf(r, "illegal instruction at %llx", &addr))
		TH_LOG("%s", r);
	EXPECT_GE(addr, t_hostile()->lo);
	EXPECT_LT(addr, t_hostile()->hi);
}

TEST_F(hostile, division_by_zero_reports_an_arithmetic_exception)
{
	const char *r = run(self, HOSTILE(H_DIVIDE, 0));

	EXPECT_EQ(0, strncmp(r, "arithmetic exception at 0x4", 27))
		TH_LOG("%s", r);
}

TEST_F(hostile, executing_the_context_faults)
{
	/* The context is RW, never X. */
	EXPECT_STREQ("segmentation fault at 0x200000010000",
		     run(self, HOSTILE(H_JUMP, PITH_CONTEXT_BASE + 0x10000)));
}

/* Where the hostile function's trampoline page is: at
 * PLAN_TRAMPOLINE_BASE, or when zygote_hostile.sh has every instance
 * forked by a zygote (fresh, PITH_ZYGOTE=always), in its guard page
 * (plan.h, PLAN_ZTRAMP; the context is T_MEMORY less the image's writable
 * pages). */
static uint64_t t_tramp(const struct sandbox *sb)
{
	struct ctx_layout l;

	if (!getenv("PITH_TEST_FRESH") || !sb->zygote_on || !sb->zygote_first)
		return PLAN_TRAMPOLINE_BASE;
	context_frame(T_MEMORY - elf_image_writable_size(t_hostile()), &l);
	return PLAN_ZTRAMP(l.guard_off);
}

TEST_F(hostile, reentering_the_trampoline_only_reaches_a_forbidden_call)
{
	/* Its first call (munmap) is not allowed once seccomp is on. (The
	 * page's first bytes are where a zygote's clone returns.) */
	EXPECT_STREQ("killed: forbidden syscall munmap (11)",
		     run(self, HOSTILE(H_JUMP, t_tramp(self->sb) +
					       tramp_off(tramp_entry))));
}

TEST_F(hostile, vsyscall_page_calls_are_named_and_killed_too)
{
	/* The one mapping the trampoline cannot remove: the kernel emulates
	 * its three calls through seccomp like any other. The parameter is
	 * 48 bits, sign-extended by the function. */
	const uint64_t vsys = 0xffffffffff600000ull & 0xffffffffffffull;

	EXPECT_STREQ("killed: forbidden syscall gettimeofday (96)",
		     run(self, HOSTILE(H_JUMP, vsys)));
	sandbox_proc_free(self->p);
	EXPECT_STREQ("killed: forbidden syscall time (201)",
		     run(self, HOSTILE(H_JUMP, vsys + 0x400)));
	sandbox_proc_free(self->p);
	EXPECT_STREQ("killed: forbidden syscall getcpu (309)",
		     run(self, HOSTILE(H_JUMP, vsys + 0x800)));
}

static int pith_static_variable = 42;

TEST_F(hostile, pith_memory_is_not_mapped_in_the_worker)
{
	int on_stack = 7;
	void *on_heap = malloc(64);
	uintptr_t addrs[] = { (uintptr_t)&pith_static_variable,
			      (uintptr_t)&on_stack, (uintptr_t)on_heap,
			      (uintptr_t)&sandbox_new };

	for (size_t i = 0; i < ARRAY_SIZE(addrs); i++) {
		char want[64];

		snprintf(want, sizeof(want), "segmentation fault at 0x%lx",
			 (unsigned long)addrs[i]);
		EXPECT_STREQ(want, run(self, HOSTILE(H_READ, addrs[i])));
		sandbox_proc_free(self->p);
		self->p = NULL;
	}
	free(on_heap);
}

TEST_F(hostile, handoff_calls_find_nothing_to_act_on)
{
	struct set *in = set_new("len");
	struct buffer *b = NULL;

	/* The trampoline's two allowed calls, made again by the function:
	 * close(0) fails with EBADF, munmap of the loader's window unmaps
	 * nothing (the function exits 0 only if both held, after reading
	 * its image, context and stack again). */
	ASSERT_EQ(0, buffer_new("t", 0, &b));
	ASSERT_EQ(0, buffer_seal(b));
	ASSERT_EQ(0, set_add(in, "len", true,
			     PLAN_LOADER_END - PLAN_LOADER_BASE, b, 0, 0));
	buffer_unref(b);
	self->p = t_run_hostile(self->sb, HOSTILE(H_CLOSE_FDS, PLAN_LOADER_BASE),
				T_MEMORY, T_TIMEOUT_MS, in);
	ASSERT_NE(NULL, self->p);
	EXPECT_STREQ("", t_reason(self->p));
	EXPECT_EQ(SANDBOX_OK, sandbox_proc_result(self->p)->status);
	set_free(in);
}

TEST(without_seccomp_a_call_runs_but_the_worker_still_has_no_fds)
{
	struct sandbox *sb = t_sandbox(true);
	struct sandbox_proc *p;

	/* getpid runs (the test-only mode the eBPF layer is tested in)... */
	p = t_run_hostile(sb, HOSTILE(H_SYSCALL, 39), T_MEMORY, T_TIMEOUT_MS,
			  NULL);
	ASSERT_NE(NULL, p);
	EXPECT_STREQ("exited with status 100", t_reason(p));
	sandbox_proc_free(p);
	/* ...and the fds are gone all the same. */
	p = t_run_hostile(sb, HOSTILE(H_CLOSE_FDS, 0), T_MEMORY, T_TIMEOUT_MS,
			  NULL);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(SANDBOX_OK, sandbox_proc_result(p)->status)
		TH_LOG("%s", t_reason(p));
	sandbox_proc_free(p);
	sandbox_free(sb);
}

TEST(worker_securebits_lock_out_root_privilege)
{
	struct sandbox *sb;
	struct sandbox_proc *p;
	char want[64];

	if (geteuid() != 0)
		SKIP(return, "pith is not root: securebits are not set");
	/* Without seccomp the function can ask the kernel itself. */
	sb = t_sandbox(true);
	p = t_run_hostile(sb, HOSTILE(H_SECUREBITS, 0), T_MEMORY, T_TIMEOUT_MS,
			  NULL);
	ASSERT_NE(NULL, p);
	snprintf(want, sizeof(want), "exited with status %d", 0xeb);
	/* NOROOT, NOROOT_LOCKED, NO_SETUID_FIXUP_LOCKED, KEEP_CAPS_LOCKED,
	 * NO_CAP_AMBIENT_RAISE and its lock: 0x01|0x02|0x08|0x20|0x40|0x80 */
	EXPECT_STREQ(want, t_reason(p));
	sandbox_proc_free(p);
	sandbox_free(sb);
}

/*
 * Without seccomp, a function may ask the kernel to make its input
 * writable. The kernel must refuse for both kinds of input buffer: a sealed
 * memfd (F_SEAL_WRITE) and a pooled one (mapped from a read-only open).
 */
static void unprotect_input(struct set *in)
{
	struct sandbox *sb = t_sandbox(true);
	struct sandbox_proc *p;

	p = t_run_hostile(sb, HOSTILE(H_UNPROTECT, PITH_INPUT_BASE), T_MEMORY,
			  T_TIMEOUT_MS, in);
	ASSERT_NE(NULL, p);
	EXPECT_STREQ("exited with status 13", t_reason(p)) /* EACCES */
		TH_LOG("the function made its input writable");
	sandbox_proc_free(p);
	sandbox_free(sb);
	set_free(in);
}

TEST(sealed_input_cannot_be_made_writable_without_seccomp)
{
	unprotect_input(t_text_set("in", "x", "read only"));
}

TEST(pooled_input_cannot_be_made_writable_without_seccomp)
{
	unprotect_input(t_pooled_set("in", "x", "read only"));
}

/* ---- a running worker seen through /proc -------------------------------- */

FIXTURE(running)
{
	struct sandbox *sb;
	struct sandbox_proc *p;
	pid_t pid;
	char *status;
};

FIXTURE_SETUP(running)
{
	uint64_t end = 0;
	struct timespec ts;
	char path[64];

	self->sb = t_sandbox(false);
	self->p = t_spawn_hostile(self->sb, HOSTILE(H_LOOP, 0), 10000);
	ASSERT_NE(NULL, self->p);
	self->pid = sandbox_proc_pid(self->p);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)self->pid);
	/* Wait for the function to start: the loader said it was ready and
	 * the trampoline closed the socket (its last call). */
	while (!self->p->handed_off || self->p->sock >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (!end)
			end = (uint64_t)ts.tv_sec + 5;
		ASSERT_LT((uint64_t)ts.tv_sec, end) TH_LOG("never started");
		ASSERT_EQ(0, sandbox_proc_step(self->p))
			TH_LOG("%s", t_reason(self->p));
		usleep(200);
	}
	self->status = t_read_file(path, NULL);
	ASSERT_NE(NULL, self->status);
}

FIXTURE_TEARDOWN(running)
{
	free(self->status);
	sandbox_proc_free(self->p);
	sandbox_free(self->sb);
}

static void t_expect_line(const char *text, const char *line)
{
	EXPECT_NE(NULL, strstr(text, line)) TH_LOG("no '%s' in:\n%s", line,
						   text);
}

TEST_F(running, status_shows_seccomp_no_new_privs_and_no_capabilities)
{
	t_expect_line(self->status, "Seccomp:\t2\n");
	t_expect_line(self->status, "Seccomp_filters:\t1\n");
	t_expect_line(self->status, "NoNewPrivs:\t1\n");
	t_expect_line(self->status, "CapEff:\t0000000000000000\n");
	t_expect_line(self->status, "CapPrm:\t0000000000000000\n");
	t_expect_line(self->status, "CapInh:\t0000000000000000\n");
	t_expect_line(self->status, "CapAmb:\t0000000000000000\n");
	if (geteuid() != 0)
		SKIP(return, "pith is not root: no uid switch to check");
	t_expect_line(self->status,
		      "Uid:\t65534\t65534\t65534\t65534\n");
	t_expect_line(self->status,
		      "Gid:\t65534\t65534\t65534\t65534\n");
	/* No supplementary group: nothing but blanks after the tab. */
	{
		const char *g = strstr(self->status, "Groups:\t");

		ASSERT_NE(NULL, g);
		g += strlen("Groups:\t");
		EXPECT_EQ(strcspn(g, "\n"), strspn(g, " \t"));
	}
}

TEST_F(running, worker_has_no_file_descriptors)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)self->pid);
	dir = opendir(path);
	if (!dir && errno == EACCES && geteuid() != 0)
		SKIP(return, "the worker is not dumpable: its fds are root's to read");
	ASSERT_NE(NULL, dir);
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.') {
			n++;
			TH_LOG("fd %s is open", d->d_name);
		}
	closedir(dir);
	EXPECT_EQ(0, n);
}

TEST_F(running, maps_hold_only_image_context_inputs_and_trampoline)
{
	char path[64], *maps, *line, *save = NULL;
	const struct elf_image *img = t_hostile();
	const uint64_t tramp = t_tramp(self->sb);
	int n_ctx = 0, n_tramp = 0, n_img = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)self->pid);
	maps = t_read_file(path, NULL);
	if (!maps && errno == EACCES && geteuid() != 0)
		SKIP(return, "the worker is not dumpable: its maps are root's to read");
	ASSERT_NE(NULL, maps);
	TH_LOG("maps:\n%s", maps);
	for (line = strtok_r(maps, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long lo, hi;
		char perms[8];

		ASSERT_EQ(3, sscanf(line, "%llx-%llx %7s", &lo, &hi, perms));
		if (lo >= img->lo && hi <= img->hi) {
			n_img++;
			EXPECT_FALSE(perms[1] == 'w' && perms[2] == 'x');
		} else if (lo == tramp && hi == tramp + 4096) {
			/* A zygote's child's: in its guard page. */
			n_tramp++;
			EXPECT_STREQ("r-xp", perms);
		} else if (lo >= PITH_CONTEXT_BASE &&
			   hi <= PITH_CONTEXT_BASE + T_MEMORY) {
			n_ctx++;
			EXPECT_STREQ("rw-s", perms);
		} else if (lo == PITH_INPUT_BASE &&
			   hi == PITH_INPUT_BASE + PLAN_INPUT_AREA) {
			/* A warm worker's input area: read-only. */
			EXPECT_STREQ("r--s", perms);
		} else if (strstr(line, "[vsyscall]")) {
			/* The kernel's fixed page (execute-only emulation
			 * here); it cannot be unmapped and holds no data. */
			EXPECT_EQ(0xffffffffff600000ull, lo);
		} else {
			EXPECT_TRUE(false) TH_LOG("unexpected mapping: %s",
						  line);
		}
	}
	EXPECT_EQ(img->n_segments, n_img);
	EXPECT_EQ(2, n_ctx); /* below and above the guard page */
	EXPECT_EQ(1, n_tramp);
	free(maps);
}

TEST_F(running, limits_hold_no_core_no_processes_and_the_cpu_time)
{
	char path[64], *limits;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)self->pid);
	limits = t_read_file(path, NULL);
	ASSERT_NE(NULL, limits);
	t_expect_line(limits,
		      "Max core file size        0                    0");
	t_expect_line(limits,
		      "Max processes             0                    0");
	/* timeout 10 s: SIGXCPU at 10 s of CPU, SIGKILL at 11 s; a warm
	 * worker has one second more, which its instances share (fresh
	 * ones: zygote_hostile.sh). */
	t_expect_line(limits,
		      getenv("PITH_TEST_FRESH")
			      ? "Max cpu time              10                   11"
			      : "Max cpu time              11                   12");
	free(limits);
}

TEST_F(running, worker_sits_in_the_workers_cgroup)
{
	const char *cg = sandbox_cgroup_path(self->sb);
	char path[64], *text;

	if (!cg)
		SKIP(return, "no cgroup v2 leaf on this host");
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)self->pid);
	text = t_read_file(path, NULL);
	ASSERT_NE(NULL, text);
	EXPECT_NE(NULL, strstr(text, "/workers\n")) TH_LOG("%s", text);
	EXPECT_NE(NULL, strstr(cg, "/workers"));
	free(text);
}

TEST(worker_dies_with_pith)
{
	int pfd[2];
	pid_t child, worker = 0;
	int pidfd;

	ASSERT_EQ(0, pipe(pfd));
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		/* A "pith" that starts a worker and dies without cleanup. */
		struct sandbox *sb = t_sandbox(false);
		struct sandbox_proc *p = t_spawn_hostile(sb, HOSTILE(H_LOOP, 0),
							 60000);
		pid_t w = p ? sandbox_proc_pid(p) : 0;

		if (write(pfd[1], &w, sizeof(w)) != sizeof(w))
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	ASSERT_EQ(sizeof(worker), read(pfd[0], &worker, sizeof(worker)));
	close(pfd[0]);
	ASSERT_GT(worker, 0);
	pidfd = pidfd_open(worker, 0);
	waitpid(child, NULL, 0);
	if (pidfd >= 0) { /* still there: it must go away by itself */
		struct pollfd p = { pidfd, POLLIN, 0 };

		EXPECT_EQ(1, poll(&p, 1, 5000));
		close(pidfd);
	} else {
		EXPECT_EQ(ESRCH, errno);
	}
}

/* ---- the exported seccomp program, simulated --------------------------- */

/* A cBPF interpreter for seccomp programs: the classic instructions
 * libseccomp emits (ld abs, alu, jmp, ret). Returns the action or -1 for
 * an instruction it does not know. */
static int64_t t_bpf_run(const struct sock_filter *f, size_t n,
			 const struct seccomp_data *d)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 };

	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *i = &f[pc];

		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			if (i->k > sizeof(*d) - 4 || i->k % 4)
				return -1;
			memcpy(&a, (const char *)d + i->k, 4);
			break;
		case BPF_LD | BPF_IMM:
			a = i->k;
			break;
		case BPF_LDX | BPF_IMM:
			x = i->k;
			break;
		case BPF_LD | BPF_MEM:
			a = mem[i->k % BPF_MEMWORDS];
			break;
		case BPF_ST:
			mem[i->k % BPF_MEMWORDS] = a;
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= i->k;
			break;
		case BPF_ALU | BPF_OR | BPF_K:
			a |= i->k;
			break;
		case BPF_JMP | BPF_JA:
			pc += i->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == i->k ? i->jt : i->jf;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			pc += a > i->k ? i->jt : i->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			pc += a >= i->k ? i->jt : i->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			pc += (a & i->k) ? i->jt : i->jf;
			break;
		case BPF_RET | BPF_K:
			return i->k;
		case BPF_RET | BPF_A:
			return a;
		case BPF_ALU | BPF_SUB | BPF_X:
			a -= x;
			break;
		case BPF_MISC | BPF_TAX:
			x = a;
			break;
		case BPF_MISC | BPF_TXA:
			a = x;
			break;
		default:
			return -1;
		}
	}
	return -1; /* fell off the end */
}

/* Where the hostile function's code is, as seen by the filter. */
#define T_FN_IP 0x401000ull

static int64_t t_sim(const struct sock_filter *f, size_t n, uint32_t arch,
		     int nr, uint64_t ip, uint64_t a0, uint64_t a1)
{
	struct seccomp_data d = { .nr = nr, .arch = arch,
				  .instruction_pointer = ip };

	d.args[0] = a0;
	d.args[1] = a1;
	return t_bpf_run(f, n, &d);
}

TEST(filter_allows_only_the_allow_list_for_every_syscall_number)
{
	struct sandbox *sb = t_sandbox(false);
	const struct code_range lt = sb->loader_text, st = sb->spawn_text;
	const uint64_t ll = lt.hi - lt.lo;
	const uint64_t lw = PLAN_LOADER_END - PLAN_LOADER_BASE;
	const struct sock_filter *f;
	const void *insns;
	size_t n;
	int allowed = 0;

	ASSERT_EQ(0, sandbox_filter(sb, &insns, &n));
	f = insns;
	for (int nr = 0; nr < 1024; nr++) {
		int64_t plain = t_sim(f, n, AUDIT_ARCH_X86_64, nr, T_FN_IP, 0,
				      0);
		int64_t other = t_sim(f, n, AUDIT_ARCH_X86_64, nr, T_FN_IP, 5,
				      0);

		switch (nr) {
		case 60:  /* exit */
		case 231: /* exit_group */
		case 15:  /* rt_sigreturn */
			EXPECT_EQ(SECCOMP_RET_ALLOW, plain) TH_LOG("nr %d", nr);
			EXPECT_EQ(SECCOMP_RET_ALLOW, other) TH_LOG("nr %d", nr);
			allowed++;
			break;
		case 3: /* close: fd 0 only */
			EXPECT_EQ(SECCOMP_RET_ALLOW, plain);
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr, T_FN_IP, 1,
					0));
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF, other);
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr, T_FN_IP,
					1ull << 32, 0));
			break;
		case 11: /* munmap: exactly the loader's window */
			EXPECT_EQ(SECCOMP_RET_ALLOW,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr, T_FN_IP,
					PLAN_LOADER_BASE, lw));
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr, T_FN_IP,
					PLAN_LOADER_BASE, lw + 4096));
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr, T_FN_IP,
					PLAN_LOADER_BASE - 4096, lw));
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr, T_FN_IP,
					lt.lo, ll));
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr, T_FN_IP,
					PITH_CONTEXT_BASE, lw));
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF, plain);
			break;
		default:
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF, plain)
				TH_LOG("nr %d: %#" PRIx64, nr, plain);
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF, other)
				TH_LOG("nr %d", nr);
		}
		/* Trusted code: pith's spawn section and the loader. */
		EXPECT_EQ(SECCOMP_RET_ALLOW,
			  t_sim(f, n, AUDIT_ARCH_X86_64, nr, st.lo, 5, 0));
		EXPECT_EQ(SECCOMP_RET_ALLOW,
			  t_sim(f, n, AUDIT_ARCH_X86_64, nr, st.hi - 1, 5, 0));
		EXPECT_EQ(SECCOMP_RET_ALLOW,
			  t_sim(f, n, AUDIT_ARCH_X86_64, nr, lt.lo, 5, 0));
		EXPECT_EQ(SECCOMP_RET_ALLOW,
			  t_sim(f, n, AUDIT_ARCH_X86_64, nr, lt.hi - 1, 5, 0));
		if (nr != 60 && nr != 231 && nr != 15 && nr != 3) {
			/* Just outside them, in the trampoline page and in
			 * the same 4 GiB block with another high word. */
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr, lt.hi, 5,
					0));
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr, lt.lo - 1,
					5, 0));
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr, st.hi, 5,
					0));
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr, st.lo - 1,
					5, 0));
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr,
					PLAN_TRAMPOLINE_BASE, 5, 0));
			EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
				  t_sim(f, n, AUDIT_ARCH_X86_64, nr,
					(lt.lo & 0xffffffffull) |
						(1ull << 32),
					5, 0));
		}
		/* Foreign ABIs, from anywhere. */
		EXPECT_EQ(SECCOMP_RET_KILL_PROCESS,
			  t_sim(f, n, AUDIT_ARCH_X86_64, nr | 0x40000000,
				T_FN_IP, 0, 0))
			TH_LOG("x32 nr %d", nr);
		EXPECT_EQ(SECCOMP_RET_KILL_PROCESS,
			  t_sim(f, n, AUDIT_ARCH_I386, nr, T_FN_IP, 0, 0))
			TH_LOG("i386 nr %d", nr);
		EXPECT_EQ(SECCOMP_RET_KILL_PROCESS,
			  t_sim(f, n, AUDIT_ARCH_I386, nr, lt.lo, 0, 0));
		EXPECT_EQ(SECCOMP_RET_KILL_PROCESS,
			  t_sim(f, n, AUDIT_ARCH_AARCH64, nr, T_FN_IP, 0, 0));
	}
	EXPECT_EQ(3, allowed);
	sandbox_free(sb);
}

/* The filter's answer to call nr at ip with arguments a[0..3]. */
static int64_t t_sim4(const struct sock_filter *f, size_t n, int nr,
		      uint64_t ip, uint64_t a0, uint64_t a1, uint64_t a2,
		      uint64_t a3)
{
	struct seccomp_data d = { .nr = nr, .arch = AUDIT_ARCH_X86_64,
				  .instruction_pointer = ip,
				  .args = { a0, a1, a2, a3 } };

	return t_bpf_run(f, n, &d);
}

/*
 * A forked child reads its hand-off's time with rdtsc (round 16): no
 * clock_gettime is allowed from a zygote's trampoline page, at any offset
 * of it, whatever the clock (round 15's pin allowed CLOCK_MONOTONIC at the
 * call's offset; with it back, this fails).
 */
TEST(filter_allows_no_clock_call_from_a_zygotes_trampoline_page)
{
	static const uint64_t sizes[] = { 64ull << 10, 1ull << 20, 4ull << 30 };
	struct sandbox *sb = t_sandbox(false);
	const struct sock_filter *f;
	const void *insns;
	size_t n;

	ASSERT_EQ(0, sandbox_filter(sb, &insns, &n));
	f = insns;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct ctx_layout l;
		uint64_t zt;

		context_frame(sizes[i], &l);
		zt = PLAN_ZTRAMP(l.guard_off);
		for (uint64_t off = 0; off < 4096; off++)
			for (uint64_t clk = 0; clk < 2; clk++)
				ASSERT_EQ(SECCOMP_RET_USER_NOTIF,
					  t_sim4(f, n, 228 /* clock_gettime */,
						 zt + off, clk,
						 zt + off - 64, 0, 0))
					TH_LOG("clock %llu at +0x%llx",
					       (unsigned long long)clk,
					       (unsigned long long)off);
	}
	sandbox_free(sb);
}

/*
 * A zygote's trampoline lies in its children's guard page, wherever the
 * context's size puts it (plan.h, PLAN_ZTRAMP), so the program pins its
 * children's setup calls by their offset in a page of the 4 GiB above
 * PITH_CONTEXT_BASE, and each limit's pointer to the words of the page the
 * call is made from. Attacks on the pins, for contexts of several sizes:
 * a limit read from the function's own words (in its context, at the
 * words' offset in the next page, in another 4 GiB block), the calls from
 * another 4 GiB block or at an exec'd worker's trampoline, the clone
 * anywhere but at a page's first byte: each goes to pith, which names and
 * kills it.
 */
TEST(filter_pins_a_zygotes_calls_to_its_trampoline_page_and_its_words)
{
	static const uint64_t sizes[] = { 64ull << 10, 1ull << 20,
					  96ull << 20, 4ull << 30 };
	const uint64_t blk = 1ull << 32;
	struct sandbox *sb = t_sandbox(false);
	const struct sock_filter *f;
	const void *insns;
	size_t n;

	ASSERT_EQ(0, sandbox_filter(sb, &insns, &n));
	f = insns;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct ctx_layout l;
		uint64_t zt, cpu, ip, nproc, nip;

		context_frame(sizes[i], &l);
		zt = PLAN_ZTRAMP(l.guard_off);
		ASSERT_EQ(PLAN_ZTRAMP_HI, zt >> 32) TH_LOG("size %llu",
			(unsigned long long)sizes[i]);
		ip = zt + tramp_off(tramp_ip_z_cpu);
		cpu = zt + tramp_off(tramp_z_cpu);
		nip = zt + tramp_off(tramp_ip_z_nproc);
		nproc = zt + tramp_off(tramp_z_zero);
		/* The zygote's own calls. */
		EXPECT_EQ(SECCOMP_RET_ALLOW,
			  t_sim4(f, n, 302, ip, 0, 0 /* RLIMIT_CPU */, cpu, 0));
		EXPECT_EQ(SECCOMP_RET_ALLOW,
			  t_sim4(f, n, 302, nip, 0, 6 /* RLIMIT_NPROC */,
				 nproc, 0));
		EXPECT_EQ(SECCOMP_RET_ALLOW,
			  t_sim4(f, n, 56, zt, PLAN_ZYGOTE_CLONE_FLAGS, 0, 0,
				 0));
		/* The function's own words. */
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 302, ip, 0, 0, PITH_CONTEXT_BASE + 64, 0));
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 302, ip, 0, 0, cpu + 4096, 0));
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 302, ip, 0, 0, cpu - 4096, 0));
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 302, ip, 0, 0, cpu + blk, 0));
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 302, ip, 0, 0, nproc, 0));
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 302, nip, 0, 6, cpu, 0));
		/* Another block, another offset, an exec'd worker's page. */
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 302, ip + blk, 0, 0, cpu + blk, 0));
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 302, ip + 2, 0, 0, cpu, 0));
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 302,
				 PLAN_TRAMPOLINE_BASE + tramp_off(tramp_ip_z_cpu),
				 0, 0,
				 PLAN_TRAMPOLINE_BASE + tramp_off(tramp_z_cpu),
				 0));
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 56, zt + 2, PLAN_ZYGOTE_CLONE_FLAGS, 0,
				 0, 0));
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 56, zt + blk, PLAN_ZYGOTE_CLONE_FLAGS,
				 0, 0, 0));
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 56, PLAN_TRAMPOLINE_BASE,
				 PLAN_ZYGOTE_CLONE_FLAGS, 0, 0, 0));
		EXPECT_EQ(SECCOMP_RET_USER_NOTIF,
			  t_sim4(f, n, 56, zt, PLAN_ZYGOTE_CLONE_FLAGS | 0x11,
				 0, 0, 0));
	}
	sandbox_free(sb);
}

TEST(one_listener_names_the_call_of_each_of_several_workers)
{
	struct sandbox *sb = t_sandbox(false);
	const long nrs[] = { 39, 257, 41 };
	struct sandbox_proc *p[3];
	int done = 0;

	/* One program, compiled once by the spawner, one listener shared by
	 * every worker: notifications must reach the right proc. */
	ASSERT_LE(0, sb->spawner.listener);
	for (int i = 0; i < 3; i++) {
		p[i] = t_spawn_hostile(sb, HOSTILE(H_SYSCALL, nrs[i]), 5000);
		ASSERT_NE(NULL, p[i]);
	}
	for (int round = 0; done != 7 && round < 5000; round++) {
		for (int i = 0; i < 3; i++)
			if (sandbox_proc_step(p[i]) == 1)
				done |= 1 << i;
		usleep(1000);
	}
	ASSERT_EQ(7, done);
	EXPECT_STREQ("killed: forbidden syscall getpid (39)", t_reason(p[0]));
	EXPECT_STREQ("killed: forbidden syscall openat (257)", t_reason(p[1]));
	EXPECT_STREQ("killed: forbidden syscall socket (41)", t_reason(p[2]));
	for (int i = 0; i < 3; i++)
		sandbox_proc_free(p[i]);
	sandbox_free(sb);
}

TEST_HARNESS_MAIN
