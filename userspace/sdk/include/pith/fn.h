/* SPDX-License-Identifier: MIT */
/*
 * The pith function SDK: what a compute function built with tools/pith-cc
 * uses to read its inputs, write its outputs, allocate from its arena and
 * format text, without libc. See Documentation/function-abi.md.
 *
 * A function defines `int main(void)`. The crt calls it with the context
 * already set up; returning 0 publishes the outputs, anything else fails the
 * instance with that exit status.
 */
#ifndef PITH_FN_H
#define PITH_FN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pith/abi.h>

#if !defined(PITH_FREESTANDING)
#include <string.h>
#endif

#define PITH_ATTR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define PITH_NORETURN __attribute__((noreturn))

/*
 * Exit statuses the SDK uses when it has to stop a function; 1..119 are the
 * function's own. A function's status is always 0..255. Before it exits
 * with 120, 121, 122 or 125 the SDK writes a note of why into the context
 * (struct pith_note in <pith/abi.h>, ABI 1.2: the set, the bytes asked
 * and left), which pith checks and puts in the instance's reason.
 */
#define PITH_EXIT_NOMEM 120	  /* the arena is exhausted */
#define PITH_EXIT_NO_OUTPUT 121	  /* no output set of that name */
#define PITH_EXIT_LIMIT 122	  /* name too long, too many items */
#define PITH_EXIT_BAD_ARG 123	  /* an SDK call was given a bad pointer */
#define PITH_EXIT_BAD_CONTEXT 124 /* the descriptor is not ABI v1 */
#define PITH_EXIT_NO_INPUT 125	  /* pith_input() of a set the stage lacks */

/* Negative error codes returned by the parsing helpers. */
#define PITH_EINVAL 22
#define PITH_ERANGE 34

/* ---- Inputs ------------------------------------------------------------ */

/* The descriptor pith passed in, as it was at entry. */
const struct pith_context *pith_context(void);
/* Index of this instance within its stage (0-based). */
uint64_t pith_instance(void);

/*
 * The input set the stage calls `name`. A stage without it is a mistake in
 * the job or the function: the function ends with PITH_EXIT_NO_INPUT, which
 * pith reports as such, instead of computing on an empty set.
 */
const struct pith_set *pith_input(const char *name);
/* The same for a set the function can do without: NULL when absent. */
const struct pith_set *pith_input_optional(const char *name);
size_t pith_input_count(void);
const struct pith_set *pith_input_at(size_t i);
/* The first item of `s` named `name`, or NULL. */
const struct pith_item *pith_set_find(const struct pith_set *s,
				      const char *name);

static inline const char *pith_set_name(const struct pith_set *s)
{
	return (const char *)(uintptr_t)s->name;
}

static inline size_t pith_set_count(const struct pith_set *s)
{
	return s ? s->n_items : 0;
}

static inline const struct pith_item *pith_set_items(const struct pith_set *s)
{
	return (const struct pith_item *)(uintptr_t)s->items;
}

/* Item i of s, or NULL when out of range. */
static inline const struct pith_item *pith_set_item(const struct pith_set *s,
						    size_t i)
{
	return s && i < s->n_items ? pith_set_items(s) + i : NULL;
}

