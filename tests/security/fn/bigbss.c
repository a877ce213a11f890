// SPDX-License-Identifier: MIT
/*
 * A function whose .bss is BSS_BYTES (set at build time) and that writes
 * every byte of it and of its arena, then reports, as output "sizes", its
 * context size and the bytes of .bss it touched (tests/security/
 * memory_budget.sh).
 */
#include <pith/fn.h>

static char big[BSS_BYTES];

int main(void)
{
	const struct pith_context *c = pith_context();
	size_t n = pith_arena_avail();
	volatile char *a = pith_alloc(n - 4096);
	char buf[96];
	int len;

	for (size_t i = 0; i < sizeof(big); i++)
		((volatile char *)big)[i] = (char)i;
	for (size_t i = 0; i < n - 4096; i++)
		a[i] = (char)i;
	len = pith_snprintf(buf, sizeof(buf), "%llu %zu\n",
			    (unsigned long long)c->context_size, sizeof(big));
	pith_output_add("sizes", "sizes", buf, (size_t)len);
	return 0;
}
