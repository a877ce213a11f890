// SPDX-License-Identifier: MIT
/* Splitting a stage's input sets into the input sets of its instances. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/distribute.h"
#include "lib/macro.h"

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

void dist_done(struct dist *d)
{
	for (size_t p = 0; d->sh && p < d->np; p++)
		shares_done(&d->sh[p]);
	free(d->sh);
	*d = (struct dist){};
}

int dist_prepare(const struct job_stage *stage, struct set *const *sets,
		 struct dist *d)
{
	size_t np = stage->n_inputs;
	int r;

	*d = (struct dist){ .np = np, .per_item = 1 };
	d->each0 = np && stage->inputs[0].mode == JOB_MODE_EACH;
	d->sh = calloc(np ? np : 1, sizeof(*d->sh));
	if (!d->sh)
		return -ENOMEM;
	for (size_t p = 0; p < np; p++) {
		if (p == 0 && d->each0)
			continue;
		r = make_shares(sets[p], stage->inputs[p].mode, &d->sh[p]);
		if (r < 0) {
			dist_done(d);
			return r;
		}
		if (sets[p]->n == 0)
			d->sh[p].n = 0; /* an empty set: no instance */
		if (p == 0)
			continue;
		if (d->sh[p].n && d->per_item > SIZE_MAX / d->sh[p].n) {
			dist_done(d);
			return -E2BIG;
		}
		d->per_item *= d->sh[p].n;
	}
	return 0;
}

int dist_count(const struct dist *d, size_t n0, size_t *ret)
{
	size_t shares0 = d->np == 0 ? 1 : d->each0 ? n0 : d->sh[0].n;

	if (d->per_item && shares0 > SIZE_MAX / d->per_item)
		return -E2BIG;
	*ret = shares0 * d->per_item;
	return 0;
}

int dist_instance(const struct dist *d, const struct job_stage *stage,
		  struct set *const *sets, const struct item *item0, size_t i,
		  struct set **ret)
{
	size_t rest = i % d->per_item;
	int r = 0;

	for (size_t p = 0; p < d->np; p++)
		ret[p] = NULL;
	for (size_t p = d->np; p-- > 0 && r >= 0;) {
		size_t share, a, b;
		const size_t *idx;
		struct set *s = set_new(stage->inputs[p].param);

		if (!s) {
			r = -ENOMEM;
			break;
		}
		ret[p] = s;
		if (p == 0) {
			share = i / d->per_item;
		} else {
			share = rest % d->sh[p].n;
			rest /= d->sh[p].n;
		}
		if (p == 0 && d->each0) {
			r = set_add_item(s, item0);
			continue;
		}
		idx = d->sh[p].idx;
		a = d->sh[p].start[share];
		b = d->sh[p].start[share + 1];
		for (size_t k = a; k < b && r >= 0; k++)
			r = set_add_item(s, &sets[p]->items[idx[k]]);
	}
	if (r < 0)
		for (size_t p = 0; p < d->np; p++)
			ret[p] = set_free(ret[p]);
	return r;
}

int distribute(const struct job_stage *stage, struct set *const *sets,
	       struct distribution *ret)
{
	size_t np = stage->n_inputs, total;
	struct dist d;
	int r;

	*ret = (struct distribution){ .n_params = np };
	r = dist_prepare(stage, sets, &d);
	if (r < 0)
		return r;
	r = dist_count(&d, np ? sets[0]->n : 0, &total);
	if (r >= 0) {
		ret->instances = calloc(total ? total : 1,
					sizeof(*ret->instances));
		if (!ret->instances)
			r = -ENOMEM;
	}
	for (size_t i = 0; r >= 0 && i < total; i++) {
		ret->n_instances = i + 1;
		ret->instances[i] = calloc(np ? np : 1, sizeof(struct set *));
		if (!ret->instances[i])
			r = -ENOMEM;
		else
			r = dist_instance(&d, stage, sets,
					  d.each0 ? &sets[0]->items[i / d.per_item] :
						    NULL,
					  i, ret->instances[i]);
	}
	dist_done(&d);
	if (r < 0)
		distribution_done(ret);
	return r;
}
