// SPDX-License-Identifier: MIT
/* The engine end to end with real sandboxes: zero copy between stages,
 * failures, cancellation, deadlines, empty inputs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "harness/harness.h"
#include "harness/helpers.h"
#include "iofuncs/iofuncs.h"

/* Parse a job whose binaries are the test functions in build/tests/fn. */
static struct job *job_from(const char *fmt)
{
	char fn[PATH_MAX], *text;
	struct job_parse_opts po = { .io_check = iofuncs_check,
				     .check_files = true };
	struct job *job = NULL;
	struct err e = {};

	if (!realpath(t_build_dir(), fn))
		return NULL;
	strcat(fn, "/tests/functions");
	/* The format names the function directory with %1$s. */
	text = t_strdupf(fmt, fn);
	if (job_parse_string(text, strlen(text), "test.json", "/tmp", &po,
			     &job, &e) < 0)
		fprintf(stderr, "# job: %s\n", e.msg);
	free(text);
	return job;
}

FIXTURE(engine)
{
	struct sandbox *sb;
	struct engine_report rep;
};

FIXTURE_SETUP(engine)
{
	struct err e = {};

	ASSERT_EQ(0, sandbox_new(&(struct sandbox_opts){}, &self->sb, &e))
		TH_LOG("%s", e.msg);
}

FIXTURE_TEARDOWN(engine)
{
	engine_report_done(&self->rep);
	sandbox_free(self->sb);
}

static int run(struct sandbox *sb, struct job *job, unsigned parallel,
	       struct engine_report *rep)
{
	struct err e = {};
	int r = engine_run(job,
			   &(struct engine_opts){ .sandbox = sb,
						  .parallel = parallel },
			   rep, &e);

	if (r < 0)
		fprintf(stderr, "# engine: %s\n", e.msg);
	return r;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

TEST_F(engine, outputs_pass_between_stages_without_a_copy)
{
	struct job *job = job_from(
		"{\"version\":1,\"name\":\"zc\","
		"\"functions\":{\"upper\":{\"binary\":\"%1$s/upper\",\"memory\":\"1MiB\"},"
		"\"forward\":{\"binary\":\"%1$s/forward\",\"memory\":\"2MiB\"}},"
		"\"inputs\":{\"docs\":[{\"name\":\"a\",\"data\":\"hello\"},"
		"{\"name\":\"b\",\"data\":\"zero copy\"}]},"
		"\"stages\":["
		"{\"name\":\"up\",\"function\":\"upper\",\"inputs\":{\"in\":{\"from\":\"docs\",\"mode\":\"each\"}},\"outputs\":[\"out\"]},"
		"{\"name\":\"fwd\",\"function\":\"forward\",\"inputs\":{\"in\":{\"from\":\"up.out\"}},\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"result\":\"fwd.out\"}}");
	uint64_t written;
	const void *p;

	ASSERT_NE(NULL, job);
	written = store_stats.bytes_written;
	ASSERT_EQ(0, run(self->sb, job, 2, &self->rep));
	ASSERT_TRUE(self->rep.ok) TH_LOG("%s", self->rep.error);
	/* Only the job's own input bytes were ever copied into the store. */
	EXPECT_EQ(strlen("hello") + strlen("zero copy"),
		  store_stats.bytes_written - written);
	ASSERT_EQ(1, self->rep.n_outputs);
	ASSERT_EQ(2, self->rep.outputs[0]->n);
	for (size_t i = 0; i < 2; i++) {
		const struct item *it = &self->rep.outputs[0]->items[i];

		/* The small outputs of the `up` instance that wrote them
		 * were copied out of its context into a packed buffer (the
		 * context is released); `fwd` was given a copy and
		 * forwarded the original, not its copy (a memfd mapped into
		 * it) or its context. */
		EXPECT_TRUE(it->buf->packed);
		EXPECT_EQ(-1, it->buf->fd);
		ASSERT_EQ(0, item_data(it, &p));
		EXPECT_EQ(0, memcmp(p, i ? "ZERO COPY" : "HELLO", it->len));
	}
	EXPECT_NE(self->rep.outputs[0]->items[0].off,
		  self->rep.outputs[0]->items[1].off);
	job_free(job);
}

TEST_F(engine, failed_instance_fails_the_job_with_its_reason)
{
	struct job *job = job_from(
		"{\"version\":1,\"name\":\"f\","
		"\"functions\":{\"fail\":{\"binary\":\"%1$s/fail\"}},"
		"\"inputs\":{\"x\":[{\"name\":\"a\",\"data\":\"1\"},{\"name\":\"b\",\"data\":\"2\"},{\"name\":\"c\",\"data\":\"3\"}]},"
		"\"stages\":[{\"name\":\"check\",\"function\":\"fail\",\"inputs\":{\"in\":{\"from\":\"x\",\"mode\":\"each\"}},\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"r\":\"check.out\"}}");

	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run(self->sb, job, 1, &self->rep));
	EXPECT_FALSE(self->rep.ok);
	EXPECT_STREQ("stage check[1]: exited with status 3", self->rep.error);
	EXPECT_EQ(INSTANCE_FAILED, instance_state(&self->rep.stages[0], 1));
	EXPECT_EQ(0, self->rep.n_outputs);
	job_free(job);
}

