// SPDX-License-Identifier: MIT
/* Splitting a stage's input sets into the input sets of its instances. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/distribute.h"
#include "lib/macro.h"

/* One parameter's shares: share s holds the item indices idx[start[s] ..
 * start[s+1]). */
struct shares {
	size_t n;
	size_t *start;
	size_t *idx;
};

static void shares_done(struct shares *sh)
{
	free(sh->start);
	free(sh->idx);
}

static uint64_t item_key(const struct item *it)
{
	return it->keyed ? it->key : 0;
}

struct group {
	size_t first; /* smallest item index with this key */
	size_t a, b; /* range in the sorted order */
};

static int cmp_key(const void *a, const void *b, void *arg)
{
	const struct set *s = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	uint64_t kx = item_key(&s->items[x]), ky = item_key(&s->items[y]);

	if (kx != ky)
		return kx < ky ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

static int make_shares(const struct set *s, enum job_mode mode,
		       struct shares *sh)
{
	size_t n = s->n;

	sh->start = calloc(n + 2, sizeof(size_t));
	sh->idx = calloc(n + 1, sizeof(size_t));
	if (!sh->start || !sh->idx)
		return -ENOMEM;
	if (mode == JOB_MODE_ALL) {
		for (size_t i = 0; i < n; i++)
			sh->idx[i] = i;
		sh->n = 1;
		sh->start[1] = n;
		return 0;
	}
	if (mode == JOB_MODE_EACH) {
		for (size_t i = 0; i < n; i++) {
			sh->idx[i] = i;
			sh->start[i + 1] = i + 1;
		}
		sh->n = n;
		return 0;
	}
	/* keyed: sort indices by (key, index), then order the groups by their
	 * first index so instances follow the order keys first appear in. */
	_cleanup_free_ size_t *order = malloc((n + 1) * sizeof(size_t));
	_cleanup_free_ struct group *groups = malloc((n + 1) * sizeof(*groups));
	size_t ng = 0, k = 0;

	if (!order || !groups)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(size_t), cmp_key, (void *)s);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || item_key(&s->items[order[i]]) !=
				      item_key(&s->items[order[i - 1]]))
			groups[ng++] =
				(struct group){ .first = order[i], .a = i };
		groups[ng - 1].b = i + 1;
	}
	qsort(groups, ng, sizeof(*groups), cmp_group);
	for (size_t g = 0; g < ng; g++) {
		sh->start[g] = k;
		for (size_t i = groups[g].a; i < groups[g].b; i++)
			sh->idx[k++] = order[i];
	}
	sh->n = ng;
	sh->start[ng] = n;
	return 0;
}

void distribution_done(struct distribution *d)
{
	if (!d->instances)
		return;
	for (size_t i = 0; i < d->n_instances; i++) {
		if (!d->instances[i])
			continue;
		for (size_t p = 0; p < d->n_params; p++)
			set_free(d->instances[i][p]);
		free(d->instances[i]);
	}
	free(d->instances);
	d->instances = NULL;
}

int distribute(const struct job_stage *stage, struct set *const *sets,
	       struct distribution *ret)
{
	size_t np = stage->n_inputs, total = 1;
	struct shares *sh;
	int r = 0;

	*ret = (struct distribution){ .n_params = np };
	sh = calloc(np ? np : 1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	for (size_t p = 0; p < np && total; p++) {
		if (sets[p]->n == 0) {
			total = 0;
			break;
		}
		r = make_shares(sets[p], stage->inputs[p].mode, &sh[p]);
		if (r < 0)
			goto out;
		if (sh[p].n && total > SIZE_MAX / sh[p].n) {
			r = -E2BIG;
			goto out;
		}
		total *= sh[p].n;
	}
	ret->instances = calloc(total ? total : 1, sizeof(*ret->instances));
	if (!ret->instances) {
		r = -ENOMEM;
		goto out;
	}
	ret->n_instances = total;
	for (size_t i = 0; i < total; i++) {
		size_t rest = i;

		ret->instances[i] = calloc(np ? np : 1, sizeof(struct set *));
		if (!ret->instances[i]) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t p = np; p-- > 0;) {
			size_t share = rest % sh[p].n;
			struct set *s = set_new(stage->inputs[p].param);

			rest /= sh[p].n;
			if (!s) {
				r = -ENOMEM;
				goto out;
			}
			ret->instances[i][p] = s;
			for (size_t k = sh[p].start[share];
			     k < sh[p].start[share + 1]; k++) {
				r = set_add_item(s,
						 &sets[p]->items[sh[p].idx[k]]);
				if (r < 0)
					goto out;
			}
		}
	}
out:
	for (size_t p = 0; p < np; p++)
		shares_done(&sh[p]);
	free(sh);
	if (r < 0)
		distribution_done(ret);
	return r;
}
