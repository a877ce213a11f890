/* SPDX-License-Identifier: MIT */
/*
 * The engine runs a validated job as a stream: it loads the job's inputs
 * into the store, starts each instance as soon as the items it takes exist
 * (compute instances in sandboxes, at most `parallel` at once; I/O stages on
 * the I/O layer, fetching ahead within `window` bytes), keeps every stage's
 * outputs in instance order, releases buffers no consumer will take, and
 * writes the job's outputs as they are made. It never prints: what happened
 * is in the report.
 */
#ifndef PITH_ENGINE_ENGINE_H
#define PITH_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job/job.h"
#include "lib/err.h"
#include "sandbox/sandbox.h"
#include "store/store.h"

/* Where a run is, for a progress display. Counts cover started stages. */
struct engine_progress {
	size_t stages_done, n_stages;
	const char *stage;	/* the latest stage started */
	size_t instances_done;	/* collected instances (compute and I/O items) */
	size_t instances_total; /* instances of the stages started so far */
	uint64_t bytes_out;	/* bytes of the outputs collected */
	/* What outputs waiting in their slots for an earlier instance cost
	 * (behind a late item), and their count: at most the window and the
	 * outputs of the items fetched when it filled. */
	uint64_t behind, behind_n;
};

struct engine_opts {
	struct sandbox *sandbox; /* required when the job has compute stages */
	unsigned parallel;	 /* instances running at once; 0: online CPUs */
	const char *data_root;	 /* root of I/O functions' paths; NULL: job dir */
	/* Root of file.write's paths; NULL: data_root when given, else
	 * out_dir (created when missing), never the job's directory. Whatever
	 * the root, file.write never replaces the job file, a function binary
	 * or an input file. */
	const char *write_root;
	/* Internal HTTP destinations allowed on top of the job's
	 * "allow_hosts", as "host[:port]" */
	const char *const *allow_hosts;
	size_t n_allow_hosts;
	/* Each job output set is written to out_dir/<output>/<item name>:
	 * every item as it is made, under a temporary directory, then (when
	 * the job succeeds) moved into place before engine_run() returns,
	 * replacing what a previous run left there only once every file is
	 * complete; a failed job leaves nothing. The report's output items
	 * then have no bytes (buf NULL). NULL: the sets are only in the
	 * report, with their bytes. */
	const char *out_dir;
	/* Bytes an I/O stage may fetch ahead of its consumers; 0: sized
	 * from the compute capacity (ENGINE_WINDOW_ITEMS_PER_SLOT). */
	uint64_t window;
	/* Test hook: nonzero seeds a random delay of each collected
	 * instance's outputs, so collection order differs from instance
	 * order; the results must not. */
	uint32_t test_shuffle_seed;
	/* Called on the loop after each event (a stage started, instances
	 * ended); must not block (the CLI redraws its progress line). */
	void (*progress)(void *data, const struct engine_progress *p);
	void *progress_data;
	/* Called once the job's inputs are in the store, before any stage
	 * starts; the engine reads none of the job's input items after it
	 * (the caller may job_drop_input_items()). NULL: none. */
	void (*ingested)(void *data);
	void *ingested_data;
	/* Bounds on one instance's outputs, aliases counted (--max-output-*);
	 * 0: the defaults, proportional to the instance (struct
	 * sandbox_limits). */
	uint64_t max_output_items, max_output_bytes, max_output_names;
	/* Bytes the store may hold (--max-store); 0: three quarters of the RAM. */
	uint64_t max_store;
	/* Instances of one stage (--max-instances), counted before any is
	 * made (cross products too): past it the job fails, naming the
	 * limit; 0: engine_default_max_instances(). */
	uint64_t max_instances;
	/* Bytes the job may write to disk (--max-disk): its output items
	 * (each time an output names them) and the items of its file.write
	 * stages, charged before they are written; past it the job fails,
	 * naming the limit, and its outputs are not written. 0:
	 * engine_default_max_disk() of out_dir, else write_root, else
	 * data_root, else the job's directory. */
	uint64_t max_disk;
	/* This run's own cancel (pithd stops one job of several running at
	 * once); NULL: only engine_cancel(). */
	struct engine_stop *stop;
	/* The caller reads only the failed instances of the report (as `pith
	 * run`'s summary without --json): the entries of the instances that
	 * ended well are let go as the stages go (stage_report.
	 * failures_only), so the report does not grow with the instances. */
	bool report_failures_only;
};

