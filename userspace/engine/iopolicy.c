// SPDX-License-Identifier: MIT
/* A run's I/O policy: per-stage settings, allowed hosts, the write root and
 * the files file.write must never replace. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/iopolicy.h"
#include "lib/array.h"
#include "lib/macro.h"

static int protect_add(struct iopolicy *p, const struct stat *st)
{
	for (size_t i = 0; i < p->n_protect; i++)
		if (p->protect[i].dev == st->st_dev &&
		    p->protect[i].ino == st->st_ino)
			return 0;
	if (ARRAY_GROW(p->protect, p->cap_protect, p->n_protect, 16) < 0)
		return -ENOMEM;
	p->protect[p->n_protect++] = (struct iofunc_file_id){
		.dev = st->st_dev, .ino = st->st_ino
	};
	return 0;
}

/* The file a path names and, when it is a symlink, the link itself: a
 * rename over either would change what the job reads next time. */
static int protect_path(struct iopolicy *p, int dirfd, const char *path)
{
	struct stat st;
	int r = 0;

	if (fstatat(dirfd, path, &st, 0) == 0)
		r = protect_add(p, &st);
	if (r >= 0 && fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		r = protect_add(p, &st);
	return r;
}

/* mkdir -p, for the default write root (the output directory). */
static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *d = strdup(path);

	if (!d)
		return -ENOMEM;
	for (char *s = d + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(d, 0777) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(d, 0777) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int iopolicy_init(struct iopolicy *p, const struct job *job,
		  const struct engine_opts *opts, int job_dirfd,
		  int data_rootfd, struct err *e)
{
	const char *root = opts->write_root;
	bool writes = false;
	int r;

	*p = (struct iopolicy){ .write_rootfd = -1 };
	p->allow = calloc(job->n_allow_hosts + opts->n_allow_hosts + 1,
			  sizeof(*p->allow));
	if (!p->allow)
		return err_set(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < job->n_allow_hosts; i++)
		p->allow[p->n_allow++] = job->allow_hosts[i];
	for (size_t i = 0; i < opts->n_allow_hosts; i++)
		p->allow[p->n_allow++] = opts->allow_hosts[i];

	for (size_t s = 0; s < job->n_stages; s++)
		writes |= job->stages[s].io &&
			  !strcmp(job->stages[s].io, "file.write");
	if (!writes)
		return 0;

	/* The job's own files, whatever file.write's root is. */
	if (strcmp(job->path, "-")) {
		r = protect_path(p, AT_FDCWD, job->path);
		if (r < 0)
			return err_set(e, -r, "out of memory");
	}
	for (size_t f = 0; f < job->n_functions; f++) {
		r = protect_path(p, job_dirfd, job->functions[f].binary);
		if (r < 0)
			return err_set(e, -r, "out of memory");
	}
	for (size_t i = 0; i < job->n_inputs; i++)
		for (size_t k = 0; k < job->inputs[i].n_items; k++) {
			const struct job_item *it = &job->inputs[i].items[k];

			if (it->source != JOB_SRC_FILE)
				continue;
			r = protect_path(p, job_dirfd, it->path);
			if (r < 0)
				return err_set(e, -r, "out of memory");
		}

	/* --write-root, else --data-root (reads and writes share it), else
	 * the output directory: never the job's directory by default. */
	if (!root && opts->data_root) {
		p->write_rootfd = fcntl(data_rootfd, F_DUPFD_CLOEXEC, 3);
		if (p->write_rootfd < 0)
			return err_errno(e, errno, "write root");
		return 0;
	}
	if (!root)
		root = opts->out_dir;
	if (!root)
		return 0; /* file.write items fail with "no data root" */
	if (!opts->write_root) {
		r = mkdir_parents(root);
		if (r < 0)
			return err_errno(e, r, "write root %s", root);
	}
	p->write_rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (p->write_rootfd < 0)
		return err_errno(e, errno, "write root %s", root);
	return 0;
}

void iopolicy_stage_ctx(const struct iopolicy *p, const struct job_stage *js,
			struct iofunc_ctx *ctx)
{
	const struct job_io_policy *pol = &js->policy;

	if (pol->concurrency)
		ctx->concurrency = pol->concurrency;
	if (pol->has_retries)
		ctx->retries = pol->retries;
	if (pol->timeout_ms)
		ctx->total_timeout_ms = pol->timeout_ms;
	if (pol->backoff_ms)
		ctx->backoff_ms = pol->backoff_ms;
	ctx->allow_hosts = p->allow;
	ctx->n_allow_hosts = p->n_allow;
	if (js->io && !strcmp(js->io, "file.write")) {
		ctx->data_root_fd = p->write_rootfd;
		ctx->protect = p->protect;
		ctx->n_protect = p->n_protect;
	}
}

void iopolicy_done(struct iopolicy *p)
{
	free(p->allow);
	free(p->protect);
	p->write_rootfd = safe_close(p->write_rootfd);
	*p = (struct iopolicy){ .write_rootfd = -1 };
}
