// SPDX-License-Identifier: MIT
/* Output arenas: memfd buffers filled through a writable mapping, sealed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iofuncs/arena.h"
#include "lib/array.h"
#include "lib/macro.h"

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
}

static int chunk_new(struct arena *a, uint64_t cap, bool populate,
		     struct arena_chunk **ret)
{
	struct arena_chunk *c;
	struct buffer *b = NULL;
	void *p = NULL;
	int r;

	if (ARRAY_GROW(a->chunks, a->cap, a->n, 4) < 0)
		return -ENOMEM;
	r = buffer_new(a->name, cap, &b);
	if (r < 0)
		return r;
	if (cap) {
		p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
		if (p == MAP_FAILED) {
			r = negative_errno();
			buffer_unref(b);
			return r;
		}
		/*
		 * Huge pages where the system allows them for shmem
		 * (shmem_enabled=advise): fewer faults for bulk data. Then
		 * prefault a buffer we are about to fill completely: one call
		 * instead of a fault per page. Both best effort.
		 */
		if (cap >= (2u << 20))
			(void)madvise(p, cap, MADV_HUGEPAGE);
		if (populate)
			(void)madvise(p, cap, MADV_POPULATE_WRITE);
	}
	c = &a->chunks[a->n++];
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

int arena_reserve(struct arena *a, uint64_t len, struct buffer **ret_buf,
		  uint64_t *ret_off, void **ret_ptr)
{
	struct arena_chunk *c;
	int r;

	if (len >= a->own_min) {
		r = chunk_new(a, len, a->prefault, &c);
		if (r < 0)
			return r;
		c->used = len;
	} else {
		if (a->open < 0 ||
		    a->chunks[a->open].cap - a->chunks[a->open].used < len) {
			r = chunk_new(a, a->chunk, false, &c);
			if (r < 0)
				return r;
			a->open = (ssize_t)(a->n - 1);
		}
		c = &a->chunks[a->open];
		c->used += len;
	}
	*ret_buf = c->buf;
	*ret_off = c->used - len;
	*ret_ptr = c->map ? c->map + *ret_off : NULL;
	if (a->prefault && len >= ARENA_POPULATE_MIN && len < a->own_min &&
	    c->map)
		populate(c->map, *ret_off, len);
	return 0;
}

int arena_put(struct arena *a, const void *data, uint64_t len,
	      struct buffer **ret_buf, uint64_t *ret_off)
{
	void *p;
	int r = arena_reserve(a, len, ret_buf, ret_off, &p);

	if (r < 0)
		return r;
	if (len)
		memcpy(p, data, len);
	return 0;
}

static void chunk_unmap(struct arena_chunk *c)
{
	if (c->map)
		munmap(c->map, c->cap);
	c->map = NULL;
}

int arena_finish(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++) {
		struct arena_chunk *c = &a->chunks[i];
		int r;

		chunk_unmap(c);
		if (c->used < c->buf->size && !c->buf->xfer) {
			if (ftruncate(c->buf->fd, (off_t)c->used) < 0)
				return negative_errno();
			/* Not sealed yet: the size is still ours to set. */
			c->buf->size = c->used;
		}
		r = buffer_seal(c->buf);
		if (r < 0)
			return r;
	}
	a->open = -1;
	return 0;
}

void arena_done(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++) {
		chunk_unmap(&a->chunks[i]);
		buffer_unref(a->chunks[i].buf);
	}
	free(a->chunks);
	a->chunks = NULL;
	a->n = a->cap = 0;
	a->open = -1;
}
