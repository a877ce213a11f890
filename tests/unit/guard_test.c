// SPDX-License-Identifier: MIT
/*
 * Unit tests of the guard loader: names and formatting, feature probes,
 * the layers `pith doctor` shows, the attach policy, pinning, and that
 * guard_free() leaves no program behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "security/bpf_worker.h"

TEST(syscall_names_come_from_the_kernel_headers)
{
	EXPECT_STREQ("openat", guard_syscall_name(SYS_openat));
	EXPECT_STREQ("exit_group", guard_syscall_name(SYS_exit_group));
	EXPECT_STREQ("read", guard_syscall_name(0));
	EXPECT_NULL(guard_syscall_name(-1));
	EXPECT_NULL(guard_syscall_name(100000));
}

TEST(hook_names_cover_every_hook)
{
	for (int h = 0; h < GUARD_HOOK_MAX; h++)
		EXPECT_NE(NULL, guard_hook_name(h)) TH_LOG("hook %d", h);
	EXPECT_STREQ("file_open", guard_hook_name(GUARD_HOOK_FILE_OPEN));
	EXPECT_STREQ("?", guard_hook_name(GUARD_HOOK_MAX));
}

TEST(violation_message_names_syscall_and_arguments)
{
	struct guard_violation v = {
		.kind = GUARD_KIND_SYSCALL, .action = GUARD_ACT_KILL,
		.nr = SYS_socket, .syscall = "socket",
		.args = { 2, 1, 0, 0, 0, 0xff },
	};
	char buf[512];

	guard_violation_format(&v, buf, sizeof(buf));
	EXPECT_STREQ("killed by eBPF: forbidden syscall socket (41) args "
		     "(0x2, 0x1, 0x0, 0x0, 0x0, 0xff)", buf);
	v.kind = GUARD_KIND_LSM;
	v.hook = GUARD_HOOK_FILE_OPEN;
	v.action = GUARD_ACT_DENY;
	v.err = EPERM;
	v.nr = SYS_openat;
	v.syscall = "openat";
	guard_violation_format(&v, buf, sizeof(buf));
	EXPECT_EQ(0, strncmp(buf, "denied by BPF-LSM file_open: syscall "
			     "openat (257)", 48)) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, ": EPERM"));
	v.kind = GUARD_KIND_SYSCALL;
	v.action = GUARD_ACT_KILL;
	v.nr = SYS_getpid | 0x40000000;
	v.syscall = NULL;
	guard_violation_format(&v, buf, sizeof(buf));
	EXPECT_EQ(0, strncmp(buf, "killed by eBPF: forbidden syscall x32 "
			     "getpid (0x40000027) args", 57)) TH_LOG("%s", buf);
	v.nr = 20;
	v.compat = true;
	guard_violation_format(&v, buf, sizeof(buf));
	EXPECT_EQ(0, strncmp(buf, "killed by eBPF: forbidden syscall i386 20 "
			     "args", 45)) TH_LOG("%s", buf);
}

TEST(probe_reads_lsm_list_or_says_why_not)
{
	const struct guard_probe *p = guard_probe();

	EXPECT_TRUE(p->lsm_list[0]);
	if (p->lsm_has_bpf < 0)
		EXPECT_STREQ("securityfs not mounted", p->lsm_list);
	EXPECT_TRUE(p->config_bpf_lsm >= -1 && p->config_bpf_lsm <= 1);
	EXPECT_EQ(access("/sys/kernel/btf/vmlinux", R_OK) == 0, p->btf);
	EXPECT_EQ(p, guard_probe()); /* cached */
}

TEST(layers_without_a_guard_are_unavailable_with_a_reason)
{
	struct guard_layer l[GUARD_N_LAYERS + 1];
	size_t n = guard_layers(NULL, l, ARRAY_SIZE(l));

	ASSERT_EQ(GUARD_N_LAYERS, n);
	EXPECT_STREQ("bpf-syscall", l[0].name);
	EXPECT_STREQ("bpf-sock", l[1].name);
	EXPECT_STREQ("bpf-lsm", l[2].name);
	for (size_t i = 0; i < n; i++) {
		EXPECT_FALSE(l[i].active);
		EXPECT_TRUE(l[i].detail[0]);
	}
	EXPECT_EQ(1, guard_layers(NULL, l, 1));
}

