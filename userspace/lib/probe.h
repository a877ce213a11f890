/* SPDX-License-Identifier: MIT */
/*
 * Every USDT probe of pith (provider "pith"), one macro each, so a probe
 * site is one line and a probe's name and argument list are defined here
 * only. Documentation/tracing.md has the table; tools/trace/ reads them.
 *
 * A probe is a NOP plus an ELF note until perf, bpftrace or libbpf attaches
 * a uprobe to it. Its arguments are evaluated anyway, so pass values at
 * hand, never a call that does work. The same macro also feeds the Chrome
 * trace recorder (lib/trace.h) when `pith run --trace FILE` switched it on;
 * otherwise that costs one predicted branch on a global.
 *
 *   bpftrace -e 'usdt:build/pith:pith:inst_exited { @[arg4] = count(); }'
 *   perf buildid-cache --add build/pith && perf record -e 'sdt_pith:*' ...
 *
 * At most six arguments each: bpftrace reads arg0..arg5 on x86_64.
 * Integer arguments are 64-bit unless noted; strings are `const char *`
 * valid for the duration of the probe. `job` is the engine's job id (a
 * process-wide sequence number from 1; pithd's jobs get their own).
 * `stage` is the stage's index in the job file.
 */
#ifndef PITH_LIB_PROBE_H
#define PITH_LIB_PROBE_H

#include <stdint.h>
/* Arguments in registers, never immediates: perf drops an immediate
 * argument ("-4@$0"), and a probe whose sites then differ in their
 * argument lists cannot become one perf event. */
#define STAP_SDT_ARG_CONSTRAINT r
#include <sys/sdt.h>

#ifdef PITH_NO_PROBES
/* Benchmarks only (tools/trace/overhead_bench.sh): the baseline binary
 * without any probe. Arguments are named, not evaluated. */
#undef STAP_PROBE1
#undef STAP_PROBE2
#undef STAP_PROBE3
#undef STAP_PROBE4
#undef STAP_PROBE5
#undef STAP_PROBE6
#define PROBE_NONE_(x) ((void)sizeof(x))
#define STAP_PROBE1(p, n, a) PROBE_NONE_(a)
#define STAP_PROBE2(p, n, a, b) (PROBE_NONE_(a), PROBE_NONE_(b))
#define STAP_PROBE3(p, n, a, b, c) (STAP_PROBE2(p, n, a, b), PROBE_NONE_(c))
#define STAP_PROBE4(p, n, a, b, c, d)                                     \
	(STAP_PROBE3(p, n, a, b, c), PROBE_NONE_(d))
#define STAP_PROBE5(p, n, a, b, c, d, e)                                  \
	(STAP_PROBE4(p, n, a, b, c, d), PROBE_NONE_(e))
#define STAP_PROBE6(p, n, a, b, c, d, e, f)                               \
	(STAP_PROBE5(p, n, a, b, c, d, e), PROBE_NONE_(f))
#endif

#include "lib/trace.h"

/* `status` of job_end, stage_end and inst_exited. Negative: -errno of an
 * infrastructure error (job_end only). */
enum probe_status {
	PROBE_OK = 0,
	PROBE_FAILED = 1,
	PROBE_CANCELLED = 2, /* killed or never run because the job failed */
};

/* `reason` of inst_exited: why an instance ended. Stable numbers. */
enum probe_reason {
	PROBE_REASON_OK = 0,
	PROBE_REASON_EXIT = 1,	   /* exited with a non-zero status */
	PROBE_REASON_SIGNAL = 2,   /* crashed (segfault, ...) or killed */
	PROBE_REASON_TIMEOUT = 3,  /* past its deadline, or CPU limit */
	PROBE_REASON_SECCOMP = 4,  /* forbidden syscall, seen by seccomp */
	PROBE_REASON_GUARD = 5,	   /* killed or denied by the eBPF guard */
	PROBE_REASON_OUTPUT = 6,   /* exited 0 with invalid outputs */
	PROBE_REASON_SETUP = 7,	   /* the sandbox failed before the function ran */
	PROBE_REASON_CANCELLED = 8, /* killed because the job failed elsewhere */
	PROBE_REASON_SPAWN = 9,	   /* could not be spawned at all */
};

