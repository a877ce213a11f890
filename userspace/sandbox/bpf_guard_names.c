// SPDX-License-Identifier: MIT
/*
 * The guard's names of pith's workers by pid: a hash table with linear
 * probing, deleted from by shifting the entries after a hole back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/bpf_guard_names.h"

static unsigned home(const struct guard_names *t, pid_t pid)
{
	return ((uint32_t)pid * 2654435761u) & (t->cap - 1);
}

static struct guard_name *lookup(const struct guard_names *t, pid_t pid)
{
	if (!t->cap || pid <= 0)
		return NULL;
	for (unsigned i = home(t, pid);; i = (i + 1) & (t->cap - 1)) {
		if (t->slot[i].pid == pid)
			return &t->slot[i];
		if (!t->slot[i].pid)
			return NULL;
	}
}

const struct guard_name *guard_names_find(const struct guard_names *t,
					  pid_t pid)
{
	return lookup(t, pid);
}

/* A free slot for pid (not in the table), the table at most half full. */
static struct guard_name *place(struct guard_names *t, pid_t pid)
{
	unsigned i = home(t, pid);

	while (t->slot[i].pid)
		i = (i + 1) & (t->cap - 1);
	return &t->slot[i];
}

static int grow(struct guard_names *t)
{
	struct guard_names bigger = { .cap = t->cap ? 2 * t->cap : 64 };

	bigger.slot = calloc(bigger.cap, sizeof(*bigger.slot));
	if (!bigger.slot)
		return -ENOMEM;
	for (unsigned i = 0; i < t->cap; i++)
		if (t->slot[i].pid)
			*place(&bigger, t->slot[i].pid) = t->slot[i];
	bigger.n = t->n;
	bigger.n_gone = t->n_gone;
	free(t->slot);
	*t = bigger;
	return 0;
}

int guard_names_set(struct guard_names *t, pid_t pid, const char *fn,
		    uint32_t stage, uint64_t instance)
{
	struct guard_name *e = lookup(t, pid);

	if (pid <= 0)
		return -EINVAL;
	if (!e) {
		if (2 * (t->n + 1) > t->cap && grow(t) < 0)
			return -ENOMEM;
		e = place(t, pid);
		t->n++;
	} else if (e->gone_at) {
		t->n_gone--;
	}
	*e = (struct guard_name){ .pid = pid, .stage = stage,
				  .instance = instance };
	snprintf(e->fn, sizeof(e->fn), "%s", fn ? fn : "");
	return 0;
}

/* Empty e's slot; the entries after it that probed past it move back. */
static void erase(struct guard_names *t, struct guard_name *e)
{
	unsigned hole = (unsigned)(e - t->slot), mask = t->cap - 1;

	if (e->gone_at)
		t->n_gone--;
	t->n--;
	for (unsigned i = (hole + 1) & mask; t->slot[i].pid;
	     i = (i + 1) & mask) {
		unsigned h = home(t, t->slot[i].pid);

		/* Stays if its home lies cyclically in (hole, i]. */
		if (((i - h) & mask) < ((i - hole) & mask))
			continue;
		t->slot[hole] = t->slot[i];
		hole = i;
	}
	t->slot[hole] = (struct guard_name){ 0 };
}

void guard_names_drop(struct guard_names *t, pid_t pid, uint64_t at)
{
	struct guard_name *e = lookup(t, pid);

	if (!e)
		return;
	if (!at) {
		erase(t, e);
		return;
	}
	if (!e->gone_at)
		t->n_gone++;
	e->gone_at = at;
}

void guard_names_sweep(struct guard_names *t, uint64_t read_pos)
{
	/* An erase may move a later entry into the slot just emptied, or
	 * (across the table's end) into one already passed: the slot is
	 * looked at again, and the scan repeated until nothing goes. */
	bool again = true;

	while (t->n_gone && again) {
		again = false;
		for (unsigned i = 0; i < t->cap; i++) {
			struct guard_name *e = &t->slot[i];

			if (e->pid && e->gone_at && e->gone_at <= read_pos) {
				erase(t, e);
				again = true;
				i--; /* unsigned: 0 - 1 + 1 is 0 again */
			}
		}
	}
}

void guard_names_done(struct guard_names *t)
{
	free(t->slot);
	*t = (struct guard_names){ 0 };
}
