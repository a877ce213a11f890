/* SPDX-License-Identifier: MIT */
/*
 * The names pith gives its workers for the guard's reports (function,
 * stage, instance), kept in pith's memory by pid and given to an event when
 * pith reads it from the ring (bpf_guard.c), not written into a BPF map
 * per worker. Not thread-safe: the guard's lock covers it.
 */
#ifndef PITH_SANDBOX_BPF_GUARD_NAMES_H
#define PITH_SANDBOX_BPF_GUARD_NAMES_H

#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>

#include "../../bpf/guard.h"

struct guard_name {
	pid_t pid; /* 0: a free slot */
	uint32_t stage;
	uint64_t instance;
	/* 0 while the worker is pith's; once reaped with events of others
	 * still unread in the ring ahead of its own, the ring's producer
	 * position then: the name goes when the reader is past it. */
	uint64_t gone_at;
	char fn[GUARD_FN_LEN];
};

struct guard_names {
	struct guard_name *slot; /* open addressing, linear probing */
	unsigned cap;		 /* a power of two, or 0 */
	unsigned n;
	unsigned n_gone; /* entries with gone_at set */
};

/* The name of pid, or NULL. */
const struct guard_name *guard_names_find(const struct guard_names *t,
					  pid_t pid);
/* Name pid (again): 0 or -ENOMEM. */
int guard_names_set(struct guard_names *t, pid_t pid, const char *fn,
		    uint32_t stage, uint64_t instance);
/* Forget pid's name now (at == 0), or once the ring's reader is past
 * producer position at (guard_names_sweep()). */
void guard_names_drop(struct guard_names *t, pid_t pid, uint64_t at);
/* Forget the names whose workers' events were all read: those dropped at
 * a producer position at or below consumer position read_pos. */
void guard_names_sweep(struct guard_names *t, uint64_t read_pos);
void guard_names_done(struct guard_names *t);

#endif
