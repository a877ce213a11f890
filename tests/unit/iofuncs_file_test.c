// SPDX-License-Identifier: MIT
/* file.read and file.write: bytes, names and keys, the data root, atomicity. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "unit/iofuncs_util.h"

FIXTURE(root)
{
	char *dir;		/* the data root */
	char *outside;		/* a sibling directory outside the root */
	struct iofunc_ctx ctx;
	struct set *in;
	struct t_io io;
};

FIXTURE_SETUP(root)
{
	self->dir = t_tmpdir();
	self->outside = t_tmpdir();
	ASSERT_NE(NULL, self->dir);
	ASSERT_NE(NULL, self->outside);
	iofunc_ctx_init(&self->ctx);
	self->ctx.data_root_fd =
		open(self->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, self->ctx.data_root_fd);
	self->in = set_new("in");
	ASSERT_NE(NULL, self->in);
}

FIXTURE_TEARDOWN(root)
{
	t_io_done(&self->io);
	set_free(self->in);
	close(self->ctx.data_root_fd);
	t_rm_rf(self->dir);
	t_rm_rf(self->outside);
	free(self->dir);
	free(self->outside);
}

static void put(const char *dir, const char *name, const char *data)
{
	char *p = t_strdupf("%s/%s", dir, name);

	t_write_file(p, data, strlen(data));
	free(p);
}

/* Entries of dir other than . and .., joined by spaces, sorted by readdir. */
static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return (size_t)-1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static size_t count_fds(void)
{
	return count_entries("/proc/self/fd");
}

TEST_F(root, read_gives_file_bytes_named_and_keyed_like_inputs)
{
	char *s;

	put(self->dir, "a.txt", "alpha\n");
	put(self->dir, "empty", "");
	ASSERT_EQ(0, mkdir(t_strdupf("%s/sub", self->dir), 0755));
	put(self->dir, "sub/b.txt", "bravo");
	ASSERT_EQ(0, set_add_copy(self->in, "first", true, 7, "a.txt", 5));
	ASSERT_EQ(0, t_set_add_str(self->in, "second", "empty"));
	ASSERT_EQ(0, t_set_add_str(self->in, "third", "sub/b.txt"));

	ASSERT_EQ(0, t_io_run("file.read", &self->ctx, self->in, 1, &self->io));
	ASSERT_EQ(0, iofunc_run_n_failed(self->io.run))
		TH_LOG("%s", t_io_error(&self->io, 0));
	ASSERT_EQ(3, self->io.out[0]->n);
	EXPECT_STREQ("first", self->io.out[0]->items[0].name);
	EXPECT_TRUE(self->io.out[0]->items[0].keyed);
	EXPECT_EQ(7, self->io.out[0]->items[0].key);
	EXPECT_FALSE(self->io.out[0]->items[1].keyed);
	EXPECT_STREQ("third", self->io.out[0]->items[2].name);
	s = t_io_out_str(&self->io, 0, 0, NULL);
	EXPECT_STREQ("alpha\n", s);
	free(s);
	s = t_io_out_str(&self->io, 0, 1, NULL);
	EXPECT_STREQ("", s);
	free(s);
	s = t_io_out_str(&self->io, 0, 2, NULL);
	EXPECT_STREQ("bravo", s);
	free(s);
	for (size_t i = 0; i < 3; i++)
		EXPECT_TRUE(self->io.out[0]->items[i].buf->sealed);
}

static void read_exact(FIXTURE_DATA(root) *self, size_t len)
{
	char *data = malloc(len), *p = t_strdupf("%s/big", self->dir);
	const void *got;

	ASSERT_NE(NULL, data);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 131 + (i >> 12));
	ASSERT_EQ(0, t_write_file(p, data, len));
	ASSERT_EQ(0, t_set_add_str(self->in, "big", "big"));
	ASSERT_EQ(0, t_io_run("file.read", &self->ctx, self->in, 1, &self->io));
	ASSERT_STREQ("", t_io_error(&self->io, 0));
	ASSERT_EQ(len, self->io.out[0]->items[0].len);
	ASSERT_EQ(0, item_data(&self->io.out[0]->items[0], &got));
	EXPECT_EQ(0, memcmp(data, got, len));
	free(data);
	free(p);
}

TEST_F(root, read_of_large_file_is_exact)
{
	read_exact(self, 9 << 20);
}

