// SPDX-License-Identifier: MIT
/* Test function: one output item "count" in "out" saying how many items set
 * "in" has and how many bytes they hold, and the sum of the numbers their
 * bytes end with ("<items> <bytes> <sum>"): a merge that reads every item. */
#include <pith/fn.h>

int main(void)
{
	unsigned long long n = 0, bytes = 0, sum = 0;
	char line[96];
	int len;

	pith_set_foreach(it, pith_input("in")) {
		const char *p = pith_item_data(it);
		size_t l = pith_item_len(it), i = l;
		unsigned long long v = 0, m = 1;

		while (i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9') {
			v += (unsigned long long)(p[i - 1] - '0') * m;
			m *= 10;
			i--;
		}
		n++;
		bytes += l;
		sum += v;
	}
	len = pith_snprintf(line, sizeof(line), "%llu %llu %llu\n", n, bytes,
			    sum);
	memcpy(pith_output_new("out", "count", (size_t)len), line, (size_t)len);
	return 0;
}
