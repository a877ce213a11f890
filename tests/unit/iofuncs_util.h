/* SPDX-License-Identifier: MIT */
/* t_* helpers for the I/O function tests: input sets, running one stage. */
#ifndef PITH_TESTS_UNIT_IOFUNCS_UTIL_H
#define PITH_TESTS_UNIT_IOFUNCS_UTIL_H

#include <sys/types.h>

#include "iofuncs/iofuncs.h"

/* set_add_copy() of a string, unkeyed. 0/-errno. */
int t_set_add_str(struct set *s, const char *name, const char *str);

/* A finished run of one I/O function. */
struct t_io {
	struct loop *loop;
	struct iofunc_run *run;
	struct set *out[2];
	size_t n_out;
	bool done;
	uint64_t elapsed_ms;
};

/* Run `fn` on `input` to completion on a fresh loop; n_out output sets
 * named "out0", "out1". 0 or -errno when it could not start. */
int t_io_run(const char *fn, const struct iofunc_ctx *ctx,
	     const struct set *input, size_t n_out, struct t_io *ret);
/* Cancel the run after `after_ms` of running. */
int t_io_run_cancel_after(const char *fn, const struct iofunc_ctx *ctx,
			  const struct set *input, size_t n_out,
			  uint64_t after_ms, struct t_io *ret);
void t_io_done(struct t_io *t);
/* The error message of item i, "" when it succeeded. */
const char *t_io_error(const struct t_io *t, size_t i);
/* Item i of output k as a NUL-terminated malloc'd copy (NULL: none). */
char *t_io_out_str(const struct t_io *t, size_t k, size_t i, size_t *ret_len);


/* Test servers (tests/servers/). A private nginx serving DIR/html. */
int t_nginx_start(const char *dir, unsigned *ret_port);
void t_nginx_stop(const char *dir);
/* tests/servers/hostile.py on a free port; its pid for t_hostile_stop(). */
int t_hostile_start(pid_t *ret_pid, unsigned *ret_port);
void t_hostile_stop(pid_t pid);
/* Peak RSS of this process in KiB. */
long t_maxrss_kib(void);

#endif
