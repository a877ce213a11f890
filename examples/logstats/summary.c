// SPDX-License-Identifier: MIT
/*
 * logstats, stage 2: add up every host's report (input `stats`, all items)
 * into one item `summary` of output `summary`: the number of hosts, the
 * totals, the statuses, and the paths by requests (most first, ties in byte
 * order). A summary among its inputs counts as the hosts it says, so a
 * stage may fold (`"fold": B`): add B reports at a time to the summary so
 * far.
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
	pith_set_foreach(it, stats) {
		uint64_t summaries = t.summaries;

		if (!tally_read(&t, it))
			return 2;
		if (t.summaries == summaries)
			t.hosts++; /* one host's report */
	}
	pith_sb_printf(&sb, "hosts\t%llu\n", (unsigned long long)t.hosts);
	tally_write(&sb, &t);
	v = tally_paths(&t);
	pith_sort(v, t.n, sizeof(*v), by_requests);
	tally_write_paths(&sb, v, t.n);
	pith_sb_output(&sb, "summary", "summary");
	return 0;
}