TEST_F(engine, failure_cancels_running_instances_without_waiting)
{
	/* `spin` would run for 20 s; `fail` instance 1 fails at once. */
	struct job *job = job_from(
		"{\"version\":1,\"name\":\"c\","
		"\"functions\":{\"spin\":{\"binary\":\"%1$s/spin\",\"timeout\":\"20s\"},"
		"\"fail\":{\"binary\":\"%1$s/fail\"}},"
		"\"inputs\":{\"x\":[{\"name\":\"a\",\"data\":\"1\"},{\"name\":\"b\",\"data\":\"2\"}]},"
		"\"stages\":[{\"name\":\"slow\",\"function\":\"spin\",\"inputs\":{\"in\":{\"from\":\"x\"}},\"outputs\":[\"o\"]},"
		"{\"name\":\"fast\",\"function\":\"fail\",\"inputs\":{\"in\":{\"from\":\"x\",\"mode\":\"each\"}},\"outputs\":[\"o\"]}],"
		"\"outputs\":{\"r\":\"slow.o\"}}");
	uint64_t t0 = now_ms();

	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run(self->sb, job, 4, &self->rep));
	EXPECT_FALSE(self->rep.ok);
	EXPECT_STREQ("stage fast[1]: exited with status 3", self->rep.error);
	EXPECT_EQ(INSTANCE_CANCELLED, instance_state(&self->rep.stages[0], 0));
	EXPECT_LT(now_ms() - t0, 5000);
	job_free(job);
}

TEST_F(engine, instance_is_killed_at_its_deadline)
{
	struct job *job = job_from(
		"{\"version\":1,\"name\":\"t\","
		"\"functions\":{\"spin\":{\"binary\":\"%1$s/spin\",\"timeout\":\"150ms\"}},"
		"\"inputs\":{\"x\":[{\"name\":\"a\",\"data\":\"1\"}]},"
		"\"stages\":[{\"name\":\"loop\",\"function\":\"spin\",\"inputs\":{\"in\":{\"from\":\"x\"}},\"outputs\":[\"o\"]}],"
		"\"outputs\":{\"r\":\"loop.o\"}}");
	uint64_t t0 = now_ms(), took;

	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run(self->sb, job, 1, &self->rep));
	took = now_ms() - t0;
	EXPECT_FALSE(self->rep.ok);
	EXPECT_STREQ("stage loop[0]: timed out after 150 ms", self->rep.error);
	EXPECT_GE(took, 150);
	EXPECT_LT(took, 3000);
	job_free(job);
}

/* The run keeps one timer, for the earliest deadline of its running
 * instances: an instance started after one with a later deadline moves it
 * earlier. */
