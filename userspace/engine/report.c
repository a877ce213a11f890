// SPDX-License-Identifier: MIT
/*
 * The instances of a stage report: a 32-byte entry per instance (state,
 * times), and a side block for the few that failed or whose times do not
 * fit in the entry. A 100,000-instance stage that ends well keeps 3.1 MiB
 * of entries (it kept 6.9 MiB of 72-byte reports before); one whose
 * report keeps only what failures need (failures_only: `pith run` without
 * --json) drops the entries of the instances that ended well as they end,
 * in order, and keeps those of the ones still running or failed.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "lib/err.h"
#include "lib/macro.h"

struct instance_detail {
	char *reason;		   /* NULL: "" */
	struct sandbox_note *note; /* NULL: none */
	long syscall;
	int exit_status, signal;
	/* The times, full: the entry's fields are unused once this exists. */
	uint64_t spawn_ns, run_ns;
};

#define OFF_MAX ((UINT64_C(1) << 56) - 1)

static uint64_t off_of(const struct stage_report *sr, uint64_t ns)
{
	if (!ns)
		return 0;
	if (ns < sr->t0_ns) /* before the base (never, by construction) */
		return 1;
	return ns - sr->t0_ns >= OFF_MAX ? OFF_MAX : ns - sr->t0_ns + 1;
}

static uint64_t ns_of(const struct stage_report *sr, uint64_t off)
{
	return off ? sr->t0_ns + off - 1 : 0;
}

/* Entry i, NULL when a failures_only report dropped it (ended well). */
static struct instance_entry *entry(const struct stage_report *sr, size_t i)
{
	return i < sr->base ? NULL : &sr->instances[i - sr->base];
}

static const struct instance_entry dropped = { .state = INSTANCE_OK };

uint64_t instance_start_ns(const struct stage_report *sr, size_t i)
{
	const struct instance_entry *en = entry(sr, i);

	return en ? ns_of(sr, en->start) : 0;
}

uint64_t instance_end_ns(const struct stage_report *sr, size_t i)
{
	const struct instance_entry *en = entry(sr, i);

	return en ? ns_of(sr, en->end) : 0;
}

void instance_get(const struct stage_report *sr, size_t i,
		  struct instance_report *ret)
{
	const struct instance_entry *en = entry(sr, i) ?: &dropped;
	const struct instance_detail *d = en->detail;

	*ret = (struct instance_report){
		.state = (enum instance_state)en->state,
		.syscall = -1,
		.spawn_ns = en->spawn_ns,
		.run_ns = en->run_ns,
		.start_ns = ns_of(sr, en->start),
		.end_ns = ns_of(sr, en->end),
	};
	if (d) {
		ret->reason = d->reason;
		ret->note = d->note;
		ret->syscall = d->syscall;
		ret->exit_status = d->exit_status;
		ret->signal = d->signal;
		ret->spawn_ns = d->spawn_ns;
		ret->run_ns = d->run_ns;
	}
}

int instance_reserve(struct stage_report *sr, size_t cap)
{
	size_t n = cap > sr->base ? cap - sr->base : 0;

	if (n > SIZE_MAX / sizeof(*sr->instances))
		return -ENOMEM;
	void *a = realloc(sr->instances, (n ? n : 1) * sizeof(*sr->instances));

	if (!a)
		return -ENOMEM;
	sr->instances = a;
	sr->cap = cap;
	return 0;
}

int instance_init(struct stage_report *sr, size_t i)
{
	struct instance_entry *en;

	/* Past the room a dropped prefix left (drop_ok_prefix() keeps only
	 * a quarter more than it held): grow it again by doubling. */
	if (i >= sr->cap && i >= sr->base) {
		size_t held = sr->cap > sr->base ? sr->cap - sr->base : 0;
		int r = instance_reserve(sr, sr->base + MAX(2 * held, i + 1 - sr->base));

		if (r < 0)
			return r;
	}
	en = entry(sr, i);
	if (en)
		*en = (struct instance_entry){};
	return 0;
}

/* Dropped at once: a prefix of at least this many entries, and a quarter
 * of those kept, so that the moves cost O(1) per instance. */
#define DROP_MIN 4096

/*
 * A failures_only report drops the entries of the prefix of instances that
 * ended well, up to `upto` (exclusive: the entry being set is read again
 * in the same step, e.g. its start time by the probe at its end), once
 * they are DROP_MIN and a quarter of the entries held.
 */
