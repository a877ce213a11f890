// SPDX-License-Identifier: MIT
/* The streaming engine: instances start as their items exist, outputs stay
 * in instance order whatever the order of completion, buffers are let go
 * when no consumer will take them, I/O fetches ahead within the window. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "engine/engine.h"
#include "harness/harness.h"
#include "harness/helpers.h"
#include "iofuncs/arena.h"
#include "iofuncs/iofuncs.h"
#include "iofuncs_util.h"
#include "lib/macro.h"

/* Parse a job whose binaries are the test functions in build/tests/functions
 * (named with %1$s in the format), relative to dir. */
static struct job *job_in(const char *dir, const char *fmt)
{
	char fn[PATH_MAX], *text;
	struct job_parse_opts po = { .io_check = iofuncs_check,
				     .check_files = true };
	struct job *job = NULL;
	struct err e = {};

	if (!realpath(t_build_dir(), fn))
		return NULL;
	strcat(fn, "/tests/functions");
	text = t_strdupf(fmt, fn);
	if (job_parse_string(text, strlen(text), "test.json", dir, &po, &job,
			     &e) < 0)
		fprintf(stderr, "# job: %s\n", e.msg);
	free(text);
	return job;
}

/* A job of an http stage fetching each of items (a JSON array of request
 * items, for the hostile server on port) and the test function fn (upper,
 * split) reading each body; concurrency 0: the http function's default. */
static struct job *fetch_each_job(const char *name, const char *fn,
				  unsigned concurrency, unsigned port,
				  const char *items)
{
	char conc[32] = "", *text;
	struct job *job;

	if (concurrency)
		snprintf(conc, sizeof(conc), "\"concurrency\":%u,", concurrency);
	text = t_strdupf(
		"{\"version\":1,\"name\":\"%s\",\"allow_hosts\":[\"127.0.0.1:%u\"],"
		"\"functions\":{\"%s\":{\"binary\":\"%%1$s/%s\",\"memory\":\"1MiB\"}},"
		"\"inputs\":{\"req\":%s},"
		"\"stages\":["
		"{\"name\":\"fetch\",\"io\":\"http\",%s\"inputs\":{\"r\":{\"from\":\"req\",\"mode\":\"each\"}},\"outputs\":[\"status\",\"body\"]},"
		"{\"name\":\"up\",\"function\":\"%s\",\"inputs\":{\"in\":{\"from\":\"fetch.body\",\"mode\":\"each\"}},\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"up\":\"up.out\"}}",
		name, port, fn, fn, items, conc, fn);
	job = job_in("/tmp", text);
	free(text);
	return job;
}

/*
 * The first byte of item i's data: 'a' + (i * 7) % 26, split.c emits that
 * % 4 items of it; but never 's', which makes split spin for ~0.3 s of CPU
 * ('S' instead: as many items). Only the item a test makes slow spins: the
 * letter 's' of items 10, 36, 62, ... spun by accident, and at load 19 the
 * 48 spins (14 s of CPU) of instances_start_out_of_order... timed out.
 */
static char letter(size_t i)
{
	char c = (char)('a' + (i * 7) % 26);

	return c == 's' ? 'S' : c;
}

/* n inline items "d<i>" of "<letter(i)>x<i>"; item `slow` (if < n) starts
 * with 's': its instance spins. */
static char *items_json(size_t n, size_t slow)
{
	size_t cap = 64 + n * 64, o = 0;
	char *s = malloc(cap);

	o += (size_t)snprintf(s + o, cap - o, "[");
	for (size_t i = 0; i < n; i++) {
		char c = i == slow ? 's' : letter(i);

		o += (size_t)snprintf(s + o, cap - o,
				      "%s{\"name\":\"d%zu\",\"data\":\"%cx%zu\"}",
				      i ? "," : "", i, c, i);
	}
	snprintf(s + o, cap - o, "]");
	return s;
}

/* each -> each (variable outputs) -> all: every set as text. */
static char *chain_job_text(size_t n, size_t slow)
{
	char *items = items_json(n, slow);
	char *t = t_strdupf(
		"{\"version\":1,\"name\":\"chain\","
		"\"functions\":{\"split\":{\"binary\":\"%%1$s/split\",\"memory\":\"1MiB\",\"timeout\":\"10s\"},"
		"\"upper\":{\"binary\":\"%%1$s/upper\",\"memory\":\"1MiB\"},"
		"\"forward\":{\"binary\":\"%%1$s/forward\",\"memory\":\"4MiB\"}},"
		"\"inputs\":{\"docs\":%s},"
		"\"stages\":["
		"{\"name\":\"a\",\"function\":\"split\",\"inputs\":{\"in\":{\"from\":\"docs\",\"mode\":\"each\"}},\"outputs\":[\"out\"]},"
		"{\"name\":\"b\",\"function\":\"upper\",\"inputs\":{\"in\":{\"from\":\"a.out\",\"mode\":\"each\"}},\"outputs\":[\"out\"]},"
		"{\"name\":\"c\",\"function\":\"forward\",\"inputs\":{\"in\":{\"from\":\"b.out\",\"mode\":\"all\"}},\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"split\":\"a.out\",\"all\":\"c.out\"}}",
		items);
	free(items);
	return t;
}

/* "name=bytes;..." of a set. */
static char *set_text(const struct set *s)
{
	size_t cap = 64, o = 0;
	char *t = malloc(cap);

	t[0] = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct item *it = &s->items[i];
		const void *p;
		size_t need = strlen(it->name) + it->len + 3;

		if (o + need >= cap) {
			cap = (o + need) * 2;
			t = realloc(t, cap);
		}
		if (item_data(it, &p) < 0)
			p = "?";
		o += (size_t)sprintf(t + o, "%s=", it->name);
		memcpy(t + o, p, it->len);
		o += it->len;
		t[o++] = ';';
		t[o] = 0;
	}
	return t;
}

FIXTURE(stream)
{
	struct sandbox *sb;
};

FIXTURE_SETUP(stream)
{
	struct err e = {};

	ASSERT_EQ(0, sandbox_new(&(struct sandbox_opts){}, &self->sb, &e))
		TH_LOG("%s", e.msg);
}

FIXTURE_TEARDOWN(stream)
{
	sandbox_free(self->sb);
}

