// SPDX-License-Identifier: MIT
/*
 * wordcount, stage 2: add up the `word<TAB>count` lines of every item of
 * input `counts` into one item `total` of output `total`, most frequent word
 * first (ties in byte order of the words).
 */
#include <pith/fn.h>

#include "words.h"

static int by_count(const void *a, const void *b)
{
	const struct word *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return word_cmp(x, y);
}

/* Returns 0, or 2 when a line is not `word<TAB>count`. */
static int add_counts(struct words *w, const struct pith_item *it)
{
	const char *p = pith_item_data(it), *end = p + pith_item_len(it);

	while (p < end) {
		const char *word = p, *tab = memchr(p, '\t', end - p);
		uint64_t count;

		if (!tab || tab == word)
			return 2;
		p = tab + 1;
		if (pith_parse_u64(&p, end, &count) < 0 || p == end ||
		    *p != '\n')
			return 2;
		p++;
		words_add(w, word, tab - word, count);
	}
	return 0;
}

int main(void)
{
	const struct pith_set *counts = pith_input("counts");
	struct pith_sb sb = { 0 };
	struct words w;
	struct word *v;
	int r;

	if (!counts)
		return 1;
	words_init(&w, 4096);
	pith_set_foreach(it, counts) {
		r = add_counts(&w, it);
		if (r)
			return r;
	}
	v = words_array(&w);
	pith_sort(v, w.n, sizeof(*v), by_count);
	pith_sb_init(&sb, w.n * 12);
	words_write(&sb, v, w.n);
	pith_sb_output(&sb, "total", "total");
	return 0;
}
