// SPDX-License-Identifier: MIT
/*
 * Zygotes (userspace/sandbox/zygote.c, security.md "Zygotes"): a fresh
 * worker forked from a pre-loaded loader must start exactly as one exec'd
 * for its instance, hold nothing of its siblings, be pith's child under
 * the same filter and limits, never reach the zygote's fork, and the
 * zygote must end with the job. The whole hostile suite also runs with
 * every instance forked (zygote_hostile.sh).
 */
#include <dirent.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <pith/abi.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "sandbox/internal.h"
#include "sandbox/plan.h"
#include "sandbox/worker/trampoline.h"
#include "security/t_sandbox.h"

#define PAIRS 300 /* poison + check: 600 forked instances */

/* A fresh instance of the reset probe (tests/security/fn/reset.c). */
static struct sandbox_proc *probe(struct sandbox *sb, const char *mode)
{
	return t_reset_probe(sb, false, mode, T_TIMEOUT_MS, true, true);
}

/* What a "c" probe found at entry: its report's bytes. */
static struct t_found check(struct sandbox *sb)
{
	return t_reset_check(sb, false, "c", true);
}

/* Empty when equal, else the first field that differs. */
static void differ(const struct t_found *a, const struct t_found *b,
		   char *out, size_t len)
{
	t_reset_differ(a, b, "exec'd", out, len);
}

FIXTURE(zygote)
{
	struct sandbox *sb;
	bool held;
	struct t_found execd;
};

FIXTURE_VARIANT(zygote)
{
	bool guard;
};

FIXTURE_VARIANT_ADD(zygote, without_the_ebpf_guard) { .guard = false };
FIXTURE_VARIANT_ADD(zygote, with_the_ebpf_guard) { .guard = true };

FIXTURE_SETUP(zygote)
{
	struct sandbox_opts o = { .no_guard = !variant->guard };
	struct err e = { { 0 } };

	/* The default: a function's first fresh instance is exec'd, the
	 * next ones are forked by its zygote. */
	unsetenv("PITH_ZYGOTE");
	ASSERT_EQ(0, sandbox_new(&o, &self->sb, &e)) TH_LOG("%s", e.msg);
	if (variant->guard) {
		if (!t_layer_active(self->sb, "bpf-syscall"))
			SKIP(return, "no eBPF guard here (needs root and a cgroup v2 leaf)");
		ASSERT_EQ(0, sandbox_hold(self->sb, &e)) TH_LOG("%s", e.msg);
		self->held = true;
	}
	/* The reference: what an instance finds in a worker exec'd for it. */
	self->execd = check(self->sb);
	ASSERT_TRUE(self->execd.ok) TH_LOG("%s", self->execd.reason);
	ASSERT_LT(0, self->execd.len);
	ASSERT_EQ(0, self->sb->zygote_forks);
}

FIXTURE_TEARDOWN(zygote)
{
	free(self->execd.bytes);
	if (self->held)
		sandbox_release(self->sb);
	sandbox_free(self->sb);
}

/* Poison (every place the probe can write: .data, .bss, stack, context,
 * registers, vector state, fs/gs base, signal mask), then check, PAIRS
 * times, each in a new process forked by the zygote: every check equals
 * the exec'd worker's, byte for byte. */
TEST_F(zygote, forked_workers_start_as_an_execd_one_and_see_no_sibling)
{
	pid_t last = self->execd.pid;

	for (int i = 0; i < PAIRS; i++) {
		struct sandbox_proc *p = probe(self->sb,
					       "p-a-long-item-whose-tail-must-not-survive");
		struct t_found f;
		char why[160];

		ASSERT_NE(NULL, p);
		ASSERT_EQ(SANDBOX_OK, sandbox_proc_result(p)->status)
			TH_LOG("poison %d: %s", i, t_reason(p));
		EXPECT_NE(last, sandbox_proc_pid(p));
		last = sandbox_proc_pid(p);
		sandbox_proc_free(p);
		f = check(self->sb);
		ASSERT_TRUE(f.ok) TH_LOG("check %d: %s", i, f.reason);
		EXPECT_NE(last, f.pid);
		last = f.pid;
		differ(&self->execd, &f, why, sizeof(why));
		EXPECT_STREQ("", why) TH_LOG("check %d after a poisoned sibling", i);
		free(f.bytes);
		if (why[0])
			break;
	}
	EXPECT_EQ(2 * PAIRS, self->sb->zygote_forks);
	EXPECT_EQ(0, self->sb->warm_reused);
	/* Each in the context its sibling left, zeroed (reuse.c): the
	 * checks above looked for the poison in all of its arena, its stack
	 * and its reserved words. */
	EXPECT_EQ(2 * PAIRS, self->sb->ctx_reused);
}

/* A zygote's clone, in the loader's text: the address of its syscall
 * instruction, found in build/pith-worker (mov $56,%eax; mov
 * $(CLONE_PARENT | CLONE_PARENT_SETTID | CLONE_FILES),%edi; ...;
 * syscall). */
static uint64_t clone_gadget(void)
{
	static const unsigned char mov[] = { 0xb8, 56, 0, 0, 0,
					     0xbf, 0x00, 0x84, 0x10, 0 };
	char *path = t_strdupf("%s/pith-worker", t_build_dir());
	size_t len = 0;
	char *elf = t_read_file(path, &len);
	const Elf64_Ehdr *eh = (const void *)elf;
	uint64_t at = 0;

	free(path);
	if (!elf || len < sizeof(*eh))
		return 0;
	for (unsigned i = 0; i < eh->e_phnum && !at; i++) {
		const Elf64_Phdr *ph = (const void *)(elf + eh->e_phoff +
						      i * sizeof(*ph));

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) ||
		    ph->p_offset + ph->p_filesz > len)
			continue;
		for (uint64_t o = 0; o + sizeof(mov) < ph->p_filesz && !at; o++) {
			const unsigned char *c =
				(const void *)(elf + ph->p_offset + o);

			if (memcmp(c, mov, sizeof(mov)))
				continue;
			for (uint64_t k = sizeof(mov); k < 32 &&
			     o + k + 1 < ph->p_filesz; k++)
				if (c[k] == 0x0f && c[k + 1] == 0x05) {
					at = ph->p_vaddr + o + k;
					break;
				}
		}
	}
	free(elf);
	return at;
}

/* Where the hostile function's zygote has its trampoline: its children's
 * guard page (plan.h, PLAN_ZTRAMP). The context is T_MEMORY less the
 * image's writable pages. */
static uint64_t ztramp(void)
{
	struct ctx_layout l;

	context_frame(T_MEMORY - elf_image_writable_size(t_hostile()), &l);
	return PLAN_ZTRAMP(l.guard_off);
}

/* A fresh instance of the hostile function, run to its end (wait) or
 * not; the first one of a sandbox is exec'd, the next ones forked. */
static struct sandbox_proc *hostile(struct sandbox *sb, uint64_t instance,
				    bool wait)
{
	struct sandbox_proc *p;

	setenv("PITH_TEST_FRESH", "1", 1);
	p = wait ? t_run_hostile(sb, instance, T_MEMORY, T_TIMEOUT_MS, NULL)
		 : t_spawn_hostile(sb, instance, 10000);
	unsetenv("PITH_TEST_FRESH");
	return p;
}

/* Whether a fresh instance of the hostile function ends with a fault at
 * addr; its reason in got. */
