/* SPDX-License-Identifier: MIT */
/*
 * What the engine's files share about one run: its stages, streams and
 * instances (engine.c runs it, stream.c keeps its items, instance.c its
 * compute instances, window.c and iostage.c its I/O, cancel.c its cancel).
 * Not an interface: only userspace/engine/ includes it.
 */
#ifndef PITH_ENGINE_INTERNAL_H
#define PITH_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/distribute.h"
#include "engine/engine.h"
#include "engine/iopolicy.h"
#include "engine/output.h"
#include "iofuncs/iofuncs.h"
#include "lib/uring.h"

/* Job output items given to the writer and not written yet, past which no
 * compute instance starts. */
#define ENGINE_WRITE_BACKLOG 32

enum stage_state { STAGE_WAITING, STAGE_RUNNING, STAGE_DONE };

struct run;
struct stage_run;

/* A stage parameter that reads a stream. */
struct consumer {
	struct stage_run *st;
	size_t param;
};

/*
 * A set that grows item by item: a job input (complete from the start) or
 * a stage output (the outputs of its instances, in instance order, as far
 * as every earlier instance has been collected).
 */
/* A growable set of bits, one per instance or item (out of order). */
struct bits {
	uint64_t *w;
	size_t words;
};

struct stream {
	struct set *set;
	bool complete;
	bool job_output;  /* kept until the end: never released */
	bool windowed;	  /* an I/O stage's: unconsumed bytes count in the window */
	/* The stage whose output `out_k` this is; NULL: a job input. */
	struct stage_run *producer;
	size_t out_k;
	/* Items may be taken before they join (ahead()): an I/O stage's
	 * output that is not a job output. An I/O instance makes exactly one
	 * item of each output, so item j is instance j's, waiting in the
	 * producer's slot j until every earlier one has joined. */
	bool ahead;
	uint32_t *claims; /* per item: consumer parameters that may take it */
	size_t claims_cap;
	/* Items [0, base) were released and their entries dropped: set->items
	 * and claims start at item `base` (stream_item(), stream_n()). */
	size_t base;
	struct consumer *consumers;
	size_t n_consumers, consumers_cap;
	size_t n_released;
};

/* One compute instance. The run polls the sandbox's one fd for all of
 * them (on_sandbox(), on_listener()), so an instance has no loop op of
 * its own. */
struct inst {
	struct stage_run *st;
	size_t index;
	struct sandbox_proc *proc;
	struct set **inputs; /* np sets: its references to the items it reads */
	bool finished;
	bool due; /* past its deadline: on_deadline() steps it */
	bool cancelled; /* killed because the job failed elsewhere */
	struct inst *prev, *next; /* in run->live while running */
};

/* An instance's outputs on their way into its slot (the shuffle hook). */
struct deferred {
	struct loop_op op;
	struct stage_run *st;
	size_t index;
	struct set **outs;
	unsigned hops;
};

