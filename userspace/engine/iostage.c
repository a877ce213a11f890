// SPDX-License-Identifier: MIT
/*
 * A run's I/O stages: started on the I/O layer, within the window when
 * they feed compute, each arrived item collected into its stage's slots.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "lib/clock.h"
#include "lib/macro.h"
#include "lib/probe.h"

/* ---- I/O stages */

static size_t io_inflight(const struct run *run)
{
	size_t n = 0;

	for (size_t s = 0; s < run->job->n_stages; s++)
		n += run->stages[s].io_inflight;
	return n;
}

/* The credit of a windowed I/O stage: fetch ahead only while the bytes
 * fetched and not consumed, and those on their way, fit the window. */
static bool io_may_start(void *data)
{
	struct stage_run *st = data;
	struct run *run = st->run;

	if (!window_open(run, io_inflight(run))) {
		st->io_blocked = true;
		st->io_held_back = true;
		return false;
	}
	if (!pace_ok(run)) {
		st->io_blocked = true;
		st->io_held_back = true;
		return false;
	}
	st->io_inflight++;
	if (st->io_probe == SIZE_MAX) {
		st->io_probe = st->io_granted;
		st->io_probe_t = clock_now_ns();
	}
	st->io_granted++;
	return true;
}

/* Item i of a windowed stage arrived or failed: the round trip's sample. */
static void io_probe_end(struct stage_run *st, size_t i, bool ok)
{
	struct run *run = st->run;
	uint64_t t;

	if (i != st->io_probe)
		return;
	st->io_probe = SIZE_MAX;
	if (!ok)
		return;
	t = clock_now_ns() - st->io_probe_t;
	/* One slow item (a retry's backoff, a late response) counts for at
	 * most twice the average: the pace follows the usual round trip. */
	if (run->rtt_ns)
		t = MIN(t, 2 * run->rtt_ns);
	run->rtt_ns = run->rtt_ns ? (run->rtt_ns * 7 + t) / 8 : MAX(t, (uint64_t)1);
	run->win_cut = false; /* a cut shows within a round trip */
}

void io_resume(struct run *run)
{
	for (size_t s = 0; s < run->job->n_stages && !run->failed; s++) {
		struct stage_run *st = &run->stages[s];

		if (!st->io || !st->io_blocked ||
		    !window_open(run, io_inflight(run)))
			continue;
		st->io_blocked = false;
		iofunc_run_resume(st->io);
	}
}

/*
 * Report entries and slots for items [0, n) of an I/O stage, set up as its
 * items arrive, not all at its start (40 bytes per item of its input: 4 MB
 * at N = 100,000 when the thesis job's memory peaks, before round 11),
 * so a report of failures only (engine_opts.report_failures_only) and the
 * slots hold what is in flight or waits, not the whole set.
 */
static int io_reserve(struct stage_run *st, size_t n)
{
	size_t from = st->slots_n;
	int r = stage_reserve(st, n);

	for (size_t i = from; r >= 0 && i < n; i++)
		instance_set_start(&st->run->rep->stages[st->s], i, st->t0);
	return r;
}