static int run_job(struct sandbox *sb, struct job *job, unsigned parallel,
		   uint32_t seed, struct engine_report *rep)
{
	struct err e = {};
	int r = engine_run(job,
			   &(struct engine_opts){ .sandbox = sb,
						  .parallel = parallel,
						  .test_shuffle_seed = seed },
			   rep, &e);

	if (r < 0)
		fprintf(stderr, "# engine: %s\n", e.msg);
	return r;
}

TEST_F(stream, outputs_keep_instance_order_whatever_the_completion_order)
{
	char *text = chain_job_text(40, SIZE_MAX);
	struct job *job = job_in("/tmp", text);
	char *want[2] = {}, *got;
	size_t reordered = 0;

	ASSERT_NE(NULL, job);
	for (uint32_t seed = 0; seed < 6; seed++) {
		struct engine_report rep;

		ASSERT_EQ(0, run_job(self->sb, job, 2, seed * 2654435761u,
				     &rep));
		ASSERT_TRUE(rep.ok) TH_LOG("%s", rep.error);
		/* The hook did reorder: some instance of stage b was collected
		 * before an earlier one. */
		for (size_t i = 1; seed && i < rep.stages[1].n_instances; i++)
			reordered += instance_end_ns(&rep.stages[1], i) <
				     instance_end_ns(&rep.stages[1], i - 1);
		for (size_t k = 0; k < 2; k++) {
			got = set_text(rep.outputs[k]);
			if (!want[k])
				want[k] = got;
			else {
				EXPECT_STREQ(want[k], got);
				free(got);
			}
		}
		engine_report_done(&rep);
	}
	/* Seed 0 (no hook) is the order of today: instances in order,
	 * items of each instance in the order it made them. */
	EXPECT_EQ(0, strncmp(want[0], "d0.0=ax00;d2.0=ox20;d2.1=ox21;d2.2=ox22;d3.0=vx30;", 50))
		TH_LOG("%s", want[0]);
	EXPECT_LT(0, reordered);
	free(want[0]);
	free(want[1]);
	free(text);
	job_free(job);
}

TEST_F(stream, each_instance_starts_while_its_producer_stage_still_runs)
{
	/* Item 19 of 20 is slow: stage b must not wait for it. */
	char *text = chain_job_text(20, 19);
	struct job *job = job_in("/tmp", text);
	struct engine_report rep;
	const struct stage_report *a, *b;

	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, run_job(self->sb, job, 2, 0, &rep));
	ASSERT_TRUE(rep.ok) TH_LOG("%s", rep.error);
	a = &rep.stages[0];
	b = &rep.stages[1];
	ASSERT_EQ(20, a->n_instances);
	ASSERT_LT(0, b->n_instances);
	EXPECT_LT(instance_start_ns(b, 0), instance_end_ns(a, 19));
	/* ... and stage c (all) waited for the complete set. */
	EXPECT_GE(instance_start_ns(&rep.stages[2], 0),
		  instance_end_ns(b, b->n_instances - 1));
	engine_report_done(&rep);
	free(text);
	job_free(job);
}

/* text with its first `from` replaced by `to` (a new string). */
static char *replaced(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	size_t a, lf = strlen(from), lt = strlen(to);
	char *s;

	if (!at)
		return NULL;
	a = (size_t)(at - text);
	s = malloc(strlen(text) - lf + lt + 1);
	memcpy(s, text, a);
	memcpy(s + a, to, lt);
	strcpy(s + a + lt, at + lf);
	return s;
}

/*
 * Stage c folds ("fold": B): each instance forwards what the last one
 * forwarded and its B new items, so its output is `all`'s, item for item,
 * whatever the completion order; and it starts before stage b has ended.
 */
TEST_F(stream, fold_gives_all_s_output_in_any_completion_order)
{
	char *text = chain_job_text(40, 39);
	struct job *all = job_in("/tmp", text);
	char *want = NULL, *got;
	struct engine_report rep;

	ASSERT_NE(NULL, all);
	ASSERT_EQ(0, run_job(self->sb, all, 2, 0, &rep));
	ASSERT_TRUE(rep.ok) TH_LOG("%s", rep.error);
	want = set_text(rep.outputs[1]);
	engine_report_done(&rep);
	job_free(all);
	for (size_t b = 1; b <= 64; b *= 4) {
		char to[64], *ftext;
		struct job *job;

		snprintf(to, sizeof(to), "\"from\":\"b.out\",\"mode\":\"all\",\"fold\":%zu", b);
		ftext = replaced(text, "\"from\":\"b.out\",\"mode\":\"all\"", to);
		ASSERT_NE(NULL, ftext);
		job = job_in("/tmp", ftext);
		ASSERT_NE(NULL, job);
		for (uint32_t seed = 0; seed < 3; seed++) {
			const struct stage_report *sb, *sc;
			size_t n;

			ASSERT_EQ(0, run_job(self->sb, job, 2,
					     seed * 2654435761u, &rep));
			ASSERT_TRUE(rep.ok) TH_LOG("%s", rep.error);
			got = set_text(rep.outputs[1]);
			EXPECT_STREQ(want, got) TH_LOG("fold %zu, seed %u", b, seed);
			free(got);
			sb = &rep.stages[1];
			sc = &rep.stages[2];
			/* One instance per B items of b.out. */
			n = sb->items_out / b + (sb->items_out % b != 0);
			EXPECT_EQ(n, sc->n_instances);
			EXPECT_EQ(sb->items_out, sc->items_out);
			/* Item 39 is slow: folding began before it was in
			 * (for small batches: a few b items are made while
			 * it spins, however loaded the machine). */
			if (b <= 4)
				EXPECT_LT(instance_start_ns(sc, 0),
					  instance_end_ns(&rep.stages[0], 39))
					TH_LOG("fold %zu", b);
			engine_report_done(&rep);
		}
		job_free(job);
		free(ftext);
	}
	free(want);
	free(text);
}

/*
 * A folding merge of long instances behind an `each` stage of short ones
 * that always has more to start: each merge instance starts at the first
 * slot that frees once its batch is made and its predecessor collected. It
 * waited for the short stage's instances to drain to one per CPU, which
 * they never did while that stage had work, so the merge's input piled up
 * (Documentation/benchmarks/memory.md, "The merge's starved slots (round 6)").
 * Counted in instances, not time: how many of stage a's ended between the
 * moment merge instance k could start (its batch's last item made, in
 * order, and instance k-1 collected) and its start.
 */
