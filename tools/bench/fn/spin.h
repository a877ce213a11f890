/* SPDX-License-Identifier: MIT */
/* The benchmark's CPU-bound loop, shared by fn/spin.c and the native run. */
#ifndef PITH_BENCH_SPIN_H
#define PITH_BENCH_SPIN_H

static inline unsigned long spin(unsigned long iters)
{
	unsigned long x = 1;

	for (unsigned long i = 0; i < iters; i++) {
		x = x * 6364136223846793005ul + 1442695040888963407ul;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

#endif
