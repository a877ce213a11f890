/* SPDX-License-Identifier: MIT */
/* Writing a job's output sets to DIR/<output>/<item name>, all or nothing. */
#ifndef PITH_ENGINE_OUTPUT_H
#define PITH_ENGINE_OUTPUT_H

#include "engine/engine.h"
#include "lib/uring.h"

/*
 * Write each output set of `rep` to dir/<output>/<item name> on `l`: every
 * set complete (files and directory fsynced) under .<output>.tmp-PID first,
 * then each renamed into place and the previous run's removed. On failure
 * no temporary directory is left and the previous results stay; `e` says
 * why ("out: output result: two items named 'x'; give items distinct
 * names").
 */
int output_write(struct loop *l, const struct engine_report *rep,
		 const char *dir, struct err *e);

#endif
