// SPDX-License-Identifier: MIT
/* The registry of I/O functions and the life cycle of a run. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "iofuncs/internal.h"
#include "lib/array.h"
#include "lib/probe.h"

static const struct iofunc *const iofuncs[] = {
	&iofunc_file_read,
	&iofunc_file_write,
	&iofunc_http,
};

void iofunc_ctx_init(struct iofunc_ctx *ctx)
{
	*ctx = (struct iofunc_ctx){
		.data_root_fd = -1,
		.stage = PROBE_IO_OWN,
		.fsync = true,
		.connect_timeout_ms = 5000,
		.read_timeout_ms = 10000,
		.total_timeout_ms = 30000,
		.retries = 2,
		.backoff_ms = 100,
		.max_header_bytes = 64 << 10,
		.max_body_bytes = 64 << 20,
		.hosts_path = "/etc/hosts",
	};
}

const struct iofunc *iofunc_lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(iofuncs); i++)
		if (strcmp(iofuncs[i]->name, name) == 0)
			return iofuncs[i];
	return NULL;
}

const char *iofunc_name(const struct iofunc *fn)
{
	return fn->name;
}

int iofuncs_check(const char *io, size_t n_inputs, char *const *outputs,
		  size_t n_outputs, struct err *e)
{
	const struct iofunc *fn = iofunc_lookup(io);

	(void)outputs;
	if (!fn)
		return err_set(e, ENOENT,
			       "unknown I/O function '%s' (known: file.read, file.write, http)",
			       io);
	if (n_inputs != 1)
		return err_set(e, EINVAL,
			       "I/O function '%s' takes exactly 1 input, not %zu",
			       io, n_inputs);
	if (n_outputs < fn->min_outputs || n_outputs > fn->max_outputs) {
		if (fn->min_outputs == fn->max_outputs)
			return err_set(e, EINVAL,
				       "I/O function '%s' produces exactly %zu output%s%s, not %zu",
				       io, fn->min_outputs,
				       fn->min_outputs == 1 ? "" : "s",
				       fn == &iofunc_http ?
					       " (status, then body)" :
					       "",
				       n_outputs);
		return err_set(e, EINVAL,
			       "I/O function '%s' produces %zu to %zu outputs, not %zu",
			       io, fn->min_outputs, fn->max_outputs,
			       n_outputs);
	}
	return 0;
}

const char *iofunc_strerror(int err)
{
	static char buf[128];

	/* Whichever operation a cancel reaches, the item says the same. */
	if (err == -ECANCELED || err == ECANCELED)
		return "cancelled";
	if (err == -ENOBUFS || err == ENOBUFS) /* maybe the store's limit */
		return store_strerror(-ENOBUFS);
	snprintf(buf, sizeof(buf), "%s", strerror(err < 0 ? -err : err));
	/* Keep acronyms ("I/O error") as they are. */
	if (isupper((unsigned char)buf[0]) && !isupper((unsigned char)buf[1]))
		buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

void iofunc_quote(char *dst, size_t dst_size, const void *src, size_t len)
{
	const unsigned char *s = src;
	size_t o = 0;

	if (!dst_size)
		return;
	for (size_t i = 0; i < len; i++) {
		char tmp[8];
		size_t tl;

		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
			tmp[0] = (char)s[i];
			tl = 1;
		} else {
			tl = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", s[i]);
		}
		if (o + tl + 4 > dst_size) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(dst + o, tmp, tl);
		o += tl;
	}
	dst[o] = '\0';
}

void iofunc_item_fail(struct iofunc_run *run, size_t i, int err,
		      const char *fmt, ...)
{
	struct iofunc_item *it = &run->items[i];
	va_list ap;
	char *m = NULL;

	if (it->finished)
		return;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	it->err = err < 0 ? err : -EIO;
	it->msg = m;
	it->finished = true;
	run->n_finished++;
	run->n_failed++;
	PROBE_IO_ITEM_END(run, run->fn->name, i, run->ctx.stage, it->err, 0);
	if (run->ctx.item_failed)
		run->ctx.item_failed(run, i, run->ctx.stream_data);
}

/* Item i's output block, made on its first output (from the run's free
 * list when it can: a streaming run reuses the blocks of the items it
 * delivered, so it holds about as many as items are in flight). */
