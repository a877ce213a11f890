// SPDX-License-Identifier: MIT
/* Loading a job's input sets (files, inline text, base64) into the store,
 * and its functions' images. */
#include <errno.h>
#include <string.h>

#include "engine/ingest.h"
#include "iofuncs/arena.h"
#include "iofuncs/iofuncs.h"
#include "lib/macro.h"
#include "lib/probe.h"
#include "sandbox/elf.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct set *, set_free);

/* One file.read run over the loop: the paths, what was read, its state. */
struct fetch {
	struct set *paths, *out[2];
	struct iofunc_run *io;
	bool done;
};

static void fetch_done(struct iofunc_run *io, void *data)
{
	(void)io;
	((struct fetch *)data)->done = true;
}

static bool fetches_done(void *data)
{
	const struct fetch *f = data;

	return f[0].done && f[1].done;
}

static void fetch_free(struct fetch *f)
{
	set_free(f->paths);
	set_free(f->out[0]);
	iofunc_run_free(f->io);
}

/* Add `path` to the paths of f, in the arena that holds them. */
static int fetch_add(struct fetch *f, struct arena *a, const char *path,
		     const char *name, bool keyed, uint64_t key)
{
	struct buffer *buf;
	uint64_t off;
	size_t len = strlen(path);
	int r = arena_put(a, path, len, &buf, &off);

	return r < 0 ? r : set_add(f->paths, name, keyed, key, buf, off, len);
}

/*
 * What a job reads before it runs: f[0], every file item, in job order;
 * f[1], the binary of every function a stage runs, in function order.
 */
