// SPDX-License-Identifier: MIT
/*
 * Drivers (PITH_DRIVERS, sandbox/driver.c), attacked: warm instances run by
 * a driver thread with a sandbox of its own on another CPU. The reset
 * probe (tests/security/fn/reset.c) poisons every place it can reach in
 * batches of four instances at once (two stay on the caller's thread, two
 * go to the driver), then checks in batches of four: every check equals
 * what an instance finds in a fresh worker, also in the driver's reused
 * workers. Instances of two owners, interleaved, never share a worker,
 * whichever thread runs it. A driven instance that crashes, times out, is
 * killed or is freed while it runs ends its worker with the usual reason,
 * and the next one gets a clean worker. The callers free their input sets
 * as soon as sandbox_spawn() returns, as t_reset_probe() does.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "lib/clock.h"
#include "sandbox/internal.h"
#include "security/t_sandbox.h"

#define BATCH 4
#define ROUNDS 300

/* Spawn the probe in `mode` for `owner`, warm or fresh; the input set is
 * freed here. */
static struct sandbox_proc *spawn_as(struct sandbox *sb, const char *mode,
				     uint32_t owner, uint64_t timeout_ms,
				     bool fresh)
{
	struct sandbox_request req = t_reset_request(false, timeout_ms, fresh);
	struct sandbox_proc *p = NULL;
	struct err e = { { 0 } };
	char data[64];
	struct set *in;

	snprintf(data, sizeof(data), "%c%c%s", mode[0],
		 getauxval(AT_HWCAP2) & (1 << 1) ? 'F' : '-', mode + 1);
	in = t_text_set("in", "mode", data);
	req.inputs = &in;
	req.owner = owner;
	if (sandbox_spawn(sb, &req, &p, &e) < 0) {
		fprintf(stderr, "# sandbox_spawn: %s\n", e.msg);
		p = NULL;
	}
	set_free(in);
	return p;
}

static struct sandbox_proc *spawn(struct sandbox *sb, const char *mode,
				  uint32_t owner, uint64_t timeout_ms)
{
	return spawn_as(sb, mode, owner, timeout_ms, false);
}

FIXTURE(drv)
{
	struct sandbox *sb;
	bool held;
	struct t_found fresh;
};

FIXTURE_VARIANT(drv)
{
	bool guard;
};

FIXTURE_VARIANT_ADD(drv, without_the_ebpf_guard) { .guard = false };
FIXTURE_VARIANT_ADD(drv, with_the_ebpf_guard) { .guard = true };

FIXTURE_SETUP(drv)
{
	/* The reset probe runs ~0.5 ms: longer than pith drives by default. */
	struct sandbox_opts o = { .no_guard = !variant->guard,
				  .drive_all = true };
	struct err e = { { 0 } };
	cpu_set_t cpus;

	if (sched_getaffinity(0, sizeof(cpus), &cpus) < 0 ||
	    CPU_COUNT(&cpus) < 2)
		SKIP(return, "drivers need two CPUs (taskset keeps them off)");
	setenv("PITH_DRIVERS", "1", 1);
	ASSERT_EQ(0, sandbox_new(&o, &self->sb, &e)) TH_LOG("%s", e.msg);
	unsetenv("PITH_DRIVERS");
	if (!t_layer_active(self->sb, "warm-workers"))
		SKIP(return, "warm workers are off on this host");
	if (variant->guard) {
		if (!t_layer_active(self->sb, "bpf-syscall"))
			SKIP(return, "no eBPF guard here (needs root and a cgroup v2 leaf)");
		ASSERT_EQ(0, sandbox_hold(self->sb, &e)) TH_LOG("%s", e.msg);
		self->held = true;
	}
	/* The reference: an instance in a fresh worker, on this thread. */
	self->fresh = t_reset_check(self->sb, false, "c", false);
	ASSERT_TRUE(self->fresh.ok) TH_LOG("%s", self->fresh.reason);
	ASSERT_LT(0, self->fresh.len);
}

FIXTURE_TEARDOWN(drv)
{
	free(self->fresh.bytes);
	if (self->held)
		sandbox_release(self->sb);
	sandbox_free(self->sb);
}

/* BATCH instances of `mode` at once, to their end; how many were driven.
 * "c": each report must equal the fresh worker's (why: the first field
 * that differs). pids: the workers', when not NULL. */
