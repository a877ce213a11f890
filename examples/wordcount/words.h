/* SPDX-License-Identifier: MIT */
/*
 * A word → count hash table in the arena, shared by wordcount's count and
 * merge functions, and the `word<TAB>count` text they exchange.
 */
#ifndef WORDCOUNT_WORDS_H
#define WORDCOUNT_WORDS_H

#include <pith/fn.h>

struct word {
	const char *text; /* lower case, in the arena */
	uint32_t len;
	uint64_t hash;
	uint64_t count;
};

struct words {
	struct word *slots; /* open addressing, capacity a power of two */
	size_t cap, n;
};

static inline void words_init(struct words *w, size_t cap)
{
	w->cap = cap;
	w->n = 0;
	w->slots = pith_calloc(cap, sizeof(*w->slots));
}

static inline struct word *words_slot(struct word *slots, size_t cap,
				      uint64_t hash, const char *text,
				      size_t len)
{
	size_t i = hash & (cap - 1);

	while (slots[i].text &&
	       (slots[i].hash != hash || slots[i].len != len ||
		memcmp(slots[i].text, text, len)))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static inline void words_grow(struct words *w)
{
	struct word *old = w->slots;
	size_t old_cap = w->cap;

	words_init(w, old_cap * 2);
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].text)
			continue;
		*words_slot(w->slots, w->cap, old[i].hash, old[i].text,
			    old[i].len) = old[i];
		w->n++;
	}
}

/* Add `count` to the word text[0..len), which must already be lower case. */
static inline void words_add(struct words *w, const char *text, size_t len,
			     uint64_t count)
{
	uint64_t hash = pith_hash(text, len);
	struct word *s = words_slot(w->slots, w->cap, hash, text, len);

	if (!s->text) {
		if (2 * (w->n + 1) > w->cap) {
			words_grow(w);
			s = words_slot(w->slots, w->cap, hash, text, len);
		}
		s->text = pith_strndup(text, len);
		s->len = len;
		s->hash = hash;
		w->n++;
	}
	s->count += count;
}

/* The words packed into an array of w->n entries (the table is reused). */
static inline struct word *words_array(struct words *w)
{
	size_t n = 0;

	for (size_t i = 0; i < w->cap; i++)
		if (w->slots[i].text)
			w->slots[n++] = w->slots[i];
	return w->slots;
}

/* Byte order of the words, as `LC_ALL=C sort` has it. */
static inline int word_cmp(const struct word *a, const struct word *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int r = memcmp(a->text, b->text, n);

	return r ? r : (a->len > b->len) - (a->len < b->len);
}

/* One `word<TAB>count` line per word. */
static inline void words_write(struct pith_sb *sb, const struct word *v,
			       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pith_sb_add(sb, v[i].text, v[i].len);
		pith_sb_addc(sb, '\t');
		pith_sb_add_u64(sb, v[i].count);
		pith_sb_addc(sb, '\n');
	}
}

#endif
