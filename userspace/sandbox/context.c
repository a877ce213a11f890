// SPDX-License-Identifier: MIT
/*
 * The context of one instance: a buffer of limits.memory bytes (new, or a
 * warm worker's own, zeroed: warm.c) holding
 * the descriptor (struct pith_context, set and item tables, names) at its
 * start, the arena, a signal stack, a guard page and the stack at its top;
 * and the placement of the items the instance is given in the input range:
 * the pages of large items that own them, and a copy of all others.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/macro.h"
#include "lib/probe.h"
#include "sandbox/internal.h"

/* Items of a request placed without a malloc (most have one or a few). */
#define CTX_WANT_STACK 8

/* How an item reaches the instance (see place_inputs()). */
enum placement { PLACE_COPY, PLACE_MAP, PLACE_SPLIT };

/* One reference of the request to an item's bytes, before placement. */
struct want {
	struct buffer *buf;
	uint64_t off, len;
	uint64_t addr;	/* where the instance sees the bytes */
	enum placement how;
};

static int cmp_want(const void *a, const void *b)
{
	const struct want *x = *(struct want *const *)a;
	const struct want *y = *(struct want *const *)b;
	uintptr_t bx = (uintptr_t)x->buf, by = (uintptr_t)y->buf;

	if (bx != by)
		return bx < by ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->len < y->len ? -1 : x->len > y->len;
}

/*
 * Does the item own the pages it lies in, so that mapping them shows the
 * consumer its bytes and nothing else? It must start on a page and the
 * rest of its last page must be zero (past the buffer's end it reads as
 * zero anyway). Whatever produced the buffer, this is checked on the bytes.
 */
static bool context_owns_pages(const char *data, uint64_t size,
			       uint64_t off, uint64_t len)
{
	uint64_t end = off + len, tail_end;

	if (len < PITH_PAGE_ITEM_MIN || off % CTX_PAGE)
		return false;
	tail_end = MIN(ALIGN_UP(end, CTX_PAGE), size);
	for (uint64_t i = end; i < tail_end; i++)
		if (data[i])
			return false;
	return true;
}

static enum placement decide(struct want *w, size_t n_map)
{
	const char *data;

	if (w->len < PITH_PAGE_ITEM_MIN || n_map + 3 > PLAN_MAX_INPUTS - 1 ||
	    buffer_data(w->buf, (const void **)&data) < 0)
		return PLACE_COPY;
	return context_owns_pages(data, w->buf->size, w->off, w->len) ?
		       PLACE_MAP : PLACE_SPLIT;
}

/* Buffers get fd slots in order of first use; the edge buffer its own. */
struct slots {
	struct buffer *last;
	uint32_t last_slot;
};

static void add_input(struct sandbox_proc *p, struct slots *sl,
		      struct buffer *b, uint64_t addr, uint64_t maplen,
		      uint64_t file_off)
{
	if (b != sl->last) {
		sl->last = b;
		sl->last_slot = (uint32_t)p->n_input_fds++;
	}
	p->inputs[p->n_inputs++] = (struct ctx_input){
		buffer_ref(b), addr, maplen, file_off, sl->last_slot
	};
}

static void add_origin(struct sandbox_proc *p, const struct want *w)
{
	p->copies[p->n_copies++] = (struct ctx_copy){
		w->addr, w->len, buffer_ref(w->buf), w->off
	};
}

