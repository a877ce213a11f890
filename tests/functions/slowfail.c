// SPDX-License-Identifier: MIT
/* Test function: every instance computes ~20 ms, then instance 9 exits
 * with status 3 and the others succeed: a failure that comes once a
 * stage's first instances fill the engine's lane (lanes.sh: the driver,
 * started ahead, takes instances 8 and up of -j 12 at the latest). */
#include <pith/fn.h>

int main(void)
{
	for (volatile unsigned i = 0; i < 20000000; i++)
		;
	return pith_instance() == 9 ? 3 : 0;
}
