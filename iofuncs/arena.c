// SPDX-License-Identifier: MIT
/* Output arenas: store buffers filled through pith's mapping, then sealed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iofuncs/arena.h"
#include "lib/array.h"
#include "lib/macro.h"
#include "lib/nofile.h"

void arena_init(struct arena *a, const char *label)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "pith:%s", label ? label : "io");
	a->open = -1;
	if (strcmp(store_backend(), "memfd")) {
		a->chunk = ARENA_XFER_CHUNK;
		a->own_min = ARENA_XFER_OWN_MIN;
	} else {
		a->chunk = ARENA_CHUNK;
		a->own_min = ARENA_OWN_MIN;
	}
	a->own_any = a->own_min;
	a->grow = MIN(a->chunk, (uint64_t)ARENA_CHUNK_FIRST);
}

void arena_own_items(struct arena *a)
{
	if (strcmp(store_backend(), "memfd"))
		return;
	a->own_open = nofile_share(2);
	a->own_min = MIN(a->own_min, (uint64_t)ARENA_ITEM_MIN);
	a->chunk = MIN(a->chunk, (uint64_t)ARENA_ITEM_CHUNK);
	a->grow = MIN(a->grow, a->chunk);
}

void arena_expect(struct arena *a, uint64_t bytes)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	a->chunk = MIN(a->chunk, ALIGN_UP(MAX(bytes, (uint64_t)1), page));
	a->own_min = MIN(a->own_min, a->chunk);
	a->own_any = MIN(a->own_any, a->chunk);
	a->grow = a->chunk;
}

static int chunk_new(struct arena *a, uint64_t cap, bool populate,
		     struct arena_chunk **ret)
{
	struct arena_chunk *c;
	struct buffer *b;
	void *p;
	int r;

	if (ARRAY_GROW(a->chunks, a->cap, a->n - a->base, 4) < 0)
		return -ENOMEM;
	r = buffer_new_mapped(a->name, cap, BUFFER_UNZEROED, &b, &p);
	if (r < 0)
		return r;
	/*
	 * Prefault a buffer we are about to fill completely: one call instead
	 * of a fault per page (next to nothing for a recycled buffer). Best
	 * effort. No MADV_HUGEPAGE: with shmem_enabled=advise it made a 1 GiB
	 * read into fresh memory 6x slower here, and recycled buffers gain
	 * little from it (Documentation/benchmarks/iofuncs.md).
	 */
	if (cap && populate)
		(void)madvise(p, cap, MADV_POPULATE_WRITE);
	c = &a->chunks[a->n++ - a->base];
	*c = (struct arena_chunk){ .buf = b, .map = p, .cap = cap };
	*ret = c;
	return 0;
}

/*
 * Fault the pages of a reserved range in with one call: a kernel copy into
 * pages that are not there yet faults once per page, which costs more than
 * the copy itself. Best effort (MADV_POPULATE_WRITE is 5.14+).
 */
static void populate(char *map, uint64_t off, uint64_t len)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start = ALIGN_UP(off, page), end = (off + len) & ~(page - 1);

	if (end > start)
		(void)madvise(map + start, end - start, MADV_POPULATE_WRITE);
}

/* Give back the room of an array of `cap` entries holding `n`. */
static void shrink(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t want = MAX(2 * n, (size_t)64);
	void *p;

	if (want < *cap && (p = realloc(*arr, want * size))) {
		*arr = p;
		*cap = want;
	}
}

/* Drop the prefix of reservations kept or abandoned once it is half the
 * array (their ids stay valid: arena_keep() and arena_abandon() of a
 * dropped one do nothing, as for one done with). */
static void pending_compact(struct arena *a)
{
	size_t k, live;

	while (a->done_upto < a->n_pending &&
	       !a->pending[a->done_upto - a->pending_base].buf)
		a->done_upto++;
	k = a->done_upto - a->pending_base;
	live = a->n_pending - a->done_upto;
	if (k < 1024 || k < live)
		return;
	memmove(a->pending, a->pending + k, live * sizeof(*a->pending));
	a->pending_base += k;
	shrink((void **)&a->pending, &a->pending_cap, live, sizeof(*a->pending));
}

