/* SPDX-License-Identifier: MIT */
/* Loading a job's input sets into the store. */
#ifndef PITH_ENGINE_INGEST_H
#define PITH_ENGINE_INGEST_H

#include "job/job.h"
#include "lib/err.h"
#include "store/store.h"

/* One sealed buffer per item; file paths resolve against dirfd. */
int ingest_input(int dirfd, const struct job_input *in, struct set **ret,
		 struct err *e);

#endif