TEST_F(stream, a_folding_merge_of_long_instances_is_not_starved)
{
	const size_t n = 4000, b = 200;
	char *items = items_json(n, SIZE_MAX);
	char *text = t_strdupf(
		"{\"version\":1,\"name\":\"starve\","
		"\"functions\":{\"upper\":{\"binary\":\"%%1$s/upper\",\"memory\":\"1MiB\"},"
		"\"slowcount\":{\"binary\":\"%%1$s/slowcount\",\"memory\":\"1MiB\"}},"
		"\"inputs\":{\"docs\":%s},"
		"\"stages\":["
		"{\"name\":\"a\",\"function\":\"upper\",\"inputs\":{\"in\":{\"from\":\"docs\",\"mode\":\"each\"}},\"outputs\":[\"out\"]},"
		"{\"name\":\"m\",\"function\":\"slowcount\",\"inputs\":{\"in\":{\"from\":\"a.out\",\"mode\":\"all\",\"fold\":%zu}},\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"count\":\"m.out\"}}",
		items, b);
	struct job *job = job_in("/tmp", text);
	const struct stage_report *a, *m;
	struct engine_report rep;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	/* Collections handled in one turn of the loop: a few per slot. */
	size_t slack = 4 * (size_t)(cpus > 0 ? cpus : 1) + 8;
	size_t late = 0, worst = 0;

	ASSERT_NE(NULL, job);
	/* Default slots: the short and long instances' counts apart. */
	ASSERT_EQ(0, run_job(self->sb, job, 0, 0, &rep));
	ASSERT_TRUE(rep.ok) TH_LOG("%s", rep.error);
	a = &rep.stages[0];
	m = &rep.stages[1];
	ASSERT_EQ(n, a->n_instances);
	ASSERT_EQ(n / b, m->n_instances);
	for (size_t k = 1; k < m->n_instances; k++) {
		uint64_t start = instance_start_ns(m, k);
		uint64_t ready = instance_end_ns(m, k - 1);
		size_t after = 0;

		for (size_t i = 0; i < b * (k + 1); i++)
			ready = MAX(ready, instance_end_ns(a, i));
		for (size_t i = 0; i < n; i++)
			after += instance_end_ns(a, i) > ready &&
				 instance_end_ns(a, i) <= start;
		if (after > slack) {
			late++;
			TH_LOG("merge instance %zu started after %zu more of a's instances ended",
			       k, after);
		}
		worst = MAX(worst, after);
	}
	TH_LOG("merge instances started late: %zu of %zu; at worst %zu of a's instances ended between ready and start (slack %zu)",
	       late, m->n_instances - 1, worst, slack);
	EXPECT_EQ(0, late);
	engine_report_done(&rep);
	job_free(job);
	free(text);
	free(items);
}

/* Peak RSS of this process since the last reset, in KiB. */
static long peak_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static bool reset_peak(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, "5", 1) == 1;

	if (fd >= 0)
		close(fd);
	return ok;
}

/*
 * A job in dir: a file of kib KiB of '@' (split emits nothing for it), read
 * `reads` times by a file.read stage into an `each` stage of split that
 * keeps nothing.
 */
static struct job *read_eat_job(const char *dir, const char *name,
				size_t kib, size_t reads)
{
	size_t cap = reads * 48 + 16, o = 0;
	char *path, *items, *text, *data;
	struct job *job;

	data = malloc(kib << 10);
	memset(data, '@', kib << 10);
	path = t_strdupf("%s/%s.bin", dir, name);
	if (t_write_file(path, data, kib << 10) < 0) {
		free(data);
		free(path);
		return NULL;
	}
	free(data);
	items = malloc(cap);
	o += (size_t)snprintf(items + o, cap - o, "[");
	for (size_t i = 0; i < reads; i++)
		o += (size_t)snprintf(items + o, cap - o,
				      "%s{\"name\":\"r%zu\",\"data\":\"%s.bin\"}",
				      i ? "," : "", i, name);
	snprintf(items + o, cap - o, "]");
	text = t_strdupf(
		"{\"version\":1,\"name\":\"%s\","
		"\"functions\":{\"split\":{\"binary\":\"%%1$s/split\",\"memory\":\"1MiB\",\"timeout\":\"10s\"}},"
		"\"inputs\":{\"paths\":%s},"
		"\"stages\":["
		"{\"name\":\"read\",\"io\":\"file.read\",\"inputs\":{\"in\":{\"from\":\"paths\"}},\"outputs\":[\"bytes\"]},"
		"{\"name\":\"eat\",\"function\":\"split\",\"inputs\":{\"in\":{\"from\":\"read.bytes\",\"mode\":\"each\"}},\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"none\":\"eat.out\"}}",
		name, items);
	job = job_in(dir, text);
	free(text);
	free(items);
	free(path);
	return job;
}

/*
 * Run a read_eat_job() on 2 slots with this window (0: the default) and
 * check that its first stage read want_bytes: pith's peak RSS before (KiB)
 * and how far the run took it above that. False when the test skipped
 * (VmHWM cannot be reset).
 */
static bool run_peak(struct sandbox *sb, struct job *job, uint64_t window,
		     uint64_t want_bytes, long *ret_before, long *ret_above)
{
	struct engine_report rep;
	struct err e = {};
	long peak;
	int r;

	if (!reset_peak())
		SKIP(return false, "cannot reset VmHWM (/proc/self/clear_refs)");
	*ret_before = peak_kib();
	r = engine_run(job,
		       &(struct engine_opts){ .sandbox = sb, .parallel = 2,
					      .window = window },
		       &rep, &e);
	peak = peak_kib();
	ASSERT_EQ(0, r) TH_LOG("%s", e.msg);
	ASSERT_TRUE(rep.ok) TH_LOG("%s", rep.error);
	EXPECT_EQ(want_bytes, rep.stages[0].bytes_out);
	engine_report_done(&rep);
	*ret_above = peak - *ret_before;
	return true;
}

#define BIG_MIB 8
#define BIG_READS 256 /* 2 GiB in all */

/*
 * file.read streams 256 reads of an 8 MiB file (2 GiB) into an `each`
 * stage that keeps nothing: pith's peak RSS stays within the window plus
 * what the running instances and the items in flight hold, however much
 * passes through.
 */