static int batch(FIXTURE_DATA(drv) *self, const char *mode, uint32_t owner,
		 pid_t *pids, char *why, size_t len)
{
	struct sandbox_proc *p[BATCH];
	int driven = 0;

	why[0] = 0;
	for (int i = 0; i < BATCH; i++) {
		p[i] = spawn(self->sb, mode, owner, T_TIMEOUT_MS);
		if (!p[i]) {
			snprintf(why, len, "spawn failed");
			while (i--)
				sandbox_proc_free(p[i]);
			return -1;
		}
	}
	for (int i = 0; i < BATCH; i++) {
		int r = t_wait(p[i]);

		driven += sandbox_proc_driven(p[i]);
		if (r != 1 && !why[0])
			snprintf(why, len, "step: %d", r);
		if (!why[0] && sandbox_proc_result(p[i])->status != SANDBOX_OK)
			snprintf(why, len, "%s", t_reason(p[i]));
		if (pids)
			pids[i] = sandbox_proc_pid(p[i]);
		if (mode[0] == 'c' && !why[0]) {
			struct t_found f = t_found_of(p[i]);

			t_reset_differ(&self->fresh, &f, "fresh", why, len);
			free(f.bytes);
		}
		sandbox_proc_free(p[i]);
	}
	return driven;
}

TEST_F(drv, secrets_never_reach_the_next_instance_of_a_driver)
{
	int driven = 0, checks_driven = 0;
	char why[160];

	for (int i = 0; i < ROUNDS; i++) {
		int d = batch(self, "p-a-long-item-whose-tail-must-not-survive",
			      0, NULL, why, sizeof(why));

		ASSERT_STREQ("", why) TH_LOG("poison round %d", i);
		driven += d;
		d = batch(self, "c", 0, NULL, why, sizeof(why));
		ASSERT_STREQ("", why) TH_LOG("check round %d", i);
		driven += d;
		checks_driven += d;
	}
	TH_LOG("%d of %d instances driven, %d checks", driven,
	       2 * ROUNDS * BATCH, checks_driven);
	/* Two of each batch of four go to the driver. */
	EXPECT_LE(ROUNDS / 2, checks_driven);
}

TEST_F(drv, owners_never_share_a_worker_across_threads)
{
	enum { OWN_ROUNDS = 60 };
	pid_t pids[2][OWN_ROUNDS * BATCH];
	int driven = 0;
	char why[160];

	for (int i = 0; i < OWN_ROUNDS; i++)
		for (uint32_t o = 0; o < 2; o++) {
			int d = batch(self, i % 2 ? "c" : "p", o + 1,
				      &pids[o][i * BATCH], why, sizeof(why));

			ASSERT_STREQ("", why) TH_LOG("round %d owner %u", i, o + 1);
			driven += d;
		}
	EXPECT_LT(0, driven);
	for (int a = 0; a < OWN_ROUNDS * BATCH; a++)
		for (int b = 0; b < OWN_ROUNDS * BATCH; b++)
			ASSERT_NE(pids[0][a], pids[1][b])
				TH_LOG("owners 1 and 2 both ran in worker %d", (int)pids[0][a]);
}

/* Two instances spinning on this thread's side; the third is driven. */
static struct sandbox_proc *driven_one(FIXTURE_DATA(drv) *self,
				       struct sandbox_proc *hold[2],
				       const char *mode, uint64_t timeout_ms)
{
	struct sandbox_proc *p;

	hold[0] = spawn(self->sb, "t", 0, 20000);
	hold[1] = spawn(self->sb, "t", 0, 20000);
	p = spawn(self->sb, mode, 0, timeout_ms);
	return p;
}

static void end_holds(struct sandbox_proc *hold[2])
{
	for (int i = 0; i < 2; i++)
		sandbox_proc_free(hold[i]);
}

/* After a failed driven instance whose worker was `dead`: a batch of
 * checks, none in that worker, all clean. */
static void expect_clean(FIXTURE_DATA(drv) *self, pid_t dead)
{
	pid_t pids[BATCH];
	char why[160];
	int d = batch(self, "c", 0, pids, why, sizeof(why));

	ASSERT_STREQ("", why);
	EXPECT_LT(0, d);
	for (int i = 0; i < BATCH; i++)
		EXPECT_NE(dead, pids[i]) TH_LOG("the failed instance's worker was reused");
}