static int cmp_copy(const void *a, const void *b)
{
	const struct ctx_copy *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* *arr with room for n elements of size sz, kept with a pooled proc
 * (p->keep) and grown only for more; the caller fills what it uses. */
static int keep_room(void **arr, size_t *cap, size_t n, size_t sz)
{
	void *a;

	if (n <= *cap)
		return 0;
	a = malloc(n * sz);
	if (!a)
		return -ENOMEM;
	free(*arr);
	*arr = a;
	*cap = n;
	return 0;
}

/* Into the input area, at `off`: stores through pith's mapping of a warm
 * worker's context, else pwrite into the new context memfd. */
static int area_write(struct sandbox_proc *p, uint64_t off, const void *data,
		      size_t len)
{
	uint64_t at = p->layout.size + off;

	if (off > PLAN_INPUT_ITEMS || len > PLAN_INPUT_ITEMS - off)
		return -EINVAL;
	p->area_used = MAX(p->area_used, off + len); /* zeroed at the park */
	if (p->ctx_map) {
		memcpy(p->ctx_map + at, data, len);
		return 0;
	}
	while (len) {
		ssize_t n = pwrite(p->ctx->fd, data, len, (off_t)at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		data = (const char *)data + n, len -= (size_t)n;
		at += (uint64_t)n;
	}
	return 0;
}

/*
 * Place every item the instance is given, in the input range, so that it
 * can read exactly the bytes of its items, at page granularity: never the
 * rest of a buffer they share, whatever wrote it.
 *
 * - PLACE_MAP: an item that owns its pages (context_owns_pages()) is
 *   mapped, its page range at its file offset.
 * - PLACE_SPLIT: a large item that does not: its whole pages are mapped,
 *   and its partial first and last pages are copied, each alone on a zeroed
 *   page of the instance's edge buffer mapped right before and after them,
 *   so the item is contiguous and not a byte beside it is visible.
 * - PLACE_COPY: everything else is copied: into a warm instance's input
 *   area when it all fits, else into one copy area, a buffer of the
 *   instance's own, mapped last.
 *
 * At most PLAN_MAX_INPUTS - 1 mappings besides the copy area; items past
 * that are copied. Identical items (same buffer, offset and length) are
 * placed once. want[] gets each item's address in request order.
 */
static int place_inputs(struct sandbox_proc *p, struct want *want,
			size_t total, struct err *e)
{
	_cleanup_free_ struct want **by_heap = NULL;
	struct want *by_stack[CTX_WANT_STACK], **by = by_stack;
	struct buffer *copy = NULL, *edges = NULL;
	struct slots sl = { 0 }, esl = { 0 };
	/* A warm instance's input area comes first (plan.h). */
	uint64_t addr = PITH_INPUT_BASE + (p->area ? PLAN_INPUT_AREA : 0);
	uint64_t copy_len = 0, edge_pages = 0, ek = 0, base;
	bool in_area;
	size_t n_map = 0, n_origin = 0, k = 0;
	char *cmap = NULL, *emap = NULL;
	int r;

	if (!total)
		return 0;
	if (total > ARRAY_SIZE(by_stack) &&
	    !(by = by_heap = malloc(total * sizeof(*by))))
		return err_set(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < total; i++) {
		if (!want[i].buf->sealed)
			return err_set(e, EINVAL,
				       "input buffer %" PRIu64 " is not sealed",
				       want[i].buf->id);
		by[i] = &want[i];
	}
	qsort(by, total, sizeof(*by), cmp_want);

	/* Decide, once per distinct item; duplicates follow their first. */
	for (size_t i = 0; i < total; i++) {
		struct want *w = by[i];

		if (i && !cmp_want(&by[i - 1], &by[i])) {
			w->how = by[i - 1]->how;
			continue;
		}
		w->how = decide(w, n_map);
		if (w->how == PLACE_MAP) {
			n_map++;
		} else if (w->how == PLACE_SPLIT) {
			n_map += 3;
			n_origin++;
			edge_pages += (w->off % CTX_PAGE != 0) +
				      ((w->off + w->len) % CTX_PAGE != 0);
		} else {
			copy_len = ALIGN_UP(copy_len, 16) + w->len;
			n_origin++;
		}
	}
	r = keep_room((void **)&p->keep.inputs, &p->keep.inputs_cap,
		      n_map + 1, sizeof(*p->inputs));
	if (r >= 0)
		r = keep_room((void **)&p->keep.copies, &p->keep.copies_cap,
			      MAX(n_origin, (size_t)1), sizeof(*p->copies));
	if (r < 0)
		return err_set(e, ENOMEM, "out of memory");
	p->inputs = p->keep.inputs;
	p->copies = p->keep.copies;
	if (edge_pages) {
		r = buffer_new_mapped("pith-input-edges", edge_pages * CTX_PAGE,
				      0, &edges, (void **)&emap);
		if (r < 0)
			return err_set(e, -r,
				       "cannot create the input edge pages: %s",
				       store_strerror(r));
	}

	for (size_t i = 0; i < total; i++) {
		struct want *w = by[i];
		uint64_t len = ALIGN_UP(w->off + w->len, CTX_PAGE) -
			       (w->off & ~(CTX_PAGE - 1));
		uint64_t head = w->off % CTX_PAGE, ia, ie;
		const char *src;

		if (w->how == PLACE_COPY)
			continue;
		if (i && !cmp_want(&by[i - 1], &by[i])) {
			w->addr = by[i - 1]->addr;
			continue;
		}
		if (len > PITH_INPUT_MAX - addr) {
			buffer_unref(edges);
			return err_set(e, E2BIG,
				       "inputs exceed the %llu GiB input range",
				       (PITH_INPUT_MAX - PITH_INPUT_BASE) >> 30);
		}
		w->addr = addr + head;
		if (w->how == PLACE_MAP) {
			add_input(p, &sl, w->buf, addr, len, w->off);
			PROBE_BUFFER_MAP(w->buf, w->len,
					 PROBE_BACKEND_OF(w->buf));
			addr += len;
			continue;
		}
		/* Split: [head page][whole pages][tail page]. */
		ia = ALIGN_UP(w->off, CTX_PAGE);
		ie = (w->off + w->len) & ~(CTX_PAGE - 1);
		(void)buffer_data(w->buf, (const void **)&src); /* decide() */
		if (head) {
			memcpy(emap + ek * CTX_PAGE + head, src + w->off,
			       ia - w->off);
			add_input(p, &esl, edges, addr, CTX_PAGE,
				  ek++ * CTX_PAGE);
			addr += CTX_PAGE;
		}
		add_input(p, &sl, w->buf, addr, ie - ia, ia);
		PROBE_BUFFER_MAP(w->buf, ie - ia, PROBE_BACKEND_OF(w->buf));
		addr += ie - ia;
		if (ie < w->off + w->len) {
			memcpy(emap + ek * CTX_PAGE, src + ie,
			       w->off + w->len - ie);
			add_input(p, &esl, edges, addr, CTX_PAGE,
				  ek++ * CTX_PAGE);
			addr += CTX_PAGE;
		}
		store_stats.bytes_copied += (ia - w->off) +
					    (w->off + w->len - ie);
		if (ia - w->off + (w->off + w->len - ie))
			PROBE_BUFFER_COPY(w->buf, (ia - w->off) +
						   (w->off + w->len - ie));
		add_origin(p, w);
	}
	if (edges) {
		r = buffer_seal(edges);
		buffer_unref(edges); /* the mappings hold it */
		if (r < 0)
			return err_errno(e, r, "cannot seal the input edge pages");
	}
	if (copy_len == 0 && p->n_copies == n_origin)
		return 0;
	/* Small items that fit: into the instance's input area, in the
	 * context memfd past the context (zero: new, zeroed at the park, or
	 * a reaped fresh instance's zeroed by reuse.c), which its worker maps
	 * read-only. Otherwise into a sealed copy area of their own, mapped
	 * at addr. */
	in_area = p->area && copy_len && copy_len <= PLAN_INPUT_ITEMS;
	if (!in_area) {
		/* Empty items alone need no copy area, only an address. */
		if (ALIGN_UP(copy_len, CTX_PAGE) > PITH_INPUT_MAX - addr)
			return err_set(e, E2BIG,
				       "inputs exceed the %llu GiB input range",
				       (PITH_INPUT_MAX - PITH_INPUT_BASE) >> 30);
		if (copy_len) {
			r = buffer_new_mapped("pith-inputs", copy_len, 0, &copy,
					      (void **)&cmap);
			if (r < 0)
				return err_set(e, -r,
					       "cannot create the input copy area: %s",
					       store_strerror(r));
		}
	}
	base = in_area ? PITH_INPUT_BASE : addr;
	for (size_t i = 0; i < total; i++) {
		struct want *w = by[i];
		const void *src;

		if (w->how != PLACE_COPY)
			continue;
		if (i && !cmp_want(&by[i - 1], &by[i])) {
			w->addr = by[i - 1]->addr;
			continue;
		}
		k = ALIGN_UP(k, 16);
		w->addr = base + k;
		if (w->len) {
			r = buffer_data(w->buf, &src);
			if (r < 0) {
				buffer_unref(copy);
				return err_errno(e, r, in_area ?
						 "cannot copy an input" :
						 "cannot read an input buffer");
			}
			src = (const char *)src + w->off;
			if (!in_area) {
				memcpy(cmap + k, src, w->len);
			} else if ((r = area_write(p, k, src, w->len)) < 0) {
				return err_errno(e, r, "cannot copy an input");
			}
			store_stats.bytes_copied += w->len;
			PROBE_BUFFER_COPY(w->buf, w->len);
		}
		add_origin(p, w);
		k += w->len;
	}
	if (in_area) {
		/* add_origin() in address order: the area lies first. */
		if (p->n_copies > 1)
			qsort(p->copies, p->n_copies, sizeof(*p->copies),
			      cmp_copy);
		return 0;
	}
	if (!copy)
		return 0;
	r = buffer_seal(copy);
	if (r >= 0)
		add_input(p, &sl, copy, addr, ALIGN_UP(copy_len, CTX_PAGE), 0);
	buffer_unref(copy);
	if (r < 0)
		return err_errno(e, r, "cannot seal the input copy area");
	return 0;
}

int context_resolve_input(const struct sandbox_proc *p, uint64_t addr,
			  uint64_t len, struct buffer **ret_buf,
			  uint64_t *ret_off)
{
	size_t lo = 0, hi = p->n_copies;
	const struct ctx_input *in = NULL;
	uint64_t off;

	/* A copied item's bytes: its origin. */
	while (lo < hi) { /* last copy starting at or below addr */
		size_t mid = lo + (hi - lo) / 2;

		if (p->copies[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0) {
		const struct ctx_copy *c = &p->copies[lo - 1];

		if (addr - c->addr <= c->len && len <= c->len - (addr - c->addr)) {
			*ret_buf = c->buf;
			*ret_off = c->off + (addr - c->addr);
			return 0;
		}
	}
	for (lo = 0, hi = p->n_inputs; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->inputs[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -ERANGE;
	in = &p->inputs[lo - 1];
	off = addr - in->addr;
	if (off > in->maplen || len > in->maplen - off)
		return -ERANGE;
	off += in->file_off;
	if (off > in->buf->size || len > in->buf->size - off)
		return -ERANGE;
	*ret_buf = in->buf;
	*ret_off = off;
	return 0;
}

void context_done(struct sandbox_proc *p)
{
	for (size_t i = 0; i < p->n_inputs; i++)
		buffer_unref(p->inputs[i].buf);
	p->inputs = NULL; /* its array stays in p->keep */
	p->n_inputs = p->n_input_fds = 0;
	for (size_t i = 0; i < p->n_copies; i++)
		buffer_unref(p->copies[i].buf);
	p->copies = NULL;
	p->n_copies = 0;
}

static bool add_size(uint64_t *acc, uint64_t v)
{
	return !__builtin_add_overflow(*acc, v, acc);
}

/* Bytes of the args' and env's strings (their address arrays follow the
 * item table). */
static void items_params(const struct sandbox_request *req, uint64_t *names)
{
	for (size_t i = 0; i < req->params.n_args; i++)
		*names += strlen(req->params.args[i]) + 1;
	for (size_t i = 0; i < req->params.n_env; i++)
		*names += strlen(req->params.env[i]) + 1;
}

void context_frame(uint64_t memory, struct ctx_layout *l)
{
	l->size = ALIGN_UP(memory, CTX_PAGE);
	l->stack_size = MIN(CTX_STACK_MAX, (l->size / 4) & ~(CTX_PAGE - 1));
	l->stack_off = l->size - l->stack_size;
	l->guard_off = l->stack_off - CTX_PAGE;
	l->altstack_off = l->guard_off - CTX_ALTSTACK_SIZE;
}

static int layout(const struct sandbox_request *req, struct ctx_layout *l,
		  uint64_t *ret_items_off, uint64_t *ret_names_off,
		  struct err *e)
{
	uint64_t hdr = sizeof(struct pith_context), items = 0, names = 0;
	uint64_t mem = req->limits.memory;

	if (mem < CTX_MIN_SIZE || mem > PITH_INPUT_BASE - PITH_CONTEXT_BASE)
		return err_set(e, EINVAL,
			       "limits.memory: %" PRIu64 " bytes is outside [%llu KiB, %llu GiB]",
			       mem, CTX_MIN_SIZE >> 10,
			       (PITH_INPUT_BASE - PITH_CONTEXT_BASE) >> 30);
	if (req->n_inputs > UINT32_MAX || req->n_outputs > UINT32_MAX)
		return err_set(e, E2BIG, "too many sets");
	context_frame(mem, l);

	for (size_t i = 0; i < req->n_inputs; i++) {
		const struct set *s = req->inputs[i];

		if (s->n > UINT32_MAX)
			return err_set(e, E2BIG, "input set '%s': too many items",
				       s->name);
		names += strlen(s->name) + 1;
		items += s->n;
		for (size_t j = 0; j < s->n; j++)
			names += strlen(s->items[j].name) + 1;
	}
	for (size_t i = 0; i < req->n_outputs; i++)
		names += strlen(req->outputs[i]) + 1;
	items_params(req, &names);
	l->outputs_off = hdr + req->n_inputs * sizeof(struct pith_set);
	*ret_items_off = l->outputs_off + req->n_outputs * sizeof(struct pith_set);
	*ret_names_off = *ret_items_off;
	if (!add_size(ret_names_off, items * sizeof(struct pith_item)) ||
	    !add_size(ret_names_off, (req->params.n_args + req->params.n_env) *
					     sizeof(__u64)))
		return -E2BIG;
	l->hdr_size = *ret_names_off;
	if (!add_size(&l->hdr_size, names))
		return -E2BIG;
	l->arena = ALIGN_UP(l->hdr_size, 64);
	if (l->arena > l->altstack_off)
		return err_set(e, E2BIG,
			       "limits.memory: %" PRIu64 " bytes cannot hold the input descriptor (%" PRIu64 " bytes), the stack and the signal stack",
			       mem, l->hdr_size);
	l->arena_size = l->altstack_off - l->arena;
	return 0;
}

static uint64_t put_name(char *desc, uint64_t *off, const char *name,
			 uint32_t *ret_len)
{
	size_t len = strlen(name);
	uint64_t at = *off;

	memcpy(desc + at, name, len + 1);
	*off += len + 1;
	*ret_len = (uint32_t)MIN(len, (size_t)UINT32_MAX);
	return PITH_CONTEXT_BASE + at;
}

/* The args' and env's address arrays at *off, their strings at *names_off. */
static void put_params(const struct sandbox_request *req, char *desc,
		       struct pith_context *c, uint64_t off,
		       uint64_t *names_off)
{
	const struct sandbox_params *pa = &req->params;
	__u64 *a = (__u64 *)(desc + off);
	uint32_t len;

	c->n_args = (uint32_t)pa->n_args;
	c->n_env = (uint32_t)pa->n_env;
	c->args = pa->n_args ? PITH_CONTEXT_BASE + off : 0;
	c->env = pa->n_env ? PITH_CONTEXT_BASE + off + pa->n_args * sizeof(*a)
			   : 0;
	c->seed = pa->seed;
	c->time = pa->time_ns;
	for (size_t i = 0; i < pa->n_args; i++)
		*a++ = put_name(desc, names_off, pa->args[i], &len);
	for (size_t i = 0; i < pa->n_env; i++)
		*a++ = put_name(desc, names_off, pa->env[i], &len);
}

int context_new(const struct sandbox_request *req, struct sandbox_proc *p,
		struct err *e)
{
	_cleanup_free_ char *desc_heap = NULL;
	_cleanup_free_ struct want *want_heap = NULL;
	struct want want_stack[CTX_WANT_STACK], *want = want_stack;
	char *desc;
	struct ctx_layout *l = &p->layout;
	uint64_t items_off = 0, names_off = 0;
	struct pith_context *c;
	struct pith_set *sets;
	struct pith_item *it;
	const char *w;
	size_t left, total = 0, k = 0;
	int r;

	r = layout(req, l, &items_off, &names_off, e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < req->n_inputs; i++)
		total += req->inputs[i]->n;
	if (total > ARRAY_SIZE(want_stack) &&
	    !(want = want_heap = malloc(total * sizeof(*want))))
		return err_set(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < req->n_inputs; i++)
		for (size_t j = 0; j < req->inputs[i]->n; j++) {
			const struct item *src = &req->inputs[i]->items[j];

			want[k++] = (struct want){ .buf = src->buf,
						   .off = src->off,
						   .len = src->len };
			p->input_bytes += src->len;
		}
	p->limits = req->limits;
	/* A warm worker's context, zeroed when it parked, a fresh
	 * instance's with its input area (reuse.c), or a new one (a warm
	 * instance's with its input area past the context). */
	if (!p->ctx) {
		r = buffer_new("pith-context",
			       l->size + (p->warm ? warm_ctx_extra(p) : 0),
			       &p->ctx);
		if (r < 0)
			return err_set(e, -r, "cannot create the context buffer: %s",
				       store_strerror(r));
	}
	r = place_inputs(p, want, total, e);
	if (r < 0)
		return r;
	/* Written in place through pith's mapping of the context (a warm
	 * worker's, or a zygote's pooled one: no process maps it yet for
	 * this instance), else built here and written with pwrite. Zeroed
	 * first either way: the descriptor's padding and unused fields
	 * read as zero whatever the memory held. */
	if (p->ctx_map) {
		desc = p->ctx_map;
		memset(desc, 0, l->hdr_size);
	} else if (!(desc = desc_heap = calloc(1, l->hdr_size))) {
		return err_set(e, ENOMEM, "out of memory");
	}

	c = (struct pith_context *)desc;
	*c = (struct pith_context){
		.magic = PITH_ABI_MAGIC,
		.version = PITH_ABI_VERSION,
		.header_size = sizeof(*c),
		.context_base = PITH_CONTEXT_BASE,
		.context_size = l->size,
		.arena = PITH_CONTEXT_BASE + l->arena,
		.arena_size = l->arena_size,
		.stack_size = l->stack_size,
		.n_inputs = (uint32_t)req->n_inputs,
		.n_outputs = (uint32_t)req->n_outputs,
		.inputs = PITH_CONTEXT_BASE + sizeof(*c),
		.outputs = PITH_CONTEXT_BASE + l->outputs_off,
		.instance = req->instance,
	};
	sets = (struct pith_set *)(desc + sizeof(*c));
	it = (struct pith_item *)(desc + items_off);
	k = 0;
	for (size_t i = 0; i < req->n_inputs; i++) {
		const struct set *s = req->inputs[i];

		sets[i].name = put_name(desc, &names_off, s->name,
					&sets[i].name_len);
		sets[i].n_items = (uint32_t)s->n;
		sets[i].items = PITH_CONTEXT_BASE +
				(uint64_t)((char *)it - desc);
		for (size_t j = 0; j < s->n; j++, it++) {
			const struct item *src = &s->items[j];

			it->name = put_name(desc, &names_off, src->name,
					    &it->name_len);
			it->flags = src->keyed ? PITH_ITEM_KEYED : 0;
			it->key = src->keyed ? src->key : 0;
			it->data = want[k++].addr;
			it->len = src->len;
		}
	}
	sets = (struct pith_set *)(desc + l->outputs_off);
	for (size_t i = 0; i < req->n_outputs; i++)
		sets[i].name = put_name(desc, &names_off, req->outputs[i],
					&sets[i].name_len);
	put_params(req, desc, c, (uint64_t)((char *)it - desc), &names_off);

	if (p->ctx_map)
		return 0;
	/* Not buffer_write(): this is the descriptor, not ingested data. */
	for (w = desc, left = l->hdr_size; left;) {
		ssize_t n = pwrite(p->ctx->fd, w, left, w - desc);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_set(e, n < 0 ? errno : EIO,
				       "cannot write the context descriptor: %m");
		w += n, left -= (size_t)n;
	}
	return 0;
}
