// SPDX-License-Identifier: MIT
/*
 * pith's own reads of whole files it trusts the paths of: openat, statx,
 * read (large files in segments that populate their pages in parallel)
 * as io_uring operations, into an arena's buffers, a bounded number of
 * files in flight.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "iofuncs/arena.h"
#include "iofuncs/internal.h"
#include "iofuncs/loadfile.h"
#include "iofuncs/segread.h"
#include "lib/probe.h"

#define LF_FUNCTION "file.read" /* what the I/O probes call these reads */

enum lf_state {
	LF_IDLE,
	LF_OPEN,
	LF_STATX,
	LF_SEGS, /* the read in flight, see iofuncs/segread.h */
};

struct lf_slot {
	struct loop_op op;
	struct loadfile *lf;
	enum lf_state state;
	size_t idx;
	int fd;
	struct statx stx;
	struct arena_span dst;
	uint64_t size;
	struct segread segs;
};

struct lf_file {
	struct buffer *buf; /* the arena's */
	uint64_t off, len;
};

struct loadfile {
	struct loop *loop;
	struct loadfile_opts o;
	const char *const *paths;
	size_t n, next;
	size_t *first;		/* the first index of each path (NULL: all
				   distinct), see find_repeats() */
	struct lf_file *files;
	struct lf_slot *slots;
	size_t n_slots;
	struct arena arena;
	unsigned ops;		/* operations in flight */
	bool stopped;		/* start no more files */
	bool cancelled, in_start, done_posted;
	int err;		/* the first failure in path order */
	size_t err_idx;
	char *err_msg;
	uint64_t bytes;
	loadfile_done_fn done;
	void *data;
	struct loop_op done_op;
};

static void slot_cb(struct loop_op *op, int res, uint32_t flags);

static void record_error(struct loadfile *lf, size_t i, int err,
			 const char *why)
{
	char path[256], *m = NULL;

	if (lf->err < 0 && lf->err_idx < i)
		return;
	iofunc_quote(path, sizeof(path), lf->paths[i], strlen(lf->paths[i]));
	if (asprintf(&m, "'%s': %s", path, why) < 0)
		m = NULL;
	free(lf->err_msg);
	lf->err_msg = m;
	lf->err = err < 0 ? err : -EIO;
	lf->err_idx = i;
}

static void slot_release(struct lf_slot *s)
{
	segread_done(&s->segs);
	s->fd = safe_close(s->fd);
	s->state = LF_IDLE;
}

/* The file on s failed: no file after it is started. */
static void slot_fail(struct lf_slot *s, int err, const char *why)
{
	struct loadfile *lf = s->lf;

	record_error(lf, s->idx, err, why);
	lf->stopped = true;
	PROBE_IO_ITEM_END(lf, LF_FUNCTION, s->idx, lf->o.probe_stage,
			  err < 0 ? err : -EIO, 0);
	slot_release(s);
}

static void slot_ok(struct lf_slot *s)
{
	struct loadfile *lf = s->lf;

	arena_keep(&lf->arena, &s->dst);
	lf->files[s->idx] = (struct lf_file){ s->dst.buf, s->dst.off, s->size };
	lf->bytes += s->size;
	PROBE_IO_ITEM_END(lf, LF_FUNCTION, s->idx, lf->o.probe_stage, 0,
			  s->size);
	slot_release(s);
}

static bool slot_submit(struct lf_slot *s, struct io_uring_sqe *sqe)
{
	if (!sqe)
		return false;
	s->op.cb = slot_cb;
	loop_sqe_set_op(s->lf->loop, sqe, &s->op);
	s->lf->ops++;
	return true;
}

static void slot_open(struct lf_slot *s)
{
	struct loadfile *lf = s->lf;
	struct io_uring_sqe *sqe = loop_sqe(lf->loop, 1);

	if (!sqe)
		return slot_fail(s, -EBUSY, "cannot queue the open");
	s->state = LF_OPEN;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (it is
	 * refused after the statx); cleared again for regular files, whose
	 * reads would otherwise fail with EAGAIN instead of waiting for the
	 * disk. */
	io_uring_prep_openat(sqe, lf->o.dirfd, lf->paths[s->idx],
			     O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0);
	slot_submit(s, sqe);
}

/* Start files on s until one is in flight or none is left. */
static void slot_next(struct lf_slot *s)
{
	struct loadfile *lf = s->lf;

	while (s->state == LF_IDLE && !lf->stopped && lf->next < lf->n) {
		s->idx = lf->next++;
		if (lf->first && lf->first[s->idx] != s->idx)
			continue; /* read once, as its first index */
		PROBE_IO_ITEM_START(lf, LF_FUNCTION, s->idx, lf->o.probe_stage);
		slot_open(s);
	}
}