/* 40 MiB: read in segments (16 + 16 + 8 MiB) by io_uring's workers. */
TEST_F(root, read_of_segmented_file_is_exact)
{
	read_exact(self, 40 << 20);
}

TEST_F(root, cancelled_segmented_read_fails_and_outputs_nothing)
{
	size_t len = 96 << 20;
	char *data = calloc(1, len), *p = t_strdupf("%s/big", self->dir);

	ASSERT_NE(NULL, data);
	ASSERT_EQ(0, t_write_file(p, data, len));
	ASSERT_EQ(0, t_set_add_str(self->in, "big", "big"));
	ASSERT_EQ(0, t_io_run_cancel_after("file.read", &self->ctx, self->in,
					   1, 1, &self->io));
	EXPECT_STREQ("file.read: 'big': cancelled", t_io_error(&self->io, 0));
	EXPECT_EQ(0, self->io.out[0]->n);
	free(data);
	free(p);
}

/*
 * A new directory on tmpfs (/dev/shm) when there is one, else t_tmpdir():
 * creating 3000 files on the shared ext4 /tmp took 0.7-1 ms each on the
 * test VM, far more under load (the test timed out), and what the test
 * checks does not depend on the file system.
 */
static char *mem_tmpdir(void)
{
	char *path = t_strdupf("/dev/shm/pith-test.XXXXXX");

	if (path && mkdtemp(path))
		return path;
	free(path);
	return t_tmpdir();
}

TEST_F(root, read_of_many_small_files_shares_few_fds)
{
	char *dir = mem_tmpdir();
	struct iofunc_ctx ctx = self->ctx;
	size_t n = 3000, before;

	ASSERT_NE(NULL, dir);
	ctx.data_root_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, ctx.data_root_fd);
	before = count_fds();
	for (size_t i = 0; i < n; i++) {
		char name[32], data[32];

		snprintf(name, sizeof(name), "f%zu", i);
		snprintf(data, sizeof(data), "file number %zu", i);
		put(dir, name, data);
		ASSERT_EQ(0, t_set_add_str(self->in, name, name));
	}
	ASSERT_EQ(0, t_io_run("file.read", &ctx, self->in, 1, &self->io));
	ASSERT_EQ(0, iofunc_run_n_failed(self->io.run));
	ASSERT_EQ(n, self->io.out[0]->n);
	for (size_t i = 0; i < n; i += 997) {
		char want[32], *s = t_io_out_str(&self->io, 0, i, NULL);

		snprintf(want, sizeof(want), "file number %zu", i);
		EXPECT_STREQ(want, s);
		free(s);
	}
	/* The input set holds n memfds; the outputs must not add n more. */
	EXPECT_LT(count_fds(), before + n + 16);
	close(ctx.data_root_fd);
	t_rm_rf(dir);
	free(dir);
}

FIXTURE(escape)
{
	char *top, *dir;
	struct iofunc_ctx ctx;
	struct set *in;
	struct t_io io;
};

FIXTURE_VARIANT(escape)
{
	const char *path;
	const char *why;
};

FIXTURE_VARIANT_ADD(escape, dotdot)
{
	.path = "../secret",
	.why = "outside the data root",
};
FIXTURE_VARIANT_ADD(escape, absolute)
{
	.path = "/etc/passwd",
	.why = "outside the data root",
};
FIXTURE_VARIANT_ADD(escape, symlink_to_slash)
{
	.path = "slash/etc/passwd",
	.why = "outside the data root",
};
FIXTURE_VARIANT_ADD(escape, symlink_to_outside)
{
	.path = "out/secret",
	.why = "outside the data root",
};
FIXTURE_VARIANT_ADD(escape, symlink_to_proc)
{
	.path = "proc/self/root/etc/passwd",
	.why = "outside the data root",
};

FIXTURE_SETUP(escape)
{
	char *p;

	self->top = t_tmpdir();
	ASSERT_NE(NULL, self->top);
	self->dir = t_strdupf("%s/root", self->top);
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	put(self->top, "secret", "do not read");
	p = t_strdupf("%s/slash", self->dir);
	ASSERT_EQ(0, symlink("/", p));
	free(p);
	p = t_strdupf("%s/out", self->dir);
	ASSERT_EQ(0, symlink("..", p));
	free(p);
	p = t_strdupf("%s/proc", self->dir);
	ASSERT_EQ(0, symlink("/proc", p));
	free(p);
	iofunc_ctx_init(&self->ctx);
	self->ctx.data_root_fd =
		open(self->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, self->ctx.data_root_fd);
	self->in = set_new("in");
}

