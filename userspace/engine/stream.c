// SPDX-License-Identifier: MIT
/*
 * A run's streams: the items of each set in instance order, claimed by the
 * consumers that will take them and released when none will; items taken
 * out of order before they join; the slots where instances' outputs wait
 * to join their stage's sets in order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "lib/array.h"
#include "lib/clock.h"
#include "lib/macro.h"
#include "lib/probe.h"

/* A slot whose outputs joined (moved on): not NULL, never a set array. */
static struct set *slot_joined_mark[1];
#define SLOT_JOINED ((struct set **)slot_joined_mark)

/* Instance i's slot (i in [slots_base, slots_n)). */
static struct set ***slot_of(const struct stage_run *st, size_t i)
{
	return &st->slots[i - st->slots_base];
}

/* Room for instances [0, n) in the stage's report and slots. The slots
 * hold [slots_base, n): slots_compact() drops the joined prefix. */
int stage_reserve(struct stage_run *st, size_t n)
{
	struct stage_report *sr = &st->run->rep->stages[st->s];
	size_t cap = st->slots_cap, base = st->slots_base;

	if (n > sr->n_instances)
		sr->n_instances = n;
	if (n > sr->n_counted)
		sr->n_counted = n;
	if (n > base + cap) {
		cap = MAX(MAX(cap * 2, n - base), (size_t)16);
		if (!sr->instances)
			sr->t0_ns = st->t0 ? st->t0 : clock_now_ns();
		if (instance_reserve(sr, MAX(sr->cap, base + cap)) < 0)
			return -ENOMEM;
		void *a = realloc(st->slots, cap * sizeof(*st->slots));
		if (!a)
			return -ENOMEM;
		st->slots = a;
		st->slots_cap = cap;
	}
	/* Entries are set up as instances come, not for the whole capacity:
	 * the doubling's spare half is never touched (pages pith holds). */
	if (n > st->slots_n) {
		for (size_t i = st->slots_n; i < n; i++)
			if (instance_init(sr, i) < 0)
				return -ENOMEM;
		memset(slot_of(st, st->slots_n), 0,
		       (n - st->slots_n) * sizeof(*st->slots));
		st->slots_n = n;
	}
	return 0;
}

/* Free the outputs still waiting in the stage's slots, and the slots. */
void stage_slots_free(struct stage_run *st)
{
	for (size_t i = st->visible; i < st->slots_n; i++)
		outs_free(*slot_of(st, i), stage_of(st)->n_outputs);
	st->slots = (free(st->slots), NULL);
}

/*
 * Drop the slots of the joined prefix once it is a quarter of them (and
 * SLOTS_COMPACT_MIN at least), as streams drop their released prefix:
 * 8 bytes per instance (and per I/O item) stayed to the run's end
 * before round 11, 800 KB per stage at N = 100,000.
 */
#define SLOTS_COMPACT_MIN 4096

static void slots_compact(struct stage_run *st)
{
	size_t k = st->visible - st->slots_base, n = st->slots_n - st->slots_base;
	size_t cap;
	void *a;

	if (k < SLOTS_COMPACT_MIN || 4 * k < n)
		return;
	memmove(st->slots, st->slots + k, (n - k) * sizeof(*st->slots));
	st->slots_base += k;
	n -= k;
	cap = MAX(n + n / 4, (size_t)64);
	if (cap < st->slots_cap &&
	    (a = realloc(st->slots, cap * sizeof(*st->slots)))) {
		st->slots = a;
		st->slots_cap = cap;
	}
}

/* ---- streams: items in instance order, released when nobody takes them */

/* ---- out of order: items taken before they join their stream */

/* Room for bit i (new words zero). */
int bits_reserve(struct bits *b, size_t i)
{
	size_t n;
	uint64_t *a;

	if (i / 64 < b->words)
		return 0;
	n = MAX(i / 64 + 1, b->words * 2);
	a = realloc(b->w, n * sizeof(*a));
	if (!a)
		return -ENOMEM;
	memset(a + b->words, 0, (n - b->words) * sizeof(*a));
	b->w = a;
	b->words = n;
	return 0;
}

static bool inst_started(const struct stage_run *st, size_t i)
{
	return i < st->next || bits_get(&st->started, i);
}

/* The inst_queued probe of instance i, once: in order as the prefix
 * grows (inst_dispatch()), or as its item comes ahead of it (slot_fill()). */
