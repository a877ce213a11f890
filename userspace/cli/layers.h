/* SPDX-License-Identifier: MIT */
/* The sandbox layers a host provides, as `pith doctor` lists them, and the
 * policy `--require LAYER` sets on them. */
#ifndef PITH_CLI_LAYERS_H
#define PITH_CLI_LAYERS_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/cli.h"
#include "job/job.h"
#include "lib/err.h"
#include "sandbox/sandbox.h"

#define LAYERS_MAX 32

struct layers {
	struct sandbox_layer l[LAYERS_MAX];
	bool required[LAYERS_MAX];
	size_t n;
};

/* The sandbox's layers, and with io the I/O loop and the store after them. */
void layers_collect(const struct sandbox *sb, bool io, struct layers *ret);
/* Mark the layers named by --require and by the job's "require" (job may
 * be NULL; "all": every one). -EINVAL with a message for a name no layer
 * has. */
int layers_mark_required(const struct cli *c, const struct job *job,
			 struct layers *ls, struct err *e);
/* Whether every required layer is active; else a message naming them. */
int layers_missing_required(const struct layers *ls, struct err *e);
/*
 * Before a run: refuse with EXIT_FAILED when a required layer is missing
 * (EXIT_USAGE for an unknown name), else say once and briefly which layers
 * are unavailable (each with its reason under -v; nothing under -q).
 * Returns 0 or the exit status, the error printed.
 */
int layers_enforce(const struct cli *c, const struct job *job,
		   const struct sandbox *sb, struct err *e);

#endif
