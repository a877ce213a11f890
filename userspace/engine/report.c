// SPDX-License-Identifier: MIT
/*
 * The instances of a stage report: a 32-byte entry per instance (state,
 * times), and a side block for the few that failed or whose times do not
 * fit in the entry. A 100,000-instance stage that ends well keeps 3.1 MiB
 * of entries (it kept 6.9 MiB of 72-byte reports before).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "lib/err.h"

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

uint64_t instance_start_ns(const struct stage_report *sr, size_t i)
{
	return ns_of(sr, sr->instances[i].start);
}

uint64_t instance_end_ns(const struct stage_report *sr, size_t i)
{
	return ns_of(sr, sr->instances[i].end);
}

void instance_get(const struct stage_report *sr, size_t i,
		  struct instance_report *ret)
{
	const struct instance_entry *en = &sr->instances[i];
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
	if (cap > SIZE_MAX / sizeof(*sr->instances))
		return -ENOMEM;
	void *a = realloc(sr->instances, (cap ? cap : 1) * sizeof(*sr->instances));

	if (!a)
		return -ENOMEM;
	sr->instances = a;
	return 0;
}

void instance_init(struct stage_report *sr, size_t i)
{
	sr->instances[i] = (struct instance_entry){};
}

void instance_set_state(struct stage_report *sr, size_t i,
			enum instance_state state)
{
	sr->instances[i].state = state;
}

void instance_set_start(struct stage_report *sr, size_t i, uint64_t ns)
{
	sr->instances[i].start = off_of(sr, ns);
}

void instance_set_end(struct stage_report *sr, size_t i, uint64_t ns)
{
	sr->instances[i].end = off_of(sr, ns);
}

/* The entry's side block, made on first need with the entry's times. */
static struct instance_detail *detail(struct stage_report *sr, size_t i)
{
	struct instance_entry *en = &sr->instances[i];

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
	struct instance_entry *en = &sr->instances[i];
	struct instance_detail *d = en->detail;

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

	sr->instances[i].state = INSTANCE_FAILED;
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
	for (size_t i = 0; sr->instances && i < sr->n_instances; i++) {
		struct instance_detail *d = sr->instances[i].detail;

		if (d) {
			free(d->reason);
			free(d->note);
			free(d);
		}
	}
	free(sr->instances);
	sr->instances = NULL;
}
