// SPDX-License-Identifier: MIT
/*
 * Ingest: a job's input sets and function images, read by the engine's own
 * reader; what the user reads when a file cannot be read, naming its place
 * in the job.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ingest.h"
#include "harness/harness.h"
#include "harness/helpers.h"
#include "iofuncs/iofuncs.h"

FIXTURE(ingest)
{
	char *dir;
	char *fn; /* a real function binary */
	int dirfd;
	struct loop *loop;
	struct job *job;
	struct set *sets[2];
	struct elf_image *images[2];
	struct err e;
};

FIXTURE_SETUP(ingest)
{
	char fn[PATH_MAX];
	struct err e = {};

	self->dir = t_tmpdir();
	ASSERT_NE(NULL, self->dir);
	ASSERT_EQ(0, chmod(self->dir, 0755));
	self->dirfd = open(self->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, self->dirfd);
	ASSERT_NE(NULL, realpath(t_build_dir(), fn));
	self->fn = t_strdupf("%s/tests/functions/forward", fn);
	ASSERT_EQ(0, loop_new(256, &self->loop, &e)) TH_LOG("%s", e.msg);
}

FIXTURE_TEARDOWN(ingest)
{
	for (size_t i = 0; i < 2; i++) {
		set_free(self->sets[i]);
		elf_image_free(self->images[i]);
	}
	job_free(self->job);
	loop_free(self->loop);
	close(self->dirfd);
	t_rm_rf(self->dir);
	free(self->dir);
	free(self->fn);
}

/*
 * Inputs x: [inline "one", file X1, file X2] and y: [file Y0, inline "k"
 * keyed 7, file Y2]; functions f (binary F, run by a stage) and g (binary
 * G, run by none: never read). Files are not checked at parse time: what
 * is on disk at run time is what ingest finds.
 */
static int t_ingest(FIXTURE_DATA(ingest) *self, const char *x1,
		    const char *x2, const char *y0, const char *y2,
		    const char *f, const char *g)
{
	struct job_parse_opts po = { .io_check = iofuncs_check };
	char *text = t_strdupf(
		"{\"version\":1,\"name\":\"ing\","
		"\"functions\":{\"f\":{\"binary\":\"%s\"},\"g\":{\"binary\":\"%s\"}},"
		"\"inputs\":{\"x\":[{\"name\":\"x0\",\"data\":\"one\"},"
		"{\"name\":\"x1\",\"file\":\"%s\"},{\"name\":\"x2\",\"file\":\"%s\"}],"
		"\"y\":[{\"name\":\"y0\",\"file\":\"%s\"},"
		"{\"name\":\"y1\",\"data\":\"k\",\"key\":7},"
		"{\"name\":\"y2\",\"file\":\"%s\",\"key\":9}]},"
		"\"stages\":[{\"name\":\"s\",\"function\":\"f\","
		"\"inputs\":{\"a\":{\"from\":\"x\"},\"b\":{\"from\":\"y\"}},"
		"\"outputs\":[\"o\"]}],\"outputs\":{\"r\":\"s.o\"}}",
		f, g, x1, x2, y0, y2);
	struct err e = {};
	int r = job_parse_string(text, strlen(text), "ing.json", self->dir, &po,
				 &self->job, &e);

	free(text);
	if (r < 0) {
		fprintf(stderr, "# job: %s\n", e.msg);
		return r;
	}
	return ingest_job(self->loop, self->dirfd, self->job, self->sets,
			  self->images, &self->e);
}

static void put(const char *dir, const char *name, const char *data)
{
	char *p = t_strdupf("%s/%s", dir, name);

	t_write_file(p, data, strlen(data));
	free(p);
}

static char *item_str(const struct item *it)
{
	const void *p;
	char *s = malloc(it->len + 1);

	if (item_data(it, &p) < 0)
		return NULL;
	memcpy(s, p, it->len);
	s[it->len] = '\0';
	return s;
}

