// SPDX-License-Identifier: MIT
/* The engine's own file reader: bytes, reasons, order, bounds, cancel. */
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "iofuncs/loadfile.h"
#include "lib/probe.h"

/* A finished batch. */
struct t_lf {
	struct loop *loop;
	struct loadfile *lf;
	bool done;
	bool done_in_start;
	bool starting;
};

static void t_done(struct loadfile *lf, void *data)
{
	struct t_lf *t = data;

	(void)lf;
	t->done = true;
	t->done_in_start = t->starting;
}

static bool t_is_done(void *data)
{
	return ((struct t_lf *)data)->done;
}

/* Read `paths` to the end (cancelled at once with `cancel`). */
static int t_load(const struct loadfile_opts *o, const char *const *paths,
		  size_t n, bool cancel, struct t_lf *t)
{
	struct err e = {};
	int r = loop_new(256, &t->loop, &e);

	if (r < 0)
		return r;
	t->starting = true;
	r = loadfile_start(t->loop, o, paths, n, t_done, t, &t->lf, &e);
	t->starting = false;
	if (r < 0)
		return r;
	if (cancel)
		loadfile_cancel(t->lf);
	return loop_run_until(t->loop, t_is_done, t);
}

static void t_lf_done(struct t_lf *t)
{
	loadfile_free(t->lf);
	loop_free(t->loop);
}