/* CPU time (µs) the workers of sb's drivers have used: the cpu.stat of
 * the leaves "driver-N" in sb's cgroup; -1 when there is none. */
static long long drivers_cpu_us(struct sandbox *sb)
{
	const char *path = sandbox_cgroup_path(sb);
	long long sum = -1;
	struct dirent *de;
	DIR *dir;

	if (!path || !(dir = opendir(path)))
		return -1;
	while ((de = readdir(dir))) {
		char *stat;
		long long us;
		FILE *f;

		if (strncmp(de->d_name, "driver-", 7))
			continue;
		stat = t_strdupf("%s/%s/cpu.stat", path, de->d_name);
		f = fopen(stat, "re");
		free(stat);
		if (!f)
			continue;
		if (fscanf(f, "usage_usec %lld", &us) == 1)
			sum = (sum < 0 ? 0 : sum) + us;
		fclose(f);
	}
	closedir(dir);
	return sum;
}

/*
 * Wait until the driven instance p runs its function: its driver's
 * workers used 5 ms of CPU more than `from` (drivers_cpu_us() before p was
 * spawned), as the spinning probe does and no worker's set-up does. Only
 * p runs in the driver's leaf meanwhile (the holds stay on this thread).
 * A fixed sleep was not enough under load: the driver had not taken the
 * instance yet, and the kill was "killed before it started". false when
 * p ended first, or after T_TIMEOUT_MS.
 */
static bool driven_runs(struct sandbox *sb, struct sandbox_proc *p,
			long long from)
{
	uint64_t t0 = clock_now_ns();

	while (!sandbox_proc_pending(p) &&
	       clock_now_ns() - t0 < T_TIMEOUT_MS * 1000000ull) {
		if (drivers_cpu_us(sb) - from >= 5000)
			return true;
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
	}
	return false;
}

/* After a clean batch, a driven instance of the spinning probe, once its
 * function runs (driven_runs()); NULL when that cannot be seen here
 * (skipped). */
static struct sandbox_proc *driven_spinning(FIXTURE_DATA(drv) *self,
					    struct sandbox_proc *hold[2])
{
	struct sandbox_proc *p;
	long long from;

	expect_clean(self, 0);
	from = drivers_cpu_us(self->sb);
	if (from < 0)
		SKIP(return NULL, "no driver's cgroup leaf to see its worker run");
	p = driven_one(self, hold, "t", T_TIMEOUT_MS);
	ASSERT_NE(NULL, p);
	ASSERT_TRUE(sandbox_proc_driven(p));
	ASSERT_FALSE(sandbox_proc_driven(hold[0]) || sandbox_proc_driven(hold[1]));
	ASSERT_TRUE(driven_runs(self->sb, p, from))
		TH_LOG("the driven instance never ran: %s", t_reason(p));
	return p;
}

TEST_F(drv, a_crash_in_a_driver_discards_the_worker)
{
	struct sandbox_proc *hold[2], *p;
	pid_t pid;

	/* Warm the driver's pool first. */
	expect_clean(self, 0);
	p = driven_one(self, hold, "s", T_TIMEOUT_MS);
	ASSERT_NE(NULL, p);
	EXPECT_TRUE(sandbox_proc_driven(p));
	ASSERT_EQ(1, t_wait(p));
	EXPECT_STREQ("segmentation fault", t_reason(p));
	pid = sandbox_proc_pid(p);
	EXPECT_LT(0, pid);
	sandbox_proc_free(p);
	end_holds(hold);
	expect_clean(self, pid);
}

TEST_F(drv, a_timeout_in_a_driver_discards_the_worker)
{
	struct sandbox_proc *hold[2], *p;
	pid_t pid;

	expect_clean(self, 0);
	p = driven_one(self, hold, "t", 300);
	ASSERT_NE(NULL, p);
	EXPECT_TRUE(sandbox_proc_driven(p));
	ASSERT_EQ(1, t_wait(p));
	EXPECT_STREQ("timed out after 300 ms", t_reason(p));
	pid = sandbox_proc_pid(p);
	sandbox_proc_free(p);
	end_holds(hold);
	expect_clean(self, pid);
}

TEST_F(drv, a_kill_in_a_driver_discards_the_worker)
{
	struct sandbox_proc *hold[2], *p;
	pid_t pid;

	p = driven_spinning(self, hold);
	if (!p)
		return;
	sandbox_proc_kill(p);
	ASSERT_EQ(1, t_wait(p));
	EXPECT_STREQ("killed by signal SIGKILL", t_reason(p));
	pid = sandbox_proc_pid(p);
	sandbox_proc_free(p);
	end_holds(hold);
	expect_clean(self, pid);
}

