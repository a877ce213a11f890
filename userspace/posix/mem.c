// SPDX-License-Identifier: MIT
/*
 * Memory of a POSIX function: the context's arena, handed out by pages to
 * mmap (and so to malloc), with munmap giving pages back. brk reports a
 * break that cannot move, so malloc uses mmap. Nothing reaches the kernel:
 * the arena is already mapped, zero-filled, and is all there is.
 */
#define _GNU_SOURCE 1 /* MREMAP_* */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* A free range below `top`. Sorted by address, never adjacent. */
struct extent {
	uintptr_t start, len;
	struct extent *next;
};

#define EXTENTS_MAX 1024

static uintptr_t heap_lo, heap_hi;
static uintptr_t top;	/* [top, heap_hi) is free */
static uintptr_t clean;	/* [clean, heap_hi) has never been handed out: zero */
static struct extent *free_list;
static struct extent extents[EXTENTS_MAX], *spare;
static size_t n_spare_used;

/* Small allocations: a bump pointer over chunks of pages. */
static char *bump, *bump_end;

static struct extent *extent_new(void)
{
	struct extent *e = spare;

	if (e) {
		spare = e->next;
		return e;
	}
	if (n_spare_used < EXTENTS_MAX)
		return &extents[n_spare_used++];
	return NULL; /* too fragmented: the range is leaked, not lost track of */
}

static void extent_put(struct extent *e)
{
	e->next = spare;
	spare = e;
}

void mem_init(uintptr_t arena, size_t size)
{
	heap_lo = RT_ALIGN_UP(arena, RT_PAGE);
	heap_hi = (arena + size) & ~(RT_PAGE - 1);
	if (heap_hi < heap_lo)
		heap_hi = heap_lo;
	top = clean = heap_lo;
}

size_t mem_free_bytes(void)
{
	size_t n = heap_hi - top;

	for (struct extent *e = free_list; e; e = e->next)
		n += e->len;
	return n;
}

static void zero_dirty(uintptr_t p, size_t len)
{
	/* Only what was handed out before can hold old bytes. */
	if (p < clean)
		memset((void *)p, 0, (p + len < clean ? p + len : clean) - p);
	if (p + len > clean)
		clean = p + len;
}

void *pages_alloc(size_t len)
{
	struct extent **pp, *e;
	uintptr_t p;

	if (!len || len > heap_hi - heap_lo)
		return NULL;
	len = RT_ALIGN_UP(len, RT_PAGE);
	for (pp = &free_list; (e = *pp); pp = &e->next) {
		if (e->len < len)
			continue;
		p = e->start;
		e->start += len;
		e->len -= len;
		if (!e->len) {
			*pp = e->next;
			extent_put(e);
		}
		zero_dirty(p, len);
		return (void *)p;
	}
	if (heap_hi - top < len)
		return NULL;
	p = top;
	top += len;
	zero_dirty(p, len);
	return (void *)p;
}

void pages_free(void *ptr, size_t len)
{
	uintptr_t p = (uintptr_t)ptr, end;
	struct extent **pp, *e, *prev = NULL;

	len = RT_ALIGN_UP(len, RT_PAGE);
	if (!len || p < heap_lo || p >= top || len > top - p)
		return;
	end = p + len;
	for (pp = &free_list; (e = *pp) && e->start < p; pp = &e->next)
		prev = e;
	if (prev && prev->start + prev->len > p)
		return; /* already free: ignore, as munmap of nothing */
	if (e && e->start < end)
		return;
	if (prev && prev->start + prev->len == p) {
		prev->len += len;
		if (e && end == e->start) {
			prev->len += e->len;
			prev->next = e->next;
			extent_put(e);
		}
		e = prev;
	} else if (e && end == e->start) {
		e->start = p;
		e->len += len;
	} else {
		struct extent *n = extent_new();

		if (!n)
			return;
		*n = (struct extent){ p, len, e };
		*pp = n;
		e = n;
	}
	/* A free range that reaches top lowers it. */
	if (e->start + e->len == top) {
		top = e->start;
		for (pp = &free_list; *pp != e; pp = &(*pp)->next)
			;
		*pp = e->next;
		extent_put(e);
	}
}