TEST(new_refuses_a_directory_that_is_not_cgroup2)
{
	struct guard_opts o = { .cgroup_path = "/tmp" };
	struct guard *g = NULL;
	struct err e = {};

	EXPECT_EQ(-ENOTDIR, guard_new(&o, &g, &e));
	EXPECT_NULL(g);
	EXPECT_STREQ("/tmp is not a cgroup v2 directory", e.msg);
	o.cgroup_path = NULL;
	EXPECT_EQ(-EINVAL, guard_new(&o, &g, &e));
}

TEST(new_refuses_an_allow_list_entry_outside_the_table)
{
	static const int allow[] = { SYS_exit_group, 0x40000027 };
	struct guard_opts o = { .cgroup_path = "/tmp", .allow = allow,
				.n_allow = 2 };
	struct guard *g = NULL;
	struct err e = {};

	EXPECT_EQ(-EINVAL, guard_new(&o, &g, &e));
	EXPECT_STREQ("allow list: 1073741863 is not an x86-64 syscall number",
		     e.msg);
}

FIXTURE(loaded)
{
	struct t_cgroup cg;
	struct guard *g;
};

FIXTURE_SETUP(loaded)
{
	int r;

	self->g = NULL;
	if (geteuid() != 0)
		SKIP(return, "needs root to load BPF programs and make cgroups");
	r = t_cgroup_new(&self->cg);
	if (r == -ENOENT)
		SKIP(return, "no cgroup v2 hierarchy mounted");
	ASSERT_EQ(0, r);
}

FIXTURE_TEARDOWN(loaded)
{
	self->g = guard_free(self->g);
	t_cgroup_done(&self->cg);
}

TEST_F(loaded, syscall_program_is_attached_only_while_held)
{
	struct guard_opts o = { .cgroup_path = self->cg.path };
	struct err e = {};

	ASSERT_EQ(0, guard_new(&o, &self->g, &e)) TH_LOG("%s", e.msg);
	EXPECT_FALSE(guard_attached(self->g));
	ASSERT_EQ(0, guard_hold(self->g, &e));
	ASSERT_EQ(0, guard_hold(self->g, &e));
	EXPECT_TRUE(guard_attached(self->g));
	guard_release(self->g);
	EXPECT_TRUE(guard_attached(self->g));
	guard_release(self->g);
	EXPECT_FALSE(guard_attached(self->g));
	guard_release(self->g); /* unbalanced: ignored */
	EXPECT_FALSE(guard_attached(self->g));
}

TEST_F(loaded, attach_always_keeps_the_syscall_program)
{
	struct guard_opts o = { .cgroup_fd = self->cg.fd,
				.attach = GUARD_ATTACH_ALWAYS };
	struct err e = {};

	ASSERT_EQ(0, guard_new(&o, &self->g, &e)) TH_LOG("%s", e.msg);
	EXPECT_TRUE(guard_attached(self->g));
	ASSERT_EQ(0, guard_hold(self->g, &e));
	guard_release(self->g);
	EXPECT_TRUE(guard_attached(self->g));
}

TEST_F(loaded, layers_report_what_is_in_force)
{
	struct guard_opts o = { .cgroup_path = self->cg.path };
	struct guard_layer l[GUARD_N_LAYERS];
	struct err e = {};

	ASSERT_EQ(0, guard_new(&o, &self->g, &e)) TH_LOG("%s", e.msg);
	ASSERT_EQ(GUARD_N_LAYERS, guard_layers(self->g, l, GUARD_N_LAYERS));
	EXPECT_TRUE(l[0].active);
	EXPECT_NE(NULL, strstr(l[0].detail, "kills"));
	EXPECT_TRUE(l[1].active);
	/* bpf-lsm: active, or unavailable with the reason. */
	EXPECT_TRUE(l[2].detail[0]);
	TH_LOG("bpf-lsm: %s: %s", l[2].active ? "active" : "unavailable",
	       l[2].detail);
}

TEST_F(loaded, free_unloads_every_program)
{
	struct guard_opts o = { .cgroup_path = self->cg.path,
				.attach = GUARD_ATTACH_ALWAYS };
	unsigned int ids[32];
	struct err e = {};
	size_t n;

	ASSERT_EQ(0, guard_new(&o, &self->g, &e)) TH_LOG("%s", e.msg);
	n = guard_prog_ids(self->g, ids, ARRAY_SIZE(ids));
	ASSERT_LE(3, n); /* sys_enter, proc_exit, sock_create at least */
	for (size_t i = 0; i < n; i++)
		EXPECT_TRUE(t_prog_id_loaded(ids[i]));
	self->g = guard_free(self->g);
	/* Tracing programs are released after an RCU grace period. */
	for (size_t i = 0; i < n; i++) {
		for (int ms = 0; ms < 5000 && t_prog_id_loaded(ids[i]);
		     ms += 10)
			usleep(10000);
		EXPECT_FALSE(t_prog_id_loaded(ids[i])) TH_LOG("id %u", ids[i]);
	}
}