/* Freed while its driver runs it: killed and waited for, no hang, and
 * the next instances are clean. */
TEST_F(drv, freeing_a_running_driven_instance_ends_it)
{
	struct sandbox_proc *hold[2], *p;

	p = driven_spinning(self, hold);
	if (!p)
		return;
	sandbox_proc_free(p);
	end_holds(hold);
	expect_clean(self, 0);
}

/*
 * The thread that hands instances to a driver is kept off the driver's
 * CPU until the job's hold ends, and a lone instance keeps the thread on
 * its own CPU while it lives (place.c). With a lone fresh instance alive
 * when the first hand-over came, the job's end gave the thread that
 * instance's one CPU back instead of its own CPUs: the next job ran on
 * one CPU. Now every CPU it had comes back.
 */
/*
 * The engine's copies of driven requests are reused (driver.c keeps each
 * proxy's job, its sets and arrays, for the next hand-over): every driven
 * instance of `forward` must give back exactly its own request's items,
 * nothing of an earlier request's, though the item counts, names and
 * contents differ from one request to the next and the callers free
 * their sets as soon as sandbox_spawn() returns. alternate: every other
 * request is one its caller keeps until the proc is freed (req.kept, as
 * the engine's): a driver uses its sets as they are, and a job whose
 * last request was copied still holds those (emptied) sets, which must
 * not stand in for the kept request's own. "" or what went wrong; the
 * driven instances in *driven.
 */
static void own_requests(struct sandbox *sb, bool alternate,
			 unsigned *driven, char *why, size_t len)
{
	static const char *const outs[] = { "out" };
	struct elf_image *img = NULL;
	struct err e = { { 0 } };
	char *path = t_strdupf("%s/tests/functions/forward", t_build_dir());
	unsigned seq = 0;

	why[0] = 0;
	*driven = 0;
	if (elf_image_load(-100 /* AT_FDCWD */, path, &img, &e) < 0)
		snprintf(why, len, "%.100s: %.120s", path, e.msg);
	free(path);
	for (int round = 0; round < ROUNDS && !why[0]; round++) {
		struct sandbox_proc *p[BATCH] = { 0 };
		struct set *kept[BATCH] = { 0 };
		unsigned n_items[BATCH], first[BATCH];

		for (int i = 0; i < BATCH && !why[0]; i++) {
			struct sandbox_request req = {
				.image = img,
				.limits = { .memory = T_MEMORY,
					    .timeout_ms = T_TIMEOUT_MS },
				.n_inputs = 1, .outputs = outs, .n_outputs = 1,
				.kept = alternate && (round * BATCH + i) % 2,
			};
			struct set *in = set_new("in");
			char name[32], data[32];

			/* 3, 1, 2, 3, 1, ... items: more, then fewer than
			 * the request before. */
			n_items[i] = 1 + (round * BATCH + i + 2) % 3;
			first[i] = seq;
			for (unsigned k = 0; in && k < n_items[i]; k++, seq++) {
				snprintf(name, sizeof(name), "i%u", seq);
				snprintf(data, sizeof(data), "d%u", seq);
				if (set_add_copy(in, name, false, 0, data,
						 strlen(data)) < 0)
					in = set_free(in);
			}
			/* A kept request's array of sets is kept too. */
			kept[i] = in;
			req.inputs = &kept[i];
			if (!in || sandbox_spawn(sb, &req, &p[i], &e) < 0)
				snprintf(why, len, "spawn: %.200s", e.msg);
			if (!req.kept)
				kept[i] = set_free(in);
		}
		for (int i = 0; i < BATCH && p[i]; i++) {
			size_t n = 0;
			struct set **o = NULL;

			if (t_wait(p[i]) != 1 ||
			    sandbox_proc_result(p[i])->status != SANDBOX_OK) {
				snprintf(why, len, "round %d, instance %d: %.160s",
					 round, i, t_reason(p[i]));
			} else {
				*driven += sandbox_proc_driven(p[i]);
				o = sandbox_proc_take_outputs(p[i], &n);
			}
			if (!why[0] && (n != 1 || o[0]->n != n_items[i]))
				snprintf(why, len,
					 "round %d, instance %d: %zu items, not %u",
					 round, i, n ? o[0]->n : 0, n_items[i]);
			for (unsigned k = 0; !why[0] && k < n_items[i]; k++) {
				char name[32], data[32];
				const void *d;

				snprintf(name, sizeof(name), "i%u", first[i] + k);
				snprintf(data, sizeof(data), "d%u", first[i] + k);
				if (strcmp(name, o[0]->items[k].name) ||
				    item_data(&o[0]->items[k], &d) < 0 ||
				    o[0]->items[k].len != strlen(data) ||
				    memcmp(data, d, strlen(data)))
					snprintf(why, len,
						 "round %d, instance %d: item %u is \"%.40s\", not %s",
						 round, i, k, o[0]->items[k].name,
						 name);
			}
			for (size_t k = 0; k < n; k++)
				set_free(o[k]);
			free(o);
		}
		for (int i = 0; i < BATCH; i++) {
			sandbox_proc_free(p[i]);
			set_free(kept[i]);
		}
	}
	elf_image_free(img);
}

