/* SPDX-License-Identifier: MIT */
/*
 * pith port: the thread pointer is a plain variable, not %fs. Functions
 * have one thread, and arch_prctl(ARCH_SET_FS) would be a system call (and
 * PT_TLS images are refused by pith's loader anyway).
 */
extern uintptr_t __pith_tp;

static inline uintptr_t __get_tp(void)
{
	return __pith_tp;
}

#define MC_PC gregs[REG_RIP]
