/* SPDX-License-Identifier: MIT */
/*
 * Raw x86-64 system calls without libc: used where libc must not run (the
 * clone3 child that shares pith's memory, and the freestanding loader).
 * They return the kernel's value: -errno on failure.
 */
#ifndef PITH_SANDBOX_RAW_H
#define PITH_SANDBOX_RAW_H

#define RAW_INLINE static inline __attribute__((always_inline))

RAW_INLINE long raw_syscall6(long nr, long a, long b, long c, long d, long e,
			     long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define raw_syscall0(n) raw_syscall6(n, 0, 0, 0, 0, 0, 0)
#define raw_syscall1(n, a) raw_syscall6(n, (long)(a), 0, 0, 0, 0, 0)
#define raw_syscall2(n, a, b) \
	raw_syscall6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define raw_syscall3(n, a, b, c) \
	raw_syscall6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define raw_syscall4(n, a, b, c, d) \
	raw_syscall6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define raw_syscall5(n, a, b, c, d, e)                                  \
	raw_syscall6(n, (long)(a), (long)(b), (long)(c), (long)(d), \
		     (long)(e), 0)

static inline __attribute__((noreturn)) void raw_exit_group(int status)
{
	for (;;)
		raw_syscall1(231 /* exit_group */, status);
}

#endif
