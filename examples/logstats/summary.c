// SPDX-License-Identifier: MIT
/*
 * logstats, stage 2: add up every host's report (input `stats`, all items)
 * into one item `summary` of output `summary`: the number of hosts, the
 * totals, the statuses, and the paths by requests (most first, ties in byte
 * order).
 */
#include <pith/fn.h>

#include "tally.h"

static int by_requests(const void *a, const void *b)
{
	const struct path_stat *x = a, *y = b;

	if (x->requests != y->requests)
		return x->requests < y->requests ? 1 : -1;
	return path_cmp(x, y);
}

int main(void)
{
	const struct pith_set *stats = pith_input("stats");
	struct pith_sb sb = { 0 };
	struct path_stat *v;
	struct tally t;

	if (!stats)
		return 1;
	tally_init(&t);
	pith_set_foreach(it, stats)
		if (!tally_read(&t, it))
			return 2;
	pith_sb_printf(&sb, "hosts\t%zu\n", pith_set_count(stats));
	tally_write(&sb, &t);
	v = tally_paths(&t);
	pith_sort(v, t.n, sizeof(*v), by_requests);
	tally_write_paths(&sb, v, t.n);
	pith_sb_output(&sb, "summary", "summary");
	return 0;
}
