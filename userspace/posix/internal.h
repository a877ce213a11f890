/* SPDX-License-Identifier: MIT */
/*
 * The POSIX runtime of pith functions: musl's system calls, answered inside
 * the sandbox from the instance's context (Documentation/posix-functions.md).
 * Built against musl's headers; every function here returns a value or
 * -errno, as the kernel would.
 */
#ifndef PITH_POSIX_INTERNAL_H
#define PITH_POSIX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PITH_FREESTANDING 1 /* abi.h: its own __u64 */
#include <pith/abi.h>

#define RT_PAGE 4096ul
#define RT_ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uintptr_t)(a) - 1))

/* Exit statuses of the runtime itself, as the SDK's (function-abi.md). */
#define RT_EXIT_NOMEM 120
#define RT_EXIT_NO_OUTPUT 121
#define RT_EXIT_BAD_CONTEXT 124

extern struct pith_context *rt_ctx;

/* crt.S: the one system call of a POSIX function. */
__attribute__((noreturn)) void __pith_exit_group(int status);
/* start.c: publish the outputs (status 0) and end. */
__attribute__((noreturn)) void rt_exit(int status);

/* mem.c: pages of the arena (mmap and friends), and small internal
 * allocations that live as long as the instance. */
void mem_init(uintptr_t arena, size_t size);
void *pages_alloc(size_t len); /* zeroed, page-aligned; NULL when full */
void pages_free(void *p, size_t len);
/* Grow or shrink [p, p+old) to new bytes in place; false if it cannot. */
bool pages_resize(void *p, size_t old, size_t new);
void *rt_alloc(size_t n); /* zeroed; ends the instance (120) when full */
long sys_mmap(long addr, long len, long prot, long flags, long fd, long off);
long sys_munmap(long addr, long len);
long sys_mremap(long old, long old_len, long new_len, long flags, long new);
long sys_brk(long addr);
long sys_madvise(long addr, long len, long advice);
long sys_mprotect(long addr, long len, long prot);
size_t mem_free_bytes(void);

/* fs.c: the file tree and the descriptor table. */
void fs_init(void);
long fs_syscall(long n, long a, long b, long c, long d, long e, long f,
		bool *handled);
/* The stdout/stderr captures and /out files, for rt_exit(). */
struct rt_out {
	const char *name;
	size_t name_len;
	const void *data;
	size_t len;
};
/* Calls fn for every item of output set i, in order. */
void fs_outputs(uint32_t set, void (*fn)(const struct rt_out *, void *),
		void *arg);
/* Bytes for /dev/urandom and getrandom(). */
void rt_random(void *buf, size_t len);
/* One stream per (seed, instance). */
void rt_random_init(uint64_t seed, uint64_t instance);
/* The file tree's notion of now, for timestamps. */
uint64_t rt_now_ns(void);


#endif