/* `backend` of the buffer probes. */
enum probe_backend {
	PROBE_BACKEND_MEMFD = 0,  /* sealed memfd */
	PROBE_BACKEND_XFER = 1,	  /* /dev/pith_xfer */
	PROBE_BACKEND_POOLED = 2, /* recycled I/O buffer (store/pool.c) */
};

/* The backend of a struct buffer (store/store.h), at a probe site. */
#define PROBE_BACKEND_OF(b)                                               \
	((b)->xfer ? PROBE_BACKEND_XFER :                                 \
	 (b)->pooled ? PROBE_BACKEND_POOLED : PROBE_BACKEND_MEMFD)

/* `stage` of the I/O probes: a job's I/O stage (>= 0), or pith's own I/O. */
#define PROBE_IO_OWN (-1)      /* pith's own, of no kind below */
#define PROBE_IO_INPUTS (-2)   /* reading the job's input files */
#define PROBE_IO_BINARIES (-3) /* reading the function binaries */
#define PROBE_IO_HOSTS (-4)    /* http reading /etc/hosts */
#define PROBE_IO_OUTPUTS (-5)  /* writing the job's outputs (-o DIR) */

#ifdef PITH_NO_PROBES
#define PROBE_TRACE_(fn, ...) ((void)0)
#else
#define PROBE_TRACE_(fn, ...)                                             \
	do {                                                              \
		if (__builtin_expect(trace_on, 0))                        \
			fn(__VA_ARGS__);                                  \
	} while (0)
#endif

/* --- jobs and stages ---------------------------------------------------- */

/* job_start(job, name, n_stages) */
#define PROBE_JOB_START(job, name, n_stages)                               \
	do {                                                               \
		STAP_PROBE3(pith, job_start, (uint64_t)(job),              \
			    (const char *)(name), (uint64_t)(n_stages));   \
		PROBE_TRACE_(trace_job, (job), (name), true, 0);           \
	} while (0)

/* job_end(job, name, status, elapsed_ns) */
#define PROBE_JOB_END(job, name, status, elapsed_ns)                       \
	do {                                                               \
		STAP_PROBE4(pith, job_end, (uint64_t)(job),                \
			    (const char *)(name), (int)(status),           \
			    (uint64_t)(elapsed_ns));                       \
		PROBE_TRACE_(trace_job, (job), (name), false, (status));   \
	} while (0)

/* stage_start(job, stage, name, function, io, n_instances): n_instances
 * of an I/O stage; 0 for a compute stage, whose count is known only once
 * its inputs are complete. */
#define PROBE_STAGE_START(job, stage, name, function, io, n_instances)     \
	do {                                                               \
		STAP_PROBE6(pith, stage_start, (uint64_t)(job),            \
			    (uint32_t)(stage), (const char *)(name),       \
			    (const char *)(function), (int)(io),           \
			    (uint64_t)(n_instances));                      \
		PROBE_TRACE_(trace_stage, (job), (stage), (name),          \
			     (function), true, 0, 0, 0);                   \
	} while (0)

/* stage_end(job, stage, name, status, items_out, bytes_out) */
#define PROBE_STAGE_END(job, stage, name, status, items_out, bytes_out)    \
	do {                                                               \
		STAP_PROBE6(pith, stage_end, (uint64_t)(job),              \
			    (uint32_t)(stage), (const char *)(name),       \
			    (int)(status), (uint64_t)(items_out),          \
			    (uint64_t)(bytes_out));                        \
		PROBE_TRACE_(trace_stage, (job), (stage), (name), NULL,    \
			     false, (status), (items_out), (bytes_out));   \
	} while (0)

