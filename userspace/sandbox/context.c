// SPDX-License-Identifier: MIT
/*
 * The context of one instance: a new buffer of limits.memory bytes holding
 * the descriptor (struct pith_context, set and item tables, names) at its
 * start, the arena, a signal stack, a guard page and the stack at its top;
 * and the placement of every distinct input buffer in the input range.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/internal.h"

static int cmp_buf(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(struct buffer *const *)a;
	uintptr_t y = (uintptr_t)*(struct buffer *const *)b;

	return x < y ? -1 : x > y;
}

/* p->inputs is sorted by buffer address and by sandbox address alike. */
static const struct ctx_input *find_input(const struct sandbox_proc *p,
					  const struct buffer *b)
{
	const struct ctx_input *by_buf = p->inputs;
	size_t lo = 0, hi = p->n_inputs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((uintptr_t)by_buf[mid].buf < (uintptr_t)b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->n_inputs && by_buf[lo].buf == b ? &by_buf[lo] : NULL;
}

/* Distinct input buffers, each placed once, back to back from
 * PITH_INPUT_BASE (so all of them form one range for the worker). */
static int place_inputs(const struct sandbox_request *req,
			struct sandbox_proc *p, struct err *e)
{
	_cleanup_free_ struct buffer **all = NULL;
	size_t n = 0, total = 0, k = 0;
	uint64_t addr = PITH_INPUT_BASE;

	for (size_t i = 0; i < req->n_inputs; i++)
		total += req->inputs[i]->n;
	if (!total)
		return 0;
	all = malloc(total * sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < req->n_inputs; i++)
		for (size_t j = 0; j < req->inputs[i]->n; j++)
			all[n++] = req->inputs[i]->items[j].buf;
	qsort(all, n, sizeof(*all), cmp_buf);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || all[i] != all[i - 1])
			all[k++] = all[i];
	if (k > PLAN_MAX_INPUTS)
		return err_set(e, E2BIG,
			       "inputs come from %zu buffers, more than the %u an instance can map",
			       k, PLAN_MAX_INPUTS);
	p->inputs = calloc(k, sizeof(*p->inputs));
	if (!p->inputs)
		return -ENOMEM;
	for (size_t i = 0; i < k; i++) {
		struct buffer *b = all[i];
		uint64_t len = ALIGN_UP(b->size, CTX_PAGE);

		if (!b->sealed)
			return err_set(e, EINVAL,
				       "input buffer %" PRIu64 " is not sealed",
				       b->id);
		if (len > PITH_INPUT_MAX - addr)
			return err_set(e, E2BIG,
				       "inputs exceed the %llu GiB input range",
				       (PITH_INPUT_MAX - PITH_INPUT_BASE) >> 30);
		p->inputs[i] = (struct ctx_input){ buffer_ref(b), addr, len };
		p->n_inputs++;
		addr += len;
	}
	return 0;
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
	l->size = ALIGN_UP(mem, CTX_PAGE);
	l->stack_size = MIN(CTX_STACK_MAX, (l->size / 4) & ~(CTX_PAGE - 1));
	l->stack_off = l->size - l->stack_size;
	l->guard_off = l->stack_off - CTX_PAGE;
	l->altstack_off = l->guard_off - CTX_ALTSTACK_SIZE;

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
	_cleanup_free_ char *desc = NULL;
	struct ctx_layout *l = &p->layout;
	uint64_t items_off = 0, names_off = 0;
	struct pith_context *c;
	struct pith_set *sets;
	struct pith_item *it;
	const char *w;
	size_t left;
	int r;

	r = layout(req, l, &items_off, &names_off, e);
	if (r < 0)
		return r;
	r = place_inputs(req, p, e);
	if (r < 0)
		return r;
	desc = calloc(1, l->hdr_size);
	if (!desc)
		return -ENOMEM;

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
	for (size_t i = 0; i < req->n_inputs; i++) {
		const struct set *s = req->inputs[i];

		sets[i].name = put_name(desc, &names_off, s->name,
					&sets[i].name_len);
		sets[i].n_items = (uint32_t)s->n;
		sets[i].items = PITH_CONTEXT_BASE +
				(uint64_t)((char *)it - desc);
		for (size_t j = 0; j < s->n; j++, it++) {
			const struct item *src = &s->items[j];
			const struct ctx_input *in =
				find_input(p, src->buf);

			it->name = put_name(desc, &names_off, src->name,
					    &it->name_len);
			it->flags = src->keyed ? PITH_ITEM_KEYED : 0;
			it->key = src->keyed ? src->key : 0;
			it->data = in->addr + src->off;
			it->len = src->len;
		}
	}
	sets = (struct pith_set *)(desc + l->outputs_off);
	for (size_t i = 0; i < req->n_outputs; i++)
		sets[i].name = put_name(desc, &names_off, req->outputs[i],
					&sets[i].name_len);
	put_params(req, desc, c, (uint64_t)((char *)it - desc), &names_off);

	r = buffer_new("pith-context", l->size, &p->ctx);
	if (r < 0)
		return err_set(e, -r, "cannot create the context buffer: %s",
			       strerror(-r));
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
