// SPDX-License-Identifier: MIT
/*
 * Cost of the eBPF guard: ns per getppid() of a process outside the worker
 * cgroup, and the latency of a no-op sandboxed instance, without the guard,
 * with it loaded but idle (syscall program detached), with it attached and
 * (getppid only) with two attached, as two piths running jobs;
 * rounds interleaved, medians and ratios against the baseline of the same
 * run. Needs root.
 *
 *   bpf_bench [-n CALLS] [-r ROUNDS] [-i INSTANCES] [-f FUNCTION]
 *
 * FUNCTION: the hostile test function (build/tests/fn/hostile), run as a
 * well-behaved no-op (H_OUTPUTS); without it the instance part is skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "sandbox/bpf_guard.h"
#include "sandbox/plan.h"
#include "sandbox/sandbox.h"
#include "security/hostile.h"

enum state { S_NONE, S_IDLE, S_ATTACHED, S_TWO, S_PER_INSTANCE, S_COUNT };
static const char *const state_name[S_COUNT] = {
	"no guard", "guard loaded, idle", "guard attached",
	"two guards attached", "attach per instance",
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n ? v[n / 2] : 0;
}

/*
 * One line per measured state: the median of all samples, and the median
 * over rounds of (median of the state's samples in the round / median of
 * the baseline's in the same round). Pairing by round cancels most of the
 * drift of a shared machine.
 */
static void print_states(uint64_t **v, long rounds, long per_round,
			 double unit, const char *unit_name)
{
	double *ratio = calloc(rounds, sizeof(double));
	uint64_t *tmp = calloc(rounds * per_round, sizeof(uint64_t));

	if (!ratio || !tmp)
		exit(1);
	for (int s = 0; s < S_COUNT; s++) {
		if (!v[s][0])
			continue; /* state not measured here */
		for (long r = 0; r < rounds; r++) {
			uint64_t a, b;

			memcpy(tmp, v[S_NONE] + r * per_round,
			       per_round * sizeof(*tmp));
			a = median(tmp, per_round);
			memcpy(tmp, v[s] + r * per_round,
			       per_round * sizeof(*tmp));
			b = median(tmp, per_round);
			ratio[r] = a ? (double)b / a : 0;
		}
		qsort(ratio, rounds, sizeof(double), cmp_double);
		memcpy(tmp, v[s], rounds * per_round * sizeof(*tmp));
		printf("  %-22s %10.1f %s  %.3f\n", state_name[s],
		       median(tmp, rounds * per_round) / unit, unit_name,
		       ratio[rounds / 2]);
	}
	free(ratio);
	free(tmp);
}

static int cgroup2_mount(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024], mnt[512], fstype[64];
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep, " - %63s", fstype) != 1 ||
		    strcmp(fstype, "cgroup2") ||
		    sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1)
			continue;
		snprintf(buf, len, "%s", mnt);
		r = 0;
		break;
	}
	fclose(f);
	return r;
}

static struct guard *guard_up(const char *cgroup, bool hold)
{
	struct guard_opts o = {
		.cgroup_path = cgroup,
		.arm_nr = SYS_close,
		.arm_arg0 = PLAN_SOCK_FD,
	};
	struct guard *g = NULL;
	struct err e = {};

	if (guard_new(&o, &g, &e) < 0 || (hold && guard_hold(g, &e) < 0)) {
		fprintf(stderr, "bpf_bench: guard: %s\n", e.msg);
		exit(1);
	}
	return g;
}

static uint64_t getppid_loop(long calls)
{
	uint64_t t0 = clock_now_ns();

	for (long i = 0; i < calls; i++)
		syscall(SYS_getppid);
	return (clock_now_ns() - t0) * 1000 / calls; /* ps per call */
}

static struct set *one_item_set(void)
{
	struct buffer *b = NULL;
	struct set *s = set_new("in");

	if (!s || buffer_new("bench", 5, &b) < 0 ||
	    buffer_write(b, 0, "hello", 5) < 0 || buffer_seal(b) < 0 ||
	    set_add(s, "a", false, 0, b, 0, 5) < 0)
		exit(1);
	buffer_unref(b);
	return s;
}

/* One no-op instance; returns its wall-clock latency in ns. */
static uint64_t instance(struct sandbox *sb, const struct elf_image *img,
			 struct set *in, struct guard *g)
{
	static const char *const outputs[] = { "out" };
	struct set *inputs[] = { in };
	struct sandbox_request req = {
		.image = img,
		.limits = { .memory = 1 << 20, .timeout_ms = 5000 },
		.inputs = inputs, .n_inputs = 1,
		.outputs = outputs, .n_outputs = 1,
		.instance = HOSTILE(H_OUTPUTS, 0),
	};
	struct sandbox_proc *p = NULL;
	struct err e = {};
	uint64_t t0 = clock_now_ns(), t;

	if (g && guard_hold(g, &e) < 0)
		exit(1);
	if (sandbox_run(sb, &req, &p, &e) < 0) {
		fprintf(stderr, "bpf_bench: sandbox_run: %s\n", e.msg);
		exit(1);
	}
	if (g)
		guard_release(g);
	t = clock_now_ns() - t0;
	if (sandbox_proc_result(p)->status != SANDBOX_OK) {
		fprintf(stderr, "bpf_bench: instance failed: %s\n",
			sandbox_proc_result(p)->reason);
		exit(1);
	}
	sandbox_proc_free(p);
	return t;
}

