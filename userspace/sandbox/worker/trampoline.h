/* SPDX-License-Identifier: MIT */
/*
 * The trampoline page's code, copied by pith-worker to PLAN_TRAMPOLINE_BASE:
 * the handoff (unmap everything else, install seccomp, hand the listener to
 * pith, close the last fds, clear registers, jump to the function) and the
 * fault handler that records a fault's address for pith.
 */
#ifndef PITH_SANDBOX_WORKER_TRAMPOLINE_H
#define PITH_SANDBOX_WORKER_TRAMPOLINE_H

extern const char tramp_start[], tramp_entry[], tramp_handler[],
	tramp_restorer[], tramp_end[];

#endif
