// SPDX-License-Identifier: MIT
/* Test function: never returns. */
#include <pith/fn.h>

int main(void)
{
	for (volatile int x = 0;; x++)
		;
}
