// SPDX-License-Identifier: MIT
/*
 * A run's prefetch window: the bytes I/O stages may fetch ahead of their
 * consumers, its count of items adapted to compute, and the pace of its
 * starts over the round trip.
 */
#include "engine/internal.h"
#include "lib/clock.h"
#include "lib/macro.h"

/* Before an I/O stage's first item arrives, each item in flight counts as
 * this part of the window. */
#define WINDOW_FIRST_GUESS 4
/* Items per CPU waiting for compute past which the window shrinks back
 * (win_adapt()). */
#define ENGINE_WINDOW_BACKLOG 24

/* ---- the window and its pace */

static uint64_t window_guess(const struct run *run)
{
	return run->io_items ? run->io_bytes / run->io_items :
			       run->window / WINDOW_FIRST_GUESS;
}

/*
 * The window in force. --window fixes it. By default it is what compute can
 * absorb: run->win_items, from ENGINE_WINDOW_ITEMS_PER_SLOT items per CPU
 * compute may use (run->cpus: --parallel's slots beyond the CPUs absorb
 * nothing more; more while compute idles on a far server: win_adapt()) at
 * the average size of the items so far, within [ENGINE_WINDOW_MIN,
 * ENGINE_WINDOW_DEFAULT]: I/O runs ahead of compute by a number of items
 * that grows with the cores, not by a byte count that holds thousands of
 * small ones (measured: Documentation/benchmarks/memory.md, the thesis
 * memory breakdown).
 */
uint64_t window_now(const struct run *run)
{
	uint64_t w;

	if (run->opts->window || !run->io_items)
		return run->window;
	w = MAX(window_guess(run), (uint64_t)1) * run->win_items;
	return MIN(MAX(w, ENGINE_WINDOW_MIN), run->window);
}

uint64_t win_base(const struct run *run)
{
	return (uint64_t)run->cpus * ENGINE_WINDOW_ITEMS_PER_SLOT;
}

/* The longest running average of the instances consuming st's outputs
 * (0: none known yet). */
static uint64_t consumers_run_ns(const struct stage_run *st)
{
	const struct job_stage *js = stage_of(st);
	uint64_t t = 0;

	for (size_t k = 0; k < js->n_outputs; k++)
		for (size_t c = 0; c < st->out[k]->n_consumers; c++)
			t = MAX(t, st->out[k]->consumers[c].st->run_avg_ns);
	return t;
}

/*
 * The default window's count of items, adapted as each windowed item
 * arrives (round 8). ENGINE_WINDOW_ITEMS_PER_SLOT per CPU is what compute
 * absorbs when items come at once; from a server far away (20 ms: the
 * thesis) they came 96 per round trip, and compute idled most of the
 * time (Documentation/benchmarks/thesis.md, "The window's count of items
 * adapts, and its starts are paced (round 8, branch thesis20)"). So:
 * - one item more every second arrival with fewer than one item per CPU
 *   waiting for compute while the window or its pace held a start back
 *   (compute idles and the window is the limit: at most 1.5x per round
 *   trip), up to `most`: the items compute takes in a round trip at its
 *   instances' running average (Little's law; a loaded machine's longer
 *   runs lower it), and never more than the windowed stages' requests in
 *   flight could use. Round 8 stopped at half of it, as each item in
 *   flight then cost memory as it arrived (a 64 MiB arena chunk's pages
 *   stayed until its last item was consumed); since round 9 an item's
 *   buffer is its own and goes when it is consumed (arena_own_items()),
 *   so requests in flight hold no bytes and the items arrived are what
 *   compute has not taken yet (benchmarks/thesis.md, "round 9, branch
 *   thesis21");
 * - a quarter less, once per round trip, while more than
 *   ENGINE_WINDOW_BACKLOG per CPU wait (compute is behind), and one less
 *   per arrival while above `most`; never below the base.
 * Items waiting are those arrived and not taken by an instance (held and
 * slotted), at the average size. --window fixes the window: no change.
 */
void win_adapt(struct run *run, struct stage_run *st)
{
	uint64_t guess = MAX(window_guess(run), (uint64_t)1);
	uint64_t waiting = (run->held + run->slotted) / guess;
	uint64_t base = win_base(run), t = consumers_run_ns(st), most;

	if (run->opts->window)
		return;
	most = t && run->rtt_ns ? run->rtt_ns * run->cpus / t : base;
	most = MIN(most, (uint64_t)run->iopol_concurrency_max + base);
	if (waiting > (uint64_t)run->cpus * ENGINE_WINDOW_BACKLOG) {
		if (!run->win_cut && run->win_items > base) {
			run->win_items = MAX(base,
					     run->win_items - run->win_items / 4);
			run->win_cut = true;
		}
	} else if (run->win_items > MAX(most, base)) {
		run->win_items--;
	} else if (waiting < run->cpus && st->io_held_back &&
		   run->win_items < most && ++run->win_grow % 2 == 0) {
		run->win_items++;
	}
	st->io_held_back = false;
}

/*
 * Whether one more item may start: the bytes fetched and not consumed
 * and those on their way fit the window, and so do the outputs waiting
 * behind a late item (run->behind: an instance's outputs wait in its slot
 * for every earlier one of its stage, and each item fetched meanwhile
 * adds its own, unbounded before round 11: one response 10 s late grew
 * pith's heap to 250 MiB). The late item is on its way or running
 * already (items start in order), so it still comes and lets them join;
 * even the one item at a time waits for it.
 */
bool window_open(const struct run *run, size_t inflight)
{
	if (run->behind > window_now(run))
		return false;
	if (run->held == 0 && run->slotted == 0 && inflight == 0)
		return true; /* one item at a time, however large */
	return run->held + run->slotted + (inflight + 1) * window_guess(run) <=
		       window_now(run) &&
	       run->held_n + run->slotted_n + inflight < run->win_fds;
}


static void on_pace(struct loop_op *op, _unused_ int res,
		    _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, pace_op);

	run->pace_armed = false;
	if (!run->pace_off)
		io_resume(run);
}

/*
 * Once a round trip is timed, the default window's items start paced: one
 * per round trip / items, up to a millisecond of them at once (the
 * timer's grain; next door, at 0 ms, that is more than the window holds,
 * so nothing waits). Started as the window frees, they come back as they
 * went, in bursts compute drains only after the next lands, its bytes all
 * held meanwhile (round 5 measured it: "The window at 20 ms"); paced, they
 * come back spread over the round trip, about as compute takes them
 * (round 8: from the start of the window too, the peak 14.75 -> 13.0 MiB).
 */
#define PACE_BURST_NS 1000000ull
bool pace_ok(struct run *run)
{
	uint64_t now, step;

	if (run->opts->window || !run->rtt_ns)
		return true;
	step = run->rtt_ns / run->win_items;
	now = clock_now_ns();
	if (run->pace_next + PACE_BURST_NS < now)
		run->pace_next = now - PACE_BURST_NS;
	if (run->pace_next <= now) {
		run->pace_next += step;
		return true;
	}
	if (!run->pace_armed && !run->pace_off) {
		run->pace_op.cb = on_pace;
		if (loop_timeout(run->loop, &run->pace_op,
				 (run->pace_next - now + 999999) / 1000000) >= 0)
			run->pace_armed = true;
	}
	return false;
}
