/* SPDX-License-Identifier: MIT */
/* Error messages that travel with -errno returns up to where they are shown. */
#ifndef PITH_LIB_ERR_H
#define PITH_LIB_ERR_H

#include "lib/macro.h"

#define ERR_MAX 512

/*
 * Library layers never print. A function that can fail for a reason the user
 * must see takes a `struct err *` (may be NULL) and fills it with one line
 * without a trailing newline, e.g. "stages[1].inputs.counts.from: no stage
 * named 'cuont'". The caller adds its own prefix where it handles the error.
 */
struct err {
	char msg[ERR_MAX];
};

/* Format e->msg and return -errnum (errnum > 0). */
int err_set(struct err *e, int errnum, const char *fmt, ...) _printf_(3, 4);
/* Prepend "prefix: " to e->msg; returns r unchanged. */
int err_prefix(struct err *e, int r, const char *fmt, ...) _printf_(3, 4);

#endif
