// SPDX-License-Identifier: MIT
/* Test function: instances 0-255 return at once; later ones write a byte
 * of every page of 48 MiB of their context, then compute ~20 ms with it
 * held: a stage short on average while its slots fill, whose later
 * instances hold much memory at once (lanes.sh: fresh slots bounded by
 * the declared memory). */
#include <pith/fn.h>

int main(void)
{
	size_t n = 48u << 20;
	volatile char *p;

	if (pith_instance() < 256)
		return 0;
	p = pith_alloc(n);
	for (size_t k = 0; k < n; k += 4096)
		p[k] = 1;
	for (volatile unsigned i = 0; i < 20000000; i++)
		;
	return 0;
}