static struct iofunc_outs *item_outs(struct iofunc_run *run,
				     struct iofunc_item *it)
{
	if (!it->outs) {
		if (run->outs_free) {
			it->outs = run->outs_free;
			run->outs_free = it->outs->next_free;
		} else {
			it->outs = malloc(sizeof(*it->outs));
		}
	}
	return it->outs;
}

/* Item i's outputs are no longer needed: its block goes back. */
static void item_outs_put(struct iofunc_run *run, struct iofunc_item *it)
{
	if (!it->outs)
		return;
	it->outs->next_free = run->outs_free;
	run->outs_free = it->outs;
	it->outs = NULL;
	it->has_out = 0;
}

void iofunc_item_out(struct iofunc_run *run, size_t i, size_t k,
		     struct buffer *buf, uint64_t off, uint64_t len)
{
	struct iofunc_item *it = &run->items[i];
	struct iofunc_outs *o;

	if (it->finished)
		return;
	o = item_outs(run, it);
	if (!o) {
		iofunc_item_fail(run, i, -ENOMEM, "%s: out of memory",
				 run->fn->name);
		return;
	}
	o->out[k].buf = buf;
	o->out[k].off = off;
	o->out[k].len = len;
	it->has_out |= 1u << k;
	run->bytes += len;
	if (run->ctx.item) {
		ssize_t c = arena_chunk_of(&run->arena, buf);

		if (c >= 0)
			arena_chunk(&run->arena, (size_t)c)->users++;
	}
}

void iofunc_item_forget(struct iofunc_run *run, size_t i)
{
	struct iofunc_item *it = &run->items[i];

	for (size_t k = 0; k < IOFUNC_MAX_OUTPUTS; k++) {
		if (!(it->has_out & (1u << k)))
			continue;
		run->bytes -= it->outs->out[k].len;
		if (run->ctx.item) {
			ssize_t c = arena_chunk_of(&run->arena,
						   it->outs->out[k].buf);

			if (c >= 0)
				arena_chunk(&run->arena, (size_t)c)->users--;
		}
	}
	item_outs_put(run, it);
}

static void stream_cb(struct loop_op *op, int res, uint32_t flags);

/* Streaming: hand item i on once its outputs are sealed (from the loop). */
static void stream_ready(struct iofunc_run *run, size_t i)
{
	if (ARRAY_GROW(run->ready, run->ready_cap, run->n_ready, 64) < 0) {
		iofunc_item_fail(run, i, -ENOMEM, "%s: out of memory",
				 run->fn->name);
		return;
	}
	run->ready[run->n_ready++] = i;
	if (run->stream_posted)
		return;
	run->stream_op.cb = stream_cb;
	if (loop_post(run->loop, &run->stream_op) >= 0) {
		run->stream_posted = true;
		run->ops++;
	}
	/* else: delivered with the rest when the run is done */
}

static bool item_sealed(struct iofunc_run *run, size_t i)
{
	const struct iofunc_item *it = &run->items[i];

	for (size_t k = 0; k < run->n_outputs; k++)
		if ((it->has_out & (1u << k)) && !it->outs->out[k].buf->sealed)
			return false;
	return true;
}

static void deliver(struct iofunc_run *run, size_t i)
{
	struct iofunc_item *it = &run->items[i];

	it->delivered = true;
	run->ctx.item(run, i, run->ctx.stream_data);
	/* The callee took its references: the arena lets go of a chunk whose
	 * items have all been handed on. */
	for (size_t k = 0; k < run->n_outputs; k++) {
		ssize_t c;

		if (!(it->has_out & (1u << k)))
			continue;
		c = arena_chunk_of(&run->arena, it->outs->out[k].buf);
		if (c >= 0 && --arena_chunk(&run->arena, (size_t)c)->users == 0 &&
		    arena_chunk(&run->arena, (size_t)c)->sealed)
			arena_chunk_drop(&run->arena, (size_t)c);
	}
	/* Delivered: nothing asks for its outputs again. */
	item_outs_put(run, it);
}