bool pages_resize(void *ptr, size_t old, size_t new)
{
	uintptr_t p = (uintptr_t)ptr, end;
	struct extent **pp, *e;

	old = RT_ALIGN_UP(old, RT_PAGE);
	new = RT_ALIGN_UP(new, RT_PAGE);
	if (new <= old) {
		if (new < old)
			pages_free((void *)(p + new), old - new);
		return true;
	}
	end = p + old;
	if (end == top) {
		if (heap_hi - top < new - old)
			return false;
		top += new - old;
		zero_dirty(end, new - old);
		return true;
	}
	for (pp = &free_list; (e = *pp) && e->start < end; pp = &e->next)
		;
	if (!e || e->start != end || e->len < new - old)
		return false;
	e->start += new - old;
	e->len -= new - old;
	if (!e->len) {
		*pp = e->next;
		extent_put(e);
	}
	zero_dirty(end, new - old);
	return true;
}

void *rt_alloc(size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if ((size_t)(bump_end - bump) < n) {
		size_t chunk = n > 65536 ? RT_ALIGN_UP(n, RT_PAGE) : 65536;

		bump = pages_alloc(chunk);
		if (!bump)
			__pith_exit_group(RT_EXIT_NOMEM);
		bump_end = bump + chunk;
	}
	p = bump;
	bump += n;
	return p; /* fresh pages: zero */
}

static bool in_heap(uintptr_t p, size_t len)
{
	return p >= heap_lo && p <= heap_hi && len <= heap_hi - p;
}

long sys_mmap(long addr, long len, long prot, long flags, long fd, long off)
{
	void *p;

	(void)addr;
	(void)off;
	if (len <= 0)
		return -EINVAL;
	if (prot & PROT_EXEC)
		return -EPERM; /* nothing in a function's memory executes */
	if (flags & MAP_FIXED)
		return -ENOMEM; /* the arena is all there is */
	if (!(flags & MAP_ANONYMOUS) || fd != -1)
		return -ENODEV; /* no file mappings: read() them */
	p = pages_alloc((size_t)len);
	return p ? (long)p : -ENOMEM;
}

long sys_munmap(long addr, long len)
{
	if ((addr & (RT_PAGE - 1)) || len <= 0)
		return -EINVAL;
	if (in_heap((uintptr_t)addr, (size_t)len))
		pages_free((void *)addr, (size_t)len);
	return 0;
}

long sys_mremap(long old, long old_len, long new_len, long flags, long new)
{
	void *p;

	(void)new;
	if ((old & (RT_PAGE - 1)) || new_len <= 0 || old_len <= 0 ||
	    !in_heap((uintptr_t)old, (size_t)old_len) || (flags & MREMAP_FIXED))
		return -EINVAL;
	if (pages_resize((void *)old, (size_t)old_len, (size_t)new_len))
		return old;
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	p = pages_alloc((size_t)new_len);
	if (!p)
		return -ENOMEM;
	memcpy(p, (void *)old, (size_t)old_len);
	pages_free((void *)old, (size_t)old_len);
	return (long)p;
}

long sys_brk(long addr)
{
	(void)addr;
	return (long)heap_lo; /* a break that never moves */
}

long sys_madvise(long addr, long len, long advice)
{
	if (addr & (RT_PAGE - 1))
		return -EINVAL;
	if (advice == MADV_DONTNEED && len > 0 &&
	    in_heap((uintptr_t)addr, (size_t)len))
		memset((void *)addr, 0, RT_ALIGN_UP((size_t)len, RT_PAGE));
	return 0;
}

long sys_mprotect(long addr, long len, long prot)
{
	(void)len;
	if (addr & (RT_PAGE - 1))
		return -EINVAL;
	return prot & PROT_EXEC ? -EACCES : 0;
}
