/* SPDX-License-Identifier: MIT */
/* What the I/O functions share inside iofuncs/: the run and its items. */
#ifndef PITH_IOFUNCS_INTERNAL_H
#define PITH_IOFUNCS_INTERNAL_H

#include "iofuncs/arena.h"
#include "iofuncs/iofuncs.h"

#define IOFUNC_MAX_OUTPUTS 2

/* An item's outputs while it has them: from its first iofunc_item_out()
 * until it is delivered (streaming), or until the run ends (not). */
struct iofunc_outs {
	struct {
		struct buffer *buf; /* the arena's: no reference of its own */
		uint64_t off, len;
	} out[IOFUNC_MAX_OUTPUTS];
	struct iofunc_outs *next_free; /* on the run's free list */
};

/* What a run keeps per item, for every item of a 100,000-item run: 24
 * bytes, and the outputs only while the item holds them. */
struct iofunc_item {
	int err;	/* 0 or -errno once finished */
	bool finished;
	bool delivered;	/* streaming: handed to ctx.item */
	uint8_t has_out; /* bit k: output k recorded (in outs) */
	char *msg;	/* reason when err < 0 */
	struct iofunc_outs *outs; /* NULL: none recorded, or delivered */
};

struct iofunc {
	const char *name;
	/* min/max outputs the job may declare */
	size_t min_outputs, max_outputs;
	int (*start)(struct iofunc_run *run, struct err *e);
	void (*cancel)(struct iofunc_run *run);
	void (*free)(struct iofunc_run *run);
	/* Start the items iofunc_may_start() held back (may be NULL when the
	 * function never asks). */
	void (*resume)(struct iofunc_run *run);
};

struct iofunc_run {
	struct loop *loop;
	const struct iofunc *fn;
	struct iofunc_ctx ctx;
	const struct set *input;
	struct set *const *outputs;
	size_t n_outputs;
	iofunc_done_fn done;
	void *done_data;

	struct iofunc_item *items;
	size_t finished_prefix;	/* items [0, it) are finished */
	struct iofunc_outs *outs_free; /* delivered items' blocks, for reuse */
	size_t n, n_finished, n_failed;
	uint64_t bytes;
	unsigned ops;		/* the function's ops in flight */
	bool cancelled;
	bool done_posted;
	bool in_start;		/* finishing must wait for start to return */
	struct loop_op done_op;
	struct arena arena;
	/* streaming (ctx.item): items finished ok and not yet delivered */
	size_t *ready;
	size_t n_ready, ready_cap;
	struct loop_op stream_op;
	bool stream_posted;
	bool in_flush;		/* delivering: done must wait */
	void *impl;		/* the function's own state */
};

/* Input item i (an item not finished yet: see iofunc_ctx.input_base). */
static inline const struct item *iofunc_input(const struct iofunc_run *run,
					      size_t i)
{
	return &run->input->items[i - (run->ctx.input_base ?
					       *run->ctx.input_base : 0)];
}

extern const struct iofunc iofunc_file_read, iofunc_file_write, iofunc_http;

/* Item i failed: err < 0, message printed like "http: connect ...". */
void iofunc_item_fail(struct iofunc_run *run, size_t i, int err,
		      const char *fmt, ...) _printf_(4, 5);
/* Item i succeeded; its outputs were recorded with iofunc_item_out(). */
void iofunc_item_ok(struct iofunc_run *run, size_t i);
void iofunc_item_out(struct iofunc_run *run, size_t i, size_t k,
		     struct buffer *buf, uint64_t off, uint64_t len);
/* Forget the outputs item i recorded (an attempt that is tried again). */
void iofunc_item_forget(struct iofunc_run *run, size_t i);
/* Check whether every item finished; if so seal the arena, append the
 * outputs and post `done`. Called by the functions after each finish. */
void iofunc_run_maybe_done(struct iofunc_run *run);

/* Whether the next item may start now (ctx.may_start; always when there is
 * none or the run is cancelled). When it says no, the function waits for
 * its resume op. */
bool iofunc_may_start(struct iofunc_run *run);

/* "Connection refused" -> "connection refused", in a static buffer. */
const char *iofunc_strerror(int err);
/* Printable, bounded rendering of untrusted bytes for messages. */
void iofunc_quote(char *dst, size_t dst_size, const void *src, size_t len);

#endif