FIXTURE_TEARDOWN(escape)
{
	t_io_done(&self->io);
	set_free(self->in);
	close(self->ctx.data_root_fd);
	t_rm_rf(self->top);
	free(self->top);
	free(self->dir);
}

TEST_F(escape, read_refuses_path_leaving_root)
{
	char want[512];

	ASSERT_EQ(0, t_set_add_str(self->in, "x", variant->path));
	ASSERT_EQ(0, t_io_run("file.read", &self->ctx, self->in, 1, &self->io));
	EXPECT_EQ(1, iofunc_run_n_failed(self->io.run));
	EXPECT_EQ(0, self->io.out[0]->n);
	snprintf(want, sizeof(want), "file.read: '%s': %s", variant->path,
		 variant->why);
	EXPECT_EQ(0, strncmp(want, t_io_error(&self->io, 0), strlen(want)))
		TH_LOG("got: %s", t_io_error(&self->io, 0));
}

TEST_F(escape, write_refuses_name_leaving_root_and_creates_nothing)
{
	char *outside = t_strdupf("%s/secret", self->top);
	char *content;

	ASSERT_EQ(0, t_set_add_str(self->in, variant->path, "overwritten"));
	ASSERT_EQ(0, t_io_run("file.write", &self->ctx, self->in, 0, &self->io));
	EXPECT_EQ(1, iofunc_run_n_failed(self->io.run));
	EXPECT_NE(NULL, strstr(t_io_error(&self->io, 0), variant->why))
		TH_LOG("got: %s", t_io_error(&self->io, 0));
	content = t_read_file(outside, NULL);
	EXPECT_STREQ("do not read", content);
	free(content);
	free(outside);
	/* root holds only the three symlinks of the setup: no temporary. */
	EXPECT_EQ(3, count_entries(self->dir));
}

TEST_F(root, write_never_replaces_a_protected_file_nor_a_hard_link_to_it)
{
	char *job = t_strdupf("%s/job.json", self->dir);
	char *alias = t_strdupf("%s/alias", self->dir), *s;
	struct iofunc_file_id id;
	struct stat st;

	put(self->dir, "job.json", "the job");
	ASSERT_EQ(0, link(job, alias));
	ASSERT_EQ(0, stat(job, &st));
	id = (struct iofunc_file_id){ .dev = st.st_dev, .ino = st.st_ino };
	self->ctx.protect = &id;
	self->ctx.n_protect = 1;
	ASSERT_EQ(0, t_set_add_str(self->in, "job.json", "owned"));
	ASSERT_EQ(0, t_set_add_str(self->in, "alias", "owned"));
	ASSERT_EQ(0, t_set_add_str(self->in, "other", "fine"));
	ASSERT_EQ(0, t_io_run("file.write", &self->ctx, self->in, 0, &self->io));
	EXPECT_STREQ("file.write: 'job.json': is one of the job's own files (the job file, a function binary or an input), never replaced",
		     t_io_error(&self->io, 0));
	EXPECT_NE(NULL, strstr(t_io_error(&self->io, 1), "'alias': is one of the job's own files"));
	s = t_read_file(job, NULL);
	EXPECT_STREQ("the job", s);
	free(s);
	/* The stage failed: nothing of it is left, "other" included. */
	EXPECT_EQ(2, count_entries(self->dir));
	free(job);
	free(alias);
}

TEST_F(root, read_symlink_inside_root_is_followed)
{
	char *s, *l = t_strdupf("%s/link", self->dir);

	put(self->dir, "target", "inside");
	ASSERT_EQ(0, symlink("target", l));
	ASSERT_EQ(0, t_set_add_str(self->in, "x", "link"));
	ASSERT_EQ(0, t_io_run("file.read", &self->ctx, self->in, 1, &self->io));
	ASSERT_STREQ("", t_io_error(&self->io, 0));
	s = t_io_out_str(&self->io, 0, 0, NULL);
	EXPECT_STREQ("inside", s);
	free(s);
	free(l);
}