/* for (each const struct pith_item *it in set s); s may be NULL. */
#define pith_set_foreach(it, s)                                        \
	for (const struct pith_item *it = (s) ? pith_set_items(s) : NULL, \
				    *it##_e_ = it ? it + (s)->n_items : NULL; \
	     it < it##_e_; it++)

static inline const char *pith_item_name(const struct pith_item *it)
{
	return (const char *)(uintptr_t)it->name;
}

static inline const void *pith_item_data(const struct pith_item *it)
{
	return (const void *)(uintptr_t)it->data;
}

static inline size_t pith_item_len(const struct pith_item *it)
{
	return it->len;
}

static inline bool pith_item_keyed(const struct pith_item *it)
{
	return it->flags & PITH_ITEM_KEYED;
}

/* The item's key, 0 when it has none. */
static inline uint64_t pith_item_key(const struct pith_item *it)
{
	return pith_item_keyed(it) ? it->key : 0;
}

/* ---- Outputs ----------------------------------------------------------- */
/*
 * Every call names the output set (as the stage's "outputs" list does) and
 * the new item. Names are copied; an unknown set stops the function with
 * PITH_EXIT_NO_OUTPUT, a name over PITH_NAME_MAX bytes or more than
 * PITH_OUTPUT_ITEMS_MAX items with PITH_EXIT_LIMIT, a full arena with
 * PITH_EXIT_NOMEM. Items appear in the set in the order they were added.
 */

/* A new item of `len` bytes; returns its buffer (in the arena) to fill. */
void *pith_output_new(const char *set, const char *name, size_t len);
void *pith_output_new_keyed(const char *set, const char *name, uint64_t key,
			    size_t len);
/* A new item holding a copy of data[0..len). */
void pith_output_add(const char *set, const char *name, const void *data,
		     size_t len);
void pith_output_add_keyed(const char *set, const char *name, uint64_t key,
			   const void *data, size_t len);
/*
 * A new item referring to data[0..len) without copying it. The bytes must lie
 * inside one input item or inside arena memory that is not changed again
 * (the stack is neither: PITH_EXIT_BAD_ARG).
 */
void pith_output_ref(const char *set, const char *name, const void *data,
		     size_t len);
/* Pass an input item on unchanged (name, key and bytes), copying nothing. */
void pith_output_forward(const char *set, const struct pith_item *in);
/* Number of items added to output `set` so far. */
size_t pith_output_count(const char *set);

/* ---- Ending ------------------------------------------------------------ */

/* End now as if main returned `status` (0 publishes the outputs). */
PITH_NORETURN void pith_exit(int status);
/* End now with failure `code` (1..255; anything else becomes 255). */
PITH_NORETURN void pith_abort(int code);

/* ---- Arena allocation -------------------------------------------------- */
/*
 * A bump allocator over the context's arena. Blocks are 16-byte aligned and
 * live until the function ends. pith_realloc() grows the most recent block in
 * place; pith_free() gives back only the most recent block.
 */
void *pith_alloc(size_t n);		    /* PITH_EXIT_NOMEM when full */
void *pith_calloc(size_t n, size_t size);   /* zeroed */
void *pith_realloc(void *p, size_t n);	    /* p may be NULL */
void *pith_try_alloc(size_t n);		    /* NULL when full */
void *pith_try_realloc(void *p, size_t n);  /* NULL when full, p kept */
void pith_free(void *p);
size_t pith_arena_avail(void);		    /* bytes still free */
size_t pith_arena_used(void);
char *pith_strdup(const char *s);
char *pith_strndup(const char *s, size_t n);

/* ---- Bytes and strings -------------------------------------------------- */

#if defined(PITH_FREESTANDING)
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
void *memrchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
char *strstr(const char *haystack, const char *needle);
void *memmem(const void *haystack, size_t hlen, const void *needle,
	     size_t nlen);
char *strcpy(char *dst, const char *src);

/* -ffreestanding turns builtins off: let gcc inline the common ones again. */
#if !defined(PITH_SDK_BUILD)
#define memcpy(d, s, n) __builtin_memcpy(d, s, n)
#define memmove(d, s, n) __builtin_memmove(d, s, n)
#define memset(d, c, n) __builtin_memset(d, c, n)
#define memcmp(a, b, n) __builtin_memcmp(a, b, n)
#define strlen(s) __builtin_strlen(s)
#define strcmp(a, b) __builtin_strcmp(a, b)
#endif
#endif

static inline bool pith_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

static inline bool pith_isupper(int c)
{
	return c >= 'A' && c <= 'Z';
}

static inline bool pith_islower(int c)
{
	return c >= 'a' && c <= 'z';
}

static inline bool pith_isalpha(int c)
{
	return pith_isupper(c) || pith_islower(c);
}

static inline bool pith_isalnum(int c)
{
	return pith_isalpha(c) || pith_isdigit(c);
}

static inline bool pith_isspace(int c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline bool pith_isxdigit(int c)
{
	return pith_isdigit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static inline int pith_tolower(int c)
{
	return pith_isupper(c) ? c + ('a' - 'A') : c;
}

static inline int pith_toupper(int c)
{
	return pith_islower(c) ? c - ('a' - 'A') : c;
}

/* 64-bit FNV-1a of data[0..len). */
uint64_t pith_hash(const void *data, size_t len);

/*
 * Sort n elements of `size` bytes in place (heapsort: O(n log n) always, no
 * memory, not stable).
 */
void pith_sort(void *base, size_t n, size_t size,
	       int (*cmp)(const void *a, const void *b));

/* ---- Numbers ------------------------------------------------------------ */

#define PITH_FMT_U64_MAX 21 /* "18446744073709551615" + NUL */
#define PITH_FMT_I64_MAX 21 /* "-9223372036854775808" + NUL */

/* Decimal (hex) digits of v into buf, NUL-terminated; returns the length. */
size_t pith_fmt_u64(char *buf, uint64_t v);
size_t pith_fmt_i64(char *buf, int64_t v);
size_t pith_fmt_hex(char *buf, uint64_t v);

/*
 * Parse a decimal number at *p (before end), advancing *p past it. No
 * leading space is skipped; pith_parse_i64 accepts one '-' or '+'.
 * Returns 0, -PITH_EINVAL when no digit is there (*p unchanged) or
 * -PITH_ERANGE when the value does not fit (*p past the digits).
 */
int pith_parse_u64(const char **p, const char *end, uint64_t *ret);
int pith_parse_i64(const char **p, const char *end, int64_t *ret);
/* Advance *p past spaces, tabs and newlines; returns *p. */
const char *pith_skip_space(const char **p, const char *end);

/*
 * snprintf for %d %i %u %x %X %o %c %s %p %% and %f, with the flags '-' '0'
 * '+' ' ', a width and a precision (also '*'), and the length modifiers hh h
 * l ll z j t. Returns the length the whole text would have, writes at most
 * size - 1 bytes and a NUL (size 0 writes nothing).
 */
int pith_snprintf(char *buf, size_t size, const char *fmt, ...)
	PITH_ATTR_PRINTF(3, 4);
int pith_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
	PITH_ATTR_PRINTF(3, 0);

/* ---- String builder ----------------------------------------------------- */
/*
 * Text that grows in the arena. buf is always NUL-terminated. Growing is
 * cheap while the builder holds the most recent arena block (extended in
 * place); interleaving other allocations makes it copy.
 */
struct pith_sb {
	char *buf;
	size_t len;
	size_t cap; /* bytes usable before the NUL */
};

void pith_sb_init(struct pith_sb *sb, size_t cap);
void pith_sb_reserve(struct pith_sb *sb, size_t more);
void pith_sb_add(struct pith_sb *sb, const void *data, size_t len);
void pith_sb_addc(struct pith_sb *sb, char c);
void pith_sb_puts(struct pith_sb *sb, const char *s);
void pith_sb_add_u64(struct pith_sb *sb, uint64_t v);
void pith_sb_add_i64(struct pith_sb *sb, int64_t v);
void pith_sb_printf(struct pith_sb *sb, const char *fmt, ...)
	PITH_ATTR_PRINTF(2, 3);
void pith_sb_clear(struct pith_sb *sb);
/*
 * Publish the text (without the NUL) as a new output item, copying nothing.
 * The builder is empty afterwards and may be reused.
 */
void pith_sb_output(struct pith_sb *sb, const char *set, const char *name);
void pith_sb_output_keyed(struct pith_sb *sb, const char *set,
			  const char *name, uint64_t key);

/* ---- SDK internals (the crt and tests) ---------------------------------- */

/* Check the descriptor and take the arena; 0 or -PITH_EINVAL. */
int pith__init(struct pith_context *ctx);
/* Write the outputs into the descriptor. */
void pith__finalize(void);

#endif