static void maybe_done(struct loadfile *lf);

/* The file's read (or every segment's read and populate) completed. */
static void segs_end(struct segread *sr, int err)
{
	struct lf_slot *s = container_of(sr, struct lf_slot, segs);
	struct loadfile *lf = s->lf;

	if (err == -ENODATA)
		slot_fail(s, -EIO, "file shrank while being read");
	else if (err)
		slot_fail(s, err, iofunc_strerror(err));
	else
		slot_ok(s);
	slot_next(s);
	maybe_done(lf);
}

static void read_file(struct lf_slot *s)
{
	struct loadfile *lf = s->lf;
	int r;

	s->segs = (struct segread){
		.loop = lf->loop,
		.ops = &lf->ops,
		.cancelled = &lf->cancelled,
		.end = segs_end,
		.fd = s->fd,
		.dst = s->dst.ptr,
		.size = s->size,
	};
	s->state = LF_SEGS;
	r = segread_start(&s->segs);
	if (r == -ENOMEM)
		slot_fail(s, r, "out of memory");
	else if (r < 0)
		slot_fail(s, r, "cannot queue the reads");
}

static void slot_step(struct lf_slot *s, int res)
{
	struct loadfile *lf = s->lf;
	struct io_uring_sqe *sqe;
	const char *bad;
	int r;

	switch (s->state) {
	case LF_OPEN:
		if (res < 0)
			return slot_fail(s, res, iofunc_strerror(res));
		s->fd = res;
		sqe = loop_sqe(lf->loop, 1);
		if (!sqe)
			return slot_fail(s, -EBUSY, "cannot queue the statx");
		s->state = LF_STATX;
		segread_prep_statx(sqe, s->fd, &s->stx);
		slot_submit(s, sqe);
		return;
	case LF_STATX:
		if (res < 0)
			return slot_fail(s, res, iofunc_strerror(res));
		r = segread_check(s->fd, &s->stx, &bad);
		if (r < 0)
			return slot_fail(s, r, bad);
		s->size = s->stx.stx_size;
		if (lf->o.max_bytes && s->size > lf->o.max_bytes) {
			char why[96];

			snprintf(why, sizeof(why),
				 "file too large: %llu bytes, the limit is %llu",
				 (unsigned long long)s->size,
				 (unsigned long long)lf->o.max_bytes);
			return slot_fail(s, -EFBIG, why);
		}
		/* Segmented reads populate their own pages, in parallel. */
		lf->arena.prefault = s->size < SEGREAD_MIN;
		r = arena_reserve(&lf->arena, s->size, &s->dst);
		if (r < 0) {
			char why[256];

			/* -ENOBUFS: the store's limit, named (--max-store). */
			snprintf(why, sizeof(why),
				 "cannot allocate its buffer: %s",
				 iofunc_strerror(r));
			return slot_fail(s, r, why);
		}
		if (s->size == 0)
			return slot_ok(s);
		return read_file(s);
	default:
		return slot_fail(s, -EINVAL, "internal state error");
	}
}

static void slot_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct lf_slot *s = container_of(op, struct lf_slot, op);
	struct loadfile *lf = s->lf;

	(void)flags;
	lf->ops--;
	if (lf->cancelled) {
		if (s->state == LF_OPEN && res >= 0)
			s->fd = res; /* opened just before the cancel */
		slot_fail(s, -ECANCELED, "cancelled");
	} else {
		slot_step(s, res);
	}
	slot_next(s);
	maybe_done(lf);
}

static void done_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct loadfile *lf = container_of(op, struct loadfile, done_op);

	(void)res;
	(void)flags;
	lf->done(lf, lf->data);
}

/* Every file in flight finished and none is left to start: seal the
 * buffers and post `done`. */
static void maybe_done(struct loadfile *lf)
{
	int r;

	if (lf->done_posted || lf->in_start || lf->ops ||
	    (!lf->stopped && lf->next < lf->n))
		return;
	if (lf->cancelled && lf->err == 0 && lf->next < lf->n)
		record_error(lf, lf->next, -ECANCELED, "cancelled");
	r = arena_finish(&lf->arena);
	if (r < 0 && lf->err == 0) {
		free(lf->err_msg);
		lf->err_msg = NULL;
		if (asprintf(&lf->err_msg, "cannot seal the buffers: %s",
			     iofunc_strerror(r)) < 0)
			lf->err_msg = NULL;
		lf->err = r;
		lf->err_idx = 0;
	}
	lf->done_posted = true;
	PROBE_IO_DONE(lf, LF_FUNCTION, lf->n, lf->err < 0 ? 1 : 0, lf->bytes,
		      lf->o.probe_stage);
	lf->done_op.cb = done_cb;
	if (loop_post(lf->loop, &lf->done_op) < 0)
		lf->done(lf, lf->data);
}

