/* SPDX-License-Identifier: MIT */
/*
 * Runs one compute instance in a fresh sandbox: a new process whose address
 * space holds only the function image, its context and its inputs, with
 * seccomp, no fds, no capabilities, an unprivileged uid, a cgroup v2 leaf
 * and a deadline. See Documentation/security.md.
 */
#ifndef PITH_SANDBOX_SANDBOX_H
#define PITH_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <pith/abi.h>

#include "lib/err.h"
#include "sandbox/elf.h"
#include "store/store.h"

struct sandbox_opts {
	/* Test-only: run workers without the seccomp layer (issue: eBPF must
	 * stand alone). Not reachable from job files or the release CLI. */
	bool no_seccomp;
	/* Do not load the eBPF guard (layer 5), e.g. for benchmarks that
	 * measure the other layers alone. */
	bool no_guard;
	/* Where the pith-worker loader binary is; NULL: next to /proc/self/exe,
	 * then $PITH_WORKER. */
	const char *worker_path;
	/* Idle warm workers outlive the last hold (a job): the caller ends
	 * them (sandbox_end_idle(), sandbox_free()). For pithd, whose runner
	 * serves one owner's consecutive jobs. */
	bool keep_idle;
	/* No driver thread unless PITH_DRIVERS asks for one (pithd: its
	 * runners already keep the CPUs busy with several jobs). Without it,
	 * one driver runs short warm instances on a second CPU whenever pith
	 * may use two (Documentation/architecture.md, "Threads"). */
	bool no_drivers;
	/* Test-only: a driver takes warm instances of any function, from
	 * the first (not only after many short ones), so that tests can
	 * drive their probes. */
	bool drive_all;
};

/* One sandbox layer as `pith doctor` shows it. */
struct sandbox_layer {
	const char *name;   /* "seccomp", "cgroup", "uid", ... */
	bool active;
	char detail[256];   /* why unavailable, or what is in force */
};

/* Process-wide state: loader, filter, cgroup, the spawner thread. Use a
 * sandbox and its procs from one thread at a time, and not across fork(). */
struct sandbox;

/* A sandbox whose worker cgroup leaf is nested in parent's
 * (workers/runner-N) and which uses parent's eBPF guard (one sys_enter
 * program for all of them; each polls only its own leaf's events). The
 * parent must outlive it; pithd's runners, one per job at once. */
int sandbox_new_nested(struct sandbox *parent,
		       const struct sandbox_opts *opts, struct sandbox **ret,
		       struct err *e);
int sandbox_new(const struct sandbox_opts *opts, struct sandbox **ret,
		struct err *e);
struct sandbox *sandbox_free(struct sandbox *sb); /* NULL-safe */
/* Fill up to max layers; returns how many. */
size_t sandbox_layers(const struct sandbox *sb, struct sandbox_layer *layers,
		      size_t max);
/*
 * Attach the eBPF guard's syscall-entry program for as long as a job runs
 * (it costs every syscall on the host while attached; attaching takes
 * milliseconds, so hold once per job, never per instance). Nested holds
 * count. When the last hold is released, idle warm workers are ended: they
 * live for a job (or, without holds, for the sandbox), unless keep_idle.
 */
int sandbox_hold(struct sandbox *sb, struct err *e);
void sandbox_release(struct sandbox *sb);
/* Idle warm workers: how many, and end them all. */
unsigned sandbox_n_idle(const struct sandbox *sb);
void sandbox_end_idle(struct sandbox *sb);

/* Path of the worker cgroup (cgroup v2), or NULL when unavailable. */
const char *sandbox_cgroup_path(const struct sandbox *sb);
/* The workers' seccomp program as exported cBPF (struct sock_filter[n]),
 * for tests that simulate it; -ENODATA when seccomp is off. */
int sandbox_filter(const struct sandbox *sb, const void **ret_insns,
		   size_t *ret_n);

struct sandbox_limits {
	uint64_t memory;     /* bytes of writable context, stack included */
	uint64_t timeout_ms; /* wall clock, and CPU time */
	/* Bounds on what one instance's outputs may make pith hold, over all
	 * its output sets, aliases counted; 0: the default, proportional to
	 * the instance (security.md, "Output bounds"). */
	uint64_t output_items;	/* default memory / 40 */
	uint64_t output_bytes;	/* default 4 x (memory + input bytes) */
	uint64_t output_names;	/* bytes of item names; default memory */
};

/* The function's "args", "env", "seed", "time" (job-format.md), passed
 * through the descriptor. All may be empty. */
struct sandbox_params {
	const char *const *args; /* argv[1..] */
	size_t n_args;
	const char *const *env;	 /* "NAME=value" */
	size_t n_env;
	uint64_t seed;
	uint64_t time_ns;
};