TEST_F(root, read_failure_names_path_and_reason)
{
	ASSERT_EQ(0, mkdir(t_strdupf("%s/adir", self->dir), 0755));
	put(self->dir, "ok", "fine");
	ASSERT_EQ(0, t_set_add_str(self->in, "a", "missing.txt"));
	ASSERT_EQ(0, t_set_add_str(self->in, "b", "adir"));
	ASSERT_EQ(0, t_set_add_str(self->in, "c", "ok"));
	ASSERT_EQ(0, set_add_copy(self->in, "d", false, 0, "o\0k", 3));
	ASSERT_EQ(0, t_set_add_str(self->in, "e", ""));
	ASSERT_EQ(0, mkfifo(t_strdupf("%s/fifo", self->dir), 0600));
	/* Nobody writes to it: opening it must not wait. */
	ASSERT_EQ(0, t_set_add_str(self->in, "f", "fifo"));
	ASSERT_EQ(0, t_io_run("file.read", &self->ctx, self->in, 1, &self->io));
	EXPECT_STREQ("file.read: 'missing.txt': no such file or directory",
		     t_io_error(&self->io, 0));
	EXPECT_STREQ("file.read: 'adir': is a directory",
		     t_io_error(&self->io, 1));
	EXPECT_STREQ("", t_io_error(&self->io, 2));
	EXPECT_STREQ("file.read: 'o\\x00k': path contains a NUL byte",
		     t_io_error(&self->io, 3));
	EXPECT_STREQ("file.read: '': empty path", t_io_error(&self->io, 4));
	EXPECT_STREQ("file.read: 'fifo': not a regular file",
		     t_io_error(&self->io, 5));
	EXPECT_EQ(5, iofunc_run_n_failed(self->io.run));
	/* Only the good item is in the output. */
	ASSERT_EQ(1, self->io.out[0]->n);
	EXPECT_STREQ("c", self->io.out[0]->items[0].name);
}

TEST_F(root, write_creates_files_with_item_bytes_and_lists_them)
{
	char *s, *p;

	ASSERT_EQ(0, mkdir(t_strdupf("%s/sub", self->dir), 0755));
	ASSERT_EQ(0, t_set_add_str(self->in, "one.txt", "one"));
	ASSERT_EQ(0, t_set_add_str(self->in, "sub/two.txt", "two two"));
	ASSERT_EQ(0, t_set_add_str(self->in, "empty", ""));
	ASSERT_EQ(0, t_io_run("file.write", &self->ctx, self->in, 1, &self->io));
	ASSERT_EQ(0, iofunc_run_n_failed(self->io.run))
		TH_LOG("%s", t_io_error(&self->io, 0));
	p = t_strdupf("%s/one.txt", self->dir);
	s = t_read_file(p, NULL);
	EXPECT_STREQ("one", s);
	free(s), free(p);
	p = t_strdupf("%s/sub/two.txt", self->dir);
	s = t_read_file(p, NULL);
	EXPECT_STREQ("two two", s);
	free(s), free(p);
	p = t_strdupf("%s/empty", self->dir);
	s = t_read_file(p, NULL);
	EXPECT_STREQ("", s);
	free(s), free(p);
	ASSERT_EQ(3, self->io.out[0]->n);
	s = t_io_out_str(&self->io, 0, 1, NULL);
	EXPECT_STREQ("sub/two.txt", s);
	free(s);
	/* one.txt, sub, empty: no temporary file left over */
	EXPECT_EQ(3, count_entries(self->dir));
	EXPECT_EQ(1, count_entries(t_strdupf("%s/sub", self->dir)));
}

TEST_F(root, write_replaces_existing_file_whole)
{
	char *p = t_strdupf("%s/f", self->dir), *s;

	put(self->dir, "f", "old content that is longer");
	ASSERT_EQ(0, t_set_add_str(self->in, "f", "new"));
	ASSERT_EQ(0, t_io_run("file.write", &self->ctx, self->in, 0, &self->io));
	ASSERT_STREQ("", t_io_error(&self->io, 0));
	s = t_read_file(p, NULL);
	EXPECT_STREQ("new", s);
	free(s);
	free(p);
}

