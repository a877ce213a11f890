/* SPDX-License-Identifier: MIT */
/*
 * The I/O policy of a run: the settings each I/O stage gets from the job
 * ("concurrency", "retries", "timeout", "backoff"), the internal HTTP
 * destinations the job and the command line allow, the root file.write
 * writes beneath, and the job's own files, which file.write never replaces.
 */
#ifndef PITH_ENGINE_IOPOLICY_H
#define PITH_ENGINE_IOPOLICY_H

#include "engine/engine.h"
#include "iofuncs/iofuncs.h"

struct iopolicy {
	int write_rootfd;	/* -1: file.write has no root (fails) */
	const char **allow;	/* job's allow_hosts, then the command line's */
	size_t n_allow;
	struct iofunc_file_id *protect;
	size_t n_protect, cap_protect;
};

/* Everything above, for `job` run with `opts`; data_rootfd is the root of
 * file.read. The write root is created when missing (see engine_opts). */
int iopolicy_init(struct iopolicy *p, const struct job *job,
		  const struct engine_opts *opts, int job_dirfd,
		  int data_rootfd, struct err *e);
/* The settings of I/O stage `js`, on top of `ctx` (which it starts as). */
void iopolicy_stage_ctx(const struct iopolicy *p, const struct job_stage *js,
			struct iofunc_ctx *ctx);
void iopolicy_done(struct iopolicy *p);

#endif
