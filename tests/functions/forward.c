// SPDX-License-Identifier: MIT
/* Test function: every item of set "in" forwarded to output "out" without
 * copying: the output item points into the read-only input mapping. */
#include <pith/fn.h>

int main(void)
{
	pith_set_foreach(it, pith_input("in"))
		pith_output_ref("out", pith_item_name(it), pith_item_data(it),
				pith_item_len(it));
	return 0;
}
