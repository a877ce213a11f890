/* SPDX-License-Identifier: MIT */
/* Human and JSON summaries of a job run (JSON: Documentation/json-output.md). */
#ifndef PITH_CLI_SUMMARY_H
#define PITH_CLI_SUMMARY_H

#include <stdio.h>

#include <jansson.h>

#include "engine/engine.h"
#include "job/job.h"

/* Why a command did not run the job to the end. */
struct summary_error {
	/* "invalid", "refused", "failed", "interrupted"; or "valid" for a
	 * `pith check` that passed (then nothing else is set) */
	const char *status;
	const char *message;	    /* the line printed on stderr */
	const char *file;	    /* invalid job: the job file */
	const struct job_error *at; /* invalid job: where in it */
	int signal;		    /* interrupted: by which signal */
};

void summary_print_human(FILE *f, const struct job *job,
			 const struct engine_report *rep, const char *out_dir);
/*
 * One JSON object for `pith <command> --json`. rep is NULL when the job did
 * not run; err is NULL when nothing went wrong outside the job's own stages.
 */
int summary_print_json(FILE *f, const char *command, const struct job *job,
		       const struct engine_report *rep, const char *out_dir,
		       const struct summary_error *err);
/* A document's first members: {"version": 1, "command": command}. */
json_t *summary_new(const char *command);
/* {"message": ..., "file": ..., "line": ...} */
json_t *summary_error_json(const struct summary_error *err);
/* Print a document (and give the suite its copy); -EIO. */
int summary_emit(FILE *f, const json_t *root);
/*
 * What an SDK exit status (PITH_EXIT_* in <pith/fn.h>) means, as
 * "PITH_EXIT_NOMEM: ..."; NULL for a function's own status.
 */
const char *summary_sdk_exit(int status, const char **ret_name);
/* The first failed instance's meaning of its SDK exit, or NULL. */
const char *summary_first_failure_hint(const struct engine_report *rep);

#endif