/* Half the space free to pith on the filesystem of `path` (or of its
 * nearest existing parent); UINT64_MAX when none can be asked. */
uint64_t engine_default_max_disk(const char *path);

/* One instance per 4 KiB of RAM: the engine keeps some 600 bytes for each
 * instance of a stage (its report entry and slot), a seventh of the RAM at
 * the limit. */
uint64_t engine_default_max_instances(void);

/* One run's cancel: engine_stop() stops only the run given `s` in its
 * engine_opts, like engine_cancel() stops every run. Several runs may go on
 * at once, on different threads; each needs its own engine_opts.stop for
 * engine_stop() to reach it alone. */
struct engine_stop {
	int fd; /* an eventfd, -1 when closed */
};

int engine_stop_init(struct engine_stop *s, struct err *e);
/* From any thread, async-signal-safe; a stop before the run begins stops it
 * as soon as it does. */
void engine_stop(struct engine_stop *s);
void engine_stop_done(struct engine_stop *s);

/* Without --window: ENGINE_WINDOW_ITEMS_PER_SLOT items per CPU compute
 * may use (at most --parallel of them) at their average size, at least
 * ENGINE_WINDOW_MIN and at most ENGINE_WINDOW_DEFAULT bytes; the count of
 * items grows from there while compute idles on a far server, and its
 * requests are paced over the round trip (window.c, win_adapt(),
 * pace_ok()). */
#define ENGINE_WINDOW_DEFAULT (64ull << 20)
#define ENGINE_WINDOW_MIN (1ull << 20)
#define ENGINE_WINDOW_ITEMS_PER_SLOT 48
/* Without --parallel: compute instances in flight per usable CPU (its
 * affinity), once a stage's instances run shorter than ENGINE_SHORT_NS on
 * average; one per CPU before and otherwise. */
#define ENGINE_SLOTS_PER_CPU 2
#define ENGINE_SHORT_NS 500000ull

enum instance_state {
	INSTANCE_PENDING,   /* never started (an earlier failure stopped the stage) */
	INSTANCE_OK,
	INSTANCE_FAILED,
	INSTANCE_CANCELLED, /* killed because another instance failed */
};

/* "ok", "failed", "cancelled", "not-run": the names in --json and pithd's
 * API. */
const char *instance_state_name(enum instance_state s);

/* One instance as the report's readers see it: instance_get() fills it
 * from the stage's compact entry; `reason` and `note` are borrowed from
 * the report (valid until engine_report_done()). */
struct instance_report {
	enum instance_state state;
	/* Why it failed (at most ERR_MAX - 1 bytes); NULL when it did not.
	 * Read it with instance_reason(). */
	char *reason;
	/* How a failed instance ended, from the sandbox's result: */
	int exit_status; /* its status when it exited, else 0 */
	int signal;	 /* the signal that killed it, else 0 */
	long syscall;	 /* the forbidden syscall it was killed for, or -1 */
	/* What the SDK noted when it ended the instance (the set, the bytes
	 * asked), checked by the sandbox; NULL when none. */
	struct sandbox_note *note;
	uint64_t spawn_ns, run_ns;
	/* CLOCK_MONOTONIC: started (spawned, or I/O item begun with its
	 * stage; 0 when never), collected (its outputs taken; 0 when never) */
	uint64_t start_ns, end_ns;
};

/* What a stage keeps per instance: 32 bytes, for every instance of a
 * 100,000-instance stage. The failure details (reason, exit status,
 * signal, syscall, note) live in a side block allocated only for the
 * instances that failed, or whose times do not fit here (spawn or run
 * time of 2^32 ns, 4.3 s, or more): an instance that ended well costs
 * these 32 bytes and nothing else. Read with instance_get(), write with
 * the instance_set_*() functions; never directly. */
struct instance_detail;
struct instance_entry {
	struct instance_detail *detail; /* NULL: none */
	/* ns after the stage report's t0_ns, plus 1 (0: never) */
	uint64_t start : 56, state : 8;
	uint64_t end : 56, spare : 8;
	uint32_t spawn_ns, run_ns; /* when there is no detail */
};

/* The reason of an instance report, "" when it has none. */
static inline const char *instance_reason(const struct instance_report *ir)
{
	return ir->reason ? ir->reason : "";
}

