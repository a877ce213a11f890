// SPDX-License-Identifier: MIT
/*
 * Validation of the output descriptor a finished function left in its
 * (now sealed) context, and the output sets built from it: each item
 * references the context buffer, or an input buffer when its bytes lie in
 * one, so no byte is copied. The function is hostile: every count, address,
 * length and name is checked before it is used.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/internal.h"

/* Where [addr, addr + len) lies: the context or one input buffer. */
static int resolve(const struct sandbox_proc *p, uint64_t addr, uint64_t len,
		   struct buffer **ret_buf, uint64_t *ret_off)
{
	size_t lo = 0, hi = p->n_inputs;

	if (addr >= PITH_CONTEXT_BASE &&
	    addr - PITH_CONTEXT_BASE <= p->layout.size &&
	    len <= p->layout.size - (addr - PITH_CONTEXT_BASE)) {
		*ret_buf = p->ctx;
		*ret_off = addr - PITH_CONTEXT_BASE;
		return 0;
	}
	while (lo < hi) { /* last input starting at or below addr */
		size_t mid = lo + (hi - lo) / 2;

		if (p->inputs[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0) {
		const struct ctx_input *in = &p->inputs[lo - 1];
		uint64_t off = addr - in->addr;

		if (off <= in->buf->size && len <= in->buf->size - off) {
			*ret_buf = in->buf;
			*ret_off = off;
			return 0;
		}
	}
	return -ERANGE;
}

static int bytes_of(struct buffer *b, uint64_t off, const char **ret)
{
	const void *base;
	int r = buffer_data(b, &base);

	if (r < 0)
		return r;
	*ret = (const char *)base + off;
	return 0;
}

/* An item's name: checked, or the item's index when name_len is 0. */
static int item_name(const struct sandbox_proc *p, const struct pith_item *it,
		     uint32_t index, char *out, const char *where,
		     struct err *e)
{
	struct buffer *b;
	const char *s;
	uint64_t off;
	int r;

	if (it->name_len == 0) {
		snprintf(out, PITH_NAME_MAX + 1, "%" PRIu32, index);
		return 0;
	}
	if (it->name_len > PITH_NAME_MAX)
		return err_set(e, EINVAL,
			       "bad output descriptor: %s.name_len: %" PRIu32 " exceeds %d bytes",
			       where, it->name_len, PITH_NAME_MAX);
	if (resolve(p, it->name, it->name_len, &b, &off) < 0)
		return err_set(e, EFAULT,
			       "bad output descriptor: %s.name: 0x%" PRIx64 "+%" PRIu32 " outside the context and the inputs",
			       where, (uint64_t)it->name, it->name_len);
	r = bytes_of(b, off, &s);
	if (r < 0)
		return err_set(e, -r, "cannot map the output names: %s",
			       strerror(-r));
	for (uint32_t i = 0; i < it->name_len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '/')
			return err_set(e, EINVAL,
				       "bad output descriptor: %s.name: byte %" PRIu32 " is %s",
				       where, i,
				       c == '/' ? "'/'" : "a control character");
	}
	memcpy(out, s, it->name_len);
	out[it->name_len] = 0;
	if (!strcmp(out, ".") || !strcmp(out, ".."))
		return err_set(e, EINVAL,
			       "bad output descriptor: %s.name: '%s' is not a name",
			       where, out);
	return 0;
}

static int collect_set(struct sandbox_proc *p, size_t j,
		       const struct pith_set *ps, struct set *out,
		       struct err *e)
{
	const struct pith_item *items;
	struct buffer *b;
	uint64_t off, bytes;
	char where[64];
	int r;

	if (ps->n_items == 0)
		return 0;
	if (ps->n_items > PITH_OUTPUT_ITEMS_MAX)
		return err_set(e, E2BIG,
			       "bad output descriptor: outputs[%zu].n_items: %" PRIu32 " exceeds the maximum of %u",
			       j, ps->n_items, PITH_OUTPUT_ITEMS_MAX);
	bytes = (uint64_t)ps->n_items * sizeof(struct pith_item);
	if (resolve(p, ps->items, bytes, &b, &off) < 0 || b != p->ctx)
		return err_set(e, EFAULT,
			       "bad output descriptor: outputs[%zu].items: 0x%" PRIx64 "+%" PRIu64 " outside the context",
			       j, (uint64_t)ps->items, bytes);
	r = bytes_of(b, off, (const char **)&items);
	if (r < 0)
		return err_set(e, -r, "cannot map the context: %s",
			       strerror(-r));
	for (uint32_t i = 0; i < ps->n_items; i++) {
		struct pith_item it;
		char name[PITH_NAME_MAX + 1];
		struct buffer *db = p->ctx;
		uint64_t doff = 0;

		memcpy(&it, &items[i], sizeof(it)); /* may be unaligned */
		snprintf(where, sizeof(where), "outputs[%zu].items[%" PRIu32 "]",
			 j, i);
		if (it.flags & ~PITH_ITEM_KEYED)
			return err_set(e, EINVAL,
				       "bad output descriptor: %s.flags: unknown bits %#" PRIx32,
				       where, it.flags & ~PITH_ITEM_KEYED);
		r = item_name(p, &it, i, name, where, e);
		if (r < 0)
			return r;
		/* An empty item's address is not looked at. */
		if (it.len && resolve(p, it.data, it.len, &db, &doff) < 0)
			return err_set(e, EFAULT,
				       "bad output descriptor: %s.data: 0x%" PRIx64 "+%" PRIu64 " outside the context and the inputs",
				       where, (uint64_t)it.data, (uint64_t)it.len);
		r = set_add(out, name, it.flags & PITH_ITEM_KEYED,
			    it.flags & PITH_ITEM_KEYED ? it.key : 0, db, doff,
			    it.len);
		if (r < 0)
			return err_set(e, -r, "cannot add an output item: %s",
				       strerror(-r));
	}
	return 0;
}

int outputs_collect(struct sandbox_proc *p, struct err *e)
{
	struct sandbox_result *res = &p->result;
	_cleanup_free_ struct pith_set *sets = NULL;
	size_t bytes = p->n_outputs * sizeof(*sets);
	int r;

	r = buffer_seal(p->ctx);
	if (r < 0)
		return err_set(e, -r, "cannot seal the context: %s",
			       strerror(-r));
	/* The table pith wrote, not the (writable) outputs pointer; read
	 * without mapping the context, which only items need. */
	sets = malloc(MAX(bytes, (size_t)1));
	if (!sets)
		return -ENOMEM;
	if (bytes && pread(p->ctx->fd, sets, bytes,
			   (off_t)p->layout.outputs_off) != (ssize_t)bytes)
		return err_set(e, EIO, "cannot read the output sets: %m");
	res->outputs = calloc(MAX(p->n_outputs, (size_t)1),
			      sizeof(*res->outputs));
	if (!res->outputs)
		return -ENOMEM;
	res->n_outputs = p->n_outputs;
	for (size_t j = 0; j < p->n_outputs; j++) {
		res->outputs[j] = set_new(p->output_names[j]);
		if (!res->outputs[j])
			return -ENOMEM;
		r = collect_set(p, j, &sets[j], res->outputs[j], e);
		if (r < 0)
			return r;
	}
	return 0;
}