TEST_F(stream, two_gib_pass_through_a_64_mib_window_in_bounded_memory)
{
	char *dir = t_tmpdir();
	struct job *job;
	long before, above;

	ASSERT_NE(NULL, dir);
	job = read_eat_job(dir, "big", (size_t)BIG_MIB << 10, BIG_READS);
	ASSERT_NE(NULL, job);
	if (!run_peak(self->sb, job, 64ull << 20,
		      (uint64_t)BIG_READS * (BIG_MIB << 20), &before, &above))
		goto out;
	TH_LOG("2 GiB through a 64 MiB window: peak RSS %ld MiB above the %ld MiB before",
	       above >> 10, before >> 10);
	/* The bound of Documentation/architecture.md: the window (fetched
	 * and in flight) + the items of the running instances (2 * 8 MiB)
	 * + 16 MiB for everything else (rings, tables, pool slack). */
	EXPECT_LT(above, (64 + 2 * BIG_MIB + 16) << 10);
out:
	job_free(job);
	t_rm_rf(dir);
	free(dir);
}

#define MID_KIB 128
#define MID_READS 2048 /* 256 MiB in all */

/*
 * Without --window the window is what compute can absorb: 48 items per
 * instance slot at their average size (here 2 * 48 * 128 KiB = 12 MiB),
 * not the 64 MiB cap, and the buffer pool keeps no more than it: 256 MiB
 * of 128 KiB reads pass through an `each` stage with pith's peak RSS below
 * twice the compute-sized window (fetched, and released for reuse) plus
 * the running instances' items and the same 16 MiB for everything else.
 */
TEST_F(stream, default_window_is_sized_by_the_compute_slots)
{
	char *dir = t_tmpdir();
	struct job *job;
	long before, above;

	ASSERT_NE(NULL, dir);
	job = read_eat_job(dir, "mid", MID_KIB, MID_READS);
	ASSERT_NE(NULL, job);
	if (!run_peak(self->sb, job, 0, (uint64_t)MID_READS * (MID_KIB << 10),
		      &before, &above))
		goto out;
	TH_LOG("256 MiB of 128 KiB reads, default window: peak RSS %ld MiB above the %ld MiB before",
	       above >> 10, before >> 10);
	EXPECT_LT(above, 2 * (2 * ENGINE_WINDOW_ITEMS_PER_SLOT * MID_KIB) +
				 2 * MID_KIB + (16 << 10));
out:
	job_free(job);
	t_rm_rf(dir);
	free(dir);
}

/*
 * n files f<i> of "<c>x<i>" (c = letter(i), so split makes c % 4 items
 * of each, and none spins) in dir, read by file.read, then split `each` by
 * `each` of two tags (two instances per file: their numbering has a stride),
 * then forwarded by one `all` instance.
 */
static struct job *read_split_job(const char *dir, size_t n)
{
	size_t cap = n * 48 + 16, o = 0;
	char *items = malloc(cap), *text;
	struct job *job;

	o += (size_t)snprintf(items + o, cap - o, "[");
	for (size_t i = 0; i < n; i++) {
		char *path = t_strdupf("%s/f%zu", dir, i);
		char *data = t_strdupf("%cx%zu", letter(i), i);
		int r = t_write_file(path, data, strlen(data));

		free(path);
		free(data);
		if (r < 0) {
			free(items);
			return NULL;
		}
		o += (size_t)snprintf(items + o, cap - o,
				      "%s{\"name\":\"r%zu\",\"data\":\"f%zu\"}",
				      i ? "," : "", i, i);
	}
	snprintf(items + o, cap - o, "]");
	text = t_strdupf(
		"{\"version\":1,\"name\":\"ooo\","
		"\"functions\":{\"split\":{\"binary\":\"%%1$s/split\",\"memory\":\"1MiB\"},"
		"\"forward\":{\"binary\":\"%%1$s/forward\",\"memory\":\"4MiB\"}},"
		"\"inputs\":{\"paths\":%s,\"tags\":[{\"name\":\"t0\",\"data\":\"0\"},{\"name\":\"t1\",\"data\":\"1\"}]},"
		"\"stages\":["
		"{\"name\":\"read\",\"io\":\"file.read\",\"inputs\":{\"in\":{\"from\":\"paths\"}},\"outputs\":[\"bytes\"]},"
		"{\"name\":\"b\",\"function\":\"split\",\"inputs\":{\"in\":{\"from\":\"read.bytes\",\"mode\":\"each\"},\"tag\":{\"from\":\"tags\",\"mode\":\"each\"}},\"outputs\":[\"out\"]},"
		"{\"name\":\"c\",\"function\":\"forward\",\"inputs\":{\"in\":{\"from\":\"b.out\",\"mode\":\"all\"}},\"outputs\":[\"out\"]}],"
		"\"outputs\":{\"split\":\"b.out\",\"all\":\"c.out\"}}",
		items);
	job = job_in(dir, text);
	free(text);
	free(items);
	return job;
}

/* What read_split_job()'s outputs must be: file by file, tag by tag, the
 * items split made, whatever order anything ran in. */
static char *read_split_want(size_t n)
{
	size_t cap = n * 2 * 3 * 32 + 1, o = 0;
	char *t = malloc(cap);

	t[0] = 0;
	for (size_t i = 0; i < n; i++) {
		char c = letter(i);

		for (unsigned tag = 0; tag < 2; tag++)
			for (unsigned j = 0; j < (unsigned char)c % 4; j++)
				o += (size_t)snprintf(t + o, cap - o,
						      "r%zu.%u=%cx%zu%c;", i, j,
						      c, i, (char)('0' + j));
	}
	return t;
}

#define OOO_FILES 80

/*
 * An `each` instance starts as soon as its item is read, ahead of items
 * read before it but not collected yet (the hook collects the reads in a
 * random order), and still every output is the same, byte for byte and in
 * the same order, as the order of the job file says.
 */
