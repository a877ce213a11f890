// SPDX-License-Identifier: MIT
/* A job's input sets: their items, parsed and checked, and the blocks that
 * hold the items' strings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "job/validate.h"
#include "job/walk.h"

static const char *const item_keys[] = { "name", "key",	   "file",
					 "data", "base64", NULL };

/*
 * Blocks of an input set's item strings: 4 KiB first, then doubling up to
 * 1 MiB, each string NUL-terminated and unaligned. malloc() would give
 * each string its own block of a 16-byte multiple with its header: a name
 * of 10 bytes took 32, a request of 54 took 64 (a 100,000-item set: ~3
 * MiB more).
 */
struct job_strings {
	struct job_strings *next;
	size_t used, cap;
	char b[];
};

#define JOB_STRINGS_MIN 4096u
#define JOB_STRINGS_MAX (1u << 20)

void job_strings_free(struct job_strings *s)
{
	while (s) {
		struct job_strings *next = s->next;

		free(s);
		s = next;
	}
}

/* n bytes from the set's blocks, or NULL. */
static void *item_bytes(struct job_input *in, size_t n)
{
	struct job_strings *s = in->strings;
	void *p;

	if (!s || s->cap - s->used < n) {
		size_t cap = s ? MIN(s->cap * 2, (size_t)JOB_STRINGS_MAX) :
				 JOB_STRINGS_MIN;

		if (cap < n)
			cap = n;
		s = malloc(sizeof(*s) + cap);
		if (!s)
			return NULL;
		*s = (struct job_strings){ .next = in->strings, .cap = cap };
		in->strings = s;
	}
	p = s->b + s->used;
	s->used += n;
	return p;
}

