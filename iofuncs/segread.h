/* SPDX-License-Identifier: MIT */
/*
 * One file of known size read into one buffer: the one read step of
 * file.read (iofuncs/file.c) and pith's own reads (iofuncs/loadfile.c),
 * each of which keeps its own slots, cancellation and error wording.
 * A small file (below SEGREAD_MIN) is one read, repeated for what a short
 * read left, on the loop like any other operation (its pages were
 * prefaulted by the arena). A large one is read in segments, each a chain
 * "populate its pages, then read into them" run by io_uring's workers:
 * faulting fresh pages in costs more than copying into them, and segments
 * do both on every CPU.
 */
#ifndef PITH_IOFUNCS_SEGREAD_H
#define PITH_IOFUNCS_SEGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/uring.h"

struct statx;

#define SEGREAD_MIN (32ull << 20) /* files this large are read in segments */
#define SEGREAD_SEG (16ull << 20) /* bytes per segment */

struct segread;

/* One segment (segread's own). */
struct segread_seg {
	struct loop_op op;	/* the read */
	struct loop_op pop;	/* the populate before it */
	struct segread *sr;
	uint64_t off, len, done;
	bool busy;		/* the read is in flight */
};

/*
 * Every read and populate completed: err is 0 (every byte in place),
 * -ENODATA (the file shrank while being read), -ECANCELED (*cancelled was
 * set) or the first read's -errno. sr may be reused or released in it.
 */
typedef void (*segread_end_fn)(struct segread *sr, int err);

struct segread {
	/* Set by the caller before segread_start(): */
	struct loop *loop;
	unsigned *ops;		/* the owner's count of operations in flight */
	const bool *cancelled;	/* the owner's: once set, no more reads */
	segread_end_fn end;
	int fd;
	char *dst;
	uint64_t size;
	/* segread's own: */
	struct segread_seg *segs; /* &one for a small file */
	struct segread_seg one;
	size_t n_segs, busy;
	int err;
};

/*
 * Queue the read (a small file) or the segments' populates and reads. 0:
 * some are in flight and sr->end will be called (with -EBUSY if not all
 * could be queued); -ENOMEM, or -EBUSY when none could be queued (end is
 * not called). size must not be 0.
 */
int segread_start(struct segread *sr);
/*
 * The step before a read that file.read and pith's own reads share: the
 * statx of the file opened O_NONBLOCK (so that opening a FIFO does not wait
 * for a writer), asked for by segread_prep_statx(); segread_check() of
 * what it says: 0 for a regular file, made blocking again (its reads would
 * otherwise fail with EAGAIN instead of waiting for the disk), or -errno
 * and what to say in *ret_why ("is a directory", "not a regular file").
 */
void segread_prep_statx(struct io_uring_sqe *sqe, int fd, struct statx *stx);
int segread_check(int fd, const struct statx *stx, const char **ret_why);
/* Cancel the reads in flight; sr->end is called once they complete. */
void segread_cancel(struct segread *sr);
/* Free the segments (not the fd, not the buffer); sr can be started anew.
 * Harmless on a zeroed or already released sr. */
void segread_done(struct segread *sr);

#endif