struct stage_run {
	struct run *run;
	size_t s;
	enum stage_state state;
	uint64_t t0;
	struct stream **in;  /* per parameter */
	struct stream **out; /* per output */
	struct set **in_sets;
	size_t *passed;	/* per parameter: items of in[p] it no longer takes */
	/* instances */
	struct dist d;
	bool closed;	/* n_instances is final */
	size_t n_instances; /* known so far */
	size_t next, running, collected;
	/* Per instance from slots_base on: its outputs until they join
	 * (slots_compact() drops the joined prefix) */
	struct set ***slots;
	size_t slots_base, slots_cap, visible; /* instances [0, visible) are in `out` */
	size_t slots_n; /* slots and report entries set up: [0, slots_n) */
	/* A folding stage ("fold": B): instance k reads carry (instance
	 * k-1's outputs), then items [kB, (k+1)B); the last one's outputs
	 * join `out` when the stage completes. */
	size_t fold;
	struct set **carry;
	/* compute */
	const struct elf_image *image;
	/* running average of its instances' run time (ns); 0: none ended */
	uint64_t run_avg_ns;
	/* the shortest run of its last ENGINE_MIN_RUNS..2 * ENGINE_MIN_RUNS
	 * instances (ns): the previous block's and this block's; run_min_n
	 * instances ended in all (instance.c run_min(), stage_slots()) */
	uint64_t run_min_prev_ns, run_min_ns;
	uint64_t run_min_n;
	const char *fn_name; /* for the probes */
	size_t queued;	     /* instances [0, queued) were probed ready */
	/* Out of order (`ooo`: an `each` first input that is an ahead
	 * stream): an instance starts as soon as its item exists, joined or
	 * still in the producer's slot. Instances [0, next) have all started;
	 * `started` marks those started beyond. `taken` marks the items of
	 * in[0] whose instances had all started before the item joined: the
	 * stage holds no claim on them (stream_add()). `ready`: a min-heap of
	 * the items that arrived ahead of their stream, to take. */
	bool ooo;
	struct bits started, taken;
	/* Instances from `queued` on that were probed ready (inst_queued):
	 * those of items that came ahead, as they came. */
	struct bits queued_ahead;
	size_t *ready;
	size_t n_ready, ready_cap;
	/* I/O */
	struct iofunc_run *io;
	struct set **io_sink; /* outputs iofunc_start() wants: stay empty */
	bool io_windowed, io_blocked;
	bool io_held_back; /* the window or its pace held a start back */
	size_t io_inflight; /* started, not yet delivered */
	/* The round trip: item io_granted is the next to start (the I/O
	 * functions start items in order, one per may_start yes); io_probe
	 * (SIZE_MAX: none) is the one timed, started at io_probe_t. */
	size_t io_granted, io_probe;
	uint64_t io_probe_t;
};

