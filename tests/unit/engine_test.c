// SPDX-License-Identifier: MIT
/* The engine end to end with real sandboxes: zero copy between stages,
 * failures, cancellation, deadlines, empty inputs. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	strcat(fn, "/tests/fn/engine");
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

		/* The bytes live in the 1 MiB context of the `up` instance
		 * that wrote them, not in the 2 MiB context of `fwd`. */
		EXPECT_EQ(1u << 20, it->buf->size);
		ASSERT_EQ(0, item_data(it, &p));
		EXPECT_EQ(0, memcmp(p, i ? "ZERO COPY" : "HELLO", it->len));
	}
	EXPECT_NE(self->rep.outputs[0]->items[0].buf,
		  self->rep.outputs[0]->items[1].buf);
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
	EXPECT_EQ(INSTANCE_FAILED, self->rep.stages[0].instances[1].state);
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
	EXPECT_EQ(INSTANCE_CANCELLED, self->rep.stages[0].instances[0].state);
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

TEST_HARNESS_MAIN
