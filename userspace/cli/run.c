// SPDX-License-Identifier: MIT
/* `pith run` and `pith check`: every check of a job before a stage starts,
 * then the run itself. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/layers.h"
#include "cli/progress.h"
#include "cli/summary.h"
#include "engine/engine.h"
#include "iofuncs/iofuncs.h"
#include "iofuncs/policy.h"
#include "job/job.h"
#include "lib/trace.h"
#include "sandbox/elf.h"
#include "sandbox/sandbox.h"

const char usage_run[] =
	"Usage: pith run JOB.json [-o DIR] [--json] [-j N] [--data-root DIR]\n"
	"                [--write-root DIR] [--allow-host HOST[:PORT]]...\n"
	"                [--require LAYER]... [--trace FILE] [-q|-v]\n"
	"\n"
	"Validate JOB.json, run it, write each job output set to\n"
	"DIR/<output>/<item name> and print a summary.\n"
	"\n"
	"Options:\n"
	"  -o, --output DIR   where results go (default: ./out); each output\n"
	"                     directory is replaced only once all its files are\n"
	"                     written, and nothing is written when the job fails\n"
	"      --json         print a machine-readable summary on stdout\n"
	"                     (Documentation/json-output.md)\n"
	"  -j, --parallel N   instances running at once (default: one per CPU\n"
	"                     pith may use, two per CPU for instances shorter\n"
	"                     than 0.5 ms)\n"
	"      --window SIZE  bytes I/O stages may fetch ahead of the stages\n"
	"                     that consume them (default: 48 items per CPU\n"
	"                     compute uses, at their average size, 1MiB to\n"
	"                     64MiB; more while compute waits on a far\n"
	"                     server)\n"
	"      --data-root DIR\n"
	"                     where paths of file.read and file.write resolve\n"
	"                     (default: the job file's directory); paths that\n"
	"                     leave it are refused\n"
	"      --write-root DIR\n"
	"                     where file.write writes (default: the data root\n"
	"                     when given, else the output directory); the job\n"
	"                     file, its binaries and inputs are never replaced\n"
	"      --allow-host HOST[:PORT]\n"
	"                     let http reach this internal destination\n"
	"                     (loopback, private, link-local and this host's\n"
	"                     addresses are refused otherwise); repeatable\n"
	"      --require LAYER\n"
	"                     refuse to run unless sandbox layer LAYER (as\n"
	"                     'pith doctor' names it) is active; repeatable;\n"
	"                     'all' means every layer\n"
	"      --max-store SIZE\n"
	"                     bytes the store may hold (default: 3/4 of the RAM)\n"
	"      --max-instances N\n"
	"                     instances one stage may have, counted before any\n"
	"                     runs (default: one per 4 KiB of RAM)\n"
	"      --max-disk SIZE\n"
	"                     bytes the job may write: its outputs and\n"
	"                     file.write items (default: half the free space\n"
	"                     of the output directory's filesystem)\n"
	"      --max-output-items N, --max-output-bytes SIZE,\n"
	"      --max-output-names SIZE\n"
	"                     bounds on one instance's outputs, aliases counted\n"
	"                     (default: memory / 40 items, 4 x (memory + input\n"
	"                     bytes), memory bytes of names)\n"
	"      --trace FILE   write the job's timeline to FILE (Chrome\n"
	"                     trace-event JSON, for Perfetto)\n"
	"  -q, --quiet        no notes and no progress, only errors and the summary\n"
	"  -v, --verbose      the detail of each unavailable layer\n"
	"  -h, --help         show this help\n"
	"\n"
	"Environment: PITH_STORE_POOL=SIZE bounds the released I/O buffers kept\n"
	"for reuse (0: none); more variables in pith(1).\n"
	"\n"
	"Exit status: 0 success, 1 a stage failed or a required layer is\n"
	"missing, 2 invalid job or usage, 130/143 interrupted.\n";

const char usage_check[] =
	"Usage: pith check JOB.json [--json] [--max-instances N] [-q|-v]\n"
	"\n"
	"Run every check 'pith run' makes before a stage starts: the job's\n"
	"structure, names, cycles, that its files exist and that every\n"
	"function binary is one pith can load, and that the layers the job\n"
	"requires are active here. Exit 0 when the job is valid, 2 with the\n"
	"first error otherwise, 1 when a required layer is missing.\n"
	"\n"
	"Options:\n"
	"      --json         print the result as JSON on stdout\n"
	"      --max-instances N\n"
	"                     refuse a stage whose instances, known from the\n"
	"                     file, exceed N (default: one per 4 KiB of RAM)\n"
	"  -q, --quiet        print nothing when the job is valid\n";

/* A binary must pass the sandbox's ELF loader, as at `pith run`, and fit
 * in the function's memory. */
static int check_binary(int dirfd, const char *path, uint64_t memory,
			struct err *e)
{
	struct elf_image *img = NULL;
	int r = elf_image_load(dirfd, path, &img, e);