TEST_F(engine, shorter_deadline_started_later_is_kept)
{
	struct job *job = job_from(
		"{\"version\":1,\"name\":\"t2\","
		"\"functions\":{\"long\":{\"binary\":\"%1$s/spin\",\"timeout\":\"20s\"},"
		"\"short\":{\"binary\":\"%1$s/spin\",\"timeout\":\"150ms\"}},"
		"\"inputs\":{\"x\":[{\"name\":\"a\",\"data\":\"1\"}]},"
		"\"stages\":[{\"name\":\"slow\",\"function\":\"long\",\"inputs\":{\"in\":{\"from\":\"x\"}},\"outputs\":[\"o\"]},"
		"{\"name\":\"quick\",\"function\":\"short\",\"inputs\":{\"in\":{\"from\":\"x\"}},\"outputs\":[\"o\"]}],"
		"\"outputs\":{\"r\":\"slow.o\",\"q\":\"quick.o\"}}");
	uint64_t t0 = now_ms(), took;

	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run(self->sb, job, 4, &self->rep));
	took = now_ms() - t0;
	EXPECT_FALSE(self->rep.ok);
	EXPECT_STREQ("stage quick[0]: timed out after 150 ms", self->rep.error);
	EXPECT_EQ(INSTANCE_CANCELLED, instance_state(&self->rep.stages[0], 0));
	EXPECT_GE(took, 150);
	EXPECT_LT(took, 5000);
	job_free(job);
}

TEST_F(engine, empty_input_gives_zero_instances_and_empty_outputs)
{
	struct job *job = job_from(
		"{\"version\":1,\"name\":\"e\","
		"\"functions\":{\"upper\":{\"binary\":\"%1$s/upper\"}},"
		"\"inputs\":{\"x\":[]},"
		"\"stages\":[{\"name\":\"up\",\"function\":\"upper\",\"inputs\":{\"in\":{\"from\":\"x\",\"mode\":\"each\"}},\"outputs\":[\"out\"]},"
		"{\"name\":\"up2\",\"function\":\"upper\",\"inputs\":{\"in\":{\"from\":\"up.out\"}},\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"r\":\"up2.out\"}}");

	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run(self->sb, job, 1, &self->rep));
	ASSERT_TRUE(self->rep.ok) TH_LOG("%s", self->rep.error);
	EXPECT_EQ(0, self->rep.stages[0].n_instances);
	EXPECT_EQ(0, self->rep.stages[1].n_instances);
	ASSERT_EQ(1, self->rep.n_outputs);
	EXPECT_EQ(0, self->rep.outputs[0]->n);
	job_free(job);
}

/* ---- inputs read and outputs written on the loop ---- */

static int run_to(struct sandbox *sb, struct job *job, const char *out_dir,
		  struct engine_report *rep, struct err *e)
{
	return engine_run(job,
			  &(struct engine_opts){ .sandbox = sb,
						 .parallel = 2,
						 .out_dir = out_dir },
			  rep, e);
}

/* The names in dir, sorted, each followed by a space. */
static char *t_list_dir(const char *dir)
{
	struct dirent **ents;
	char *s = strdup(""), *t;
	int n = scandir(dir, &ents, NULL, alphasort);

	if (n < 0) {
		free(s);
		return t_strdupf("(%s)", strerror(errno));
	}
	for (int i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") &&
		    strcmp(ents[i]->d_name, "..")) {
			t = t_strdupf("%s%s ", s, ents[i]->d_name);
			free(s);
			s = t;
		}
		free(ents[i]);
	}
	free(ents);
	return s;
}

static void expect_file(const char *dir, const char *name, const char *want)
{
	char *path = t_strdupf("%s/%s", dir, name);
	size_t len = 0;
	char *got = t_read_file(path, &len);

	EXPECT_NE(NULL, got) TH_LOG("%s: %s", path, strerror(errno));
	if (got)
		EXPECT_STREQ(want, got);
	free(got);
	free(path);
}