/* What one instance gets. Input sets are named as the function sees them. */
struct sandbox_request {
	const struct elf_image *image;
	struct sandbox_limits limits;
	struct set *const *inputs;
	size_t n_inputs;
	const char *const *outputs; /* output set names */
	size_t n_outputs;
	uint64_t instance;
	/* The job's id in pith's probes (a driven instance's inst_spawned
	 * fires in its driver's thread); 0 outside the engine. */
	uint64_t job;
	struct sandbox_params params;
	/* Names in eBPF audit events and counters; may be NULL. */
	const char *fn_name;
	uint32_t stage;
	/* A process of its own for this instance, never a warm worker
	 * ("fresh": true in the job). */
	bool fresh;
	/* Warm workers serve one owner (the daemon's job submitter); 0 for
	 * `pith run`. */
	uint32_t owner;
	/* The caller keeps what the request points to (inputs, outputs,
	 * params, fn_name) unchanged until sandbox_proc_free() of its proc,
	 * as the engine does: a driver then uses them as they are, no copy
	 * made. false: they may be freed once sandbox_spawn() returns. */
	bool kept;
};

enum sandbox_status {
	SANDBOX_RUNNING,
	SANDBOX_OK,	  /* exit_group(0) and a valid output descriptor */
	SANDBOX_FAILED,	  /* anything else; reason says what */
};

/* What the SDK noted before ending an instance with one of its exit
 * statuses (struct pith_note, checked: see outputs_note()). */
struct sandbox_note {
	bool valid;
	int status;		/* PITH_EXIT_* */
	uint64_t asked, left;	/* PITH_EXIT_NOMEM: bytes */
	char set[PITH_NAME_MAX + 1]; /* _NO_OUTPUT, _NO_INPUT, _LIMIT: the
					set, printable UTF-8; else "" */
};

struct sandbox_result {
	enum sandbox_status status;
	char reason[ERR_MAX]; /* "killed: forbidden syscall openat (257)",
				 "timed out after 2000 ms",
				 "segmentation fault at 0x0",
				 "exited with status 3", ... */
	int exit_status;      /* when exited */
	int signal;	      /* when killed */
	long syscall;	      /* forbidden syscall number, or -1 */
	struct set **outputs; /* n_outputs sets, owned by the caller after
				 sandbox_proc_take_outputs() */
	size_t n_outputs;
	uint64_t spawn_ns, run_ns; /* time to set up, time running */
	int probe_reason;     /* enum probe_reason (lib/probe.h) */
	struct sandbox_note note; /* when exited with an SDK status */
};

struct sandbox_proc;

/* Start an instance; returns once the worker has been created. */
int sandbox_spawn(struct sandbox *sb, const struct sandbox_request *req,
		  struct sandbox_proc **ret, struct err *e);
/* One fd to poll for POLLIN: readable when sandbox_proc_step() has progress
 * to make (a forbidden syscall, the worker's exit); the deadline is
 * sandbox_proc_deadline_ns(). */
int sandbox_proc_fd(const struct sandbox_proc *p);
/* The worker's pid (for /proc readers and tests): for a fresh worker of a
 * zygote, which sandbox_spawn() does not wait for, once it is forked. */
pid_t sandbox_proc_pid(const struct sandbox_proc *p);
/* The same without waiting (tracing at the spawn): 0 while that fork has
 * not happened. */
pid_t sandbox_proc_pid_known(const struct sandbox_proc *p);
/* A step of another proc of the same sandbox read this one's park from the
 * shared seccomp listener (its fd will not turn readable for it), or
 * sandbox_poll() saw its park or its exit (so may a sandbox_spawn() of a
 * forked fresh instance, which reads the exits heard so far): step it now
 * (the engine checks its live instances after each step, each poll and
 * each spawn). */
bool sandbox_proc_pending(const struct sandbox_proc *p);
/* Whether a warm worker of an earlier instance runs it (for tracing). */
bool sandbox_proc_warm(const struct sandbox_proc *p);
/* Whether a driver thread on another CPU runs it (PITH_DRIVERS: see
 * Documentation/architecture.md, "Threads"; for tests and tracing). */
bool sandbox_proc_driven(const struct sandbox_proc *p);
/* How many fresh (or, warm workers off, any) instances of a function
 * declaring `memory` bytes the lanes take at once: a lane per CPU with a
 * driver, and the engine's, each as many as its zygote has pooled
 * contexts and SANDBOX_LANE_MEMORY allows (at least one); 0 without lanes
 * (PITH_LANES=0, one CPU, no driver). The engine runs that many short
 * fresh instances at once unless -j says otherwise (architecture.md,
 * "Threads"). */
unsigned sandbox_lane_slots(const struct sandbox *sb, bool fresh,
			    uint64_t memory);
/* Many fresh instances are coming: start the lanes' drivers now, without
 * waiting for them (a driver makes its sandbox, 1-5 ms, while the
 * engine's lane runs the first instances; each takes instances once
 * made). Nothing without lanes or once they started. */