TEST_F(stream, instances_start_out_of_order_and_outputs_stay_in_order)
{
	char *dir = t_tmpdir(), *want = read_split_want(OOO_FILES);
	struct job *job;
	size_t ahead = 0;

	ASSERT_NE(NULL, dir);
	job = read_split_job(dir, OOO_FILES);
	ASSERT_NE(NULL, job);
	for (uint32_t seed = 0; seed < 8; seed++) {
		struct engine_report rep;
		const struct stage_report *rd, *b;
		uint64_t latest = 0;

		ASSERT_EQ(0, run_job(self->sb, job, 2, seed * 2654435761u,
				     &rep));
		ASSERT_TRUE(rep.ok) TH_LOG("%s", rep.error);
		for (size_t k = 0; k < 2; k++) {
			char *got = set_text(rep.outputs[k]);

			EXPECT_STREQ(want, got) TH_LOG("seed %u, output %zu", seed, k);
			free(got);
		}
		/* Instance i of b (file i / 2) started before some earlier
		 * file's read was collected: out of order. */
		rd = &rep.stages[0];
		b = &rep.stages[1];
		ASSERT_EQ(2 * OOO_FILES, b->n_instances);
		for (size_t i = 0; i < b->n_instances; i++) {
			if (i % 2 == 0 && i >= 2)
				latest = MAX(latest, instance_end_ns(rd, i / 2 - 1));
			ahead += instance_start_ns(b, i) < latest;
		}
		engine_report_done(&rep);
	}
	TH_LOG("%zu instances of 1,280 started ahead of an earlier item", ahead);
	EXPECT_LT(0, ahead);
	job_free(job);
	t_rm_rf(dir);
	free(dir);
	free(want);
}

#define GATE_PASS 40
#define GATE_BODY 65536
#define GATE_OUT "1 (no extra)" /* optional's output for one item */

/*
 * The first response comes only after the 40 behind it (a server holding
 * it until it has sent them, or 10 s): their `each` instances start while
 * it is late, rather than waiting in their slots for it. The window (1
 * MiB: 16 of these 64 KiB bodies, one of them the late one's share) lets
 * the 40th request go only once at least 25 of the others were consumed,
 * so this holds however loaded the machine: before, the items waited for
 * the first in their slots, filled the window, the 40th request never
 * went, and the server gave up holding the first after 10 s. The
 * instances (optional) make a small item each: what waits behind the late
 * item counts against the window too (since round 11), so instances
 * making 64 KiB each (upper's) would fill it as the bodies did.
 */
TEST_F(stream, a_late_first_response_does_not_hold_back_the_items_behind_it)
{
	size_t cap = (GATE_PASS + 1) * 160 + 64, o = 0, before = 0;
	uint64_t late_ms;
	char *items = malloc(cap);
	const struct stage_report *fetch, *up;
	struct engine_report rep;
	struct job *job;
	struct err e = {};
	unsigned port;
	pid_t srv;
	int r;

	if (t_hostile_start(&srv, &port) < 0)
		SKIP(free(items); return, "python3 cannot run tests/servers/hostile.py (tools/deps.sh test)");
	o += (size_t)snprintf(items + o, cap - o, "[");
	for (size_t i = 0; i <= GATE_PASS; i++) {
		char path[64];

		if (i == 0)
			snprintf(path, sizeof(path), "/gate/g/%d/%d", GATE_PASS,
				 GATE_BODY);
		else
			snprintf(path, sizeof(path), "/pass/g/%d", GATE_BODY);
		o += (size_t)snprintf(items + o, cap - o,
				      "%s{\"name\":\"%03zu\",\"data\":\"GET http://127.0.0.1:%u%s HTTP/1.1\\r\\n\\r\\n\"}",
				      i ? "," : "", i, port, path);
	}
	snprintf(items + o, cap - o, "]");
	job = fetch_each_job("gate", "optional", 0, port, items);
	free(items);
	ASSERT_NE(NULL, job);
	r = engine_run(job,
		       &(struct engine_opts){ .sandbox = self->sb,
					      .parallel = 2,
					      .window = 1ull << 20 },
		       &rep, &e);
	t_hostile_stop(srv);
	ASSERT_EQ(0, r) TH_LOG("%s", e.msg);
	ASSERT_TRUE(rep.ok) TH_LOG("%s", rep.error);
	fetch = &rep.stages[0];
	up = &rep.stages[1];
	ASSERT_EQ(GATE_PASS + 1, up->n_instances);
	/* In order all the same: 000, 001, ... */
	ASSERT_EQ(GATE_PASS + 1, rep.outputs[0]->n);
	for (size_t i = 0; i <= GATE_PASS; i++) {
		char name[8];

		const struct item *it = &rep.outputs[0]->items[i];
		const char *p;

		snprintf(name, sizeof(name), "%03zu", i);
		EXPECT_STREQ(name, it->name);
		ASSERT_EQ(0, item_data(it, (const void **)&p));
		EXPECT_EQ(0, memcmp(p, GATE_OUT, MIN(it->len, sizeof(GATE_OUT))));
		EXPECT_EQ(sizeof(GATE_OUT) - 1, it->len);
	}
	for (size_t i = 1; i <= GATE_PASS; i++)
		before += instance_start_ns(up, i) < instance_end_ns(fetch, 0);
	late_ms = (instance_end_ns(fetch, 0) - fetch->t0_ns) / 1000000;
	TH_LOG("%zu of %d instances started before the first response came, %" PRIu64 " ms after the stage began",
	       before, GATE_PASS, late_ms);
	EXPECT_LE(GATE_PASS - 15, before);
	EXPECT_GT(8000, late_ms) TH_LOG("the server gave up holding it");
	engine_report_done(&rep);
	job_free(job);
}

#define FAR_N 320
#define FAR_MS 1000
#define FAR_BODY 65536

/* GET /most/KEY of the hostile server: the most /delay/KEY requests it
 * held at once; -1 on error. */
static long far_most(unsigned port, const char *key)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char req[128], resp[512];
	size_t have = 0;
	const char *body;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int n;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	n = snprintf(req, sizeof(req),
		     "GET /most/%s HTTP/1.1\r\nConnection: close\r\n\r\n", key);
	if (write(fd, req, (size_t)n) != n)
		goto fail;
	while (have < sizeof(resp) - 1) {
		ssize_t r = read(fd, resp + have, sizeof(resp) - 1 - have);

		if (r <= 0)
			break;
		have += (size_t)r;
		resp[have] = '\0';
		if ((body = strstr(resp, "\r\n\r\n")) && body[4])
			break;
	}
	close(fd);
	resp[have] = '\0';
	body = strstr(resp, "\r\n\r\n");
	return body ? strtol(body + 4, NULL, 10) : -1;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* A fetch_each_job() of n requests "000", "001", ... for
 * /delay/KEY/MS/BODY of the hostile server on port, the first one
 * first_ms late instead; NULL when out of memory. */
