/* SPDX-License-Identifier: MIT */
/*
 * A job file (JSON, format v1) turned into a validated, immutable graph.
 * Nothing in a job runs until job_parse_*() has accepted the whole file.
 * Format: Documentation/job-format.md, schema: Documentation/job.schema.json.
 */
#ifndef PITH_JOB_JOB_H
#define PITH_JOB_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define JOB_DEFAULT_MEMORY (16ull << 20)
#define JOB_DEFAULT_TIMEOUT_MS 10000ull
#define JOB_REQUIRE_MAX 32
#define JOB_ARGS_MAX 4096	/* "args" strings, "env" members */
#define JOB_ARGS_BYTES (1u << 20) /* of "args" and "env" together */
#define JOB_FOLD_MAX (1u << 30)	/* "fold": items per instance */

enum job_mode { JOB_MODE_ALL, JOB_MODE_EACH, JOB_MODE_KEYED };

enum job_source { JOB_SRC_FILE, JOB_SRC_DATA, JOB_SRC_BASE64 };

/* One item of a job input set, as written in the file. */
struct job_item {
	char *name;
	bool keyed;
	uint64_t key;
	enum job_source source;
	char *path;	     /* JOB_SRC_FILE: as written, relative to job->dir */
	unsigned char *data; /* JOB_SRC_DATA / _BASE64: decoded bytes */
	size_t len;
};

struct job_strings;

struct job_input {
	char *name;
	struct job_item *items;
	size_t n_items;
	/* Blocks holding the items' names, paths and bytes, freed together
	 * (job_free(), job_drop_input_items()): no allocation per string. */
	struct job_strings *strings;
};

struct job_function {
	char *name;
	char *binary;	/* as written, relative to job->dir */
	uint64_t memory;     /* bytes; JOB_DEFAULT_MEMORY when absent */
	uint64_t timeout_ms; /* JOB_DEFAULT_TIMEOUT_MS when absent */
	bool fresh;	/* "fresh": a new worker process per instance */
	/* What a POSIX function (pith-cc --posix) sees besides its inputs;
	 * Documentation/posix-functions.md. All optional. */
	char **args;	/* "args": argv[1..] */
	size_t n_args;
	char **env;	/* "env": "NAME=value" strings, in file order */
	size_t n_env;
	uint64_t seed;	/* "seed": getrandom()'s seed; 0 when absent */
	uint64_t time_ns; /* "time" (seconds since the epoch), in ns; 0 when
			     absent */
};

/* Where a stage input comes from: a job input set or another stage's output. */
struct job_ref {
	int stage;	/* -1: job input set `index`; else stage index */
	size_t index;	/* input set index, or output index within `stage` */
};

struct job_stage_input {
	char *param;	/* the set name the function sees */
	char *from;	/* as written */
	struct job_ref ref;
	enum job_mode mode;
	/* "fold": B on an `all` input (the stage's only input, one output):
	 * instance k reads instance k-1's outputs, then items [kB, (k+1)B)
	 * of the set, and the stage's output is its last instance's; 0: not
	 * folded (one instance over the whole set). */
	size_t fold;
};

/* I/O policy of an I/O stage, as written; 0 (retries: !has_retries): the
 * I/O function's default. */
struct job_io_policy {
	unsigned concurrency;	/* items in flight */
	bool has_retries;
	unsigned retries;	/* extra attempts of an idempotent request */
	uint64_t timeout_ms;	/* per request (attempt) */
	uint64_t backoff_ms;	/* before the first retry, doubled each time */
};

struct job_stage {
	char *name;
	char *function;	/* compute stage: name of a job function, else NULL */
	int function_index;
	char *io;	/* I/O stage: e.g. "file.read", else NULL */
	struct job_stage_input *inputs;
	size_t n_inputs;
	char **outputs;
	size_t n_outputs;
	struct job_io_policy policy; /* I/O stages only */
};

struct job_output {
	char *name;
	char *from;	/* "<stage>.<output>" as written */
	struct job_ref ref; /* ref.stage >= 0 */
};

