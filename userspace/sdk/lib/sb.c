// SPDX-License-Identifier: MIT
/* The string builder: text grown in the arena, published without a copy. */
#include <pith/fn.h>

#include "internal.h"

void pith_sb_init(struct pith_sb *sb, size_t cap)
{
	sb->buf = pith_alloc(cap + 1);
	sb->buf[0] = '\0';
	sb->len = 0;
	sb->cap = cap;
}

void pith_sb_reserve(struct pith_sb *sb, size_t more)
{
	size_t cap;

	if (!sb->buf)
		pith_sb_init(sb, 64);
	if (sb->cap - sb->len >= more)
		return;
	if (more > SIZE_MAX / 2 - sb->len)
		pith__out_of_memory(UINT64_MAX);
	cap = sb->cap * 2 > sb->len + more ? sb->cap * 2 : sb->len + more;
	/* Grows in place while the builder holds the newest arena block. */
	sb->buf = pith_realloc(sb->buf, cap + 1);
	sb->cap = cap;
}

void pith_sb_add(struct pith_sb *sb, const void *data, size_t len)
{
	pith_sb_reserve(sb, len);
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void pith_sb_addc(struct pith_sb *sb, char c)
{
	pith_sb_reserve(sb, 1);
	sb->buf[sb->len++] = c;
	sb->buf[sb->len] = '\0';
}

void pith_sb_puts(struct pith_sb *sb, const char *s)
{
	pith_sb_add(sb, s, strlen(s));
}

void pith_sb_add_u64(struct pith_sb *sb, uint64_t v)
{
	pith_sb_reserve(sb, PITH_FMT_U64_MAX);
	sb->len += pith_fmt_u64(sb->buf + sb->len, v);
}

void pith_sb_add_i64(struct pith_sb *sb, int64_t v)
{
	pith_sb_reserve(sb, PITH_FMT_I64_MAX);
	sb->len += pith_fmt_i64(sb->buf + sb->len, v);
}

void pith_sb_printf(struct pith_sb *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	pith_sb_reserve(sb, 0);
	va_start(ap, fmt);
	n = pith_vsnprintf(sb->buf + sb->len, sb->cap - sb->len + 1, fmt, ap);
	va_end(ap);
	if ((size_t)n > sb->cap - sb->len) {
		pith_sb_reserve(sb, n);
		va_start(ap, fmt);
		pith_vsnprintf(sb->buf + sb->len, n + 1, fmt, ap);
		va_end(ap);
	}
	sb->len += n;
}

void pith_sb_clear(struct pith_sb *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

static void sb_output(struct pith_sb *sb, const char *set, const char *name,
		      bool keyed, uint64_t key)
{
	if (!sb->buf)
		pith_sb_init(sb, 0);
	pith__output_ref(set, name, keyed, key, sb->buf, sb->len);
	/* The published bytes must not change: start afresh. */
	sb->buf = NULL;
	sb->len = 0;
	sb->cap = 0;
}

void pith_sb_output(struct pith_sb *sb, const char *set, const char *name)
{
	sb_output(sb, set, name, false, 0);
}

void pith_sb_output_keyed(struct pith_sb *sb, const char *set,
			  const char *name, uint64_t key)
{
	sb_output(sb, set, name, true, key);
}