/* --- compute instances --------------------------------------------------- */

/* inst_queued(job, stage, instance, function): ready to run, waiting for a
 * worker slot. */
#define PROBE_INST_QUEUED(job, stage, instance, function)                  \
	do {                                                               \
		STAP_PROBE4(pith, inst_queued, (uint64_t)(job),            \
			    (uint32_t)(stage), (uint64_t)(instance),       \
			    (const char *)(function));                     \
		PROBE_TRACE_(trace_inst, TRACE_INST_QUEUED, (job),         \
			     (stage), (instance), (function), 0, 0);       \
	} while (0)

/* inst_spawned(job, stage, instance, function, pid, warm): sandbox_spawn()
 * returned; warm is 1 when a warm worker was reused. */
#define PROBE_INST_SPAWNED(job, stage, instance, function, pid, warm)      \
	do {                                                               \
		STAP_PROBE6(pith, inst_spawned, (uint64_t)(job),           \
			    (uint32_t)(stage), (uint64_t)(instance),       \
			    (const char *)(function), (int)(pid),          \
			    (int)(warm));                                  \
		PROBE_TRACE_(trace_inst, TRACE_INST_SPAWNED, (job),        \
			     (stage), (instance), (function), (pid),       \
			     (warm));                                      \
	} while (0)

/* inst_started(pid, stage, instance, function, start_ns, spawn_ns): the
 * worker reached the function's first instruction at CLOCK_MONOTONIC
 * start_ns (its own clock reading; the probe fires when pith learns it,
 * possibly only at the exit), spawn_ns after sandbox_spawn() began. Keyed
 * by pid: the sandbox does not know the job. */
#define PROBE_INST_STARTED(pid, stage, instance, function, start_ns,       \
			   spawn_ns)                                       \
	do {                                                               \
		STAP_PROBE6(pith, inst_started, (int)(pid),                \
			    (uint32_t)(stage), (uint64_t)(instance),       \
			    (const char *)(function), (uint64_t)(start_ns),\
			    (uint64_t)(spawn_ns));                         \
	} while (0)

/* inst_exited(job, stage, instance, status, reason, run_ns): the instance
 * is collected (or cancelled, or could not be spawned). reason: enum
 * probe_reason; run_ns: from its first instruction until pith reaped it (0
 * if it never started). The forbidden syscall is in inst_failed. */
#define PROBE_INST_EXITED(job, stage, instance, status, reason, run_ns)    \
	do {                                                               \
		STAP_PROBE6(pith, inst_exited, (uint64_t)(job),            \
			    (uint32_t)(stage), (uint64_t)(instance),       \
			    (int)(status), (int)(reason),                  \
			    (uint64_t)(run_ns));                           \
	} while (0)

/* inst_bytes(job, stage, instance, bytes_in, bytes_out): the bytes of the
 * items a collected instance was given and produced; just before its
 * inst_exited. */
#define PROBE_INST_BYTES(job, stage, instance, bytes_in, bytes_out)        \
	STAP_PROBE5(pith, inst_bytes, (uint64_t)(job), (uint32_t)(stage),  \
		    (uint64_t)(instance), (uint64_t)(bytes_in),            \
		    (uint64_t)(bytes_out))

/* inst_failed(job, stage, instance, function, reason_text, syscall): fires
 * just before inst_exited for a failed instance, with the text the job's
 * error shows ("killed: forbidden syscall openat (257)"). */
#define PROBE_INST_FAILED(job, stage, instance, function, text, syscall)   \
	do {                                                               \
		STAP_PROBE6(pith, inst_failed, (uint64_t)(job),            \
			    (uint32_t)(stage), (uint64_t)(instance),       \
			    (const char *)(function), (const char *)(text),\
			    (long)(syscall));                              \
	} while (0)

/* inst_done(info): all of inst_failed, inst_bytes and inst_exited in one
 * probe, for tools that want one uprobe hit per instance (pith-top): a
 * pointer to this struct, valid during the probe. Fields are only ever
 * appended. */