struct job {
	char *path;	/* the job file as given ("-" for none) */
	char *dir;	/* directory relative paths resolve against */
	char *name;
	struct job_function *functions;
	size_t n_functions;
	struct job_input *inputs;
	size_t n_inputs;
	struct job_stage *stages;
	size_t n_stages;
	size_t *order;	/* stage indices in a topological order */
	struct job_output *outputs;
	size_t n_outputs;
	/* "allow_hosts": internal HTTP destinations the job may reach,
	 * "host", "host:port", "[v6]" or "[v6]:port" as written */
	char **allow_hosts;
	size_t n_allow_hosts;
	/* "require": sandbox layers (names as `pith doctor` shows them, or
	 * "all") without which pith refuses to run the job */
	char **require;
	size_t n_require;
};

/*
 * Checks an I/O stage against the I/O function it names: supplied by the
 * engine so that this layer needs no knowledge of iofuncs/. Returns 0 or a
 * -errno with a message like "unknown I/O function 'file.raed'".
 */
typedef int (*job_io_check_fn)(const char *io, size_t n_inputs,
			       char *const *outputs, size_t n_outputs,
			       struct err *e);

/*
 * Checks a function's binary (opened relative to dirfd) is one the sandbox
 * will run with the function's declared memory: supplied by the caller, as
 * io_check is, so that this layer needs no knowledge of sandbox/. Returns 0
 * or a -errno with a message; the message is placed after the position of
 * the function's "binary".
 */
typedef int (*job_binary_check_fn)(int dirfd, const char *path,
				   uint64_t memory, struct err *e);

/* An invalid job's error in parts, for machine-readable reports. */
struct job_error {
	int line, column; /* from 1; 0: the error is about the whole file */
	char path[160];	  /* JSON path ("stages[1].inputs"), "" when none */
	char message[ERR_MAX]; /* what is wrong, without file, position, path */
};

/*
 * Checks that I/O function `io` takes the policy key `key` ("concurrency",
 * "retries", "timeout", "backoff"); 0 or -EINVAL with a message like
 * "file.read takes no \"retries\" (only http retries requests)".
 */
typedef int (*job_io_policy_check_fn)(const char *io, const char *key,
				      struct err *e);

struct job_parse_opts {
	job_io_check_fn io_check; /* NULL: any "io" stage is refused */
	job_io_policy_check_fn io_policy_check; /* NULL: any key is taken */
	bool check_files;	  /* stat() file inputs and binaries (default on
				     in pith run) */
	job_binary_check_fn binary_check; /* with check_files; NULL: none */
	struct job_error *error; /* filled on failure when not NULL */
	/* Instances per stage (--max-instances): a stage whose count is
	 * known from the file (inputs `all`, or job input sets) and exceeds
	 * it makes the job invalid; 0: not checked. */
	uint64_t max_instances;
	/* Parse the text as one jansson tree, never the input items one by
	 * one (parse.c, "Input items one by one"): for tests comparing the
	 * two ways; both give the same job and the same errors. */
	bool whole_tree;
};

/*
 * Parse and validate. On error, e->msg is one line
 * "<file>:<line>:<col>: <json path>: <what is wrong>".
 * JSON syntax errors read "invalid JSON" in place of the path; errors about
 * the file as a whole (cannot open, too large) are "<file>: <what>".
 * Returns 0, -EINVAL for an invalid job, or another -errno (-ENOENT,
 * -EFBIG, -ENOMEM, ...) with e->msg set.
 *
 * job_parse_file() reads `path` ("-": standard input, shown as "<stdin>");
 * relative paths in the job resolve against its directory. With
 * job_parse_string(), they resolve against `dir` (NULL: the working
 * directory), and messages name the file `display_name` (NULL:
 * "<string>"). job->dir is the absolute form of that directory.
 */
int job_parse_file(const char *path, const struct job_parse_opts *opts,
		   struct job **ret, struct err *e);
int job_parse_string(const char *text, size_t len, const char *display_name,
		     const char *dir, const struct job_parse_opts *opts,
		     struct job **ret, struct err *e);
struct job *job_free(struct job *j); /* NULL-safe, returns NULL */
/* Free the items of the job's input sets (names, paths, bytes), keeping
 * the sets' names: once the engine holds the inputs in its store
 * (engine_opts.ingested), a job listing 100,000 of them need not keep a
 * second copy for the rest of its run. The sets then have no items. */
void job_drop_input_items(struct job *j);

const char *job_mode_name(enum job_mode m);

#endif
