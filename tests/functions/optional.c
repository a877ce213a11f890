// SPDX-License-Identifier: MIT
/* Test function: input "in" required, "extra" optional. Writes one item to
 * "out", named like the first item of "in", saying how many items both had. */
#include <pith/fn.h>

int main(void)
{
	const struct pith_set *in = pith_input("in");
	const struct pith_set *extra = pith_input_optional("extra");
	size_t n = pith_set_count(in) + pith_set_count(extra);
	char buf[32];
	int len = pith_snprintf(buf, sizeof(buf), "%zu%s", n,
				extra ? "" : " (no extra)");

	pith_output_add("out", pith_item_name(pith_set_item(in, 0)), buf,
			(size_t)len);
	return 0;
}