static bool faults_at(struct sandbox *sb, uint64_t instance, uint64_t addr,
		      char *got, size_t len)
{
	struct sandbox_proc *p = hostile(sb, instance, true);
	char want[80];

	snprintf(got, len, "%s", p ? t_reason(p) : "no instance");
	sandbox_proc_free(p);
	snprintf(want, sizeof(want), "segmentation fault at 0x%llx",
		 (unsigned long long)addr);
	return !strcmp(want, got);
}

/* Its first instance, exec'd: the next ones are forked. */
static void hostile_prime(struct sandbox *sb)
{
	struct sandbox_proc *p = hostile(sb, HOSTILE(H_EXIT, 0), true);

	if (!p || sandbox_proc_result(p)->status != SANDBOX_OK)
		abort();
	sandbox_proc_free(p);
}

/* The zygote's one call a worker never makes lies in the loader's text,
 * and in the zygote's fork page, whose copy ends with it right below the
 * trampoline (worker/main.c, zygote_fork_page()): neither is passed on
 * to a child (MADV_DONTFORK), so a function that jumps to either faults
 * there (the fork page's address is its own signal stack's, never
 * executable). */
TEST_F(zygote, jumping_to_the_zygotes_clone_faults)
{
	uint64_t gadget = clone_gadget(), copy;
	struct sandbox_proc *p;
	char got[ERR_MAX];

	ASSERT_NE(0, gadget) TH_LOG("no clone(CLONE_PARENT) in pith-worker");
	ASSERT_LE(self->sb->loader_text.lo, gadget);
	ASSERT_GT(self->sb->loader_text.hi, gadget);
	copy = ztramp() - 2; /* the fork page's syscall instruction */
	hostile_prime(self->sb);
	EXPECT_TRUE(faults_at(self->sb, HOSTILE(H_JUMP, gadget), gadget, got,
			      sizeof(got))) TH_LOG("%s", got);
	EXPECT_TRUE(faults_at(self->sb, HOSTILE(H_JUMP, copy), copy, got,
			      sizeof(got))) TH_LOG("%s", got);
	/* And forking the usual way is named and killed. */
	p = hostile(self->sb, HOSTILE(H_SYSCALL, 56), true);
	ASSERT_NE(NULL, p);
	EXPECT_STREQ("killed: forbidden syscall clone (56)", t_reason(p));
	sandbox_proc_free(p);
	EXPECT_EQ(3, self->sb->zygote_forks);
}

/* A forked child's guard page holds its trampoline (plan.h, PLAN_ZTRAMP),
 * read-only: a stack overflow faults there as in an exec'd worker's hole,
 * and is reported as one, in every slot. */
TEST_F(zygote, forked_childs_stack_overflow_faults_in_its_trampoline_page)
{
	char want[96];

	snprintf(want, sizeof(want),
		 "stack overflow (segmentation fault at 0x%llx)",
		 (unsigned long long)ztramp());
	hostile_prime(self->sb);
	for (int i = 0; i < 2 * PLAN_SLOTS; i++) {
		struct sandbox_proc *p = hostile(self->sb,
						 HOSTILE(H_STACK_OVERFLOW,
							 1ull << 40),
						 true);

		ASSERT_NE(NULL, p);
		EXPECT_EQ(0, strncmp(t_reason(p), want, strlen(want) - 4))
			TH_LOG("instance %d: %s", i, t_reason(p));
		EXPECT_EQ(SIGSEGV, sandbox_proc_result(p)->signal);
		sandbox_proc_free(p);
	}
	EXPECT_EQ(2 * PLAN_SLOTS, (int)self->sb->zygote_forks);
}

/* The zygote's children get no page of the loader and not its fork page
 * (worker/main.c, zygote_fork_page()): a function reads none of them;
 * where the fork page is in the zygote, a child has its signal stack
 * (zeros, as an exec'd worker's there). */
TEST_F(zygote, forked_child_reads_no_page_of_the_loader)
{
	const struct code_range *t = &self->sb->loader_text;
	uint64_t gadget = clone_gadget();
	struct sandbox_proc *p;
	char got[ERR_MAX];
	int n = 1;

	ASSERT_NE(0, gadget);
	ASSERT_EQ(PLAN_LOADER_BASE, t->lo);
	hostile_prime(self->sb);
	for (uint64_t a = t->lo; a < t->hi; a += 4096, n++)
		EXPECT_TRUE(faults_at(self->sb, HOSTILE(H_READ, a), a, got,
				      sizeof(got)))
			TH_LOG("0x%llx: %s", (unsigned long long)a, got);
	EXPECT_TRUE(faults_at(self->sb, HOSTILE(H_READ, gadget & ~4095ull),
			      gadget & ~4095ull, got, sizeof(got)))
		TH_LOG("%s", got);
	p = hostile(self->sb, HOSTILE(H_READ, ztramp() - 2), true);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(SANDBOX_OK, sandbox_proc_result(p)->status)
		TH_LOG("%s", t_reason(p));
	sandbox_proc_free(p);
	EXPECT_EQ(n + 1, (int)self->sb->zygote_forks);
}

/* A forked child sets itself up with registers only and then in the last
 * words of its own context stack (its limits, its TSC, "ready", the
 * handoff block: worker/trampoline.c, tramp_child): a function that reads them
 * at its first instruction finds zeros, as in an exec'd worker, in every
 * pooled slot. */
TEST_F(zygote, forked_childs_setup_words_are_zero_when_its_function_starts)
{
	for (int i = 0; i < 1 + 2 * PLAN_SLOTS; i++) {
		struct sandbox_proc *p = hostile(self->sb,
						 HOSTILE(H_STACK_LEFT, 0), true);

		ASSERT_NE(NULL, p);
		EXPECT_EQ(SANDBOX_OK, sandbox_proc_result(p)->status)
			TH_LOG("instance %d (%s): %s", i,
			       i ? "forked" : "exec'd", t_reason(p));
		sandbox_proc_free(p);
	}
	EXPECT_EQ(2 * PLAN_SLOTS, self->sb->zygote_forks);
}