/* Seal what can be sealed and deliver the items whose outputs are. */
static void stream_flush(struct iofunc_run *run)
{
	size_t w = 0, n = run->n_ready;
	int r;

	/* An item waiting for the open chunk closes it: new items go to a
	 * new one, and it is sealed once the reservations in it are kept. */
	for (size_t j = 0; j < n && run->arena.open >= 0; j++) {
		const struct iofunc_item *it = &run->items[run->ready[j]];

		for (size_t k = 0; k < run->n_outputs; k++)
			if ((it->has_out & (1u << k)) &&
			    it->outs->out[k].buf ==
				    arena_chunk(&run->arena, (size_t)run->arena.open)->buf) {
				arena_close_open(&run->arena);
				break;
			}
	}
	r = arena_seal_idle(&run->arena);
	if (r < 0) {
		for (size_t j = 0; j < n; j++)
			iofunc_item_fail(run, run->ready[j], r,
					 "%s: cannot seal output buffers",
					 run->fn->name);
		run->n_ready = 0;
		return;
	}
	run->in_flush = true;
	for (size_t j = 0; j < n; j++) {
		size_t i = run->ready[j];

		if (run->items[i].err < 0)
			continue;
		if (!item_sealed(run, i))
			run->ready[w++] = i;
		else
			deliver(run, i);
	}
	run->in_flush = false;
	/* Items made ready by the callbacks (a resume) stay queued. */
	memmove(run->ready + w, run->ready + n,
		(run->n_ready - n) * sizeof(*run->ready));
	run->n_ready = w + run->n_ready - n;
}

static void stream_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct iofunc_run *run =
		container_of(op, struct iofunc_run, stream_op);

	(void)res;
	(void)flags;
	run->ops--;
	run->stream_posted = false;
	stream_flush(run);
	iofunc_run_maybe_done(run);
}

bool iofunc_may_start(struct iofunc_run *run)
{
	return !run->ctx.may_start || run->cancelled ||
	       run->ctx.may_start(run->ctx.stream_data);
}

void iofunc_run_resume(struct iofunc_run *run)
{
	if (!run || run->done_posted || run->cancelled || !run->fn->resume)
		return;
	run->fn->resume(run);
	iofunc_run_maybe_done(run);
}

bool iofunc_run_item_output(const struct iofunc_run *run, size_t i, size_t k,
			    struct buffer **ret_buf, uint64_t *ret_off,
			    uint64_t *ret_len)
{
	const struct iofunc_item *it = &run->items[i];

	if (i >= run->n || k >= run->n_outputs ||
	    !(it->has_out & (1u << k)) || it->err < 0)
		return false;
	*ret_buf = it->outs->out[k].buf;
	*ret_off = it->outs->out[k].off;
	*ret_len = it->outs->out[k].len;
	return true;
}

void iofunc_item_ok(struct iofunc_run *run, size_t i)
{
	struct iofunc_item *it = &run->items[i];
	uint64_t bytes = 0;

	if (it->finished)
		return;
	it->finished = true;
	run->n_finished++;
	for (size_t k = 0; k < IOFUNC_MAX_OUTPUTS; k++)
		if (it->has_out & (1u << k))
			bytes += it->outs->out[k].len;
	PROBE_IO_ITEM_END(run, run->fn->name, i, run->ctx.stage, 0, bytes);
	if (run->ctx.item)
		stream_ready(run, i);
}

static void fail_all(struct iofunc_run *run, int err, const char *why)
{
	for (size_t i = 0; i < run->n; i++)
		iofunc_item_fail(run, i, err, "%s: %s", run->fn->name, why);
}

static void append_outputs(struct iofunc_run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		struct iofunc_item *it = &run->items[i];
		const struct item *in = iofunc_input(run, i);

		if (it->err < 0)
			continue;
		for (size_t k = 0; k < run->n_outputs; k++) {
			int r;

			if (!(it->has_out & (1u << k)))
				continue;
			r = set_add(run->outputs[k], in->name, in->keyed,
				    in->key, it->outs->out[k].buf,
				    it->outs->out[k].off, it->outs->out[k].len);
			if (r < 0) {
				/* The item's outputs are incomplete. */
				it->err = r;
				run->n_failed++;
				free(it->msg);
				it->msg = strdup("out of memory");
				break;
			}
		}
		item_outs_put(run, it);
	}
}

static void done_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct iofunc_run *run = container_of(op, struct iofunc_run, done_op);

	(void)res;
	(void)flags;
	if (run->ctx.item)
		stream_flush(run); /* every buffer is sealed now */
	run->done(run, run->done_data);
}

void iofunc_run_maybe_done(struct iofunc_run *run)
{
	int r;

	if (run->done_posted || run->in_start || run->in_flush ||
	    run->n_finished < run->n || run->ops)
		return;
	r = arena_finish(&run->arena);
	if (r < 0)
		fail_all(run, r, "cannot seal output buffers");
	else if (!run->ctx.item)
		append_outputs(run);
	run->done_posted = true;
	PROBE_IO_DONE(run, run->fn->name, run->n, run->n_failed, run->bytes, run->ctx.stage);
	run->done_op.cb = done_cb;
	if (loop_post(run->loop, &run->done_op) < 0)
		run->done(run, run->done_data);
}