/* One job output "result": the items of x, upper-cased, one each. */
#define UPPER_JOB(items)                                                      \
	"{\"version\":1,\"name\":\"w\","                                      \
	"\"functions\":{\"upper\":{\"binary\":\"%1$s/upper\"}},"              \
	"\"inputs\":{\"x\":[" items "]},"                                     \
	"\"stages\":[{\"name\":\"up\",\"function\":\"upper\","                \
	"\"inputs\":{\"in\":{\"from\":\"x\",\"mode\":\"each\"}},"             \
	"\"outputs\":[\"out\"]}],"                                            \
	"\"outputs\":{\"result\":\"up.out\"}}"

TEST_F(engine, outputs_are_written_to_the_output_dir)
{
	struct job *job = job_from(UPPER_JOB(
		"{\"name\":\"a\",\"data\":\"hello\"},{\"name\":\"b\",\"data\":\"\"}"));
	char *dir = t_tmpdir(), *out = t_strdupf("%s/out", dir), *ls;
	char *res = t_strdupf("%s/result", out);
	struct err e = {};

	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run_to(self->sb, job, out, &self->rep, &e))
		TH_LOG("%s", e.msg);
	ASSERT_TRUE(self->rep.ok) TH_LOG("%s", self->rep.error);
	expect_file(res, "a", "HELLO");
	expect_file(res, "b", "");
	ls = t_list_dir(out);
	EXPECT_STREQ("result ", ls); /* no temporary left */
	free(ls);
	ls = t_list_dir(res);
	EXPECT_STREQ("a b ", ls);
	free(ls);
	t_rm_rf(dir);
	free(res);
	free(out);
	free(dir);
	job_free(job);
}

TEST_F(engine, missing_parents_of_the_output_dir_are_created)
{
	struct job *job = job_from(UPPER_JOB("{\"name\":\"a\",\"data\":\"hi\"}"));
	char *dir = t_tmpdir(), *out = t_strdupf("%s/new/deeper/out", dir);
	char *res = t_strdupf("%s/result", out);
	struct err e = {};

	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run_to(self->sb, job, out, &self->rep, &e))
		TH_LOG("%s", e.msg);
	ASSERT_TRUE(self->rep.ok) TH_LOG("%s", self->rep.error);
	expect_file(res, "a", "HI");
	t_rm_rf(dir);
	free(res);
	free(out);
	free(dir);
	job_free(job);
}

/* Descriptors open in this process. */
static size_t t_count_fds(void)
{
	struct dirent **ents;
	int n = scandir("/proc/self/fd", &ents, NULL, NULL);

	for (int i = 0; i < n; i++)
		free(ents[i]);
	if (n > 0)
		free(ents);
	return n < 0 ? 0 : (size_t)n;
}

/* An upper job of n items "i<k>" holding "v<k>", as job_from()'s format. */
static char *upper_job_of(size_t n)
{
	char *items = strdup(""), *t, *fmt;

	for (size_t k = 0; k < n; k++) {
		t = t_strdupf("%s%s{\"name\":\"i%zu\",\"data\":\"v%zu\"}", items,
			      k ? "," : "", k, k);
		free(items);
		items = t;
	}
	fmt = t_strdupf(
		"{\"version\":1,\"name\":\"w\","
		"\"functions\":{\"upper\":{\"binary\":\"%%1$s/upper\"}},"
		"\"inputs\":{\"x\":[%s]},"
		"\"stages\":[{\"name\":\"up\",\"function\":\"upper\","
		"\"inputs\":{\"in\":{\"from\":\"x\",\"mode\":\"each\"}},"
		"\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"result\":\"up.out\"}}", items);
	free(items);
	return fmt;
}

/* Into an existing directory, up to 16 files are fsynced with their
 * directories and past 16 the file system is synced once (engine/output.c
 * sync_sets()): either way every set is complete and replaces the previous
 * run's whole, and no descriptor stays open. */