/* The translated instructions of each program, with the 64-bit immediates
 * (map ids, which differ between two loads) zeroed. */
static int xlated(unsigned int id, struct bpf_insn **ret, __u32 *n)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	struct bpf_insn *insns;
	int fd = bpf_prog_get_fd_by_id(id), r;

	if (fd < 0)
		return fd;
	r = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (r < 0 || !info.xlated_prog_len) {
		close(fd);
		return r < 0 ? r : -ENODATA;
	}
	*n = info.xlated_prog_len / sizeof(*insns);
	insns = calloc(*n, sizeof(*insns));
	info = (struct bpf_prog_info){ .xlated_prog_len = *n * sizeof(*insns),
				       .xlated_prog_insns = (__u64)(uintptr_t)insns };
	len = sizeof(info);
	r = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (r < 0) {
		free(insns);
		return r;
	}
	for (__u32 i = 0; i + 1 < *n; i++)
		if (insns[i].code == (BPF_LD | BPF_IMM | BPF_DW)) {
			insns[i].imm = insns[i + 1].imm = 0;
			i++;
		}
	*ret = insns;
	return 0;
}

/* bpf_btf.c's cut of the kernel BTF must give every CO-RE read the offset
 * the whole BTF gives: the programs, as the kernel runs them, are the same
 * instruction for instruction. */
TEST_F(loaded, small_btf_relocates_like_the_whole_kernel_btf)
{
	struct guard_opts o = { .cgroup_path = self->cg.path };
	struct guard_opts full = { .cgroup_path = self->cg.path,
				   .full_btf = true };
	unsigned int ids[32], full_ids[32];
	struct guard *g2 = NULL;
	struct err e = {};
	size_t n, n2;

	ASSERT_EQ(0, guard_new(&o, &self->g, &e)) TH_LOG("%s", e.msg);
	EXPECT_TRUE(guard_small_btf(self->g));
	ASSERT_EQ(0, guard_new(&full, &g2, &e)) TH_LOG("%s", e.msg);
	EXPECT_FALSE(guard_small_btf(g2));
	n = guard_prog_ids(self->g, ids, ARRAY_SIZE(ids));
	n2 = guard_prog_ids(g2, full_ids, ARRAY_SIZE(full_ids));
	EXPECT_EQ(n, n2);
	EXPECT_LE(3, n);
	for (size_t i = 0; i < n && i < n2; i++) {
		struct bpf_insn *a = NULL, *b = NULL;
		__u32 na = 0, nb = 0;

		ASSERT_EQ(0, xlated(ids[i], &a, &na));
		ASSERT_EQ(0, xlated(full_ids[i], &b, &nb));
		EXPECT_EQ(na, nb) TH_LOG("program %zu", i);
		if (na == nb)
			EXPECT_EQ(0, memcmp(a, b, na * sizeof(*a)))
				TH_LOG("program %zu differs", i);
		free(a);
		free(b);
	}
	guard_free(g2);
}

