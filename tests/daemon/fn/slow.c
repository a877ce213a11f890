// SPDX-License-Identifier: MIT
/*
 * Test function for pithd: each item of set "in" holds a decimal count;
 * spin that many iterations (long enough to kill pithd meanwhile), then
 * write the item, upper-cased, to output "out".
 */
#include <pith/fn.h>

int main(void)
{
	pith_set_foreach(it, pith_input("in")) {
		size_t n = pith_item_len(it);
		const char *p = pith_item_data(it);
		char *o = pith_output_new("out", pith_item_name(it), n);
		unsigned long long spins = 0;

		for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			spins = spins * 10 + (unsigned long long)(p[i] - '0');
		for (volatile unsigned long long x = 0; x < spins; x++)
			;
		for (size_t i = 0; i < n; i++)
			o[i] = p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 : p[i];
	}
	return 0;
}
