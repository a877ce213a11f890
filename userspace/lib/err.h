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
 * Every failure path fills the message: a -errno with an empty message is a
 * bug (tests check with t_err_filled()).
 *
 * Messages longer than ERR_MAX - 1 bytes are cut and end in "..." so that a
 * cut is visible, never silent.
 */
struct err {
	char msg[ERR_MAX];
};

/* Format e->msg and return -errnum (errnum > 0). */
int err_set(struct err *e, int errnum, const char *fmt, ...) _printf_(3, 4);
/*
 * "<what>: <strerror(errnum)>" for a failed call, returns -errnum:
 *   return err_errno(e, -r, "cannot map %s", name);
 * errnum may be given either way round (errno or a -errno return).
 */
int err_errno(struct err *e, int errnum, const char *fmt, ...) _printf_(3, 4);
/* Prepend "prefix: " to e->msg (strerror(-r) when e->msg is empty);
 * returns r unchanged. */
int err_prefix(struct err *e, int r, const char *fmt, ...) _printf_(3, 4);
/* Append text to e->msg (cut visibly when it does not fit). */
void err_append(struct err *e, const char *fmt, ...) _printf_(2, 3);
/* Copy a message (e.g. a reason into a report field of `size` bytes),
 * cut visibly when it does not fit. */
void err_copy(char *dst, size_t size, const char *msg);

#endif
