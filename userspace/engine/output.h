/* SPDX-License-Identifier: MIT */
/* Writing a job's output sets to DIR/<output>/<item name>, all or nothing,
 * item by item as they are made. */
#ifndef PITH_ENGINE_OUTPUT_H
#define PITH_ENGINE_OUTPUT_H

#include "lib/err.h"
#include "lib/uring.h"
#include "store/store.h"

struct output_writer;

/* An item given to output_put() is on disk (or failed: the writer's error
 * says why); the writer holds no reference to its buffer any more. */
typedef void (*output_written_fn)(void *data, void *owner, uint64_t tag);

/*
 * Make DIR and its missing parents and, for each output name, an empty
 * temporary directory DIR/.<name>.tmp-PID, on `l`.
 */
int output_begin(struct loop *l, const char *dir, const char *const *names,
		 size_t n, output_written_fn written, void *data,
		 struct output_writer **ret, struct err *e);
/* Write `it` to the temporary directory of output k as <item name>
 * (created new, written, closed on the loop; at most 32 files at once),
 * then call written(data, owner, tag). The item's name must live until
 * then. */
int output_put(struct output_writer *w, size_t k, const struct item *it,
	       void *owner, uint64_t tag);
/* Items given and not written yet (0 for NULL). */
size_t output_backlog(const struct output_writer *w);
/*
 * Wait for every write, then move each output into place: every set
 * complete and on disk (up to 16 files: they and the directories fsynced
 * together; past 16, one syncfs), each swapped with the previous run's
 * DIR/<name> in one renameat2(RENAME_EXCHANGE) (renamed there when there
 * is none), the previous run's removed. On failure the previous results stay; `e` says
 * why ("out: output result: two items named 'x'; give items distinct
 * names").
 */
int output_commit(struct output_writer *w, const char *dir, struct err *e);
/* Free; unless committed, no temporary and no directory it made is left. */
struct output_writer *output_free(struct output_writer *w);

#endif
