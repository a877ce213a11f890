/* SPDX-License-Identifier: MIT */
/*
 * pithd's shared state: the job table (mirrored in SQLite), the runner
 * threads that run jobs with the engine, the counters behind /metrics.
 * One mutex guards all of it; runners hold it only between jobs, and run
 * their jobs at once (Jobs=), each on its own thread and engine loop.
 */
#ifndef PITH_DAEMON_DAEMON_H
#define PITH_DAEMON_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/config.h"
#include "daemon/db.h"
#include "lib/err.h"

/* A running job's progress, from the engine's callback (the runner's
 * thread) to status requests: under daemon.progress_lock. */
struct job_progress {
	bool valid;
	size_t stages_done, n_stages;
	size_t instances_done, instances_total;
	uint64_t bytes_out;
	char stage[64]; /* the latest stage started */
};

struct engine_stop;
struct sandbox;

struct job_entry {
	struct jrec r;
	bool cancel;	/* asked while running: discard its result */
	struct engine_stop *stop; /* while running: engine_stop() ends it */
	struct job_progress progress;
};

struct user_stat {
	uid_t uid;
	unsigned running, unfinished;
	uint64_t bytes;
};

#define HIST_BUCKETS 14
struct histogram {
	uint64_t count[HIST_BUCKETS + 1]; /* the last: +Inf */
	double sum;
	uint64_t n;
};
extern const double hist_bounds[HIST_BUCKETS]; /* seconds */
void hist_add(struct histogram *h, double seconds);

struct metrics {
	uint64_t submitted, rejected_busy, rejected_quota, rejected_invalid;
	uint64_t finished[5]; /* by enum jstate */
	uint64_t requests, request_errors;
	struct histogram job_latency; /* submit to finish */
	struct histogram job_run;     /* start to finish */
	struct histogram request;     /* an API request, head to answer */
};

struct daemon {
	struct pithd_config cfg;
	pthread_mutex_t lock;
	pthread_mutex_t progress_lock; /* job_entry.progress, never waits */
	pthread_cond_t work;
	struct db *db;
	int state_fd;		/* the state directory */
	struct job_entry **jobs;/* in submission order */
	size_t n_jobs, cap_jobs;
	struct user_stat *users;
	size_t n_users;
	unsigned queued, running;
	bool stopping;
	int done_efd;		/* runners -> main loop: a job finished */
	pthread_t *runners;
	unsigned n_runners;
	struct metrics m;
	int64_t started_ms;
	char layers[2048];	/* sandbox layers unavailable here, or "" */
	/* The runners' sandboxes nest their cgroup leaves in this one's and
	 * share its eBPF guard: one program for all jobs at once, events
	 * routed by each runner's leaf (NULL: each loads its own). */
	struct sandbox *guard_sb;
	bool test_faults;
};

int64_t now_ms(void);

/* jobs.c */
int jobs_start(struct daemon *d, struct err *e);
void jobs_stop(struct daemon *d);	/* lets running jobs finish */
struct user_stat *jobs_user(struct daemon *d, uid_t uid); /* NULL: ENOMEM */
/* Under d->lock. NULL when absent. */
struct job_entry *jobs_find(struct daemon *d, const char *id);
/*
 * Accept a submission (the request body). Returns an HTTP status: 201 with
 * ret_id, or 400/409/413/429/503 with the reason in e.
 */
int jobs_submit(struct daemon *d, uid_t uid, const char *body, size_t len,
		char ret_id[17], struct err *e);
/* Under d->lock: cancel; returns the HTTP status. */
int jobs_cancel(struct daemon *d, struct job_entry *j);
/* Under d->lock: drop expired jobs and their files. */
void jobs_sweep(struct daemon *d);
/* Remove DIRFD/NAME and everything under it. */
int rm_rf_at(int dirfd, const char *name);

#endif