void stage_probe_queued(struct stage_run *st, size_t i)
{
	if (i < st->queued || inst_started(st, i) ||
	    bits_get(&st->queued_ahead, i))
		return;
	if (i > st->queued && bits_reserve(&st->queued_ahead, i) >= 0)
		bits_set(&st->queued_ahead, i);
	PROBE_INST_QUEUED(st->run->id, st->s, i, st->fn_name);
}

/* The first instance of [a, b) not started, b when none. */
size_t stage_first_unstarted(const struct stage_run *st, size_t a, size_t b)
{
	size_t i = MAX(a, st->next);

	while (i < b) {
		if (i / 64 >= st->started.words)
			return i;
		if (i % 64 == 0 && st->started.w[i / 64] == UINT64_MAX) {
			i += 64;
			continue;
		}
		if (!bits_get(&st->started, i))
			return i;
		i++;
	}
	return b;
}

/* Item j of the ahead stream x while it has not joined: the one item of
 * output out_k in its producer's slot j; NULL when that slot holds none. */
struct item *stream_slot_item(struct stream *x, size_t j)
{
	struct stage_run *p = x->producer;
	struct set **o;

	if (!p || j < p->visible || j >= p->slots_n)
		return NULL;
	o = *slot_of(p, j);
	if (!o || o == SLOT_JOINED || !o[x->out_k] ||
	    o[x->out_k]->n != 1)
		return NULL;
	return &o[x->out_k]->items[0];
}

/* Consumers of x that took its item j ahead (before it joined). */
size_t stream_taken_ahead(const struct stream *x, size_t j)
{
	size_t n = 0;

	for (size_t c = 0; c < x->n_consumers; c++) {
		const struct stage_run *cs = x->consumers[c].st;

		n += x->consumers[c].param == 0 && cs->ooo &&
		     bits_get(&cs->taken, j);
	}
	return n;
}

/* Min-heap of the items of in[0] that arrived ahead (ahead_next()). */
static int stage_ready_push(struct stage_run *st, size_t j)
{
	size_t k;

	if (ARRAY_GROW(st->ready, st->ready_cap, st->n_ready, 16) < 0)
		return -ENOMEM;
	for (k = st->n_ready++; k > 0 && st->ready[(k - 1) / 2] > j;
	     k = (k - 1) / 2)
		st->ready[k] = st->ready[(k - 1) / 2];
	st->ready[k] = j;
	return 0;
}

void stage_ready_pop(struct stage_run *st)
{
	size_t n = --st->n_ready, k = 0, last = st->ready[n];

	for (;;) {
		size_t c = 2 * k + 1;

		if (c >= n)
			break;
		if (c + 1 < n && st->ready[c + 1] < st->ready[c])
			c++;
		if (last <= st->ready[c])
			break;
		st->ready[k] = st->ready[c];
		k = c;
	}
	if (n)
		st->ready[k] = last;
}

/*
 * Drop the entries of a released prefix of x once it is a quarter of the
 * set (and 4,096 items at least): a released item is never read again, and every
 * consumer reads a stream in item order, so what has passed is a prefix.
 * Job outputs keep theirs (the report lists them); an I/O stage passes
 * the items its run is done with (iofunc_run_finished_prefix()), and the
 * run reads its input from the stream's moving base (ctx.input_base).
 */
#define STREAM_COMPACT_MIN 4096

static void stream_compact(struct stream *x)
{
	struct set *s = x->set;
	size_t k = 0;

	if (x->job_output || s->n < STREAM_COMPACT_MIN)
		return;
	/* Cheap test first (called for every item passed): the prefix is
	 * long enough only if its last item is released. */
	if (x->claims[MAX((size_t)STREAM_COMPACT_MIN, (s->n + 3) / 4) - 1])
		return;
	while (k < s->n && x->claims[k] == 0)
		k++;
	if (k < STREAM_COMPACT_MIN || 4 * k < s->n)
		return;
	for (size_t j = 0; j < k; j++)
		free(s->items[j].name); /* NULL: freed at the release */
	memmove(s->items, s->items + k, (s->n - k) * sizeof(*s->items));
	memmove(x->claims, x->claims + k, (s->n - k) * sizeof(*x->claims));
	s->n -= k;
	x->base += k;
	/* Give the room back, but a quarter (the arrays grow again by
	 * doubling): a set made whole at once (a request set) shrinks as it
	 * passes, 100,000 entries of 48 bytes to 75,000, 56,250... */
	size_t cap = MAX(s->n + s->n / 4, (size_t)64);
	void *a;

	if (cap < s->cap && (a = realloc(s->items, cap * sizeof(*s->items)))) {
		s->items = a;
		s->cap = cap;
	}
	if (cap < x->claims_cap &&
	    (a = realloc(x->claims, cap * sizeof(*x->claims)))) {
		x->claims = a;
		x->claims_cap = cap;
	}
}