TEST_F(root, failed_write_stage_leaves_no_file)
{
	char *p = t_strdupf("%s/keep", self->dir), *s;

	put(self->dir, "keep", "previous");
	ASSERT_EQ(0, t_set_add_str(self->in, "a.txt", "aaaa"));
	ASSERT_EQ(0, t_set_add_str(self->in, "keep", "replacement"));
	ASSERT_EQ(0, t_set_add_str(self->in, "nodir/c.txt", "cccc"));
	ASSERT_EQ(0, t_set_add_str(self->in, "d.txt", "dddd"));
	ASSERT_EQ(0, t_io_run("file.write", &self->ctx, self->in, 0, &self->io));
	EXPECT_STREQ("file.write: 'nodir/c.txt': no such file or directory",
		     t_io_error(&self->io, 2));
	EXPECT_STREQ("file.write: 'a.txt': not written because 'nodir/c.txt' failed",
		     t_io_error(&self->io, 0));
	EXPECT_EQ(4, iofunc_run_n_failed(self->io.run));
	/* Only the file that was there before, unchanged. */
	EXPECT_EQ(1, count_entries(self->dir));
	s = t_read_file(p, NULL);
	EXPECT_STREQ("previous", s);
	free(s);
	free(p);
}

TEST_F(root, write_over_a_directory_fails_before_any_rename)
{
	ASSERT_EQ(0, mkdir(t_strdupf("%s/taken", self->dir), 0755));
	ASSERT_EQ(0, t_set_add_str(self->in, "a.txt", "aaaa"));
	ASSERT_EQ(0, t_set_add_str(self->in, "taken", "tttt"));
	ASSERT_EQ(0, t_io_run("file.write", &self->ctx, self->in, 0, &self->io));
	EXPECT_STREQ("file.write: 'taken': is a directory",
		     t_io_error(&self->io, 1));
	EXPECT_EQ(2, iofunc_run_n_failed(self->io.run));
	/* Only the directory: a.txt was not renamed into place. */
	EXPECT_EQ(1, count_entries(self->dir));
	EXPECT_EQ(0, count_entries(t_strdupf("%s/taken", self->dir)));
}

TEST_F(root, cancelled_write_leaves_no_file)
{
	size_t n = 200, len = 1 << 20;
	char *data = calloc(1, len);

	ASSERT_NE(NULL, data);
	for (size_t i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%zu", i);
		ASSERT_EQ(0, set_add_copy(self->in, name, false, 0, data,
					  len));
	}
	self->ctx.concurrency = 4;
	ASSERT_EQ(0, t_io_run_cancel_after("file.write", &self->ctx, self->in,
					   0, 5, &self->io));
	EXPECT_LT(0, iofunc_run_n_failed(self->io.run));
	EXPECT_STREQ("file.write: 'f199': cancelled", t_io_error(&self->io, 199));
	EXPECT_EQ(0, count_entries(self->dir));
	free(data);
}

TEST(unknown_function_and_bad_shapes_are_refused_by_check)
{
	struct err e = {};
	char *two[] = { "status", "body" }, *one[] = { "x" };

	EXPECT_EQ(0, iofuncs_check("file.read", 1, one, 1, &e));
	EXPECT_EQ(0, iofuncs_check("file.write", 1, NULL, 0, &e));
	EXPECT_EQ(0, iofuncs_check("http", 1, two, 2, &e));
	EXPECT_EQ(-ENOENT, iofuncs_check("file.raed", 1, one, 1, &e));
	EXPECT_STREQ("unknown I/O function 'file.raed' (known: file.read, file.write, http)",
		     e.msg);
	EXPECT_EQ(-EINVAL, iofuncs_check("http", 1, one, 1, &e));
	EXPECT_STREQ("I/O function 'http' produces exactly 2 outputs (status, then body), not 1",
		     e.msg);
	EXPECT_EQ(-EINVAL, iofuncs_check("file.read", 2, one, 1, &e));
}

/* The I/O layer's USDT probes (lib/probe.h) are in the binary for perf and
 * bpftrace. */
TEST(io_probes_are_in_the_binary)
{
	static const char *const names[] = { "io_start", "io_item_start",
					     "io_item_end", "io_done", "io_retry",
					     "http_request", "http_response" };
	char exe[PATH_MAX] = "";
	char *argv[] = { "readelf", "-n", exe, NULL };
	char *out = NULL, *want;
	int status;

	/* Our own path: in readelf, /proc/self/exe would be readelf. */
	ASSERT_LT(0, readlink("/proc/self/exe", exe, sizeof(exe) - 1));
	ASSERT_EQ(0, t_run(argv, &out, NULL, &status));
	ASSERT_EQ(0, t_exit_code(status));
	EXPECT_NE(NULL, strstr(out, "Provider: pith"));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		want = t_strdupf("Name: %s\n", names[i]);
		EXPECT_NE(NULL, strstr(out, want)) TH_LOG("no probe %s", names[i]);
		free(want);
	}
	free(out);
}

TEST_HARNESS_MAIN