/* The descriptors a process holds (/proc/PID/fd), or -1. */
static int fds_of(pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* The descriptor numbers a zygote holds or held, and a few beyond: the
 * lowest ones (its socket at 0 during its setup; the slots' as received,
 * and a swap's two for a moment) and its slots' from PLAN_ZYGOTE_FD_BASE
 * up, its socket after them. */
#define ZFD_LOW (2 + 2 * PLAN_SLOTS + 2)
#define ZFD_N (ZFD_LOW + 2 * PLAN_SLOTS + 2)
static int zygote_fd(int i)
{
	return i < ZFD_LOW ? i : PLAN_ZYGOTE_FD_BASE + i - ZFD_LOW;
}

/* The trampoline offset of the syscall instruction before ip. */
static uint64_t setup_call_at(const char *ip, unsigned variant, uint64_t arg)
{
	return (tramp_off(ip) - 2) | (uint64_t)variant << 12 |
	       arg << 16;
}

static void expect_setup_call(struct sandbox *sb, bool guard,
			      const char *ip, unsigned variant, uint64_t arg,
			      const char *want)
{
	struct sandbox_proc *p =
		hostile(sb, HOSTILE(H_SETUP_CALL, setup_call_at(ip, variant, arg)),
			true);

	ASSERT_NE(NULL, p);
	/* Armed by then, the guard kills any of them first. */
	if (guard)
		EXPECT_EQ(0, strncmp(t_reason(p), "killed", 6))
			TH_LOG("%s", t_reason(p));
	else
		EXPECT_STREQ(want, t_reason(p))
			TH_LOG("variant %u, arg %llu, at +0x%llx", variant,
			       (unsigned long long)arg,
			       tramp_off(ip));
	sandbox_proc_free(p);
}

/*
 * A forked child's setup runs in its trampoline page, which its function
 * keeps: the function can jump to any of its calls with registers of its
 * own (worker/trampoline.c, tramp_child). The seccomp program allows each
 * only at its address with its constant arguments (filter.c): a limit's
 * call with a pointer of the function's, or another call at one of their
 * addresses, is killed and named; what the pins leave free reaches
 * nothing, as the function holds no descriptor: a forged "ready" report
 * into any descriptor the zygote holds (its slots', its socket) or a
 * mapping of one fails with EBADF, and the failure path's own writes
 * too: the instance exits 127, reported as the function's exit, not as
 * a setup failure or a forged one. In an exec'd worker, the setup's bytes
 * are int3.
 */
TEST_F(zygote, forked_childs_setup_calls_made_again_are_refused_or_reach_nothing)
{
	static const struct { const char *ip; uint64_t res; } limits[] = {
		{ tramp_ip_z_nproc, 6 }, { tramp_ip_z_nproc, 7 },
		{ tramp_ip_z_cpu, 0 },
	};
	static const char *const others[] = {
		tramp_ip_z_pdeathsig, tramp_ip_z_map_context, tramp_ip_z_ready,
		tramp_ip_z_cpu, tramp_ip_z_close, tramp_ip_z_fail_text,
	};
	bool guard = variant->guard;
	struct sandbox_proc *p;

	/* The first instance is exec'd: no setup code in its trampoline. */
	p = hostile(self->sb, HOSTILE(H_SETUP_CALL,
				      setup_call_at(tramp_ip_z_ready,
						    SETUP_OTHER_CALL |
							    SETUP_EXECD,
						    0)),
		    true);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(0, self->sb->zygote_forks);
	EXPECT_EQ(SIGTRAP, sandbox_proc_result(p)->signal) TH_LOG("%s", t_reason(p));
	sandbox_proc_free(p);
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
		expect_setup_call(self->sb, guard, limits[i].ip,
				  SETUP_PRLIMIT_RAISE, limits[i].res,
				  "killed: forbidden syscall prlimit64 (302)");
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		expect_setup_call(self->sb, guard, others[i], SETUP_OTHER_CALL,
				  0, "killed: forbidden syscall getpid (39)");
	for (int i = 0; i < ZFD_N; i++) {
		expect_setup_call(self->sb, guard, tramp_ip_z_ready,
				  SETUP_PWRITE_FORGE, (uint64_t)zygote_fd(i),
				  "exited with status 127");
		expect_setup_call(self->sb, guard, tramp_ip_z_map_stack,
				  SETUP_MMAP_FD, (uint64_t)zygote_fd(i),
				  "exited with status 127");
	}
	EXPECT_EQ(3 + 6 + 2 * ZFD_N, (int)self->sb->zygote_forks);
}

/* A forked child holds no descriptor when its function starts: not its
 * slot's, not another slot's, not the zygote's socket. Mapping any of
 * them is a forbidden call, killed and named; without a filter it finds
 * nothing there (below). */
TEST_F(zygote, forked_child_cannot_map_the_pools_descriptors)
{
	hostile_prime(self->sb);
	for (int i = 0; i < ZFD_N; i++) {
		int fd = zygote_fd(i);
		struct sandbox_proc *p = hostile(self->sb,
						 HOSTILE(H_MAP_FD, fd), true);

		ASSERT_NE(NULL, p);
		EXPECT_STREQ("killed: forbidden syscall mmap (9)", t_reason(p))
			TH_LOG("fd %d", fd);
		sandbox_proc_free(p);
	}
	EXPECT_EQ(ZFD_N, self->sb->zygote_forks);
}

/*
 * A forked child maps its slot's memfd three times (its context in two
 * parts, its input area) and writes its report into the slot (pwrite):
 * the reports move the memfd's modification time, the mappings leave its
 * access time (the slot's descriptors are O_NOATIME: zygote.c,
 * slot_no_atime()), a time nobody reads, so that no instance pays for an
 * inode update for it.
 */
TEST_F(zygote, forked_childs_mappings_of_its_slot_leave_its_access_time)
{
	struct stat before, after;
	struct sandbox_proc *p;
	char path[64];
	pid_t zpid;

	hostile_prime(self->sb);
	p = hostile(self->sb, HOSTILE(H_EXIT, 0), true);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(SANDBOX_OK, sandbox_proc_result(p)->status)
		TH_LOG("%s", t_reason(p));
	sandbox_proc_free(p);
	zpid = zygote_pid(self->sb, zygote_pid(self->sb, 0) ? 0 : 1);
	ASSERT_LT(0, zpid);
	/* Slot 0's (the first free one each time: one instance at once). */
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)zpid,
		 PLAN_ZYGOTE_FD_BASE);
	ASSERT_EQ(0, stat(path, &before)) TH_LOG("%s: %m", path);
	for (int i = 0; i < 20; i++) {
		usleep(5000); /* past the timestamps' granularity */
		p = hostile(self->sb, HOSTILE(H_EXIT, 0), true);
		ASSERT_NE(NULL, p);
		ASSERT_EQ(SANDBOX_OK, sandbox_proc_result(p)->status)
			TH_LOG("%d: %s", i, t_reason(p));
		sandbox_proc_free(p);
	}
	ASSERT_EQ(0, stat(path, &after)) TH_LOG("%s: %m", path);
	EXPECT_EQ(21, self->sb->zygote_forks);
	EXPECT_TRUE(after.st_mtim.tv_sec > before.st_mtim.tv_sec ||
		    (after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
		     after.st_mtim.tv_nsec > before.st_mtim.tv_nsec))
		TH_LOG("the children's reports did not reach slot 0");
	EXPECT_EQ(before.st_atim.tv_sec, after.st_atim.tv_sec);
	EXPECT_EQ(before.st_atim.tv_nsec, after.st_atim.tv_nsec);
}

/* Outputs that keep their pages keep their slot's memfd (sealed): the slot
 * gets a new one, which the zygote receives before the slot's next fork,
 * and the kept bytes are never zeroed nor written by a later instance. */
TEST_F(zygote, kept_outputs_keep_their_slots_memfd_and_the_slot_gets_a_new_one)
{
	struct set *kept[3 * PLAN_SLOTS] = { 0 };
	const int n = 3 * PLAN_SLOTS;

	hostile_prime(self->sb);
	for (int i = 0; i < n; i++) {
		uint64_t len = PITH_PAGE_ITEM_MIN + (uint64_t)i * 4099;
		struct sandbox_proc *p = hostile(self->sb,
						 HOSTILE(H_BIG_OUTPUT, len),
						 true);
		struct set **sets;
		size_t n_sets = 0;

		ASSERT_NE(NULL, p);
		ASSERT_EQ(SANDBOX_OK, sandbox_proc_result(p)->status)
			TH_LOG("%d: %s", i, t_reason(p));
		sets = sandbox_proc_take_outputs(p, &n_sets);
		ASSERT_EQ(1, n_sets);
		kept[i] = sets[0];
		free(sets);
		sandbox_proc_free(p);
	}
	/* Every one forked: a slot whose memfd went to the outputs got a
	 * new one (24 instances, 8 slots). */
	EXPECT_EQ(n, self->sb->zygote_forks);
	for (int i = 0; i < n; i++) {
		uint64_t len = PITH_PAGE_ITEM_MIN + (uint64_t)i * 4099;
		const struct item *it = &kept[i]->items[0];
		const char *b = NULL;
		uint64_t bad = 0;

		ASSERT_EQ(1, kept[i]->n);
		ASSERT_EQ(len, it->len);
		ASSERT_EQ(0, item_data(it, (const void **)&b));
		for (uint64_t k = 0; k < len; k++)
			bad += b[k] != (char)('a' + len % 26);
		EXPECT_EQ(0, bad) TH_LOG("output %d", i);
		set_free(kept[i]);
	}
}

