// SPDX-License-Identifier: MIT
/*
 * wordcount, stage 1: count the words of each document of input `docs`.
 * A word is a run of ASCII letters, folded to lower case. Each document gives
 * one item of output `counts`, named like the document, holding
 * `word<TAB>count` lines sorted by word.
 */
#include <pith/fn.h>

#include "words.h"

static int by_word(const void *a, const void *b)
{
	return word_cmp(a, b);
}

static void count_doc(const struct pith_item *doc)
{
	const char *p = pith_item_data(doc), *end = p + pith_item_len(doc);
	char word[256];
	struct words w;
	struct pith_sb sb = { 0 };
	struct word *v;

	words_init(&w, 1024);
	while (p < end) {
		size_t len = 0;

		while (p < end && !pith_isalpha(*p))
			p++;
		if (p == end)
			break;
		/* Words longer than the buffer are counted by their prefix. */
		for (; p < end && pith_isalpha(*p); p++)
			if (len < sizeof(word))
				word[len++] = pith_tolower(*p);
		words_add(&w, word, len, 1);
	}
	v = words_array(&w);
	pith_sort(v, w.n, sizeof(*v), by_word);
	pith_sb_init(&sb, w.n * 12);
	words_write(&sb, v, w.n);
	pith_sb_output(&sb, "counts", pith_item_name(doc));
}

int main(void)
{
	const struct pith_set *docs = pith_input("docs");

	if (!docs)
		return 1;
	pith_set_foreach(doc, docs)
		count_doc(doc);
	return 0;
}