struct probe_inst {
	uint64_t job;
	uint64_t instance;
	uint32_t stage;
	int32_t status;	   /* enum probe_status */
	int32_t reason;	   /* enum probe_reason */
	int32_t pid;	   /* the worker; 0 if none was spawned */
	int64_t syscall;   /* the forbidden syscall, or -1 */
	uint64_t start_ns; /* CLOCK_MONOTONIC when sandbox_spawn() began */
	uint64_t spawn_ns; /* from there to the first instruction */
	uint64_t run_ns;   /* from there until pith reaped the worker */
	uint64_t bytes_in, bytes_out; /* of a collected instance */
	uint32_t warm;	   /* it ran on a reused warm worker */
	uint32_t pad;
	const char *function;
	const char *text;  /* a failed instance's reason, else NULL */
};

#define PROBE_INST_DONE(info)                                              \
	do {                                                               \
		STAP_PROBE1(pith, inst_done,                               \
			    (const struct probe_inst *)(info));            \
		PROBE_TRACE_(trace_inst_done, (info));                     \
	} while (0)

/* warm_reset(pid, function, reset_ns, ok): a warm worker was reset for its
 * next instance (ok 1) or ended because the reset failed (ok 0). */
#define PROBE_WARM_RESET(pid, function, reset_ns, ok)                      \
	STAP_PROBE4(pith, warm_reset, (int)(pid), (const char *)(function),\
		    (uint64_t)(reset_ns), (int)(ok))

/* guard_kill(pid, syscall, layer, function): a worker was killed (or
 * denied) for a syscall; layer 0 seccomp, 1 the eBPF guard. */
#define PROBE_GUARD_KILL(pid, syscall, layer, function)                    \
	STAP_PROBE4(pith, guard_kill, (int)(pid), (long)(syscall),         \
		    (int)(layer), (const char *)(function))

/* --- buffers -------------------------------------------------------------- */

/* buffer_alloc(buffer, bytes, backend): a buffer of `bytes` capacity. */
#define PROBE_BUFFER_ALLOC(buf, bytes, backend)                            \
	do {                                                               \
		STAP_PROBE3(pith, buffer_alloc, (const void *)(buf),       \
			    (uint64_t)(bytes), (int)(backend));            \
		PROBE_TRACE_(trace_buffer, 1, (int64_t)(bytes));                    \
	} while (0)

/* buffer_seal(buffer, bytes, backend): made immutable with `bytes` of data. */
#define PROBE_BUFFER_SEAL(buf, bytes, backend)                             \
	STAP_PROBE3(pith, buffer_seal, (const void *)(buf),                \
		    (uint64_t)(bytes), (int)(backend))

/* buffer_map(buffer, bytes, backend): `bytes` of it mapped into an
 * instance (zero-copy hand-over). */
#define PROBE_BUFFER_MAP(buf, bytes, backend)                              \
	STAP_PROBE3(pith, buffer_map, (const void *)(buf),                 \
		    (uint64_t)(bytes), (int)(backend))

/* buffer_copy(buffer, bytes): `bytes` of it copied into an instance's
 * input area instead (small items). */
#define PROBE_BUFFER_COPY(buf, bytes)                                      \
	STAP_PROBE2(pith, buffer_copy, (const void *)(buf), (uint64_t)(bytes))

/* buffer_resize(buffer, old_bytes, new_bytes): a writable buffer was cut
 * to the bytes its writer produced. */
#define PROBE_BUFFER_RESIZE(buf, old_bytes, new_bytes)                     \
	do {                                                               \
		STAP_PROBE3(pith, buffer_resize, (const void *)(buf),      \
			    (uint64_t)(old_bytes), (uint64_t)(new_bytes)); \
		PROBE_TRACE_(trace_buffer, 0,                              \
			     (int64_t)(new_bytes) - (int64_t)(old_bytes)); \
	} while (0)

