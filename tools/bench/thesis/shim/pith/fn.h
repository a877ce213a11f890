/* SPDX-License-Identifier: MIT */
/*
 * The part of <pith/fn.h> that examples/logstats uses, on libc, so that the
 * thesis benchmark's contenders (a process per request, a threaded server)
 * run the very parse and merge code of the pith job. One input set, one
 * output item; memory from a per-thread arena that shim_reset() frees.
 */
#ifndef THESIS_SHIM_PITH_FN_H
#define THESIS_SHIM_PITH_FN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PITH_NAME_MAX 255
#define PITH_EINVAL 22
#define PITH_ERANGE 34

struct pith_item {
	const char *name;
	uint64_t key;
	bool keyed;
	const void *data;
	size_t len;
};

struct pith_set {
	size_t n_items;
	const struct pith_item *items;
};

struct shim_block {
	struct shim_block *next;
	size_t used, cap;
	_Alignas(16) char data[];
};

/* Per thread: the input, the output, the arena. */
extern __thread const struct pith_set *shim_input;
extern __thread char *shim_out;
extern __thread size_t shim_out_len;
extern __thread struct shim_block *shim_arena;

static inline void *shim_alloc(size_t n)
{
	struct shim_block *b = shim_arena;

	n = (n + 15) & ~(size_t)15;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > (1u << 20) ? n : (1u << 20);

		b = malloc(sizeof(*b) + cap);
		if (!b)
			abort();
		b->next = shim_arena;
		b->used = 0;
		b->cap = cap;
		shim_arena = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

/* Free everything the last function call allocated. */
static inline void shim_reset(void)
{
	while (shim_arena) {
		struct shim_block *b = shim_arena;

		shim_arena = b->next;
		free(b);
	}
}

static inline void *pith_calloc(size_t n, size_t size)
{
	void *p = shim_alloc(n * size);

	memset(p, 0, n * size);
	return p;
}

static inline char *pith_strndup(const char *s, size_t n)
{
	char *p = shim_alloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static inline const struct pith_set *pith_input(const char *name)
{
	(void)name;
	return shim_input;
}

static inline size_t pith_set_count(const struct pith_set *s)
{
	return s ? s->n_items : 0;
}

static inline const struct pith_item *pith_set_item(const struct pith_set *s,
						    size_t i)
{
	return s && i < s->n_items ? s->items + i : NULL;
}

#define pith_set_foreach(it, s)                                            \
	for (const struct pith_item *it = (s) ? (s)->items : NULL,         \
				    *it##_e_ = it ? it + (s)->n_items : NULL; \
	     it < it##_e_; it++)

static inline const char *pith_item_name(const struct pith_item *it)
{
	return it->name;
}

static inline const void *pith_item_data(const struct pith_item *it)
{
	return it->data;
}

static inline size_t pith_item_len(const struct pith_item *it)
{
	return it->len;
}

static inline uint64_t pith_item_key(const struct pith_item *it)
{
	return it->keyed ? it->key : 0;
}

/* As the SDK's (userspace/sdk/lib/fmt.c): FNV-1a. */
static inline uint64_t pith_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static inline void pith_sort(void *base, size_t n, size_t size,
			     int (*cmp)(const void *a, const void *b))
{
	qsort(base, n, size, cmp);
}

/* As the SDK's. */
static inline int pith_parse_u64(const char **p, const char *end,
				 uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	bool overflow = false;

	if (s >= end || *s < '0' || *s > '9')
		return -PITH_EINVAL;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		v = v * 10 + d;
	}
	*p = s;
	if (overflow)
		return -PITH_ERANGE;
	*ret = v;
	return 0;
}

#define pith_snprintf snprintf

struct pith_sb {
	char *buf;
	size_t len;
	size_t cap;
};

static inline void pith_sb_printf(struct pith_sb *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void pith_sb_printf(struct pith_sb *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(sb->buf ? sb->buf + sb->len : NULL,
			      sb->buf ? sb->cap - sb->len + 1 : 0, fmt, ap);
		va_end(ap);
		if (sb->buf && (size_t)n <= sb->cap - sb->len)
			break;
		size_t cap = (sb->cap + (size_t)n) * 2 + 256;
		char *nb = shim_alloc(cap + 1);

		if (sb->buf)
			memcpy(nb, sb->buf, sb->len);
		sb->buf = nb;
		sb->cap = cap;
	}
	sb->len += (size_t)n;
}

static inline void pith_sb_output_keyed(struct pith_sb *sb, const char *set,
					const char *name, uint64_t key)
{
	(void)set;
	(void)name;
	(void)key;
	shim_out = sb->buf;
	shim_out_len = sb->len;
}

static inline void pith_sb_output(struct pith_sb *sb, const char *set,
				  const char *name)
{
	pith_sb_output_keyed(sb, set, name, 0);
}

#endif
