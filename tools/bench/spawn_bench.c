// SPDX-License-Identifier: MIT
/*
 * spawn-bench: the cost of one sandboxed instance of a no-op function, end
 * to end (spawn, run, collect, free), with the sandbox's CPU placement and
 * without it (PITH_CPU_PLACEMENT=off), next to fork+exec, vfork+exec and
 * posix_spawn of a static no-op binary, measured interleaved in the same
 * run and reported as p50/p99 and as a ratio.
 *
 * With -P N: throughput instead, N instances in flight at once (as the
 * engine's -j N), with and without placement, in interleaved rounds of
 * INSTANCES each; -s ITERATIONS makes the function spin that many loop
 * iterations before it exits.
 *
 *   build/spawn-bench [-n INSTANCES] [-b BLOCK] [-G] [-P N [-r ROUNDS] [-s ITERATIONS]]
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/macro.h"
#include "sandbox/elf.h"
#include "sandbox/sandbox.h"

extern char **environ;

/* A complete static ELF: one R+X PT_LOAD at 0x400000 whose code spins
 * SPIN_OFF's count of iterations (0: none) and calls exit_group(0). Used as
 * the function image and as the exec'd binary. */
static unsigned char noop_elf[] = {
	/* Elf64_Ehdr */
	0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 0, 0x3e, 0, 1, 0, 0, 0,		/* ET_EXEC, x86-64, v1 */
	0x78, 0x00, 0x40, 0, 0, 0, 0, 0,	/* e_entry 0x400078 */
	0x40, 0, 0, 0, 0, 0, 0, 0,		/* e_phoff 64 */
	0, 0, 0, 0, 0, 0, 0, 0,			/* e_shoff */
	0, 0, 0, 0,				/* e_flags */
	0x40, 0, 0x38, 0, 1, 0,			/* ehsize, phentsize, phnum */
	0x40, 0, 0, 0, 0, 0,			/* shentsize, shnum, shstrndx */
	/* Elf64_Phdr */
	1, 0, 0, 0, 5, 0, 0, 0,			/* PT_LOAD, R+X */
	0, 0, 0, 0, 0, 0, 0, 0,			/* p_offset 0 */
	0, 0, 0x40, 0, 0, 0, 0, 0,		/* p_vaddr 0x400000 */
	0, 0, 0x40, 0, 0, 0, 0, 0,		/* p_paddr */
	0x8e, 0, 0, 0, 0, 0, 0, 0,		/* p_filesz */
	0x8e, 0, 0, 0, 0, 0, 0, 0,		/* p_memsz */
	0, 0x10, 0, 0, 0, 0, 0, 0,		/* p_align 4096 */
	/* 0x78: mov $N, %ecx; test %ecx, %ecx; jz 1f; 2: dec %ecx; jnz 2b */
	0xb9, 0, 0, 0, 0, 0x85, 0xc9, 0x74, 0x04, 0xff, 0xc9, 0x75, 0xfc,
	/* 1: mov $231, %eax; xor %edi, %edi; syscall */
	0xb8, 0xe7, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05,
};
_Static_assert(sizeof(noop_elf) == 0x8e, "p_filesz");
#define SPIN_OFF 0x79

enum { M_SANDBOX, M_NOPLACE, M_FORK, M_VFORK, M_SPAWN, M_COUNT };
static const char *const method_names[M_COUNT] = {
	"pith sandbox, no-op (sandbox_run)",
	"  the same, PITH_CPU_PLACEMENT=off",
	"fork+exec, static no-op",
	"vfork+exec, static no-op",
	"posix_spawn, static no-op",
};

struct samples {
	uint64_t *ns;
	size_t n;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(struct samples *s, double p)
{
	size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);

	return (double)s->ns[i] / 1000.0;
}

