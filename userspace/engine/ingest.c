// SPDX-License-Identifier: MIT
/* Loading a job's input sets (files, inline text, base64) into the store. */
#include <errno.h>
#include <string.h>

#include "engine/ingest.h"
#include "iofuncs/arena.h"
#include "iofuncs/iofuncs.h"
#include "lib/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct set *, set_free);

static void on_read_done(struct iofunc_run *io, void *data)
{
	bool *done = data;

	(void)io;
	*done = true;
}

static bool is_done(void *data)
{
	return *(bool *)data;
}

/* Every file item's path, named and keyed like the item, in job order, in
 * one sealed buffer: file.read's input. */
static int collect_paths(const struct job *job, struct set *paths)
{
	struct arena a;
	int r = 0;

	arena_init(&a, "paths");
	for (size_t i = 0; i < job->n_inputs && r >= 0; i++) {
		const struct job_input *in = &job->inputs[i];

		for (size_t j = 0; j < in->n_items && r >= 0; j++) {
			const struct job_item *it = &in->items[j];
			size_t len = it->source == JOB_SRC_FILE ?
					     strlen(it->path) : 0;
			struct buffer *buf;
			uint64_t off;

			if (it->source != JOB_SRC_FILE)
				continue;
			r = arena_put(&a, it->path, len, &buf, &off);
			if (r >= 0)
				r = set_add(paths, it->name, it->keyed, it->key,
					    buf, off, len);
		}
	}
	if (r >= 0)
		r = arena_finish(&a);
	arena_done(&a);
	return r;
}

/* The job input and item of file item k (in collect_paths' order). */
static void file_item_at(const struct job *job, size_t k, size_t *ret_input,
			 size_t *ret_item)
{
	for (size_t i = 0; i < job->n_inputs; i++)
		for (size_t j = 0; j < job->inputs[i].n_items; j++)
			if (job->inputs[i].items[j].source == JOB_SRC_FILE &&
			    k-- == 0) {
				*ret_input = i;
				*ret_item = j;
				return;
			}
}

/*
 * Read every file item on the loop into `read`, in collect_paths' order.
 * The paths are the job author's, like the binaries': file.read resolves
 * them without confining them beneath a root (trusted_paths).
 */
static int read_files(struct loop *l, int dirfd, const struct job *job,
		      struct set *read, struct err *e)
{
	_cleanup_(set_freep) struct set *paths = set_new("paths");
	_cleanup_(iofunc_run_freep) struct iofunc_run *io = NULL;
	struct set *outs[2] = { read, NULL };
	struct iofunc_ctx ctx;
	struct err ie = {};
	bool done = false;
	int r;

	if (!paths)
		return err_set(e, ENOMEM, "out of memory");
	r = collect_paths(job, paths);
	if (r < 0)
		return err_set(e, -r, "inputs: cannot store the paths: %s",
			       strerror(-r));
	if (paths->n == 0)
		return 0;
	iofunc_ctx_init(&ctx);
	ctx.data_root_fd = dirfd;
	ctx.trusted_paths = true;
	ctx.label = job->name;
	r = iofunc_start(l, iofunc_lookup("file.read"), &ctx, paths, outs,
			 on_read_done, &done, &io, &ie);
	if (r < 0)
		return err_set(e, -r, "inputs: %s", ie.msg);
	r = loop_run_until(l, is_done, &done);
	if (r < 0)
		return err_set(e, -r, "inputs: event loop: %s", strerror(-r));
	for (size_t k = 0; k < paths->n; k++) {
		const char *msg, *fn = iofunc_name(iofunc_lookup("file.read"));
		size_t i = 0, j = 0, fl = strlen(fn);

		r = iofunc_run_item_error(io, k, &msg);
		if (r >= 0)
			continue;
		/* "file.read: 'a.txt': why": the job has no such stage. */
		if (!strncmp(msg, fn, fl) && !strncmp(msg + fl, ": ", 2))
			msg += fl + 2;
		file_item_at(job, k, &i, &j);
		return err_set(e, -r, "inputs.%s[%zu]: %s", job->inputs[i].name,
			       j, msg);
	}
	if (read->n != paths->n)
		return err_set(e, EIO, "inputs: %zu of %zu files read", read->n,
			       paths->n);
	/* Ingestion, like the inline items' buffer_write(). */
	store_stats.bytes_written += iofunc_run_bytes(io);
	return 0;
}

static int inline_item(const struct job_item *it, struct set *s)
{
	struct buffer *b = NULL;
	int r;

	r = buffer_new(it->name, it->len, &b);
	if (r >= 0)
		r = buffer_write(b, 0, it->data, it->len);
	if (r >= 0)
		r = buffer_seal(b);
	if (r >= 0)
		r = set_add(s, it->name, it->keyed, it->key, b, 0, b->size);
	buffer_unref(b);
	return r;
}

int ingest_inputs(struct loop *l, int dirfd, const struct job *job,
		  struct set **ret, struct err *e)
{
	_cleanup_(set_freep) struct set *read = set_new("files");
	size_t next = 0;
	int r;

	if (!read)
		return err_set(e, ENOMEM, "out of memory");
	r = read_files(l, dirfd, job, read, e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < job->n_inputs; i++) {
		const struct job_input *in = &job->inputs[i];
		_cleanup_(set_freep) struct set *s = set_new(in->name);

		if (!s)
			r = -ENOMEM;
		for (size_t j = 0; s && j < in->n_items && r >= 0; j++) {
			const struct job_item *it = &in->items[j];

			if (it->source == JOB_SRC_FILE)
				r = set_add_item(s, &read->items[next++]);
			else
				r = inline_item(it, s);
			if (r < 0)
				err_set(e, -r, "inputs.%s[%zu]: cannot store item: %s",
					in->name, j, strerror(-r));
		}
		if (r < 0) {
			for (size_t k = 0; k < i; k++)
				ret[k] = set_free(ret[k]);
			return s ? r : err_set(e, ENOMEM, "out of memory");
		}
		ret[i] = TAKE_PTR(s);
	}
	return 0;
}
