/* SPDX-License-Identifier: MIT */
/* Loading a job's input sets into the store, and its functions' images. */
#ifndef PITH_ENGINE_INGEST_H
#define PITH_ENGINE_INGEST_H

#include "job/job.h"
#include "lib/err.h"
#include "lib/uring.h"
#include "sandbox/elf.h"
#include "store/store.h"

/*
 * One sealed set per job input: ret[i] for job->inputs[i], items named and
 * keyed as in the job. Inline items are copied in; file items are read on
 * `l` by the engine's own reader (iofuncs/loadfile.h), their paths as the
 * job's author wrote them (relative to dirfd, or absolute). And images[f],
 * the image of job->functions[f], for every function a stage runs: its
 * binary read the same way, at the same time. On failure nothing is stored in ret or images and `e` names the
 * item or function: "inputs.docs[0]: 'a.txt': no such file or directory",
 * "function count: 'bin/count': no such file or directory".
 */
int ingest_job(struct loop *l, int dirfd, const struct job *job,
	       struct set **ret, struct elf_image **images, struct err *e);

#endif