static int wait_ok(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

static int run_exec(int method, const char *path)
{
	char *const argv[] = { (char *)path, NULL };
	pid_t pid;

	switch (method) {
	case M_FORK:
		pid = fork();
		if (pid == 0) {
			execve(path, argv, environ);
			_exit(127);
		}
		break;
	case M_VFORK:
		pid = vfork();
		if (pid == 0) {
			execve(path, argv, environ);
			_exit(127);
		}
		break;
	default:
		if (posix_spawn(&pid, path, NULL, NULL, argv, environ))
			return -errno;
	}
	return pid < 0 ? -errno : wait_ok(pid);
}

static int run_sandbox(struct sandbox *sb, const struct elf_image *img,
		       uint64_t *ret_spawn, uint64_t *ret_run)
{
	static const char *const outs[] = { "out" };
	struct sandbox_request req = {
		.image = img,
		.limits = { .memory = 1 << 20, .timeout_ms = 10000 },
		.outputs = outs,
		.n_outputs = 1,
	};
	struct sandbox_proc *p = NULL;
	struct err e = { { 0 } };
	const struct sandbox_result *res;
	int r = sandbox_run(sb, &req, &p, &e);

	if (r < 0) {
		fprintf(stderr, "spawn-bench: %s\n", e.msg);
		return r;
	}
	res = sandbox_proc_result(p);
	if (res->status != SANDBOX_OK) {
		fprintf(stderr, "spawn-bench: the no-op failed: %s\n",
			res->reason);
		r = -EIO;
	}
	*ret_spawn = res->spawn_ns;
	*ret_run = res->run_ns;
	sandbox_proc_free(p);
	return r;
}

/* Wall time of total instances with n_par of them in flight at once. */
static int run_parallel(struct sandbox *sb, const struct elf_image *img,
			size_t n_par, size_t total, uint64_t *ret_ns)
{
	static const char *const outs[] = { "out" };
	struct sandbox_request req = {
		.image = img,
		.limits = { .memory = 1 << 20, .timeout_ms = 10000 },
		.outputs = outs,
		.n_outputs = 1,
	};
	struct sandbox_proc *ps[64] = { 0 };
	struct pollfd pfd[64];
	size_t started = 0, done = 0;
	uint64_t t0 = clock_now_ns();
	int r = 0;

	while (done < total && r >= 0) {
		size_t n = 0;

		for (size_t i = 0; i < n_par && r >= 0; i++)
			if (!ps[i] && started < total) {
				struct err e = { { 0 } };

				r = sandbox_spawn(sb, &req, &ps[i], &e);
				if (r < 0)
					fprintf(stderr, "spawn-bench: %s\n",
						e.msg);
				else
					started++;
			}
		for (size_t i = 0; i < n_par; i++)
			if (ps[i])
				pfd[n++] = (struct pollfd){
					sandbox_proc_fd(ps[i]), POLLIN, 0 };
		if (r >= 0)
			poll(pfd, n, 1000);
		for (size_t i = 0; i < n_par && r >= 0; i++) {
			int k;

			if (!ps[i] || !(k = sandbox_proc_step(ps[i])))
				continue;
			if (k < 0 || sandbox_proc_result(ps[i])->status !=
					     SANDBOX_OK) {
				fprintf(stderr, "spawn-bench: an instance failed: %s\n",
					k < 0 ? strerror(-k)
					      : sandbox_proc_result(ps[i])->reason);
				r = -EIO;
			}
			ps[i] = sandbox_proc_free(ps[i]);
			done++;
		}
	}
	for (size_t i = 0; i < n_par; i++)
		sandbox_proc_free(ps[i]);
	*ret_ns = clock_now_ns() - t0;
	return r;
}

static int throughput(struct sandbox *sb[2], const struct elf_image *img,
		      size_t n_par, size_t total, size_t rounds)
{
	struct samples w[2];

	for (int k = 0; k < 2; k++)
		w[k] = (struct samples){ calloc(rounds, sizeof(uint64_t)), 0 };
	for (int k = 0; k < 2; k++) {	/* warm-up */
		uint64_t ns;

		if (run_parallel(sb[k], img, n_par, MIN(total, (size_t)100),
				 &ns) < 0)
			return 1;
	}
	for (size_t i = 0; i < rounds; i++)
		for (int k = 0; k < 2; k++)
			if (run_parallel(sb[k], img, n_par, total,
					 &w[k].ns[w[k].n++]) < 0)
				return 1;
	printf("spawn-bench: %zu rounds of %zu instances, %zu in flight\n",
	       rounds, total, n_par);
	printf("%-36s %9s %9s %9s %11s\n", "method", "p50 ms", "min ms",
	       "max ms", "inst/s p50");
	for (int k = 0; k < 2; k++) {
		qsort(w[k].ns, w[k].n, sizeof(uint64_t), cmp_u64);
		printf("%-36s %9.1f %9.1f %9.1f %11.0f\n", method_names[k],
		       pct(&w[k], 0.5) / 1000, pct(&w[k], 0.0) / 1000,
		       pct(&w[k], 1.0) / 1000,
		       (double)total * 1e6 / pct(&w[k], 0.5));
	}
	printf("ratio wall time off / on (p50): %.3fx\n",
	       pct(&w[1], 0.5) / pct(&w[0], 0.5));
	return 0;
}

int main(int argc, char **argv)
{
	size_t n = 10000, block = 250, n_par = 0, rounds = 11;
	uint32_t spin = 0;
	struct samples s[M_COUNT], phase[2];
	struct sandbox *sb = NULL, *sbs[2] = { NULL, NULL };
	struct elf_image *img = NULL;
	struct err e = { { 0 } };
	char path[] = "/tmp/spawn-bench-noop-XXXXXX";
	int opt, fd;

	struct sandbox_opts so = { 0 };

	while ((opt = getopt(argc, argv, "n:b:GP:r:s:")) != -1) {
		if (opt == 'G')
			so.no_guard = true;
		else if (opt == 'n')
			n = strtoull(optarg, NULL, 10);
		else if (opt == 'b')
			block = strtoull(optarg, NULL, 10);
		else if (opt == 'P')
			n_par = strtoull(optarg, NULL, 10);
		else if (opt == 'r')
			rounds = strtoull(optarg, NULL, 10);
		else if (opt == 's')
			spin = (uint32_t)strtoul(optarg, NULL, 10);
		else {
			fprintf(stderr,
				"usage: %s [-n INSTANCES] [-b BLOCK] [-G] [-P N [-r ROUNDS] [-s ITERATIONS]]\n"
				"  -G  without the eBPF guard (layer 5)\n"
				"  -P  throughput with N instances in flight, ROUNDS rounds of\n"
				"      INSTANCES; the function spins ITERATIONS loop iterations\n",
				argv[0]);
			return 2;
		}
	}
	if (!n || !block || n_par > 64 || (n_par && !rounds))
		return 2;
	memcpy(noop_elf + SPIN_OFF, &spin, sizeof(spin));
	/* The second sandbox without CPU placement, read by sandbox_new(). */
	if (sandbox_new(&so, &sbs[0], &e) < 0 ||
	    setenv("PITH_CPU_PLACEMENT", "off", 1) < 0 ||
	    sandbox_new(&so, &sbs[1], &e) < 0 ||
	    unsetenv("PITH_CPU_PLACEMENT") < 0 ||
	    elf_image_load_mem(noop_elf, sizeof(noop_elf), &img, &e) < 0) {
		fprintf(stderr, "spawn-bench: %s\n", e.msg);
		return 1;
	}
	sb = sbs[0];
	if (n_par) {
		int r = throughput(sbs, img, n_par, n, rounds);

		elf_image_free(img);
		sandbox_free(sbs[1]);
		sandbox_free(sb);
		return r;
	}
	fd = mkstemp(path);
	if (fd < 0 || write(fd, noop_elf, sizeof(noop_elf)) !=
			      (ssize_t)sizeof(noop_elf) ||
	    fchmod(fd, 0755) < 0 || close(fd) < 0) {
		fprintf(stderr, "spawn-bench: %s: %m\n", path);
		return 1;
	}
	for (int m = 0; m < M_COUNT; m++)
		s[m] = (struct samples){ calloc(n, sizeof(uint64_t)), 0 };
	for (int k = 0; k < 2; k++)
		phase[k] = (struct samples){ calloc(n, sizeof(uint64_t)), 0 };

	/* Warm-up, then blocks of each method in turn, so that drift in
	 * the machine's load affects all of them alike. */
	for (int m = 0; m < M_COUNT; m++)
		for (int i = 0; i < 50; i++) {
			uint64_t a, b;

			if ((m <= M_NOPLACE ? run_sandbox(sbs[m], img, &a, &b)
					    : run_exec(m, path)) < 0)
				goto fail;
		}
	while (s[0].n < n) {
		for (int m = 0; m < M_COUNT; m++) {
			size_t end = MIN(s[m].n + block, n);

			while (s[m].n < end) {
				uint64_t t0 = clock_now_ns(), sp = 0, rn = 0;
				int r = m <= M_NOPLACE
						? run_sandbox(sbs[m], img, &sp, &rn)
						: run_exec(m, path);

				if (r < 0)
					goto fail;
				s[m].ns[s[m].n++] = clock_now_ns() - t0;
				if (m == M_SANDBOX) {
					phase[0].ns[phase[0].n++] = sp;
					phase[1].ns[phase[1].n++] = rn;
				}
			}
		}
	}
	unlink(path);

	printf("spawn-bench: %zu instances per method, interleaved in blocks of %zu\n",
	       n, block);
	printf("%-36s %9s %9s %9s\n", "method", "p50 us", "p99 us", "min us");
	for (int m = 0; m < M_COUNT; m++) {
		qsort(s[m].ns, s[m].n, sizeof(uint64_t), cmp_u64);
		printf("%-36s %9.1f %9.1f %9.1f\n", method_names[m],
		       pct(&s[m], 0.5), pct(&s[m], 0.99), pct(&s[m], 0.0));
	}
	for (int k = 0; k < 2; k++)
		qsort(phase[k].ns, phase[k].n, sizeof(uint64_t), cmp_u64);
	printf("  sandbox phases: spawn to function start p50 %.1f us, function start to reaped p50 %.1f us\n",
	       pct(&phase[0], 0.5), pct(&phase[1], 0.5));
	printf("ratio placement off / on (p50): %.2fx, (p99): %.2fx\n",
	       pct(&s[M_NOPLACE], 0.5) / pct(&s[M_SANDBOX], 0.5),
	       pct(&s[M_NOPLACE], 0.99) / pct(&s[M_SANDBOX], 0.99));
	for (int m = M_FORK; m < M_COUNT; m++)
		printf("ratio %s / sandbox (p50): %.2fx, (min): %.2fx\n",
		       method_names[m],
		       pct(&s[m], 0.5) / pct(&s[M_SANDBOX], 0.5),
		       pct(&s[m], 0.0) / pct(&s[M_SANDBOX], 0.0));
	elf_image_free(img);
	sandbox_free(sbs[1]);
	sandbox_free(sb);
	return 0;
fail:
	unlink(path);
	fprintf(stderr, "spawn-bench: a run failed\n");
	return 1;
}
