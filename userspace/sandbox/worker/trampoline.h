/* SPDX-License-Identifier: MIT */
/*
 * The trampoline page's code, copied by pith-worker to PLAN_TRAMPOLINE_BASE:
 * the handoff (unmap the loader's code, close the last fd, clear registers,
 * jump to the function) and the fault handler that records a fault's
 * address for pith.
 */
#ifndef PITH_SANDBOX_WORKER_TRAMPOLINE_H
#define PITH_SANDBOX_WORKER_TRAMPOLINE_H

#include "sandbox/plan.h"

extern const char tramp_start[], tramp_entry[], tramp_handler[],
	tramp_restorer[], tramp_end[];
/* Warm workers: where the crt jumps to end an instance, and the address
 * after each system call of the reset path (the instruction pointer
 * seccomp and the eBPF guard see). */
extern const char tramp_exit[], tramp_park[], tramp_ip_park[],
	tramp_ip_unmap[], tramp_ip_madvise[], tramp_ip_map_input[],
	tramp_ip_close[], tramp_ip_unmap2[];

/* A zygote's fork returns at tramp_forked; its child's setup,
 * [tramp_child, tramp_child_end), is in a zygote's trampoline only (int3
 * in every other worker's), and enters the handoff at tramp_close; the
 * address after each of its system calls (pinned by the seccomp program,
 * filter.c) and the words its limits' calls read. */
extern const char tramp_forked[], tramp_close[], tramp_child[],
	tramp_child_end[], tramp_ip_z_pdeathsig[], tramp_ip_z_getppid[],
	tramp_ip_z_map_context[], tramp_ip_z_map_stack[],
	tramp_ip_z_map_area[], tramp_ip_z_nproc[],
	tramp_ip_z_cpu[], tramp_ip_z_ready[],
	tramp_ip_z_close[], tramp_ip_z_fail_clear[], tramp_ip_z_fail_text[],
	tramp_z_zero[], tramp_z_cpu[];

/* A label's offset in the trampoline's page (a zygote's copy of the page
 * is at PLAN_ZTRAMP(guard_off)). */
static inline unsigned long long tramp_off(const char *label)
{
	return (unsigned long long)(label - tramp_start);
}

/* Where it is in a worker, whose copy of the page is at
 * PLAN_TRAMPOLINE_BASE. */
static inline unsigned long long tramp_addr(const char *label)
{
	return PLAN_TRAMPOLINE_BASE + tramp_off(label);
}

/* The loader's last code: unmap the block's list, jump to the trampoline. */
void loader_handoff(void *block, unsigned long tramp_entry)
	__attribute__((noreturn));

#endif
