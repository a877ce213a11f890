/* SPDX-License-Identifier: MIT */
/*
 * The trusted I/O functions (file.read, file.write, http): what a job may
 * name in a stage's "io", their shape checks for the job validator, and
 * running one stage's items concurrently on the event loop.
 */
#ifndef PITH_IOFUNCS_IOFUNCS_H
#define PITH_IOFUNCS_IOFUNCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/uring.h"
#include "store/store.h"

struct iofunc;		/* one per I/O function, static */

/* A file by identity (st_dev, st_ino), as file.write's protected files. */
struct iofunc_file_id {
	uint64_t dev, ino;
};
struct iofunc_run;	/* one stage (or instance) being run */

/* Settings of a run. iofunc_ctx_init() fills the defaults below. */
struct iofunc_ctx {
	int data_root_fd;	/* directory fd (O_PATH ok) or AT_FDCWD:
				   file.* paths resolve beneath it; -1:
				   file.* fail */
	const char *label;	/* names memfds ("pith:<label>"), may be NULL */
	bool fsync;		/* file.write: fsync before rename (true) */
	unsigned concurrency;	/* http: requests in flight (64); file.*:
				   items in flight (256) when 0 */
	uint64_t connect_timeout_ms;	/* http: 5 s */
	uint64_t read_timeout_ms;	/* http: 10 s without a byte */
	uint64_t total_timeout_ms;	/* http: 30 s per request (attempt) */
	unsigned retries;	/* http: more attempts of an idempotent
				   request after a connection failure, a
				   reset or a 5xx (2) */
	uint64_t backoff_ms;	/* http: before the first retry, doubled
				   for each next one (100 ms) */
	/* http: internal destinations (loopback, private, link-local, this
	 * host's addresses) that may be reached, as "host[:port]"
	 * (lib/hostport.h); every other internal address is refused */
	const char *const *allow_hosts;
	size_t n_allow_hosts;
	/* file.write: files never replaced, whatever the item names (the
	 * job file, function binaries, job inputs) */
	const struct iofunc_file_id *protect;
	size_t n_protect;
	uint64_t max_header_bytes;	/* http: 64 KiB of status + headers */
	uint64_t max_body_bytes;	/* http: 64 MiB per body */
	const char *hosts_path;		/* http: "/etc/hosts" */
	/* Named in the I/O probes (lib/probe.h): the engine's job id and
	 * the job's I/O stage (PROBE_IO_OWN, the default, for a run outside
	 * a job; pith's own reads and writes are iofuncs/loadfile.c's and
	 * engine/output.c's). */
	uint64_t job;
	int stage;
	/*
	 * Streaming (the engine's stages), both optional. `item`: called
	 * from the loop for every item that succeeded, as soon as its outputs
	 * are sealed, in any order; iofunc_run_item_output() gives them for
	 * the callee to reference (set_add); they are not appended to
	 * `outputs` at the end, and the run drops its own references to them.
	 * `may_start`: asked before each item starts (the engine's prefetch
	 * window); false holds the items not started yet until
	 * iofunc_run_resume(). `item_failed`: called once for every item
	 * that failed, as it fails (possibly from inside the function's own
	 * start loop: it must not call back into the run), so that a window
	 * gets back the credit `may_start` gave the item; the function asks
	 * `may_start` again before its next item.
	 */
	void (*item)(struct iofunc_run *run, size_t i, void *data);
	bool (*may_start)(void *data);
	void (*item_failed)(struct iofunc_run *run, size_t i, void *data);
	void *stream_data;
	/* The input's items are indexed from *input_base (NULL: 0): the
	 * engine drops the entries of the prefix the run has finished
	 * (iofunc_run_finished_prefix()) while it runs; the run reads
	 * input item i only until item i is finished. */
	const size_t *input_base;
	/* The caller bounds how many of the items' outputs live at once
	 * (the engine's window, outputs released as they are consumed):
	 * each output of ARENA_ITEM_MIN bytes or more gets a buffer of its
	 * own, freed or recycled with its item (arena_own_items()). */
	bool item_buffers;
};

#define IOFUNC_HTTP_CONCURRENCY 64
#define IOFUNC_FILE_CONCURRENCY 256

void iofunc_ctx_init(struct iofunc_ctx *ctx);

/* NULL for an unknown name. Names: "file.read", "file.write", "http". */
const struct iofunc *iofunc_lookup(const char *name);
const char *iofunc_name(const struct iofunc *fn);

/*
 * The job validator's check (a job_io_check_fn): the function exists and
 * the stage has the inputs and outputs it needs.
 *   file.read:  1 input, 1 output (the files' bytes)
 *   file.write: 1 input, 0 outputs, or 1 output (the paths written)
 *   http:       1 input, 2 outputs: status (status line + headers), body;
 *               any names, in that order
 */
int iofuncs_check(const char *io, size_t n_inputs, char *const *outputs,
		  size_t n_outputs, struct err *e);

/* Called once per run, from a loop callback, when every item finished. */
typedef void (*iofunc_done_fn)(struct iofunc_run *run, void *data);

/*
 * Start `fn` on every item of `input`, concurrently, on `l`. `outputs` holds
 * as many sets as iofuncs_check() accepted (created by the caller), then a
 * NULL (file.write without outputs: just the NULL); when the
 * run is done, the outputs of successful items have been appended to them in
 * input order, items named and keyed like their input items, every buffer
 * sealed. `done` is always called later from the loop, never from inside
 * iofunc_start(). `input` and `outputs` must outlive the run.
 * Returns 0 or -errno (e.g. -ENOMEM), with nothing started.
 */
int iofunc_start(struct loop *l, const struct iofunc *fn,
		 const struct iofunc_ctx *ctx, const struct set *input,
		 struct set *const *outputs, iofunc_done_fn done, void *data,
		 struct iofunc_run **ret, struct err *e);

/* Output k of item i, in the `item` callback: its bytes (no reference of
 * its own: take one), and false when the item has no such output. */
bool iofunc_run_item_output(const struct iofunc_run *run, size_t i, size_t k,
			    struct buffer **ret_buf, uint64_t *ret_off,
			    uint64_t *ret_len);
/* Items [0, n) are all finished (failed, or succeeded and, streaming,
 * delivered): the run reads none of their inputs again. */
size_t iofunc_run_finished_prefix(struct iofunc_run *run);
/* `may_start` may say yes again: start the items held back. */
void iofunc_run_resume(struct iofunc_run *run);

/* Stop early (the job failed elsewhere): in-flight operations are
 * cancelled, temporary files removed; `done` still follows, with every
 * unfinished item failed with -ECANCELED. */
void iofunc_run_cancel(struct iofunc_run *run);

/* After done: items, failures, and the reason of item i ("http: connect
 * 127.0.0.1:9: connection refused"), NULL when it succeeded. */
size_t iofunc_run_n_items(const struct iofunc_run *run);
size_t iofunc_run_n_failed(const struct iofunc_run *run);
int iofunc_run_item_error(const struct iofunc_run *run, size_t i,
			  const char **ret_msg);
/* The same reason without the function's name ("'a.txt': no such file or
 * directory"), for callers that run an I/O function for their own ends. */
int iofunc_run_item_reason(const struct iofunc_run *run, size_t i,
			   const char **ret_msg);
uint64_t iofunc_run_bytes(const struct iofunc_run *run); /* bytes moved */

/* Any time after done (also from inside it). NULL-safe. */
struct iofunc_run *iofunc_run_free(struct iofunc_run *run);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct iofunc_run *, iofunc_run_free);

#endif
