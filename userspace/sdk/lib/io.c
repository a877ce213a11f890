// SPDX-License-Identifier: MIT
/*
 * The function's view of its context: input lookup, output items built in
 * the arena, and the output descriptor written back before exit.
 */
#include <pith/fn.h>

#include "internal.h"

/* Items of one output set, grown in the arena while the function runs. */
struct out_set {
	struct pith_item *items;
	uint32_t n, cap;
};

static struct pith_context *ctx;
static struct out_set *outs;

static const struct pith_set *sets_at(uint64_t addr)
{
	return (const struct pith_set *)(uintptr_t)addr;
}

int pith__init(struct pith_context *c)
{
	/* 1.1 is enough: the note (1.2) is left out when pith has no room. */
	if (!c || c->magic != PITH_ABI_MAGIC ||
	    c->version != PITH_ABI_VERSION ||
	    c->header_size < PITH_CONTEXT_SIZE_1_1)
		return -PITH_EINVAL;
	ctx = c;
	pith__arena_init((void *)(uintptr_t)c->arena, c->arena_size);
	outs = NULL;
	if (c->n_outputs) {
		outs = pith_try_alloc(c->n_outputs * sizeof(*outs));
		if (!outs)
			return -PITH_EINVAL;
		memset(outs, 0, c->n_outputs * sizeof(*outs));
	}
	return 0;
}

void pith__finalize(void)
{
	struct pith_set *sets = (struct pith_set *)(uintptr_t)ctx->outputs;

	for (uint32_t i = 0; i < ctx->n_outputs; i++) {
		sets[i].n_items = outs[i].n;
		sets[i].items = (uintptr_t)outs[i].items;
	}
}

const struct pith_context *pith_context(void)
{
	return ctx;
}

uint64_t pith_instance(void)
{
	return ctx->instance;
}

size_t pith_input_count(void)
{
	return ctx->n_inputs;
}

const struct pith_set *pith_input_at(size_t i)
{
	return i < ctx->n_inputs ? sets_at(ctx->inputs) + i : NULL;
}

static bool name_is(const struct pith_set *s, const char *name, size_t len)
{
	return s->name_len == len && !memcmp(pith_set_name(s), name, len);
}

const struct pith_set *pith_input_optional(const char *name)
{
	size_t len = strlen(name);

	for (uint32_t i = 0; i < ctx->n_inputs; i++)
		if (name_is(sets_at(ctx->inputs) + i, name, len))
			return sets_at(ctx->inputs) + i;
	return NULL;
}

void pith__note(int status, const char *name, size_t name_len,
		uint64_t asked, uint64_t left)
{
	if (ctx && ctx->header_size >= PITH_CONTEXT_SIZE_1_2) {
		struct pith_note *n = &ctx->note;

		if (name_len > PITH_NAME_MAX)
			name_len = PITH_NAME_MAX;
		memset(n, 0, sizeof(*n));
		memcpy(n->name, name, name_len);
		n->name_len = (uint32_t)name_len;
		n->asked = asked;
		n->left = left;
		n->status = (uint16_t)status;
		n->version = PITH_NOTE_VERSION;
		n->magic = PITH_NOTE_MAGIC;
	}
	pith_abort(status);
}

/* A caller's set name, up to one byte past what a note keeps. */
static size_t name_len_max(const char *name)
{
	size_t n = 0;

	while (n <= PITH_NAME_MAX && name[n])
		n++;
	return n;
}

const struct pith_set *pith_input(const char *name)
{
	const struct pith_set *s = pith_input_optional(name);

	if (!s)
		pith__note(PITH_EXIT_NO_INPUT, name, name_len_max(name), 0, 0);
	return s;
}

const struct pith_item *pith_set_find(const struct pith_set *s,
				      const char *name)
{
	size_t len = strlen(name);

	pith_set_foreach(it, s)
		if (it->name_len == len &&
		    !memcmp(pith_item_name(it), name, len))
			return it;
	return NULL;
}

static struct out_set *out_find(const char *set)
{
	size_t len = strlen(set);

	for (uint32_t i = 0; i < ctx->n_outputs; i++)
		if (name_is(sets_at(ctx->outputs) + i, set, len))
			return &outs[i];
	return NULL;
}

