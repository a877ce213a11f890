/* SPDX-License-Identifier: MIT */
/*
 * The Chrome trace-event recorder behind `pith run --trace FILE`: while it
 * is on, the probes of lib/probe.h also write their events to FILE in the
 * trace-event JSON format (Perfetto, chrome://tracing). Instances become
 * slices on one track per worker slot (at most -j at once, one per online
 * CPU by default), I/O items async slices, stages async spans, and the
 * buffers alive and their bytes counters. Documentation/tracing.md.
 *
 * Call the trace_* hooks only through the probe macros. The recorder is
 * process-wide; its hooks lock, so any thread may fire a probe.
 */
#ifndef PITH_LIB_TRACE_H
#define PITH_LIB_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

/* True between trace_open() and trace_close(). */
extern bool trace_on;

/* Start recording into `path` (created or truncated, mode 0644). */
int trace_open(const char *path, struct err *e);
/* Stop recording, finish the file and close it; -errno if any write
 * failed (the file is then incomplete). A no-op when not recording. */
int trace_close(struct err *e);

enum trace_inst_event {
	TRACE_INST_QUEUED,
	TRACE_INST_SPAWNED,
};

/* Hooks of the probe macros (lib/probe.h). */
void trace_job(uint64_t job, const char *name, bool start, int status);
void trace_stage(uint64_t job, uint32_t stage, const char *name,
		 const char *function, bool start, int status,
		 uint64_t items_out, uint64_t bytes_out);
void trace_inst(enum trace_inst_event ev, uint64_t job, uint32_t stage,
		uint64_t instance, const char *function, int pid, int warm);
enum trace_io_event {
	TRACE_IO_RUN,
	TRACE_IO_ITEM_START,
	TRACE_IO_ITEM_END,
	TRACE_IO_DONE,
};
struct probe_inst;
void trace_inst_done(const struct probe_inst *info);
void trace_io(enum trace_io_event ev, const void *run, const char *function,
	      uint64_t job, int stage, uint64_t index, int err, uint64_t bytes);
void trace_buffer(int d_buffers, int64_t d_bytes);

#endif