static void on_io_item(struct iofunc_run *io, size_t i, void *data)
{
	struct stage_run *st = data;
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	const struct item *in = stream_item(st->in[0], i);
	struct set **outs;
	uint64_t bytes = 0, kept = 0, kept_n = 0;
	size_t missing = SIZE_MAX;
	int r = 0;

	if (st->io_windowed && st->io_inflight) {
		st->io_inflight--;
		run->io_items++;
		io_probe_end(st, i, true);
		win_adapt(run, st);
	}
	if (run->failed)
		return;
	if (io_reserve(st, i + 1) < 0) {
		run_error(run, err_set(run->e, ENOMEM, "out of memory"));
		return;
	}
	outs = calloc(js->n_outputs + 1, sizeof(*outs));
	for (size_t k = 0; outs && k < js->n_outputs && r >= 0; k++) {
		struct buffer *buf;
		uint64_t off, len;

		outs[k] = set_new(js->outputs[k]);
		if (!outs[k])
			r = -ENOMEM;
		else if (iofunc_run_item_output(io, i, k, &buf, &off, &len))
			r = set_add(outs[k], in->name, in->keyed, in->key, buf,
				    off, len), bytes += len,
			kept += stream_kept(st->out[k]) ? len : 0,
			kept_n += stream_kept(st->out[k]);
		else if (st->out[k]->ahead)
			missing = k; /* item i of it would not be instance i's */
	}
	if (!outs || r < 0) {
		outs_free(outs, js->n_outputs);
		run_error(run, err_set(run->e, ENOMEM, "out of memory"));
		return;
	}
	if (missing != SIZE_MAX) {
		outs_free(outs, js->n_outputs);
		run_error(run, err_set(run->e, EPROTO,
				       "stage %s: item %zu succeeded without its output '%s'",
				       js->name, i, js->outputs[missing]));
		return;
	}
	/* An output nobody reads (an http stage's `status`) lets its bytes
	 * go now, not when it joins: an item waits in its slot for every
	 * earlier one, and one request late by a second (a SYN sent again)
	 * kept thousands of later heads, each in a 1 MiB chunk of its own
	 * (the chunk being filled is closed at each delivery) with a
	 * descriptor, past RLIMIT_NOFILE. Its entry stays for the count. */
	for (size_t k = 0; k < js->n_outputs; k++)
		if (!stream_kept(st->out[k]))
			for (size_t j = 0; j < outs[k]->n; j++)
				outs[k]->items[j].buf =
					buffer_unref(outs[k]->items[j].buf);
	if (st->io_windowed) {
		run->io_bytes += bytes;
		/* Until slot_fill() moves them on, or their consumers take
		 * them ahead (ahead_consumed()); an output nobody reads is
		 * dropped as it joins. */
		run->slotted += kept;
		run->slotted_n += kept_n;
		/* Released I/O buffers are kept for reuse up to the window:
		 * more would never be taken again while it holds. */
		uint64_t w = window_now(run);

		store_pool_bound_add((int64_t)(w - run->pool_bound));
		run->pool_bound = w;
	}
	instance_set_state(&run->rep->stages[st->s], i, INSTANCE_OK);
	stage_collect(st, i, outs);
	/* Its request is read no more: pass the run's finished prefix. */
	stage_advance_passes(st);
	run_progress(run);
}

/* A failed item is reported when its stage is done (on_io_done), but
 * gives its window credit back now: otherwise failures alone could close
 * the window for good, and the stage would never end. */
static void on_io_item_failed(_unused_ struct iofunc_run *io, size_t i,
			      void *data)
{
	struct stage_run *st = data;

	if (st->io_windowed && st->io_inflight) {
		st->io_inflight--;
		io_probe_end(st, i, false);
	}
}

static void on_io_done(struct iofunc_run *io, void *data)
{
	struct stage_run *st = data;
	struct run *run = st->run;
	struct stage_report *sr = &run->rep->stages[st->s];
	size_t n = iofunc_run_n_items(io);

	run->active--;
	if (io_reserve(st, n) < 0)
		run_error(run, err_set(run->e, ENOMEM, "out of memory"));
	for (size_t i = 0; i < n && st->slots_n == n; i++) {
		const char *msg = NULL;

		iofunc_run_item_error(io, i, &msg);
		if (msg && msg[0])
			run_fail_instance(run, st->s, i, msg, NULL);
		else if (run->failed &&
			 instance_state(sr, i) != INSTANCE_FAILED)
			instance_set_state(sr, i, INSTANCE_CANCELLED);
	}
	st->io = NULL;
	st->io_inflight = 0;
	iofunc_run_free(io);
	run_progress(run);
}