TEST_F(engine, small_and_large_output_sets_replace_the_previous_whole)
{
	static const size_t sizes[] = { 40, 3, 0, 17, 16 };
	char *dir = t_tmpdir(), *res = t_strdupf("%s/result", dir);

	for (size_t r = 0; r < sizeof(sizes) / sizeof(sizes[0]); r++) {
		char *fmt = upper_job_of(sizes[r]), *ls;
		size_t n = 0, fds = t_count_fds();
		struct job *job = job_from(fmt);
		struct err e = {};

		ASSERT_NE(NULL, job);
		engine_report_done(&self->rep);
		self->rep = (struct engine_report){};
		ASSERT_EQ(0, run_to(self->sb, job, dir, &self->rep, &e))
			TH_LOG("%s", e.msg);
		ASSERT_TRUE(self->rep.ok) TH_LOG("%s", self->rep.error);
		for (size_t k = 0; k < sizes[r]; k++) {
			char name[32], data[32];

			snprintf(name, sizeof(name), "i%zu", k);
			snprintf(data, sizeof(data), "V%zu", k);
			expect_file(res, name, data);
		}
		ls = t_list_dir(res);
		for (char *q = ls; *q; q++)
			n += *q == ' ';
		EXPECT_EQ(sizes[r], n) TH_LOG("run %zu: %s", r, ls);
		free(ls);
		ls = t_list_dir(dir);
		EXPECT_STREQ("result ", ls); /* no temporary left */
		free(ls);
		/* The files kept open for the fsync are closed (the first
		 * run leaves the sandbox's own descriptors). */
		if (r > 0)
			EXPECT_EQ(fds, t_count_fds()) TH_LOG("run %zu", r);
		free(fmt);
		job_free(job);
	}
	t_rm_rf(dir);
	free(res);
	free(dir);
}

TEST_F(engine, failed_job_writes_nothing)
{
	struct job *job = job_from(
		"{\"version\":1,\"name\":\"f\","
		"\"functions\":{\"fail\":{\"binary\":\"%1$s/fail\"}},"
		"\"inputs\":{\"x\":[{\"name\":\"a\",\"data\":\"1\"},{\"name\":\"b\",\"data\":\"2\"}]},"
		"\"stages\":[{\"name\":\"check\",\"function\":\"fail\",\"inputs\":{\"in\":{\"from\":\"x\",\"mode\":\"each\"}},\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"r\":\"check.out\"}}");
	char *dir = t_tmpdir(), *out = t_strdupf("%s/out", dir), *ls;
	struct err e = {};

	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run_to(self->sb, job, out, &self->rep, &e))
		TH_LOG("%s", e.msg);
	EXPECT_FALSE(self->rep.ok);
	ls = t_list_dir(dir);
	EXPECT_STREQ("", ls);
	free(ls);
	t_rm_rf(dir);
	free(out);
	free(dir);
	job_free(job);
}

/* Two items named "a" in one output set: forward's input "in" (one item)
 * crossed with "n" (two items) gives two instances that both forward it. */
#define DUP_JOB                                                               \
	"{\"version\":1,\"name\":\"d\","                                      \
	"\"functions\":{\"upper\":{\"binary\":\"%1$s/upper\"},"               \
	"\"forward\":{\"binary\":\"%1$s/forward\"}},"                          \
	"\"inputs\":{\"x\":[{\"name\":\"a\",\"data\":\"new\"}],"              \
	"\"n\":[{\"name\":\"p\",\"data\":\"1\"},{\"name\":\"q\",\"data\":\"2\"}]}," \
	"\"stages\":[{\"name\":\"up\",\"function\":\"upper\","                \
	"\"inputs\":{\"in\":{\"from\":\"x\",\"mode\":\"each\"}},"             \
	"\"outputs\":[\"out\"]},"                                             \
	"{\"name\":\"twice\",\"function\":\"forward\","                        \
	"\"inputs\":{\"in\":{\"from\":\"x\",\"mode\":\"each\"},"              \
	"\"n\":{\"from\":\"n\",\"mode\":\"each\"}},\"outputs\":[\"out\"]}],"  \
	"\"outputs\":{\"result\":\"up.out\",\"dup\":\"twice.out\"}}"