/* s[0..len) and a NUL in the set's blocks, or NULL. */
static char *item_copy(struct job_input *in, const void *s, size_t len)
{
	char *p = item_bytes(in, len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

static int item_source(struct jctx *c, const struct jnode *m,
		       struct job_input *in, struct job_item *item)
{
	_cleanup_free_ unsigned char *decoded = NULL;
	static const char *const sources[] = { "file", "data", "base64" };
	const char *s = NULL;
	struct jiter it = {};
	struct jnode n, x;
	size_t len, bad;
	int found = -1, r;

	/* In file order, so that the second source given is the one blamed. */
	while (jnode_next(c, m, &it, &x)) {
		for (size_t k = 0; k < ARRAY_SIZE(sources); k++) {
			if (strlen(sources[k]) != it.keylen ||
			    memcmp(sources[k], it.key, it.keylen) != 0)
				continue;
			if (found >= 0)
				return jerr_key(c, &x, "an item has one source, and \"%s\" is already given",
						sources[found]);
			found = k;
			n = x;
		}
	}
	if (found < 0)
		return jerr(c, m, "an item needs one of \"file\", \"data\" or \"base64\"");
	item->source = (enum job_source[]){ JOB_SRC_FILE, JOB_SRC_DATA,
					    JOB_SRC_BASE64 }[found];
	s = json_string_value(n.v);
	len = json_string_length(n.v);
	if (!s)
		return jerr(c, &n, "expected a string");
	switch (item->source) {
	case JOB_SRC_FILE:
		r = jstring_plain(c, &n, "a file path", &s);
		if (r < 0)
			return r;
		item->path = item_copy(in, s, len);
		return item->path ? 0 : -ENOMEM;
	case JOB_SRC_DATA:
		item->len = len;
		item->data = (unsigned char *)item_copy(in, s, len);
		return item->data ? 0 : -ENOMEM;
	case JOB_SRC_BASE64:
		r = job_base64_decode(s, len, &decoded, &item->len, &bad);
		if (r == -EINVAL)
			return jerr(c, &n, "invalid base64 at offset %zu (standard alphabet, '=' padding, no spaces)",
				    bad);
		if (r < 0)
			return r;
		item->data = (unsigned char *)item_copy(in, decoded, item->len);
		return item->data ? 0 : -ENOMEM;
	}
	return -EINVAL;
}

/*
 * The item names of one input set seen so far: an open-addressing table of
 * item indices (sized for the whole set up front), not a jansson object,
 * which cost ~110 bytes per name of the parse's peak (a 100,000-item set:
 * 11 MiB).
 */
struct seen_names {
	const struct job_item *items;
	uint32_t *slot; /* item index + 1; 0: empty (a job file has fewer
			   than 2^32 items: JOB_FILE_MAX) */
	size_t mask;
};

static int seen_init(struct seen_names *sn, const struct job_item *items,
		     size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	*sn = (struct seen_names){ .items = items, .mask = cap - 1 };
	sn->slot = calloc(cap, sizeof(*sn->slot));
	return sn->slot ? 0 : -ENOMEM;
}

static uint64_t name_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

/* Item i (its name set) joins; false when an earlier item has its name. */
static bool seen_add(struct seen_names *sn, size_t i)
{
	const char *name = sn->items[i].name;
	size_t len = strlen(name), k = name_hash(name, len) & sn->mask;

	for (; sn->slot[k]; k = (k + 1) & sn->mask)
		if (!strcmp(sn->items[sn->slot[k] - 1].name, name))
			return false;
	sn->slot[k] = i + 1;
	return true;
}

static int parse_item(struct jctx *c, const struct jnode *m,
		      struct seen_names *seen, struct job_input *in,
		      struct job_item *item)
{
	char q[JQUOTE_MAX];
	const char *s, *why;
	struct jnode n;
	size_t len;
	int r;

	if (!json_is_object(m->v))
		return jerr(c, m, "expected an item object such as {\"name\": \"a.txt\", \"file\": \"data/a.txt\"}");
	r = jcheck_keys(c, m, item_keys);
	if (r < 0)
		return r;
	r = jmember_typed(c, m, "name", JSON_STRING, "the item's name", true,
			  &n);
	if (r < 0)
		return r;
	s = json_string_value(n.v);
	len = json_string_length(n.v);
	why = job_item_name_problem(s, len);
	if (why)
		return jerr(c, &n, "%s (items become files named after them)",
			    why);
	item->name = item_copy(in, s, len);
	if (!item->name)
		return -ENOMEM;
	if (!seen_add(seen, (size_t)(item - seen->items)))
		return jerr(c, &n, "duplicate item name %s in this set",
			    jquote(q, sizeof(q), s, len, false));
	if (jnode_member(c, m, "key", &n) == 0) {
		r = job_number_u64(c, &n, "an unsigned 64-bit integer key",
				   &item->key);
		if (r < 0)
			return r;
		item->keyed = true;
	}
	return item_source(c, m, in, item);
}

/* The cut taken out of the empty array `m`, or NULL when it had none.
 * Sets come in file order, as the cuts do: the one after the last found
 * is tried first (a job of a million sets must not search a million
 * cuts for each). */
static struct job_cut *cut_of(const struct jctx *c, const struct jnode *m)
{
	struct job_cuts *cs = c->cuts;
	size_t off = c->pos.v[m->t].off;

	if (!cs || json_array_size(m->v) != 0)
		return NULL;
	for (size_t k = 0; k < cs->n; k++) {
		size_t i = (cs->next + k) % cs->n;

		if (cs->v[i].tree_open == off && !cs->v[i].used) {
			cs->next = i + 1;
			return &cs->v[i];
		}
	}
	return NULL;
}

/*
 * The usual item, decoded without jansson (a job of 20,000 items spent
 * ~1.5 us of pith's CPU per item in jansson's tree of it, its position
 * index and the walk over both, before the first instance could start:
 * benchmarks/warm-driver.md, "The warm round trip's work, cut (round 7,
 * branch warmcut)").
 * Only the plainest JSON is taken here: an object whose members are
 * "name" and one of "file", "data" or "base64", each once, every key and
 * value a string of printable ASCII (0x20-0x7e) with at most the escapes
 * \" \\ \/ \b \f \n \r \t. Every such text is valid JSON that jansson
 * decodes to the same strings, and parse_item() makes the same item of
 * it; anything else (another key or value type, "key", \u escapes, a byte
 * outside that range, a duplicate, any rule an item breaks) is left to
 * jansson and parse_item(), which decide it and report its error as
 * before. So a job is accepted exactly when it was, with the same items.
 */
struct plain_str {
	const char *s;	/* after the opening quote */
	size_t raw;	/* bytes up to the closing quote */
	size_t len;	/* decoded bytes */
	bool esc;	/* has escapes */
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A plain string at t[*pi] ('"'); *pi is left after its closing quote. */
static bool plain_string(const char *t, size_t len, size_t *pi,
			 struct plain_str *ret)
{
	size_t i = *pi + 1, n = 0;
	bool esc = false;

	if (*pi >= len || t[*pi] != '"')
		return false;
	for (; i < len; i++, n++) {
		unsigned char c = (unsigned char)t[i];

		if (c == '"')
			break;
		if (c < 0x20 || c > 0x7e)
			return false;
		if (c != '\\')
			continue;
		if (++i >= len || !t[i] || !strchr("\"\\/bfnrt", t[i]))
			return false;
		esc = true;
	}
	if (i >= len)
		return false;
	*ret = (struct plain_str){ t + *pi + 1, i - *pi - 1, n, esc };
	*pi = i + 1;
	return true;
}

/* Its decoded bytes and a NUL, in the set's blocks. */
static char *plain_copy(struct job_input *in, const struct plain_str *p)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	char *d, *o;

	if (!p->esc)
		return item_copy(in, p->s, p->len);
	d = o = item_bytes(in, p->len + 1);
	if (!d)
		return NULL;
	for (size_t i = 0; i < p->raw; i++)
		*o++ = p->s[i] == '\\' ? to[strchr(from, p->s[++i]) - from] :
					 p->s[i];
	*o = '\0';
	return d;
}

static bool key_is(const struct plain_str *k, const char *name)
{
	return !k->esc && k->len == strlen(name) &&
	       !memcmp(k->s, name, k->len);
}

/* 1: the item is made; 0: jansson and parse_item() decide (`item` is
 * left zeroed); -ENOMEM. */
static int plain_item(const char *t, size_t len, struct seen_names *seen,
		      struct job_input *in, struct job_item *item)
{
	enum { NAME, FILE_, DATA, BASE64, N_KEYS };
	static const char *const keys[N_KEYS] = { "name", "file", "data",
						  "base64" };
	_cleanup_free_ unsigned char *decoded = NULL;
	struct plain_str v[N_KEYS] = { { 0 } }, k;
	bool has[N_KEYS] = { false };
	size_t i = 0;
	int src = -1;

	if (!len || t[0] != '{')
		return 0;
	for (i = 1; i < len && is_ws(t[i]); i++)
		;
	for (;;) {
		int which = -1;

		if (!plain_string(t, len, &i, &k))
			return 0;
		for (int j = 0; j < N_KEYS; j++)
			if (key_is(&k, keys[j]))
				which = j;
		if (which < 0 || has[which])
			return 0;
		while (i < len && is_ws(t[i]))
			i++;
		if (i >= len || t[i++] != ':')
			return 0;
		while (i < len && is_ws(t[i]))
			i++;
		if (!plain_string(t, len, &i, &v[which]))
			return 0;
		has[which] = true;
		if (which != NAME) {
			if (src >= 0)
				return 0;
			src = which;
		}
		while (i < len && is_ws(t[i]))
			i++;
		if (i < len && t[i] == '}')
			break;
		if (i >= len || t[i++] != ',')
			return 0;
		while (i < len && is_ws(t[i]))
			i++;
	}
	if (i + 1 != len || !has[NAME] || src < 0 ||
	    (src == FILE_ && v[FILE_].len == 0))
		return 0;
	if (src == BASE64) {
		size_t bad;

		if (v[BASE64].esc ||
		    job_base64_decode(v[BASE64].s, v[BASE64].len, &decoded,
				      &item->len, &bad) < 0)
			return 0; /* -ENOMEM too: jansson's path meets it */
	}
	item->name = plain_copy(in, &v[NAME]);
	if (!item->name)
		return -ENOMEM;
	if (job_item_name_problem(item->name, v[NAME].len))
		goto slow;
	switch (src) {
	case FILE_:
		item->source = JOB_SRC_FILE;
		item->path = plain_copy(in, &v[FILE_]);
		break;
	case DATA:
		item->source = JOB_SRC_DATA;
		item->len = v[DATA].len;
		item->data = (unsigned char *)plain_copy(in, &v[DATA]);
		break;
	default:
		item->source = JOB_SRC_BASE64;
		item->data = (unsigned char *)item_copy(in, decoded,
							item->len);
		break;
	}
	if (!item->path && !item->data)
		return -ENOMEM;
	/* Last: a name taken stays in the table. */
	if (seen_add(seen, (size_t)(item - seen->items)))
		return 1;
slow:
	*item = (struct job_item){};
	return 0;
}

/*
 * The elements of a cut array, each decoded alone from the whole text,
 * made a job_item and freed before the next: jansson's tree of a big set
 * (~560 bytes per item object) is never whole. Positions are in the
 * element's own text, so an error here is only a signal: parse.c parses
 * the whole tree again for the message.
 */
static int parse_cut_items(struct build *b, const struct jnode *m,
			   struct job_cut *cut, struct seen_names *seen,
			   struct job_input *in)
{
	struct job_cuts *cs = b->c->cuts;
	struct jctx lc = *b->c;
	size_t i = 0, off, len;
	int r = 0;

	cut->used = true;
	while (r >= 0 && in->n_items < cut->c.n &&
	       pos_cut_next(cs->text, &cut->c, &i, &off, &len)) {
		void *mark;
		json_error_t je;
		json_t *v;
		struct jnode e;

		r = plain_item(cs->text + off, len, seen, in,
			       &in->items[in->n_items]);
		if (r > 0) {
			in->n_items++;
			continue;
		}
		if (r < 0)
			break;
		mark = job_json_mark();
		v = json_loadb(cs->text + off, len, JOB_JSON_FLAGS, &je);
		if (!v) {
			r = err_set(b->c->e, EINVAL, "%s: invalid JSON: %s",
				    b->c->file, je.text);
		} else {
			r = pos_index_rebuild(&cs->pos, cs->text + off, len);
			lc.pos = cs->pos;
			e = (struct jnode){ .v = v, .parent = m,
					    .index = in->n_items };
			if (r >= 0)
				r = parse_item(&lc, &e, seen, in,
					       &in->items[in->n_items++]);
			json_decref(v);
		}
		job_json_release(mark);
	}
	if (r >= 0 && in->n_items != cut->c.n)
		r = err_set(b->c->e, EINVAL, "%s: %zu of %zu input items",
			    b->c->file, in->n_items, cut->c.n);
	return r;
}

static int parse_input_set(struct build *b, const struct jiter *it,
			   const struct jnode *m, struct job_input *in)
{
	struct seen_names seen = {};
	struct jiter ai = {};
	struct job_cut *cut;
	struct jnode e;
	size_t n;
	int r;

	r = job_key_name(b->c, it, m, "input set", &in->name);
	if (r < 0)
		return r;
	if (!json_is_array(m->v))
		return jerr(b->c, m, "expected an array of items");
	cut = cut_of(b->c, m);
	n = cut ? cut->c.n : json_array_size(m->v);
	in->items = calloc(n + 1, sizeof(*in->items));
	if (!in->items)
		return -ENOMEM;
	r = seen_init(&seen, in->items, n);
	if (r >= 0 && cut)
		r = parse_cut_items(b, m, cut, &seen, in);
	while (r >= 0 && !cut && jnode_next(b->c, m, &ai, &e))
		r = parse_item(b->c, &e, &seen, in,
			       &in->items[in->n_items++]);
	free(seen.slot);
	if (r < 0)
		return r;
	return job_table_add(b->sets, in->name, in - b->j->inputs);
}

int job_inputs_build(struct build *b, const struct jnode *root)
{
	struct jnode obj, m;
	struct jiter it = {};
	int r;

	r = jmember_typed(b->c, root, "inputs", JSON_OBJECT,
			  "an object of input sets", false, &obj);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	b->j->inputs = calloc(json_object_size(obj.v) + 1,
			      sizeof(*b->j->inputs));
	if (!b->j->inputs)
		return -ENOMEM;
	while (jnode_next(b->c, &obj, &it, &m)) {
		r = parse_input_set(b, &it, &m,
				    &b->j->inputs[b->j->n_inputs++]);
		if (r < 0)
			return r;
	}
	return 0;
}