/* The ring is the zygote's alone (MADV_DONTFORK): a child that reads where
 * the zygote maps it faults there. */
TEST_F(zygote, forked_child_cannot_read_the_ring)
{
	char got[ERR_MAX];

	hostile_prime(self->sb);
	EXPECT_TRUE(faults_at(self->sb, HOSTILE(H_READ, PLAN_RING_BASE),
			      PLAN_RING_BASE, got, sizeof(got)))
		TH_LOG("%s", got);
	EXPECT_EQ(1, self->sb->zygote_forks);
}

/* With no seccomp program and no guard (a sandbox for this test only),
 * the mmap runs: every descriptor number a zygote holds is closed in its
 * child (EBADF). */
TEST(forked_child_holds_no_descriptor_when_its_function_starts)
{
	struct sandbox_opts o = { .no_seccomp = true, .no_guard = true };
	struct err e = { { 0 } };
	struct sandbox *sb;

	unsetenv("PITH_ZYGOTE");
	ASSERT_EQ(0, sandbox_new(&o, &sb, &e)) TH_LOG("%s", e.msg);
	hostile_prime(sb);
	for (int i = 0; i < ZFD_N; i++) {
		int fd = zygote_fd(i);
		struct sandbox_proc *p = hostile(sb, HOSTILE(H_MAP_FD, fd),
						 true);

		ASSERT_NE(NULL, p);
		EXPECT_STREQ("exited with status 9", t_reason(p))
			TH_LOG("fd %d", fd);
		sandbox_proc_free(p);
	}
	EXPECT_EQ(ZFD_N, sb->zygote_forks);
	sandbox_free(sb);
}

/* A forked child shares its zygote's descriptor table until its setup's
 * close_range(CLOSE_RANGE_UNSHARE) (worker/main.c, zygote_fork()), never
 * when its function runs: with no seccomp program and no guard, a
 * function that closes every descriptor number closes only in its own
 * empty table, and the zygote keeps its socket and every slot's two
 * descriptors, forking the next instances into every slot. */
TEST(forked_child_closing_every_descriptor_leaves_the_zygotes_whole)
{
	struct sandbox_opts o = { .no_seccomp = true, .no_guard = true };
	struct err e = { { 0 } };
	struct sandbox *sb;
	pid_t zpid;

	unsetenv("PITH_ZYGOTE");
	ASSERT_EQ(0, sandbox_new(&o, &sb, &e)) TH_LOG("%s", e.msg);
	hostile_prime(sb);
	for (int i = 0; i < 2 * PLAN_SLOTS; i++) {
		struct sandbox_proc *p = hostile(sb, HOSTILE(H_CLOSE_RANGE, 0),
						 true);

		ASSERT_NE(NULL, p);
		EXPECT_EQ(SANDBOX_OK, sandbox_proc_result(p)->status)
			TH_LOG("instance %d: %s", i, t_reason(p));
		sandbox_proc_free(p);
	}
	ASSERT_EQ(1, sb->n_zygotes);
	zpid = zygote_pid(sb, 0);
	ASSERT_LT(0, zpid);
	EXPECT_EQ(1 + 2 * PLAN_SLOTS, fds_of(zpid));
	for (int i = 0; i < PLAN_SLOTS; i++) {
		struct sandbox_proc *p = hostile(sb, HOSTILE(H_EXIT, 0), true);

		ASSERT_NE(NULL, p);
		EXPECT_EQ(SANDBOX_OK, sandbox_proc_result(p)->status)
			TH_LOG("instance %d after: %s", i, t_reason(p));
		sandbox_proc_free(p);
	}
	EXPECT_EQ(3 * PLAN_SLOTS, sb->zygote_forks);
	sandbox_free(sb);
}

static bool proc_gone(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return access(path, F_OK) < 0 && errno == ENOENT;
}

/* pid is pith's child, not reaped yet, and dead or dying: a zombie, or
 * SIGKILL pending for it (bit 8 of ShdPnd, the process's pending set). */
static bool killed_not_reaped(pid_t pid)
{
	char path[64], *status;
	const char *pnd;
	bool r;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	status = t_read_file(path, NULL);
	if (!status)
		return false;
	pnd = strstr(status, "ShdPnd:\t");
	r = strstr(status, "State:\tZ") || strstr(status, "State:\tX") ||
	    (pnd && strtoull(pnd + 8, NULL, 16) & (1ull << (SIGKILL - 1)));
	if (!r)
		fprintf(stderr, "# %s", status);
	free(status);
	return r;
}

/* The zygote's fork page (worker/main.c, zygote_fork_page()) ends with
 * its clone, and its trampoline page holds its children's setup with
 * every text a failing child writes into its control page (read through
 * /proc as root; nothing to check otherwise). */
static void expect_fork_page(pid_t zpid)
{
	static const char *const texts[] = {
		"pith-worker: PR_SET_PDEATHSIG", "pith-worker: pith died",
		"pith-worker: cannot map the context",
		"pith-worker: cannot map the context stack",
		"pith-worker: cannot map the input area",
		"pith-worker: RLIMIT_NPROC",
		"pith-worker: RLIMIT_CPU",
		"pith-worker: cannot report readiness",
		"pith-worker: close_range",
	};
	static const unsigned char clone_mov[] = { 0xbf, 0x00, 0x84, 0x10, 0 };
	char path[64], page[4096], tramp[4096];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)zpid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ASSERT_EQ(4096, pread(fd, page, sizeof(page),
			      (off_t)(ztramp() - 4096)));
	ASSERT_EQ(4096, pread(fd, tramp, sizeof(tramp), (off_t)ztramp()));
	close(fd);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		EXPECT_NE(NULL, memmem(tramp, sizeof(tramp), texts[i],
				       strlen(texts[i]) + 1))
			TH_LOG("%s", texts[i]);
	/* mov $(CLONE_PARENT | ...), %edi, then the syscall instruction at
	 * the page's end: the clone returns at the trampoline's first
	 * byte. */
	EXPECT_NE(NULL, memmem(page, sizeof(page) - 2, clone_mov,
			       sizeof(clone_mov)));
	EXPECT_EQ(0x0f, (unsigned char)page[4094]);
	EXPECT_EQ(0x05, (unsigned char)page[4095]);
	EXPECT_EQ(0, memcmp(tramp, tramp_start, 64));
}

/* A forked worker is pith's child (pith reaps it), under the one filter,
 * with a fresh worker's limits; its zygote maps no context and ends with
 * the job. */