/*
 * An I/O stage fetches ahead within the window when the window cannot
 * starve its consumers: each of its outputs is read only as the `each`
 * first parameter of compute stages whose other inputs are the job's (an
 * `all` consumer needs everything at once, so its producer is not held
 * back).
 */
bool io_windowable(struct run *run, const struct stage_run *st)
{
	const struct job_stage *js = stage_of(st);

	for (size_t k = 0; k < js->n_outputs; k++) {
		const struct stream *x = st->out[k];

		for (size_t c = 0; c < x->n_consumers; c++) {
			const struct stage_run *cs = x->consumers[c].st;
			const struct job_stage *cj = stage_of(cs);

			if (cj->io || x->consumers[c].param != 0 ||
			    cj->inputs[0].mode != JOB_MODE_EACH)
				return false;
			for (size_t p = 1; p < cj->n_inputs; p++)
				if (cj->inputs[p].ref.stage >= 0)
					return false;
		}
	}
	(void)run;
	return true;
}

int io_stage_start(struct stage_run *st)
{
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	const struct iofunc *fn = iofunc_lookup(js->io);
	struct iofunc_ctx ctx = run->ioctx;
	struct err ie = {};

	ctx.stage = (int)st->s;
	int r;

	if (!fn)
		return err_set(run->e, ENOENT,
			       "stage %s: unknown I/O function '%s'", js->name,
			       js->io);
	if (!strcmp(js->io, "file.write")) {
		/* Every item it will write is there: all charged first. */
		const struct set *in = st->in[0]->set;
		uint64_t bytes = 0;

		for (size_t i = 0; i < in->n; i++)
			bytes += in->items[i].len;
		if (!run_disk_charge(run, bytes, "stage", js->name)) {
			run->rep->stages[st->s].ok = false;
			return -EFBIG;
		}
	}
	st->io_sink = calloc(js->n_outputs + 1, sizeof(*st->io_sink));
	if (!st->io_sink)
		return err_set(run->e, ENOMEM, "out of memory");
	for (size_t k = 0; k < js->n_outputs; k++) {
		st->io_sink[k] = set_new(js->outputs[k]);
		if (!st->io_sink[k])
			return err_set(run->e, ENOMEM, "out of memory");
	}
	r = stage_instance_limit(st, st->in[0]->set->n, false);
	if (r < 0)
		return r;
	st->closed = true;
	st->n_instances = st->in[0]->set->n;
	run->rep->stages[st->s].n_counted = st->n_instances;
	iopolicy_stage_ctx(&run->iopol, js, &ctx);
	PROBE_STAGE_START(run->id, st->s, js->name, js->io, 1, st->n_instances);
	ctx.item = on_io_item;
	ctx.item_failed = on_io_item_failed;
	ctx.input_base = &st->in[0]->base;
	ctx.stream_data = st;
	if (st->io_windowed) {
		ctx.may_start = io_may_start;
		/* Its items live from their arrival to their consumers'
		 * end, as many as the window holds: each a buffer of its
		 * own, whose pages go with it (architecture.md, "Buffers
		 * and release"). Not when one is a job output, which may
		 * stay to the end (no -o): a descriptor per item then. */
		ctx.item_buffers = true;
		for (size_t k = 0; k < js->n_outputs; k++)
			if (st->out[k]->job_output)
				ctx.item_buffers = false;
		st->io_probe = SIZE_MAX;
		/* 0: the function's default, 64 requests or 256 files */
		run->iopol_concurrency_max =
			MAX(run->iopol_concurrency_max,
			    ctx.concurrency ? ctx.concurrency : 256u);
	}
	r = iofunc_start(run->loop, fn, &ctx, st->in[0]->set, st->io_sink,
			 on_io_done, st, &st->io, &ie);
	if (r < 0)
		return err_set(run->e, -r, "stage %s: %s", js->name, ie.msg);
	run->active++;
	return 0;
}
