// SPDX-License-Identifier: MIT
/* A compute function that does nothing: the black-box instance cost of
 * tools/trace/overhead_bench.sh. */
#include <pith/fn.h>

int main(void)
{
	return 0;
}
