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

#endif
