/* SPDX-License-Identifier: MIT */
/* Growing an array of elements by doubling, for append-only lists. */
#ifndef PITH_LIB_ARRAY_H
#define PITH_LIB_ARRAY_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Make room for element n of *v (capacity *cap): doubles, starting at
 * `first`. 0, or -ENOMEM (also when the size would overflow). */
static inline int array_grow_(void **v, size_t *cap, size_t n, size_t elem,
			      size_t first)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : first;
	if (ncap < *cap || ncap > SIZE_MAX / elem)
		return -ENOMEM;
	nv = realloc(*v, ncap * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

/* ARRAY_GROW(s->items, s->cap, s->n, 8): room for s->items[s->n]. */
#define ARRAY_GROW(v, cap, n, first) \
	array_grow_((void **)&(v), &(cap), (n), sizeof(*(v)), (first))

#endif