int iofunc_start(struct loop *l, const struct iofunc *fn,
		 const struct iofunc_ctx *ctx, const struct set *input,
		 struct set *const *outputs, iofunc_done_fn done, void *data,
		 struct iofunc_run **ret, struct err *e)
{
	_cleanup_(iofunc_run_freep) struct iofunc_run *run = NULL;
	int r;

	run = calloc(1, sizeof(*run));
	if (!run)
		return err_set(e, ENOMEM, "out of memory");
	run->loop = l;
	run->fn = fn;
	run->ctx = *ctx;
	if (!run->ctx.concurrency)
		run->ctx.concurrency = fn == &iofunc_http ?
					       IOFUNC_HTTP_CONCURRENCY :
					       IOFUNC_FILE_CONCURRENCY;
	run->input = input;
	run->outputs = outputs;
	run->n_outputs = 0;
	while (outputs && run->n_outputs < fn->max_outputs &&
	       outputs[run->n_outputs])
		run->n_outputs++;
	run->done = done;
	run->done_data = data;
	run->n = input->n;
	run->items = calloc(run->n ? run->n : 1, sizeof(*run->items));
	if (!run->items)
		return err_set(e, ENOMEM, "out of memory");
	arena_init(&run->arena, ctx->label ? ctx->label : fn->name);
	if (ctx->item_buffers && ctx->item)
		arena_own_items(&run->arena);

	PROBE_IO_START(run, fn->name, run->n, run->ctx.job, run->ctx.stage);
	run->in_start = true;
	r = fn->start(run, e);
	run->in_start = false;
	if (r < 0)
		return r;
	iofunc_run_maybe_done(run);
	*ret = TAKE_PTR(run);
	return 0;
}

void iofunc_run_cancel(struct iofunc_run *run)
{
	if (!run || run->cancelled || run->done_posted)
		return;
	run->cancelled = true;
	run->fn->cancel(run);
	iofunc_run_maybe_done(run);
}

size_t iofunc_run_finished_prefix(struct iofunc_run *run)
{
	while (run->finished_prefix < run->n) {
		const struct iofunc_item *it = &run->items[run->finished_prefix];

		/* Streaming: an item that succeeded is done once delivered
		 * (the callee reads its input's name then). */
		if (!it->finished ||
		    (run->ctx.item && it->err >= 0 && !it->delivered))
			break;
		run->finished_prefix++;
	}
	return run->finished_prefix;
}

size_t iofunc_run_n_items(const struct iofunc_run *run)
{
	return run->n;
}

size_t iofunc_run_n_failed(const struct iofunc_run *run)
{
	return run->n_failed;
}

int iofunc_run_item_error(const struct iofunc_run *run, size_t i,
			  const char **ret_msg)
{
	if (i >= run->n)
		return -ERANGE;
	if (ret_msg)
		*ret_msg = run->items[i].err < 0 ?
				   (run->items[i].msg ? run->items[i].msg :
							"out of memory") :
				   NULL;
	return run->items[i].err;
}

int iofunc_run_item_reason(const struct iofunc_run *run, size_t i,
			   const char **ret_msg)
{
	size_t fl = strlen(run->fn->name);
	const char *msg = NULL;
	int r = iofunc_run_item_error(run, i, &msg);

	if (msg && !strncmp(msg, run->fn->name, fl) &&
	    !strncmp(msg + fl, ": ", 2))
		msg += fl + 2;
	if (ret_msg)
		*ret_msg = msg;
	return r;
}

uint64_t iofunc_run_bytes(const struct iofunc_run *run)
{
	return run->bytes;
}

struct iofunc_run *iofunc_run_free(struct iofunc_run *run)
{
	if (!run)
		return NULL;
	if (run->fn->free)
		run->fn->free(run);
	arena_done(&run->arena);
	for (size_t i = 0; i < run->n && run->items; i++) {
		free(run->items[i].msg);
		free(run->items[i].outs);
	}
	while (run->outs_free) {
		struct iofunc_outs *o = run->outs_free;

		run->outs_free = o->next_free;
		free(o);
	}
	free(run->items);
	free(run->ready);
	free(run);
	return NULL;
}