TEST_F(zygote, forked_worker_is_piths_child_and_the_zygote_ends_with_the_job)
{
	struct sandbox_proc *p;
	char path[64], want[64], *status, *limits, *maps;
	struct stat st;
	pid_t zpid;
	unsigned zi;
	uint64_t end;

	hostile_prime(self->sb);
	p = hostile(self->sb, HOSTILE(H_LOOP, 0), false);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(1, self->sb->zygote_forks);
	end = (uint64_t)time(NULL) + 5;
	while (!p->handed_off || p->sock >= 0) {
		ASSERT_LT((uint64_t)time(NULL), end) TH_LOG("never started");
		ASSERT_EQ(0, sandbox_proc_step(p)) TH_LOG("%s", t_reason(p));
		usleep(200);
	}
	snprintf(path, sizeof(path), "/proc/%d/status", (int)p->pid);
	status = t_read_file(path, NULL);
	ASSERT_NE(NULL, status);
	snprintf(want, sizeof(want), "PPid:\t%d\n", (int)getpid());
	EXPECT_NE(NULL, strstr(status, want)) TH_LOG("%s", status);
	EXPECT_NE(NULL, strstr(status, "Seccomp_filters:\t1\n")) TH_LOG("%s", status);
	EXPECT_NE(NULL, strstr(status, "NoNewPrivs:\t1\n"));
	EXPECT_NE(NULL, strstr(status, "SigBlk:\t0000000000000000\n"));
	EXPECT_NE(NULL, strstr(status, "SigPnd:\t0000000000000000\n"));
	free(status);
	/* Not dumpable: its /proc files (but the directory) are root's, not
	 * its uid's (65534). The child does not set it: fork copied the
	 * zygote's setting. */
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)p->pid);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(0u, st.st_uid);
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)p->pid);
	limits = t_read_file(path, NULL);
	ASSERT_NE(NULL, limits);
	EXPECT_NE(NULL, strstr(limits, "Max processes             0                    0"))
		TH_LOG("%s", limits);
	EXPECT_NE(NULL, strstr(limits, "Max cpu time              10                   11"))
		TH_LOG("%s", limits);
	/* Soft 0, the zygote's (worker/main.c, zygote_nofile()): its
	 * hard limit stays, which no call a function can make raises the
	 * soft one to. */
	{
		const char *l = strstr(limits, "Max open files ");
		unsigned long long soft = 1, hard = 0;

		ASSERT_NE(NULL, l) TH_LOG("%s", limits);
		EXPECT_EQ(2, sscanf(l + 15, "%llu %llu", &soft, &hard));
		EXPECT_EQ(0, soft) TH_LOG("%s", limits);
		EXPECT_LT(0, hard) TH_LOG("%s", limits);
	}
	free(limits);

	/* The child: its image, its slot's context and input area, the
	 * trampoline; nothing of the zygote's (no stack, no ring, no vDSO),
	 * no descriptor, not even another slot's. */
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)p->pid);
	maps = t_read_file(path, NULL);
	if (maps) { /* not dumpable: root reads it */
		char ctx[128];
		uint64_t zt = ztramp();

		/* The context around its trampoline, in its guard page. */
		snprintf(ctx, sizeof(ctx),
			 "200000000000-%llx rw-s 00000000 ",
			 (unsigned long long)zt);
		EXPECT_NE(NULL, strstr(maps, ctx)) TH_LOG("%s", maps);
		snprintf(ctx, sizeof(ctx), "%llx-%llx r-xp 00000000 00:00 0",
			 (unsigned long long)zt,
			 (unsigned long long)zt + 4096);
		EXPECT_NE(NULL, strstr(maps, ctx)) TH_LOG("%s", maps);
		snprintf(ctx, sizeof(ctx), "%llx-", (unsigned long long)zt + 4096);
		EXPECT_NE(NULL, strstr(maps, ctx)) TH_LOG("%s", maps);
		EXPECT_NE(NULL, strstr(maps, "300000000000-300000010000 r--s"))
			TH_LOG("%s", maps);
		EXPECT_EQ(NULL, strstr(maps, "204000004000-")) TH_LOG("%s", maps);
		/* Nothing of the loader, nothing in the trampoline's block
		 * of an exec'd worker. */
		EXPECT_EQ(NULL, strstr(maps, "2040000")) TH_LOG("%s", maps);
		EXPECT_EQ(NULL, strstr(maps, "pith-worker")) TH_LOG("%s", maps);
		EXPECT_EQ(NULL, strstr(maps, "[stack]")) TH_LOG("%s", maps);
		EXPECT_EQ(NULL, strstr(maps, "[vdso]")) TH_LOG("%s", maps);
		EXPECT_EQ(NULL, strstr(maps, "[vvar")) TH_LOG("%s", maps);
		free(maps);
	}
	EXPECT_EQ(0, fds_of(p->pid));

	/* The zygote: the image, the trampoline, the ring and the loader,
	 * no context; its socket and every slot's two descriptors. */
	/* Two functions seen (the reference and this one), one zygote
	 * started: this one's. */
	ASSERT_EQ(2, self->sb->n_zygotes);
	sandbox_proc_free(p);
	zi = zygote_pid(self->sb, 0) ? 0 : 1;
	zpid = zygote_pid(self->sb, zi);
	ASSERT_LT(0, zpid);
	EXPECT_EQ(1 + 2 * PLAN_SLOTS, fds_of(zpid));
	/* Its slots' from PLAN_ZYGOTE_FD_BASE up, its socket after them,
	 * nothing below: a child's unshare copies no descriptor
	 * (worker/main.c). */
	for (int fd = 0; fd < PLAN_ZYGOTE_SOCK_FD + 2; fd++) {
		bool want = fd >= PLAN_ZYGOTE_FD_BASE &&
			    fd <= PLAN_ZYGOTE_SOCK_FD;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)zpid, fd);
		EXPECT_EQ(want, access(path, F_OK) == 0) TH_LOG("%s", path);
	}
	/* Under the workers' filter, which kills what its code does not
	 * make (filter.c), and its own process group (reap.c). */
	snprintf(path, sizeof(path), "/proc/%d/status", (int)zpid);
	status = t_read_file(path, NULL);
	ASSERT_NE(NULL, status);
	EXPECT_NE(NULL, strstr(status, "Seccomp:\t2\n")) TH_LOG("%s", status);
	EXPECT_NE(NULL, strstr(status, "Seccomp_filters:\t1\n"));
	EXPECT_NE(NULL, strstr(status, "NoNewPrivs:\t1\n"));
	EXPECT_EQ(zpid, getpgid(zpid));
	free(status);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)zpid);
	maps = t_read_file(path, NULL);
	if (maps) { /* not dumpable: root reads it */
		EXPECT_EQ(NULL, strstr(maps, "200000000000-")) TH_LOG("%s", maps);
		EXPECT_EQ(NULL, strstr(maps, "300000000000-")) TH_LOG("%s", maps);
		char at[128];
		uint64_t zt = ztramp();

		/* Its trampoline, where its children have their guard page,
		 * and its fork page right below: anonymous, read-only,
		 * executable; the ring; the loader's file text in its
		 * window; nothing at an exec'd worker's trampoline. */
		snprintf(at, sizeof(at), "%llx-%llx r-xp 00000000 00:00 0",
			 (unsigned long long)zt,
			 (unsigned long long)zt + 4096);
		EXPECT_NE(NULL, strstr(maps, at)) TH_LOG("%s", maps);
		snprintf(at, sizeof(at), "%llx-%llx r-xp 00000000 00:00 0",
			 (unsigned long long)zt - 4096,
			 (unsigned long long)zt);
		EXPECT_NE(NULL, strstr(maps, at)) TH_LOG("%s", maps);
		EXPECT_EQ(NULL, strstr(maps, "204000000000-")) TH_LOG("%s", maps);
		EXPECT_NE(NULL, strstr(maps, "204000004000-204000005000 rw-s"))
			TH_LOG("%s", maps);
		EXPECT_NE(NULL, strstr(maps, "204000010000-")) TH_LOG("%s", maps);
		expect_fork_page(zpid);
		/* Trimmed once (worker/main.c, zygote_trim()). */
		EXPECT_EQ(NULL, strstr(maps, "[vdso]")) TH_LOG("%s", maps);
		EXPECT_EQ(NULL, strstr(maps, "[vvar"))	TH_LOG("%s", maps);
		free(maps);
	}
	/* The job ends: so does its zygote, killed at once and reaped
	 * before the sandbox serves the next job. */
	if (!self->held) {
		struct err e = { { 0 } };

		ASSERT_EQ(0, sandbox_hold(self->sb, &e)) TH_LOG("%s", e.msg);
		self->held = true;
	}
	sandbox_release(self->sb);
	self->held = false;
	EXPECT_TRUE(killed_not_reaped(zpid));
	EXPECT_EQ(0, self->sb->n_zygotes);
	EXPECT_EQ(0, zygote_pid(self->sb, 0));
	EXPECT_EQ(0, zygote_pid(self->sb, 1));
	{
		struct err e = { { 0 } };

		ASSERT_EQ(0, sandbox_hold(self->sb, &e)) TH_LOG("%s", e.msg);
		self->held = true;
	}
	EXPECT_TRUE(proc_gone(zpid));
}

