// SPDX-License-Identifier: MIT
/*
 * Running a job's DAG on the io_uring event loop as a stream: an instance
 * starts as soon as the items it takes exist (an `each` instance when its
 * item does; `all` and `keyed` when their sets are complete); compute
 * instances run in sandboxes, at most `parallel` at once; I/O stages run on
 * the loop and fetch ahead within a byte window. A stage's outputs grow in
 * instance order whatever the order of completion (an `each` consumer of an
 * I/O stage takes item j as soon as it arrives, out of order, since it is
 * the producer's instance j's), and an item's buffer is let go as soon as
 * no consumer will take it and it is not a job output.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "engine/distribute.h"
#include "engine/engine.h"
#include "engine/ingest.h"
#include "engine/iopolicy.h"
#include "engine/output.h"
#include "iofuncs/iofuncs.h"
#include "lib/array.h"
#include "lib/clock.h"
#include "lib/macro.h"
#include "lib/probe.h"
#include "lib/uring.h"

#define PARALLEL_MAX 256
/* Slack after a deadline before the ring timer asks the sandbox to kill. */
#define DEADLINE_SLACK_MS 1
/* Before an I/O stage's first item arrives, each item in flight counts as
 * this part of the window. */
#define WINDOW_FIRST_GUESS 4
/* Items per CPU waiting for compute past which the window shrinks back
 * (win_adapt()). */
#define ENGINE_WINDOW_BACKLOG 24
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
	struct set ***slots; /* per instance: its outputs until they join */
	size_t slots_cap, visible; /* instances [0, visible) are in `out` */
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

static struct stream *ref_stream(struct run *run, const struct job_ref *ref)
{
	if (ref->stage < 0)
		return &run->in_streams[ref->index];
	return run->stages[ref->stage].out[ref->index];
}

static const struct job_stage *stage_of(const struct stage_run *st)
{
	return &st->run->job->stages[st->s];
}

static void cancel_all(struct run *run);
static void progress(struct run *run);

/* An infrastructure error: the job cannot go on. */
static void run_error(struct run *run, int r)
{
	if (!run->error)
		run->error = r < 0 ? r : -EIO;
	if (!run->failed) {
		run->failed = true;
		cancel_all(run);
	}
}

/* engine_cancel(): a flag for runs not started yet, and one eventfd, made
 * by the first run and never closed, that every running one polls (a poll
 * does not consume its count). engine_stop(): an eventfd of one run. */
static volatile sig_atomic_t cancel_requested;
static int cancel_fd = -1;

void engine_cancel(void)
{
	int saved = errno, fd = __atomic_load_n(&cancel_fd, __ATOMIC_ACQUIRE);
	uint64_t one = 1;

	cancel_requested = 1;
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the runs are woken. */
	}
	errno = saved;
}

int engine_stop_init(struct engine_stop *s, struct err *e)
{
	s->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->fd < 0)
		return err_errno(e, errno, "cannot create an eventfd");
	return 0;
}

void engine_stop(struct engine_stop *s)
{
	int saved = errno;
	uint64_t one = 1;

	if (s->fd >= 0 && write(s->fd, &one, sizeof(one)) < 0) {
		/* Already non-zero: the run is woken. */
	}
	errno = saved;
}

void engine_stop_done(struct engine_stop *s)
{
	s->fd = safe_close(s->fd);
}

static void cancelled(struct run *run)
{
	run_error(run, err_set(run->e, ECANCELED,
			       "interrupted: instances killed, nothing written"));
}

static void on_cancel(struct loop_op *op, int res, _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, cancel_op);

	run->cancel_armed = false;
	if (res >= 0 || cancel_requested)
		cancelled(run);
}

static void on_stop(struct loop_op *op, int res, _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, stop_op);

	run->stop_armed = false;
	if (res >= 0)
		cancelled(run);
}

