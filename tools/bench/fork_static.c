// SPDX-License-Identifier: MIT
/*
 * fork-static N: fork N times, one at a time, the child exiting at once,
 * wait for each, and print microseconds per fork. Static, no libc, a few
 * pages: about the size of a zygote (pith-worker with an image mapped), so
 * its figure is the floor of a fresh process per instance without an exec
 * (tools/bench/instance_bench.sh).
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

static void out(unsigned long ns_x100)
{
	char buf[32];
	int i = 31;
	unsigned long frac = ns_x100 % 100, whole = ns_x100 / 100;

	buf[i--] = '\n';
	buf[i--] = (char)('0' + frac % 10);
	buf[i--] = (char)('0' + frac / 10);
	buf[i--] = '.';
	do {
		buf[i--] = (char)('0' + whole % 10);
		whole /= 10;
	} while (whole);
	raw_syscall3(1 /* write */, 1, buf + i + 1, 31 - i);
}

__attribute__((used)) void fork_main(long argc, char **argv)
{
	unsigned long n = 0, t0;

	if (argc != 2)
		raw_exit_group(2);
	for (const char *c = argv[1]; *c >= '0' && *c <= '9'; c++)
		n = n * 10 + (unsigned long)(*c - '0');
	if (!n)
		raw_exit_group(2);
	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		long pid = raw_syscall0(57 /* fork */);

		if (pid == 0)
			raw_exit_group(0);
		if (pid < 0 || raw_syscall4(61 /* wait4 */, pid, 0, 0, 0) != pid)
			raw_exit_group(1);
	}
	/* microseconds per fork, two decimals */
	out((now_ns() - t0) / 10 / n);
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