/* A held sandbox (no seccomp, no guard) whose one job has run an instance
 * forked from its zygote: that zygote's pid. */
static pid_t job_with_a_zygote(struct sandbox **sb)
{
	struct err e = { { 0 } };
	struct sandbox_proc *p;
	pid_t zpid;

	unsetenv("PITH_ZYGOTE");
	ASSERT_EQ(0, sandbox_new(&(struct sandbox_opts){ .no_seccomp = true,
							 .no_guard = true },
				 sb, &e))
		TH_LOG("%s", e.msg);
	ASSERT_EQ(0, sandbox_hold(*sb, &e)) TH_LOG("%s", e.msg);
	hostile_prime(*sb); /* exec'd; the next one is forked */
	p = hostile(*sb, HOSTILE(H_EXIT, 0), true);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(SANDBOX_OK, sandbox_proc_result(p)->status)
		TH_LOG("%s", t_reason(p));
	sandbox_proc_free(p);
	zpid = zygote_pid(*sb, 0);
	ASSERT_LT(0, zpid);
	return zpid;
}

/* A job's end kills its zygotes without waiting for their exits
 * (zygote.c, zygote_end()); freeing the sandbox reaps them: no process
 * is left behind, none a zombie. */
TEST(a_jobs_zygote_killed_at_its_end_is_reaped_when_the_sandbox_is_freed)
{
	struct sandbox *sb = NULL;
	pid_t zpid;

	zpid = job_with_a_zygote(&sb);
	sandbox_release(sb);
	EXPECT_TRUE(killed_not_reaped(zpid));
	sandbox_free(sb);
	EXPECT_TRUE(proc_gone(zpid));
}

/* A job's end kills its zygote and leaves what pith holds of it (its
 * pooled contexts' memfds and mappings, its ring and socket) to its reap
 * (zygote.c, reap_dying_locked()), off the job's end: all freed before
 * the next job's first worker, whose hold reaps first. */
TEST(a_jobs_zygote_contexts_are_freed_with_its_reap_before_the_next_job)
{
	struct err e = { { 0 } };
	struct sandbox *sb = NULL;
	long memfds_job, memfds_released, memfds_next;
	pid_t zpid;

	zpid = job_with_a_zygote(&sb);
	memfds_job = t_fds_linked("/memfd:", 4096, NULL);
	sandbox_release(sb);
	memfds_released = t_fds_linked("/memfd:", 4096, NULL);
	EXPECT_TRUE(killed_not_reaped(zpid));
	/* Its contexts (a memfd and a read-only descriptor each) still
	 * held, the zygote not reaped yet; closed by the next hold. */
	EXPECT_GT(2 * PLAN_SLOTS, memfds_job - memfds_released)
		TH_LOG("%ld memfds before the release, %ld after",
		       memfds_job, memfds_released);
	ASSERT_EQ(0, sandbox_hold(sb, &e)) TH_LOG("%s", e.msg);
	memfds_next = t_fds_linked("/memfd:", 4096, NULL);
	EXPECT_TRUE(proc_gone(zpid));
	EXPECT_LE(2 * PLAN_SLOTS, memfds_released - memfds_next)
		TH_LOG("%ld memfds after the release, %ld at the next hold",
		       memfds_released, memfds_next);
	sandbox_release(sb);
	sandbox_free(sb);
}

/* A forked worker's state letter in /proc (its stat's third field), or 0
 * when it has none (reaped). */
static char proc_state(pid_t pid)
{
	char path[64], *stat, *rp, st;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	stat = t_read_file(path, NULL);
	if (!stat)
		return 0;
	rp = strrchr(stat, ')');
	st = rp && rp[1] == ' ' ? rp[2] : '?';
	free(stat);
	return st;
}

/* Whether p's exit is heard within 10 s, polled as the engine does:
 * sandbox_fd(), sandbox_poll(). */
static bool exit_heard(struct sandbox *sb, struct sandbox_proc *p)
{
	uint64_t end = (uint64_t)time(NULL) + 10;

	while (!sandbox_proc_pending(p)) {
		struct pollfd pfd = { sandbox_fd(sb), POLLIN, 0 };

		if ((uint64_t)time(NULL) >= end || sandbox_poll(sb) < 0)
			return false;
		poll(&pfd, 1, 100);
	}
	return true;
}

/*
 * A forked worker has no pidfd in pith (reap.c): its exit is heard on the
 * sandbox's ring by its zygote's group, or, where the kernel has no
 * IORING_OP_WAITID (or PITH_REAP=pidfd), through a pidfd opened when its
 * instance starts. pith kills it by pid, which is safe only while it is
 * pith's unreaped child: heard through a pidfd, it must still be a zombie
 * and a kill then changes nothing; heard on the ring, pith's own thread
 * reaped it as it read the completion (the request waits with WNOWAIT,
 * so that nothing else reaps it) and never signals it after. The step
 * then reports its own exit status. The engine's way: sandbox_fd(),
 * sandbox_poll(), sandbox_proc_step_polled().
 */
static void exit_heard_then_reaped(struct sandbox *sb, bool ring)
{
	struct sandbox_proc *p;
	pid_t pid;

	hostile_prime(sb);
	p = hostile(sb, HOSTILE(H_EXIT, 7), false);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(1, sb->zygote_forks);
	ASSERT_EQ(0, zygote_proc_pid(p, true));
	pid = p->pid;
	if (ring && !sb->reap)
		SKIP(sandbox_proc_free(p); return,
		     "no IORING_OP_WAITID here (Linux < 6.7): pidfds as before");
	EXPECT_EQ(ring, p->pidfd < 0);
	ASSERT_TRUE(exit_heard(sb, p)) TH_LOG("exit never heard");
	if (ring) {
		/* Heard by its zygote's group, and reaped by pith at once:
		 * its pid is no longer its own, and it is never signalled
		 * after (the kill sends nothing). */
		EXPECT_EQ(0, proc_state(pid));
		sandbox_proc_kill(p);
		EXPECT_FALSE(p->killed);
	} else {
		/* Heard, not reaped: its pid is still its own. */
		EXPECT_EQ('Z', proc_state(pid));
		sandbox_proc_kill(p);
		EXPECT_EQ('Z', proc_state(pid));
	}
	ASSERT_EQ(1, sandbox_proc_step_polled(p));
	EXPECT_EQ(7, sandbox_proc_result(p)->exit_status);
	EXPECT_EQ(0, sandbox_proc_result(p)->signal);
	EXPECT_STREQ("exited with status 7", t_reason(p));
	EXPECT_EQ(0, proc_state(pid));
	sandbox_proc_free(p);
}

