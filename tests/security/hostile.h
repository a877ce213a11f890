/* SPDX-License-Identifier: MIT */
/*
 * What the hostile test function (tests/security/fn/hostile.c) does,
 * chosen by the instance number: the low 16 bits pick the behaviour, the
 * rest is its parameter (a syscall number, an address, a variant).
 */
#ifndef PITH_TESTS_SECURITY_HOSTILE_H
#define PITH_TESTS_SECURITY_HOSTILE_H

enum hostile {
	H_OUTPUTS = 1,	   /* valid outputs: a context item, a forwarded input */
	H_EXIT,		   /* exit_group(param) */
	H_SYSCALL,	   /* syscall number param with plausible arguments */
	H_X32,		   /* an x32 call: getpid | 0x40000000 */
	H_INT80,	   /* int $0x80 (i386 getpid) */
	H_FORK_BOMB,	   /* for (;;) fork(); */
	H_LOOP,		   /* spin forever */
	H_WRITE,	   /* store to address param */
	H_READ,		   /* load from address param */
	H_STACK_OVERFLOW,  /* unbounded recursion */
	H_ILLEGAL,	   /* ud2 */
	H_JUMP,		   /* jump to address param */
	H_BAD_OUTPUT,	   /* a malformed output descriptor, variant param */
	H_DIVIDE,	   /* integer division by zero */
	H_CLOSE_FDS,	   /* close(0), munmap(loader code at param): no effect */
	H_FORWARD_ALL,	   /* output every item of input set 0, unnamed */
	H_SECUREBITS,	   /* exit with prctl(PR_GET_SECUREBITS) (no seccomp) */
	H_UNPROTECT,	   /* mprotect(param, 4096, RW) and a store there;
			    * exits with the errno (no seccomp) */
	H_MAP_FD,	   /* mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd param,
			    * 0): exits with the errno, 0 if it mapped */
	H_BIG_OUTPUT,	   /* one output item of param bytes in the context,
			    * each 'a' + param % 26 */
	H_STACK_LEFT,	   /* exits with the number of non-zero words of the
			    * 15 below the trampoline's return address at
			    * entry (a fresh worker's setup words: none) */
	H_CLOSE_RANGE,	   /* close_range(0, ~0U, 0): exits with the errno,
			    * 0 if it ran (no seccomp) */
	H_SETUP_CALL,	   /* a zygote's child's setup call made again: jump
			    * to the syscall instruction at trampoline offset
			    * param & 0xfff with the registers of variant
			    * (param >> 12) & 0x7 (enum hostile_setup),
			    * argument param >> 16; the trampoline a
			    * zygote's child's, in its guard page, or with
			    * SETUP_EXECD (in the variant) an exec'd
			    * worker's, at PLAN_TRAMPOLINE_BASE */
};

/* Variants of H_SETUP_CALL (argument a). */
enum hostile_setup {
	SETUP_PRLIMIT_RAISE = 1, /* prlimit64(0, a, {1000, 1000}, 0): a
				  * pointer of the function's */
	SETUP_PWRITE_FORGE,	 /* pwrite64(a, "ready" at time 1, 16, the
				  * control page): the ready report forged */
	SETUP_MMAP_FD,		 /* mmap(0x280000000000, 4096, RW, MAP_SHARED
				  * | MAP_FIXED_NOREPLACE, a, 0) */
	SETUP_OTHER_CALL,	 /* getpid at the call's address */
	SETUP_EXECD = 8,	 /* flag: in an exec'd worker's trampoline */
};

/* Variants of H_BAD_OUTPUT. */
enum hostile_bad {
	BAD_ITEMS_OUTSIDE = 1,	/* items array below the context */
	BAD_ITEMS_OVERFLOW,	/* items + n_items * 40 wraps around */
	BAD_DATA_OUTSIDE,	/* data beyond the context's end */
	BAD_LEN_OVERFLOW,	/* data + len wraps around */
	BAD_NAME_SLASH,		/* "a/b" */
	BAD_NAME_TOO_LONG,	/* name_len 256 */
	BAD_NAME_DOTDOT,	/* ".." */
	BAD_TOO_MANY_ITEMS,	/* n_items = PITH_OUTPUT_ITEMS_MAX + 1 */
	BAD_FLAGS,		/* unknown flag bits */
	BAD_DATA_IN_TRAMPOLINE,	/* data in the trampoline page */
	BAD_NAME_CONTROL,	/* a newline in the name */
};

#define HOSTILE(h, param) ((unsigned long long)(h) | \
			   ((unsigned long long)(param) << 16))

#endif