/* buffer_release(buffer, bytes, backend): the last reference went; the
 * buffer is freed or back in the pool. */
#define PROBE_BUFFER_RELEASE(buf, bytes, backend)                          \
	do {                                                               \
		STAP_PROBE3(pith, buffer_release, (const void *)(buf),     \
			    (uint64_t)(bytes), (int)(backend));            \
		PROBE_TRACE_(trace_buffer, -1, -(int64_t)(bytes));                   \
	} while (0)

/* --- I/O functions ------------------------------------------------------- */
/* `run` identifies one run of an I/O function (one stage, or one of pith's
 * own reads); `stage` is PROBE_IO_* above for pith's own I/O. */

/* io_start(run, function, n_items, job, stage) */
#define PROBE_IO_START(run, function, n_items, job, stage)                 \
	do {                                                               \
		STAP_PROBE5(pith, io_start, (const void *)(run),           \
			    (const char *)(function), (uint64_t)(n_items), \
			    (uint64_t)(job), (int)(stage));                \
		PROBE_TRACE_(trace_io, TRACE_IO_RUN, (run), (function),    \
			     (job), (stage), 0, 0, 0);                     \
	} while (0)

/* io_item_start(run, function, index, stage) */
#define PROBE_IO_ITEM_START(run, function, index, stage)                   \
	do {                                                               \
		STAP_PROBE4(pith, io_item_start, (const void *)(run),      \
			    (const char *)(function), (uint64_t)(index),   \
			    (int)(stage));                                 \
		PROBE_TRACE_(trace_io, TRACE_IO_ITEM_START, (run),         \
			     (function), 0, (stage), (index), 0, 0);       \
	} while (0)

/* io_item_end(run, function, index, stage, err, bytes): err 0 or -errno;
 * bytes produced. */
#define PROBE_IO_ITEM_END(run, function, index, stage, err, bytes)         \
	do {                                                               \
		STAP_PROBE6(pith, io_item_end, (const void *)(run),        \
			    (const char *)(function), (uint64_t)(index),   \
			    (int)(stage), (int)(err), (uint64_t)(bytes));  \
		PROBE_TRACE_(trace_io, TRACE_IO_ITEM_END, (run),           \
			     (function), 0, (stage), (index), (err),       \
			     (bytes));                                     \
	} while (0)

/* io_retry(run, function, index, attempt, err): an item is tried again as
 * attempt number `attempt`; err is the -errno, or the HTTP status, that
 * made it retry. */
#define PROBE_IO_RETRY(run, function, index, attempt, err)                 \
	STAP_PROBE5(pith, io_retry, (const void *)(run),                   \
		    (const char *)(function), (uint64_t)(index),           \
		    (uint32_t)(attempt), (int)(err))

/* io_done(run, function, n_items, n_failed, bytes, stage) */
#define PROBE_IO_DONE(run, function, n_items, n_failed, bytes, stage)      \
	do {                                                               \
		STAP_PROBE6(pith, io_done, (const void *)(run),            \
			    (const char *)(function), (uint64_t)(n_items), \
			    (uint64_t)(n_failed), (uint64_t)(bytes),       \
			    (int)(stage));                                 \
		PROBE_TRACE_(trace_io, TRACE_IO_DONE, (run), (function),   \
			     0, (stage), 0, 0, 0);                         \
	} while (0)

/* http_request(host_port, index, reused_connection) */
#define PROBE_HTTP_REQUEST(host_port, index, reused)                       \
	STAP_PROBE3(pith, http_request, (const char *)(host_port),         \
		    (uint64_t)(index), (int)(reused))

/* http_response(host_port, index, http_status) */
#define PROBE_HTTP_RESPONSE(host_port, index, status)                      \
	STAP_PROBE3(pith, http_response, (const char *)(host_port),        \
		    (uint64_t)(index), (int)(status))

#endif