/* Arm the cancel polls: a cancellation fails the run with -ECANCELED. */
static int cancel_arm(struct run *run)
{
	int fd = __atomic_load_n(&cancel_fd, __ATOMIC_ACQUIRE);
	int r;

	if (fd < 0) {
		int expected = -1;

		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			return err_errno(run->e, errno,
					 "cannot create an eventfd");
		if (!__atomic_compare_exchange_n(&cancel_fd, &expected, fd,
						 false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			close(fd); /* another run made it first */
			fd = expected;
		}
	}
	run->cancel_op.cb = on_cancel;
	r = loop_poll(run->loop, &run->cancel_op, fd, POLLIN);
	if (r < 0)
		return err_errno(run->e, r, "cannot poll the cancel eventfd");
	run->cancel_armed = true;
	if (cancel_requested)
		engine_cancel();
	if (run->opts->stop && run->opts->stop->fd >= 0) {
		run->stop_op.cb = on_stop;
		r = loop_poll(run->loop, &run->stop_op, run->opts->stop->fd,
			      POLLIN);
		if (r < 0)
			return err_errno(run->e, r,
					 "cannot poll the stop eventfd");
		run->stop_armed = true;
	}
	return 0;
}

static void cancel_disarm(struct run *run)
{
	if (run->cancel_armed)
		loop_cancel(run->loop, &run->cancel_op);
	if (run->stop_armed)
		loop_cancel(run->loop, &run->stop_op);
}

/* Instance i failed: why, and how it ended when a sandbox ran it (res:
 * its exit status, signal, syscall and note; NULL: none). */
static void fail_instance(struct run *run, size_t s, size_t i,
			  const char *reason, const struct sandbox_result *res)
{
	struct stage_report *sr = &run->rep->stages[s];

	if (res)
		instance_set_failed(sr, i, reason, res->exit_status,
				    res->signal, res->syscall, &res->note);
	else
		instance_set_failed(sr, i, reason, 0, 0, -1, NULL);
	sr->ok = false;
	if (!run->failed) {
		struct err first;

		err_set(&first, EIO, "stage %s[%zu]: %s", sr->name, i, reason);
		err_copy(run->rep->error, sizeof(run->rep->error), first.msg);
		run->failed = true;
		cancel_all(run);
	}
}

/* Room for instances [0, n) in the stage's report and slots. */
static int stage_reserve(struct stage_run *st, size_t n)
{
	struct stage_report *sr = &st->run->rep->stages[st->s];
	size_t cap = st->slots_cap;

	if (n > sr->n_instances)
		sr->n_instances = n;
	if (n > sr->n_counted)
		sr->n_counted = n;
	if (n > cap) {
		cap = MAX(MAX(cap * 2, n), (size_t)16);
		if (!sr->instances)
			sr->t0_ns = st->t0 ? st->t0 : clock_now_ns();
		if (instance_reserve(sr, cap) < 0)
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
		memset(st->slots + st->slots_n, 0,
		       (n - st->slots_n) * sizeof(*st->slots));
		st->slots_n = n;
	}
	return 0;
}

/* ---- streams: items in instance order, released when nobody takes them */

/* Items the stream has had (its set holds those from x->base on). */
static size_t stream_n(const struct stream *x)
{
	return x->base + x->set->n;
}

static struct item *stream_item(struct stream *x, size_t j)
{
	return &x->set->items[j - x->base];
}

/* Whether x's items hold bytes in memory for someone: a consumer or the
 * job's outputs (an http stage's unused `status` is dropped as it joins). */
static bool stream_kept(const struct stream *x)
{
	return x->n_consumers > 0 || x->job_output;
}

/* ---- out of order: items taken before they join their stream */

static bool bits_get(const struct bits *b, size_t i)
{
	return i / 64 < b->words && (b->w[i / 64] >> (i % 64) & 1);
}

/* Room for bit i (new words zero). */
static int bits_reserve(struct bits *b, size_t i)
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

/* Bit i, with room made by bits_reserve(). */
static void bits_set(struct bits *b, size_t i)
{
	b->w[i / 64] |= 1ull << (i % 64);
}

static bool inst_started(const struct stage_run *st, size_t i)
{
	return i < st->next || bits_get(&st->started, i);
}

/* The inst_queued probe of instance i, once: in order as the prefix
 * grows (dispatch()), or as its item comes ahead of it (slot_fill()). */
static void probe_queued(struct stage_run *st, size_t i)
{
	if (i < st->queued || inst_started(st, i) ||
	    bits_get(&st->queued_ahead, i))
		return;
	if (i > st->queued && bits_reserve(&st->queued_ahead, i) >= 0)
		bits_set(&st->queued_ahead, i);
	PROBE_INST_QUEUED(st->run->id, st->s, i, st->fn_name);
}

/* The first instance of [a, b) not started, b when none. */
static size_t first_unstarted(const struct stage_run *st, size_t a, size_t b)
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
static struct item *slot_item(struct stream *x, size_t j)
{
	struct stage_run *p = x->producer;
	struct set **o;

	if (!p || j >= p->slots_n)
		return NULL;
	o = p->slots[j];
	if (!o || o == (struct set **)p->slots || !o[x->out_k] ||
	    o[x->out_k]->n != 1)
		return NULL;
	return &o[x->out_k]->items[0];
}

/* Consumers of x that took its item j ahead (before it joined). */
static size_t taken_ahead(const struct stream *x, size_t j)
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
static int ready_push(struct stage_run *st, size_t j)
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

static void ready_pop(struct stage_run *st)
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

	if (x->windowed)
		run->held -= it->len;
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
static bool disk_charge(struct run *run, uint64_t bytes, const char *kind,
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
static int stream_spill(struct run *run, struct stream *x, size_t j)
{
	const struct job *job = run->job;

	for (size_t i = 0; run->writer && x->job_output && i < job->n_outputs;
	     i++) {
		int r;

		if (ref_stream(run, &job->outputs[i].ref) != x)
			continue;
		if (!disk_charge(run, stream_item(x, j)->len, "output",
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

static void on_written(void *data, void *owner, uint64_t tag)
{
	struct run *run = data;

	unclaim(run, owner, (size_t)tag);
	/* The writer caught up: compute may go on (dispatch()). */
	if (output_backlog(run->writer) == ENGINE_WRITE_BACKLOG / 2)
		progress(run);
}

/* `taken`: consumers that took the item ahead (taken_ahead()), which hold
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
	if (x->windowed)
		run->held += it->len;
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
static void advance_passes(struct stage_run *st)
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
static void stream_grew(struct stream *x)
{
	for (size_t c = 0; c < x->n_consumers; c++)
		advance_passes(x->consumers[c].st);
}

/* ---- slots: instance outputs joining the stage's sets in order */

static void free_outs(struct set **outs, size_t n)
{
	if (!outs)
		return;
	for (size_t k = 0; k < n; k++)
		set_free(outs[k]);
	free(outs);
}

/* Append one instance's outputs `o` to the stage's output streams, in
 * order, and count them in the report; `o` stays the caller's. */
static int join_outs(struct stage_run *st, struct set **o)
{
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	struct stage_report *sr = &run->rep->stages[st->s];

	for (size_t k = 0; k < js->n_outputs; k++) {
		struct stream *x = st->out[k];

		for (size_t j = 0; o[k] && j < o[k]->n; j++) {
			size_t taken = x->ahead ? taken_ahead(x, stream_n(x)) : 0;
			int r;

			/* An item every consumer took ahead left the window
			 * then (ahead_consumed()). */
			if (st->io_windowed && stream_kept(x) &&
			    !(taken && taken == x->n_consumers))
				run->slotted -= MIN(run->slotted,
						    o[k]->items[j].len);
			r = stream_add(run, x, &o[k]->items[j], taken);
			if (r < 0)
				return r;
			sr->bytes_out += o[k]->items[j].len;
		}
		sr->items_out += o[k] ? o[k]->n : 0;
	}
	return 0;
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
		free_outs(st->carry, js->n_outputs);
		st->carry = outs;
		st->slots[st->visible++] = (struct set **)st->slots;
		return 0;
	}
	st->slots[i] = outs;
	while (st->visible < st->slots_n && st->slots[st->visible]) {
		struct set **o = st->slots[st->visible];
		int r = join_outs(st, o);

		if (r < 0)
			return r;
		free_outs(o, js->n_outputs);
		/* Not NULL: the slot is taken (its outputs moved on). */
		st->slots[st->visible++] = (struct set **)st->slots;
	}
	if (st->visible > first)
		for (size_t k = 0; k < js->n_outputs; k++)
			stream_grew(st->out[k]);
	/* Still waiting for an earlier item: its out-of-order consumers may
	 * take it now (ahead_next()). */
	for (size_t k = 0; i >= st->visible && k < js->n_outputs; k++) {
		struct stream *x = st->out[k];

		for (size_t c = 0; x->ahead && c < x->n_consumers; c++) {
			struct stage_run *cs = x->consumers[c].st;

			if (x->consumers[c].param != 0 || !cs->ooo ||
			    stage_exhausted(cs))
				continue;
			if (ready_push(cs, i) < 0)
				return -ENOMEM;
			/* Its instances are ready (a waiting stage's are
			 * probed when it takes them). */
			for (size_t q = i * cs->d.per_item;
			     cs->state == STAGE_RUNNING &&
			     q < (i + 1) * cs->d.per_item; q++)
				probe_queued(cs, q);
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
		free_outs(df->outs, stage_of(st)->n_outputs);
	} else {
		r = slot_fill(st, df->index, df->outs);
		if (r < 0)
			run_error(run, err_set(run->e, -r, "out of memory"));
	}
	free(df);
	progress(run);
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
static void collect(struct stage_run *st, size_t i, struct set **outs)
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

/* ---- compute instances */

static void inst_release(struct inst *in)
{
	if (in->finished) {
		sandbox_proc_free(in->proc);
		free_outs(in->inputs, stage_of(in->st)->n_inputs);
		free(in);
	}
}

/* Bytes of an instance's items in and out, for the inst_bytes probe. */
static uint64_t sets_bytes(struct set *const *sets, size_t n)
{
	uint64_t b = 0;

	for (size_t k = 0; sets && k < n; k++)
		for (size_t j = 0; sets[k] && j < sets[k]->n; j++)
			b += sets[k]->items[j].len;
	return b;
}

/* The probes of an instance's end (lib/probe.h), in one place. proc is
 * NULL when it could not be spawned; outs are a collected one's outputs. */
static void probe_inst_end(struct stage_run *st, size_t i,
			   struct sandbox_proc *proc, int status, int reason,
			   const char *text, struct set **outs, size_t n_outs,
			   struct set *const *inputs)
{
	const struct sandbox_result *res =
		proc ? sandbox_proc_result(proc) : NULL;
	struct probe_inst info = {
		.job = st->run->id,
		.instance = i,
		.stage = (uint32_t)st->s,
		.status = status,
		.reason = reason,
		.pid = proc ? sandbox_proc_pid(proc) : 0,
		.syscall = res && status == PROBE_FAILED ? res->syscall : -1,
		.start_ns = instance_start_ns(&st->run->rep->stages[st->s], i),
		.spawn_ns = res ? res->spawn_ns : 0,
		.run_ns = res ? res->run_ns : 0,
		.warm = proc && sandbox_proc_warm(proc),
		.function = st->fn_name,
		.text = text,
	};

	if (status == PROBE_OK) {
		info.bytes_in = sets_bytes(inputs, stage_of(st)->n_inputs);
		info.bytes_out = sets_bytes(outs, n_outs);
		PROBE_INST_BYTES(info.job, info.stage, i, info.bytes_in, info.bytes_out);
	} else if (status == PROBE_FAILED) {
		PROBE_INST_FAILED(info.job, info.stage, i, info.function, text, info.syscall);
	}
	PROBE_INST_EXITED(info.job, info.stage, i, status, reason, info.run_ns);
	PROBE_INST_DONE(&info);
}

/* The instance ended (or was cancelled): record it, free its slot. */
static void inst_finish(struct inst *in, int step)
{
	struct stage_run *st = in->st;
	struct run *run = st->run;
	struct stage_report *sr = &run->rep->stages[st->s];
	const struct sandbox_result *res = sandbox_proc_result(in->proc);

	in->finished = true;
	if (in->prev)
		in->prev->next = in->next;
	else
		run->live = in->next;
	if (in->next)
		in->next->prev = in->prev;
	run->running--;
	run->active--;
	st->running--;
	if (step < 0) {
		char why[ERR_MAX];

		snprintf(why, sizeof(why), "sandbox: %s", strerror(-step));
		probe_inst_end(st, in->index, in->proc, PROBE_FAILED, PROBE_REASON_SETUP, why, NULL, 0, NULL);
		fail_instance(run, st->s, in->index, why, NULL);
	} else if (in->cancelled) {
		instance_set_state(sr, in->index, INSTANCE_CANCELLED);
		probe_inst_end(st, in->index, in->proc, PROBE_CANCELLED, PROBE_REASON_CANCELLED, NULL, NULL, 0, NULL);
	} else {
		size_t n;

		instance_set_times(sr, in->index, res->spawn_ns, res->run_ns);
		st->run_avg_ns = st->run_avg_ns ?
			(st->run_avg_ns * 7 + res->run_ns) / 8 :
			MAX(res->run_ns, (uint64_t)1);
		if (res->status != SANDBOX_OK) {
			probe_inst_end(st, in->index, in->proc, PROBE_FAILED, res->probe_reason, res->reason, NULL, 0, NULL);
			fail_instance(run, st->s, in->index, res->reason, res);
		} else {
			struct set **outs = sandbox_proc_take_outputs(in->proc, &n);

			instance_set_state(sr, in->index, INSTANCE_OK);
			probe_inst_end(st, in->index, in->proc, PROBE_OK, PROBE_REASON_OK, NULL, outs, n, in->inputs);
			collect(st, in->index, outs);
		}
	}
	/* The worker goes back to the sandbox's pool before the next
	 * instance starts, so that one is served warm. */
	in->proc = sandbox_proc_free(in->proc);
	progress(run);
}

/* Step an instance sandbox_poll() (or its deadline) says has progress to
 * make; a finished one is freed: callers do not touch it afterwards. */
static void inst_step(struct inst *in)
{
	int r;

	if (in->finished)
		return;
	r = sandbox_proc_step_polled(in->proc);
	if (r != 0) {
		inst_finish(in, r);
		inst_release(in);
	}
}

/* Step every instance sandbox_poll() found progress for (a park, an exit);
 * each such step finishes its instance, so this ends. */
static void step_pending(struct run *run)
{
	struct inst *in;

	do {
		for (in = run->live; in; in = in->next)
			if (!in->finished && sandbox_proc_pending(in->proc))
				break;
		if (in)
			inst_step(in);
	} while (in);
}

static void on_pending(struct loop_op *op, _unused_ int res,
		       _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, pending_op);

	run->pending_posted = false;
	step_pending(run);
}

/* From inside dispatch(): step them from the loop, as a poll would, not
 * by recursion (which spawned past the writer's backlog: EMFILE). */
static void post_pending(struct run *run)
{
	struct inst *in;

	if (run->pending_posted)
		return;
	for (in = run->live; in; in = in->next)
		if (!in->finished && sandbox_proc_pending(in->proc))
			break;
	if (!in)
		return;
	run->pending_op.cb = on_pending;
	if (loop_post(run->loop, &run->pending_op) >= 0)
		run->pending_posted = true;
}

static void on_sandbox(struct loop_op *op, int res, uint32_t flags);
static void on_listener(struct loop_op *op, int res, uint32_t flags);

/* Poll the sandbox's fds while instances run: its workers' exits, and its
 * seccomp listener (parks, forbidden calls) directly, so that a park costs
 * no epoll_wait. */
static int sandbox_arm(struct run *run)
{
	int fd = sandbox_listener_fd(run->opts->sandbox), r;

	if (run->sb_off || !run->live)
		return 0;
	if (!run->sb_armed) {
		run->sb_op.cb = on_sandbox;
		r = loop_poll(run->loop, &run->sb_op,
			      sandbox_fd(run->opts->sandbox), POLLIN);
		if (r < 0)
			return r;
		run->sb_armed = true;
	}
	if (!run->listen_armed && fd >= 0) {
		run->listen_op.cb = on_listener;
		r = loop_poll(run->loop, &run->listen_op, fd, POLLIN);
		if (r < 0)
			return r;
		run->listen_armed = true;
	}
	return 0;
}

static void sandbox_polled(struct run *run, int res, bool listener)
{
	int r = 0;

	if (res == -ECANCELED || run->sb_off)
		return;
	if (res < 0)
		run_error(run, err_errno(run->e, res, "cannot poll the sandbox"));
	else if (listener)
		r = sandbox_poll_listener(run->opts->sandbox, res & POLLIN);
	else
		r = sandbox_poll(run->opts->sandbox);
	if (r < 0)
		run_error(run, err_errno(run->e, r, "sandbox"));
	step_pending(run);
	/* Killed instances (a failed run) still end through it. */
	r = sandbox_arm(run);
	if (r < 0)
		run_error(run, err_errno(run->e, r, "cannot poll the sandbox"));
}

static void on_sandbox(struct loop_op *op, int res, _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, sb_op);

	run->sb_armed = false;
	sandbox_polled(run, res, false);
}

static void on_listener(struct loop_op *op, int res, _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, listen_op);

	run->listen_armed = false;
	sandbox_polled(run, res, true);
}

static uint64_t inst_deadline(const struct inst *in)
{
	return sandbox_proc_deadline_ns(in->proc) + DEADLINE_SLACK_MS * 1000000ull;
}

static void on_deadline(struct loop_op *op, int res, uint32_t flags);

/* Arm the run's timer for the earliest deadline of its running instances,
 * or move it there when it is armed for a later one (cancelled: its
 * completion arms it again). -errno when no timer is armed. */
static int deadline_arm(struct run *run)
{
	uint64_t at = UINT64_MAX, now;
	int r;

	for (struct inst *in = run->live; in; in = in->next)
		if (!in->finished)
			at = MIN(at, inst_deadline(in));
	if (at == UINT64_MAX || run->deadline_moving || run->deadline_off)
		return 0;
	if (run->deadline_armed) {
		if (at < run->deadline_at &&
		    loop_cancel(run->loop, &run->deadline_op) >= 0)
			run->deadline_moving = true;
		return 0;
	}
	now = clock_now_ns();
	run->deadline_op.cb = on_deadline;
	r = loop_timeout(run->loop, &run->deadline_op,
			 at > now ? (at - now + 999999) / 1000000 : 0);
	if (r < 0)
		return r;
	run->deadline_armed = true;
	run->deadline_at = at;
	return 0;
}

/* The timer fired (or was moved): step every instance past its deadline
 * (the sandbox kills it; its exit completes its poll), then arm it again. */
static void on_deadline(struct loop_op *op, _unused_ int res,
			_unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, deadline_op);
	uint64_t now = clock_now_ns();
	struct inst *in;
	int r;

	run->deadline_armed = false;
	run->deadline_moving = false;
	/* What the sandbox has (also if its poll could not be armed). */
	if (!run->sb_off) {
		(void)sandbox_poll(run->opts->sandbox);
		(void)sandbox_poll_listener(run->opts->sandbox, false);
	}
	step_pending(run);
	for (in = run->live; in; in = in->next)
		in->due = !in->finished && inst_deadline(in) <= now;
	/* A step may finish instances and start new ones: from the top. */
	for (in = run->live; in;) {
		if (!in->due) {
			in = in->next;
			continue;
		}
		in->due = false;
		inst_step(in);
		in = run->live;
	}
	r = deadline_arm(run);
	if (r < 0)
		run_error(run, err_errno(run->e, r, "cannot arm the deadline timer"));
}

/* A folding instance's input: the last instance's outputs, then its own
 * B items. The carry's references move into it (the carry is freed). */
static int fold_instance(struct stage_run *st, size_t k, struct set **ret)
{
	const struct job_stage *js = stage_of(st);
	struct stream *in = st->in[0];
	size_t a = k * st->fold, b = MIN(a + st->fold, stream_n(in));
	struct set *s = set_new(js->inputs[0].param);
	int r = 0;

	if (!s)
		return -ENOMEM;
	for (size_t j = 0; st->carry && st->carry[0] && j < st->carry[0]->n &&
			   r >= 0; j++)
		r = set_add_item(s, &st->carry[0]->items[j]);
	for (size_t j = a; j < b && r >= 0; j++)
		r = set_add_item(s, stream_item(in, j));
	if (r < 0) {
		set_free(s);
		return r;
	}
	st->carry = (free_outs(st->carry, js->n_outputs), NULL);
	ret[0] = s;
	return 0;
}

/*
 * Every consumer of x took its item j before it joined: nobody will read
 * its bytes but the instances that took them. They leave the window now,
 * and the slot lets its reference go, so the buffer dies with the last of
 * those instances, not when every earlier item has come.
 */
static void ahead_consumed(struct run *run, struct stream *x, size_t j)
{
	struct item *it = slot_item(x, j);

	if (!it)
		return;
	if (x->windowed)
		run->slotted -= MIN(run->slotted, it->len);
	it->buf = buffer_unref(it->buf);
}

/* Instance `index` started (out of order or not): mark it, and when it was
 * the last of an item not joined yet, the item is taken ahead. */
static void inst_mark_started(struct stage_run *st, size_t index)
{
	struct stream *x = st->in[0];
	size_t j, pi = st->d.per_item;

	if (index == st->next) {
		do
			st->next++;
		while (bits_get(&st->started, st->next));
	} else {
		bits_set(&st->started, index);
	}
	if (!st->ooo || (j = index / pi) < stream_n(x) ||
	    first_unstarted(st, j * pi, (j + 1) * pi) < (j + 1) * pi)
		return;
	bits_set(&st->taken, j);
	if (taken_ahead(x, j) == x->n_consumers)
		ahead_consumed(st->run, x, j);
}

static int spawn_instance(struct stage_run *st, size_t index)
{
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	const struct job_function *fn =
		&run->job->functions[js->function_index];
	const struct item *item0 = NULL;
	struct sandbox_request req = {
		.image = st->image,
		.limits = { .memory = fn->memory,
			    .timeout_ms = fn->timeout_ms,
			    .output_items = run->opts->max_output_items,
			    .output_bytes = run->opts->max_output_bytes,
			    .output_names = run->opts->max_output_names },
		.n_inputs = js->n_inputs,
		.outputs = (const char *const *)js->outputs,
		.n_outputs = js->n_outputs,
		.instance = index,
		.job = run->id,
		.params = { .args = (const char *const *)fn->args,
			    .n_args = fn->n_args,
			    .env = (const char *const *)fn->env,
			    .n_env = fn->n_env,
			    .seed = fn->seed,
			    .time_ns = fn->time_ns },
		.fn_name = fn->name,
		.stage = (uint32_t)st->s,
		.fresh = fn->fresh,
	};
	struct err se = {};
	struct inst *in;
	int r;

	r = stage_reserve(st, index + 1);
	if (r < 0)
		return r;
	if (st->d.each0 && !st->fold) {
		size_t j = index / st->d.per_item;

		item0 = j < stream_n(st->in[0]) ? stream_item(st->in[0], j) :
						  slot_item(st->in[0], j);
		if (!item0)
			return -EPROTO; /* ahead_next() gives only those there */
		if (index != st->next && bits_reserve(&st->started, index) < 0)
			return -ENOMEM;
		if (st->ooo && bits_reserve(&st->taken, j) < 0)
			return -ENOMEM;
	}
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->inputs = calloc(js->n_inputs + 1, sizeof(*in->inputs));
	if (!in->inputs) {
		free(in);
		return -ENOMEM;
	}
	for (size_t p = 0; p < js->n_inputs; p++)
		st->in_sets[p] = st->in[p]->set;
	if (st->fold)
		r = fold_instance(st, index, in->inputs);
	else
		r = dist_instance(&st->d, js, st->in_sets, item0, index,
				  in->inputs);
	if (r < 0) {
		free(in->inputs);
		free(in);
		return r;
	}
	inst_mark_started(st, index);
	instance_set_start(&run->rep->stages[st->s], index, clock_now_ns());
	req.inputs = in->inputs;
	in->st = st;
	in->index = index;
	r = sandbox_spawn(run->opts->sandbox, &req, &in->proc, &se);
	if (r < 0) {
		probe_inst_end(st, index, NULL, PROBE_FAILED, PROBE_REASON_SPAWN, se.msg, NULL, 0, NULL);
		free_outs(in->inputs, js->n_inputs);
		free(in);
		fail_instance(run, st->s, index, se.msg, NULL);
		return 0;
	}
	/* A driven instance's fires in its driver, with its worker's pid. */
	if (!sandbox_proc_driven(in->proc))
		PROBE_INST_SPAWNED(run->id, st->s, index, fn->name, sandbox_proc_pid_known(in->proc), sandbox_proc_warm(in->proc));
	in->next = run->live;
	if (run->live)
		run->live->prev = in;
	run->live = in;
	run->running++;
	run->active++;
	st->running++;
	r = deadline_arm(run);
	if (r >= 0)
		r = sandbox_arm(run);
	if (r < 0 && !in->finished) {
		inst_finish(in, r);
		return 0;
	}
	inst_release(in);
	post_pending(run);
	return 0;
}

/* The limit of instances per stage fails the job, naming the limit. */
static int instance_limit(struct stage_run *st, size_t n, bool overflow)
{
	struct run *run = st->run;
	uint64_t max = run->max_instances;
	char count[32];

	if (!overflow && n <= max)
		return 0;
	if (overflow)
		snprintf(count, sizeof(count), "more than %zu", SIZE_MAX);
	else
		snprintf(count, sizeof(count), "%zu", n);
	run->rep->stages[st->s].ok = false;
	run_error(run, err_set(run->e, E2BIG,
			       "stage %s: %s instances exceed the limit of %" PRIu64
			       " per stage (--max-instances; default one per 4 KiB of RAM)",
			       stage_of(st)->name, count, max));
	return -E2BIG;
}

/* Instances of a running compute stage whose inputs exist, counted (not
 * materialised) and checked against the limit. */
static int stage_count(struct stage_run *st, size_t *ret)
{
	size_t n = 0;
	int r;

	if (st->closed) {
		*ret = st->n_instances;
		return 0;
	}
	if (st->fold) {
		/* Full batches as they come, the last one when the set is
		 * complete: an empty set has no instance, as for `all`. */
		size_t n0 = stream_n(st->in[0]);

		n = n0 / st->fold +
		    (st->in[0]->complete && n0 % st->fold != 0);
		r = instance_limit(st, n, false);
		if (r < 0)
			return r;
		*ret = n;
		return 0;
	}
	r = dist_count(&st->d, stream_n(st->in[0]), &n);
	r = instance_limit(st, n, r < 0);
	if (r < 0)
		return r;
	*ret = n;
	return 0;
}

static size_t stage_available(struct stage_run *st)
{
	size_t n;

	if (stage_count(st, &n) < 0)
		return st->next;
	/* A folding instance reads its predecessor's outputs. */
	if (st->fold && n > st->collected + 1)
		n = st->collected + 1;
	return n;
}

/*
 * An instance of an out-of-order stage whose item has arrived but not
 * joined in[0] yet (the lowest such item first): false when none.
 */
static bool ahead_next(struct stage_run *st, size_t *ret)
{
	struct stream *x = st->in[0];
	size_t pi = st->d.per_item;

	while (st->ooo && pi && st->n_ready) {
		size_t j = st->ready[0], n, i;
		int r;

		if (j < stream_n(x) || !slot_item(x, j)) {
			ready_pop(st); /* joined: taken in order */
			continue;
		}
		r = dist_count(&st->d, j + 1, &n);
		if (instance_limit(st, n, r < 0) < 0)
			return false;
		i = first_unstarted(st, j * pi, (j + 1) * pi);
		if (i == (j + 1) * pi) {
			ready_pop(st);
			continue;
		}
		*ret = i;
		return true;
	}
	return false;
}

/*
 * Compute instances of this stage that may be in flight (over all stages).
 * --parallel fixes it. By default one per CPU, and ENGINE_SLOTS_PER_CPU
 * per CPU once the stage's instances are short (shorter than
 * ENGINE_SHORT_NS on average): a warm worker then waits for the loop
 * thread to collect it and answer it about as long as it runs, and with
 * another one parked and ready a CPU need not idle meanwhile (20,000 no-op
 * instances: 0.72x the time each of -j 2 at load 5-8; within the noise
 * once the warm reset got cheaper: Documentation/benchmarks.md "Slots and
 * the window apart (round 5)"). Longer instances gain nothing from it and
 * would only keep more workers' contexts in memory.
 */
static unsigned stage_slots(const struct stage_run *st)
{
	const struct run *run = st->run;

	if (run->opts->parallel ||
	    (st->run_avg_ns && st->run_avg_ns < ENGINE_SHORT_NS))
		return run->parallel;
	return run->cpus;
}

/*
 * May this stage start an instance now? At most run->parallel instances
 * run in all, and at most one per CPU of the longer ones (stages with
 * fewer slots), whichever stages they belong to. A longer instance does
 * not wait for the whole count to fall below its slots: then a deeper
 * stage of long instances (a folding merge) behind a shallower one of short
 * instances that always has more to start (the parse) got a slot only when
 * the short ones happened to drain to one per CPU, and its input piled up
 * meanwhile (the thesis job at N = 100,000: seconds of parse reports, tens
 * of MiB; Documentation/benchmarks.md "The merge's starved slots (round
 * 6)"). Now it takes the next slot that frees, as deeper stages go first.
 */
static bool slot_free(const struct run *run, const struct stage_run *st)
{
	unsigned slots = stage_slots(st);
	size_t longer = 0;

	if (run->running >= run->parallel)
		return false;
	if (slots >= run->parallel)
		return true;
	for (size_t s = 0; s < run->job->n_stages; s++) {
		const struct stage_run *o = &run->stages[s];

		if (o->running && !stage_of(o)->io &&
		    stage_slots(o) < run->parallel)
			longer += o->running;
	}
	return longer < slots;
}

/* Start compute instances while cores are free: deeper stages first, so
 * what was made is consumed (and released) before more is made. */
static void dispatch(struct run *run)
{
	const struct job *job = run->job;

	/* Spilled outputs hold their buffers (a descriptor each, often)
	 * until written: compute waits while the writer is behind. */
	if (output_backlog(run->writer) > ENGINE_WRITE_BACKLOG)
		return;
	for (size_t o = 0; o < job->n_stages && !run->failed; o++) {
		struct stage_run *st = &run->stages[run->dispatch_order[o]];
		size_t avail;

		if (st->state != STAGE_RUNNING || stage_of(st)->io)
			continue;
		avail = stage_available(st);
		while (st->queued < avail) {
			size_t q = st->queued;

			probe_queued(st, q);
			st->queued = q + 1;
		}
		while (!run->failed && slot_free(run, st)) {
			size_t i = st->next;
			int r;

			/* In order while the prefix has items; then those
			 * that arrived ahead of it, lowest first. */
			if (i >= avail) {
				if (!ahead_next(st, &i))
					break;
				probe_queued(st, i);
			}
			r = spawn_instance(st, i);

			if (r < 0) {
				run_error(run,
					  err_set(run->e, -r, "stage %s: %s",
						  stage_of(st)->name,
						  store_strerror(r)));
				return;
			}
		}
		advance_passes(st);
	}
}

/* ---- I/O stages */

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
 * small ones (measured: docs/benchmarks.md, the thesis memory breakdown).
 */
static uint64_t window_now(const struct run *run)
{
	uint64_t w;

	if (run->opts->window || !run->io_items)
		return run->window;
	w = MAX(window_guess(run), (uint64_t)1) * run->win_items;
	return MIN(MAX(w, ENGINE_WINDOW_MIN), run->window);
}

static uint64_t win_base(const struct run *run)
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
 * time (Documentation/benchmarks.md, "The window's count of items
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
 *   compute has not taken yet (benchmarks.md, "round 9, branch
 *   thesis21");
 * - a quarter less, once per round trip, while more than
 *   ENGINE_WINDOW_BACKLOG per CPU wait (compute is behind), and one less
 *   per arrival while above `most`; never below the base.
 * Items waiting are those arrived and not taken by an instance (held and
 * slotted), at the average size. --window fixes the window: no change.
 */
static void win_adapt(struct run *run, struct stage_run *st)
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

static bool window_open(const struct run *run, size_t inflight)
{
	if (run->held == 0 && run->slotted == 0 && inflight == 0)
		return true; /* one item at a time, however large */
	return run->held + run->slotted + (inflight + 1) * window_guess(run) <=
	       window_now(run);
}

static void resume_io(struct run *run);

static void on_pace(struct loop_op *op, _unused_ int res,
		    _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, pace_op);

	run->pace_armed = false;
	if (!run->pace_off)
		resume_io(run);
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
static bool pace_ok(struct run *run)
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

static void resume_io(struct run *run)
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

static void on_io_item(struct iofunc_run *io, size_t i, void *data)
{
	struct stage_run *st = data;
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	const struct item *in = stream_item(st->in[0], i);
	struct set **outs;
	uint64_t bytes = 0, kept = 0;
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
			kept += stream_kept(st->out[k]) ? len : 0;
		else if (st->out[k]->ahead)
			missing = k; /* item i of it would not be instance i's */
	}
	if (!outs || r < 0) {
		free_outs(outs, js->n_outputs);
		run_error(run, err_set(run->e, ENOMEM, "out of memory"));
		return;
	}
	if (missing != SIZE_MAX) {
		free_outs(outs, js->n_outputs);
		run_error(run, err_set(run->e, EPROTO,
				       "stage %s: item %zu succeeded without its output '%s'",
				       js->name, i, js->outputs[missing]));
		return;
	}
	if (st->io_windowed) {
		run->io_bytes += bytes;
		/* Until slot_fill() moves them on, or their consumers take
		 * them ahead (ahead_consumed()); an output nobody reads is
		 * dropped as it joins. */
		run->slotted += kept;
		/* Released I/O buffers are kept for reuse up to the window:
		 * more would never be taken again while it holds. */
		uint64_t w = window_now(run);

		store_pool_bound_add((int64_t)(w - run->pool_bound));
		run->pool_bound = w;
	}
	instance_set_state(&run->rep->stages[st->s], i, INSTANCE_OK);
	collect(st, i, outs);
	/* Its request is read no more: pass the run's finished prefix. */
	advance_passes(st);
	progress(run);
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
	for (size_t i = 0; i < n; i++) {
		const char *msg = NULL;

		iofunc_run_item_error(io, i, &msg);
		if (msg && msg[0])
			fail_instance(run, st->s, i, msg, NULL);
		else if (run->failed &&
			 instance_state(sr, i) != INSTANCE_FAILED)
			instance_set_state(sr, i, INSTANCE_CANCELLED);
	}
	st->io = NULL;
	st->io_inflight = 0;
	iofunc_run_free(io);
	progress(run);
}

/*
 * An I/O stage fetches ahead within the window when the window cannot
 * starve its consumers: each of its outputs is read only as the `each`
 * first parameter of compute stages whose other inputs are the job's (an
 * `all` consumer needs everything at once, so its producer is not held
 * back).
 */
static bool io_windowable(struct run *run, const struct stage_run *st)
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

static int start_io_stage(struct stage_run *st)
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
		if (!disk_charge(run, bytes, "stage", js->name)) {
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
	r = instance_limit(st, st->in[0]->set->n, false);
	if (r < 0)
		return r;
	st->closed = true;
	st->n_instances = st->in[0]->set->n;
	run->rep->stages[st->s].n_counted = st->n_instances;
	r = stage_reserve(st, st->n_instances);
	if (r < 0)
		return err_set(run->e, -r, "out of memory");
	for (size_t i = 0; i < st->n_instances; i++)
		instance_set_start(&run->rep->stages[st->s], i, st->t0);
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

/* ---- stages */

static bool stage_can_start(const struct stage_run *st)
{
	const struct job_stage *js = stage_of(st);

	for (size_t p = 0; p < js->n_inputs; p++)
		if (!st->in[p]->complete &&
		    !(p == 0 && !js->io && (js->inputs[0].mode == JOB_MODE_EACH ||
					    js->inputs[0].fold)))
			return false;
	return true;
}

/* The final count is known: nothing is reserved for the instances until
 * they start (a cross product of 10^6 builds no state before running). */
static void stage_close(struct stage_run *st)
{
	size_t n;

	if (stage_count(st, &n) < 0)
		return;
	st->n_instances = n;
	st->run->rep->stages[st->s].n_counted = n;
	st->closed = true;
}

static int stage_start(struct stage_run *st)
{
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	struct stage_report *sr = &run->rep->stages[st->s];
	int r;

	st->state = STAGE_RUNNING;
	st->t0 = clock_now_ns();
	sr->ran = true;
	sr->ok = true;
	if (js->io)
		return start_io_stage(st);
	if (!run->opts->sandbox)
		return err_set(run->e, EINVAL, "no sandbox for compute stages");
	st->image = run->images[js->function_index]; /* read by ingest_job() */
	st->fn_name = run->job->functions[js->function_index].name;
	PROBE_STAGE_START(run->id, st->s, js->name, st->fn_name, 0, st->n_instances);
	if (st->fold) { /* numbered by fold_instance() */
		st->d = (struct dist){ .np = js->n_inputs, .per_item = 1 };
		return 0;
	}
	for (size_t p = 0; p < js->n_inputs; p++)
		st->in_sets[p] = st->in[p]->set;
	r = dist_prepare(js, st->in_sets, &st->d);
	if (r < 0)
		return err_errno(run->e, r, "stage %s: cannot distribute inputs", js->name);
	return 0;
}

static bool stage_finished(const struct stage_run *st)
{
	return st->closed && st->collected == st->n_instances &&
	       st->running == 0 && !st->io;
}

static void stage_complete(struct stage_run *st)
{
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	struct stage_report *sr = &run->rep->stages[st->s];

	if (st->fold && st->carry) { /* the last instance's outputs */
		struct set **o = st->carry;
		int r = join_outs(st, o);

		st->carry = NULL;
		free_outs(o, js->n_outputs);
		if (r < 0) {
			run_error(run, err_set(run->e, -r, "out of memory"));
			return;
		}
		for (size_t k = 0; k < js->n_outputs; k++)
			stream_grew(st->out[k]);
	}
	st->state = STAGE_DONE;
	run->stages_done++;
	sr->elapsed_ns = clock_now_ns() - st->t0;
	PROBE_STAGE_END(run->id, st->s, sr->name, sr->ok ? PROBE_OK : PROBE_FAILED, sr->items_out, sr->bytes_out);
	for (size_t k = 0; k < js->n_outputs; k++)
		st->out[k]->complete = true;
	advance_passes(st);
}

/* engine_opts.progress: O(stages) per event, only when asked for. */
static void report_progress(struct run *run)
{
	struct engine_progress p = { .n_stages = run->job->n_stages,
				     .stages_done = run->stages_done };

	if (!run->opts->progress)
		return;
	for (size_t o = 0; o < run->job->n_stages; o++) {
		size_t s = run->job->order[o];
		const struct stage_run *st = &run->stages[s];

		if (st->state == STAGE_WAITING)
			continue;
		p.stage = run->job->stages[s].name;
		p.instances_done += st->collected;
		p.instances_total += MAX(st->n_instances,
					 run->rep->stages[s].n_instances);
		p.bytes_out += run->rep->stages[s].bytes_out;
	}
	run->opts->progress(run->opts->progress_data, &p);
}

/*
 * After every event: start the stages whose inputs are ready, close those
 * whose instance count became final, complete those that are done (in
 * topological order, repeated while anything changed: no recursion along
 * the graph), then fetch and compute what the window and the cores allow.
 */
static void progress(struct run *run)
{
	const struct job *job = run->job;
	bool again = true;

	while (again && !run->failed) {
		again = false;
		for (size_t o = 0; o < job->n_stages && !run->failed; o++) {
			struct stage_run *st = &run->stages[job->order[o]];
			int r;

			if (st->state == STAGE_WAITING && stage_can_start(st)) {
				r = stage_start(st);
				if (r < 0) {
					run_error(run, r);
					break;
				}
				again = true;
			}
			if (st->state != STAGE_RUNNING)
				continue;
			if (!st->closed && (stage_of(st)->n_inputs == 0 ||
					    st->in[0]->complete)) {
				stage_close(st);
				again = true;
			}
			if (stage_finished(st)) {
				stage_complete(st);
				again = true;
			}
		}
	}
	if (run->failed)
		return;
	dispatch(run);
	resume_io(run);
	report_progress(run);
}

static void cancel_all(struct run *run)
{
	for (size_t s = 0; s < run->job->n_stages; s++) {
		struct stage_run *st = &run->stages[s];

		if (st->io)
			iofunc_run_cancel(st->io);
	}
	/* Running compute instances are killed now and reaped by the loop
	 * like any other exit, so nothing here waits; their stage report
	 * says cancelled. */
	for (struct inst *in = run->live; in; in = in->next) {
		in->cancelled = true;
		sandbox_proc_kill(in->proc);
	}
}

static bool run_finished(void *data)
{
	struct run *run = data;

	return run->active == 0 &&
	       (run->failed || run->stages_done == run->job->n_stages);
}

/* Wait for the loop to deliver the completions of cancelled operations. */
static void drain(struct run *run)
{
	while (run->active || loop_inflight(run->loop))
		if (loop_run_once(run->loop, 100) < 0)
			break;
}

static void stream_done(struct stream *x)
{
	set_free(x->set);
	free(x->claims);
	free(x->consumers);
}

static void run_done(struct run *run)
{
	const struct job *job = run->job;

	/* First: its last callbacks still reach the streams. */
	run->writer = output_free(run->writer);

	for (size_t s = 0; run->stages && s < job->n_stages; s++) {
		struct stage_run *st = &run->stages[s];
		const struct job_stage *js = &job->stages[s];

		for (size_t i = st->visible; i < st->slots_n; i++)
			free_outs(st->slots[i], js->n_outputs);
		free(st->slots);
		free_outs(st->carry, js->n_outputs);
		dist_done(&st->d);
		for (size_t k = 0; st->out && k < js->n_outputs; k++) {
			if (st->out[k])
				stream_done(st->out[k]);
			free(st->out[k]);
		}
		free(st->out);
		free(st->in);
		free(st->in_sets);
		free(st->passed);
		free(st->started.w);
		free(st->taken.w);
		free(st->queued_ahead.w);
		free(st->ready);
		free_outs(st->io_sink, js->n_outputs);
	}
	free(run->stages);
	free(run->dispatch_order);
	for (size_t i = 0; run->in_streams && i < job->n_inputs; i++)
		stream_done(&run->in_streams[i]); /* frees run->inputs[i] */
	if (!run->in_streams && run->inputs)
		for (size_t i = 0; i < job->n_inputs; i++)
			set_free(run->inputs[i]);
	free(run->in_streams);
	free(run->inputs);
	if (run->images)
		for (size_t f = 0; f < job->n_functions; f++)
			elf_image_free(run->images[f]);
	free(run->images);
	if (run->held_guard)
		sandbox_release(run->opts->sandbox);
	iopolicy_done(&run->iopol);
	safe_close(run->job_dirfd);
	safe_close(run->data_rootfd);
	cancel_disarm(run);
	while ((run->cancel_armed || run->stop_armed) &&
	       loop_run_once(run->loop, 100) >= 0)
		;
	loop_free(run->loop);
}

/* Stages by their depth in the graph (longest path from the job's
 * inputs), deepest first; equal depths in topological order. */
static int dispatch_order_setup(struct run *run)
{
	const struct job *job = run->job;
	_cleanup_free_ size_t *depth = calloc(job->n_stages + 1, sizeof(size_t));
	size_t max = 0, k = 0;

	run->dispatch_order = calloc(job->n_stages + 1, sizeof(size_t));
	if (!depth || !run->dispatch_order)
		return -ENOMEM;
	for (size_t o = 0; o < job->n_stages; o++) {
		const struct job_stage *js = &job->stages[job->order[o]];
		size_t d = 0;

		for (size_t p = 0; p < js->n_inputs; p++)
			if (js->inputs[p].ref.stage >= 0)
				d = MAX(d, depth[js->inputs[p].ref.stage] + 1);
		depth[job->order[o]] = d;
		max = MAX(max, d);
	}
	for (size_t d = max + 1; d-- > 0;)
		for (size_t o = 0; o < job->n_stages; o++)
			if (depth[job->order[o]] == d)
				run->dispatch_order[k++] = job->order[o];
	return 0;
}

static int consumer_add(struct stream *x, struct stage_run *st, size_t p)
{
	if (ARRAY_GROW(x->consumers, x->consumers_cap, x->n_consumers, 4) < 0)
		return -ENOMEM;
	x->consumers[x->n_consumers++] = (struct consumer){ st, p };
	return 0;
}

/* The streams and who reads them; job inputs complete, their items
 * claimed by their consumers. */
static int streams_setup(struct run *run)
{
	const struct job *job = run->job;

	run->in_streams = calloc(job->n_inputs + 1, sizeof(*run->in_streams));
	if (!run->in_streams || dispatch_order_setup(run) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < job->n_inputs; i++) {
		run->in_streams[i].set = run->inputs[i];
		run->in_streams[i].complete = true;
	}
	for (size_t s = 0; s < job->n_stages; s++) {
		const struct job_stage *js = &job->stages[s];
		struct stage_run *st = &run->stages[s];

		st->out = calloc(js->n_outputs + 1, sizeof(*st->out));
		st->in = calloc(js->n_inputs + 1, sizeof(*st->in));
		st->in_sets = calloc(js->n_inputs + 1, sizeof(*st->in_sets));
		st->passed = calloc(js->n_inputs + 1, sizeof(*st->passed));
		if (!st->out || !st->in || !st->in_sets || !st->passed)
			return -ENOMEM;
		for (size_t k = 0; k < js->n_outputs; k++) {
			st->out[k] = calloc(1, sizeof(*st->out[k]));
			if (!st->out[k])
				return -ENOMEM;
			st->out[k]->set = set_new(js->outputs[k]);
			if (!st->out[k]->set)
				return -ENOMEM;
		}
	}
	for (size_t s = 0; s < job->n_stages; s++) {
		const struct job_stage *js = &job->stages[s];
		struct stage_run *st = &run->stages[s];

		for (size_t p = 0; p < js->n_inputs; p++) {
			st->in[p] = ref_stream(run, &js->inputs[p].ref);
			if (consumer_add(st->in[p], st, p) < 0)
				return -ENOMEM;
		}
	}
	for (size_t i = 0; i < job->n_outputs; i++)
		ref_stream(run, &job->outputs[i].ref)->job_output = true;
	for (size_t s = 0; s < job->n_stages; s++) {
		struct stage_run *st = &run->stages[s];

		st->io_windowed = job->stages[s].io && io_windowable(run, st);
		for (size_t k = 0; k < job->stages[s].n_outputs; k++) {
			st->out[k]->windowed = st->io_windowed;
			st->out[k]->producer = st;
			st->out[k]->out_k = k;
			st->out[k]->ahead = job->stages[s].io &&
					    !st->out[k]->job_output;
		}
	}
	for (size_t s = 0; s < job->n_stages; s++) {
		const struct job_stage *js = &job->stages[s];
		struct stage_run *st = &run->stages[s];

		st->ooo = !js->io && !st->fold && js->n_inputs &&
			  js->inputs[0].mode == JOB_MODE_EACH && st->in[0]->ahead;
	}
	for (size_t i = 0; i < job->n_inputs; i++) {
		struct stream *x = &run->in_streams[i];

		x->claims = calloc(x->set->n + 1, sizeof(*x->claims));
		if (!x->claims)
			return -ENOMEM;
		x->claims_cap = x->set->n + 1;
		for (size_t j = 0; j < x->set->n; j++) {
			int r;

			x->claims[j] = (uint32_t)x->n_consumers;
			r = stream_spill(run, x, j);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* The CPUs this process may run on: its affinity (`taskset`), else the
 * online CPUs; at least 1. */
static long cpus_usable(void)
{
	cpu_set_t set;
	long n;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return MIN(CPU_COUNT(&set), PARALLEL_MAX);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? MIN(n, PARALLEL_MAX) : 1;
}

/* Many buffers, sockets and files at once are normal for a job: the soft
 * limit of descriptors goes up to the hard one, once. */
static void raise_nofile(void)
{
	static bool done;
	struct rlimit rl;

	if (done)
		return;
	done = true;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int run_setup(struct run *run)
{
	const struct job *job = run->job;
	struct engine_report *rep = run->rep;
	long ncpu;
	int r;

	raise_nofile();
	ncpu = cpus_usable();
	run->parallel = run->opts->parallel;
	if (!run->parallel)
		run->parallel = (unsigned)ncpu * ENGINE_SLOTS_PER_CPU;
	run->parallel = MIN(run->parallel, PARALLEL_MAX);
	run->cpus = MIN(run->parallel, (unsigned)ncpu);
	run->window = run->opts->window ? run->opts->window :
					  ENGINE_WINDOW_DEFAULT;
	run->win_items = win_base(run);
	run->shuffle = run->opts->test_shuffle_seed;
	run->inputs = calloc(job->n_inputs + 1, sizeof(*run->inputs));
	run->images = calloc(job->n_functions + 1, sizeof(*run->images));
	run->stages = calloc(job->n_stages + 1, sizeof(*run->stages));
	rep->stages = calloc(job->n_stages + 1, sizeof(*rep->stages));
	rep->outputs = calloc(job->n_outputs + 1, sizeof(*rep->outputs));
	if (!run->inputs || !run->images || !run->stages || !rep->stages ||
	    !rep->outputs)
		return err_set(run->e, ENOMEM, "out of memory");
	rep->n_stages = job->n_stages;
	for (size_t s = 0; s < job->n_stages; s++) {
		const struct job_stage *js = &job->stages[s];

		rep->stages[s].name = js->name;
		rep->stages[s].io = js->io != NULL;
		rep->stages[s].function = js->io ? js->io : js->function;
		rep->stages[s].failures_only = run->opts->report_failures_only;
		run->stages[s].run = run;
		run->stages[s].s = s;
		run->stages[s].fold = js->n_inputs ? js->inputs[0].fold : 0;
	}

	run->job_dirfd = open(job->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (run->job_dirfd < 0)
		return err_errno(run->e, errno, "%s", job->dir);
	run->data_rootfd =
		open(run->opts->data_root ? run->opts->data_root : job->dir,
		     O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (run->data_rootfd < 0)
		return err_errno(run->e, errno, "data root %s", run->opts->data_root ? run->opts->data_root :
						      job->dir);
	iofunc_ctx_init(&run->ioctx);
	run->ioctx.job = run->id;
	run->ioctx.data_root_fd = run->data_rootfd;
	run->ioctx.label = job->name;
	r = iopolicy_init(&run->iopol, job, run->opts, run->job_dirfd,
			  run->data_rootfd, run->e);
	if (r < 0)
		return r;
	r = loop_new(256, &run->loop, run->e);
	if (r < 0)
		return r;
	r = cancel_arm(run);
	if (r < 0)
		return r;
	/* On the loop, like everything after it. */
	r = ingest_job(run->loop, run->job_dirfd, job, run->inputs, run->images,
		       run->e);
	if (r < 0)
		return r;
	if (run->opts->ingested)
		run->opts->ingested(run->opts->ingested_data);
	if (run->opts->out_dir) {
		_cleanup_free_ const char **names =
			calloc(job->n_outputs + 1, sizeof(*names));

		if (!names)
			return err_set(run->e, ENOMEM, "out of memory");
		for (size_t i = 0; i < job->n_outputs; i++)
			names[i] = job->outputs[i].name;
		r = output_begin(run->loop, run->opts->out_dir, names,
				 job->n_outputs, on_written, run, &run->writer,
				 run->e);
		if (r < 0)
			return r;
	}
	r = streams_setup(run);
	if (r < 0)
		return err_set(run->e, -r, "out of memory");
	/* The eBPF guard taxes every syscall on the host while attached:
	 * only from here, when workers may exist, to the end of the stages. */
	for (size_t s = 0; s < job->n_stages && !run->held_guard; s++) {
		if (job->stages[s].io || !run->opts->sandbox)
			continue;
		r = sandbox_hold(run->opts->sandbox, run->e);
		if (r < 0)
			return err_prefix(run->e, r, "sandbox");
		run->held_guard = true;
	}
	/* What setting up freed below live allocations (ingest, the guard's
	 * load) free() does not give back itself: give those pages back
	 * before the job's memory grows. */
	malloc_trim(0);
	return 0;
}

/* An output item for the report; a spilled one has no bytes (buf NULL):
 * they are in the output directory. */
static int report_item_add(struct set *s, const struct item *it)
{
	struct item *d;

	if (it->buf)
		return set_add_item(s, it);
	if (ARRAY_GROW(s->items, s->cap, s->n, 8) < 0)
		return -ENOMEM;
	d = &s->items[s->n];
	*d = *it;
	d->name = strdup(it->name);
	if (!d->name)
		return -ENOMEM;
	s->n++;
	return 0;
}

static int run_job(struct run *run)
{
	const struct job *job = run->job;
	struct engine_report *rep = run->rep;
	int r;

	r = run_setup(run);
	if (r < 0)
		return r;
	if (run->error)
		return run->error;
	progress(run);
	if (!run_finished(run)) {
		r = loop_run_until(run->loop, run_finished, run);
		if (r < 0 && !run->error)
			run_error(run, err_errno(run->e, r, "event loop"));
	}
	cancel_disarm(run);
	run->deadline_off = true;
	if (run->deadline_armed && !run->deadline_moving)
		loop_cancel(run->loop, &run->deadline_op);
	run->pace_off = true;
	if (run->pace_armed)
		loop_cancel(run->loop, &run->pace_op);
	run->sb_off = true;
	if (run->sb_armed)
		loop_cancel(run->loop, &run->sb_op);
	if (run->listen_armed)
		loop_cancel(run->loop, &run->listen_op);
	drain(run);
	for (size_t s = 0; s < job->n_stages; s++) /* ended by a failure */
		if (run->stages[s].state == STAGE_RUNNING)
			PROBE_STAGE_END(run->id, s, rep->stages[s].name, rep->stages[s].ok ? PROBE_CANCELLED : PROBE_FAILED, rep->stages[s].items_out, rep->stages[s].bytes_out);
	if (run->held_guard) {
		sandbox_release(run->opts->sandbox);
		run->held_guard = false;
	}
	if (run->error)
		return run->error;
	rep->ok = !run->failed;
	if (!rep->ok)
		return 0;

	rep->n_outputs = job->n_outputs;
	for (size_t i = 0; i < job->n_outputs; i++) {
		const struct set *src =
			ref_stream(run, &job->outputs[i].ref)->set;
		struct set *dst = set_new(job->outputs[i].name);

		if (!dst)
			return err_set(run->e, ENOMEM, "out of memory");
		rep->outputs[i] = dst;
		for (size_t j = 0; j < src->n; j++) {
			r = report_item_add(dst, &src->items[j]);
			if (r < 0)
				return err_set(run->e, -r, "out of memory");
		}
	}
	if (run->writer) {
		r = output_commit(run->writer, run->opts->out_dir, run->e);
		if (r < 0)
			rep->ok = false;
		return r;
	}
	return 0;
}

uint64_t engine_default_max_instances(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || size <= 0)
		return 1u << 20;
	return (uint64_t)pages * (uint64_t)size / 4096;
}

uint64_t engine_default_max_disk(const char *path)
{
	_cleanup_free_ char *p = strdup(path && path[0] ? path : ".");
	struct statvfs sv;

	/* The directory may not exist yet: its nearest existing parent. */
	while (p && statvfs(p, &sv) < 0) {
		char *slash = strrchr(p, '/');

		if (!strcmp(p, ".") || !strcmp(p, "/"))
			return UINT64_MAX;
		if (!slash)
			strcpy(p, ".");
		else if (slash == p)
			p[1] = '\0';
		else
			*slash = '\0';
	}
	if (!p)
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * sv.f_frsize / 2;
}

int engine_run(const struct job *job, const struct engine_opts *opts,
	       struct engine_report *rep, struct err *e)
{
	struct run run = { .job = job,
			   .opts = opts,
			   .rep = rep,
			   .e = e,
			   .iopol = { .write_rootfd = -1 },
			   .job_dirfd = -1,
			   .data_rootfd = -1 };
	static uint64_t job_seq;
	uint64_t t0 = clock_now_ns();
	int r;

	*rep = (struct engine_report){};
	store_set_limit(opts->max_store);
	run.max_instances = opts->max_instances ? opts->max_instances :
						  engine_default_max_instances();
	run.max_disk = opts->max_disk ?
			       opts->max_disk :
			       engine_default_max_disk(
				       opts->out_dir	  ? opts->out_dir :
				       opts->write_root ? opts->write_root :
				       opts->data_root	  ? opts->data_root :
							    job->dir);
	run.id = __atomic_add_fetch(&job_seq, 1, __ATOMIC_RELAXED);
	PROBE_JOB_START(run.id, job->name, job->n_stages);
	r = run_job(&run);
	run_done(&run);
	store_pool_bound_add(-(int64_t)run.pool_bound);
	rep->elapsed_ns = clock_now_ns() - t0;
	if (r < 0)
		rep->ok = false;
	PROBE_JOB_END(run.id, job->name, r < 0 ? r : rep->ok ? PROBE_OK : PROBE_FAILED, rep->elapsed_ns);
	return r;
}

const char *instance_state_name(enum instance_state s)
{
	switch (s) {
	case INSTANCE_OK:
		return "ok";
	case INSTANCE_FAILED:
		return "failed";
	case INSTANCE_CANCELLED:
		return "cancelled";
	default:
		return "not-run";
	}
}

void engine_report_done(struct engine_report *rep)
{
	for (size_t s = 0; s < rep->n_stages; s++) {
		instance_free_all(&rep->stages[s]);
	}
	free(rep->stages);
	for (size_t i = 0; i < rep->n_outputs; i++)
		set_free(rep->outputs[i]);
	free(rep->outputs);
	*rep = (struct engine_report){};
}
