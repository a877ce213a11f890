// SPDX-License-Identifier: MIT
/* Segmented reads of one file: see segread.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "iofuncs/internal.h"
#include "iofuncs/segread.h"
#include "lib/macro.h"

static bool is_small(const struct segread *sr)
{
	return sr->segs == &sr->one;
}

static void seg_read(struct segread_seg *g)
{
	struct segread *sr = g->sr;
	struct io_uring_sqe *sqe = loop_sqe(sr->loop, 1);
	uint64_t len = g->len - g->done;

	if (!sqe) {
		sr->err = -EBUSY;
		return;
	}
	io_uring_prep_read(sqe, sr->fd, sr->dst + g->off + g->done,
			   (unsigned)len, g->off + g->done);
	/* A segment's pages are populated by a worker: read there too. A
	 * small file's are prefaulted: the loop reads it inline when it is
	 * cached. */
	if (!is_small(sr))
		sqe->flags |= IOSQE_ASYNC;
	loop_sqe_set_op(sr->loop, sqe, &g->op);
	(*sr->ops)++;
	g->busy = true;
	sr->busy++;
}

/* A segment's read or populate completed: when none is left, the file. */
static void seg_end(struct segread *sr)
{
	if (!sr->busy)
		sr->end(sr, sr->err);
}

static void seg_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct segread_seg *g = container_of(op, struct segread_seg, op);
	struct segread *sr = g->sr;

	(void)flags;
	(*sr->ops)--;
	g->busy = false;
	sr->busy--;
	if (*sr->cancelled && !sr->err)
		sr->err = -ECANCELED;
	if (res < 0 && res != -EAGAIN && res != -EINTR && !sr->err)
		sr->err = res;
	if (res == 0 && !sr->err)
		sr->err = -ENODATA;
	if (res > 0)
		g->done += (uint64_t)res;
	if (!sr->err && g->done < g->len)
		seg_read(g);
	seg_end(sr);
}

/* The populate failing (e.g. on a mapping that cannot be populated) only
 * means the read faults its pages in itself: it is hard-linked. */
static void seg_pop_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct segread_seg *g = container_of(op, struct segread_seg, pop);
	struct segread *sr = g->sr;

	(void)res;
	(void)flags;
	(*sr->ops)--;
	sr->busy--;
	seg_end(sr);
}

int segread_start(struct segread *sr)
{
	sr->busy = 0;
	sr->err = 0;
	if (sr->size < SEGREAD_MIN) {
		/* One read of the whole file, no populate. */
		sr->n_segs = 1;
		sr->segs = &sr->one;
		sr->one = (struct segread_seg){ .sr = sr, .len = sr->size };
		sr->one.op.cb = seg_cb;
		seg_read(&sr->one);
		return sr->busy ? 0 : sr->err;
	}
	sr->n_segs = (size_t)((sr->size + SEGREAD_SEG - 1) / SEGREAD_SEG);
	sr->segs = calloc(sr->n_segs ? sr->n_segs : 1, sizeof(*sr->segs));
	if (!sr->segs)
		return -ENOMEM;
	for (size_t i = 0; i < sr->n_segs; i++) {
		struct segread_seg *g = &sr->segs[i];
		struct io_uring_sqe *sqe = loop_sqe(sr->loop, 2), *rd;

		g->sr = sr;
		g->off = i * SEGREAD_SEG;
		g->len = MIN(SEGREAD_SEG, sr->size - g->off);
		g->op.cb = seg_cb;
		g->pop.cb = seg_pop_cb;
		if (!sqe) {
			sr->err = -EBUSY;
			break;
		}
		io_uring_prep_madvise(sqe, sr->dst + g->off, (off_t)g->len,
				      MADV_POPULATE_WRITE);
		sqe->flags |= IOSQE_IO_HARDLINK;
		loop_sqe_set_op(sr->loop, sqe, &g->pop);
		rd = loop_sqe_next(sr->loop, sqe);
		io_uring_prep_read(rd, sr->fd, sr->dst + g->off,
				   (unsigned)g->len, g->off);
		rd->flags |= IOSQE_ASYNC;
		loop_sqe_set_op(sr->loop, rd, &g->op);
		*sr->ops += 2;
		g->busy = true;
		sr->busy += 2; /* the read and its populate */
	}
	if (!sr->busy)
		return sr->err ? sr->err : -EBUSY;
	return 0;
}

void segread_cancel(struct segread *sr)
{
	for (size_t k = 0; sr->segs && k < sr->n_segs; k++)
		if (sr->segs[k].busy)
			loop_cancel(sr->loop, &sr->segs[k].op);
}

void segread_done(struct segread *sr)
{
	if (!is_small(sr))
		free(sr->segs);
	sr->segs = NULL;
	sr->n_segs = sr->busy = 0;
	sr->err = 0;
}

void segread_prep_statx(struct io_uring_sqe *sqe, int fd, struct statx *stx)
{
	io_uring_prep_statx(sqe, fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT,
			    STATX_TYPE | STATX_SIZE, stx);
}

int segread_check(int fd, const struct statx *stx, const char **ret_why)
{
	if (!S_ISREG(stx->stx_mode)) {
		*ret_why = S_ISDIR(stx->stx_mode) ? "is a directory" :
						    "not a regular file";
		return -EINVAL;
	}
	if (fcntl(fd, F_SETFL, 0) < 0) {
		int r = negative_errno();

		*ret_why = iofunc_strerror(r);
		return r;
	}
	return 0;
}
