// SPDX-License-Identifier: MIT
/* Test function: count.c's merge ("<items> <bytes> <sum>" of set "in" into
 * output "out"), after spinning about a millisecond: an instance longer
 * than the engine's short ones (ENGINE_SHORT_NS), such as a folding merge
 * of real work. */
#include <pith/fn.h>

int main(void)
{
	unsigned long long n = 0, bytes = 0;
	char line[64];
	int len;

	for (volatile unsigned long x = 0; x < 2000000ul; x++)
		;
	pith_set_foreach(it, pith_input("in")) {
		n++;
		bytes += pith_item_len(it);
	}
	len = pith_snprintf(line, sizeof(line), "%llu %llu\n", n, bytes);
	memcpy(pith_output_new("out", "count", (size_t)len), line, (size_t)len);
	return 0;
}