/* File i's bytes as a NUL-terminated copy. */
static char *t_file(const struct t_lf *t, size_t i, uint64_t *ret_len)
{
	struct buffer *buf;
	uint64_t off, len;
	const void *p;
	char *s;

	loadfile_file(t->lf, i, &buf, &off, &len);
	if (!buf->sealed || buffer_data(buf, &p) < 0)
		return NULL;
	s = malloc(len + 1);
	memcpy(s, (const char *)p + off, len);
	s[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return s;
}

/* Descriptors open in this process; with `target`, only those on it. */
static size_t count_fds(const char *target)
{
	char p[64], link[PATH_MAX];
	size_t n = 0;

	for (int fd = 0; fd < 4096; fd++) {
		ssize_t len;

		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		len = readlink(p, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = '\0';
		n += !target || !strcmp(link, target);
	}
	return n;
}

FIXTURE(dir)
{
	char *dir;
	struct loadfile_opts o;
	struct t_lf t;
};

FIXTURE_SETUP(dir)
{
	self->dir = t_tmpdir();
	ASSERT_NE(NULL, self->dir);
	ASSERT_EQ(0, chmod(self->dir, 0755));
	self->o = (struct loadfile_opts){
		.dirfd = open(self->dir, O_PATH | O_DIRECTORY | O_CLOEXEC),
		.label = "test",
		.probe_stage = PROBE_IO_INPUTS,
	};
	ASSERT_LE(0, self->o.dirfd);
}

FIXTURE_TEARDOWN(dir)
{
	t_lf_done(&self->t);
	close(self->o.dirfd);
	t_rm_rf(self->dir);
	free(self->dir);
}

static char *put(const char *dir, const char *name, const char *data)
{
	char *p = t_strdupf("%s/%s", dir, name);

	t_write_file(p, data, strlen(data));
	return p;
}

TEST_F(dir, reads_every_file_in_order_into_sealed_buffers)
{
	enum { N = 300 }; /* several times the files in flight */
	const char *paths[N];
	char *own[N];

	for (size_t i = 0; i < N; i++) {
		char name[32], data[32];

		snprintf(name, sizeof(name), "f%zu", i);
		snprintf(data, sizeof(data), "file %zu\n", i);
		own[i] = put(self->dir, name, i == 7 ? "" : data);
		/* Relative to dirfd, or absolute. */
		paths[i] = i % 2 ? own[i] : own[i] + strlen(self->dir) + 1;
	}
	ASSERT_EQ(0, t_load(&self->o, paths, N, false, &self->t));
	EXPECT_FALSE(self->t.done_in_start);
	ASSERT_EQ(0, loadfile_error(self->t.lf, &(size_t){ 0 }, &(const char *){ NULL }));
	for (size_t i = 0; i < N; i++) {
		char want[32], *got = t_file(&self->t, i, NULL);

		snprintf(want, sizeof(want), "file %zu\n", i);
		ASSERT_NE(NULL, got);
		EXPECT_STREQ(i == 7 ? "" : want, got);
		free(got);
		free(own[i]);
	}
}

TEST_F(dir, large_file_is_read_in_segments_byte_exact)
{
	size_t len = (40u << 20) + 12345, got_len = 0;
	char *p = t_strdupf("%s/big", self->dir), *data = malloc(len), *got;
	const char *paths[] = { p };

	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 2654435761u >> 13);
	ASSERT_EQ(0, t_write_file(p, data, len));
	ASSERT_EQ(0, t_load(&self->o, paths, 1, false, &self->t));
	ASSERT_EQ(0, loadfile_error(self->t.lf, &(size_t){ 0 }, &(const char *){ NULL }));
	got = t_file(&self->t, 0, (uint64_t *)&got_len);
	ASSERT_NE(NULL, got);
	EXPECT_EQ(len, got_len);
	EXPECT_EQ(0, memcmp(data, got, len));
	EXPECT_EQ(len, loadfile_bytes(self->t.lf));
	free(got);
	free(data);
	free(p);
}

/* The one path fails: index 0, -want_err, "'<path>': <why>". */
static void expect_failure(
			   const struct loadfile_opts *o, struct t_lf *t,
			   const char *path, int want_err, const char *why)
{
	const char *paths[] = { path }, *msg = NULL;
	char *want = t_strdupf("'%s': %s", path, why);
	size_t i = 99;

	ASSERT_EQ(0, t_load(o, paths, 1, false, t));
	EXPECT_EQ(-want_err, loadfile_error(t->lf, &i, &msg));
	EXPECT_EQ(0, i);
	EXPECT_STREQ(want, msg);
	free(want);
}

TEST_F(dir, missing_file_is_named)
{
	expect_failure(&self->o, &self->t, "no-such", ENOENT,
		       "no such file or directory");
}

TEST_F(dir, directory_is_refused)
{
	ASSERT_EQ(0, mkdir(t_strdupf("%s/sub", self->dir), 0755));
	expect_failure(&self->o, &self->t, "sub", EINVAL,
		       "is a directory");
}

TEST_F_TIMEOUT(dir, fifo_is_refused_without_waiting_for_a_writer, 10)
{
	ASSERT_EQ(0, mkfifo(t_strdupf("%s/fifo", self->dir), 0644));
	expect_failure(&self->o, &self->t, "fifo", EINVAL,
		       "not a regular file");
}

TEST_F(dir, file_past_the_limit_is_refused)
{
	char *p = t_strdupf("%s/big", self->dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 300ll << 20)); /* sparse */
	close(fd);
	self->o.max_bytes = 256ull << 20;
	expect_failure(&self->o, &self->t, "big", EFBIG,
		       "file too large: 314572800 bytes, the limit is 268435456");
	EXPECT_EQ(0, loadfile_bytes(self->t.lf));
	free(p);
}

/* A file past the store's limit (--max-store) fails naming the limit. */
TEST_F(dir, file_past_the_store_limit_names_the_limit)
{
	const char *paths[] = { "big" }, *msg = NULL;
	char *p = t_strdupf("%s/big", self->dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	size_t i = 99;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 8 << 20)); /* sparse */
	close(fd);
	store_set_limit(store_stats.bytes_held + (1 << 20));
	ASSERT_EQ(0, t_load(&self->o, paths, 1, false, &self->t));
	EXPECT_EQ(-ENOBUFS, loadfile_error(self->t.lf, &i, &msg));
	EXPECT_EQ(0, strncmp(msg, "'big': cannot allocate its buffer: ",
			     strlen("'big': cannot allocate its buffer: ")))
		TH_LOG("%s", msg);
	EXPECT_NE(NULL, strstr(msg, "(--max-store;")) TH_LOG("%s", msg);
	free(p);
}

