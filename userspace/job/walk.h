/* SPDX-License-Identifier: MIT */
/*
 * Walking a parsed job document: each JSON value travels with its JSON path
 * and its position index entry, so that every error can name both.
 */
#ifndef PITH_JOB_WALK_H
#define PITH_JOB_WALK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "job/job.h"
#include "job/pos.h"
#include "lib/err.h"

/* Longest JSON path kept for messages; longer ones end in "...". */
#define JPATH_MAX 160

/* How every job text is decoded (parse.c, and item by item below). */
#define JOB_JSON_FLAGS                                                  \
	(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | \
	 JSON_ALLOW_NUL)

/*
 * The input item arrays cut out of the text jansson parsed as a tree
 * (parse.c, "Input items one by one"): their elements are decoded one at a
 * time from the whole text by parse_input_set() (items.c), which finds an
 * array's cut by the offset of its (now empty) '[' in the parsed text.
 */
struct job_cut {
	struct pos_cut c;	/* in the whole text */
	size_t tree_open;	/* offset of its '[' in the text parsed whole */
	bool used;
};

struct job_cuts {
	const char *text;	/* the whole job text */
	struct job_cut *v;
	size_t n;
	size_t next;		/* where the next set's cut is looked for */
	struct pos_index pos;	/* of the element at hand */
};

struct jctx {
	const char *file;	/* display name for messages */
	struct pos_index pos;
	/* Not NULL: the tree lacks these arrays' elements, and an error is
	 * not reported but makes parse.c parse the whole tree (whose message
	 * and position are the ones given) */
	struct job_cuts *cuts;
	const struct job_parse_opts *opts;
	int dirfd;		/* the job's directory when checking files */
	const char *dir;
	struct err *e;
};

/*
 * A value and where it is. The JSON path is only spelt out for a message,
 * from the chain of parents: a node must not outlive its parent.
 */
struct jnode {
	json_t *v;
	size_t t;		/* entry in ctx->pos */
	const struct jnode *parent; /* NULL for the root */
	const char *key;	/* member of an object: its key, else NULL */
	size_t keylen;
	size_t index;		/* element of an array: its index */
};

struct jiter {
	size_t i;
	size_t t;
	void *oiter;
	const char *key;	/* object members: the key and its length */
	size_t keylen;
};

void jnode_root(const struct jctx *c, json_t *root, struct jnode *ret);
/* Next element of an array or member of an object; false at the end. Start
 * with a zeroed iterator. */
bool jnode_next(const struct jctx *c, const struct jnode *parent,
		struct jiter *it, struct jnode *ret);
/* Member `key` of an object: 0, or -ENOENT when absent. */
int jnode_member(const struct jctx *c, const struct jnode *obj, const char *key,
		 struct jnode *ret);

/* "<file>:<line>:<col>: <path>: <message>" at the value, returns -EINVAL. */
int jerr(const struct jctx *c, const struct jnode *n, const char *fmt, ...)
	_printf_(3, 4);
/* The same, positioned at the key naming the value (object members). */
int jerr_key(const struct jctx *c, const struct jnode *n, const char *fmt, ...)
	_printf_(3, 4);

/* Refuse members of `obj` not in the NULL-terminated list `allowed`. */
int jcheck_keys(const struct jctx *c, const struct jnode *obj,
		const char *const *allowed);
/* Member `key`, which must have type `type`; -ENOENT (no message) when
 * absent and !required. `what` is e.g. "a string". */
int jmember_typed(const struct jctx *c, const struct jnode *obj,
		  const char *key, json_type type, const char *what,
		  bool required, struct jnode *ret);
/* The value as a string with no NUL inside and at least one byte. */
int jstring_plain(const struct jctx *c, const struct jnode *n,
		  const char *what, const char **ret);

/* Quote `s` for a message: 'text', control bytes escaped, long text cut;
 * with ascii_only, every byte >= 0x80 is escaped too. Returns buf. */
const char *jquote(char *buf, size_t size, const char *s, size_t len,
		   bool ascii_only);
#define JQUOTE_MAX 80

/* Names of functions, sets, stages: [A-Za-z0-9_-]{1,64}. */
#define JOB_NAME_MAX 64
bool job_name_valid(const char *s, size_t len);
/* Why an item name cannot be a file name, or NULL when it can. */
const char *job_item_name_problem(const char *s, size_t len);

/* parse.c: jansson's allocations since job_json_mark(), all freed by now,
 * are given back to the parse's arena at once (no-ops without one). */
void *job_json_mark(void);
void job_json_release(void *mark);

/* items.c: the blocks of job_input.strings, all freed (NULL-safe). */
void job_strings_free(struct job_strings *s);

/* validate.c: fill `j` (zeroed) from the document, checking everything. */
int job_build(struct jctx *c, json_t *root, struct job *j);
/* graph.c: j->order, or a cycle error positioned at `stages`. */
int job_graph_order(struct jctx *c, const struct jnode *stages,
		    struct job *j);
/* b64.c: strict RFC 4648 base64 (padded, no whitespace). On -EINVAL,
 * *ret_bad is the offset of the first bad character. */
int job_base64_decode(const char *s, size_t len, unsigned char **ret,
		      size_t *ret_len, size_t *ret_bad);

#endif
