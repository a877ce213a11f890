/* SPDX-License-Identifier: MIT */
/* t_* helpers for tests that run programs and handle files and paths. */
#ifndef PITH_TESTS_HARNESS_HELPERS_H
#define PITH_TESTS_HARNESS_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Run argv (argv[0] is looked up in PATH unless it holds a '/') with stdin
 * from /dev/null, and wait for it. Its stdout and stderr are captured into
 * malloc'd NUL-terminated strings; pass NULL for either to inherit ours.
 * ret_status gets the raw wait status (see t_exit_code()). Returns 0, or
 * -errno when the program could not be started (exec failure included).
 */
int t_run(char *const argv[], char **ret_out, char **ret_err, int *ret_status);
/* The same with `len` bytes of `in` fed to stdin, and `envp` (NULL: ours). */
int t_run_full(char *const argv[], char *const envp[], const void *in,
	       size_t len, char **ret_out, char **ret_err, int *ret_status);
/* Exit code of a wait status, or 128 + signal number like a shell. */
int t_exit_code(int status);

/* A new empty directory under $TMPDIR (or /tmp); malloc'd path or NULL. */
char *t_tmpdir(void);
/* Remove a file or directory tree without following symlinks. 0/-errno. */
int t_rm_rf(const char *path);
/* Whole file as a malloc'd NUL-terminated string (ret_len may be NULL);
 * NULL with errno set on failure. */
char *t_read_file(const char *path, size_t *ret_len);
/* Create or truncate path with mode 0644 and write data. 0/-errno. */
int t_write_file(const char *path, const void *data, size_t len);
/*
 * Every failure says why: true when r >= 0 or msg (a struct err's msg) is
 * not empty; otherwise prints a TAP comment naming r and returns false.
 *   r = job_parse_file(path, &o, &j, &e);
 *   EXPECT_TRUE(t_err_filled(r, e.msg));
 */
bool t_err_filled(int r, const char *msg);
/* asprintf() that returns the string (NULL on out-of-memory). */
char *t_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Absolute path of the repository (the directory holding VERSION and
 * Makefile above the test binary), or the working directory. */
const char *t_repo_root(void);
/* $B (relative to the repo root unless absolute) or <repo>/build. */
const char *t_build_dir(void);
/* $PITH_SHARED, else t_shared_dir_of(t_repo_root()): design notes, seeds,
 * test data. */
const char *t_shared_dir(void);
/* <root>/../shared when it is a directory (a checkout or a fresh clone
 * with shared/ beside it, as CI has); else, in a git worktree, the one
 * beside its main checkout when that is a directory; else <root>/../shared
 * (missing: the caller's skip names it). Malloc'd. */
char *t_shared_dir_of(const char *root);

/* Whether all `len` bytes at p are `c`. */
bool t_all_bytes(const void *p, size_t len, int c);
/* This process's descriptors below max_fd whose /proc/self/fd link starts
 * with `prefix` (all of them when ret_all is given, in *ret_all). */
long t_fds_linked(const char *prefix, int max_fd, long *ret_all);
/* Bytes of the heap this process's main arena and large blocks hold in
 * use (mallinfo2()): what an allocation costs, headers included. */
size_t t_heap_used(void);

#endif