/* Links are fd-based: a pith that dies without guard_free() leaks nothing. */
TEST_F(loaded, programs_vanish_when_pith_dies_without_cleanup)
{
	unsigned int ids[32];
	ssize_t len;
	int p[2], status;
	pid_t pid;

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct guard_opts o = { .cgroup_path = self->cg.path,
					.attach = GUARD_ATTACH_ALWAYS };
		struct guard *g = NULL;
		size_t n;

		if (guard_new(&o, &g, NULL) < 0)
			_exit(1);
		n = guard_prog_ids(g, ids, ARRAY_SIZE(ids));
		if (write(p[1], ids, n * sizeof(ids[0])) < 0)
			_exit(2);
		_exit(0); /* no guard_free() */
	}
	close(p[1]);
	len = read(p[0], ids, sizeof(ids));
	close(p[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	ASSERT_LE(3 * sizeof(ids[0]), len);
	for (size_t i = 0; i < len / sizeof(ids[0]); i++) {
		for (int ms = 0; ms < 5000 && t_prog_id_loaded(ids[i]);
		     ms += 10)
			usleep(10000);
		EXPECT_FALSE(t_prog_id_loaded(ids[i])) TH_LOG("id %u", ids[i]);
	}
}

TEST_F(loaded, pinned_counters_dump_with_bpftool_and_vanish_on_free)
{
	char *dir = t_strdupf("/sys/fs/bpf/pith-test-%d", getpid());
	char *path = t_strdupf("%s/pith_sys_cnt", dir);
	char *argv[] = { "bpftool", "-j", "map", "dump", "pinned", path, NULL };
	struct guard_opts o = { .cgroup_path = self->cg.path, .pin_dir = dir };
	struct err e = {};
	char *out = NULL;
	struct stat st;
	int status;

	/* A bpffs of our own, in a mount namespace the test dies with. */
	ASSERT_EQ(0, unshare(CLONE_NEWNS));
	ASSERT_EQ(0, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	ASSERT_EQ(0, mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL));
	ASSERT_EQ(0, guard_new(&o, &self->g, &e)) TH_LOG("%s", e.msg);
	ASSERT_EQ(0, stat(path, &st));
	ASSERT_EQ(0, t_run(argv, &out, NULL, &status));
	EXPECT_EQ(0, t_exit_code(status));
	EXPECT_NE(NULL, out && strstr(out, "\"value\""));
	free(out);
	self->g = guard_free(self->g);
	EXPECT_NE(0, stat(path, &st));
	EXPECT_NE(0, stat(dir, &st));
	free(path);
	free(dir);
}

/* The fd of the map named name that the program of id prog_id uses. */
static int prog_map_fd(unsigned int prog_id, const char *name)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[16];
	int fd = bpf_prog_get_fd_by_id(prog_id), found = -ENOENT;

	if (fd < 0)
		return fd;
	info.nr_map_ids = 16;
	info.map_ids = (__u64)(uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
		close(fd);
		return -errno;
	}
	close(fd);
	for (__u32 i = 0; i < info.nr_map_ids && i < 16 && found < 0; i++) {
		struct bpf_map_info mi = {};
		__u32 ml = sizeof(mi);
		int mfd = bpf_map_get_fd_by_id(ids[i]);

		if (mfd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(mfd, &mi, &ml) == 0 &&
		    !strcmp(mi.name, name))
			found = mfd;
		else
			close(mfd);
	}
	return found;
}

/*
 * The calls the warm reset path may make at one address each are in a map
 * (pith_pinned), not the programs' read-only settings: once the guard is
 * loaded, a process (even one with pith's privileges) can neither add a
 * call at an address of its choosing nor remove one: the map is frozen,
 * and programs may only read it.
 */
TEST_F(loaded, the_calls_pinned_to_an_address_cannot_be_changed_once_loaded)
{
	struct guard_opts o = { .cgroup_path = self->cg.path, .n_pinned = 1 };
	struct guard_pinned mine = { .ip = 0x1000, .nr = SYS_openat };
	struct guard_pinned theirs = { .ip = 0x300000001000ull,
				       .nr = SYS_munmap };
	struct err e = {};
	unsigned int ids[16];
	__u8 one = 1, v;
	size_t n;
	int fd = -1;

	o.pinned[0].ip = theirs.ip;
	o.pinned[0].nr = theirs.nr;
	ASSERT_EQ(0, guard_new(&o, &self->g, &e)) TH_LOG("%s", e.msg);
	n = guard_prog_ids(self->g, ids, 16);
	for (size_t i = 0; i < n && fd < 0; i++)
		fd = prog_map_fd(ids[i], "pith_pinned");
	ASSERT_LE(0, fd) TH_LOG("no program uses pith_pinned");
	EXPECT_EQ(0, bpf_map_lookup_elem(fd, &theirs, &v));
	EXPECT_EQ(-EPERM, bpf_map_update_elem(fd, &mine, &one, BPF_ANY));
	EXPECT_EQ(-EPERM, bpf_map_delete_elem(fd, &theirs));
	EXPECT_EQ(-ENOENT, bpf_map_lookup_elem(fd, &mine, &v));
	EXPECT_EQ(0, bpf_map_lookup_elem(fd, &theirs, &v));
	close(fd);
}

TEST_HARNESS_MAIN