TEST_F(ingest, sets_hold_inline_and_file_items_in_job_order)
{
	static const char *const want[2][3] = { { "one", "X1", "" },
						{ "Y0", "k", "Y2" } };
	char *abs = t_strdupf("%s/y2.txt", self->dir);

	put(self->dir, "x1.txt", "X1");
	put(self->dir, "x2.txt", ""); /* an empty file is an empty item */
	put(self->dir, "y0.txt", "Y0");
	put(self->dir, "y2.txt", "Y2");
	ASSERT_EQ(0, t_ingest(self, "x1.txt", "x2.txt", "y0.txt", abs, self->fn,
			      "/no/such/g")) TH_LOG("%s", self->e.msg);
	for (size_t i = 0; i < 2; i++) {
		ASSERT_NE(NULL, self->sets[i]);
		ASSERT_EQ(3, self->sets[i]->n);
		for (size_t j = 0; j < 3; j++) {
			const struct item *it = &self->sets[i]->items[j];
			char *s = item_str(it), name[8];

			snprintf(name, sizeof(name), "%c%zu", "xy"[i], j);
			EXPECT_STREQ(name, it->name);
			EXPECT_STREQ(want[i][j], s);
			EXPECT_TRUE(it->buf->sealed);
			free(s);
		}
	}
	EXPECT_TRUE(self->sets[1]->items[1].keyed);
	EXPECT_EQ(7, self->sets[1]->items[1].key);
	EXPECT_EQ(9, self->sets[1]->items[2].key);
	EXPECT_NE(NULL, self->images[0]);
	EXPECT_EQ(NULL, self->images[1]); /* g runs in no stage: unread */
	free(abs);
}

/* The job's paths are its author's: '..' and symlinks are followed. */
TEST_F(ingest, paths_through_symlinks_and_dotdot_are_read)
{
	char *out = t_tmpdir(), *t = t_strdupf("%s/t", out), *s;
	char *up = t_strdupf("../%s/t", strrchr(out, '/') + 1);
	char *link = t_strdupf("%s/fnlink", self->dir);

	put(out, "t", "outside");
	ASSERT_EQ(0, symlink(t, t_strdupf("%s/l", self->dir)));
	ASSERT_EQ(0, symlink(self->fn, link));
	put(self->dir, "a", "a");
	ASSERT_EQ(0, t_ingest(self, "l", up, "a", "a", "fnlink", "g"))
		TH_LOG("%s", self->e.msg);
	s = item_str(&self->sets[0]->items[1]);
	EXPECT_STREQ("outside", s);
	free(s);
	s = item_str(&self->sets[0]->items[2]);
	EXPECT_STREQ("outside", s);
	free(s);
	EXPECT_NE(NULL, self->images[0]);
	t_rm_rf(out);
	free(link);
	free(up);
	free(t);
}

/* Ingest fails with -err and exactly `want`; nothing is left behind. */
static void expect_error(FIXTURE_DATA(ingest) *self, int r, int err,
			 const char *want)
{
	EXPECT_EQ(-err, r);
	EXPECT_STREQ(want, self->e.msg);
	for (size_t i = 0; i < 2; i++) {
		EXPECT_EQ(NULL, self->sets[i]);
		EXPECT_EQ(NULL, self->images[i]);
	}
}

/* Each unreadable input names its set and position; here y[2], after
 * inline items (counted in the position, as the job file lists them). */
TEST_F(ingest, missing_input_names_its_place)
{
	put(self->dir, "a", "a");
	expect_error(self, t_ingest(self, "a", "a", "a", "gone", self->fn, "g"),
		     ENOENT, "inputs.y[2]: 'gone': no such file or directory");
}

TEST_F(ingest, directory_input_is_refused)
{
	put(self->dir, "a", "a");
	ASSERT_EQ(0, mkdir(t_strdupf("%s/d", self->dir), 0755));
	expect_error(self, t_ingest(self, "a", "d", "a", "a", self->fn, "g"),
		     EINVAL, "inputs.x[2]: 'd': is a directory");
}

TEST_F_TIMEOUT(ingest, fifo_input_is_refused_without_waiting, 10)
{
	put(self->dir, "a", "a");
	ASSERT_EQ(0, mkfifo(t_strdupf("%s/p", self->dir), 0644));
	expect_error(self, t_ingest(self, "a", "a", "p", "a", self->fn, "g"),
		     EINVAL, "inputs.y[0]: 'p': not a regular file");
}