static struct job *late_job(const char *name, const char *fn,
			    unsigned concurrency, unsigned port, size_t n,
			    const char *key, int first_ms, int ms, int body)
{
	size_t cap = n * 160 + 64, o = 0;
	char *items = malloc(cap);
	struct job *job;

	if (!items)
		return NULL;
	o += (size_t)snprintf(items + o, cap - o, "[");
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(items + o, cap - o,
				      "%s{\"name\":\"%03zu\",\"data\":\"GET http://127.0.0.1:%u/delay/%s/%d/%d HTTP/1.1\\r\\n\\r\\n\"}",
				      i ? "," : "", i, port, key, i ? ms : first_ms,
				      body);
	snprintf(items + o, cap - o, "]");
	job = fetch_each_job(name, fn, concurrency, port, items);
	free(items);
	return job;
}

/* A late_job() of n requests all MS late. */
static struct job *delay_job(const char *name, const char *fn,
			     unsigned concurrency, unsigned port, size_t n,
			     const char *key, int ms, int body)
{
	return late_job(name, fn, concurrency, port, n, key, ms, ms, body);
}

/* n requests of FAR_BODY bytes, each answered FAR_MS late, read by
 * `each` instances of upper on one slot, with this window (0: the
 * default): the most the server held at once. */
static long far_run(struct sandbox *sb, uint64_t window, const char *key,
		    size_t n)
{
	struct engine_report rep;
	struct job *job;
	struct err e = {};
	unsigned port;
	pid_t srv;
	long most;
	int r;

	if (t_hostile_start(&srv, &port) < 0)
		return -2;
	job = delay_job("far", "upper", 256, port, n, key, FAR_MS, FAR_BODY);
	if (!job) {
		t_hostile_stop(srv);
		return -1;
	}
	r = engine_run(job,
		       &(struct engine_opts){ .sandbox = sb, .parallel = 1,
					      .window = window },
		       &rep, &e);
	most = far_most(port, key);
	t_hostile_stop(srv);
	job_free(job);
	EXPECT_EQ(0, r) TH_LOG("%s", e.msg);
	if (r == 0) {
		const struct stage_report *up = &rep.stages[1];
		uint64_t ns = 0;

		EXPECT_TRUE(rep.ok) TH_LOG("%s", rep.error);
		EXPECT_EQ((uint64_t)n * FAR_BODY, up->bytes_out);
		for (size_t i = 0; i < up->n_instances; i++)
			ns += instance_end_ns(up, i) - instance_start_ns(up, i);
		/* The window grows while an instance takes less than
		 * FAR_MS / the window's items (Little's law, win_adapt()). */
		if (up->n_instances)
			TH_LOG("%s: upper's instances took %.2f ms on average (wall)",
			       key, (double)ns / (double)up->n_instances / 1e6);
		engine_report_done(&rep);
	}
	return most;
}

/*
 * A server 1 s away, compute of one slot that takes each 64 KiB body in
 * well under a millisecond: the default window starts from 48 items per
 * CPU (48 here) and grows while compute idles with it full of requests
 * (round 8: at 20 ms, 96 requests in flight bounded the thesis' fetch),
 * so more than 48 requests wait at the server at once. --window still
 * fixes it: 48 items' worth lets at most 48 be in flight.
 * The window grows only while an instance takes less than the round trip
 * over its items (win_adapt(): 20 ms here). At 100 ms that was 2 ms of
 * wall time, which a machine at load 12 did not give one instance (42 in
 * flight); at 1 s compute is not the bound unless an instance waits
 * 20 ms for the CPU. The fixed window needs only three of its windows'
 * worth of requests to show its bound.
 */
TEST_F(stream, a_far_server_gets_more_requests_in_flight_than_the_base_window)
{
	long grown, fixed;

	grown = far_run(self->sb, 0, "d", FAR_N);
	if (grown == -2)
		SKIP(return, "python3 cannot run tests/servers/hostile.py (tools/deps.sh test)");
	fixed = far_run(self->sb,
			(uint64_t)ENGINE_WINDOW_ITEMS_PER_SLOT * FAR_BODY, "f",
			3 * ENGINE_WINDOW_ITEMS_PER_SLOT);
	TH_LOG("requests at the server at once: %ld with the default window, %ld with --window of %d items",
	       grown, fixed, ENGINE_WINDOW_ITEMS_PER_SLOT);
	EXPECT_LT(ENGINE_WINDOW_ITEMS_PER_SLOT, grown);
	EXPECT_LT(0, fixed);
	EXPECT_GE(ENGINE_WINDOW_ITEMS_PER_SLOT, fixed);
}

/* Run `job` (fetching from the hostile server srv) with opts on sb, then
 * stop srv and free job. NULL when it ran well with n instances in its
 * second stage (the caller then has rep to read and let go), else why. */
static const char *hostile_run(struct sandbox *sb, struct job *job, pid_t srv,
			       struct engine_opts opts, size_t n,
			       struct engine_report *rep)
{
	static char why[ERR_MAX + 64];
	struct err e = {};
	int r;

	opts.sandbox = sb;
	r = engine_run(job, &opts, rep, &e);
	t_hostile_stop(srv);
	job_free(job);
	if (r < 0) {
		snprintf(why, sizeof(why), "engine: %s", e.msg);
		return why;
	}
	if (rep->ok && rep->stages[1].n_instances == n)
		return NULL;
	snprintf(why, sizeof(why), "%zu of %zu instances: %s",
		 rep->stages[1].n_instances, n, rep->error);
	engine_report_done(rep);
	return why;
}

#define HELD_N 384
#define HELD_BODY 60000 /* under PITH_PAGE_ITEM_MIN: copied to the instance */
#define HELD_CONCURRENCY 4

struct held {
	uint64_t base, peak; /* store_stats.bytes_held once ingested, the most since */
	uint64_t binaries;   /* the most bytes of the function's binary buffers */
};

static void held_ingested(void *data)
{
	struct held *h = data;

	h->base = h->peak = store_stats.bytes_held;
}

/* The size of the store's buffers of function binaries (memfds named
 * for them): what they may hold of the store's bytes. */
