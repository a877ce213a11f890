/* SPDX-License-Identifier: MIT */
/* Splitting a stage's input sets into instances: all, each, keyed, cross. */
#ifndef PITH_ENGINE_DISTRIBUTE_H
#define PITH_ENGINE_DISTRIBUTE_H

#include <stddef.h>

#include "job/job.h"
#include "store/store.h"

/* The inputs of every instance of one stage: instances[i][p] is the set
 * named after parameter p that instance i sees. */
struct distribution {
	size_t n_instances;
	size_t n_params;
	struct set ***instances;
};

/*
 * Distribute `sets[p]` (the complete input set feeding parameter p) by the
 * stage's modes. `all` gives one share (the whole set), `each` one share per
 * item, `keyed` one share per distinct key in order of first appearance
 * (items without a key count as key 0). Several shares form a cross product,
 * the last parameter varying fastest. Any empty input set gives zero
 * instances.
 */
int distribute(const struct job_stage *stage, struct set *const *sets,
	       struct distribution *ret);
void distribution_done(struct distribution *d);

/* One parameter's shares: share s holds the item indices idx[start[s] ..
 * start[s+1]). */
struct shares {
	size_t n;
	size_t *start;
	size_t *idx;
};

/*
 * The same numbering, one instance at a time, for a stage whose first
 * input may still be growing (the engine's). When parameter 0 is `each`,
 * its share j is its item j, so instance i takes item i / per_item of it
 * and the instances of item j exist as soon as the item does; every other
 * parameter's set must be complete at dist_prepare().
 */
struct dist {
	size_t np;
	bool each0;	 /* parameter 0 is `each`: shares taken as items come */
	struct shares *sh; /* per parameter; sh[0] unused when each0 */
	size_t per_item; /* instances per share of parameter 0 */
};

int dist_prepare(const struct job_stage *stage, struct set *const *sets,
		 struct dist *d);
/* Instances there are when parameter 0 has n0 items (each0) or is
 * complete; -E2BIG when the count overflows. */
int dist_count(const struct dist *d, size_t n0, size_t *ret);
/* The np input sets of instance i (new sets; each item a new reference).
 * With each0, parameter 0's share is the one item `item0` (item i /
 * per_item of that input, wherever the caller holds it: in its set, or
 * not joined to it yet) and sets[0] is not read; else item0 is unused. */
int dist_instance(const struct dist *d, const struct job_stage *stage,
		  struct set *const *sets, const struct item *item0, size_t i,
		  struct set **ret);
void dist_done(struct dist *d);

#endif