TEST_F(zygote, forked_workers_exit_is_heard_on_the_ring_and_reaped_by_the_step)
{
	unsetenv("PITH_REAP");
	exit_heard_then_reaped(self->sb, true);
}

TEST_F(zygote, forked_workers_exit_is_heard_through_a_pidfd_without_the_ring)
{
	setenv("PITH_REAP", "pidfd", 1);
	exit_heard_then_reaped(self->sb, false);
	unsetenv("PITH_REAP");
}

/* waitid(P_PID, ...) fails with ENOSYS in the calling thread from now on
 * (a seccomp filter: the ring's requests do not pass through it). */
static int deny_waitid_by_pid(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_waitid, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, P_PID, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { ARRAY_SIZE(f), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0
		       ? -errno
		       : 0;
}

/*
 * A forked worker whose exit its zygote's group heard is reaped on the
 * ring, in the one call that also watches the group again
 * (reap_child_watch_group()), not by a waitid() of its own: with
 * waitid(P_PID) failing in this thread, the exit is still heard, the
 * worker is reaped as pith reads the completion (its pid no longer its
 * own, so never signalled after), and the step reports its status. With
 * the reap by waitid (round 13), it stays a zombie and the step fails.
 */
TEST_F(zygote, forked_workers_exit_is_reaped_on_the_ring_without_a_waitid)
{
	struct sandbox *sb = self->sb;
	struct sandbox_proc *p;
	pid_t pid;

	unsetenv("PITH_REAP");
	hostile_prime(sb);
	ASSERT_EQ(0, deny_waitid_by_pid());
	p = hostile(sb, HOSTILE(H_EXIT, 9), false);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(1, sb->zygote_forks);
	ASSERT_EQ(0, zygote_proc_pid(p, true));
	pid = p->pid;
	if (!sb->reap)
		SKIP(sandbox_proc_free(p); return,
		     "no IORING_OP_WAITID here (Linux < 6.7): pidfds as before");
	ASSERT_TRUE(exit_heard(sb, p)) TH_LOG("exit never heard");
	EXPECT_TRUE(p->zreaped);
	EXPECT_EQ(0, proc_state(pid)) TH_LOG("not reaped: %c",
					     proc_state(pid));
	sandbox_proc_kill(p);
	EXPECT_FALSE(p->killed);
	ASSERT_EQ(1, sandbox_proc_step_polled(p));
	EXPECT_EQ(9, sandbox_proc_result(p)->exit_status);
	EXPECT_STREQ("exited with status 9", t_reason(p));
	sandbox_proc_free(p);
	/* And the next one, heard by the group watched again. */
	p = hostile(sb, HOSTILE(H_EXIT, 3), true);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(2, sb->zygote_forks);
	EXPECT_STREQ("exited with status 3", t_reason(p));
	sandbox_proc_free(p);
}

/* Whether fd is readable within ms. */
static bool readable_within(int fd, int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };

	return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

/*
 * A caller that waits on the sandbox's exit ring itself (the engine's
 * loop, a driver: sandbox_reap_own()) takes it out of sandbox_fd()'s set,
 * so that an exit wakes it in one hop: then the set stays quiet while the
 * ring has the exit, sandbox_poll_reap() reads it, and the step reports the
 * worker's own status as ever. Given back, the set hears the next exit
 * again. With the ring left in the set (the old way), sandbox_fd() is
 * readable too and the first check fails.
 */
TEST_F(zygote, an_owned_exit_ring_is_heard_alone_and_given_back_to_the_set)
{
	struct sandbox *sb = self->sb;
	struct sandbox_proc *p;
	int fd;

	unsetenv("PITH_REAP");
	hostile_prime(sb);
	fd = sandbox_reap_own(sb, true);
	if (fd == -EOPNOTSUPP)
		SKIP(return, "no IORING_OP_WAITID here (Linux < 6.7): pidfds as before");
	ASSERT_LE(0, fd);
	ASSERT_EQ(fd, sandbox_reap_own(sb, true)); /* once is enough */
	p = hostile(sb, HOSTILE(H_EXIT, 7), false);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(1, sb->zygote_forks);
	ASSERT_TRUE(readable_within(fd, 10000)) TH_LOG("exit never heard");
	EXPECT_FALSE(readable_within(sandbox_fd(sb), 0))
		TH_LOG("the ring still wakes sandbox_fd()'s set");
	EXPECT_FALSE(sandbox_proc_pending(p));
	sandbox_poll_reap(sb);
	ASSERT_TRUE(sandbox_proc_pending(p));
	ASSERT_EQ(1, sandbox_proc_step_polled(p));
	EXPECT_EQ(7, sandbox_proc_result(p)->exit_status);
	EXPECT_STREQ("exited with status 7", t_reason(p));
	sandbox_proc_free(p);

	/* Back in the set: the next exit wakes sandbox_fd() again. */
	ASSERT_EQ(fd, sandbox_reap_own(sb, false));
	p = hostile(sb, HOSTILE(H_EXIT, 5), false);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(2, sb->zygote_forks);
	ASSERT_TRUE(readable_within(sandbox_fd(sb), 10000))
		TH_LOG("the set never heard the exit");
	ASSERT_LE(0, sandbox_poll(sb));
	ASSERT_TRUE(sandbox_proc_pending(p));
	ASSERT_EQ(1, sandbox_proc_step_polled(p));
	EXPECT_EQ(5, sandbox_proc_result(p)->exit_status);
	sandbox_proc_free(p);
}

/* Poll the sandbox and step p as the engine does (what is pending, and
 * p at its deadline) until it ends, within 10 s; with `no_pidfd`, p never
 * holds a pidfd meanwhile (its exit heard on the reap ring). */
static void step_polled_to_its_end(struct sandbox *sb, struct sandbox_proc *p,
				   bool no_pidfd)
{
	uint64_t end = (uint64_t)time(NULL) + 10;
	int r = 0;

	while (r == 0) {
		struct pollfd pfd = { sandbox_fd(sb), POLLIN, 0 };

		ASSERT_LT((uint64_t)time(NULL), end) TH_LOG("never ended");
		poll(&pfd, 1, 20);
		ASSERT_LE(0, sandbox_poll(sb));
		if (sandbox_proc_pending(p) ||
		    clock_now_ns() >= sandbox_proc_deadline_ns(p))
			r = sandbox_proc_step_polled(p);
		if (no_pidfd)
			EXPECT_GT(0, p->pidfd);
	}
	ASSERT_EQ(1, r);
}

/* A forked worker past its deadline, polled the engine's way: killed by
 * its pid (it has no pidfd here), which is still its own (it is not
 * reaped before the step that finds its exit), and reported as timed out.
 * A kill that missed it (another process, or none) leaves it spinning:
 * the test times out. */
TEST_F(zygote, forked_worker_past_its_deadline_is_killed_by_its_pid)
{
	struct sandbox_proc *p;
	pid_t pid;

	unsetenv("PITH_REAP");
	hostile_prime(self->sb);
	setenv("PITH_TEST_FRESH", "1", 1);
	p = t_spawn_hostile(self->sb, HOSTILE(H_LOOP, 0), 200);
	unsetenv("PITH_TEST_FRESH");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(1, self->sb->zygote_forks);
	ASSERT_EQ(0, zygote_proc_pid(p, true));
	pid = p->pid;
	if (!self->sb->reap)
		SKIP(sandbox_proc_free(p); return,
		     "no IORING_OP_WAITID here (Linux < 6.7): pidfds as before");
	step_polled_to_its_end(self->sb, p, true);
	EXPECT_STREQ("timed out after 200 ms", t_reason(p));
	EXPECT_EQ(SIGKILL, sandbox_proc_result(p)->signal);
	EXPECT_EQ(0, proc_state(pid));
	sandbox_proc_free(p);
}

/*
 * A forked child reports its hand-off as its TSC (no clock_gettime since
 * round 16), which pith places between the fork's request and the moment
 * it reads the report (zygote.c, handoff_of()): an instance that spins
 * until its 200 ms deadline ran for about that long after a short setup,
 * and the two add up to no more than the test saw. Taken as the moment
 * pith read it (the child's exit), its run time is ~0; as the request's,
 * its spawn time is 0: either fails.
 */
TEST_F(zygote, forked_childs_handoff_time_falls_between_its_fork_and_its_end)
{
	const struct sandbox_result *res;
	struct sandbox_proc *p;
	uint64_t t0, t1;

	hostile_prime(self->sb);
	setenv("PITH_TEST_FRESH", "1", 1);
	t0 = clock_now_ns();
	p = t_spawn_hostile(self->sb, HOSTILE(H_LOOP, 0), 200);
	unsetenv("PITH_TEST_FRESH");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(1, self->sb->zygote_forks);
	step_polled_to_its_end(self->sb, p, false);
	t1 = clock_now_ns();
	res = sandbox_proc_result(p);
	EXPECT_STREQ("timed out after 200 ms", t_reason(p));
	EXPECT_TRUE(p->handed_off);
	EXPECT_LT(0, res->spawn_ns);
	EXPECT_GT(100000000ull, res->spawn_ns);
	EXPECT_LE(150000000ull, res->run_ns);
	EXPECT_GE(t1 - t0, res->spawn_ns + res->run_ns);
	sandbox_proc_free(p);
}

/*
 * The ring's wake-up (zygote.c, zygote_ring_post()): a zygote that sleeps
 * is woken once, by the first request posted after it set z_wait; the
 * next requests of the batch, posted before it runs again, make no call
 * (with a plain load of the flag each did: ~1 futex per instance on each
 * of pith's threads against ~0.2 sleeps of the zygote).
 */
TEST(a_sleeping_zygote_is_woken_once_for_a_batch_of_requests)
{
	struct plan_ring *ring = calloc(1, sizeof(*ring));
	struct plan_req rq = { .op = PLAN_REQ_FORK };

	ASSERT_NE(NULL, ring);
	EXPECT_FALSE(zygote_ring_post(ring, &rq)); /* awake: no call */
	__atomic_store_n(&ring->z_wait, PLAN_Z_WAIT(1), __ATOMIC_SEQ_CST);
	rq.slot = 1;
	EXPECT_TRUE(zygote_ring_post(ring, &rq));
	EXPECT_EQ(0, ring->z_wait);
	rq.slot = 2;
	EXPECT_FALSE(zygote_ring_post(ring, &rq));
	EXPECT_FALSE(zygote_ring_post(ring, &rq));
	EXPECT_EQ(4, ring->head);
	EXPECT_EQ(1, ring->req[1].slot);
	EXPECT_EQ(2, ring->req[3].slot);
	/* Asleep again: woken again. */
	__atomic_store_n(&ring->z_wait, PLAN_Z_WAIT(4), __ATOMIC_SEQ_CST);
	EXPECT_TRUE(zygote_ring_post(ring, &rq));
	free(ring);
}

/*
 * A flag the zygote set after it saw a request is its next sleep's: the
 * request's own post leaves it for the next post. Round 14 took it: the
 * post's wake then came before that sleep's wait and woke nothing, and
 * the next post, finding no flag, made no call either; the zygote slept
 * with a request on its ring (~1 run in 30 of the test below).
 */
TEST(a_post_the_zygote_has_seen_leaves_its_next_sleep_to_the_next_post)
{
	struct plan_ring *ring = calloc(1, sizeof(*ring));
	struct plan_req rq = { .op = PLAN_REQ_FORK };

	ASSERT_NE(NULL, ring);
	/* The zygote has seen head 1 (this request, about to be stored)
	 * and sleeps until head leaves 1. */
	__atomic_store_n(&ring->z_wait, PLAN_Z_WAIT(1), __ATOMIC_SEQ_CST);
	EXPECT_FALSE(zygote_ring_post(ring, &rq));
	EXPECT_EQ(PLAN_Z_WAIT(1), ring->z_wait);
	EXPECT_TRUE(zygote_ring_post(ring, &rq));
	EXPECT_EQ(0, ring->z_wait);
	/* Past the 31 bits of the flag's head: the same. */
	ring->head = 0xffffffffu;
	__atomic_store_n(&ring->z_wait, PLAN_Z_WAIT(0), __ATOMIC_SEQ_CST);
	EXPECT_FALSE(zygote_ring_post(ring, &rq));
	EXPECT_TRUE(zygote_ring_post(ring, &rq));
	ring->head = 0x7fffffffu;
	__atomic_store_n(&ring->z_wait, PLAN_Z_WAIT(0x7fffffffu),
			 __ATOMIC_SEQ_CST);
	EXPECT_TRUE(zygote_ring_post(ring, &rq));
	free(ring);
}

/* The zygote's side of the ring's wait, as worker/main.c's loop does it:
 * flag, fence, look at head, sleep while it is the value seen. */
static void *ring_sleeper(void *arg)
{
	struct plan_ring *ring = arg;

	for (;;) {
		uint32_t t = ring->tail, h = __atomic_load_n(&ring->head,
							      __ATOMIC_ACQUIRE);

		if (h == t) {
			__atomic_store_n(&ring->z_wait, PLAN_Z_WAIT(t),
					 __ATOMIC_RELEASE);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (__atomic_load_n(&ring->head, __ATOMIC_ACQUIRE) == t)
				syscall(SYS_futex, &ring->head, FUTEX_WAIT, t,
					NULL, NULL, 0);
			__atomic_store_n(&ring->z_wait, 0, __ATOMIC_RELEASE);
			continue;
		}
		if (ring->req[t % PLAN_RING_REQS].op != PLAN_REQ_FORK)
			return NULL;
		__atomic_store_n(&ring->tail, t + 1, __ATOMIC_RELEASE);
	}
}

/* No wake-up is lost: each request, posted while the sleeper may be
 * anywhere in its wait, is served within a second (a lost one leaves it
 * asleep with the request on the ring until the next post, and there is
 * none until it is served). Both on one CPU and on two. */
TEST(no_request_is_left_on_the_ring_of_a_sleeping_zygote)
{
	struct plan_ring *ring = calloc(1, sizeof(*ring));
	unsigned woke = 0;
	pthread_t th;

	ASSERT_NE(NULL, ring);
	ASSERT_EQ(0, pthread_create(&th, NULL, ring_sleeper, ring));
	for (uint32_t i = 0; i < 20000; i++) {
		struct plan_req rq = { .op = PLAN_REQ_FORK };
		uint64_t end;

		if (i % 64 == 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(i % 128 ? 0 : 1, &set);
			(void)pthread_setaffinity_np(th, sizeof(set), &set);
		}
		woke += zygote_ring_post(ring, &rq);
		end = clock_now_ns() + 1000000000ull;
		while (__atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE) != i + 1) {
			ASSERT_LT(clock_now_ns(), end)
				TH_LOG("request %u never served", i);
			if (i % 3)
				sched_yield();
		}
	}
	TH_LOG("%u wakes for 20000 requests", woke);
	{
		struct plan_req stop = { .op = 0 };

		zygote_ring_post(ring, &stop);
	}
	pthread_join(th, NULL);
	free(ring);
}

TEST_HARNESS_MAIN
