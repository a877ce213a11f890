// SPDX-License-Identifier: MIT
/*
 * instance-driver: the baselines of tools/bench/instance_bench.sh, each
 * timed in this process and printed as microseconds per instance:
 *
 *   instance-driver exec N [--fd10 FILE] PROGRAM [ARGS...]
 *       fork + exec PROGRAM N times, one at a time, and wait for each
 *       (FILE, when given, is opened as fd 10 in the child: bwrap --seccomp)
 *   instance-driver fork N
 *       fork N times, one at a time, the child exiting at once, and wait
 *       for each: the floor of a new process per instance without an exec
 *       (what a zygote's child costs at least; this driver is about the
 *       size of a zygote: a few dozen mappings, a few touched pages)
 *   instance-driver touch N BYTES
 *       N times: map BYTES of fresh anonymous memory, write every byte,
 *       unmap (a native function touching that much of its context)
 *   instance-driver spin N ITERATIONS
 *       the ~1 ms loop of fn/spin.c, N times, natively
 *   instance-driver seccomp FILE
 *       write a cBPF program allowing execve, exit_group, exit, wait4 and
 *       write
 *       (killing the rest) to FILE, for bwrap --seccomp
 */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/clock.h"

extern char **environ;

static int usage(void)
{
	fprintf(stderr, "usage: instance-driver exec N [--fd10 FILE] PROGRAM [ARGS...]\n"
			"       instance-driver fork N\n"
			"       instance-driver touch N BYTES\n"
			"       instance-driver spin N ITERATIONS\n"
			"       instance-driver seccomp FILE\n");
	return 2;
}

static void report(uint64_t t0, unsigned long n)
{
	printf("%.2f\n", (double)(clock_now_ns() - t0) / 1000.0 / (double)n);
}

static int run_exec(unsigned long n, char **argv)
{
	const char *fd10 = NULL;
	uint64_t t0;

	if (argv[0] && !strcmp(argv[0], "--fd10")) {
		fd10 = argv[1];
		argv += 2;
	}
	if (!argv[0])
		return usage();
	t0 = clock_now_ns();
	for (unsigned long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return perror("fork"), 1;
		if (pid == 0) {
			if (fd10) {
				int fd = open(fd10, O_RDONLY);

				if (fd < 0 || dup2(fd, 10) < 0)
					_exit(126);
			}
			execve(argv[0], argv, environ);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			fprintf(stderr, "instance-driver: %s failed (status 0x%x)\n",
				argv[0], status);
			return 1;
		}
	}
	report(t0, n);
	return 0;
}

static int run_fork(unsigned long n)
{
	uint64_t t0 = clock_now_ns();

	for (unsigned long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return perror("fork"), 1;
		if (pid == 0)
			_exit(0);
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
			return perror("waitpid"), 1;
	}
	report(t0, n);
	return 0;
}

static int run_touch(unsigned long n, size_t bytes)
{
	uint64_t t0 = clock_now_ns();

	for (unsigned long i = 0; i < n; i++) {
		char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return perror("mmap"), 1;
		for (size_t k = 0; k < bytes; k++)
			((volatile char *)p)[k] = (char)k;
		munmap(p, bytes);
	}
	report(t0, n);
	return 0;
}

#include "fn/spin.h"

static int run_spin(unsigned long n, unsigned long iters)
{
	uint64_t t0 = clock_now_ns();

	for (unsigned long i = 0; i < n; i++)
		spin(iters);
	report(t0, n);
	return 0;
}

static int write_filter(const char *path)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int fd, r;

	if (!ctx)
		return 1;
	/* bwrap's pid 1 (--unshare-pid) runs under the program too and
	 * waits for the function. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(execve), 0);
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(exit_group), 0);
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(exit), 0);
	if (r >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(wait4), 0);
	if (r >= 0) /* its exit report to the parent bwrap (an eventfd) */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(write), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (r >= 0 && fd >= 0)
		r = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	if (fd >= 0)
		close(fd);
	return r < 0 || fd < 0;
}

int main(int argc, char **argv)
{
	unsigned long n;

	if (argc < 3)
		return usage();
	if (!strcmp(argv[1], "seccomp"))
		return write_filter(argv[2]);
	n = strtoul(argv[2], NULL, 10);
	if (!n)
		return usage();
	if (!strcmp(argv[1], "exec"))
		return run_exec(n, argv + 3);
	if (!strcmp(argv[1], "fork") && argc == 3)
		return run_fork(n);
	if (!strcmp(argv[1], "touch") && argc == 4)
		return run_touch(n, strtoull(argv[3], NULL, 0));
	if (!strcmp(argv[1], "spin") && argc == 4)
		return run_spin(n, strtoul(argv[3], NULL, 0));
	return usage();
}