static uint64_t path_hash(const char *p)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	return h;
}

/*
 * A path listed again (the same string, so the same file from the same
 * dirfd) is read once: lf->first[i] is the first index of paths[i]'s
 * string, and only first indices are opened. NULL when every path is
 * distinct (or there is no memory for the table: then every path is read).
 */
static void find_repeats(struct loadfile *lf)
{
	size_t cap = 16, *tab, repeats = 0;

	while (cap < lf->n * 2)
		cap *= 2;
	tab = calloc(cap, sizeof(*tab)); /* index + 1, 0: empty */
	lf->first = calloc(lf->n ? lf->n : 1, sizeof(*lf->first));
	if (!tab || !lf->first)
		goto out;
	for (size_t i = 0; i < lf->n; i++) {
		size_t h = (size_t)path_hash(lf->paths[i]) & (cap - 1);

		lf->first[i] = i;
		for (; tab[h]; h = (h + 1) & (cap - 1))
			if (!strcmp(lf->paths[tab[h] - 1], lf->paths[i]))
				break;
		if (tab[h]) {
			lf->first[i] = tab[h] - 1;
			repeats++;
		} else {
			tab[h] = i + 1;
		}
	}
out:
	if (!repeats) {
		free(lf->first);
		lf->first = NULL;
	}
	free(tab);
}

int loadfile_start(struct loop *l, const struct loadfile_opts *o,
		   const char *const *paths, size_t n, loadfile_done_fn done,
		   void *data, struct loadfile **ret, struct err *e)
{
	_cleanup_(loadfile_freep) struct loadfile *lf = calloc(1, sizeof(*lf));

	if (!lf)
		return err_set(e, ENOMEM, "out of memory");
	lf->loop = l;
	lf->o = *o;
	if (!lf->o.in_flight)
		lf->o.in_flight = LOADFILE_IN_FLIGHT;
	lf->paths = paths;
	lf->n = n;
	lf->done = done;
	lf->data = data;
	arena_init(&lf->arena, o->label ? o->label : "files");
	find_repeats(lf);
	lf->n_slots = MIN(n, (size_t)lf->o.in_flight);
	lf->files = calloc(n ? n : 1, sizeof(*lf->files));
	lf->slots = calloc(lf->n_slots ? lf->n_slots : 1, sizeof(*lf->slots));
	if (!lf->files || !lf->slots)
		return err_set(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < lf->n_slots; i++) {
		lf->slots[i].lf = lf;
		lf->slots[i].fd = -1;
	}
	PROBE_IO_START(lf, LF_FUNCTION, n, 0, o->probe_stage);
	lf->in_start = true;
	for (size_t i = 0; i < lf->n_slots; i++)
		slot_next(&lf->slots[i]);
	lf->in_start = false;
	maybe_done(lf);
	*ret = TAKE_PTR(lf);
	return 0;
}

void loadfile_cancel(struct loadfile *lf)
{
	if (!lf || lf->cancelled || lf->done_posted)
		return;
	lf->cancelled = lf->stopped = true;
	for (size_t i = 0; i < lf->n_slots; i++) {
		struct lf_slot *s = &lf->slots[i];

		if (s->state == LF_SEGS)
			segread_cancel(&s->segs);
		else if (s->state != LF_IDLE)
			loop_cancel(lf->loop, &s->op);
	}
	maybe_done(lf);
}

int loadfile_error(const struct loadfile *lf, size_t *ret_i,
		   const char **ret_msg)
{
	if (lf->err < 0) {
		*ret_i = lf->err_idx;
		*ret_msg = lf->err_msg ? lf->err_msg : "out of memory";
	}
	return lf->err;
}

void loadfile_file(const struct loadfile *lf, size_t i, struct buffer **ret_buf,
		   uint64_t *ret_off, uint64_t *ret_len)
{
	if (lf->first)
		i = lf->first[i];
	*ret_buf = lf->files[i].buf;
	*ret_off = lf->files[i].off;
	*ret_len = lf->files[i].len;
}

uint64_t loadfile_bytes(const struct loadfile *lf)
{
	return lf->bytes;
}

struct loadfile *loadfile_free(struct loadfile *lf)
{
	if (!lf)
		return NULL;
	for (size_t i = 0; lf->slots && i < lf->n_slots; i++) {
		segread_done(&lf->slots[i].segs);
		safe_close(lf->slots[i].fd);
	}
	arena_done(&lf->arena);
	free(lf->slots);
	free(lf->files);
	free(lf->first);
	free(lf->err_msg);
	free(lf);
	return NULL;
}
