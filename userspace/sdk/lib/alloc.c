// SPDX-License-Identifier: MIT
/* The bump allocator over the context's arena. */
#include <pith/fn.h>

#include "internal.h"

#define ALIGNMENT 16

static uintptr_t base; /* first byte of the arena */
static uintptr_t cur;  /* first free byte */
static uintptr_t end;  /* end of the arena */
static uintptr_t last; /* start of the most recent block, 0 when none */

void pith__arena_init(void *p, size_t size)
{
	base = (uintptr_t)p;
	end = base + size;
	base = (base + ALIGNMENT - 1) & ~(uintptr_t)(ALIGNMENT - 1);
	if (base > end)
		base = end;
	cur = base;
	last = 0;
}

bool pith__arena_holds(uintptr_t p, size_t len)
{
	return p >= base && p <= cur && len <= cur - p;
}

void *pith_try_alloc(size_t n)
{
	uintptr_t p = (cur + ALIGNMENT - 1) & ~(uintptr_t)(ALIGNMENT - 1);

	if (p > end || n > end - p)
		return NULL;
	last = p;
	cur = p + n;
	return (void *)p;
}

void *pith_try_realloc(void *ptr, size_t n)
{
	uintptr_t p = (uintptr_t)ptr;
	void *q;

	if (!ptr)
		return pith_try_alloc(n);
	if (p == last) {
		if (n > end - p)
			return NULL;
		cur = p + n;
		return ptr;
	}
	/*
	 * The old size is not recorded; copying n bytes (or up to the end of
	 * what has been handed out) covers it, and bytes past the old size
	 * are unspecified after a realloc anyway.
	 */
	q = pith_try_alloc(n);
	if (q)
		memcpy(q, ptr, n < cur - p ? n : cur - p);
	return q;
}

/*
 * A block that starts on a page and fills whole pages, its padding zeroed:
 * an output that owns its pages, which pith hands to consumers by mapping
 * (PITH_PAGE_ITEM_MIN in <pith/abi.h>). NULL when that does not fit.
 */
void *pith__alloc_pages(size_t n)
{
	uintptr_t p = (cur + PITH_PAGE_SIZE - 1) & ~(uintptr_t)(PITH_PAGE_SIZE - 1);
	size_t padded = (n + PITH_PAGE_SIZE - 1) & ~(size_t)(PITH_PAGE_SIZE - 1);

	if (p > end || padded < n || padded > end - p)
		return NULL;
	last = p;
	cur = p + padded;
	/* The arena starts zeroed, but a freed block may have been here. */
	memset((char *)p + n, 0, padded - n);
	return (void *)p;
}

void pith__out_of_memory(uint64_t asked)
{
	uintptr_t p = (cur + ALIGNMENT - 1) & ~(uintptr_t)(ALIGNMENT - 1);

	pith__note(PITH_EXIT_NOMEM, NULL, 0, asked, p < end ? end - p : 0);
}

void *pith_alloc(size_t n)
{
	void *p = pith_try_alloc(n);

	if (!p)
		pith__out_of_memory(n);
	return p;
}

void *pith_calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		pith__out_of_memory(UINT64_MAX);
	p = pith_alloc(n * size);
	memset(p, 0, n * size);
	return p;
}

void *pith_realloc(void *ptr, size_t n)
{
	void *p = pith_try_realloc(ptr, n);

	if (!p)
		pith__out_of_memory(n);
	return p;
}

void pith_free(void *ptr)
{
	if (ptr && (uintptr_t)ptr == last) {
		cur = last;
		last = 0;
	}
}

size_t pith_arena_avail(void)
{
	return end - cur;
}

size_t pith_arena_used(void)
{
	return cur - base;
}

char *pith_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = pith_alloc(len + 1);

	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *pith_strdup(const char *s)
{
	return pith_strndup(s, SIZE_MAX);
}