TEST_F(engine, duplicate_item_names_are_refused_and_the_previous_results_kept)
{
	struct job *first = job_from(UPPER_JOB("{\"name\":\"a\",\"data\":\"old\"}"));
	struct job *job = job_from(DUP_JOB);
	char *dir = t_tmpdir(), *res = t_strdupf("%s/result", dir), *ls, *want;
	struct engine_report rep = {};
	struct err e = {};

	ASSERT_NE(NULL, first);
	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run_to(self->sb, first, dir, &rep, &e)) TH_LOG("%s", e.msg);
	ASSERT_TRUE(rep.ok) TH_LOG("%s", rep.error);
	engine_report_done(&rep);

	EXPECT_EQ(-EEXIST, run_to(self->sb, job, dir, &self->rep, &e));
	EXPECT_FALSE(self->rep.ok);
	want = t_strdupf("%s: output dup: two items named 'a'; give items distinct names",
			 dir);
	EXPECT_STREQ(want, e.msg);
	expect_file(res, "a", "OLD");
	ls = t_list_dir(dir);
	EXPECT_STREQ("result ", ls); /* no temporary, no half of dup */
	free(ls);
	t_rm_rf(dir);
	free(want);
	free(res);
	free(dir);
	job_free(first);
	job_free(job);
}

TEST_F(engine, file_in_the_way_fails_the_write_and_keeps_the_previous_results)
{
	struct job *first = job_from(UPPER_JOB("{\"name\":\"a\",\"data\":\"old\"}"));
	struct job *job = job_from(
		"{\"version\":1,\"name\":\"w\","
		"\"functions\":{\"upper\":{\"binary\":\"%1$s/upper\"}},"
		"\"inputs\":{\"x\":[{\"name\":\"a\",\"data\":\"new\"}]},"
		"\"stages\":[{\"name\":\"up\",\"function\":\"upper\","
		"\"inputs\":{\"in\":{\"from\":\"x\",\"mode\":\"each\"}},"
		"\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"result\":\"up.out\",\"other\":\"up.out\"}}");
	char *dir = t_tmpdir(), *res = t_strdupf("%s/result", dir), *ls, *want;
	char *other = t_strdupf("%s/other", dir);
	struct engine_report rep = {};
	struct err e = {};

	ASSERT_NE(NULL, first);
	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run_to(self->sb, first, dir, &rep, &e)) TH_LOG("%s", e.msg);
	ASSERT_TRUE(rep.ok) TH_LOG("%s", rep.error);
	engine_report_done(&rep);
	ASSERT_EQ(0, t_write_file(other, "mine", 4));

	EXPECT_EQ(-ENOTDIR, run_to(self->sb, job, dir, &self->rep, &e));
	want = t_strdupf("%s: other: in the way: not a directory; move it away or write the outputs elsewhere",
			 dir);
	EXPECT_STREQ(want, e.msg);
	expect_file(res, "a", "OLD");
	expect_file(dir, "other", "mine");
	ls = t_list_dir(dir);
	EXPECT_STREQ("other result ", ls);
	free(ls);
	/* An output directory that is itself a file: nothing is touched. */
	EXPECT_EQ(-ENOTDIR, run_to(self->sb, job, other, &self->rep, &e));
	free(want);
	want = t_strdupf("%s: Not a directory", other);
	EXPECT_STREQ(want, e.msg);
	expect_file(dir, "other", "mine");
	t_rm_rf(dir);
	free(want);
	free(other);
	free(res);
	free(dir);
	job_free(first);
	job_free(job);
}