/* Whether an item of `len` bytes gets a buffer of its own (arena_own_items()). */
static bool span_own(const struct arena *a, uint64_t len)
{
	return len >= a->own_any ||
	       (len >= a->own_min &&
		__atomic_load_n(&store_stats.fds_in_use, __ATOMIC_RELAXED) <
			a->own_open);
}

/* A span of `len` bytes at the end of a chunk with room, or of its own. */
static int span_new(struct arena *a, uint64_t len, bool own,
		    struct arena_span *ret)
{
	struct arena_chunk *c;
	int r;

	if (own) {
		/* Whole pages: the pool takes a buffer back for any item that
		 * fits its mapping. The seal shrinks it to `len`. */
		r = chunk_new(a, ALIGN_UP(len, (uint64_t)sysconf(_SC_PAGESIZE)),
			      a->prefault, &c);
		if (r < 0)
			return r;
		c->used = len;
	} else {
		if (a->open < 0 ||
		    arena_chunk(a, (size_t)a->open)->cap -
				    arena_chunk(a, (size_t)a->open)->used < len) {
			r = chunk_new(a, MAX(a->grow, len), false, &c);
			if (r < 0)
				return r;
			a->open = (ssize_t)(a->n - 1);
			a->grow = MIN(2 * a->grow, a->chunk);
		}
		c = arena_chunk(a, (size_t)a->open);
		c->used += len;
	}
	*ret = (struct arena_span){
		.buf = c->buf,
		.off = c->used - len,
		.ptr = c->map ? c->map + c->used - len : NULL,
		.chunk = a->base + (size_t)(c - a->chunks),
		.len = len,
	};
	return 0;
}

int arena_reserve(struct arena *a, uint64_t len, struct arena_span *ret)
{
	bool own;
	int r;

	if (ARRAY_GROW(a->pending, a->pending_cap,
		       a->n_pending - a->pending_base, 16) < 0)
		return -ENOMEM;
	own = span_own(a, len);
	r = span_new(a, len, own, ret);
	if (r < 0)
		return r;
	ret->id = a->n_pending;
	a->pending[a->n_pending++ - a->pending_base] = *ret;
	arena_chunk(a, ret->chunk)->inflight++;
	if (a->prefault && len >= ARENA_POPULATE_MIN && !own && ret->ptr)
		populate(arena_chunk(a, ret->chunk)->map, ret->off, len);
	return 0;
}

void arena_keep(struct arena *a, const struct arena_span *s)
{
	struct arena_span *p;

	if (s->id < a->pending_base || s->id >= a->n_pending)
		return; /* done with, and dropped */
	p = &a->pending[s->id - a->pending_base];
	if (p->buf) /* kept once */
		arena_chunk(a, s->chunk)->inflight--;
	p->len = 0;
	p->buf = NULL;
	pending_compact(a);
}

void arena_abandon(struct arena *a, const struct arena_span *s)
{
	struct arena_span *p;
	struct arena_chunk *c;

	if (!s->buf || s->id < a->pending_base || s->id >= a->n_pending)
		return;
	p = &a->pending[s->id - a->pending_base];
	if (p->buf != s->buf || p->off != s->off)
		return;
	c = arena_chunk(a, s->chunk);
	/* What the failed attempt wrote, or a past use's bytes: nobody's. */
	if (c->map && p->len)
		memset(c->map + p->off, 0, p->len);
	c->inflight--;
	p->len = 0;
	p->buf = NULL;
	pending_compact(a);
}

int arena_put(struct arena *a, const void *data, uint64_t len,
	      struct buffer **ret_buf, uint64_t *ret_off)
{
	struct arena_span s;
	int r = span_new(a, len, span_own(a, len), &s);

	if (r < 0)
		return r;
	if (len)
		memcpy(s.ptr, data, len);
	*ret_buf = s.buf;
	*ret_off = s.off;
	return 0;
}