size_t pith_output_count(const char *set)
{
	struct out_set *o = out_find(set);

	if (!o)
		pith__note(PITH_EXIT_NO_OUTPUT, set, name_len_max(set), 0, 0);
	return o->n;
}

/* Append an item to `set`; the caller fills data and len. */
static struct pith_item *out_item(const char *set, const char *name,
				  size_t name_len)
{
	struct out_set *o = out_find(set);
	struct pith_item *it;

	if (!o)
		pith__note(PITH_EXIT_NO_OUTPUT, set, name_len_max(set), 0, 0);
	if (name_len > PITH_NAME_MAX || o->n >= PITH_OUTPUT_ITEMS_MAX)
		pith__note(PITH_EXIT_LIMIT, set, name_len_max(set), 0, 0);
	if (o->n == o->cap) {
		uint32_t cap = o->cap ? o->cap * 2 : 16;

		if (cap > PITH_OUTPUT_ITEMS_MAX)
			cap = PITH_OUTPUT_ITEMS_MAX;
		o->items = pith_realloc(o->items, cap * sizeof(*o->items));
		o->cap = cap;
	}
	it = &o->items[o->n++];
	memset(it, 0, sizeof(*it));
	it->name = (uintptr_t)pith_strndup(name, name_len);
	it->name_len = name_len;
	return it;
}

static struct pith_item *out_item_named(const char *set, const char *name)
{
	return out_item(set, name, strlen(name));
}

static void set_key(struct pith_item *it, uint64_t key)
{
	it->flags |= PITH_ITEM_KEYED;
	it->key = key;
}

/* An output's bytes: large ones on whole pages of their own, so that they
 * are handed on by mapping; when that no longer fits, anywhere. */
static void *out_bytes(size_t len)
{
	void *buf = len >= PITH_PAGE_ITEM_MIN ? pith__alloc_pages(len) : NULL;

	return buf ? buf : pith_alloc(len);
}

void *pith_output_new(const char *set, const char *name, size_t len)
{
	struct pith_item *it = out_item_named(set, name);
	void *buf = out_bytes(len);

	it->data = (uintptr_t)buf;
	it->len = len;
	return buf;
}

void *pith_output_new_keyed(const char *set, const char *name, uint64_t key,
			    size_t len)
{
	struct pith_item *it = out_item_named(set, name);
	void *buf = out_bytes(len);

	set_key(it, key);
	it->data = (uintptr_t)buf;
	it->len = len;
	return buf;
}

void pith_output_add(const char *set, const char *name, const void *data,
		     size_t len)
{
	memcpy(pith_output_new(set, name, len), data, len);
}

void pith_output_add_keyed(const char *set, const char *name, uint64_t key,
			   const void *data, size_t len)
{
	memcpy(pith_output_new_keyed(set, name, key, len), data, len);
}

/* Does [p, p+len) lie inside one input item's bytes? */
static bool in_input(uintptr_t p, size_t len)
{
	for (uint32_t i = 0; i < ctx->n_inputs; i++) {
		pith_set_foreach(it, sets_at(ctx->inputs) + i)
			if (p >= it->data && p - it->data <= it->len &&
			    len <= it->len - (p - it->data))
				return true;
	}
	return false;
}

void pith__output_ref(const char *set, const char *name, bool keyed,
		      uint64_t key, const void *data, size_t len)
{
	uintptr_t p = (uintptr_t)data;
	struct pith_item *it;

	if (!pith__arena_holds(p, len) && !in_input(p, len))
		pith_abort(PITH_EXIT_BAD_ARG);
	it = out_item_named(set, name);
	if (keyed)
		set_key(it, key);
	it->data = p;
	it->len = len;
}

void pith_output_ref(const char *set, const char *name, const void *data,
		     size_t len)
{
	pith__output_ref(set, name, false, 0, data, len);
}

void pith_output_forward(const char *set, const struct pith_item *in)
{
	struct pith_item *it = out_item(set, pith_item_name(in), in->name_len);

	it->flags = in->flags & PITH_ITEM_KEYED;
	it->key = in->key;
	it->data = in->data;
	it->len = in->len;
}
