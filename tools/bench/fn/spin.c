// SPDX-License-Identifier: MIT
/* Benchmark function: spin the number of iterations its input item holds
 * (decimal), then end. */
#include <pith/fn.h>

#include "spin.h"

int main(void)
{
	const struct pith_item *it = pith_set_item(pith_input("n"), 0);
	const char *p = it ? pith_item_data(it) : "0";
	uint64_t n = 0;

	pith_parse_u64(&p, p + (it ? pith_item_len(it) : 1), &n);
	spin(n);
	return 0;
}