int main(int argc, char **argv)
{
	long calls = 500000, rounds = 21, instances = 30;
	const char *fn_path = NULL;
	char mnt[512], cgroup[600];
	uint64_t *sys[S_COUNT], *inst[S_COUNT], hold_ns[50], rel_ns[50];
	struct elf_image *img = NULL;
	struct sandbox *sb = NULL;
	struct err e = {};
	struct set *in = NULL;
	int c;

	while ((c = getopt(argc, argv, "n:r:i:f:")) != -1) {
		switch (c) {
		case 'n': calls = atol(optarg); break;
		case 'r': rounds = atol(optarg); break;
		case 'i': instances = atol(optarg); break;
		case 'f': fn_path = optarg; break;
		default:
			fprintf(stderr, "usage: bpf_bench [-n CALLS] [-r ROUNDS] "
				"[-i INSTANCES] [-f FUNCTION]\n");
			return 2;
		}
	}
	if (calls <= 0 || rounds <= 0 || instances <= 0)
		return 2;
	if (cgroup2_mount(mnt, sizeof(mnt)) < 0) {
		fprintf(stderr, "bpf_bench: no cgroup v2 hierarchy mounted\n");
		return 1;
	}
	snprintf(cgroup, sizeof(cgroup), "%s/pith-bench-bpf-%d", mnt,
		 getpid());
	if (mkdir(cgroup, 0755) < 0) {
		fprintf(stderr, "bpf_bench: mkdir %s: %m\n", cgroup);
		return 1;
	}
	for (int s = 0; s < S_COUNT; s++) {
		sys[s] = calloc(rounds, sizeof(uint64_t));
		inst[s] = calloc(rounds * instances, sizeof(uint64_t));
		if (!sys[s] || !inst[s])
			return 1;
	}

	/* 1. getppid outside the worker cgroup (this process). */
	for (long r = 0; r < rounds; r++) {
		struct guard *g, *g2;

		sys[S_NONE][r] = getppid_loop(calls);
		g = guard_up(cgroup, false);
		sys[S_IDLE][r] = getppid_loop(calls);
		guard_hold(g, &e);
		sys[S_ATTACHED][r] = getppid_loop(calls);
		/* A second guard, as a second pith running a job: its own
		 * program at the same tracepoint, run on every syscall. */
		g2 = guard_up(cgroup, true);
		sys[S_TWO][r] = getppid_loop(calls);
		guard_free(g2);
		guard_free(g);
	}
	printf("getppid() outside the worker cgroup, %ld calls x %ld rounds "
	       "(median ns/call; median of the per-round ratios to no "
	       "guard):\n", calls, rounds);
	print_states(sys, rounds, 1, 1000.0, "ns");

	/* 2. Attaching and detaching the syscall program. */
	{
		struct guard *g = guard_up(cgroup, false);

		for (size_t i = 0; i < 50; i++) {
			uint64_t t0 = clock_now_ns(), t1;

			guard_hold(g, &e);
			t1 = clock_now_ns();
			guard_release(g);
			hold_ns[i] = t1 - t0;
			rel_ns[i] = clock_now_ns() - t1;
		}
		guard_free(g);
		printf("attach (guard_hold) median %.1f us, detach "
		       "(guard_release) median %.1f us, over 50\n",
		       median(hold_ns, 50) / 1000.0,
		       median(rel_ns, 50) / 1000.0);
	}

	/* 3. No-op instance latency, workers in the sandbox's cgroup. */
	if (!fn_path) {
		printf("no-op instance latency: skipped (no -f FUNCTION)\n");
		goto out;
	}
	if (elf_image_load(AT_FDCWD, fn_path, &img, &e) < 0) {
		fprintf(stderr, "bpf_bench: %s: %s\n", fn_path, e.msg);
		return 1;
	}
	if (sandbox_new(&(struct sandbox_opts){}, &sb, &e) < 0) {
		fprintf(stderr, "bpf_bench: sandbox: %s\n", e.msg);
		return 1;
	}
	if (!sandbox_cgroup_path(sb)) {
		fprintf(stderr, "bpf_bench: the sandbox has no worker cgroup\n");
		return 1;
	}
	in = one_item_set();
	for (long i = 0; i < 20; i++) /* warm up caches and the image */
		instance(sb, img, in, NULL);
	for (long r = 0; r < rounds; r++) {
		long base_i = r * instances;
		struct guard *g = NULL;

		/* Alternate which state goes first, against order effects. */
		for (int k = 0; k < 2; k++) {
			bool attached = (k + r) % 2;

			if (attached)
				g = guard_up(sandbox_cgroup_path(sb), true);
			for (long i = 0; i < instances; i++)
				inst[attached ? S_ATTACHED : S_NONE]
				    [base_i + i] = instance(sb, img, in, NULL);
			if (attached)
				guard_release(g);
		}
		for (long i = 0; i < instances; i++)
			inst[S_PER_INSTANCE][base_i + i] = instance(sb, img, in,
								    g);
		guard_free(g);
	}
	printf("no-op instance (seccomp on, workers in the guarded cgroup), "
	       "%ld x %ld (median us; median of the per-round ratios to no "
	       "guard):\n", instances, rounds);
	print_states(inst, rounds, instances, 1000.0, "us");
	set_free(in);
	sandbox_free(sb);
	elf_image_free(img);
out:
	rmdir(cgroup);
	return 0;
}