static void release_item(struct run *run, struct stream *x, size_t j)
{
	struct item *it = stream_item(x, j);

	if (x->windowed) {
		run->held -= it->len;
		run->held_n--;
	}
	/* A job output stays unless it was written out (spilled); its name
	 * stays for the report. Nobody reads a released item again: its
	 * name goes too (an item's bytes of pith's heap are its entry). */
	if (!x->job_output || run->writer)
		it->buf = buffer_unref(it->buf);
	if (!x->job_output)
		it->name = (free(it->name), NULL);
	x->n_released++;
}

static void unclaim(struct run *run, struct stream *x, size_t j)
{
	if (--x->claims[j - x->base] == 0)
		release_item(run, x, j);
}

/*
 * Charge `bytes` the job is about to write (a job output item, a file.write
 * stage's items) against --max-disk, before a byte of it is written: past
 * the limit the job fails naming it, and nothing it wrote stays.
 */
bool run_disk_charge(struct run *run, uint64_t bytes, const char *kind,
		     const char *what)
{
	if (run->failed)
		return false;
	if (bytes > run->max_disk - run->disk) {
		run_error(run, err_set(run->e, EFBIG,
				       "%s %s: the job would write %" PRIu64 "+ bytes, more than its limit of %" PRIu64
				       " (--max-disk; default half the free space of the output filesystem)",
				       kind, what, run->disk + MIN(bytes, UINT64_MAX - run->disk),
				       run->max_disk));
		return false;
	}
	run->disk += bytes;
	return true;
}

/* Item j of x joined its set: hand it to the writer for each job output
 * that names x (one claim each until it is on disk), and release it if
 * nobody claims it. */
int stream_spill(struct run *run, struct stream *x, size_t j)
{
	const struct job *job = run->job;

	for (size_t i = 0; run->writer && x->job_output && i < job->n_outputs;
	     i++) {
		int r;

		if (ref_stream(run, &job->outputs[i].ref) != x)
			continue;
		if (!run_disk_charge(run, stream_item(x, j)->len, "output",
				     job->outputs[i].name))
			break;
		r = output_put(run->writer, i, stream_item(x, j), x, j);
		if (r < 0)
			return r;
		x->claims[j - x->base]++;
	}
	if (x->claims[j - x->base] == 0)
		release_item(run, x, j);
	return 0;
}

void stream_written(void *data, void *owner, uint64_t tag)
{
	struct run *run = data;

	unclaim(run, owner, (size_t)tag);
	/* The writer caught up: compute may go on (inst_dispatch()). */
	if (output_backlog(run->writer) == ENGINE_WRITE_BACKLOG / 2)
		run_progress(run);
}

/* `taken`: consumers that took the item ahead (stream_taken_ahead()), which hold
 * no claim on it. */
static int stream_add(struct run *run, struct stream *x, const struct item *it,
		      size_t taken)
{
	size_t j = stream_n(x);
	int r;

	/* Read by no stage and not a job output (an http stage's unused
	 * `status`): dropped as it arrives, without an entry in the set. */
	if (!stream_kept(x)) {
		x->n_released++;
		return 0;
	}
	r = ARRAY_GROW(x->claims, x->claims_cap, x->set->n, 64);
	if (r < 0)
		return r;
	if (taken && taken == x->n_consumers) {
		/* Every consumer took it ahead and its slot let its buffer
		 * go (ahead_consumed()): the entry a release leaves. */
		r = ARRAY_GROW(x->set->items, x->set->cap, x->set->n, 8);
		if (r < 0)
			return r;
		x->claims[x->set->n] = 0;
		x->set->items[x->set->n++] = (struct item){
			.keyed = it->keyed, .key = it->key, .len = it->len
		};
		x->n_released++;
		return 0;
	}
	x->claims[x->set->n] = (uint32_t)(x->n_consumers - taken);
	r = set_add_item(x->set, it);
	if (r < 0)
		return r;
	if (x->windowed) {
		run->held += it->len;
		run->held_n++;
	}
	return stream_spill(run, x, j);
}

