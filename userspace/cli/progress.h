/* SPDX-License-Identifier: MIT */
/* The one redrawn progress line of `pith run` on a terminal. */
#ifndef PITH_CLI_PROGRESS_H
#define PITH_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/cli.h"
#include "engine/engine.h"

struct progress {
	FILE *f;	    /* NULL: off */
	uint64_t t0, drawn; /* start, last redraw (CLOCK_MONOTONIC ns) */
	bool shown;	    /* a line is on the terminal */
};

/* On only when stderr is a terminal (not "dumb") and without -q. */
void progress_init(struct progress *p, const struct cli *c);
/* engine_opts.progress: redraws at most every 100 ms. */
void progress_update(void *data, const struct engine_progress *ep);
/* Erase the line before anything else is printed. */
void progress_clear(struct progress *p);
/* The line itself, for tests and the redraw: "stage NAME  i/n instances
 * (s/S stages)  BYTES  RATE/s  ETA m:ss". */
void progress_format(char *buf, size_t size, const struct engine_progress *ep,
		     uint64_t elapsed_ns);

#endif
