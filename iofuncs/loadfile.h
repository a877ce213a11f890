/* SPDX-License-Identifier: MIT */
/*
 * pith's own reads of whole files whose paths it trusts (a job's input
 * files and function binaries as the job's author wrote them, the
 * operator's hosts file): openat, statx and read on the io_uring loop,
 * straight into sealed store buffers, a bounded number of files at once.
 * Not an I/O function: nothing here confines a path beneath a root, so a
 * job's I/O stages never come here (file.read does that).
 */
#ifndef PITH_IOFUNCS_LOADFILE_H
#define PITH_IOFUNCS_LOADFILE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/uring.h"
#include "store/store.h"

#define LOADFILE_IN_FLIGHT 64 /* files open at once: at most 64 descriptors */

struct loadfile_opts {
	int dirfd;		/* relative paths start here (or AT_FDCWD);
				   absolute ones, '..' and symlinks are
				   followed as written */
	uint64_t max_bytes;	/* a larger file fails unread (0: no limit) */
	unsigned in_flight;	/* files open at once (0: LOADFILE_IN_FLIGHT) */
	const char *label;	/* names the memfds ("pith:<label>") */
	int probe_stage;	/* PROBE_IO_INPUTS, _BINARIES, _HOSTS */
};

struct loadfile;

/* Called once, from a loop callback, never from inside loadfile_start(). */
typedef void (*loadfile_done_fn)(struct loadfile *lf, void *data);

/*
 * Read paths[0..n) on `l`, in that order, at most o->in_flight at a time.
 * A failed file stops the batch: the files not started yet are not read,
 * the ones in flight finish, so the failure loadfile_error() reports is
 * the first in path order, whatever the completion order. A path listed
 * again (the same string) is opened and read once, at its first index:
 * every index of it gets the same bytes. `paths` must outlive the batch.
 * Returns 0 or -errno (nothing started).
 */
int loadfile_start(struct loop *l, const struct loadfile_opts *o,
		   const char *const *paths, size_t n, loadfile_done_fn done,
		   void *data, struct loadfile **ret, struct err *e);

/* Stop early: in-flight operations are cancelled; `done` still follows. */
void loadfile_cancel(struct loadfile *lf);

/*
 * After done: 0 when every file was read; else -errno, the index of the
 * first failed file and its reason, the path quoted as the callers'
 * messages show it: "'a.txt': no such file or directory", "'bin/f': file
 * too large: 314572800 bytes, the limit is 268435456". A cancelled batch
 * fails with -ECANCELED ("cancelled") at the first file not read.
 */
int loadfile_error(const struct loadfile *lf, size_t *ret_i,
		   const char **ret_msg);

/* After done without an error: file i's bytes, in a sealed buffer (no
 * reference of its own: set_add() takes one). */
void loadfile_file(const struct loadfile *lf, size_t i, struct buffer **ret_buf,
		   uint64_t *ret_off, uint64_t *ret_len);
uint64_t loadfile_bytes(const struct loadfile *lf); /* bytes read */

/* Once done (or never started); items keep their references. NULL-safe. */
struct loadfile *loadfile_free(struct loadfile *lf);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct loadfile *, loadfile_free);

#endif