static uint64_t binaries_bytes(void)
{
	static const char name[] = "/memfd:pith:binaries";
	DIR *d = opendir("/proc/self/fd");
	uint64_t bytes = 0;
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char link[256];
		struct stat sb;
		ssize_t l = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);

		if (l < 0)
			continue;
		link[l] = 0;
		if (!strncmp(link, name, sizeof(name) - 1) &&
		    !fstat(atoi(de->d_name), &sb))
			bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
	return bytes;
}

/* After each event of the run (an item fetched, an instance collected). */
static void held_progress(void *data, const struct engine_progress *p)
{
	struct held *h = data;

	(void)p;
	h->peak = MAX(h->peak, store_stats.bytes_held);
	h->binaries = MAX(h->binaries, binaries_bytes());
}

/*
 * What the store holds for a streamed fetch follows the items the window
 * lets live, not the arena's chunks: 384 bodies of 60,000 bytes, 4 in
 * flight, each read by split (which keeps nothing), pass with the store's
 * held bytes (what --max-store counts), after every item fetched and every
 * instance collected, never above what the window allows:
 * - its most items (its base of 48 per CPU, one CPU here, and the 4 the
 *   fetch can have in flight beyond it) and the running instance's, each
 *   in whole pages;
 * - the responses' heads (a few hundred bytes each, nobody reads them),
 *   in chunks of ARENA_ITEM_CHUNK: a chunk stays until every head in it
 *   is delivered and each delivery closes the chunk being filled, so the
 *   one being filled and one per request in flight;
 * - the function's binary, loaded as compute starts (after the inputs);
 * - 256 KiB of the sets' entries.
 * Before round 9 the responses went into a 64 MiB chunk of the arena,
 * charged whole while it took responses (a --max-store of 100 MiB failed
 * the thesis job's fetch), whose pages stayed until the last of its items
 * was consumed: the bodies here (22 MiB) fill chunks of 1, 2, 4, 8 and
 * 16 MiB. Round 10's bound of 16 requests in flight allowed one chunk of
 * heads and no binary, and failed under load: 3.4-5.1 MiB against
 * 5,180 KiB, the window full under load (48 items), 1-3 chunks of heads
 * and the binary's 1 MiB (Documentation/benchmarks/tests.md, round 11).
 */
TEST_F(stream, a_streamed_fetch_holds_the_items_its_window_lets_live_not_chunks)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), bound;
	struct engine_report rep;
	struct held h = {};
	const char *why;
	struct job *job;
	unsigned port;
	pid_t srv;

	if (t_hostile_start(&srv, &port) < 0)
		SKIP(return, "python3 cannot run tests/servers/hostile.py (tools/deps.sh test)");
	job = delay_job("held", "split", HELD_CONCURRENCY, port, HELD_N, "h", 2,
			HELD_BODY);
	if (!job)
		t_hostile_stop(srv);
	ASSERT_NE(NULL, job);
	why = hostile_run(self->sb, job, srv,
			  (struct engine_opts){ .parallel = 1,
						.ingested = held_ingested,
						.ingested_data = &h,
						.progress = held_progress,
						.progress_data = &h },
			  HELD_N, &rep);
	ASSERT_EQ(NULL, why) TH_LOG("%s", why);
	engine_report_done(&rep);
	bound = (ENGINE_WINDOW_ITEMS_PER_SLOT + HELD_CONCURRENCY + 1) *
			ALIGN_UP((uint64_t)HELD_BODY, page) +
		(HELD_CONCURRENCY + 1) * ARENA_ITEM_CHUNK + h.binaries +
		(256 << 10);
	TH_LOG("the store held at most %" PRIu64 " KiB more than its job's inputs (bound %" PRIu64 " KiB, of it %" PRIu64 " KiB the binary's)",
	       (h.peak - h.base) >> 10, bound >> 10, h.binaries >> 10);
	EXPECT_LT(0, h.base);
	EXPECT_LT(0, h.binaries);
	EXPECT_GE(bound, h.peak - h.base);
}

#define FDS_LIMIT 128
#define FDS_N 600
#define FDS_BODY 100000 /* over PITH_PAGE_ITEM_MIN: shared by descriptor */
#define FDS_CONCURRENCY 16
#define FDS_WINDOW (8ull << 20)

struct fds {
	long most, store; /* descriptors open, the store's of them: the most */
	uint64_t in_use;  /* store_stats.fds_in_use: the most */
};

/* After each event: the descriptors open, and those of the store's
 * buffers of the job (memfds named for it: "pith:fds"). */
static void fds_progress(void *data, const struct engine_progress *p)
{
	struct fds *f = data;
	long all, store = t_fds_linked("/memfd:pith:fds", 1024, &all);

	(void)p;
	f->most = MAX(f->most, all);
	f->store = MAX(f->store, store);
	f->in_use = MAX(f->in_use, store_stats.fds_in_use);
}

/*
 * Under a low RLIMIT_NOFILE (soft and hard: pith raises the soft one), a
 * streamed fetch of bodies a consumer maps (so each shared body holds a
 * read-only descriptor besides its own) ends well and leaves most
 * descriptors to the sockets and the workers: the bodies get buffers of
 * their own only while the store's descriptors in use are under half the
 * limit (the window keeps the items under a quarter), the pool keeps at most an eighth idle, and the rest share
 * chunks (a descriptor, and a read-only one, per 1 MiB). Before, the store
 * counted buffers, not descriptors, and the pool kept up to 256 idle
 * whatever the limit: the thesis job at N = 100,000 under ulimit -n 1024
 * filled all 1,024 (708 of them memfds) and failed in about half its runs
 * (here main came to 125-127 of the 128, the store's 70-72).
 */
