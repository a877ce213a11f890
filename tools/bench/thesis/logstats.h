/* SPDX-License-Identifier: MIT */
/*
 * examples/logstats/stats.c and summary.c, compiled on libc through the
 * shim <pith/fn.h>: logstats_report() is stats.c's main on one log,
 * logstats_summary() summary.c's main on a set of reports.
 */
#ifndef THESIS_LOGSTATS_H
#define THESIS_LOGSTATS_H

#include <pith/fn.h>

__thread const struct pith_set *shim_input;
__thread char *shim_out;
__thread size_t shim_out_len;
__thread struct shim_block *shim_arena;

#define main logstats_stats_main
#include "../../../examples/logstats/stats.c"
#undef main
#define main logstats_summary_main
#include "../../../examples/logstats/summary.c"
#undef main

/* The report of one log named `name`: malloc'd text in *ret, its length. */
static inline int logstats_report(const char *name, const void *log,
				  size_t len, char **ret, size_t *ret_len)
{
	struct pith_item it = { .name = name, .data = log, .len = len };
	struct pith_set s = { .n_items = 1, .items = &it };
	int r;

	shim_input = &s;
	shim_out = NULL;
	r = logstats_stats_main();
	if (r == 0 && shim_out) {
		*ret = malloc(shim_out_len + 1);
		memcpy(*ret, shim_out, shim_out_len);
		*ret_len = shim_out_len;
	}
	shim_reset();
	return r ? r : shim_out ? 0 : 1;
}

/* The summary of n reports, written to f. */
static inline int logstats_summary(const struct pith_item *reports, size_t n,
				   FILE *f)
{
	struct pith_set s = { .n_items = n, .items = reports };
	int r;

	shim_input = &s;
	shim_out = NULL;
	r = logstats_summary_main();
	if (r == 0 && shim_out)
		fwrite(shim_out, 1, shim_out_len, f);
	shim_reset();
	return r ? r : shim_out ? 0 : 1;
}

#endif
