/* SPDX-License-Identifier: MIT */
#ifndef PITH_LIB_NOFILE_H
#define PITH_LIB_NOFILE_H

#include <stdint.h>
#include <sys/resource.h>

/*
 * A share of the descriptors pith may open: RLIMIT_NOFILE's soft limit
 * over div, UINT64_MAX when the limit is infinite (or unknown). pith splits
 * it: the store's buffers in use under a half (arena_own_items()), the
 * engine's windowed items under a quarter (win_fds()), the pool's idle
 * buffers an eighth (pool.c); sockets and workers use the rest.
 */
static inline uint64_t nofile_share(unsigned div)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return UINT64_MAX;
	return (uint64_t)rl.rlim_cur / div;
}

#endif