TEST_F(dir, unreadable_file_says_permission_denied)
{
	free(put(self->dir, "secret", "x"));
	ASSERT_EQ(0, chmod(t_strdupf("%s/secret", self->dir), 0));
	/* root reads anything: be nobody (this test runs in its own child). */
	if (geteuid() == 0)
		ASSERT_EQ(0, setresuid(65534, 65534, 65534));
	expect_failure(&self->o, &self->t, "secret", EACCES,
		       "permission denied");
}

TEST_F(dir, symlink_loop_is_named)
{
	ASSERT_EQ(0, symlink("loop", t_strdupf("%s/loop", self->dir)));
	expect_failure(&self->o, &self->t, "loop", ELOOP,
		       "too many levels of symbolic links");
}

/* The paths are trusted: '..' and symlinks leaving the directory are
 * followed (file.read would refuse both). */
TEST_F(dir, symlinks_and_dotdot_are_followed_as_written)
{
	char *out = t_tmpdir(), *target = put(out, "t", "outside\n"), *got;
	char *up = t_strdupf("../%s/t", strrchr(out, '/') + 1);
	const char *paths[] = { "link", up };

	ASSERT_EQ(0, symlink(target, t_strdupf("%s/link", self->dir)));
	ASSERT_EQ(0, t_load(&self->o, paths, 2, false, &self->t));
	ASSERT_EQ(0, loadfile_error(self->t.lf, &(size_t){ 0 }, &(const char *){ NULL }));
	for (size_t i = 0; i < 2; i++) {
		got = t_file(&self->t, i, NULL);
		EXPECT_STREQ("outside\n", got);
		free(got);
	}
	t_rm_rf(out);
}

/*
 * The reported failure is the first in path order, not the first or the
 * last to complete: a sysfs attribute claims 4096 bytes and ends early, so
 * it fails only after its open, statx and two reads, long after a missing
 * file failed its open, whichever comes first in the list.
 */
TEST_F(dir, first_failure_in_path_order_is_reported)
{
	const char *sys = "/sys/devices/system/cpu/online", *msg = NULL;
	const char *slow_first[] = { "a", sys, "no-such", "b" };
	const char *fast_first[] = { "a", "no-such", sys, "b" };
	struct stat st;
	size_t i = 99;

	if (stat(sys, &st) < 0 || st.st_size != 4096)
		SKIP(return, "%s is not a 4096-byte sysfs attribute here", sys);
	free(put(self->dir, "a", "a"));
	free(put(self->dir, "b", "b"));
	ASSERT_EQ(0, t_load(&self->o, slow_first, 4, false, &self->t));
	EXPECT_EQ(-EIO, loadfile_error(self->t.lf, &i, &msg));
	EXPECT_EQ(1, i);
	EXPECT_STREQ("'/sys/devices/system/cpu/online': file shrank while being read", msg);
	t_lf_done(&self->t);
	self->t = (struct t_lf){};
	ASSERT_EQ(0, t_load(&self->o, fast_first, 4, false, &self->t));
	EXPECT_EQ(-ENOENT, loadfile_error(self->t.lf, &i, &msg));
	EXPECT_EQ(1, i);
	EXPECT_STREQ("'no-such': no such file or directory", msg);
}

/* After a failure no file is started: with one file in flight, the file
 * behind the failed one is never opened (inotify would see the open). */