static void drop_ok_prefix(struct stage_report *sr, size_t upto)
{
	size_t k;

	while (sr->ok_prefix < sr->n_instances) {
		const struct instance_entry *en = entry(sr, sr->ok_prefix);

		if (en && (en->state != INSTANCE_OK || en->detail))
			break;
		sr->ok_prefix++;
	}
	upto = upto < sr->ok_prefix ? upto : sr->ok_prefix;
	if (upto <= sr->base)
		return;
	k = upto - sr->base;
	if (k < DROP_MIN || 4 * k < sr->n_instances - sr->base)
		return;
	memmove(sr->instances, sr->instances + k,
		(sr->n_instances - upto) * sizeof(*sr->instances));
	sr->base = upto;
	/* Room for what is held and a quarter more (instance_init() grows
	 * it again): the room up to the old capacity was written once, so
	 * keeping it would keep its pages. */
	size_t held = sr->n_instances - upto, room = MAX(held + held / 4, (size_t)64);
	void *a;

	if (upto + room < sr->cap &&
	    (a = realloc(sr->instances, room * sizeof(*sr->instances)))) {
		sr->instances = a;
		sr->cap = upto + room;
	}
	/* free() keeps what it frees below live allocations, and the peak
	 * of the run's memory would keep what its start held: give it
	 * back (a few dozen times a run: the drops are geometric). */
	malloc_trim(0);
}

void instance_set_state(struct stage_report *sr, size_t i,
			enum instance_state state)
{
	struct instance_entry *en = entry(sr, i);

	if (!en)
		return;
	en->state = state;
	if (sr->failures_only && state == INSTANCE_OK)
		drop_ok_prefix(sr, i);
}

void instance_set_start(struct stage_report *sr, size_t i, uint64_t ns)
{
	struct instance_entry *en = entry(sr, i);

	if (en)
		en->start = off_of(sr, ns);
}

void instance_set_end(struct stage_report *sr, size_t i, uint64_t ns)
{
	struct instance_entry *en = entry(sr, i);

	if (en)
		en->end = off_of(sr, ns);
}

/* The entry's side block, made on first need with the entry's times. */
static struct instance_detail *detail(struct stage_report *sr, size_t i)
{
	struct instance_entry *en = &sr->instances[i - sr->base];

	if (!en->detail) {
		en->detail = calloc(1, sizeof(*en->detail));
		if (!en->detail)
			return NULL;
		en->detail->syscall = -1;
		en->detail->spawn_ns = en->spawn_ns;
		en->detail->run_ns = en->run_ns;
	}
	return en->detail;
}

void instance_set_times(struct stage_report *sr, size_t i, uint64_t spawn_ns,
			uint64_t run_ns)
{
	struct instance_entry *en = entry(sr, i);
	struct instance_detail *d;

	if (!en)
		return;
	d = en->detail;

	if (!d && (spawn_ns > UINT32_MAX || run_ns > UINT32_MAX))
		d = detail(sr, i);
	if (d) {
		d->spawn_ns = spawn_ns;
		d->run_ns = run_ns;
		return;
	}
	/* Out of memory for a long one: the most the entry can say. */
	en->spawn_ns = spawn_ns > UINT32_MAX ? UINT32_MAX : (uint32_t)spawn_ns;
	en->run_ns = run_ns > UINT32_MAX ? UINT32_MAX : (uint32_t)run_ns;
}

void instance_set_failed(struct stage_report *sr, size_t i,
			 const char *reason, int exit_status, int signal,
			 long syscall, const struct sandbox_note *note)
{
	struct instance_detail *d;
	char why[ERR_MAX];

	/* Never a dropped entry: it ended well, and nothing fails after. */
	if (!entry(sr, i))
		return;
	sr->instances[i - sr->base].state = INSTANCE_FAILED;
	d = detail(sr, i);
	if (!d)
		return;
	err_copy(why, sizeof(why), reason ? reason : "");
	free(d->reason);
	d->reason = why[0] ? strdup(why) : NULL; /* NULL: "" (out of memory) */
	d->exit_status = exit_status;
	d->signal = signal;
	d->syscall = syscall;
	if (note && note->valid && !d->note &&
	    (d->note = malloc(sizeof(*d->note))))
		*d->note = *note;
}

void instance_free_all(struct stage_report *sr)
{
	for (size_t i = sr->base; sr->instances && i < sr->n_instances; i++) {
		struct instance_detail *d = sr->instances[i - sr->base].detail;

		if (d) {
			free(d->reason);
			free(d->note);
			free(d);
		}
	}
	free(sr->instances);
	sr->instances = NULL;
	sr->base = sr->cap = sr->ok_prefix = 0;
}