TEST_F(stream, a_streamed_fetch_of_mapped_bodies_keeps_within_a_low_descriptor_limit)
{
	struct rlimit rl = { FDS_LIMIT, FDS_LIMIT };
	struct engine_report rep;
	const char *why;
	struct job *job;
	unsigned port;
	struct fds f = {};
	pid_t srv;

	if (t_hostile_start(&srv, &port) < 0)
		SKIP(return, "python3 cannot run tests/servers/hostile.py (tools/deps.sh test)");
	job = delay_job("fds", "split", FDS_CONCURRENCY, port, FDS_N, "n", 0,
			FDS_BODY);
	if (!job)
		t_hostile_stop(srv);
	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	why = hostile_run(self->sb, job, srv,
			  (struct engine_opts){ .parallel = 1,
						.window = FDS_WINDOW,
						.progress = fds_progress,
						.progress_data = &f },
			  FDS_N, &rep);
	TH_LOG("at most %ld descriptors open of %d, %ld of them the store's",
	       f.most, FDS_LIMIT, f.store);
	ASSERT_EQ(NULL, why) TH_LOG("%s", why);
	engine_report_done(&rep);
	EXPECT_LT(0, f.store);
	EXPECT_GE(FDS_LIMIT / 2 + FDS_LIMIT / 8, f.store);
}

#define LATE_N 1500
#define LATE_MS 1500

/*
 * The first request answered 1.5 s late, the 1,499 after it at once: every
 * later item waits in its slot until the first joins (their bodies are
 * taken ahead by their instances), and the heads nobody reads go as they
 * arrive, so the store's descriptors stay few. Before, each waiting item
 * kept its head, in a 1 MiB chunk of its own (the chunk being filled is
 * closed at each delivery): 451-479 buffers here, and the thesis job at N =
 * 100,000 under ulimit -n 1024 ran out of descriptors whenever a request
 * came a second late.
 */
TEST_F(stream, items_waiting_for_a_late_one_hold_no_descriptor_for_their_unread_heads)
{
	struct engine_report rep;
	const char *why;
	struct fds f = {};
	struct job *job;
	unsigned port;
	pid_t srv;

	if (t_hostile_start(&srv, &port) < 0)
		SKIP(return, "python3 cannot run tests/servers/hostile.py (tools/deps.sh test)");
	job = late_job("fds", "split", 16, port, LATE_N, "l", LATE_MS, 0, 65536);
	if (!job)
		t_hostile_stop(srv);
	ASSERT_NE(NULL, job);
	why = hostile_run(self->sb, job, srv,
			  (struct engine_opts){ .parallel = 2,
						.progress = fds_progress,
						.progress_data = &f },
			  LATE_N, &rep);
	ASSERT_EQ(NULL, why) TH_LOG("%s", why);
	engine_report_done(&rep);
	TH_LOG("the store's buffers in use held at most %" PRIu64 " descriptors (main: 451-479 buffers)",
	       f.in_use);
	/* The window's items (48 per CPU of compute, 2 here, and the 16 in
	 * flight), a body each, and room for the heads' chunks and the
	 * instances' read-only descriptors. */
	EXPECT_GE(2 * ENGINE_WINDOW_ITEMS_PER_SLOT + 16 + 32, f.in_use);
}

#define BEHIND_N 12000
#define BEHIND_MS 2000
#define BEHIND_BODY 64

struct behind {
	uint64_t base, heap, most; /* heap once ingested, its most, behind's */
	size_t most_n;
};

static void behind_ingested(void *data)
{
	struct behind *b = data;

	b->base = b->heap = t_heap_used();
}

static void behind_progress(void *data, const struct engine_progress *p)
{
	struct behind *b = data;

	b->heap = MAX(b->heap, t_heap_used());
	b->most = MAX(b->most, p->behind);
	b->most_n = MAX(b->most_n, (size_t)p->behind_n);
}

/*
 * The first of 12,000 requests answered 2 s late, the others at once: the
 * items after it are fetched and their instances run, but their outputs
 * (and the fetch's) wait in their slots until it joins. What waits so
 * counts against the window: fetching stops once it fills it, and goes
 * on when the late one comes; every output arrives, in order. Before
 * round 11 all 11,999 were fetched and waited (a 10 s late response grew
 * the thesis job's heap to 250 MiB at N = 100,000).
 */
TEST_F(stream, outputs_behind_a_late_item_wait_within_the_window)
{
	struct rlimit rl = { 1024, 1024 };
	struct engine_report rep;
	struct behind b = {};
	const struct set *out;
	uint64_t grew, bound;
	const char *why;
	struct job *job;
	unsigned port;
	pid_t srv;
	bool order = true;

	if (t_hostile_start(&srv, &port) < 0)
		SKIP(return, "python3 cannot run tests/servers/hostile.py (tools/deps.sh test)");
	job = late_job("behind", "upper", 16, port, BEHIND_N, "b", BEHIND_MS, 0,
		       BEHIND_BODY);
	if (!job)
		t_hostile_stop(srv);
	ASSERT_NE(NULL, job);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	why = hostile_run(self->sb, job, srv,
			  (struct engine_opts){ .parallel = 2,
						.ingested = behind_ingested,
						.ingested_data = &b,
						.progress = behind_progress,
						.progress_data = &b },
			  BEHIND_N, &rep);
	ASSERT_EQ(NULL, why) TH_LOG("%s", why);
	out = rep.outputs[0];
	for (size_t i = 0; i < out->n && order; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%03zu", i);
		order = !strcmp(out->items[i].name, name) &&
			out->items[i].len == BEHIND_BODY;
	}
	grew = b.heap - b.base;
	TH_LOG("behind the late item: at most %zu slots, %" PRIu64 " KiB; the heap grew %" PRIu64 " KiB",
	       b.most_n, b.most >> 10, grew >> 10);
	EXPECT_EQ(BEHIND_N, out->n);
	EXPECT_TRUE(order);
	/* The window in force is its least here (64-byte items): what waits
	 * fills it, and the items fetched when it filled add their own (16
	 * in flight, and those not consumed yet: the window's items, at most
	 * 256 under a RLIMIT_NOFILE of 1,024). */
	EXPECT_LT(0, b.most);
	EXPECT_GE(2 * ENGINE_WINDOW_MIN, b.most);
	EXPECT_GT(BEHIND_N / 2, b.most_n);
	/* The heap: that, and what the job keeps of each of its 12,000
	 * items (the output set's entries, names and bytes, the reports:
	 * 180 bytes each measured, 320 allowed). With the gate off: 23,998
	 * slots, 5,428 KiB, the heap +9,817 KiB against this bound of
	 * 5,798 KiB. */
	bound = 2 * ENGINE_WINDOW_MIN + BEHIND_N * 320ull;
	EXPECT_GE(bound, grew) TH_LOG("bound %" PRIu64 " KiB", bound >> 10);
	engine_report_done(&rep);
}

TEST_HARNESS_MAIN