struct stage_report {
	const char *name;
	bool io;	      /* I/O stage (else compute) */
	const char *function; /* function or I/O function name */
	bool ran;
	bool ok;
	/* Instances the stage counted (its inputs' distribution), and the
	 * first n_instances of them, which have an entry in `instances`:
	 * entries are made as instances start, so when a failure stopped
	 * the stage the rest never ran and have none (a cross product of
	 * 10^6 builds no state up front). n_instances == n_counted when
	 * the stage ran to its end. */
	size_t n_counted;
	size_t n_instances;
	/* Entries [base, n_instances) (instances[i - base]); see
	 * instance_get(). base stays 0 unless failures_only. */
	struct instance_entry *instances;
	size_t base, cap;
	/* Keep entries only as far as failures need them (engine_opts.
	 * report_failures_only): the entries of a prefix of instances that
	 * all ended well are dropped as the stage goes (base moves past
	 * them) and read back as INSTANCE_OK with no times; the failed and
	 * the unfinished ones keep theirs. */
	bool failures_only;
	size_t ok_prefix; /* instances [0, ok_prefix) ended well, no detail */
	uint64_t t0_ns; /* the base of its entries' times */
	uint64_t elapsed_ns;
	size_t items_out;
	uint64_t bytes_out;
};

struct engine_report {
	bool ok;
	char error[ERR_MAX]; /* the first failure: "stage count[3]: ..." */
	uint64_t elapsed_ns;
	struct stage_report *stages; /* job->n_stages, in job order */
	size_t n_stages;
	struct set **outputs; /* job->n_outputs sets named like the job outputs */
	size_t n_outputs;
};

/*
 * Run `job`. Returns 0 when the job ran (rep->ok says whether it succeeded),
 * or -errno when it could not run at all (e.g. an input file vanished) or
 * its outputs could not be written, with the reason in `e`.
 */
int engine_run(const struct job *job, const struct engine_opts *opts,
	       struct engine_report *rep, struct err *e);
void engine_report_done(struct engine_report *rep);

/* ---- the instances of a stage report (report.c) */

/* Instance i (< n_instances) as a full report. */
void instance_get(const struct stage_report *sr, size_t i,
		  struct instance_report *ret);
static inline enum instance_state instance_state(const struct stage_report *sr,
						 size_t i)
{
	return i < sr->base ? INSTANCE_OK :
			      (enum instance_state)sr->instances[i - sr->base].state;
}
uint64_t instance_start_ns(const struct stage_report *sr, size_t i);
uint64_t instance_end_ns(const struct stage_report *sr, size_t i);

/* Room for entries [0, cap): entries from sr->n_instances on are left
 * uninitialised, instance_init() sets them up. -ENOMEM. The setters do
 * nothing to an entry a failures_only report dropped. */
int instance_reserve(struct stage_report *sr, size_t cap);
/* Entry i fresh: not run, no times, no details; room for it is made when a
 * failures_only report gave back what instance_reserve() made. -ENOMEM. */
int instance_init(struct stage_report *sr, size_t i);
void instance_set_state(struct stage_report *sr, size_t i,
			enum instance_state state);
void instance_set_start(struct stage_report *sr, size_t i, uint64_t ns);
void instance_set_end(struct stage_report *sr, size_t i, uint64_t ns);
void instance_set_times(struct stage_report *sr, size_t i, uint64_t spawn_ns,
			uint64_t run_ns);
/* The instance failed: state INSTANCE_FAILED, its reason (copied, cut at
 * ERR_MAX - 1 bytes), how it ended (exit status, signal, syscall or -1)
 * and its note (copied; NULL or not valid: none). Out of memory keeps
 * the state and loses the details (the reason reads ""). */
void instance_set_failed(struct stage_report *sr, size_t i,
			 const char *reason, int exit_status, int signal,
			 long syscall, const struct sandbox_note *note);
/* Every entry's details, and the entries. */
void instance_free_all(struct stage_report *sr);

/*
 * Stop every running engine_run() (and every later one) as soon as
 * possible: async-signal-safe, for SIGINT/SIGTERM handlers. Running
 * instances are killed and reaped, nothing is written, and engine_run()
 * returns -ECANCELED with the message "interrupted: ...".
 */
void engine_cancel(void);

#endif