/* Whether the stage will never again start an instance. */
static bool stage_exhausted(const struct stage_run *st)
{
	if (st->state == STAGE_DONE)
		return true;
	return st->state == STAGE_RUNNING && !stage_of(st)->io &&
	       ((st->closed && st->next >= st->n_instances) ||
		st->d.per_item == 0);
}

/* Give up the stage's claims on the items no instance to come takes. */
void stage_advance_passes(struct stage_run *st)
{
	const struct job_stage *js = stage_of(st);
	bool all = stage_exhausted(st);

	if (st->state == STAGE_WAITING)
		return;
	for (size_t p = 0; p < js->n_inputs; p++) {
		struct stream *x = st->in[p];
		size_t upto = st->passed[p];

		if (all)
			upto = stream_n(x);
		else if (p == 0 && !js->io && st->d.each0)
			upto = MAX(upto, MIN(st->next / st->d.per_item,
					     stream_n(x)));
		else if (p == 0 && st->fold) /* the started instances' items */
			upto = MAX(upto, MIN(st->next * st->fold, stream_n(x)));
		else if (p == 0 && js->io && st->io) /* the run is done with */
			upto = MAX(upto, MIN(iofunc_run_finished_prefix(st->io),
					     stream_n(x)));
		while (st->passed[p] < upto) {
			size_t j = st->passed[p]++;

			/* Taken ahead: it joined without this stage's claim. */
			if (p == 0 && st->ooo &&
			    bits_get(&st->taken, j))
				continue;
			unclaim(st->run, x, j);
		}
		stream_compact(x);
	}
}

/* New items in x: consumers that pass everything pass them too. */
void stream_grew(struct stream *x)
{
	for (size_t c = 0; c < x->n_consumers; c++)
		stage_advance_passes(x->consumers[c].st);
}

/* ---- slots: instance outputs joining the stage's sets in order */

void outs_free(struct set **outs, size_t n)
{
	if (!outs)
		return;
	for (size_t k = 0; k < n; k++)
		set_free(outs[k]);
	free(outs);
}

/* Append one instance's outputs `o` to the stage's output streams, in
 * order, and count them in the report; `o` stays the caller's. */
int outs_join(struct stage_run *st, struct set **o)
{
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	struct stage_report *sr = &run->rep->stages[st->s];

	for (size_t k = 0; k < js->n_outputs; k++) {
		struct stream *x = st->out[k];

		for (size_t j = 0; o[k] && j < o[k]->n; j++) {
			size_t taken = x->ahead ? stream_taken_ahead(x, stream_n(x)) : 0;
			int r;

			/* An item every consumer took ahead left the window
			 * then (ahead_consumed()). */
			if (st->io_windowed && stream_kept(x) &&
			    !(taken && taken == x->n_consumers)) {
				run->slotted -= MIN(run->slotted,
						    o[k]->items[j].len);
				run->slotted_n -= MIN(run->slotted_n, 1);
			}
			r = stream_add(run, x, &o[k]->items[j], taken);
			if (r < 0)
				return r;
			sr->bytes_out += o[k]->items[j].len;
		}
		sr->items_out += o[k] ? o[k]->n : 0;
	}
	return 0;
}

/*
 * What instance outputs `o` cost pith while they wait in their slot for an
 * earlier instance: the outputs' array, each set with its name, items'
 * array and items' names, the instance's report entry and, for a compute
 * stage, its items' bytes (a packed buffer's or a buffer's; an I/O
 * stage's are the window's already, `slotted`). Names and lengths do not
 * change while they wait, so the figure is the same when the slot fills
 * and when it joins.
 */
static uint64_t slot_cost(const struct stage_run *st, struct set **o)
{
	const struct job_stage *js = stage_of(st);
	uint64_t c = (js->n_outputs + 1) * sizeof(*o) +
		     sizeof(struct instance_entry);

	for (size_t k = 0; k < js->n_outputs; k++) {
		const struct set *s = o[k];

		if (!s)
			continue;
		c += sizeof(*s) + strlen(s->name) + 1 +
		     s->cap * sizeof(*s->items);
		for (size_t j = 0; j < s->n; j++)
			c += (s->items[j].name ? strlen(s->items[j].name) + 1 : 0) +
			     (js->io ? 0 : s->items[j].len);
	}
	return c;
}

