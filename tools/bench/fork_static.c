// SPDX-License-Identifier: MIT
/*
 * fork-static N [P]: fork N times, the child exiting at once, wait for
 * each, and print microseconds per fork. Static, no libc, a few pages:
 * about the size of a zygote (pith-worker with an image mapped), so its
 * figure is the floor of a fresh process per instance without an exec
 * (tools/bench/instance_bench.sh).
 *
 * With P: P lanes at once (this process and P - 1 forked ones), each
 * forking and waiting for N / P children one at a time, and two figures:
 * wall microseconds per fork (of all N), and CPU microseconds per fork
 * (user + system of this process and of all it reaped: the lanes, their
 * children, every exit). The CPU figure over the number of CPUs bounds the
 * wall time per process of any design that makes one per instance.
 */
#include "sandbox/raw.h"

struct ts {
	long sec, nsec;
};

static unsigned long now_ns(void)
{
	struct ts t;

	raw_syscall2(228 /* clock_gettime */, 1 /* CLOCK_MONOTONIC */, &t);
	return (unsigned long)t.sec * 1000000000ul + (unsigned long)t.nsec;
}

static void out(unsigned long ns_x100, char end)
{
	char buf[32];
	int i = 31;
	unsigned long frac = ns_x100 % 100, whole = ns_x100 / 100;

	buf[i--] = end;
	buf[i--] = (char)('0' + frac % 10);
	buf[i--] = (char)('0' + frac / 10);
	buf[i--] = '.';
	do {
		buf[i--] = (char)('0' + whole % 10);
		whole /= 10;
	} while (whole);
	raw_syscall3(1 /* write */, 1, buf + i + 1, 31 - i);
}

struct timeval_raw {
	long sec, usec;
};

struct rusage_raw {
	struct timeval_raw utime, stime;
	long rest[14];
};

/* user + system microseconds of who (0: self, -1: reaped children) */
static unsigned long cpu_us(long who)
{
	struct rusage_raw r;

	if (raw_syscall2(98 /* getrusage */, who, &r) < 0)
		raw_exit_group(1);
	return (unsigned long)(r.utime.sec + r.stime.sec) * 1000000ul +
	       (unsigned long)(r.utime.usec + r.stime.usec);
}

static unsigned long number(const char *c)
{
	unsigned long n = 0;

	for (; *c >= '0' && *c <= '9'; c++)
		n = n * 10 + (unsigned long)(*c - '0');
	return n;
}

static void forks(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		long pid = raw_syscall0(57 /* fork */);

		if (pid == 0)
			raw_exit_group(0);
		if (pid < 0 || raw_syscall4(61 /* wait4 */, pid, 0, 0, 0) != pid)
			raw_exit_group(1);
	}
}

__attribute__((used)) void fork_main(long argc, char **argv)
{
	unsigned long n, lanes = 1, t0, cpu0;
	long pids[64];

	if (argc != 2 && argc != 3)
		raw_exit_group(2);
	n = number(argv[1]);
	if (argc == 3)
		lanes = number(argv[2]);
	if (!n || !lanes || lanes > 64 || n % lanes)
		raw_exit_group(2);
	cpu0 = cpu_us(0) + cpu_us(-1);
	t0 = now_ns();
	for (unsigned long l = 1; l < lanes; l++) {
		pids[l] = raw_syscall0(57 /* fork */);
		if (pids[l] == 0) {
			forks(n / lanes);
			raw_exit_group(0);
		}
		if (pids[l] < 0)
			raw_exit_group(1);
	}
	forks(n / lanes);
	for (unsigned long l = 1; l < lanes; l++) {
		int status = 0;

		if (raw_syscall4(61 /* wait4 */, pids[l], &status, 0, 0) !=
			    pids[l] || status)
			raw_exit_group(1);
	}
	/* microseconds per fork, two decimals */
	out((now_ns() - t0) / 10 / n, argc == 3 ? ' ' : '\n');
	if (argc == 3)
		out((cpu_us(0) + cpu_us(-1) - cpu0) * 100 / n, '\n');
	raw_exit_group(0);
}

__asm__(".text\n"
	".globl _start\n"
	"_start:\n"
	"	mov (%rsp), %rdi\n"
	"	lea 8(%rsp), %rsi\n"
	"	and $-16, %rsp\n"
	"	call fork_main\n"
	"	ud2\n");