struct run {
	const struct job *job;
	const struct engine_opts *opts;
	struct engine_report *rep;
	struct loop *loop;
	struct iofunc_ctx ioctx;
	struct iopolicy iopol; /* per-stage settings, hosts, write root */
	int job_dirfd, data_rootfd;
	unsigned parallel; /* compute instances in flight at most */
	unsigned cpus;	   /* CPUs compute can use: min(parallel, affinity) */
	struct set **inputs;	    /* job input sets (ingest) */
	struct stream *in_streams;  /* per job input */
	struct elf_image **images;  /* per function a stage runs (ingest_job) */
	struct stage_run *stages;
	size_t *dispatch_order; /* deeper stages first, then job order */
	struct inst *live; /* running compute instances */
	size_t running;	   /* compute instances running */
	size_t active;	   /* instances, I/O runs, deferred completions */
	size_t stages_done;
	/* the prefetch window */
	uint64_t window, held; /* bytes of windowed items not consumed */
	/* bytes of windowed items delivered but waiting in their slots for
	 * an earlier item: not in any set yet, but in memory all the same */
	uint64_t slotted;
	/* The same items counted: each holds a descriptor (an own buffer,
	 * arena_own_items()), so the window also bounds their number by
	 * win_fds, a quarter of RLIMIT_NOFILE (window_open()) */
	uint64_t held_n, slotted_n, win_fds;
	/* What instances' outputs cost while they wait in their slots for an
	 * earlier instance of their stage (behind a late item: slot_cost()),
	 * and their count. Windowed I/O starts only while it fits the window
	 * in force (window_open()), so a late item stops intake instead of
	 * letting every later item's outputs pile up behind it. */
	uint64_t behind, behind_n;
	uint64_t io_bytes, io_items; /* delivered by windowed stages */
	uint64_t pool_bound; /* what this run added to the pool's bound */
	/* Without --window, the window's count of items (win_adapt()): from
	 * ENGINE_WINDOW_ITEMS_PER_SLOT per CPU, up while compute idles with
	 * the window full of requests, down to it while items wait for
	 * compute; once a round trip is timed, starts are paced over it
	 * (pace_ok()). */
	uint64_t win_items;
	uint64_t win_grow; /* arrivals that asked for one more item */
	bool win_cut;	   /* cut since the last round trip was timed */
	uint64_t rtt_ns; /* running average of a windowed item's round trip */
	unsigned iopol_concurrency_max; /* of the windowed stages */
	uint64_t pace_next; /* the earliest time of the next paced start */
	struct loop_op pace_op;
	bool pace_armed, pace_off;
	uint32_t shuffle;	     /* test hook state (0: off) */
	struct output_writer *writer; /* opts->out_dir: job outputs spilled */
	bool held_guard; /* the sandbox's eBPF guard is attached */
	struct loop_op pending_op; /* post_pending() */
	bool pending_posted;
	/* One timer for the deadlines of all running instances: the earliest
	 * (on_deadline()), not one per instance (a timeout and its cancel per
	 * instance were ~12% of the loop's CPU with short instances). */
	struct loop_op deadline_op;
	bool deadline_armed, deadline_moving, deadline_off;
	uint64_t deadline_at; /* ns, CLOCK_MONOTONIC, of the armed timer */
	/* One poll of sandbox_fd() for all running instances (a park, a
	 * forbidden call, an exit), not one per instance: each park woke
	 * every instance's poll (the listener is shared), and the polls of
	 * instances another's step had finished were cancelled one by one. */
	struct loop_op sb_op, listen_op; /* sandbox_fd(), its listener */
	bool sb_armed, listen_armed, sb_off;
	/* The sandbox's exit ring and its drivers' eventfd polled here, out
	 * of sandbox_fd()'s set (sandbox_reap_own(), sandbox_done_own()): an
	 * exit or a driver's completion reaches the loop in one hop and is
	 * read without an epoll_wait(); given back when the run ends. */
	struct owned_poll {
		struct loop_op op;
		bool armed, owned, tried;
	} reap, done;
	struct loop_op cancel_op; /* polls cancel_fd */
	struct loop_op stop_op;	  /* polls opts->stop */
	bool cancel_armed, stop_armed;
	bool failed;
	int error; /* -errno of an infrastructure error */
	struct err *e;
	uint64_t id; /* job id in the probes (lib/probe.h) */
	uint64_t max_instances; /* per stage */
	uint64_t max_disk, disk; /* bytes the job may write, and has charged */
};

static inline struct stream *ref_stream(struct run *run,
					const struct job_ref *ref)
{
	if (ref->stage < 0)
		return &run->in_streams[ref->index];
	return run->stages[ref->stage].out[ref->index];
}

static inline const struct job_stage *stage_of(const struct stage_run *st)
{
	return &st->run->job->stages[st->s];
}

/* Items the stream has had (its set holds those from x->base on). */
static inline size_t stream_n(const struct stream *x)
{
	return x->base + x->set->n;
}

static inline struct item *stream_item(struct stream *x, size_t j)
{
	return &x->set->items[j - x->base];
}

/* Whether x's items hold bytes in memory for someone: a consumer or the
 * job's outputs (an http stage's unused `status` is dropped as it joins). */
static inline bool stream_kept(const struct stream *x)
{
	return x->n_consumers > 0 || x->job_output;
}


static inline bool bits_get(const struct bits *b, size_t i)
{
	return i / 64 < b->words && (b->w[i / 64] >> (i % 64) & 1);
}

/* Bit i, with room made by bits_reserve(). */
static inline void bits_set(struct bits *b, size_t i)
{
	b->w[i / 64] |= 1ull << (i % 64);
}

/* ---- the run (engine.c) */

/* An infrastructure error: the job cannot go on. */
void run_error(struct run *run, int r);
/* Instance i of stage s failed: its report entry, the job's first error. */
void run_fail_instance(struct run *run, size_t s, size_t i,
		       const char *reason, const struct sandbox_result *res);
/* After every event: start, close and complete stages, then dispatch. */
void run_progress(struct run *run);