static int collect_paths(const struct job *job, struct fetch *f,
			 bool *used)
{
	struct arena a;
	int r = 0;

	arena_init(&a, "paths");
	for (size_t i = 0; i < job->n_inputs && r >= 0; i++) {
		const struct job_input *in = &job->inputs[i];

		for (size_t j = 0; j < in->n_items && r >= 0; j++) {
			const struct job_item *it = &in->items[j];

			if (it->source == JOB_SRC_FILE)
				r = fetch_add(&f[0], &a, it->path, it->name,
					      it->keyed, it->key);
		}
	}
	for (size_t s = 0; s < job->n_stages; s++)
		if (!job->stages[s].io)
			used[job->stages[s].function_index] = true;
	for (size_t fn = 0; fn < job->n_functions && r >= 0; fn++)
		if (used[fn])
			r = fetch_add(&f[1], &a, job->functions[fn].binary,
				      job->functions[fn].name, false, 0);
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

static int fetch_start(struct loop *l, int dirfd, const char *label,
		       uint64_t max_bytes, int probe_stage, struct fetch *f,
		       struct err *e)
{
	struct iofunc_ctx ctx;

	if (f->paths->n == 0) {
		f->done = true;
		return 0;
	}
	iofunc_ctx_init(&ctx);
	ctx.data_root_fd = dirfd;
	ctx.trusted_paths = true;
	ctx.label = label;
	ctx.max_file_bytes = max_bytes;
	ctx.stage = probe_stage;
	return iofunc_start(l, iofunc_lookup("file.read"), &ctx, f->paths,
			    f->out, fetch_done, f, &f->io, e);
}

/* The first failed item of f: its index and reason (without the
 * "file.read: " of a stage the job does not have). */
static int fetch_error(const struct fetch *f, size_t *ret_k,
		       const char **ret_msg)
{
	for (size_t k = 0; f->io && k < f->paths->n; k++) {
		int r = iofunc_run_item_reason(f->io, k, ret_msg);

		if (r < 0) {
			*ret_k = k;
			return r;
		}
	}
	return 0;
}

/*
 * Read every file item into f[0].out[0] and every used function's binary
 * into f[1].out[0], on the loop, at once. The paths are the job author's:
 * file.read resolves them without confining them beneath a root
 * (trusted_paths). Then make each binary an image.
 */
static int read_files(struct loop *l, int dirfd, const struct job *job,
		      struct fetch *f, struct elf_image **images,
		      struct err *e)
{
	_cleanup_free_ bool *used = calloc(job->n_functions + 1, sizeof(*used));
	const struct item *bin;
	const char *msg;
	struct err ie = {};
	size_t k = 0, i = 0, j = 0;
	int r;

	if (!used)
		return err_set(e, ENOMEM, "out of memory");
	r = collect_paths(job, f, used);
	if (r < 0)
		return err_set(e, -r, "inputs: cannot store the paths: %s",
			       store_strerror(r));
	r = fetch_start(l, dirfd, job->name, 0, PROBE_IO_INPUTS, &f[0], &ie);
	if (r < 0)
		return err_set(e, -r, "inputs: %s", ie.msg);
	r = fetch_start(l, dirfd, "binaries", ELF_MAX_FILE_SIZE, PROBE_IO_BINARIES, &f[1],
			&ie);
	if (r < 0) {
		f[1].done = true;
		if (f[0].io)
			iofunc_run_cancel(f[0].io);
	}
	/* Both runs end before anything else happens to them. */
	if (loop_run_until(l, fetches_done, f) < 0 && r >= 0)
		return err_set(e, EIO, "inputs: the event loop failed");
	if (r < 0)
		return err_set(e, -r, "functions: %s", ie.msg);

	r = fetch_error(&f[0], &k, &msg);
	if (r < 0) {
		file_item_at(job, k, &i, &j);
		return err_set(e, -r, "inputs.%s[%zu]: %s", job->inputs[i].name,
			       j, msg);
	}
	r = fetch_error(&f[1], &k, &msg);
	if (r < 0)
		return err_set(e, -r, "function %s: %s",
			       f[1].paths->items[k].name, msg);
	if (f[0].out[0]->n != f[0].paths->n || f[1].out[0]->n != f[1].paths->n)
		return err_set(e, EIO, "inputs: %zu of %zu files read",
			       f[0].out[0]->n + f[1].out[0]->n,
			       f[0].paths->n + f[1].paths->n);
	/* Ingestion, like the inline items' buffer_write(). */
	if (f[0].io)
		store_stats.bytes_written += iofunc_run_bytes(f[0].io);

	bin = f[1].out[0]->items;
	for (size_t fn = 0; fn < job->n_functions; fn++) {
		const void *data;

		if (!used[fn])
			continue;
		r = item_data(bin, &data);
		if (r >= 0)
			r = elf_image_load_mem(data, bin->len, &images[fn], &ie);
		else
			err_errno(&ie, r, "cannot map it");
		if (r < 0)
			return err_set(e, -r, "function %s: '%s': %s",
				       job->functions[fn].name,
				       job->functions[fn].binary, ie.msg);
		bin++;
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
	struct fetch f[2] = {
		{ set_new("paths"), { set_new("files"), NULL } },
		{ set_new("binaries"), { set_new("binaries"), NULL } },
	};
	struct set *read = f[0].out[0];
	size_t next = 0;
	int r = 0;

	arena_init(&inline_arena, job->name);
	if (!f[0].paths || !f[0].out[0] || !f[1].paths || !f[1].out[0] ||
	    !placed)
		r = err_set(e, ENOMEM, "out of memory");
	if (r >= 0)
		r = place_inline(job, &inline_arena, placed, e);
	if (r >= 0) {
		r = arena_finish(&inline_arena);
		if (r < 0)
			err_errno(e, r, "inputs: cannot seal");
	}
	if (r >= 0)
		r = read_files(l, dirfd, job, f, images, e);
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

			if (it->source == JOB_SRC_FILE)
				r = set_add_item(s, &read->items[next++]);
			else
				r = set_add(s, it->name, it->keyed, it->key,
					    placed[i][j].buf, placed[i][j].off,
					    it->len);
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
	fetch_free(&f[0]);
	fetch_free(&f[1]);
	arena_done(&inline_arena); /* the items keep their references */
	for (size_t i = 0; placed && i < job->n_inputs; i++)
		free(placed[i]);
	return r;
}