	if (r >= 0)
		r = elf_image_check_memory(img, memory, e);
	elf_image_free(img);
	if (r == -ENOEXEC)
		err_append(e,
			   "; not a pith function: build functions with tools/pith-cc (Documentation/function-abi.md)");
	return r;
}

/* Parse and check the job; on error print it (stderr, and as JSON with
 * --json) and return EXIT_USAGE. */
static int load_job(const struct cli *c, const char *path, struct job **ret)
{
	struct job_error at = {};
	struct job_parse_opts po = { .io_check = iofuncs_check,
				     .io_policy_check = iofuncs_check_policy,
				     .check_files = true,
				     .binary_check = check_binary,
				     .error = &at,
				     .max_instances = c->max_instances ?
							      c->max_instances :
							      engine_default_max_instances() };
	struct err e = {};
	int r = job_parse_file(path, &po, ret, &e);

	if (r >= 0)
		return 0;
	fprintf(stderr, "pith: %s\n", e.msg);
	if (c->json)
		summary_print_json(stdout, c->cmd->name, NULL, NULL, NULL,
				   &(struct summary_error){
					   .status = "invalid",
					   .message = e.msg,
					   .file = strcmp(path, "-") ? path :
								       "<stdin>",
					   .at = &at });
	return EXIT_USAGE;
}

/*
 * The output directory must be a writable directory, or not exist yet below
 * a writable directory (the engine creates it and its missing parents):
 * found out before the job runs, not after.
 */
static int check_out_dir(const char *dir, struct err *e)
{
	_cleanup_free_ char *p = strdup(dir);
	struct stat st;
	char *slash;

	if (!p)
		return err_set(e, ENOMEM, "out of memory");
	for (;;) {
		if (stat(p, &st) == 0) {
			if (!S_ISDIR(st.st_mode))
				return err_set(e, ENOTDIR,
					       "output directory %s: %s is not a directory",
					       dir, p);
			if (access(p, W_OK | X_OK) < 0)
				return err_errno(e, errno,
						 "output directory %s: %s is not writable",
						 dir, p);
			return 0;
		}
		if (errno != ENOENT && errno != ENOTDIR)
			return err_errno(e, errno, "output directory %s: %s",
					 dir, p);
		/* Missing (the engine will create it in its parent), or below
		 * a file (which the walk up finds). */
		while ((slash = strrchr(p, '/')) && slash[1] == '\0' &&
		       slash != p)
			*slash = '\0';
		slash = strrchr(p, '/');
		if (!slash) {
			p[0] = '.';
			p[1] = '\0';
		} else if (slash == p) {
			p[1] = '\0';
		} else {
			*slash = '\0';
		}
	}
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct job *, job_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct sandbox *, sandbox_free);

int cmd_check(const struct cli *c)
{
	_cleanup_(job_freep) struct job *job = NULL;
	_cleanup_(sandbox_freep) struct sandbox *sb = NULL;
	struct err e = {};
	int r = load_job(c, c->args[0], &job);

	if (r)
		return r;
	/* The job's "require" names layers of this host: as pith run would,
	 * refuse a name no layer has (invalid) and a missing layer. */
	if (job->n_require) {
		r = sandbox_new(&(struct sandbox_opts){}, &sb, &e);
		if (r < 0) {
			err_prefix(&e, r, "sandbox");
			r = EXIT_FAILED;
		} else {
			r = layers_enforce(&(struct cli){ .verbosity = -1 }, job,
					   sb, &e);
		}
		if (r) {
			fprintf(stderr, "pith: %s\n", e.msg);
			if (c->json)
				summary_print_json(
					stdout, c->cmd->name, job, NULL, NULL,
					&(struct summary_error){
						.status = r == EXIT_USAGE ?
								  "invalid" :
								  "refused",
						.message = e.msg });
			return r;
		}
	}
	if (c->json)
		return summary_print_json(stdout, c->cmd->name, job, NULL, NULL,
					  &(struct summary_error){
						  .status = "valid" }) < 0 ?
			       EXIT_FAILED :
			       0;
	if (c->verbosity >= 0)
		printf("%s: valid job '%s': %zu stage%s, %zu output%s\n",
		       c->args[0], job->name, job->n_stages,
		       job->n_stages == 1 ? "" : "s", job->n_outputs,
		       job->n_outputs == 1 ? "" : "s");
	return 0;
}

/* SIGINT/SIGTERM during a run: stop the engine, which kills and reaps the
 * instances and writes nothing; the sandbox is freed on the way out. */
static volatile sig_atomic_t interrupted_by;