/* ---- streams, their items and the stages' slots (stream.c) */

/* Room for instances [0, n) in the stage's report and slots. */
int stage_reserve(struct stage_run *st, size_t n);
/* Free the outputs still waiting in the stage's slots, and the slots. */
void stage_slots_free(struct stage_run *st);
/* Room for bit i of b (new words zero). */
int bits_reserve(struct bits *b, size_t i);
/* The inst_queued probe of instance i, once. */
void stage_probe_queued(struct stage_run *st, size_t i);
/* The first instance of [a, b) not started, b when none. */
size_t stage_first_unstarted(const struct stage_run *st, size_t a, size_t b);
/* Item j of the ahead stream x while it waits in its producer's slot. */
struct item *stream_slot_item(struct stream *x, size_t j);
/* Consumers of x that took its item j ahead (before it joined). */
size_t stream_taken_ahead(const struct stream *x, size_t j);
/* Drop the lowest of the items that arrived ahead (stage_ready_push()). */
void stage_ready_pop(struct stage_run *st);
/* Charge bytes the job is about to write against --max-disk. */
bool run_disk_charge(struct run *run, uint64_t bytes, const char *kind,
		     const char *what);
/* Item j of x joined: to the writer when a job output, else released
 * when nobody claims it. */
int stream_spill(struct run *run, struct stream *x, size_t j);
/* The output writer wrote item `tag` of stream `owner`. */
void stream_written(void *data, void *owner, uint64_t tag);
/* Give up the stage's claims on the items no instance to come takes. */
void stage_advance_passes(struct stage_run *st);
/* New items in x: consumers that pass everything pass them too. */
void stream_grew(struct stream *x);
/* Free an instance's n output sets (NULL: none). */
void outs_free(struct set **outs, size_t n);
/* Append one instance's outputs to the stage's output streams. */
int outs_join(struct stage_run *st, struct set **o);
/* Instance i finished with these outputs: into its slot. */
void stage_collect(struct stage_run *st, size_t i, struct set **outs);

/* ---- compute instances (instance.c) */

/* Instances of a running compute stage whose inputs exist. */
int stage_count(struct stage_run *st, size_t *ret);
/* Start compute instances while cores are free, deeper stages first. */
void inst_dispatch(struct run *run);
/* At the run's end: cancel the polls of the sandbox's exit ring and of
 * its drivers' eventfd; after the loop delivered the cancels, give them
 * back to sandbox_fd()'s set. */
void instance_reap_disarm(struct run *run);
void instance_reap_return(struct run *run);
/* Past --max-instances (or an overflow): fail the job, -E2BIG. */
int stage_instance_limit(struct stage_run *st, size_t n, bool overflow);

/* ---- the prefetch window and its pace (window.c) */

/* The window in force, in bytes. */
uint64_t window_now(const struct run *run);
/* Whether one more item fits the window with `inflight` on their way. */
bool window_open(const struct run *run, size_t inflight);
/* Adapt the default window's count of items as an item of st arrives. */
void win_adapt(struct run *run, struct stage_run *st);
/* The default window's least count of items. */
uint64_t win_base(const struct run *run);
/* Whether a windowed start may go now (else a timer resumes the I/O). */
bool pace_ok(struct run *run);

/* ---- I/O stages (iostage.c) */

/* Resume the I/O stages the window held back, as far as it is open. */
void io_resume(struct run *run);
/* Start an I/O stage on the I/O layer; -errno with the reason in run->e. */
int io_stage_start(struct stage_run *st);
/* Whether st fetches ahead within the window. */
bool io_windowable(struct run *run, const struct stage_run *st);

/* ---- cancelling (cancel.c) */

/* Arm the cancel polls: a cancellation fails the run with -ECANCELED. */
int cancel_arm(struct run *run);
/* Cancel the polls cancel_arm() armed. */
void cancel_disarm(struct run *run);

#endif
