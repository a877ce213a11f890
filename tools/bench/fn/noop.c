// SPDX-License-Identifier: MIT
/* Benchmark function: nothing. */
#include <pith/fn.h>

int main(void)
{
	return 0;
}
