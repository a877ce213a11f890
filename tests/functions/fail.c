// SPDX-License-Identifier: MIT
/* Test function: instance 1 exits with status 3, the others succeed. */
#include <pith/fn.h>

int main(void)
{
	return pith_instance() == 1 ? 3 : 0;
}
