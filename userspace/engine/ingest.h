/* SPDX-License-Identifier: MIT */
/* Loading a job's input sets into the store. */
#ifndef PITH_ENGINE_INGEST_H
#define PITH_ENGINE_INGEST_H

#include "job/job.h"
#include "lib/err.h"
#include "lib/uring.h"
#include "store/store.h"

/*
 * One sealed set per job input: ret[i] for job->inputs[i], items named and
 * keyed as in the job. Inline items are copied in; file items are read by
 * file.read on `l`, their paths as the job's author wrote them (relative to
 * dirfd, or absolute). On failure nothing is stored in ret and `e` names the
 * item: "inputs.docs[0]: 'a.txt': no such file or directory".
 */
int ingest_inputs(struct loop *l, int dirfd, const struct job *job,
		  struct set **ret, struct err *e);

#endif