int arena_finish(struct arena *a)
{
	/* A recycled buffer's old bytes where a failed item wrote less than
	 * it reserved are nobody's to read. (Pages never touched are zero,
	 * and stay unallocated.) */
	for (size_t i = 0; i < a->n_pending - a->pending_base; i++) {
		const struct arena_span *s = &a->pending[i];
		const struct arena_chunk *c;

		if (!s->len)
			continue; /* kept or abandoned: its chunk may be gone */
		c = arena_chunk(a, s->chunk);
		if (c->buf && s->off < c->buf->stale)
			memset(c->map + s->off, 0,
			       MIN(s->len, c->buf->stale - s->off));
	}
	a->n_pending = a->pending_base = a->done_upto = 0;
	for (size_t i = 0; i < a->n - a->base; i++) {
		struct arena_chunk *c = &a->chunks[i];
		int r;

		if (c->sealed || !c->buf)
			continue;
		c->map = NULL;
		r = buffer_shrink(c->buf, c->used);
		if (r < 0)
			return r;
		r = buffer_seal(c->buf);
		if (r < 0)
			return r;
		c->sealed = true;
	}
	a->open = -1;
	return 0;
}

ssize_t arena_chunk_of(const struct arena *a, const struct buffer *buf)
{
	for (size_t i = a->n - a->base; i-- > 0;)
		if (a->chunks[i].buf == buf)
			return (ssize_t)(a->base + i);
	return -1;
}

void arena_close_open(struct arena *a)
{
	a->open = -1;
}

int arena_seal_idle(struct arena *a)
{
	int n = 0;

	/* From the oldest chunk not sealed yet: what lies before it was
	 * sealed by earlier calls. */
	if (a->sealed_upto < a->base)
		a->sealed_upto = a->base;
	while (a->sealed_upto < a->n &&
	       (arena_chunk(a, a->sealed_upto)->sealed ||
		!arena_chunk(a, a->sealed_upto)->buf))
		a->sealed_upto++;
	for (size_t i = a->sealed_upto; i < a->n; i++) {
		struct arena_chunk *c = arena_chunk(a, i);
		int r;

		if (c->sealed || !c->buf || c->inflight ||
		    (ssize_t)i == a->open)
			continue;
		c->map = NULL;
		r = buffer_shrink(c->buf, c->used);
		if (r >= 0)
			r = buffer_seal(c->buf);
		if (r < 0)
			return r;
		c->sealed = true;
		n++;
	}
	return n;
}

#define ARENA_COMPACT_MIN 1024

void arena_chunk_drop(struct arena *a, size_t chunk)
{
	struct arena_chunk *c = arena_chunk(a, chunk);
	size_t k, live;

	c->buf = buffer_unref(c->buf);
	/* Drop the entries of the given-away prefix once it is half the
	 * array: nothing refers to a chunk given away (its reservations were
	 * all kept or abandoned, its outputs delivered). */
	if (a->dropped_upto < a->base)
		a->dropped_upto = a->base;
	while (a->dropped_upto < a->n && !arena_chunk(a, a->dropped_upto)->buf &&
	       (ssize_t)a->dropped_upto != a->open)
		a->dropped_upto++;
	k = a->dropped_upto - a->base;
	live = a->n - a->dropped_upto;
	if (k < ARENA_COMPACT_MIN || k < live)
		return;
	memmove(a->chunks, a->chunks + k, live * sizeof(*a->chunks));
	a->base += k;
	shrink((void **)&a->chunks, &a->cap, live, sizeof(*a->chunks));
}

void arena_done(struct arena *a)
{
	for (size_t i = 0; i < a->n - a->base; i++)
		buffer_unref(a->chunks[i].buf);
	free(a->chunks);
	free(a->pending);
	a->chunks = NULL;
	a->pending = NULL;
	a->n = a->cap = a->n_pending = a->pending_cap = a->sealed_upto = 0;
	a->base = a->dropped_upto = a->pending_base = a->done_upto = 0;
	a->open = -1;
}
