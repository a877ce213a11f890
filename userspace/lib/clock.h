/* SPDX-License-Identifier: MIT */
/* The one monotonic clock every layer measures deadlines and timings with. */
#ifndef PITH_LIB_CLOCK_H
#define PITH_LIB_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