static void on_signal(int sig)
{
	interrupted_by = sig;
	engine_cancel();
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: the engine's wait returns to notice. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* The first failure, with the meaning of an SDK exit status. */
static void failure_message(const struct engine_report *rep,
			    struct err *ret)
{
	const char *hint = summary_first_failure_hint(rep);

	err_set(ret, EIO, "%s", rep->error);
	if (hint)
		err_append(ret, " (%s)", hint);
}

/* engine_opts.ingested: the engine holds the inputs now; the job keeps the
 * sets' names for the summary, not a second copy of every item. */
static void drop_inputs(void *job)
{
	job_drop_input_items(job);
}

int cmd_run(const struct cli *c)
{
	_cleanup_(job_freep) struct job *job = NULL;
	_cleanup_(sandbox_freep) struct sandbox *sb = NULL;
	struct engine_report rep = {};
	struct progress progress;
	struct err e = {}, te = {};
	int r, ret;

	if (store_pool_check() < 0)
		return cli_usage_error(
			c->cmd,
			"PITH_STORE_POOL='%s' is not a size (as 2GiB; 0 turns the buffer pool off)",
			getenv("PITH_STORE_POOL"));
	r = load_job(c, c->args[0], &job);
	if (r)
		return r;
	r = check_out_dir(c->out_dir, &e);
	if (r < 0) {
		fprintf(stderr, "pith: %s\n", e.msg);
		if (c->json)
			summary_print_json(stdout, c->cmd->name, job, NULL, NULL,
					   &(struct summary_error){
						   .status = "invalid",
						   .message = e.msg });
		return EXIT_USAGE;
	}

	/* From here on there is a cgroup to remove and workers to reap. */
	catch_signals();
	r = sandbox_new(&(struct sandbox_opts){}, &sb, &e);
	if (r < 0) {
		err_prefix(&e, r, "sandbox");
		fprintf(stderr, "pith: %s\n", e.msg);
		if (c->json)
			summary_print_json(stdout, c->cmd->name, job, NULL, NULL,
					   &(struct summary_error){
						   .status = "failed",
						   .message = e.msg });
		return EXIT_FAILED;
	}
	ret = layers_enforce(c, job, sb, &e);
	if (ret) {
		/* EXIT_USAGE: a name no layer has, on the command line or in
		 * the job; EXIT_FAILED: a required layer is missing. */
		fprintf(stderr, "pith: %s\n", e.msg);
		if (c->json)
			summary_print_json(stdout, c->cmd->name, job, NULL, NULL,
					   &(struct summary_error){
						   .status = ret == EXIT_USAGE ?
								     "invalid" :
								     "refused",
						   .message = e.msg });
		return ret;
	}
	progress_init(&progress, c);
	if (c->trace && trace_open(c->trace, &e) < 0) {
		fprintf(stderr, "pith: %s\n", e.msg);
		return EXIT_FAILED;
	}
	r = engine_run(job,
		       &(struct engine_opts){ .sandbox = sb,
					      .parallel = c->parallel,
					      .window = c->window,
					      .data_root = c->data_root,
					      .write_root = c->write_root,
					      .allow_hosts = c->allow_hosts,
					      .n_allow_hosts = c->n_allow_hosts,
					      .out_dir = c->out_dir,
					      .progress = progress_update,
					      .progress_data = &progress,
					      .ingested = drop_inputs,
					      .ingested_data = job,
					      .max_store = c->max_store,
					      .max_instances = c->max_instances,
					      .max_disk = c->max_disk,
					      .max_output_items = c->max_output_items,
					      .max_output_bytes = c->max_output_bytes,
					      .max_output_names = c->max_output_names,
					      /* the human summary reads only
					       * the failed instances */
					      .report_failures_only = !c->json },
		       &rep, &e);
	progress_clear(&progress);
	if (c->trace && trace_close(&te) < 0)
		fprintf(stderr, "pith: %s\n", te.msg);
	if (interrupted_by) {
		int sig = interrupted_by;
		char msg[ERR_MAX];

		snprintf(msg, sizeof(msg),
			 "interrupted by SIG%s: %s", sigabbrev_np(sig),
			 rep.ok ? "the job had finished; its outputs are written" :
				  "instances killed, sandbox removed, no output written");
		fprintf(stderr, "pith: %s\n", msg);
		if (c->json)
			summary_print_json(stdout, c->cmd->name, job, &rep,
					   rep.ok ? c->out_dir : NULL,
					   &(struct summary_error){
						   .status = "interrupted",
						   .message = msg,
						   .signal = sig });
		engine_report_done(&rep);
		return sig == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM;
	}
	if (r >= 0 && !rep.ok)
		failure_message(&rep, &e);
	if (r < 0 || !rep.ok) {
		rep.ok = false;
		fprintf(stderr, "pith: %s\n", e.msg);
	}
	if (c->json)
		summary_print_json(stdout, c->cmd->name, job, &rep,
				   rep.ok ? c->out_dir : NULL,
				   rep.ok ? NULL :
					    &(struct summary_error){
						    .status = "failed",
						    .message = e.msg });
	else
		summary_print_human(stdout, job, &rep,
				    rep.ok ? c->out_dir : NULL);
	ret = rep.ok && !te.msg[0] ? 0 : EXIT_FAILED;
	engine_report_done(&rep);
	return ret;
}
