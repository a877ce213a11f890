// SPDX-License-Identifier: MIT
/* Test function: item "in" whose first byte is d gives d % 4 output items
 * "<name>.<j>" holding the item's bytes and j; an item starting with 's'
 * first spins for a while (a slow instance). */
#include <pith/fn.h>

int main(void)
{
	pith_set_foreach(it, pith_input("in")) {
		const char *p = pith_item_data(it);
		size_t n = pith_item_len(it);
		unsigned k = n ? (unsigned char)p[0] % 4 : 0;

		if (n && p[0] == 's')
			for (volatile unsigned long x = 0; x < 300000000ul; x++)
				;
		for (unsigned j = 0; j < k; j++) {
			char name[128];
			char *o;

			pith_snprintf(name, sizeof(name), "%s.%u",
				      pith_item_name(it), j);
			o = pith_output_new("out", name, n + 1);
			memcpy(o, p, n);
			o[n] = (char)('0' + j);
		}
	}
	return 0;
}