TEST_F(drv, a_driven_instance_sees_only_its_own_request)
{
	unsigned driven = 0;
	char why[256];

	own_requests(self->sb, false, &driven, why, sizeof(why));
	EXPECT_STREQ("", why);
	/* Two of each batch go to the driver once it runs. */
	EXPECT_LT(ROUNDS / 2, driven);
}

TEST_F(drv, kept_and_copied_requests_in_turn_each_see_only_their_own)
{
	unsigned driven = 0;
	char why[256];

	own_requests(self->sb, true, &driven, why, sizeof(why));
	EXPECT_STREQ("", why);
	EXPECT_LT(ROUNDS / 2, driven);
}

static int hog_go, hog_up;

/* Holds its CPU (SCHED_FIFO: no other thread of the normal class runs
 * there) until told to stop, 300 ms at most. */
static void *hog(void *arg)
{
	uint64_t end = clock_now_ns() + 300000000ull;

	(void)arg;
	__atomic_store_n(&hog_up, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&hog_go, __ATOMIC_SEQ_CST) &&
	       clock_now_ns() < end)
		;
	return NULL;
}

/*
 * A driver that sleeps is woken once for the instances handed to it
 * before it runs again (driver_spawn() takes its sleeping flag as it
 * writes its wake-up): the driver's CPU held by a SCHED_FIFO thread, a
 * burst of hand-overs writes one wake-up. With the flag only read, each
 * hand-over until the driver ran wrote one (~0.5 writes per fresh
 * instance on the engine's thread).
 */
TEST_F(drv, a_sleeping_driver_is_woken_once_for_a_burst_of_hand_overs)
{
	struct sched_param sp = { .sched_priority = 1 };
	struct sandbox_proc *p[BATCH];
	cpu_set_t one, rest;
	uint64_t wakes;
	int cpu, driven = 0;
	pthread_attr_t a;
	pthread_t th;
	char why[160];

	ASSERT_LE(0, batch(self, "p", 1, NULL, why, sizeof(why)))
		TH_LOG("%s", why);
	cpu = driver_cpu(self->sb, 0);
	ASSERT_LE(0, cpu) TH_LOG("no driver started");
	/* This thread off the driver's CPU, as the engine's is while it
	 * hands instances over. */
	ASSERT_EQ(0, sched_getaffinity(0, sizeof(rest), &rest));
	CPU_CLR(cpu, &rest);
	if (!CPU_COUNT(&rest))
		SKIP(return, "no CPU besides the driver's");
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(rest), &rest));
	usleep(20000); /* the driver asleep: nothing runs */
	pthread_attr_init(&a);
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, SCHED_FIFO);
	pthread_attr_setschedparam(&a, &sp);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	pthread_attr_setaffinity_np(&a, sizeof(one), &one);
	__atomic_store_n(&hog_go, 1, __ATOMIC_SEQ_CST);
	if (pthread_create(&th, &a, hog, NULL) != 0)
		SKIP(return, "no SCHED_FIFO thread here (needs root)");
	while (!__atomic_load_n(&hog_up, __ATOMIC_SEQ_CST))
		;
	wakes = self->sb->drv_wakes;
	for (int i = 0; i < BATCH; i++)
		p[i] = spawn(self->sb, "p", 1, T_TIMEOUT_MS);
	wakes = self->sb->drv_wakes - wakes;
	__atomic_store_n(&hog_go, 0, __ATOMIC_SEQ_CST);
	pthread_join(th, NULL);
	for (int i = 0; i < BATCH; i++) {
		ASSERT_NE(NULL, p[i]);
		EXPECT_EQ(1, t_wait(p[i]));
		EXPECT_EQ(SANDBOX_OK, sandbox_proc_result(p[i])->status)
			TH_LOG("%s", t_reason(p[i]));
		driven += sandbox_proc_driven(p[i]);
		sandbox_proc_free(p[i]);
	}
	ASSERT_LE(2, driven);
	EXPECT_EQ(1, wakes) TH_LOG("%d instances handed over", driven);
}