void sandbox_lanes_start(struct sandbox *sb);
/* The memory a lane's fresh instances may declare together: eight of the
 * default 16 MiB (JOB_DEFAULT_MEMORY). A function declaring 64 MiB gets
 * two per lane, as many as it had before lanes (two per CPU), not eight:
 * what its instances touch then peaks where it did. */
#define SANDBOX_LANE_MEMORY (128ull << 20)
/* Absolute CLOCK_MONOTONIC deadline in ns. */
uint64_t sandbox_proc_deadline_ns(const struct sandbox_proc *p);
/* Non-blocking: 0 still running, 1 finished (result ready), -errno. When the
 * deadline has passed it kills the worker and finishes as timed out. */
int sandbox_proc_step(struct sandbox_proc *p);
const struct sandbox_result *sandbox_proc_result(const struct sandbox_proc *p);
/* Kill the worker now (its result will say how it died); keep stepping
 * until sandbox_proc_step() returns 1 to reap it without blocking. */
void sandbox_proc_kill(struct sandbox_proc *p);
/* Move the output sets out of the result (caller frees them). */
struct set **sandbox_proc_take_outputs(struct sandbox_proc *p, size_t *ret_n);
struct sandbox_proc *sandbox_proc_free(struct sandbox_proc *p); /* kills if
								 running */

/*
 * Two fds for all the running instances of sb (the engine's way):
 * sandbox_fd() is readable when a worker exited, sandbox_listener_fd() (-1
 * without seccomp) when one parked or made a forbidden call. Then
 * sandbox_poll() / sandbox_poll_listener() read what is there and note it
 * on the procs, sandbox_proc_pending() says which to step, and
 * sandbox_proc_step_polled() steps one without polling its own fd (also
 * at its deadline). sandbox_proc_fd()/sandbox_proc_step() stay for callers
 * that wait per instance.
 */
int sandbox_fd(const struct sandbox *sb);
int sandbox_listener_fd(const struct sandbox *sb);
int sandbox_poll(struct sandbox *sb);
int sandbox_poll_listener(struct sandbox *sb, bool ready);
/* Every notification that waits, the queue polled first (for a caller
 * whose wake-up stands for any number of them). */
void sandbox_poll_listener_all(struct sandbox *sb);
int sandbox_proc_step_polled(struct sandbox_proc *p);

/*
 * The ring that hears fresh workers' exits (reap.c), for a caller that
 * waits on it itself instead of through sandbox_fd()'s epoll set: with
 * own true it leaves that set (made now if it was not yet) and the caller
 * calls sandbox_poll_reap() when it is readable, which a worker's exit
 * then reaches in one hop, not two, and without an epoll_wait();
 * sandbox_poll() reads it too. own false puts it back in the set. The fd,
 * or -errno: no such ring (its exits come through sandbox_fd() as ever).
 */
int sandbox_reap_own(struct sandbox *sb, bool own);
void sandbox_poll_reap(struct sandbox *sb);
/*
 * A thread that waits for its sandbox's exits and a few fds of its own
 * (a driver: its wake-up eventfd, sandbox_fd()) in one io_uring_enter()
 * on the owned ring, not in epoll_wait() on a set holding them: an exit's
 * completion ends that wait itself, where it interrupted an epoll_wait()
 * that was then made again. With the sandbox locked by the caller (its
 * other users touch the ring under that lock):
 * sandbox_reap_watch_fd() polls fd in the ring (tag: a bit, 1 to 1 << 30),
 * sandbox_reap_wait_submit() submits what is queued (a poll the kernel
 * ended is made again); then, unlocked, sandbox_reap_wait() waits up to
 * timeout_ns (UINT64_MAX: no limit) unless a completion is there; then,
 * locked, sandbox_poll_reap() reads the exits and sandbox_reap_wait_tags()
 * says which fds woke since (and forgets them). Each returns 0 or -errno
 * (the caller waits another way from then on); a wait that timed out or
 * was interrupted returns 0.
 */
/*
 * The eventfd by which drivers say that instances they ran are done, for
 * a caller that polls it itself (the engine's loop) instead of through
 * sandbox_fd()'s set: own true takes it out of the set, and the caller
 * calls sandbox_poll_done() whenever it is written (edge-triggered: it is
 * never read back, so it stays readable; a multishot poll hears each
 * write); sandbox_poll() does too. own false puts it back. The fd, or
 * -ENOENT (no drivers here) or -errno.
 */
int sandbox_done_own(struct sandbox *sb, bool own);
void sandbox_poll_done(struct sandbox *sb);
int sandbox_reap_watch_fd(struct sandbox *sb, int fd, unsigned tag);
int sandbox_reap_wait_submit(struct sandbox *sb);
int sandbox_reap_wait(struct sandbox *sb, uint64_t timeout_ns);
unsigned sandbox_reap_wait_tags(struct sandbox *sb);

/* Spawn and wait: convenience for tests and sequential callers. */
int sandbox_run(struct sandbox *sb, const struct sandbox_request *req,
		struct sandbox_proc **ret, struct err *e);

#endif
