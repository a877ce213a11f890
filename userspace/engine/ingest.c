// SPDX-License-Identifier: MIT
/* Loading a job's input sets (files, inline text, base64) into the store,
 * and its functions' images. */
#include <errno.h>
#include <string.h>

#include "engine/ingest.h"
#include "iofuncs/arena.h"
#include "iofuncs/loadfile.h"
#include "lib/macro.h"
#include "lib/probe.h"
#include "sandbox/elf.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct set *, set_free);

/* One batch of files read by the engine's own reader (iofuncs/loadfile.h). */
struct batch {
	const char **paths;
	size_t *fn;		/* binaries: the function of each path */
	size_t n;
	struct loadfile *lf;
	bool done;
};

static void batch_done(struct loadfile *lf, void *data)
{
	(void)lf;
	((struct batch *)data)->done = true;
}

static bool batches_done(void *data)
{
	const struct batch *b = data;

	return b[0].done && b[1].done;
}

static void batch_free(struct batch *b)
{
	loadfile_free(b->lf);
	free(b->paths);
	free(b->fn);
}

/*
 * What a job reads before it runs: b[0], every file item, in job order;
 * b[1], the binary of every function a stage runs, in function order. The
 * paths are the job's own strings.
 */
static int collect_paths(const struct job *job, struct batch *b)
{
	_cleanup_free_ bool *used = calloc(job->n_functions + 1, sizeof(*used));
	size_t n = 0;

	if (!used)
		return -ENOMEM;
	for (size_t i = 0; i < job->n_inputs; i++)
		for (size_t j = 0; j < job->inputs[i].n_items; j++)
			n += job->inputs[i].items[j].source == JOB_SRC_FILE;
	b[0].paths = calloc(n + 1, sizeof(*b[0].paths));
	b[1].paths = calloc(job->n_functions + 1, sizeof(*b[1].paths));
	b[1].fn = calloc(job->n_functions + 1, sizeof(*b[1].fn));
	if (!b[0].paths || !b[1].paths || !b[1].fn)
		return -ENOMEM;
	for (size_t i = 0; i < job->n_inputs; i++) {
		const struct job_input *in = &job->inputs[i];

		for (size_t j = 0; j < in->n_items; j++)
			if (in->items[j].source == JOB_SRC_FILE)
				b[0].paths[b[0].n++] = in->items[j].path;
	}
	for (size_t s = 0; s < job->n_stages; s++)
		if (!job->stages[s].io)
			used[job->stages[s].function_index] = true;
	for (size_t fn = 0; fn < job->n_functions; fn++)
		if (used[fn]) {
			b[1].fn[b[1].n] = fn;
			b[1].paths[b[1].n++] = job->functions[fn].binary;
		}
	return 0;
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

static int batch_start(struct loop *l, int dirfd, const char *label,
		       uint64_t max_bytes, int probe_stage, struct batch *b,
		       struct err *e)
{
	const struct loadfile_opts o = {
		.dirfd = dirfd,
		.max_bytes = max_bytes,
		.label = label,
		.probe_stage = probe_stage,
	};

	if (b->n == 0) {
		b->done = true;
		return 0;
	}
	return loadfile_start(l, &o, b->paths, b->n, batch_done, b, &b->lf, e);
}

/* The bytes of file i of a batch, mapped. */
static int batch_data(const struct batch *b, size_t i, const void **ret,
		      uint64_t *ret_len)
{
	struct buffer *buf;
	uint64_t off;
	const void *p;
	int r;

	loadfile_file(b->lf, i, &buf, &off, ret_len);
	r = buffer_data(buf, &p);
	if (r >= 0)
		*ret = (const char *)p + off;
	return r;
}

/*
 * Read every file item into b[0] and every used function's binary into
 * b[1], on the loop, at once, by the engine's own reader: the paths are the
 * job author's, taken as written (relative to dirfd, or absolute), not
 * confined beneath a root as a job's file.read stage is. Then make each
 * binary an image.
 */
static int read_files(struct loop *l, int dirfd, const struct job *job,
		      struct batch *b, struct elf_image **images,
		      struct err *e)
{
	const char *msg;
	struct err ie = {};
	size_t k = 0, i = 0, j = 0;
	int r;

	r = collect_paths(job, b);
	if (r < 0)
		return err_set(e, -r, "inputs: out of memory");
	r = batch_start(l, dirfd, job->name, 0, PROBE_IO_INPUTS, &b[0], &ie);
	if (r < 0)
		return err_set(e, -r, "inputs: %s", ie.msg);
	r = batch_start(l, dirfd, "binaries", ELF_MAX_FILE_SIZE,
			PROBE_IO_BINARIES, &b[1], &ie);
	if (r < 0) {
		b[1].done = true;
		loadfile_cancel(b[0].lf);
	}
	/* Both batches end before anything else happens to them. */
	if (loop_run_until(l, batches_done, b) < 0 && r >= 0)
		return err_set(e, EIO, "inputs: the event loop failed");
	if (r < 0)
		return err_set(e, -r, "functions: %s", ie.msg);

	r = b[0].lf ? loadfile_error(b[0].lf, &k, &msg) : 0;
	if (r < 0) {
		file_item_at(job, k, &i, &j);
		return err_set(e, -r, "inputs.%s[%zu]: %s", job->inputs[i].name,
			       j, msg);
	}
	r = b[1].lf ? loadfile_error(b[1].lf, &k, &msg) : 0;
	if (r < 0)
		return err_set(e, -r, "function %s: %s",
			       job->functions[b[1].fn[k]].name, msg);
	/* Ingestion, like the inline items' buffer_write(). */
	if (b[0].lf)
		store_stats.bytes_written += loadfile_bytes(b[0].lf);

	for (k = 0; k < b[1].n; k++) {
		size_t fn = b[1].fn[k];
		const void *data;
		uint64_t len;

		r = batch_data(&b[1], k, &data, &len);
		if (r >= 0)
			r = elf_image_load_mem(data, len, &images[fn], &ie);
		else
			err_errno(&ie, r, "cannot map it");
		if (r < 0)
			return err_set(e, -r, "function %s: '%s': %s",
				       job->functions[fn].name,
				       job->functions[fn].binary, ie.msg);
	}
	return 0;
}

/* Where inline item j of job input i went: its place in the arena. */
struct placed {
	struct buffer *buf;
	uint64_t off;
};

/*
 * Copy every inline item into shared buffers (an arena: many items per
 * memfd, so a job of 100,000 inline items holds a handful of descriptors,
 * not one per item), sealed before any stage reads them.
 */
/* The bytes place_inline() will put in its arena. */
static uint64_t inline_bytes(const struct job *job)
{
	uint64_t n = 0;

	for (size_t i = 0; i < job->n_inputs; i++)
		for (size_t j = 0; j < job->inputs[i].n_items; j++)
			if (job->inputs[i].items[j].source != JOB_SRC_FILE)
				n += job->inputs[i].items[j].len;
	return n;
}

static int place_inline(const struct job *job, struct arena *a,
			struct placed **ret, struct err *e)
{
	for (size_t i = 0; i < job->n_inputs; i++) {
		const struct job_input *in = &job->inputs[i];

		ret[i] = calloc(in->n_items + 1, sizeof(**ret));
		if (!ret[i])
			return err_set(e, ENOMEM, "out of memory");
		for (size_t j = 0; j < in->n_items; j++) {
			const struct job_item *it = &in->items[j];
			int r;

			if (it->source == JOB_SRC_FILE)
				continue;
			r = arena_put(a, it->data, it->len, &ret[i][j].buf,
				      &ret[i][j].off);
			if (r < 0)
				return err_set(e, -r,
					       "inputs.%s[%zu]: cannot store item: %s",
					       in->name, j, store_strerror(r));
			store_stats.bytes_written += it->len;
		}
	}
	return 0;
}

int ingest_job(struct loop *l, int dirfd, const struct job *job,
	       struct set **ret, struct elf_image **images, struct err *e)
{
	_cleanup_free_ struct placed **placed =
		calloc(job->n_inputs + 1, sizeof(*placed));
	struct arena inline_arena;
	struct batch b[2] = {};
	size_t next = 0;
	int r = 0;

	arena_init(&inline_arena, job->name);
	arena_expect(&inline_arena, inline_bytes(job));
	if (!placed)
		r = err_set(e, ENOMEM, "out of memory");
	if (r >= 0)
		r = place_inline(job, &inline_arena, placed, e);
	if (r >= 0) {
		r = arena_finish(&inline_arena);
		if (r < 0)
			err_errno(e, r, "inputs: cannot seal");
	}
	if (r >= 0)
		r = read_files(l, dirfd, job, b, images, e);
	if (r < 0) {
		for (size_t fn = 0; fn < job->n_functions; fn++)
			images[fn] = elf_image_free(images[fn]);
		goto out;
	}
	for (size_t i = 0; i < job->n_inputs; i++) {
		const struct job_input *in = &job->inputs[i];
		_cleanup_(set_freep) struct set *s = set_new(in->name);

		if (!s)
			r = -ENOMEM;
		for (size_t j = 0; s && j < in->n_items && r >= 0; j++) {
			const struct job_item *it = &in->items[j];
			struct buffer *buf = placed[i][j].buf;
			uint64_t off = placed[i][j].off, len = it->len;

			if (it->source == JOB_SRC_FILE)
				loadfile_file(b[0].lf, next++, &buf, &off,
					      &len);
			r = set_add(s, it->name, it->keyed, it->key, buf, off,
				    len);
			if (r < 0)
				err_set(e, -r, "inputs.%s[%zu]: cannot store item: %s",
					in->name, j, store_strerror(r));
		}
		if (r < 0) {
			for (size_t k = 0; k < i; k++)
				ret[k] = set_free(ret[k]);
			for (size_t fn = 0; fn < job->n_functions; fn++)
				images[fn] = elf_image_free(images[fn]);
			if (!s)
				r = err_set(e, ENOMEM, "out of memory");
			goto out;
		}
		ret[i] = TAKE_PTR(s);
	}
out:
	batch_free(&b[0]);
	batch_free(&b[1]);
	arena_done(&inline_arena); /* the items keep their references */
	for (size_t i = 0; placed && i < job->n_inputs; i++)
		free(placed[i]);
	return r;
}
