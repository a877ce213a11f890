/* SPDX-License-Identifier: MIT */
/*
 * pith port of musl (x86-64 with the system-call layer replaced): every
 * system call musl makes is a call of __pith_syscall(), answered inside the
 * sandbox by userspace/posix/ (Documentation/posix-functions.md). No
 * `syscall` instruction is generated from here; no vDSO is looked up.
 */
#define __SYSCALL_LL_E(x) (x)
#define __SYSCALL_LL_O(x) (x)

long __pith_syscall(long, long, long, long, long, long, long);

static __inline long __syscall0(long n)
{
	return __pith_syscall(n, 0, 0, 0, 0, 0, 0);
}

static __inline long __syscall1(long n, long a1)
{
	return __pith_syscall(n, a1, 0, 0, 0, 0, 0);
}

static __inline long __syscall2(long n, long a1, long a2)
{
	return __pith_syscall(n, a1, a2, 0, 0, 0, 0);
}

static __inline long __syscall3(long n, long a1, long a2, long a3)
{
	return __pith_syscall(n, a1, a2, a3, 0, 0, 0);
}

static __inline long __syscall4(long n, long a1, long a2, long a3, long a4)
{
	return __pith_syscall(n, a1, a2, a3, a4, 0, 0);
}

static __inline long __syscall5(long n, long a1, long a2, long a3, long a4,
				long a5)
{
	return __pith_syscall(n, a1, a2, a3, a4, a5, 0);
}

static __inline long __syscall6(long n, long a1, long a2, long a3, long a4,
				long a5, long a6)
{
	return __pith_syscall(n, a1, a2, a3, a4, a5, a6);
}

#define IPC_64 0
