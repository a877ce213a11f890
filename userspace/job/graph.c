// SPDX-License-Identifier: MIT
/* The stage graph of a job: a stable topological order, or the cycle. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/walk.h"

struct heap {
	size_t *v;
	size_t n;
};

static void heap_push(struct heap *h, size_t x)
{
	size_t i = h->n++;

	while (i > 0 && h->v[(i - 1) / 2] > x) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = x;
}

static size_t heap_pop(struct heap *h)
{
	size_t top = h->v[0], x = h->v[--h->n], i = 0;

	for (;;) {
		size_t k = 2 * i + 1;

		if (k >= h->n)
			break;
		if (k + 1 < h->n && h->v[k + 1] < h->v[k])
			k++;
		if (h->v[k] >= x)
			break;
		h->v[i] = h->v[k];
		i = k;
	}
	if (h->n)
		h->v[i] = x;
	return top;
}

/*
 * Every stage left with unmet inputs after the sort is on a cycle or
 * downstream of one, so walking back through such producers from the first
 * of them must come round to a stage already seen.
 */
static int report_cycle(struct jctx *c, const struct jnode *stages,
			const struct job *j, const size_t *indeg)
{
	_cleanup_free_ size_t *seen = calloc(j->n_stages, sizeof(*seen));
	_cleanup_free_ size_t *walk = calloc(j->n_stages + 1, sizeof(*walk));
	size_t n = 0, x = 0, first, len, lo;
	char msg[ERR_MAX];
	size_t o = 0;

	if (!seen || !walk)
		return -ENOMEM;
	while (indeg[x] == 0)
		x++;
	while (!seen[x]) {
		const struct job_stage *st = &j->stages[x];

		walk[n++] = x;
		seen[x] = n;
		for (size_t i = 0; i < st->n_inputs; i++) {
			int p = st->inputs[i].ref.stage;

			if (p >= 0 && indeg[p] > 0) {
				x = p;
				break;
			}
		}
	}
	/* walk[first..n) are the cycle, each read by the one before it. */
	first = seen[x] - 1;
	len = n - first;
	lo = first;
	for (size_t i = first; i < n; i++)
		if (walk[i] < walk[lo])
			lo = i;
	for (size_t k = 0; k <= len && o < sizeof(msg); k++) {
		size_t i = first + (lo - first + len - k) % len;

		o += snprintf(msg + o, sizeof(msg) - o, "%s%s",
			      k ? " -> " : "", j->stages[walk[i]].name);
	}
	return jerr(c, stages, "cycle: %s", msg);
}

int job_graph_order(struct jctx *c, const struct jnode *stages, struct job *j)
{
	size_t n = j->n_stages, n_edges = 0, k = 0;
	_cleanup_free_ size_t *indeg = calloc(n, sizeof(size_t));
	_cleanup_free_ size_t *start = calloc(n + 1, sizeof(size_t));
	_cleanup_free_ size_t *fill = calloc(n + 1, sizeof(size_t));
	_cleanup_free_ size_t *order = calloc(n + 1, sizeof(size_t));
	_cleanup_free_ size_t *heapv = calloc(n + 1, sizeof(size_t));
	_cleanup_free_ size_t *succ = NULL;
	struct heap h = { .v = heapv };

	if (!indeg || !start || !fill || !order || !heapv)
		return -ENOMEM;
	for (size_t s = 0; s < n; s++) {
		for (size_t i = 0; i < j->stages[s].n_inputs; i++) {
			int p = j->stages[s].inputs[i].ref.stage;

			if (p < 0)
				continue;
			start[p + 1]++;
			indeg[s]++;
			n_edges++;
		}
	}
	for (size_t s = 0; s < n; s++)
		start[s + 1] += start[s];
	memcpy(fill, start, (n + 1) * sizeof(size_t));
	succ = calloc(n_edges + 1, sizeof(size_t));
	if (!succ)
		return -ENOMEM;
	for (size_t s = 0; s < n; s++)
		for (size_t i = 0; i < j->stages[s].n_inputs; i++)
			if (j->stages[s].inputs[i].ref.stage >= 0)
				succ[fill[j->stages[s].inputs[i].ref.stage]++] =
					s;

	for (size_t s = 0; s < n; s++)
		if (indeg[s] == 0)
			heap_push(&h, s);
	while (h.n) {
		size_t u = heap_pop(&h);

		order[k++] = u;
		for (size_t e = start[u]; e < start[u + 1]; e++)
			if (--indeg[succ[e]] == 0)
				heap_push(&h, succ[e]);
	}
	if (k < n)
		return report_cycle(c, stages, j, indeg);
	j->order = TAKE_PTR(order);
	return 0;
}