TEST_F(dir, a_failure_stops_the_files_not_started)
{
	const char *paths[] = { "a", "no-such", "c" }, *msg = NULL;
	char *c = put(self->dir, "c", "c"), buf[4096];
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	size_t i = 99;

	free(put(self->dir, "a", "a"));
	ASSERT_LE(0, in);
	ASSERT_LE(0, inotify_add_watch(in, c, IN_OPEN));
	self->o.in_flight = 1;
	ASSERT_EQ(0, t_load(&self->o, paths, 3, false, &self->t));
	EXPECT_EQ(-ENOENT, loadfile_error(self->t.lf, &i, &msg));
	EXPECT_EQ(1, i);
	EXPECT_EQ(-1, read(in, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	close(in);
	free(c);
}

/* Descriptors: the files in flight, never one per file. 3,000 files read
 * under a descriptor limit of what is open now plus 24, with 8 in flight. */
TEST_F(dir, descriptors_stay_bounded_by_the_files_in_flight)
{
	enum { N = 3000 };
	const char **paths = calloc(N, sizeof(*paths));
	char **own = calloc(N, sizeof(*own));
	struct rlimit rl;
	char *got;

	for (size_t i = 0; i < N; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%zu", i);
		own[i] = put(self->dir, name, name);
		paths[i] = own[i];
	}
	self->o.in_flight = 8;
	rl.rlim_cur = rl.rlim_max = count_fds(NULL) + 24;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	ASSERT_EQ(0, t_load(&self->o, paths, N, false, &self->t));
	ASSERT_EQ(0, loadfile_error(self->t.lf, &(size_t){ 0 }, &(const char *){ NULL }));
	got = t_file(&self->t, N - 1, NULL);
	EXPECT_STREQ("f2999", got);
	free(got);
	for (size_t i = 0; i < N; i++)
		free(own[i]);
	free(own);
	free(paths);
}

/* A path the batch lists again is opened and read once, and every index
 * of it has the same bytes (inotify counts the opens); another name of the
 * same file (a hard link) is a path of its own. */
TEST_F(dir, a_path_listed_again_is_read_once)
{
	enum { N = 1000 };
	const char **paths = calloc(N, sizeof(*paths));
	char *a = put(self->dir, "a", "aaa"), *b = put(self->dir, "b", "bb");
	struct inotify_event *ev;
	char buf[4096] __attribute__((aligned(8)));
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	size_t opens = 0;
	ssize_t len;

	char *c = t_strdupf("%s/c", self->dir);

	ASSERT_EQ(0, link(a, c));
	ASSERT_LE(0, in);
	ASSERT_LE(0, inotify_add_watch(in, self->dir, IN_OPEN));
	for (size_t k = 0; k < N; k++)
		paths[k] = k % 3 == 2 ? "b" : k == 1 ? "c" : "a";
	ASSERT_EQ(0, t_load(&self->o, paths, N, false, &self->t));
	ASSERT_EQ(0, loadfile_error(self->t.lf, &(size_t){ 0 }, &(const char *){ NULL }));
	while ((len = read(in, buf, sizeof(buf))) > 0)
		for (char *q = buf; q < buf + len; q += sizeof(*ev) + ev->len) {
			ev = (struct inotify_event *)q;
			opens += !!(ev->mask & IN_OPEN);
		}
	EXPECT_EQ(3, opens); /* "a", "c", "b" (inotify merges only repeats of
				the event just before) */
	EXPECT_EQ(3 + 3 + 2, loadfile_bytes(self->t.lf));
	for (size_t k = 0; k < N; k++) {
		char *got = t_file(&self->t, k, NULL);

		ASSERT_NE(NULL, got);
		EXPECT_STREQ(k % 3 == 2 ? "bb" : "aaa", got);
		free(got);
	}
	close(in);
	free(a);
	free(b);
	free(c);
	free(paths);
}

TEST_F(dir, cancel_fails_the_batch_and_closes_everything)
{
	enum { N = 500 };
	const char **paths = calloc(N, sizeof(*paths)), *msg = NULL;
	size_t i = 0;
	char *p = put(self->dir, "a", "a");

	for (size_t k = 0; k < N; k++)
		paths[k] = p;
	ASSERT_EQ(0, t_load(&self->o, paths, N, true, &self->t));
	EXPECT_TRUE(self->t.done);
	EXPECT_EQ(-ECANCELED, loadfile_error(self->t.lf, &i, &msg));
	EXPECT_STREQ(t_strdupf("'%s': cancelled", p), msg);
	self->t.lf = loadfile_free(self->t.lf);
	EXPECT_EQ(0, count_fds(p)); /* no file left open */
	free(p);
	free(paths);
}

TEST_F(dir, empty_batch_is_done_from_the_loop)
{
	ASSERT_EQ(0, t_load(&self->o, NULL, 0, false, &self->t));
	EXPECT_TRUE(self->t.done);
	EXPECT_FALSE(self->t.done_in_start);
}

TEST_HARNESS_MAIN