TEST_F(engine, input_files_are_read_by_the_paths_the_job_gives)
{
	char *dir = t_tmpdir(), *a = t_strdupf("%s/a.txt", dir), *rel, *fmt;
	struct job *job;
	struct err e = {};
	const void *p;

	ASSERT_EQ(0, t_write_file(a, "alpha", 5));
	/* The job's directory is /tmp: "../" and absolute paths are the job
	 * author's to give, unlike file.read's. */
	rel = t_strdupf("..%s", a);
	fmt = t_strdupf(
		"{\"version\":1,\"name\":\"r\","
		"\"functions\":{\"forward\":{\"binary\":\"%%1$s/forward\"}},"
		"\"inputs\":{\"x\":[{\"name\":\"abs\",\"file\":\"%s\"},"
		"{\"name\":\"mid\",\"data\":\"inline\",\"key\":7},"
		"{\"name\":\"rel\",\"file\":\"%s\"}]},"
		"\"stages\":[{\"name\":\"fwd\",\"function\":\"forward\","
		"\"inputs\":{\"in\":{\"from\":\"x\"}},\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"r\":\"fwd.out\"}}",
		a, rel);
	job = job_from(fmt);
	free(fmt);
	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run_to(self->sb, job, NULL, &self->rep, &e))
		TH_LOG("%s", e.msg);
	ASSERT_TRUE(self->rep.ok) TH_LOG("%s", self->rep.error);
	ASSERT_EQ(3, self->rep.outputs[0]->n);
	EXPECT_STREQ("abs", self->rep.outputs[0]->items[0].name);
	EXPECT_STREQ("mid", self->rep.outputs[0]->items[1].name);
	EXPECT_STREQ("rel", self->rep.outputs[0]->items[2].name);
	for (size_t i = 0; i < 3; i++) {
		const struct item *it = &self->rep.outputs[0]->items[i];

		ASSERT_EQ(0, item_data(it, &p));
		EXPECT_EQ(i == 1 ? 6 : 5, it->len);
		EXPECT_EQ(0, memcmp(p, i == 1 ? "inline" : "alpha", it->len));
	}
	t_rm_rf(dir);
	free(rel);
	free(a);
	free(dir);
	job_free(job);
}

TEST_F(engine, input_file_missing_at_run_time_is_named)
{
	char *dir = t_tmpdir(), *a = t_strdupf("%s/a.txt", dir), *want, *fmt;
	struct job *job;
	struct err e = {};

	ASSERT_EQ(0, t_write_file(a, "alpha", 5));
	/* Keep %1$s (the functions' directory) for job_from(). */
	fmt = t_strdupf(UPPER_JOB("{\"name\":\"d\",\"data\":\"x\"},"
				  "{\"name\":\"f\",\"file\":\"%2$s\"}"),
			"%1$s", a);
	job = job_from(fmt);
	free(fmt);
	ASSERT_NE(NULL, job); /* the file is there when the job is checked */
	ASSERT_EQ(0, unlink(a));
	EXPECT_EQ(-ENOENT, run_to(self->sb, job, NULL, &self->rep, &e));
	want = t_strdupf("inputs.x[1]: '%s': no such file or directory", a);
	EXPECT_STREQ(want, e.msg);
	EXPECT_FALSE(self->rep.ok);
	t_rm_rf(dir);
	free(want);
	free(a);
	free(dir);
	job_free(job);
}

/*
 * A function's binary is read with the job's input files, before any stage
 * runs. Here it is gone, or has grown past the ELF limit, between the
 * job's check and its run.
 */
static void binary_changed_at_run_time(struct sandbox *sb, bool grow,
				       const char *want_why)
{
	char *dir = t_tmpdir(), *bin = t_strdupf("%s/fn", dir), *want, *text;
	struct engine_report rep = {};
	struct err e = {};
	struct job *job;
	int fd;

	ASSERT_EQ(0, t_write_file(bin, "\177ELF", 4));
	text = t_strdupf("{\"version\":1,\"name\":\"b\","
			 "\"functions\":{\"f\":{\"binary\":\"%s\"}},"
			 "\"inputs\":{\"x\":[{\"name\":\"a\",\"data\":\"1\"}]},"
			 "\"stages\":[{\"name\":\"s\",\"function\":\"f\",\"inputs\":{\"in\":{\"from\":\"x\"}},\"outputs\":[\"o\"]}],"
			 "\"outputs\":{\"r\":\"s.o\"}}", bin);
	job = job_from(text);
	free(text);
	ASSERT_NE(NULL, job);
	if (grow) { /* sparse: nothing would be read before the refusal */
		fd = open(bin, O_WRONLY | O_CLOEXEC);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, ftruncate(fd, 300ll << 20));
		close(fd);
	} else {
		ASSERT_EQ(0, unlink(bin));
	}
	EXPECT_GT(0, run_to(sb, job, NULL, &rep, &e));
	want = t_strdupf("function f: '%s': %s", bin, want_why);
	EXPECT_STREQ(want, e.msg);
	EXPECT_FALSE(rep.ok);
	EXPECT_FALSE(rep.stages[0].ran);
	engine_report_done(&rep);
	t_rm_rf(dir);
	free(want);
	free(bin);
	free(dir);
	job_free(job);
}

