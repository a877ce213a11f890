// SPDX-License-Identifier: MIT
/* Test function: each input item of set "in", upper-cased, into output "out". */
#include <pith/fn.h>

int main(void)
{
	pith_set_foreach(it, pith_input("in")) {
		size_t n = pith_item_len(it);
		char *o = pith_output_new("out", pith_item_name(it), n);
		const char *p = pith_item_data(it);

		for (size_t i = 0; i < n; i++)
			o[i] = p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 : p[i];
	}
	return 0;
}