static int slot_fill(struct stage_run *st, size_t i, struct set **outs)
{
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	struct stage_report *sr = &run->rep->stages[st->s];
	size_t first = st->visible;

	st->collected++;
	instance_set_end(sr, i, clock_now_ns());
	if (st->fold) {
		/* Collected in order (instance i+1 starts only now): its
		 * outputs wait for the next instance, or the stage's end. */
		outs_free(st->carry, js->n_outputs);
		st->carry = outs;
		*slot_of(st, st->visible++) = SLOT_JOINED;
		slots_compact(st);
		return 0;
	}
	*slot_of(st, i) = outs;
	while (st->visible < st->slots_n && *slot_of(st, st->visible)) {
		struct set **o = *slot_of(st, st->visible);
		int r;

		if (st->visible != i) { /* it waited (below) */
			run->behind -= MIN(run->behind, slot_cost(st, o));
			run->behind_n -= MIN(run->behind_n, 1);
		}
		r = outs_join(st, o);
		if (r < 0)
			return r;
		outs_free(o, js->n_outputs);
		/* Not NULL: the slot is taken (its outputs moved on). */
		*slot_of(st, st->visible++) = SLOT_JOINED;
	}
	if (i >= st->visible) { /* waits for an earlier instance */
		run->behind += slot_cost(st, outs);
		run->behind_n++;
	}
	if (st->visible > first) {
		slots_compact(st);
		for (size_t k = 0; k < js->n_outputs; k++)
			stream_grew(st->out[k]);
	}
	/* Still waiting for an earlier item: its out-of-order consumers may
	 * take it now (ahead_next()). */
	for (size_t k = 0; i >= st->visible && k < js->n_outputs; k++) {
		struct stream *x = st->out[k];

		for (size_t c = 0; x->ahead && c < x->n_consumers; c++) {
			struct stage_run *cs = x->consumers[c].st;

			if (x->consumers[c].param != 0 || !cs->ooo ||
			    stage_exhausted(cs))
				continue;
			if (stage_ready_push(cs, i) < 0)
				return -ENOMEM;
			/* Its instances are ready (a waiting stage's are
			 * probed when it takes them). */
			for (size_t q = i * cs->d.per_item;
			     cs->state == STAGE_RUNNING &&
			     q < (i + 1) * cs->d.per_item; q++)
				stage_probe_queued(cs, q);
		}
	}
	return 0;
}

static void deferred_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct deferred *df = container_of(op, struct deferred, op);
	struct stage_run *st = df->st;
	struct run *run = st->run;
	int r;

	(void)res;
	(void)flags;
	if (df->hops && !run->failed) {
		df->hops--;
		if (loop_post(run->loop, op) >= 0)
			return;
	}
	run->active--;
	if (run->failed) {
		outs_free(df->outs, stage_of(st)->n_outputs);
	} else {
		r = slot_fill(st, df->index, df->outs);
		if (r < 0)
			run_error(run, err_set(run->e, -r, "out of memory"));
	}
	free(df);
	run_progress(run);
}

static uint32_t shuffle_next(struct run *run)
{
	uint32_t x = run->shuffle;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return run->shuffle = x;
}

/* Instance i finished with these outputs. The test hook (shuffle) holds
 * them back for a random number of loop turns, so instances are collected
 * in an order unrelated to their numbering. */
void stage_collect(struct stage_run *st, size_t i, struct set **outs)
{
	struct run *run = st->run;
	struct deferred *df;
	int r;

	if (run->shuffle && (df = calloc(1, sizeof(*df)))) {
		*df = (struct deferred){ .op.cb = deferred_cb, .st = st,
					 .index = i, .outs = outs,
					 .hops = shuffle_next(run) % 8 };
		if (loop_post(run->loop, &df->op) >= 0) {
			run->active++;
			return;
		}
		free(df);
	}
	r = slot_fill(st, i, outs);
	if (r < 0)
		run_error(run, err_set(run->e, -r, "out of memory"));
}
