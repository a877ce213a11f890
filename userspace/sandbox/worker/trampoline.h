/* SPDX-License-Identifier: MIT */
/*
 * The trampoline page's code, copied by pith-worker to PLAN_TRAMPOLINE_BASE:
 * the handoff (unmap the loader's code, close the last fd, clear registers,
 * jump to the function) and the fault handler that records a fault's
 * address for pith.
 */
#ifndef PITH_SANDBOX_WORKER_TRAMPOLINE_H
#define PITH_SANDBOX_WORKER_TRAMPOLINE_H

extern const char tramp_start[], tramp_entry[], tramp_handler[],
	tramp_restorer[], tramp_end[];
/* Warm workers: where the crt jumps to end an instance, and the address
 * after each system call of the reset path (the instruction pointer
 * seccomp and the eBPF guard see). */
extern const char tramp_exit[], tramp_park[], tramp_ip_park[],
	tramp_ip_unmap[], tramp_ip_madvise[], tramp_ip_map_input[],
	tramp_ip_close[], tramp_ip_unmap2[];

/* The loader's last code: unmap the block's list, jump to the trampoline. */
void loader_handoff(void *block, unsigned long tramp_entry)
	__attribute__((noreturn));

#endif