TEST_F(ingest, unreadable_input_says_permission_denied)
{
	put(self->dir, "a", "a");
	put(self->dir, "secret", "s");
	ASSERT_EQ(0, chmod(t_strdupf("%s/secret", self->dir), 0));
	if (geteuid() == 0) /* this test runs in its own child */
		ASSERT_EQ(0, setresuid(65534, 65534, 65534));
	expect_error(self, t_ingest(self, "secret", "a", "a", "a", self->fn, "g"),
		     EACCES, "inputs.x[1]: 'secret': permission denied");
}

TEST_F(ingest, dangling_symlink_input_is_named)
{
	put(self->dir, "a", "a");
	ASSERT_EQ(0, symlink("nowhere", t_strdupf("%s/l", self->dir)));
	expect_error(self, t_ingest(self, "a", "a", "a", "l", self->fn, "g"),
		     ENOENT, "inputs.y[2]: 'l': no such file or directory");
}

/* Of several unreadable files the first in job order is named. */
TEST_F(ingest, first_unreadable_input_in_job_order_is_named)
{
	ASSERT_EQ(0, mkdir(t_strdupf("%s/d", self->dir), 0755));
	put(self->dir, "a", "a");
	expect_error(self, t_ingest(self, "a", "d", "gone", "gone", "none", "g"),
		     EINVAL, "inputs.x[2]: 'd': is a directory");
}

/* An input past the store's limit names its place and the limit. */
TEST_F(ingest, input_past_the_store_limit_names_the_limit)
{
	const char *want = "inputs.x[2]: 'big': cannot allocate its buffer: the store would hold ";
	int fd;

	put(self->dir, "a", "a");
	fd = open(t_strdupf("%s/big", self->dir), O_WRONLY | O_CREAT | O_CLOEXEC,
		  0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 200 << 20)); /* sparse */
	close(fd);
	/* Room for the shared 64 MiB chunks of small files and binaries,
	 * whichever comes first, not for the big file's own buffer. */
	store_set_limit(store_stats.bytes_held + (150 << 20));
	EXPECT_EQ(-ENOBUFS, t_ingest(self, "a", "big", "a", "a", self->fn, "g"));
	EXPECT_EQ(0, strncmp(want, self->e.msg, strlen(want)))
		TH_LOG("%s", self->e.msg);
	EXPECT_NE(NULL, strstr(self->e.msg, "(--max-store;"))
		TH_LOG("%s", self->e.msg);
	EXPECT_EQ(NULL, self->sets[0]);
}

TEST_F(ingest, binary_that_is_a_directory_is_refused)
{
	put(self->dir, "a", "a");
	ASSERT_EQ(0, mkdir(t_strdupf("%s/bin", self->dir), 0755));
	expect_error(self, t_ingest(self, "a", "a", "a", "a", "bin", "g"),
		     EINVAL, "function f: 'bin': is a directory");
}

TEST_F(ingest, empty_binary_is_refused_as_truncated)
{
	put(self->dir, "a", "a");
	put(self->dir, "bin", "");
	expect_error(self, t_ingest(self, "a", "a", "a", "a", "bin", "g"),
		     ENOEXEC,
		     "function f: 'bin': truncated: 0 bytes, an ELF header needs 64");
}

TEST_F(ingest, binary_past_the_elf_limit_is_refused)
{
	int fd;

	put(self->dir, "a", "a");
	fd = open(t_strdupf("%s/bin", self->dir), O_WRONLY | O_CREAT | O_CLOEXEC,
		  0755);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, (256ll << 20) + 1)); /* sparse */
	close(fd);
	expect_error(self, t_ingest(self, "a", "a", "a", "a", "bin", "g"),
		     EFBIG,
		     "function f: 'bin': file too large: 268435457 bytes, the limit is 268435456");
}

/* An input failure is named before a binary failure. */
TEST_F(ingest, input_failure_is_named_before_a_binary_failure)
{
	put(self->dir, "a", "a");
	expect_error(self, t_ingest(self, "a", "a", "gone", "a", "nobin", "g"),
		     ENOENT, "inputs.y[0]: 'gone': no such file or directory");
}

TEST_HARNESS_MAIN
