/* SPDX-License-Identifier: MIT */
/*
 * Source positions of JSON values: jansson keeps none, so a second pass over
 * text that jansson has already accepted records where every value (and the
 * key naming it) starts, in document order, as a flat "tape".
 */
#ifndef PITH_JOB_POS_H
#define PITH_JOB_POS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POS_NO_KEY UINT32_MAX

struct pos_entry {
	uint32_t off;	  /* byte offset of the value's first character */
	uint32_t key_off; /* byte offset of the member's key, or POS_NO_KEY */
	uint32_t next;	  /* index of the first entry after this subtree */
};

struct pos_index {
	const char *text;
	size_t len;
	struct pos_entry *v; /* v[0] is the root value */
	size_t n;
	size_t cap;	     /* entries allocated at v */
};

/*
 * Build the index of `text`, which must be valid JSON (jansson accepted it)
 * and shorter than 4 GiB. -ENOMEM, or -EINVAL when the text is not the JSON
 * it should be.
 */
int pos_index_build(const char *text, size_t len, struct pos_index *ret);
void pos_index_done(struct pos_index *p);
/* pos_index_build() into the entries `p` already has (zeroed or from an
 * earlier build or rebuild), for many small texts in a row. On failure `p`
 * indexes nothing but keeps its entries for pos_index_done(). */
int pos_index_rebuild(struct pos_index *p, const char *text, size_t len);

/*
 * An array found by pos_item_arrays(): the value of a member of the root
 * object's member "inputs" (a job's input item sets). Offsets into the
 * text; `n` elements.
 */
struct pos_cut {
	uint32_t open;	/* offset of the '[' */
	uint32_t close;	/* offset of its ']' */
	size_t n;
};

/*
 * The item arrays of a job text, in file order, found by a scan that
 * checks only what it needs: the text is a JSON object, its "inputs" member
 * (there is one) an object, and between the elements of each array value
 * of that object are a comma and JSON whitespace. The elements themselves
 * and the rest of the text are not checked (jansson will). Returns the
 * number of arrays (*ret allocated, free() it), or -EINVAL when the text
 * is not shaped so, -ENOMEM.
 */
int pos_item_arrays(const char *text, size_t len, struct pos_cut **ret);

/* The next element of array `cut` in `text` (start *i at 0): its offset
 * and length; false after the last. Only for arrays pos_item_arrays()
 * returned. */
bool pos_cut_next(const char *text, const struct pos_cut *cut, size_t *i,
		  size_t *ret_off, size_t *ret_len);

/*
 * Child of object entry `obj` whose key, decoded, equals key[0..keylen).
 * Returns the entry index, or SIZE_MAX when there is none.
 */
size_t pos_member(const struct pos_index *p, size_t obj, const char *key,
		  size_t keylen);

/* Whether the key of member entry `i` decodes to key[0..keylen). */
bool pos_key_is(const struct pos_index *p, size_t i, const char *key,
		size_t keylen);

/* Line and column (both from 1, columns counted in UTF-8 characters, as
 * jansson counts them) of byte offset `off`. */
void pos_line_col(const char *text, size_t len, size_t off, int *ret_line,
		  int *ret_col);

/* Length of the number token at `off` (its raw text is text[off..+len)). */
size_t pos_number_len(const struct pos_index *p, size_t off);

#endif