TEST(the_threads_cpus_come_back_after_a_job_with_both_pins)
{
	struct sandbox_opts o = { .no_guard = true, .drive_all = true };
	struct sandbox_proc *w[2], *f, *h[2], *d;
	cpu_set_t before, now;
	struct sandbox *sb = NULL;
	struct err e = { { 0 } };
	const char *place = getenv("PITH_CPU_PLACEMENT");

	ASSERT_EQ(0, sched_getaffinity(0, sizeof(before), &before));
	if (CPU_COUNT(&before) < 2)
		SKIP(return, "drivers need two CPUs (taskset keeps them off)");
	if (place && !strcmp(place, "off"))
		SKIP(return, "PITH_CPU_PLACEMENT=off: no lone-instance pin");
	/* Every fresh worker from the spawner (the pin's path), none from a
	 * zygote. */
	setenv("PITH_DRIVERS", "1", 1);
	setenv("PITH_ZYGOTE", "off", 1);
	ASSERT_EQ(0, sandbox_new(&o, &sb, &e)) TH_LOG("%s", e.msg);
	unsetenv("PITH_DRIVERS");
	unsetenv("PITH_ZYGOTE");
	if (!t_layer_active(sb, "warm-workers")) {
		sandbox_free(sb);
		SKIP(return, "warm workers are off on this host");
	}
	ASSERT_EQ(0, sandbox_hold(sb, &e)) TH_LOG("%s", e.msg);
	/* Two idle warm workers, so that the instances below reuse them
	 * without a spawn (a spawn beside the lone one would end its pin). */
	for (int i = 0; i < 2; i++)
		ASSERT_NE(NULL, w[i] = spawn(sb, "c", 0, T_TIMEOUT_MS));
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(1, t_wait(w[i]));
		sandbox_proc_free(w[i]);
	}
	/* A lone fresh instance after a lone one: this thread is kept on
	 * its CPU while it lives (not stepped: it lives until freed). */
	ASSERT_NE(NULL, f = spawn_as(sb, "c", 0, T_TIMEOUT_MS, true));
	ASSERT_EQ(1, t_wait(f));
	sandbox_proc_free(f);
	ASSERT_NE(NULL, f = spawn_as(sb, "c", 0, T_TIMEOUT_MS, true));
	ASSERT_EQ(0, sched_getaffinity(0, sizeof(now), &now));
	ASSERT_EQ(1, CPU_COUNT(&now)) TH_LOG("the lone instance did not pin this thread");
	/* Two warm instances here, the third to the driver. */
	for (int i = 0; i < 2; i++)
		ASSERT_NE(NULL, h[i] = spawn(sb, "c", 0, T_TIMEOUT_MS));
	ASSERT_NE(NULL, d = spawn(sb, "c", 0, T_TIMEOUT_MS));
	EXPECT_TRUE(sandbox_proc_driven(d));
	ASSERT_EQ(1, t_wait(d));
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(1, t_wait(h[i]));
	ASSERT_EQ(1, t_wait(f));
	sandbox_proc_free(d);
	for (int i = 0; i < 2; i++)
		sandbox_proc_free(h[i]);
	sandbox_proc_free(f);
	sandbox_release(sb);
	ASSERT_EQ(0, sched_getaffinity(0, sizeof(now), &now));
	EXPECT_TRUE(CPU_EQUAL(&before, &now))
		TH_LOG("the job's end left this thread on %d of its %d CPUs",
		       CPU_COUNT(&now), CPU_COUNT(&before));
	sandbox_free(sb);
	sched_setaffinity(0, sizeof(before), &before);
}

TEST_HARNESS_MAIN