TEST_F(engine, binary_missing_at_run_time_fails_before_any_stage)
{
	binary_changed_at_run_time(self->sb, false, "no such file or directory");
}

TEST_F(engine, binary_past_the_elf_limit_is_refused_unread)
{
	binary_changed_at_run_time(self->sb, true,
				   "file too large: 314572800 bytes, the limit is 268435456");
}

/* Layer 5 alone: with seccomp off, the eBPF guard the sandbox loads kills
 * the worker at its first forbidden call and the job reports it. */
TEST(guard_alone_stops_a_forbidden_call_through_the_engine)
{
	struct sandbox_layer layers[16];
	struct engine_report rep = {};
	struct sandbox *sb = NULL;
	struct err e = {};
	struct job *job;
	bool guarded = false;
	size_t n;

	ASSERT_EQ(0, sandbox_new(&(struct sandbox_opts){ .no_seccomp = true },
				 &sb, &e)) TH_LOG("%s", e.msg);
	n = sandbox_layers(sb, layers, 16);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(layers[i].name, "bpf-syscall"))
			guarded = layers[i].active;
	if (!guarded) {
		sandbox_free(sb);
		SKIP(return, "the eBPF guard is not loaded (needs root and BPF)");
	}
	job = job_from(
		"{\"version\":1,\"name\":\"g\","
		"\"functions\":{\"open\":{\"binary\":\"%1$s/opener\"}},"
		"\"inputs\":{\"x\":[{\"name\":\"a\",\"data\":\"1\"}]},"
		"\"stages\":[{\"name\":\"peek\",\"function\":\"open\",\"inputs\":{\"in\":{\"from\":\"x\"}},\"outputs\":[\"o\"]}],"
		"\"outputs\":{\"r\":\"peek.o\"}}");
	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run(sb, job, 1, &rep));
	EXPECT_FALSE(rep.ok);
	EXPECT_EQ(0, strncmp(rep.error,
			     "stage peek[0]: killed by eBPF: forbidden syscall openat (257)",
			     strlen("stage peek[0]: killed by eBPF: forbidden syscall openat (257)")))
		TH_LOG("error: %s", rep.error);
	engine_report_done(&rep);
	job_free(job);
	sandbox_free(sb);
}

/* The defaults of --max-instances and --max-disk are the machine's: one
 * instance per 4 KiB of RAM, half the free space of the output
 * directory's filesystem, asked of its nearest existing parent while it
 * does not exist. */
TEST(limit_defaults_are_proportional_to_the_machine)
{
	char dir[] = "/tmp/pith-limits.XXXXXX", missing[PATH_MAX];
	struct statvfs sv;
	uint64_t half, got, ram;

	ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	EXPECT_EQ(ram / 4096, engine_default_max_instances());
	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(missing, sizeof(missing), "%s/not/yet", dir);
	ASSERT_EQ(0, statvfs(dir, &sv));
	half = (uint64_t)sv.f_bavail * sv.f_frsize / 2;
	got = engine_default_max_disk(missing);
	/* Other writers on the host move the free space a little. */
	EXPECT_TRUE(got > half - half / 100 && got < half + half / 100)
		TH_LOG("%llu, statvfs says half is %llu",
		       (unsigned long long)got, (unsigned long long)half);
	EXPECT_NE(UINT64_MAX, engine_default_max_disk("relative/missing"));
	rmdir(dir);
}

TEST_HARNESS_MAIN
