/* SPDX-License-Identifier: MIT */
/* Human and JSON summaries of a job run. */
#ifndef PITH_CLI_SUMMARY_H
#define PITH_CLI_SUMMARY_H

#include <stdio.h>

#include "engine/engine.h"
#include "job/job.h"

void summary_print_human(FILE *f, const struct job *job,
			 const struct engine_report *rep, const char *out_dir);
/* One JSON object; `error` is set when the job could not run at all. */
int summary_print_json(FILE *f, const struct job *job,
		       const struct engine_report *rep, const char *out_dir,
		       const char *error);

#endif
