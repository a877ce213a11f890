// SPDX-License-Identifier: MIT
/*
 * matmul: multiply two integer matrices. The instance's share of input
 * `pair` holds two items, A then B: text matrices, one row per line, numbers
 * separated by spaces. The product C = A x B (int64, wrapping on overflow)
 * goes to output `product` as item `c<key>`, keyed like A, in the same text
 * format.
 */
#include <pith/fn.h>

enum {
	EXIT_NO_PAIR = 1,  /* the share is not two items */
	EXIT_PARSE = 2,	   /* not a matrix: bad number or ragged rows */
	EXIT_SHAPE = 3,	   /* columns of A != rows of B */
};

struct matrix {
	size_t rows, cols;
	int64_t *v; /* rows * cols, row-major */
};

/* Parse a text matrix; returns 0 or EXIT_PARSE. */
static int matrix_parse(const struct pith_item *it, struct matrix *m)
{
	const char *p = pith_item_data(it), *end = p + pith_item_len(it);
	size_t n = 0, cap = 1024, row_len = 0;

	m->rows = m->cols = 0;
	m->v = pith_alloc(cap * sizeof(*m->v));
	while (p < end) {
		int64_t x;

		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p < end && *p == '\n') {
			p++;
			if (!row_len)
				continue; /* blank line */
			if (m->rows && row_len != m->cols)
				return EXIT_PARSE;
			m->cols = row_len;
			m->rows++;
			row_len = 0;
			continue;
		}
		if (p == end)
			break;
		if (pith_parse_i64(&p, end, &x) < 0)
			return EXIT_PARSE;
		if (n == cap) {
			cap *= 2;
			/* The newest block: grows in place. */
			m->v = pith_realloc(m->v, cap * sizeof(*m->v));
		}
		m->v[n++] = x;
		row_len++;
	}
	if (row_len) { /* last line without a newline */
		if (m->rows && row_len != m->cols)
			return EXIT_PARSE;
		m->cols = row_len;
		m->rows++;
	}
	return m->rows ? 0 : EXIT_PARSE;
}

static void multiply(const struct matrix *a, const struct matrix *b,
		     struct matrix *c)
{
	c->rows = a->rows;
	c->cols = b->cols;
	c->v = pith_calloc(c->rows * c->cols, sizeof(*c->v));
	/* i-k-j: the inner loop walks rows of B and C contiguously. */
	for (size_t i = 0; i < a->rows; i++) {
		uint64_t *ci = (uint64_t *)c->v + i * c->cols;

		for (size_t k = 0; k < a->cols; k++) {
			uint64_t aik = a->v[i * a->cols + k];
			const int64_t *bk = b->v + k * b->cols;

			for (size_t j = 0; j < b->cols; j++)
				ci[j] += aik * (uint64_t)bk[j];
		}
	}
}

int main(void)
{
	const struct pith_set *pair = pith_input("pair");
	const struct pith_item *ia = pith_set_item(pair, 0);
	const struct pith_item *ib = pith_set_item(pair, 1);
	struct matrix a, b, c;
	struct pith_sb sb = { 0 };
	char name[32];

	if (pith_set_count(pair) != 2)
		return EXIT_NO_PAIR;
	if (matrix_parse(ia, &a) || matrix_parse(ib, &b))
		return EXIT_PARSE;
	if (a.cols != b.rows)
		return EXIT_SHAPE;
	multiply(&a, &b, &c);

	pith_sb_init(&sb, c.rows * c.cols * 8);
	for (size_t i = 0; i < c.rows; i++) {
		for (size_t j = 0; j < c.cols; j++) {
			if (j)
				pith_sb_addc(&sb, ' ');
			pith_sb_add_i64(&sb, c.v[i * c.cols + j]);
		}
		pith_sb_addc(&sb, '\n');
	}
	pith_snprintf(name, sizeof(name), "c%llu",
		      (unsigned long long)pith_item_key(ia));
	pith_sb_output_keyed(&sb, "product", name, pith_item_key(ia));
	return 0;
}
