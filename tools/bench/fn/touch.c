// SPDX-License-Identifier: MIT
/* Benchmark function: write every byte of 8 MiB of its context arena. */
#include <pith/fn.h>

int main(void)
{
	size_t n = 8u << 20;
	volatile char *p = pith_alloc(n);

	for (size_t k = 0; k < n; k++)
		p[k] = (char)k;
	return 0;
}
